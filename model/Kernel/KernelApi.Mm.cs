// SPDX-License-Identifier: GPL-2.0-only
// STUB: signatures fixed; bodies to be implemented by the memory / mm / GUP fakes.
namespace Iommufd.Model.Kernel;

public abstract partial class KernelApi
{
    /// <summary>current.</summary>
    protected task_struct current => Kernel.Exec.Current;
    protected user_struct current_user() => throw new NotImplementedException();
    protected bool capable(int cap) => throw new NotImplementedException();
    protected ulong task_rlimit(task_struct task, int limit) => throw new NotImplementedException();
    protected void get_task_struct(task_struct t) => throw new NotImplementedException();
    protected void put_task_struct(task_struct t) => throw new NotImplementedException();
    protected user_struct get_uid(user_struct u) => throw new NotImplementedException();
    protected void free_uid(user_struct u) => throw new NotImplementedException();

    protected void mmgrab(mm_struct mm) => throw new NotImplementedException();
    protected void mmdrop(mm_struct mm) => throw new NotImplementedException();
    protected bool mmget_not_zero(mm_struct mm) => throw new NotImplementedException();
    protected void mmput(mm_struct mm) => throw new NotImplementedException();
    protected void mmap_read_lock(mm_struct mm) => throw new NotImplementedException();
    protected void mmap_read_unlock(mm_struct mm) => throw new NotImplementedException();
    protected void mmap_write_lock(mm_struct mm) => throw new NotImplementedException();
    protected void mmap_write_unlock(mm_struct mm) => throw new NotImplementedException();
    protected int __account_locked_vm(mm_struct mm, ulong pages, bool inc, task_struct task, bool bypass_rlim) => throw new NotImplementedException();
    protected void kthread_use_mm(mm_struct mm) => throw new NotImplementedException();
    protected void kthread_unuse_mm(mm_struct mm) => throw new NotImplementedException();

    /// <summary>Returns the number of bytes NOT copied.</summary>
    protected ulong copy_to_user(ulong to, Ptr<byte> from, ulong n) => throw new NotImplementedException();
    /// <summary>Returns the number of bytes NOT copied.</summary>
    protected ulong copy_from_user(Ptr<byte> to, ulong from, ulong n) => throw new NotImplementedException();

    protected static PagePtr pfn_to_page(ulong pfn) => PagePtr.FromPfn(pfn);
    protected static ulong page_to_pfn(PagePtr page) => page.Pfn;

    protected int pin_user_pages_fast(ulong start, int nr_pages, uint gup_flags, Ptr<PagePtr> pages) => throw new NotImplementedException();
    /// <summary><paramref name="locked"/> may be a null ref (C NULL): check with Unsafe.IsNullRef.</summary>
    protected long pin_user_pages_remote(mm_struct mm, ulong start, ulong nr_pages, uint gup_flags, Ptr<PagePtr> pages, object? vmas, ref int locked) => throw new NotImplementedException();
    protected void unpin_user_pages(Ptr<PagePtr> pages, ulong npages) => throw new NotImplementedException();
    protected void unpin_user_page(PagePtr page) => throw new NotImplementedException();
    protected void unpin_user_page_range_dirty_lock(PagePtr page, ulong npages, bool make_dirty) => throw new NotImplementedException();
    protected void set_page_dirty_lock(PagePtr page) => throw new NotImplementedException();
    protected Ptr<byte> kmap_local_page(PagePtr page) => throw new NotImplementedException();
    protected void kunmap_local(Ptr<byte> addr) => throw new NotImplementedException();
}
