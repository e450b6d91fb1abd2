// SPDX-License-Identifier: GPL-2.0-only
// Attaching and detaching iommu_domains, IOVA alignment and large pages: iopt_table_add_domain,
// iopt_fill_domain, iopt_table_remove_domain, iopt_unfill_domain, iopt_calculate_iova_alignment,
// iopt_disable_large_pages of io_pagetable.c, Linux v6.2.
using System.Numerics;
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;

namespace Iommufd.Model.Callers;

public sealed partial class IoPagetable
{
    /// <summary>1UL &lt;&lt; __ffs(domain-&gt;pgsize_bitmap): the domain's smallest page size.</summary>
    private static ulong domain_min_pgsize(iommu_domain domain) =>
        1UL << BitOperations.TrailingZeroCount(domain.pgsize_bitmap);

    /// <summary>iopt_check_iova_alignment(): every area must already satisfy the new alignment.</summary>
    private int iopt_check_iova_alignment(ulong new_iova_alignment)
    {
        ulong align_mask = new_iova_alignment - 1;

        lockdep_assert_held(iopt.iova_rwsem);
        lockdep_assert_held(iopt.domains_rwsem);

        for (var area = iopt_area_iter_first(0, ULONG_MAX); area is not null; area = iopt_area_iter_next(area, 0, ULONG_MAX))
        {
            if ((iopt_area_iova(area) & align_mask) != 0 ||
                (iopt_area_length(area) & align_mask) != 0 ||
                (area.page_offset & align_mask) != 0)
                return -EADDRINUSE;
        }
        return 0;
    }

    /// <summary>
    /// iopt_calculate_iova_alignment(): the largest of PAGE_SIZE when large pages are disabled
    /// (see batch_iommu_map_small), every domain's smallest page size and every access's
    /// iova_alignment; an increase must be compatible with the existing areas.
    /// </summary>
    public int iopt_calculate_iova_alignment()
    {
        lockdep_assert_held_write(iopt.iova_rwsem);
        lockdep_assert_held(iopt.domains_rwsem);

        ulong new_iova_alignment = iopt.disable_large_pages ? PAGE_SIZE : 1;

        ulong index = 0;
        for (var domain = domains_first(ref index); domain is not null; domain = domains_next(ref index))
            new_iova_alignment = max(domain_min_pgsize(domain), new_iova_alignment);
        foreach (var access in access_list_snapshot())
            new_iova_alignment = max(access.iova_alignment, new_iova_alignment);

        if (new_iova_alignment > iopt.iova_alignment)
        {
            int rc = iopt_check_iova_alignment(new_iova_alignment);
            if (rc != 0)
                return rc;
        }
        iopt.iova_alignment = new_iova_alignment;
        return 0;
    }

    /// <summary>
    /// iopt_fill_domain(): map every fully set-up area into the new domain under its
    /// pages-&gt;mutex; when this is the first domain the domain becomes the area's storage_domain
    /// and the area enters domains_itree. On failure the areas done so far are undone.
    /// </summary>
    private int iopt_fill_domain(iommu_domain domain)
    {
        iopt_area? area;
        int rc = 0;

        lockdep_assert_held(iopt.iova_rwsem);
        lockdep_assert_held_write(iopt.domains_rwsem);

        for (area = iopt_area_iter_first(0, ULONG_MAX); area is not null; area = iopt_area_iter_next(area, 0, ULONG_MAX))
        {
            var pages = area.pages;
            if (pages is null)
                continue;

            mutex_lock(pages.mutex);
            rc = Port.iopt_area_fill_domain(area, domain);
            if (rc != 0)
            {
                mutex_unlock(pages.mutex);
                goto out_unfill;
            }
            if (area.storage_domain is null)
            {
                WARN_ON(iopt.next_domain_id != 0);
                area.storage_domain = domain;
                interval_tree_insert(area.pages_node, pages.domains_itree);
            }
            mutex_unlock(pages.mutex);
        }
        return 0;

    out_unfill:
        var end_area = area;
        for (area = iopt_area_iter_first(0, ULONG_MAX); area is not null; area = iopt_area_iter_next(area, 0, ULONG_MAX))
        {
            var pages = area.pages;
            if (area == end_area)
                break;
            if (pages is null)
                continue;
            mutex_lock(pages.mutex);
            if (iopt.next_domain_id == 0)
            {
                interval_tree_remove(area.pages_node, pages.domains_itree);
                area.storage_domain = null;
            }
            Port.iopt_area_unfill_domain(area, pages, domain);
            mutex_unlock(pages.mutex);
        }
        return rc;
    }

