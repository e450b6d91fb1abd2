// SPDX-License-Identifier: GPL-2.0-only
// Port of pages.c lines 1503-1977: the xarray of PFNs held for in-kernel accesses, the
// read/write paths for accesses, and adding/removing an access.
using System.Runtime.CompilerServices;
using Iommufd.Model.Kernel;

namespace Iommufd.Model.Port;

public sealed partial class Pages
{
    /// <summary>
    /// Erases [start_index, end_index] (inclusive, despite the name) from pinned_pfns and unpins
    /// the PFNs found there, one batch at a time.
    /// </summary>
    // pages.c:1503
    internal void iopt_pages_unpin_xarray(pfn_batch batch, iopt_pages pages, ulong start_index, ulong end_index)
    {
        while (start_index <= end_index)
        {
            batch_from_xarray_clear(batch, pages.pinned_pfns, start_index,
                                    end_index);
            batch_unpin(batch, pages, 0, batch.total_pfns);
            start_index += batch.total_pfns;
            batch_clear(batch);
        }
    }

    /// <summary>
    /// After an access (already out of access_itree) is gone: drops [start_index, last_index]
    /// from pinned_pfns wherever no other access still covers it, unpinning the indexes no
    /// domain holds either. Caller holds pages->mutex.
    /// </summary>
    // pages.c:1526
    public void iopt_pages_unfill_xarray(iopt_pages pages, ulong start_index, ulong last_index)
    {
        interval_tree_double_span_iter span = new();
        // u64 backup[BATCH_BACKUP_SIZE] on the stack.
        Ptr<byte> backup = new(KMem.Stack(sizeof(ulong) * BATCH_BACKUP_SIZE), 0);
        pfn_batch batch = new();
        bool batch_inited = false;

        lockdep_assert_held(pages.mutex);

        for (interval_tree_double_span_iter_first(span, pages.access_itree,
                                                  pages.domains_itree, start_index,
                                                  last_index);
             !interval_tree_double_span_iter_done(span);
             interval_tree_double_span_iter_next(span))
        {
            if (span.is_used == 0)
            {
                if (!batch_inited)
                {
                    batch_init_backup(batch,
                                      last_index - start_index + 1,
                                      backup, sizeof(ulong) * BATCH_BACKUP_SIZE);
                    batch_inited = true;
                }
                iopt_pages_unpin_xarray(batch, pages, span.start_hole,
                                        span.last_hole);
            }
            else if (span.is_used == 2)
            {
                // A domain still holds the pins: only forget the xarray entries.
                clear_xarray(pages.pinned_pfns, span.start_used,
                             span.last_used);
            }
            // is_used == 1: another access still uses these entries; keep them.
        }
        if (batch_inited)
            batch_destroy(batch, backup);
        update_unpinned(pages);
    }

    /// <summary>
    /// Copies the pages of [start_index, last_index] out of pinned_pfns without locking beyond
    /// RCU; valid only while an access that already filled the range is held.
    /// </summary>
    // pages.c:1574
    public void iopt_pages_fill_from_xarray(iopt_pages pages, ulong start_index, ulong last_index, Ptr<PagePtr> out_pages)
    {
        xa_state xas = XA_STATE(pages.pinned_pfns, start_index);
        object? entry;

        rcu_read_lock();
        while (start_index <= last_index)
        {
            entry = xas_next(xas);
            if (xas_retry(xas, entry))
                continue;
            WARN_ON(!xa_is_value(entry));
            // *(out_pages++) = ...
            out_pages[0] = pfn_to_page(xa_to_value(entry));
            out_pages++;
            start_index++;
        }
        rcu_read_unlock();
    }

    /// <summary>
    /// Reads the pages of [start_index, last_index] from the storage domains of the areas that
    /// cover it in domains_itree. -EINVAL (with a WARN) if some index has no such area.
    /// </summary>
    // pages.c:1594
    internal int iopt_pages_fill_from_domain(iopt_pages pages, ulong start_index, ulong last_index, Ptr<PagePtr> out_pages)
    {
        while (start_index != last_index + 1)
        {
            ulong domain_last;
            iopt_area? area;

            area = iopt_pages_find_domain_area(pages, start_index);
            if (WARN_ON(area == null))
                return -EINVAL;

            domain_last = min(iopt_area_last_index(area!), last_index);
            // An area in domains_itree always has a storage_domain; C dereferences it blindly.
            out_pages = raw_pages_from_domain(area!.storage_domain!, area,
                                              start_index, domain_last,
                                              out_pages);
            start_index = domain_last + 1;
        }
        return 0;
    }

