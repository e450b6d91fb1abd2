// SPDX-License-Identifier: GPL-2.0-only
// Port of pages.c lines 1190-1500: filling and unfilling the iommu_domains of an area.
using Iommufd.Model.Kernel;
using Iommufd.Model.Patches;

namespace Iommufd.Model.Port;

public sealed partial class Pages
{
    /// <summary>
    /// Unmaps from <paramref name="domain"/> and unpins the hole [start_index, last_index] of the
    /// area. Unmaps only ever end where the PFNs stop being contiguous, so the batch may read past
    /// last_index (up to real_last_index); PFNs that got unmapped but must not be unpinned yet stay
    /// in the batch as a carry. *unmapped_end_index is the first index not yet unmapped.
    /// </summary>
    // pages.c:1190
    internal void iopt_area_unpin_domain(pfn_batch batch, iopt_area area, iopt_pages pages, iommu_domain domain, ulong start_index, ulong last_index, ref ulong unmapped_end_index, ulong real_last_index)
    {
        while (start_index <= last_index)
        {
            ulong batch_last_index;

            if (unmapped_end_index <= last_index)
            {
                ulong start =
                    max(start_index, unmapped_end_index);

                batch_from_domain(batch, domain, area, start,
                                  last_index);
                // As released this counts from start, although a carry in the batch begins at
                // start_index (docs/findings/0001); the patch counts from start_index.
                if (!PATCHED(ModelPatches.UnpinDomainLastIndex))
                    batch_last_index = start + batch.total_pfns - 1;
                else
                    batch_last_index = start_index + batch.total_pfns - 1;
            }
            else
            {
                batch_last_index = last_index;
            }

            // Keep reading PFNs past last_index while they stay contiguous, so that the unmap
            // below never splits a contiguous run that was mapped in one piece. As released this
            // also runs when an earlier read-ahead already unmapped past last_index, and then reads
            // back IOVAs this function unmapped itself (docs/findings/0005); the patch reads ahead
            // only after reading from the domain in this pass.
            if (batch_last_index == last_index &&
                last_index != real_last_index &&
                (!PATCHED(ModelPatches.UnpinDomainNoReread) || unmapped_end_index <= last_index))
                batch_from_domain_continue(batch, domain, area,
                                           last_index + 1,
                                           real_last_index);

            if (unmapped_end_index <= batch_last_index)
            {
                iopt_area_unmap_domain_range(
                    area, domain, unmapped_end_index,
                    start_index + batch.total_pfns - 1);
                unmapped_end_index = start_index + batch.total_pfns;
            }

            // The IOVA is gone from the domain, only now may the pages be unpinned.
            batch_unpin(batch, pages, 0,
                        batch_last_index - start_index + 1);
            start_index = batch_last_index + 1;

            // unsigned long argument narrowed to the unsigned int parameter, as in C.
            batch_clear_carry(batch,
                              (uint)(unmapped_end_index - batch_last_index - 1));
        }
    }

    /// <summary>
    /// Unmaps [iopt_area_index(area), last_index] from <paramref name="domain"/> and unpins the
    /// parts of it that neither another domain nor an access still needs. Unmap always happens
    /// before unpin. Caller holds pages->mutex.
    /// </summary>
    // pages.c:1243
    internal void __iopt_area_unfill_domain(iopt_area area, iopt_pages pages, iommu_domain domain, ulong last_index)
    {
        interval_tree_double_span_iter span = new();
        ulong start_index = iopt_area_index(area);
        ulong unmapped_end_index = start_index;
        // u64 backup[BATCH_BACKUP_SIZE] on the stack.
        Ptr<byte> backup = new(KMem.Stack(sizeof(ulong) * BATCH_BACKUP_SIZE), 0);
        pfn_batch batch = new();

        lockdep_assert_held(pages.mutex);

        // Walk the range: spans still used by a domain or an access are only unmapped (their
        // PFNs are dropped from the carry), holes are unmapped and unpinned. The batch carries
        // PFNs that were unmapped past a hole's end over into the following spans.
        batch_init_backup(batch, last_index + 1, backup, sizeof(ulong) * BATCH_BACKUP_SIZE);
        for (interval_tree_double_span_iter_first(span, pages.domains_itree,
                                                  pages.access_itree, start_index,
                                                  last_index);
             !interval_tree_double_span_iter_done(span);
             interval_tree_double_span_iter_next(span))
        {
            if (span.is_used != 0)
            {
                // unsigned long argument narrowed to the unsigned int parameter, as in C.
                batch_skip_carry(batch,
                                 (uint)(span.last_used - span.start_used + 1));
                continue;
            }
            iopt_area_unpin_domain(batch, area, pages, domain,
                                   span.start_hole, span.last_hole,
                                   ref unmapped_end_index, last_index);
        }
        // A trailing used span has been skipped above; unmap it now, without unpinning.
        if (unmapped_end_index != last_index + 1)
            iopt_area_unmap_domain_range(area, domain, unmapped_end_index,
                                         last_index);
        WARN_ON(batch.total_pfns != 0);
        batch_destroy(batch, backup);
        update_unpinned(pages);
    }

