// SPDX-License-Identifier: GPL-2.0-only
// Port of pages.c (Linux v6.2), part 2: accounting of pinned pages against the user's or the
// mm's locked_vm and the mm's pinned_vm.
using Iommufd.Model.Kernel;
using static Iommufd.Model.Port.IoptPagesAccount;
using Iommufd.Model.Patches;

namespace Iommufd.Model.Port;

public sealed partial class Pages
{
    /// <summary>
    /// IOPT_PAGES_ACCOUNT_USER increase: adds npages to user_struct.locked_vm with a
    /// compare-and-exchange loop, refusing (-ENOMEM) when the new total would pass the source
    /// task's RLIMIT_MEMLOCK (converted to pages).
    /// </summary>
    // pages.c:802
    internal int incr_user_locked_vm(iopt_pages pages, ulong npages)
    {
        ulong lock_limit;
        ulong cur_pages;
        ulong new_pages;

        lock_limit = task_rlimit(pages.source_task!, RLIMIT_MEMLOCK) >>
                     PAGE_SHIFT;
        do
        {
            // atomic_long_read returns long; assigning it to unsigned long reinterprets the bits.
            cur_pages = (ulong)atomic_long_read(pages.source_user!.locked_vm);
            new_pages = cur_pages + npages;
            if (new_pages > lock_limit)
                return -ENOMEM;
            // The unsigned long arguments become long parameters (bit reinterpretation); the
            // long result is compared with an unsigned long, so C converts it to unsigned long.
        } while ((ulong)atomic_long_cmpxchg(pages.source_user!.locked_vm, (long)cur_pages,
                                            (long)new_pages) != cur_pages);
        return 0;
    }

    /// <summary>
    /// IOPT_PAGES_ACCOUNT_USER decrease: subtracts npages from user_struct.locked_vm, or warns and
    /// does nothing if the counter is smaller than npages.
    /// </summary>
    // pages.c:820
    internal void decr_user_locked_vm(iopt_pages pages, ulong npages)
    {
        // long < unsigned long: C compares as unsigned long, so a negative counter reads as huge.
        if (WARN_ON((ulong)atomic_long_read(pages.source_user!.locked_vm) < npages))
            return;
        atomic_long_sub((long)npages, pages.source_user!.locked_vm);
    }

    /// <summary>
    /// IOPT_PAGES_ACCOUNT_MM (VFIO compatible): adds to or subtracts from mm.locked_vm under the
    /// mmap write lock. If the reader holds the mmap read lock it is dropped first (its mm
    /// reference stays); otherwise, for a foreign mm without a reader reference, an mm_users
    /// reference is taken for the duration of the call.
    /// </summary>
    // pages.c:828
    internal int update_mm_locked_vm(iopt_pages pages, ulong npages, bool inc, pfn_reader_user? user)
    {
        bool do_put = false;
        int rc;

        if (user != null && user.locked != 0)
        {
            mmap_read_unlock(pages.source_mm!);
            user.locked = 0;
            // Holding the read lock implies the reader also holds an mm reference.
        }
        else if ((user == null || user.upages.IsNull) &&
                 pages.source_mm != current.mm)
        {
            if (!mmget_not_zero(pages.source_mm!))
            {
                // Patch for docs/findings/0004: the exited mm is still safe to lock (the pages
                // hold an mmgrab), so a decrease is still accounted. As released it fails.
                if (inc || !PATCHED(ModelPatches.MmUnaccountAfterExit))
                    return -EINVAL;
            }
            else
            {
                do_put = true;
            }
        }

        mmap_write_lock(pages.source_mm!);
        rc = __account_locked_vm(pages.source_mm!, npages, inc,
                                 pages.source_task!, false);
        mmap_write_unlock(pages.source_mm!);

        if (do_put)
            mmput(pages.source_mm!);
        return rc;
    }

    /// <summary>
    /// Charges (inc) or uncharges npages according to pages.account_mode; on success records
    /// npinned as accounted (last_npinned) and adjusts mm.pinned_vm by the same amount.
    /// </summary>
    // pages.c:855
    internal int do_update_pinned(iopt_pages pages, ulong npages, bool inc, pfn_reader_user? user)
    {
        int rc = 0;

        switch (pages.account_mode)
        {
            case IOPT_PAGES_ACCOUNT_NONE:
                break;
            case IOPT_PAGES_ACCOUNT_USER:
                if (inc)
                    rc = incr_user_locked_vm(pages, npages);
                else
                    decr_user_locked_vm(pages, npages);
                break;
            case IOPT_PAGES_ACCOUNT_MM:
                rc = update_mm_locked_vm(pages, npages, inc, user);
                break;
        }
        if (rc != 0)
            return rc;

        pages.last_npinned = pages.npinned;
        // atomic64_add/sub take s64: the unsigned long is reinterpreted as long.
        if (inc)
            atomic64_add((long)npages, pages.source_mm!.pinned_vm);
        else
            atomic64_sub((long)npages, pages.source_mm!.pinned_vm);
        return 0;
    }

    /// <summary>
    /// Uncharges the pages that were unpinned since the last accounting update. Only a decrease
    /// is allowed here (an increase warns and is ignored); the result of do_update_pinned is
    /// discarded as in C.
    /// </summary>
    // pages.c:884
    internal void update_unpinned(iopt_pages pages)
    {
        if (WARN_ON(pages.npinned > pages.last_npinned))
            return;
        if (pages.npinned == pages.last_npinned)
            return;
        do_update_pinned(pages, pages.last_npinned - pages.npinned, false,
                         null);
    }

    /// <summary>
    /// Brings the accounting in line with npinned after a reader has pinned or released pages:
    /// charges the difference when npinned grew (a fault point may refuse with -ENOMEM),
    /// uncharges it when npinned shrank. Needs pages.mutex.
    /// </summary>
    // pages.c:901
    internal int pfn_reader_user_update_pinned(pfn_reader_user user, iopt_pages pages)
    {
        ulong npages;
        bool inc;

        lockdep_assert_held(pages.mutex);

        if (pages.npinned == pages.last_npinned)
            return 0;

        if (pages.npinned < pages.last_npinned)
        {
            npages = pages.last_npinned - pages.npinned;
            inc = false;
        }
        else
        {
            if (iommufd_should_fail())
                return -ENOMEM;
            npages = pages.npinned - pages.last_npinned;
            inc = true;
        }
        return do_update_pinned(pages, npages, inc, user);
    }
}