    /// <summary>
    /// iopt_table_add_domain(): attach a domain. Under domains_rwsem and iova_rwsem (both write):
    /// -EEXIST (WARN) if already attached; -EINVAL if its smallest page size exceeds PAGE_SIZE;
    /// -EADDRINUSE if an existing area breaks the raised alignment or lies outside the domain's
    /// aperture (the IOVA around the aperture is reserved for the domain); then the slot
    /// next_domain_id is reserved, every area is filled, and on success the domain is stored
    /// there and next_domain_id grows.
    /// </summary>
    public int iopt_table_add_domain(iommu_domain domain)
    {
        int rc;

        down_write(iopt.domains_rwsem);
        down_write(iopt.iova_rwsem);

        ulong index = 0;
        for (var iter_domain = domains_first(ref index); iter_domain is not null; iter_domain = domains_next(ref index))
        {
            if (WARN_ON(ReferenceEquals(iter_domain, domain)))
            {
                rc = -EEXIST;
                goto out_unlock;
            }
        }

        // iopt_pages works in PAGE_SIZE units; a domain must accept PAGE_SIZE mappings.
        ulong new_iova_alignment = max(domain_min_pgsize(domain), iopt.iova_alignment);
        if (new_iova_alignment > PAGE_SIZE)
        {
            rc = -EINVAL;
            goto out_unlock;
        }
        if (new_iova_alignment != iopt.iova_alignment)
        {
            rc = iopt_check_iova_alignment(new_iova_alignment);
            if (rc != 0)
                goto out_unlock;
        }

        // No area may lie outside the domain's aperture: reserve the IOVA on either side of it.
        var geometry = domain.geometry;
        if (geometry.aperture_start != 0)
        {
            rc = iopt_reserve_iova(0, geometry.aperture_start - 1, domain);
            if (rc != 0)
                goto out_reserved;
        }
        if (geometry.aperture_end != ULONG_MAX)
        {
            rc = iopt_reserve_iova(geometry.aperture_end + 1, ULONG_MAX, domain);
            if (rc != 0)
                goto out_reserved;
        }

        // xa_reserve of the slot is modelled by storing the domain there before the fill: nothing
        // reads iopt->domains while domains_rwsem is held for write, and the store is where
        // v6.2's allocation can fail.
        rc = xa_reserve_domain(iopt.next_domain_id, domain);
        if (rc != 0)
            goto out_reserved;

        rc = iopt_fill_domain(domain);
        if (rc != 0)
            goto out_release;

        iopt.iova_alignment = new_iova_alignment;
        iopt.next_domain_id++;
        up_write(iopt.iova_rwsem);
        up_write(iopt.domains_rwsem);
        return 0;

    out_release:
        xa_erase(iopt.domains, iopt.next_domain_id);
    out_reserved:
        __iopt_remove_reserved_iova(domain);
    out_unlock:
        up_write(iopt.iova_rwsem);
        up_write(iopt.domains_rwsem);
        return rc;
    }

    /// <summary>
    /// iopt_reserve_iova(): make [start, last] unusable for areas on behalf of
    /// <paramref name="owner"/>. -EADDRINUSE if an area already lies there, -ENOMEM if the
    /// reservation cannot be allocated. Needs iova_rwsem for write.
    /// </summary>
    private int iopt_reserve_iova(ulong start, ulong last, object owner)
    {
        lockdep_assert_held_write(iopt.iova_rwsem);

        if (iopt_area_iter_first(start, last) is not null)
            return -EADDRINUSE;

        var reserved = kzalloc(() => new iopt_reserved(), GFP_KERNEL_ACCOUNT);
        if (reserved is null)
            return -ENOMEM;
        reserved.node.start = start;
        reserved.node.last = last;
        reserved.owner = owner;
        interval_tree_insert(reserved.node, iopt.reserved_itree);
        return 0;
    }

    /// <summary>__iopt_remove_reserved_iova(): drop every reservation <paramref name="owner"/> made.</summary>
    private void __iopt_remove_reserved_iova(object owner)
    {
        lockdep_assert_held_write(iopt.iova_rwsem);

        iopt_reserved? next;
        for (var reserved = iopt_reserved_iter_first(0, ULONG_MAX); reserved is not null; reserved = next)
        {
            next = iopt_reserved_iter_next(reserved, 0, ULONG_MAX);
            if (ReferenceEquals(reserved.owner, owner))
            {
                interval_tree_remove(reserved.node, iopt.reserved_itree);
                kfree(reserved);
            }
        }
    }

    /// <summary>xa_reserve(&amp;iopt-&gt;domains, id, GFP_KERNEL), see iopt_table_add_domain.</summary>
    private int xa_reserve_domain(uint id, iommu_domain domain)
    {
        var old = xa_store(iopt.domains, id, domain, GFP_KERNEL);
        if (xa_is_err(old))
            return xa_err(old);
        WARN_ON(old is not null);
        return 0;
    }

