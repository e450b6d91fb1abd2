// SPDX-License-Identifier: GPL-2.0-only
// Port of pages.c (Linux v6.2), part 2: the pin_user_pages() reader (struct pfn_reader_user).
using Iommufd.Model.Kernel;

namespace Iommufd.Model.Port;

public sealed partial class Pages
{
    /// <summary>
    /// Puts a pfn_reader_user into its empty state: no page array, an empty window
    /// [0, 0), no mm reference or lock held (locked == -1), and GUP flags for a long-term pin,
    /// adding FOLL_WRITE when the pages are writable.
    /// </summary>
    // pages.c:706
    internal void pfn_reader_user_init(pfn_reader_user user, iopt_pages pages)
    {
        user.upages = Ptr<PagePtr>.NULL;
        user.upages_start = 0;
        user.upages_end = 0;
        user.locked = -1;

        user.gup_flags = FOLL_LONGTERM;
        if (pages.writable)
            user.gup_flags |= FOLL_WRITE;
    }

    /// <summary>
    /// Drops whatever pfn_reader_user_pin acquired on the mm (the mmap read lock if held, the
    /// mm_users reference if the mm is not current's) and frees the page array. The pins on the
    /// pages themselves are not touched here.
    /// </summary>
    // pages.c:719
    internal void pfn_reader_user_destroy(pfn_reader_user user, iopt_pages pages)
    {
        if (user.locked != -1)
        {
            if (user.locked != 0)
                mmap_read_unlock(pages.source_mm!);
            if (pages.source_mm != current.mm)
                mmput(pages.source_mm!);
            user.locked = -1;
        }

        kfree(user.upages);
        user.upages = Ptr<PagePtr>.NULL;
    }

    /// <summary>
    /// Pins user pages starting at start_index (at most up to last_index, and at most as many as
    /// the page array holds) into user.upages, and records the pinned window
    /// [upages_start, upages_end). The page array is allocated on first use and the mm reference
    /// (for a foreign mm) is taken on first use; both stay until pfn_reader_user_destroy.
    /// Returns 0 or a negative errno; a successful pin always pins at least one page.
    /// </summary>
    // pages.c:734
    internal int pfn_reader_user_pin(pfn_reader_user user, iopt_pages pages, ulong start_index, ulong last_index)
    {
        bool remote_mm = pages.source_mm != current.mm;
        ulong npages;
        ulong uptr;
        long rc;

        if (IS_ENABLED(CONFIG_IOMMUFD_TEST) &&
            WARN_ON(last_index < start_index))
            return -EINVAL;

        if (user.upages.IsNull)
        {
            // Released again by pfn_reader_user_destroy (via pfn_reader_destroy).
            user.upages_len =
                (last_index - start_index + 1) * SIZEOF_PAGE_PTR;
            user.upages = temp_kmalloc(ref user.upages_len, Ptr<byte>.NULL, 0).Cast<PagePtr>();
            if (user.upages.IsNull)
                return -ENOMEM;
        }

        if (user.locked == -1)
        {
            // Pinning usually happens from a task of the mm that owns the pages, which can use
            // the fast path; only a foreign mm needs a reference of its own.
            if (remote_mm)
            {
                if (!mmget_not_zero(pages.source_mm!))
                    return -EFAULT;
            }
            user.locked = 0;
        }

        npages = min<ulong>(last_index - start_index + 1,
                            user.upages_len / SIZEOF_PAGE_PTR);


        if (iommufd_should_fail())
            return -EFAULT;

        // void __user * arithmetic: byte offset from the (page aligned) start of the pages.
        uptr = pages.uptr + start_index * PAGE_SIZE;
        if (!remote_mm)
            // nr_pages is an int: the unsigned long is truncated to its low 32 bits as C does
            // when it converts the argument; the int result widens to long by sign extension.
            rc = pin_user_pages_fast(uptr, (int)npages, user.gup_flags,
                                     user.upages);
        else
        {
            if (user.locked == 0)
            {
                mmap_read_lock(pages.source_mm!);
                user.locked = 1;
            }
            rc = pin_user_pages_remote(pages.source_mm!, uptr, npages,
                                       user.gup_flags, user.upages, null,
                                       ref user.locked);
        }
        if (rc <= 0)
        {
            if (WARN_ON(rc == 0))
                return -EFAULT;
            // long -> int return: C truncates; an errno always fits.
            return (int)rc;
        }
        // rc > 0 here, so the long -> size_t / unsigned long conversions keep the value.
        iopt_pages_add_npinned(pages, (ulong)rc);
        user.upages_start = start_index;
        user.upages_end = start_index + (ulong)rc;
        return 0;
    }
}