    /// <summary>
    /// Pins [start_index, last_index] from the mm straight into <paramref name="out_pages"/>
    /// (the reader's upages is pointed into it). On failure the pages pinned so far are unpinned.
    /// </summary>
    // pages.c:1616
    internal int iopt_pages_fill_from_mm(iopt_pages pages, pfn_reader_user user, ulong start_index, ulong last_index, Ptr<PagePtr> out_pages)
    {
        ulong cur_index = start_index;
        int rc;

        while (cur_index != last_index + 1)
        {
            user.upages = out_pages + (cur_index - start_index);
            rc = pfn_reader_user_pin(user, pages, cur_index, last_index);
            if (rc != 0)
                goto out_unpin;
            cur_index = user.upages_end;
        }
        return 0;

    out_unpin:
        if (start_index != cur_index)
            iopt_pages_err_unpin(pages, start_index, cur_index - 1,
                                 out_pages);
        return rc;
    }

    /// <summary>
    /// Slow path of an access: makes every index of [start_index, last_index] present in
    /// pinned_pfns (taking the PFNs from the xarray, a domain, or pinning them from the mm) and
    /// returns the pages in out_pages. On failure pinned_pfns is as before. Caller holds
    /// pages->mutex.
    /// </summary>
    // pages.c:1655
    public int iopt_pages_fill_xarray(iopt_pages pages, ulong start_index, ulong last_index, Ptr<PagePtr> out_pages)
    {
        interval_tree_double_span_iter span = new();
        ulong xa_end = start_index;
        pfn_reader_user user = new();
        int rc;

        lockdep_assert_held(pages.mutex);

        pfn_reader_user_init(user, pages);
        user.upages_len = (last_index - start_index + 1) * SIZEOF_PAGE_PTR;
        for (interval_tree_double_span_iter_first(span, pages.access_itree,
                                                  pages.domains_itree, start_index,
                                                  last_index);
             !interval_tree_double_span_iter_done(span);
             interval_tree_double_span_iter_next(span))
        {
            Ptr<PagePtr> cur_pages;

            if (span.is_used == 1)
            {
                // Another access already put these in the xarray.
                cur_pages = out_pages + (span.start_used - start_index);
                iopt_pages_fill_from_xarray(pages, span.start_used,
                                            span.last_used, cur_pages);
                continue;
            }

            if (span.is_used == 2)
            {
                // A domain holds them: copy them into the xarray. The return value of
                // iopt_pages_fill_from_domain is ignored, as in C.
                cur_pages = out_pages + (span.start_used - start_index);
                iopt_pages_fill_from_domain(pages, span.start_used,
                                            span.last_used, cur_pages);
                rc = pages_to_xarray(pages.pinned_pfns,
                                     span.start_used, span.last_used,
                                     cur_pages);
                if (rc != 0)
                    goto out_clean_xa;
                xa_end = span.last_used + 1;
                continue;
            }

            // Nobody holds them: pin from the mm.
            cur_pages = out_pages + (span.start_hole - start_index);
            rc = iopt_pages_fill_from_mm(pages, user, span.start_hole,
                                         span.last_hole, cur_pages);
            if (rc != 0)
                goto out_clean_xa;
            rc = pages_to_xarray(pages.pinned_pfns, span.start_hole,
                                 span.last_hole, cur_pages);
            if (rc != 0)
            {
                iopt_pages_err_unpin(pages, span.start_hole,
                                     span.last_hole, cur_pages);
                goto out_clean_xa;
            }
            xa_end = span.last_hole + 1;
        }
        rc = pfn_reader_user_update_pinned(user, pages);
        if (rc != 0)
            goto out_clean_xa;
        // upages points into the caller's out_pages: keep destroy from freeing it.
        user.upages = Ptr<PagePtr>.NULL;
        pfn_reader_user_destroy(user, pages);
        return 0;

    out_clean_xa:
        if (start_index != xa_end)
            iopt_pages_unfill_xarray(pages, start_index, xa_end - 1);
        user.upages = Ptr<PagePtr>.NULL;
        pfn_reader_user_destroy(user, pages);
        return rc;
    }