    /// <summary>
    /// Unfills the leading part [iopt_area_index(area), end_index - 1] of the area from the
    /// domain; nothing to do when end_index is the area's first index.
    /// </summary>
    // pages.c:1295
    internal void iopt_area_unfill_partial_domain(iopt_area area, iopt_pages pages, iommu_domain domain, ulong end_index)
    {
        if (end_index != iopt_area_index(area))
            __iopt_area_unfill_domain(area, pages, domain, end_index - 1);
    }

    /// <summary>
    /// Removes the whole area's IOVA from the domain and leaves the pins alone; the caller knows
    /// another domain still holds them.
    /// </summary>
    // pages.c:1312
    public void iopt_area_unmap_domain(iopt_area area, iommu_domain domain)
    {
        iommu_unmap_nofail(domain, iopt_area_iova(area),
                           iopt_area_length(area));
    }

    /// <summary>
    /// Unmaps the whole area from the domain (already out of domains_itree) and unpins whatever
    /// no access still holds.
    /// </summary>
    // pages.c:1328
    public void iopt_area_unfill_domain(iopt_area area, iopt_pages pages, iommu_domain domain)
    {
        __iopt_area_unfill_domain(area, pages, domain,
                                  iopt_area_last_index(area));
    }

    /// <summary>
    /// Maps every PFN of the area into one (newly attached) domain, reading them through a
    /// pfn_reader. On failure the part already mapped is undone. Caller holds pages->mutex.
    /// </summary>
    // pages.c:1343
    public int iopt_area_fill_domain(iopt_area area, iommu_domain domain)
    {
        // Uninitialised in C; always written by the first loop iteration before any use, but C#
        // needs a definite assignment (see PORTING.md, Deviations).
        ulong done_end_index = 0;
        pfn_reader pfns = new();
        int rc;

        lockdep_assert_held(area.pages!.mutex);

        rc = pfn_reader_first(pfns, area.pages, iopt_area_index(area),
                              iopt_area_last_index(area));
        if (rc != 0)
            return rc;

        while (!pfn_reader_done(pfns))
        {
            done_end_index = pfns.batch_start_index;
            rc = batch_to_domain(pfns.batch, domain, area,
                                 pfns.batch_start_index);
            if (rc != 0)
                goto out_unmap;
            done_end_index = pfns.batch_end_index;

            rc = pfn_reader_next(pfns);
            if (rc != 0)
                goto out_unmap;
        }

        rc = pfn_reader_update_pinned(pfns);
        if (rc != 0)
            goto out_unmap;
        goto out_destroy;

    out_unmap:
        pfn_reader_release_pins(pfns);
        iopt_area_unfill_partial_domain(area, area.pages, domain,
                                        done_end_index);
    out_destroy:
        pfn_reader_destroy(pfns);
        return rc;
    }

