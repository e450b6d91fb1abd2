// SPDX-License-Identifier: GPL-2.0-only
// Port of pages.c lines 66-257: the temporary allocator, the double span iterator, the npinned
// counters and the area index/IOVA helpers.
using Iommufd.Model.Kernel;

namespace Iommufd.Model.Port;

public sealed partial class Pages
{
    /// <summary>
    /// Best-effort allocation of scratch memory of up to <paramref name="size"/> bytes, capped at
    /// TEMP_MEMORY_LIMIT; <paramref name="size"/> is updated to what was actually obtained. With a
    /// backup buffer (<paramref name="backup_len"/> non-zero) it cannot fail: it falls back to the
    /// backup. Without one it may return NULL.
    /// </summary>
    // pages.c:74
    internal Ptr<byte> temp_kmalloc(ref ulong size, Ptr<byte> backup, ulong backup_len)
    {
        Ptr<byte> res;

        if (WARN_ON(size == 0))
            return Ptr<byte>.NULL;

        // Strictly smaller: a request of exactly backup_len bytes still goes to kmalloc.
        if (size < backup_len)
            return backup;

        if (backup.IsNull && iommufd_should_fail())
            return Ptr<byte>.NULL;

        // min_t(size_t, ...): both operands are already size_t (ulong).
        size = min<ulong>(size, TEMP_MEMORY_LIMIT);
        res = kmalloc(size, GFP_KERNEL | __GFP_NOWARN | __GFP_NORETRY, "temp_kmalloc.limit");
        if (!res.IsNull)
            return res;
        size = PAGE_SIZE;
        if (backup_len != 0)
        {
            res = kmalloc(size, GFP_KERNEL | __GFP_NOWARN | __GFP_NORETRY, "temp_kmalloc.page");
            if (!res.IsNull)
                return res;
            size = backup_len;
            return backup;
        }
        return kmalloc(size, GFP_KERNEL, "temp_kmalloc.page_nobackup");
    }

    /// <summary>
    /// Combines the current spans of the two trees into one double-span state: done if either
    /// tree is done; used in tree 0 if tree 0 is used; else used in tree 1 (clipped to tree 0's
    /// hole); else a hole common to both.
    /// </summary>
    // pages.c:102
    public void interval_tree_double_span_iter_update(interval_tree_double_span_iter iter)
    {
        ulong last_hole = ULONG_MAX;
        uint i;

        for (i = 0; i != (uint)iter.spans.Length; i++)
        {
            if (interval_tree_span_iter_done(iter.spans[i]))
            {
                iter.is_used = -1;
                return;
            }

            // C tests the int is_hole for non-zero; done (-1) was excluded just above.
            if (iter.spans[i].is_hole != 0)
            {
                last_hole = min(last_hole, iter.spans[i].last_hole);
                continue;
            }

            // unsigned int i + 1 assigned to the int is_used (1 or 2).
            iter.is_used = (int)(i + 1);
            iter.start_used = iter.spans[i].start_used;
            iter.last_used = min(iter.spans[i].last_used, last_hole);
            return;
        }

        iter.is_used = 0;
        iter.start_hole = iter.spans[0].start_hole;
        iter.last_hole =
            min(iter.spans[0].last_hole, iter.spans[1].last_hole);
    }

    /// <summary>Starts a walk of [first_index, last_index] over both trees at once.</summary>
    // pages.c:131
    public void interval_tree_double_span_iter_first(interval_tree_double_span_iter iter, rb_root_cached itree1, rb_root_cached itree2, ulong first_index, ulong last_index)
    {
        uint i;

        iter.itrees[0] = itree1;
        iter.itrees[1] = itree2;
        for (i = 0; i != (uint)iter.spans.Length; i++)
            interval_tree_span_iter_first(iter.spans[i], iter.itrees[i]!,
                                          first_index, last_index);
        interval_tree_double_span_iter_update(iter);
    }

    /// <summary>
    /// Moves the double walk to the span that starts right after the current one (the current
    /// end is read through the last_hole/last_used union), or marks it done at the range end.
    /// </summary>
    // pages.c:146
    public void interval_tree_double_span_iter_next(interval_tree_double_span_iter iter)
    {
        uint i;

        if (iter.is_used == -1 ||
            iter.last_hole == iter.spans[0].last_index)
        {
            iter.is_used = -1;
            return;
        }

        for (i = 0; i != (uint)iter.spans.Length; i++)
            interval_tree_span_iter_advance(
                iter.spans[i], iter.itrees[i]!, iter.last_hole + 1);
        interval_tree_double_span_iter_update(iter);
    }

