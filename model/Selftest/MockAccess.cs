// SPDX-License-Identifier: GPL-2.0-only
// A test access driver modelled on the v6.2 selftest's mock access (selftest.c, "staccess").
using Iommufd.Model.Kernel;

using Iommufd.Model.Callers;

namespace Iommufd.Model.Selftest;

/// <summary>
/// The selftest's access driver: it pins IOVA ranges for itself, remembers every successful pin
/// as an item (iova, length, id), and when the IOAS asks it to unmap a range it unpins every item
/// that overlaps that range, all under its own mutex (so a pin and the unmap callback exclude each
/// other, as the selftest's global lock does). It also reads and writes through the access.
/// Models: the selftest's pin bookkeeping, its lock (class "selftest_access.lock"), its page-array
/// (kvcalloc) and item (kzalloc) allocations as fault sites, and unpinning on unmap and on close.
/// Does not model: the selftest's comparison of the returned pages with user memory (callers can
/// do that on <see cref="PinnedPages"/>), the file descriptor. Like the selftest, pin and rw refuse
/// lengths over 16 MiB with -ENOMEM before anything else (its guard against the kvzalloc WARN on
/// huge sizes); below that the page array is at most 32 KiB, so kmalloc stands for kvcalloc.
/// </summary>
public sealed class MockAccess : KernelApi
{
    /// <summary>One successful pin (struct selftest_access_item, a kzalloc'ed object).</summary>
    public sealed class Item
    {
        public ulong Iova { get; internal set; }
        public ulong Length { get; internal set; }
        public uint Id { get; internal set; }
        /// <summary>The pages iommufd_access_pin_pages returned, first page first.</summary>
        public PagePtr[] Pages { get; internal set; } = [];
    }

    /// <summary>The selftest refuses access pins and rw longer than this (16 MiB) with -ENOMEM.</summary>
    public const ulong SELFTEST_MAX_LENGTH = 16UL * 1024 * 1024;

    private readonly mutex lockObj = new("selftest_access.lock");
    private readonly List<Item> items = [];
    private uint next_id;

    private MockAccess(FakeKernel kernel, IoPagetable ioas) : base(kernel) => Ioas = ioas;

    /// <summary>The IOAS this driver's access is attached to.</summary>
    public IoPagetable Ioas { get; }

    /// <summary>The access object; null once closed or if creation failed.</summary>
    public iommufd_access? Access { get; private set; }

    /// <summary>How many unmap callbacks ran, and the ranges they asked for.</summary>
    public List<(ulong Iova, ulong Length)> UnmapCalls { get; } = [];

    /// <summary>
    /// Opens a pinning access on <paramref name="ioas"/> (IOMMU_TEST_OP_CREATE_ACCESS with
    /// needs_pin_pages). Returns the iommufd_access_create() error, if any, in <paramref name="rc"/>.
    /// </summary>
    public static MockAccess Create(FakeKernel kernel, IoPagetable ioas, out int rc, bool needsPinPages = true)
    {
        var staccess = new MockAccess(kernel, ioas);
        var ops = new iommufd_access_ops
        {
            needs_pin_pages = needsPinPages,
            unmap = static (data, iova, length) => ((MockAccess)data!).iommufd_test_access_unmap(iova, length),
        };
        var access = ioas.iommufd_access_create(ops, staccess);
        rc = IS_ERR(access) ? PTR_ERR(access) : 0;
        staccess.Access = access.Value;
        return staccess;
    }

    /// <summary>The current pins, in pin order.</summary>
    public IReadOnlyList<Item> PinnedPages()
    {
        mutex_lock(lockObj);
        var copy = items.ToArray();
        mutex_unlock(lockObj);
        return copy;
    }

    /// <summary>
    /// The unmap callback: unpin (iommufd_access_unpin_pages) every item overlapping
    /// [iova, iova + length) and forget it.
    /// </summary>
    private void iommufd_test_access_unmap(ulong iova, ulong length)
    {
        ulong iova_last = unchecked(iova + length - 1);

        mutex_lock(lockObj);
        UnmapCalls.Add((iova, length));
        for (int i = 0; i < items.Count;)
        {
            var item = items[i];
            if (iova > item.Iova + item.Length - 1 || iova_last < item.Iova)
            {
                i++;
                continue;
            }
            items.RemoveAt(i);
            Ioas.iommufd_access_unpin_pages(Access!, item.Iova, item.Length);
            kfree(item);
        }
        mutex_unlock(lockObj);
    }