    /// <summary>
    /// Copies to/from [start_index, last_index] through a pfn_reader (xarray, domain or fresh
    /// pins), i.e. the PFNs a domain would see. Takes pages->mutex.
    /// </summary>
    // pages.c:1727
    internal int iopt_pages_rw_slow(iopt_pages pages, ulong start_index, ulong last_index, ulong offset, Ptr<byte> data, ulong length, uint flags)
    {
        pfn_reader pfns = new();
        int rc;

        mutex_lock(pages.mutex);

        rc = pfn_reader_first(pfns, pages, start_index, last_index);
        if (rc != 0)
            goto out_unlock;

        while (!pfn_reader_done(pfns))
        {
            ulong done;

            done = batch_rw(pfns.batch, data, offset, length, flags);
            data += done;
            length -= done;
            offset = 0;
            pfn_reader_unpin(pfns);

            rc = pfn_reader_next(pfns);
            if (rc != 0)
                goto out_destroy;
        }
        if (WARN_ON(length != 0))
            rc = -EINVAL;
    out_destroy:
        pfn_reader_destroy(pfns);
    out_unlock:
        mutex_unlock(pages.mutex);
        return rc;
    }

    /// <summary>
    /// Copies to/from part of one page by pinning it from the source mm for the duration of the
    /// copy; no allocation, no interval tree. Falls back to the slow path if the mm is gone.
    /// </summary>
    // pages.c:1768
    internal int iopt_pages_rw_page(iopt_pages pages, ulong index, ulong offset, Ptr<byte> data, ulong length, uint flags)
    {
        // struct page *page = NULL; kept as a one-element array because its address is passed.
        Ptr<PagePtr> page = new(KMem.Stack((long)SIZEOF_PAGE_PTR), 0);
        int rc;

        if (!mmget_not_zero(pages.source_mm!))
            return iopt_pages_rw_slow(pages, index, index, offset, data,
                                      length, flags);

        if (iommufd_should_fail())
        {
            rc = -EINVAL;
            goto out_mmput;
        }

        mmap_read_lock(pages.source_mm!);
        // long result assigned to int, as in C. (uintptr_t)(uptr + index * PAGE_SIZE) is byte
        // arithmetic on the user address.
        rc = (int)pin_user_pages_remote(
            pages.source_mm!, pages.uptr + index * PAGE_SIZE,
            1, (flags & IOMMUFD_ACCESS_RW_WRITE) != 0 ? FOLL_WRITE : 0, page,
            null, ref Unsafe.NullRef<int>());
        mmap_read_unlock(pages.source_mm!);
        if (rc != 1)
        {
            if (WARN_ON(rc >= 0))
                rc = -EINVAL;
            goto out_mmput;
        }
        copy_data_page(page[0], data, offset, length, flags);
        unpin_user_page(page[0]);
        rc = 0;

    out_mmput:
        mmput(pages.source_mm!);
        return rc;
    }

    /// <summary>
    /// Copies <paramref name="length"/> bytes between <paramref name="data"/> and the pages at
    /// byte <paramref name="start_byte"/>: by copy_to/from_user in the source mm when possible,
    /// otherwise by the one-page or the slow path. -EPERM for a write to read-only pages.
    /// </summary>
    // pages.c:1815
    public int iopt_pages_rw_access(iopt_pages pages, ulong start_byte, Ptr<byte> data, ulong length, uint flags)
    {
        ulong start_index = start_byte / PAGE_SIZE;
        ulong last_index = (start_byte + length - 1) / PAGE_SIZE;
        bool change_mm = current.mm != pages.source_mm;
        int rc = 0;

        if (IS_ENABLED(CONFIG_IOMMUFD_TEST) &&
            (flags & __IOMMUFD_ACCESS_RW_SLOW_PATH) != 0)
            change_mm = true;

        if ((flags & IOMMUFD_ACCESS_RW_WRITE) != 0 && !pages.writable)
            return -EPERM;

        if ((flags & IOMMUFD_ACCESS_RW_KTHREAD) == 0 && change_mm)
        {
            if (start_index == last_index)
                return iopt_pages_rw_page(pages, start_index,
                                          start_byte % PAGE_SIZE, data,
                                          length, flags);
            return iopt_pages_rw_slow(pages, start_index, last_index,
                                      start_byte % PAGE_SIZE, data, length,
                                      flags);
        }

        // Fast path through the user mapping; unlike DMA it does not care whether the pages
        // are pinned consistently.
        if (change_mm)
        {
            if (!mmget_not_zero(pages.source_mm!))
                return iopt_pages_rw_slow(pages, start_index,
                                          last_index,
                                          start_byte % PAGE_SIZE, data,
                                          length, flags);
            kthread_use_mm(pages.source_mm!);
        }

        if ((flags & IOMMUFD_ACCESS_RW_WRITE) != 0)
        {
            if (copy_to_user(pages.uptr + start_byte, data, length) != 0)
                rc = -EFAULT;
        }
        else
        {
            if (copy_from_user(data, pages.uptr + start_byte, length) != 0)
                rc = -EFAULT;
        }

        if (change_mm)
        {
            kthread_unuse_mm(pages.source_mm!);
            mmput(pages.source_mm!);
        }

        return rc;
    }