    /// <summary>Counts <paramref name="npages"/> more pinned pages; in the test build warns on wrap or on npinned &gt; npages.</summary>
    // pages.c:163
    internal void iopt_pages_add_npinned(iopt_pages pages, ulong npages)
    {
        // C: int rc = check_add_overflow(...); the macro's bool result is held as bool here.
        bool rc;

        rc = check_add_overflow(pages.npinned, npages, out pages.npinned);
        if (IS_ENABLED(CONFIG_IOMMUFD_TEST))
            WARN_ON(rc || pages.npinned > pages.npages);
    }

    /// <summary>Counts <paramref name="npages"/> fewer pinned pages; in the test build warns on wrap or on npinned &gt; npages.</summary>
    // pages.c:172
    internal void iopt_pages_sub_npinned(iopt_pages pages, ulong npages)
    {
        // C: int rc = check_sub_overflow(...); held as bool.
        bool rc;

        rc = check_sub_overflow(pages.npinned, npages, out pages.npinned);
        if (IS_ENABLED(CONFIG_IOMMUFD_TEST))
            WARN_ON(rc || pages.npinned > pages.npages);
    }

    /// <summary>Error path: unpins the pages of [start_index, last_index] held in <paramref name="page_list"/> and uncounts them.</summary>
    // pages.c:181
    internal void iopt_pages_err_unpin(iopt_pages pages, ulong start_index, ulong last_index, Ptr<PagePtr> page_list)
    {
        ulong npages = last_index - start_index + 1;

        unpin_user_pages(page_list, npages);
        iopt_pages_sub_npinned(pages, npages);
    }

    /// <summary>
    /// The first IOVA of page <paramref name="index"/> of the area's pages: the area's own start
    /// for its first page (which may begin mid-page), else the page boundary in IOVA space.
    /// </summary>
    // pages.c:197
    internal ulong iopt_area_index_to_iova(iopt_area area, ulong index)
    {
        if (IS_ENABLED(CONFIG_IOMMUFD_TEST))
            WARN_ON(index < iopt_area_index(area) ||
                    index > iopt_area_last_index(area));
        index -= iopt_area_index(area);
        if (index == 0)
            return iopt_area_iova(area);
        // unsigned long - unsigned int page_offset: the uint widens to ulong, as in C.
        return iopt_area_iova(area) - area.page_offset + index * PAGE_SIZE;
    }

    /// <summary>
    /// The last IOVA of page <paramref name="index"/> of the area: the area's last IOVA for its
    /// last page (which may end mid-page), else the last byte of that page in IOVA space.
    /// </summary>
    // pages.c:209
    internal ulong iopt_area_index_to_iova_last(iopt_area area, ulong index)
    {
        if (IS_ENABLED(CONFIG_IOMMUFD_TEST))
            WARN_ON(index < iopt_area_index(area) ||
                    index > iopt_area_last_index(area));
        if (index == iopt_area_last_index(area))
            return iopt_area_last_iova(area);
        return iopt_area_iova(area) - area.page_offset +
               (index - iopt_area_index(area) + 1) * PAGE_SIZE - 1;
    }

    /// <summary>iommu_unmap that must unmap exactly <paramref name="size"/> bytes; anything else is a WARN.</summary>
    // pages.c:221
    internal void iommu_unmap_nofail(iommu_domain domain, ulong iova, ulong size)
    {
        ulong ret;

        ret = iommu_unmap(domain, iova, size);
        // Unmap is not allowed to fail or to unmap a different amount: that would be a bug
        // in this file or in the IOMMU driver.
        WARN_ON(ret != size);
    }

    /// <summary>Unmaps from <paramref name="domain"/> the IOVA of the area that backs pages [start_index, last_index].</summary>
    // pages.c:237
    internal void iopt_area_unmap_domain_range(iopt_area area, iommu_domain domain, ulong start_index, ulong last_index)
    {
        ulong start_iova = iopt_area_index_to_iova(area, start_index);

        iommu_unmap_nofail(domain, start_iova,
                           iopt_area_index_to_iova_last(area, last_index) -
                               start_iova + 1);
    }

    /// <summary>Some area whose domain storage holds page <paramref name="index"/>, or NULL.</summary>
    // pages.c:249
    internal iopt_area? iopt_pages_find_domain_area(iopt_pages pages, ulong index)
    {
        interval_tree_node? node;

        node = interval_tree_iter_first(pages.domains_itree, index, index);
        if (node == null)
            return null;
        return container_of<iopt_area>(node);
    }
}