    /// <summary>
    /// For a new area: pins its PFNs once and maps them into every domain of the io_pagetable,
    /// then records domain 0 as storage_domain and puts the area into domains_itree. On failure
    /// every domain is restored: all but the last are only unmapped, the last one also unpins.
    /// Caller holds iopt->domains_rwsem; takes pages->mutex.
    /// </summary>
    // pages.c:1394
    public int iopt_area_fill_domains(iopt_area area, iopt_pages pages)
    {
        // The three indexes below are uninitialised in C; 0 is only there for C#'s definite
        // assignment (see PORTING.md, Deviations).
        ulong done_first_end_index = 0;
        ulong done_all_end_index = 0;
        iommu_domain? domain;
        ulong unmap_index;
        pfn_reader pfns = new();
        ulong index = 0;
        int rc;
        object? entry;

        lockdep_assert_held(area.iopt.domains_rwsem);

        if (xa_empty(area.iopt.domains))
            return 0;

        mutex_lock(pages.mutex);
        rc = pfn_reader_first(pfns, pages, iopt_area_index(area),
                              iopt_area_last_index(area));
        if (rc != 0)
            goto out_unlock;

        while (!pfn_reader_done(pfns))
        {
            done_first_end_index = pfns.batch_end_index;
            done_all_end_index = pfns.batch_start_index;
            // xa_for_each(&area->iopt->domains, index, domain): after the loop, or on the goto
            // out of it, index holds the last index found; the unwind depends on that.
            for (index = 0, entry = xa_find(area.iopt.domains, ref index, ULONG_MAX, XA_PRESENT);
                 entry != null;
                 entry = xa_find_after(area.iopt.domains, ref index, ULONG_MAX, XA_PRESENT))
            {
                domain = (iommu_domain)entry;
                rc = batch_to_domain(pfns.batch, domain, area,
                                     pfns.batch_start_index);
                if (rc != 0)
                    goto out_unmap;
            }
            done_all_end_index = done_first_end_index;

            rc = pfn_reader_next(pfns);
            if (rc != 0)
                goto out_unmap;
        }
        rc = pfn_reader_update_pinned(pfns);
        if (rc != 0)
            goto out_unmap;

        area.storage_domain = (iommu_domain?)xa_load(area.iopt.domains, 0);
        interval_tree_insert(area.pages_node, pages.domains_itree);
        goto out_destroy;

    out_unmap:
        // Patch for docs/findings/0003: the domains before the failing one map the current batch;
        // unmap it from them before its pins are released, then unwind every domain to
        // done_all_end_index. As released, the pins are released first.
        if (PATCHED(ModelPatches.FillDomainsUnmapBeforeUnpin))
        {
            for (unmap_index = 0, entry = xa_find(area.iopt.domains, ref unmap_index, ULONG_MAX, XA_PRESENT);
                 entry != null && unmap_index < index;
                 entry = xa_find_after(area.iopt.domains, ref unmap_index, ULONG_MAX, XA_PRESENT))
            {
                if (done_first_end_index != done_all_end_index)
                    iopt_area_unmap_domain_range(area, (iommu_domain)entry, done_all_end_index,
                                                 done_first_end_index - 1);
            }
            done_first_end_index = done_all_end_index;
        }
        pfn_reader_release_pins(pfns);
        for (unmap_index = 0, entry = xa_find(area.iopt.domains, ref unmap_index, ULONG_MAX, XA_PRESENT);
             entry != null;
             entry = xa_find_after(area.iopt.domains, ref unmap_index, ULONG_MAX, XA_PRESENT))
        {
            domain = (iommu_domain)entry;
            ulong end_index;

            // Domains before the failing one got the current batch too.
            if (unmap_index < index)
                end_index = done_first_end_index;
            else
                end_index = done_all_end_index;

            // The area is not in domains_itree yet, so the generic unfill would not see the
            // other domains: every domain but the last is just unmapped, the last one unpins.
            // next_domain_id - 1 is computed in unsigned int, then widened for the compare.
            if (unmap_index != (ulong)(area.iopt.next_domain_id - 1u))
            {
                if (end_index != iopt_area_index(area))
                    iopt_area_unmap_domain_range(
                        area, domain, iopt_area_index(area),
                        end_index - 1);
            }
            else
            {
                iopt_area_unfill_partial_domain(area, pages, domain,
                                                end_index);
            }
        }
    out_destroy:
        pfn_reader_destroy(pfns);
    out_unlock:
        mutex_unlock(pages.mutex);
        return rc;
    }

    /// <summary>
    /// For an area being destroyed: unmaps it from every domain of the io_pagetable, takes it out
    /// of domains_itree and unpins through its storage_domain. Caller holds iopt->domains_rwsem;
    /// takes pages->mutex.
    /// </summary>
    // pages.c:1478
    public void iopt_area_unfill_domains(iopt_area area, iopt_pages pages)
    {
        io_pagetable iopt = area.iopt;
        iommu_domain? domain;
        ulong index;
        object? entry;

        lockdep_assert_held(iopt.domains_rwsem);

        mutex_lock(pages.mutex);
        if (area.storage_domain == null)
            goto out_unlock;

        for (index = 0, entry = xa_find(iopt.domains, ref index, ULONG_MAX, XA_PRESENT);
             entry != null;
             entry = xa_find_after(iopt.domains, ref index, ULONG_MAX, XA_PRESENT))
        {
            domain = (iommu_domain)entry;
            if (domain != area.storage_domain)
                iopt_area_unmap_domain_range(
                    area, domain, iopt_area_index(area),
                    iopt_area_last_index(area));
        }

        interval_tree_remove(area.pages_node, pages.domains_itree);
        iopt_area_unfill_domain(area, pages, area.storage_domain);
        area.storage_domain = null;
    out_unlock:
        mutex_unlock(pages.mutex);
    }
}