    /// <summary>
    /// IOMMU_TEST_OP_ACCESS_PAGES: pin [iova, iova + length) (flags: IOMMUFD_ACCESS_RW_WRITE or 0)
    /// and remember it. Returns 0 or the -errno of the allocation or of iommufd_access_pin_pages;
    /// <paramref name="id"/> names the pin for <see cref="Unpin"/>.
    /// </summary>
    public int Pin(ulong iova, ulong length, uint flags, out uint id)
    {
        id = 0;
        if (length > SELFTEST_MAX_LENGTH)
            return -ENOMEM;
        if (Access is null)
            return -ENOENT;
        if (length == 0)
            return -EINVAL;

        ulong npages = (ALIGN_UP(iova + length, PAGE_SIZE) - ALIGN_DOWN(iova, PAGE_SIZE)) / PAGE_SIZE;
        var pages = kmalloc(npages * SIZEOF_PAGE_PTR, GFP_KERNEL_ACCOUNT).Cast<PagePtr>();
        if (pages.IsNull)
            return -ENOMEM;

        // One lock around pin and bookkeeping: every unmap callback must find the range pinned
        // and recorded, or not pinned at all.
        mutex_lock(lockObj);
        int rc = Ioas.iommufd_access_pin_pages(Access, iova, length, pages, flags & IOMMUFD_ACCESS_RW_WRITE);
        if (rc != 0)
            goto out_unlock;

        var item = kzalloc(() => new Item(), GFP_KERNEL_ACCOUNT);
        if (item is null)
        {
            rc = -ENOMEM;
            Ioas.iommufd_access_unpin_pages(Access, iova, length);
            goto out_unlock;
        }

        item.Iova = iova;
        item.Length = length;
        item.Id = id = next_id++;
        item.Pages = pages.AsSpan((long)npages).ToArray();
        items.Add(item);
    out_unlock:
        mutex_unlock(lockObj);
        kfree(pages);
        return rc;
    }

    /// <summary>IOMMU_TEST_OP_DESTROY_ACCESS_PAGES: unpin one item by id; -ENOENT if unknown.</summary>
    public int Unpin(uint id)
    {
        mutex_lock(lockObj);
        int i = items.FindIndex(it => it.Id == id);
        if (i < 0)
        {
            mutex_unlock(lockObj);
            return -ENOENT;
        }
        var item = items[i];
        items.RemoveAt(i);
        Ioas.iommufd_access_unpin_pages(Access!, item.Iova, item.Length);
        kfree(item);
        mutex_unlock(lockObj);
        return 0;
    }

    /// <summary>
    /// IOMMU_TEST_OP_ACCESS_RW: copy <paramref name="buffer"/> to the IOAS (flags has
    /// IOMMUFD_ACCESS_RW_WRITE) or fill it from the IOAS, through a kernel bounce buffer.
    /// </summary>
    public int Rw(ulong iova, byte[] buffer, uint flags)
    {
        if ((ulong)buffer.Length > SELFTEST_MAX_LENGTH)
            return -ENOMEM;
        if (Access is null)
            return -ENOENT;
        if (buffer.Length == 0)
            return Ioas.iommufd_access_rw(Access, iova, Ptr<byte>.NULL, 0, flags);

        var tmp = kmalloc((ulong)buffer.Length, GFP_KERNEL_ACCOUNT);
        if (tmp.IsNull)
            return -ENOMEM;
        if ((flags & IOMMUFD_ACCESS_RW_WRITE) != 0)
            buffer.CopyTo(tmp.AsSpan(buffer.Length));
        int rc = Ioas.iommufd_access_rw(Access, iova, tmp, (ulong)buffer.Length, flags);
        if (rc == 0 && (flags & IOMMUFD_ACCESS_RW_WRITE) == 0)
            tmp.AsSpan(buffer.Length).CopyTo(buffer);
        kfree(tmp);
        return rc;
    }

    /// <summary>Closing the driver (the selftest's file release): unpin everything, destroy the access.</summary>
    public void Close()
    {
        if (Access is null)
            return;
        iommufd_test_access_unmap(0, ULONG_MAX);
        Ioas.iommufd_access_destroy(Access);
        Access = null;
    }

    private const ulong SIZEOF_PAGE_PTR = 8;
    private static ulong ALIGN_UP(ulong x, ulong a) => unchecked(x + a - 1) & ~(a - 1);
}
