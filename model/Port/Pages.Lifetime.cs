// SPDX-License-Identifier: GPL-2.0-only
// Port of pages.c (Linux v6.2), part 2: creation and release of struct iopt_pages.
using Iommufd.Model.Kernel;
using static Iommufd.Model.Port.IoptPagesAccount;
using Iommufd.Model.Patches;

namespace Iommufd.Model.Port;

public sealed partial class Pages
{
    /// <summary>
    /// Creates the iopt_pages for the user range [uptr, uptr + length): one reference, nothing
    /// pinned, the range widened to whole pages, the current mm (mm_count reference), thread
    /// group leader (task reference) and user (uid reference) recorded as the source, and
    /// accounting against the user's locked_vm unless the caller has CAP_IPC_LOCK.
    /// Rejects a zero length and one within a page of SIZE_MAX with -EINVAL.
    /// </summary>
    // pages.c:1139
    public ErrPtr<iopt_pages> iopt_alloc_pages(ulong uptr, ulong length, bool writable)
    {
        iopt_pages? pages;

        // length ends up as an iommu size_t; the bound is also meant to keep DIV_ROUND_UP
        // below from wrapping (see PORTING.md, Surprises S3: it does not fully do so).
        if (length > SIZE_MAX - PAGE_SIZE || length == 0)
            return ERR_PTR<iopt_pages>(-EINVAL);
        // Patch for docs/findings/0002: the offset of uptr in its page is added to length
        // below, so the bound must leave room for it too.
        if (PATCHED(ModelPatches.AllocPagesNpagesOverflow) &&
            length > SIZE_MAX - PAGE_SIZE - (uptr % PAGE_SIZE))
            return ERR_PTR<iopt_pages>(-EINVAL);

        pages = kzalloc(() => new iopt_pages(), GFP_KERNEL_ACCOUNT);
        if (pages == null)
            return ERR_PTR<iopt_pages>(-ENOMEM);

        kref_init(pages.kref);
        xa_init_flags(pages.pinned_pfns, XA_FLAGS_ACCOUNT);
        mutex_init(pages.mutex);
        pages.source_mm = current.mm;
        mmgrab(pages.source_mm!);
        pages.uptr = ALIGN_DOWN(uptr, PAGE_SIZE);
        // uptr - pages->uptr is a void __user * difference (ptrdiff_t, in bytes, 0..PAGE_SIZE-1);
        // added to the unsigned long length it converts to unsigned long.
        pages.npages = DIV_ROUND_UP(length + (uptr - pages.uptr), PAGE_SIZE);
        pages.access_itree = new rb_root_cached();
        pages.domains_itree = new rb_root_cached();
        pages.writable = writable;
        if (capable(CAP_IPC_LOCK))
            pages.account_mode = IOPT_PAGES_ACCOUNT_NONE;
        else
            pages.account_mode = IOPT_PAGES_ACCOUNT_USER;
        pages.source_task = current.group_leader;
        get_task_struct(current.group_leader);
        pages.source_user = get_uid(current_user());
        return pages;
    }

    /// <summary>
    /// kref release of an iopt_pages: warns unless nothing is left in it (no access, no domain
    /// area, no pin, empty xarray), then drops the mm, task and uid references taken by
    /// iopt_alloc_pages and frees it.
    /// </summary>
    // pages.c:1175
    public void iopt_release_pages(kref kref)
    {
        iopt_pages pages = container_of<iopt_pages>(kref);

        WARN_ON(!RB_EMPTY_ROOT(pages.access_itree));
        WARN_ON(!RB_EMPTY_ROOT(pages.domains_itree));
        WARN_ON(pages.npinned != 0);
        WARN_ON(!xa_empty(pages.pinned_pfns));
        mmdrop(pages.source_mm!);
        mutex_destroy(pages.mutex);
        put_task_struct(pages.source_task!);
        free_uid(pages.source_user!);
        kfree(pages);
    }
}
