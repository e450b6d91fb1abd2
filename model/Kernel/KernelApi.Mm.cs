// SPDX-License-Identifier: GPL-2.0-only
using System.Runtime.CompilerServices;

namespace Iommufd.Model.Kernel;

/// <summary>
/// The mm, task, user, GUP and user-copy services under their C names. Each forwards to the fake
/// that models it: <see cref="FakeKernel"/> (reference counts, kthread_use_mm),
/// <see cref="MmAccounting"/>, <see cref="Gup"/>, <see cref="UserCopy"/> and <see cref="PhysMem"/>.
/// </summary>
public abstract partial class KernelApi
{
    /// <summary>current.</summary>
    protected task_struct current => Kernel.Exec.Current;
    protected user_struct current_user() => current.User;
    protected bool capable(int cap) => MmAccounting.Capable(current, cap);
    protected ulong task_rlimit(task_struct task, int limit) => MmAccounting.TaskRlimit(task, limit);
    protected void get_task_struct(task_struct t) => Kernel.GetTask(t, nameof(get_task_struct));
    protected void put_task_struct(task_struct t) => Kernel.PutTask(t, nameof(put_task_struct));
    protected user_struct get_uid(user_struct u)
    {
        Kernel.GetUid(u, nameof(get_uid));
        return u;
    }
    protected void free_uid(user_struct u) => Kernel.FreeUid(u, nameof(free_uid));

    protected void mmgrab(mm_struct mm) => Kernel.MmGrab(mm, nameof(mmgrab));
    protected void mmdrop(mm_struct mm) => Kernel.MmDrop(mm, nameof(mmdrop));
    protected bool mmget_not_zero(mm_struct mm) => Kernel.MmGetNotZero(mm, nameof(mmget_not_zero));
    protected void mmput(mm_struct mm)
    {
        Kernel.Exec.SchedulePoint(nameof(mmput));
        Kernel.MmPut(mm, nameof(mmput));
    }
    protected void mmap_read_lock(mm_struct mm) => Kernel.Exec.Acquire(mm.mmap_lock, LockMode.Shared);
    protected void mmap_read_unlock(mm_struct mm) => Kernel.Exec.Release(mm.mmap_lock, LockMode.Shared);
    protected void mmap_write_lock(mm_struct mm) => Kernel.Exec.Acquire(mm.mmap_lock, LockMode.Exclusive);
    protected void mmap_write_unlock(mm_struct mm) => Kernel.Exec.Release(mm.mmap_lock, LockMode.Exclusive);
    protected int __account_locked_vm(mm_struct mm, ulong pages, bool inc, task_struct task, bool bypass_rlim) =>
        Kernel.Accounting.AccountLockedVm(mm, pages, inc, task, bypass_rlim);
    protected void kthread_use_mm(mm_struct mm) => Kernel.KthreadUseMm(mm, nameof(kthread_use_mm));
    protected void kthread_unuse_mm(mm_struct mm) => Kernel.KthreadUnuseMm(mm, nameof(kthread_unuse_mm));

    /// <summary>Returns the number of bytes NOT copied.</summary>
    protected ulong copy_to_user(ulong to, Ptr<byte> from, ulong n) => Kernel.UserCopy.CopyToUser(to, from, n);
    /// <summary>Returns the number of bytes NOT copied.</summary>
    protected ulong copy_from_user(Ptr<byte> to, ulong from, ulong n) => Kernel.UserCopy.CopyFromUser(to, from, n);

    protected static PagePtr pfn_to_page(ulong pfn) => PagePtr.FromPfn(pfn);
    protected static ulong page_to_pfn(PagePtr page) => page.Pfn;

    protected int pin_user_pages_fast(ulong start, int nr_pages, uint gup_flags, Ptr<PagePtr> pages) =>
        Kernel.Gup.PinFast(start, nr_pages, gup_flags, pages);
    /// <summary><paramref name="locked"/> may be a null ref (C NULL): check with Unsafe.IsNullRef.</summary>
    protected long pin_user_pages_remote(mm_struct mm, ulong start, ulong nr_pages, uint gup_flags, Ptr<PagePtr> pages, object? vmas, ref int locked)
    {
        if (Unsafe.IsNullRef(ref locked))
        {
            int none = 0;
            return Kernel.Gup.PinRemote(mm, start, nr_pages, gup_flags, pages, vmas, hasLocked: false, ref none);
        }
        return Kernel.Gup.PinRemote(mm, start, nr_pages, gup_flags, pages, vmas, hasLocked: true, ref locked);
    }
    protected void unpin_user_pages(Ptr<PagePtr> pages, ulong npages) => Kernel.Gup.UnpinPages(pages, npages);
    protected void unpin_user_page(PagePtr page) => Kernel.Gup.UnpinPage(page);
    protected void unpin_user_page_range_dirty_lock(PagePtr page, ulong npages, bool make_dirty) =>
        Kernel.Gup.UnpinRangeDirtyLock(page, npages, make_dirty);
    protected void set_page_dirty_lock(PagePtr page) => Kernel.Phys.SetDirty(page.Pfn, nameof(set_page_dirty_lock));
    protected Ptr<byte> kmap_local_page(PagePtr page) => Kernel.UserCopy.KmapLocalPage(page);
    protected void kunmap_local(Ptr<byte> addr) => Kernel.UserCopy.KunmapLocal(addr);
}
