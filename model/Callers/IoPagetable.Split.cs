// SPDX-License-Identifier: GPL-2.0-only
// Splitting areas for VFIO type1 compatibility: iopt_area_split / iopt_cut_iova of
// io_pagetable.c, Linux v6.2 (including its omission: domains_itree is left untouched).
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;
using Iommufd.Model.Patches;

namespace Iommufd.Model.Callers;

public sealed partial class IoPagetable
{
    /// <summary>
    /// iopt_area_split(): cut the area so that <paramref name="iova"/> is the last byte of the
    /// left part. A cut at the area's first or last byte does nothing. -EBUSY if the area is not
    /// fully set up or is being unmapped (prevent_access); -EINVAL if the cut breaks the IOVA
    /// alignment, if the area has accesses, or if it has a storage domain while large pages are
    /// allowed; -ENOMEM if an area cannot be allocated. Otherwise two new areas replace it in
    /// area_itree (both with its storage_domain and pages, one more kref) and it is freed. As in
    /// v6.2, neither new area's pages_node enters domains_itree and the old pages_node stays there.
    /// </summary>
    private int iopt_area_split(iopt_area area, ulong iova)
    {
        ulong alignment = area.iopt.iova_alignment;
        ulong last_iova = iopt_area_last_iova(area);
        ulong start_iova = iopt_area_iova(area);
        ulong new_start = iova + 1;
        var pages = area.pages;
        iopt_area? rhs = null;
        int rc;

        lockdep_assert_held_write(iopt.iova_rwsem);

        if (iova == start_iova || iova == last_iova)
            return 0;

        if (pages is null || area.prevent_access)
            return -EBUSY;

        if ((new_start & (alignment - 1)) != 0 ||
            (iopt_area_start_byte(area, new_start) & (alignment - 1)) != 0)
            return -EINVAL;

        var lhs = iopt_area_alloc();
        if (lhs is null)
            return -ENOMEM;

        rhs = iopt_area_alloc();
        if (rhs is null)
        {
            rc = -ENOMEM;
            goto err_free_lhs;
        }

        mutex_lock(pages.mutex);
        // Accesses are not tracked finely enough to be split.
        if (area.num_accesses != 0)
        {
            rc = -EINVAL;
            goto err_unlock;
        }

        // A domain may hold this area in large IOPTEs that cannot be cut.
        if (area.storage_domain is not null && !iopt.disable_large_pages)
        {
            rc = -EINVAL;
            goto err_unlock;
        }

        interval_tree_remove(area.node, iopt.area_itree);
        rc = iopt_insert_area(lhs, pages, start_iova, iopt_area_start_byte(area, start_iova),
                              new_start - 1 - start_iova + 1, area.iommu_prot);
        if (WARN_ON(rc != 0))
            goto err_insert;

        rc = iopt_insert_area(rhs, pages, new_start, iopt_area_start_byte(area, new_start),
                              last_iova - new_start + 1, area.iommu_prot);
        if (WARN_ON(rc != 0))
            goto err_remove_lhs;

        // Patch (not v6.2): the pieces take the old area's place in domains_itree, so unfilling
        // them later finds their nodes (as released, the freed area's node stays in the tree).
        if (PATCHED(ModelPatches.SplitDomainsItree) && area.storage_domain is not null)
        {
            interval_tree_remove(area.pages_node, pages.domains_itree);
            interval_tree_insert(lhs.pages_node, pages.domains_itree);
            interval_tree_insert(rhs.pages_node, pages.domains_itree);
        }
        lhs.storage_domain = area.storage_domain;
        lhs.pages = area.pages;
        rhs.storage_domain = area.storage_domain;
        rhs.pages = area.pages;
        kref_get(rhs.pages!.kref);
        kfree(area);
        mutex_unlock(pages.mutex);

        // Neither the domains nor the accesses change: the pages did not.
        return 0;

    err_remove_lhs:
        interval_tree_remove(lhs.node, iopt.area_itree);
    err_insert:
        interval_tree_insert(area.node, iopt.area_itree);
    err_unlock:
        mutex_unlock(pages.mutex);
        kfree(rhs);
    err_free_lhs:
        kfree(lhs);
        return rc;
    }

    /// <summary>
    /// iopt_cut_iova(): under iova_rwsem write, split the area holding each given IOVA so that
    /// the IOVA ends a piece; IOVAs outside any area are skipped; stops at the first error.
    /// </summary>
    public int iopt_cut_iova(ulong[] iovas)
    {
        int rc = 0;

        down_write(iopt.iova_rwsem);
        for (int i = 0; i < iovas.Length; i++)
        {
            var area = iopt_area_iter_first(iovas[i], iovas[i]);
            if (area is null)
                continue;
            rc = iopt_area_split(area, iovas[i]);
            if (rc != 0)
                break;
        }
        up_write(iopt.iova_rwsem);
        return rc;
    }
}
