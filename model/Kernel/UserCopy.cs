// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Model.Kernel;

/// <summary>
/// copy_to_user / copy_from_user through <c>current->mm</c>'s translations, and kmap of a frame.
/// Models: page-by-page copying that stops at the first unmapped page (and, for copy_to_user,
/// at the first read-only page), returning the number of bytes NOT copied (the bytes before the
/// faulting page are copied); a task without an mm copies nothing; kmap_local_page returns a
/// pointer to the frame's 4 KiB contents (a freed frame's contents fault on access) and
/// kunmap_local must match a kmap. Every copy is a scheduling point.
/// Does not model: page faults that would populate memory, the PTE dirty bit (copy_to_user does
/// not set the frame's dirty flag), partial copies inside one page, SMAP/user-pointer tagging.
/// </summary>
public sealed class UserCopy(FakeKernel kernel)
{
    private const ulong PAGE_SIZE = KernelApi.PAGE_SIZE;

    public ulong CopyToUser(ulong to, Ptr<byte> from, ulong n) => Copy("copy_to_user", to, from, n, toUser: true);

    public ulong CopyFromUser(Ptr<byte> to, ulong from, ulong n) => Copy("copy_from_user", from, to, n, toUser: false);

    private ulong Copy(string function, ulong uaddr, Ptr<byte> kbuf, ulong n, bool toUser)
    {
        kernel.Exec.SchedulePoint(function);
        var mm = kernel.Exec.Current.mm;
        if (mm is null)
            return n;
        ulong done = 0;
        while (done < n)
        {
            ulong va = uaddr + done;
            if (va < uaddr)
                break; // wrapped past the top of the address space
            if (!mm.Space.TryTranslate(va & ~(PAGE_SIZE - 1), out ulong pfn, out bool writable) || (toUser && !writable))
                break;
            int offset = (int)(va % PAGE_SIZE);
            ulong chunk = Math.Min(n - done, PAGE_SIZE - (ulong)offset);
            var frame = kernel.Phys.Contents(pfn);
            var kspan = (kbuf + (long)done).AsSpan((long)chunk);
            lock (kernel.Phys.Gate)
            {
                frame.Check(offset, (long)chunk);
                var uspan = frame.Data.AsSpan(offset, (int)chunk);
                if (toUser) kspan.CopyTo(uspan); else uspan.CopyTo(kspan);
            }
            if (!toUser && done == 0 && mm.TestHooks.CorruptUserReads)
                kspan[0] ^= 0xff;
            done += chunk;
        }
        return n - done;
    }

    public Ptr<byte> KmapLocalPage(PagePtr page) => kernel.Phys.Kmap(page.Pfn);

    public void KunmapLocal(Ptr<byte> addr) => kernel.Phys.Kunmap(addr);
}