    /// <summary>
    /// iopt_unfill_domain(): after the domain left iopt-&gt;domains. If other domains remain, every
    /// area's storage_domain moves off it (to domain 0) and the domain is only unmapped; otherwise
    /// every area leaves domains_itree and is unmapped and unpinned from it.
    /// </summary>
    private void iopt_unfill_domain(iommu_domain domain)
    {
        lockdep_assert_held(iopt.iova_rwsem);
        lockdep_assert_held_write(iopt.domains_rwsem);

        // Another domain still holds all the PFNs: just unmap this one.
        if (iopt.next_domain_id != 0)
        {
            var storage_domain = (iommu_domain?)xa_load(iopt.domains, 0);

            for (var area = iopt_area_iter_first(0, ULONG_MAX); area is not null; area = iopt_area_iter_next(area, 0, ULONG_MAX))
            {
                var pages = area.pages;
                if (pages is null)
                    continue;

                mutex_lock(pages.mutex);
                if (IS_ENABLED(CONFIG_IOMMUFD_TEST))
                    WARN_ON(area.storage_domain is null);
                if (ReferenceEquals(area.storage_domain, domain))
                    area.storage_domain = storage_domain;
                mutex_unlock(pages.mutex);

                Port.iopt_area_unmap_domain(area, domain);
            }
            return;
        }

        for (var area = iopt_area_iter_first(0, ULONG_MAX); area is not null; area = iopt_area_iter_next(area, 0, ULONG_MAX))
        {
            var pages = area.pages;
            if (pages is null)
                continue;

            mutex_lock(pages.mutex);
            interval_tree_remove(area.pages_node, pages.domains_itree);
            WARN_ON(!ReferenceEquals(area.storage_domain, domain));
            area.storage_domain = null;
            Port.iopt_area_unfill_domain(area, pages, domain);
            mutex_unlock(pages.mutex);
        }
    }

    /// <summary>
    /// iopt_table_remove_domain(): detach a domain. The last entry of iopt-&gt;domains moves into
    /// its slot (next_domain_id--), the areas are unfilled, and the alignment is recomputed.
    /// WARNs and does nothing if the domain is not attached.
    /// </summary>
    public void iopt_table_remove_domain(iommu_domain domain)
    {
        iommu_domain? iter_domain;
        ulong index = 0;

        down_write(iopt.domains_rwsem);
        down_write(iopt.iova_rwsem);

        for (iter_domain = domains_first(ref index); iter_domain is not null; iter_domain = domains_next(ref index))
            if (ReferenceEquals(iter_domain, domain))
                break;
        if (WARN_ON(!ReferenceEquals(iter_domain, domain)) || index >= iopt.next_domain_id)
            goto out_unlock;

        // Keep the xarray dense: the tail entry takes the erased slot.
        iopt.next_domain_id--;
        iter_domain = (iommu_domain?)xa_erase(iopt.domains, iopt.next_domain_id);
        if (index != iopt.next_domain_id)
            xa_store(iopt.domains, index, iter_domain, GFP_KERNEL);

        iopt_unfill_domain(domain);
        __iopt_remove_reserved_iova(domain);

        WARN_ON(iopt_calculate_iova_alignment() != 0);
    out_unlock:
        up_write(iopt.iova_rwsem);
        up_write(iopt.domains_rwsem);
    }

    /// <summary>
    /// iopt_disable_large_pages(): only while no domain or no area exists (-EINVAL otherwise);
    /// raises iova_alignment to PAGE_SIZE (rolled back with its error if an area forbids it).
    /// </summary>
    public int iopt_disable_large_pages()
    {
        int rc = 0;

        down_write(iopt.domains_rwsem);
        down_write(iopt.iova_rwsem);
        if (iopt.disable_large_pages)
            goto out_unlock;

        // Not while domains already have pages mapped in them.
        if (!xa_empty(iopt.domains) && !RB_EMPTY_ROOT(iopt.area_itree))
        {
            rc = -EINVAL;
            goto out_unlock;
        }

        iopt.disable_large_pages = true;
        rc = iopt_calculate_iova_alignment();
        if (rc != 0)
            iopt.disable_large_pages = false;
    out_unlock:
        up_write(iopt.iova_rwsem);
        up_write(iopt.domains_rwsem);
        return rc;
    }

    /// <summary>iopt_enable_large_pages(): clears the flag and recomputes the alignment (WARN on failure).</summary>
    public void iopt_enable_large_pages()
    {
        down_write(iopt.domains_rwsem);
        down_write(iopt.iova_rwsem);
        Volatile.Write(ref iopt.disable_large_pages, false);
        WARN_ON(iopt_calculate_iova_alignment() != 0);
        up_write(iopt.iova_rwsem);
        up_write(iopt.domains_rwsem);
    }
}