    /// <summary>
    /// Finds the access whose range is exactly [index, last] (the tree may hold overlapping
    /// ranges), or null. Caller holds pages->mutex.
    /// </summary>
    // pages.c:1869
    internal iopt_pages_access? iopt_pages_get_exact_access(iopt_pages pages, ulong index, ulong last)
    {
        interval_tree_node? node;

        lockdep_assert_held(pages.mutex);

        for (node = interval_tree_iter_first(pages.access_itree, index, last);
             node != null; node = interval_tree_iter_next(node, index, last))
            if (node.start == index && node.last == last)
                return container_of<iopt_pages_access>(node);
        return null;
    }

    /// <summary>
    /// Registers an in-kernel access to [start_index, last_index] of the area's pages, makes sure
    /// they are pinned and in pinned_pfns, and returns them in out_pages. An identical existing
    /// access just gains a user. Undone by iopt_area_remove_access.
    /// </summary>
    // pages.c:1899
    public int iopt_area_add_access(iopt_area area, ulong start_index, ulong last_index, Ptr<PagePtr> out_pages, uint flags)
    {
        iopt_pages pages = area.pages!;
        iopt_pages_access? access;
        int rc;

        if ((flags & IOMMUFD_ACCESS_RW_WRITE) != 0 && !pages.writable)
            return -EPERM;

        mutex_lock(pages.mutex);
        access = iopt_pages_get_exact_access(pages, start_index, last_index);
        if (access != null)
        {
            area.num_accesses++;
            access.users++;
            iopt_pages_fill_from_xarray(pages, start_index, last_index,
                                        out_pages);
            mutex_unlock(pages.mutex);
            return 0;
        }

        access = kzalloc(() => new iopt_pages_access(), GFP_KERNEL_ACCOUNT);
        if (access == null)
        {
            rc = -ENOMEM;
            goto err_unlock;
        }

        rc = iopt_pages_fill_xarray(pages, start_index, last_index, out_pages);
        if (rc != 0)
            goto err_free;

        access.node.start = start_index;
        access.node.last = last_index;
        access.users = 1;
        area.num_accesses++;
        interval_tree_insert(access.node, pages.access_itree);
        mutex_unlock(pages.mutex);
        return 0;

    err_free:
        kfree(access);
    err_unlock:
        mutex_unlock(pages.mutex);
        return rc;
    }

    /// <summary>
    /// Drops one user of the access to exactly [start_index, last_index]; with the last user the
    /// access goes away and pinned_pfns/pins are released as far as nothing else needs them.
    /// </summary>
    // pages.c:1955
    public void iopt_area_remove_access(iopt_area area, ulong start_index, ulong last_index)
    {
        iopt_pages pages = area.pages!;
        iopt_pages_access? access;

        mutex_lock(pages.mutex);
        access = iopt_pages_get_exact_access(pages, start_index, last_index);
        if (WARN_ON(access == null))
            goto out_unlock;

        WARN_ON(area.num_accesses == 0 || access!.users == 0);
        // Both decrements wrap (unsigned int) if the WARN above fired, as in C.
        area.num_accesses--;
        access!.users--;
        if (access.users != 0)
            goto out_unlock;

        interval_tree_remove(access.node, pages.access_itree);
        iopt_pages_unfill_xarray(pages, start_index, last_index);
        kfree(access);
    out_unlock:
        mutex_unlock(pages.mutex);
    }
}
