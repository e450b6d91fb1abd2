// SPDX-License-Identifier: GPL-2.0-only
// Creating pages and mapping areas: iopt_map_user_pages / iopt_map_pages / iopt_get_pages
// (IOAS_MAP and IOAS_COPY) of io_pagetable.c, Linux v6.2.
using System.Numerics;
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;
using Iommufd.Model.Patches;

namespace Iommufd.Model.Callers;

public sealed partial class IoPagetable
{
    // ---- pages ---------------------------------------------------------------------------

    /// <summary>
    /// Creates an iopt_pages for [uptr, uptr + length) of current's mm with no locks held
    /// (pages.c's iopt_alloc_pages), then applies this IOAS's <see cref="account_mode"/> the way
    /// iopt_map_user_pages does. The caller owns the one reference and drops it with
    /// <see cref="iopt_put_pages"/>.
    /// </summary>
    public ErrPtr<iopt_pages> CreatePages(ulong uptr, ulong length, bool writable)
    {
        var pages = Port.iopt_alloc_pages(uptr, length, writable);
        if (IS_ERR(pages))
            return pages;
        var p = pages.Value!;
        if (account_mode == IoptPagesAccount.IOPT_PAGES_ACCOUNT_MM &&
            p.account_mode == IoptPagesAccount.IOPT_PAGES_ACCOUNT_USER)
            p.account_mode = IoptPagesAccount.IOPT_PAGES_ACCOUNT_MM;
        return pages;
    }

    // ---- areas ---------------------------------------------------------------------------

    /// <summary>iopt_area_alloc(): a zeroed area (a kzalloc fault site).</summary>
    private iopt_area? iopt_area_alloc() => kzalloc(() => new iopt_area(), GFP_KERNEL_ACCOUNT);

    /// <summary>iopt_abort_area(): remove a not-fully-set-up area from area_itree and free it.</summary>
    private void iopt_abort_area(iopt_area area)
    {
        if (IS_ENABLED(CONFIG_IOMMUFD_TEST))
            WARN_ON(area.pages is not null);
        if (area.iopt is not null)
        {
            down_write(area.iopt.iova_rwsem);
            interval_tree_remove(area.node, area.iopt.area_itree);
            up_write(area.iopt.iova_rwsem);
        }
        kfree(area);
    }

    /// <summary>
    /// iopt_insert_area(): fill in the area for [iova, iova + length) backed by start_byte of
    /// pages and insert it in area_itree with area-&gt;pages still NULL.
    /// </summary>
    private int iopt_insert_area(iopt_area area, iopt_pages pages, ulong iova, ulong start_byte,
                                 ulong length, int iommu_prot)
    {
        lockdep_assert_held_write(iopt.iova_rwsem);

        if ((iommu_prot & IOMMU_WRITE) != 0 && !pages.writable)
            return -EPERM;

        area.iommu_prot = iommu_prot;
        area.page_offset = (uint)(start_byte % PAGE_SIZE);
        if ((area.page_offset & (iopt.iova_alignment - 1)) != 0)
            return -EINVAL;

        area.node.start = iova;
        if (check_add_overflow(iova, unchecked(length - 1), out area.node.last))
            return -EOVERFLOW;

        area.pages_node.start = start_byte / PAGE_SIZE;
        if (check_add_overflow(start_byte, unchecked(length - 1), out area.pages_node.last))
            return -EOVERFLOW;
        area.pages_node.last = area.pages_node.last / PAGE_SIZE;
        if (WARN_ON(area.pages_node.last >= pages.npages))
            return -EOVERFLOW;

        // Inserted with pages == NULL: the IOVA is reserved but the area is not usable yet.
        area.iopt = iopt;
        interval_tree_insert(area.node, iopt.area_itree);
        return 0;
    }

    /// <summary>iopt_check_iova(): a fixed IOVA must be aligned, must not wrap and must be free.</summary>
    private int iopt_check_iova(ulong iova, ulong length)
    {
        lockdep_assert_held(iopt.iova_rwsem);

        if ((iova & (iopt.iova_alignment - 1)) != 0)
            return -EINVAL;

        if (check_add_overflow(iova, unchecked(length - 1), out ulong last))
            return -EOVERFLOW;

        // No reserved IOVA may intersect the range.
        if (iopt_reserved_iter_first(iova, last) is not null)
            return -EINVAL;
        if (iopt_area_iter_first(iova, last) is not null)
            return -EEXIST;
        return 0;
    }

    private static ulong roundup_pow_of_two(ulong n) =>
        n <= 1 ? 1 : 1UL << (64 - BitOperations.LeadingZeroCount(n - 1));

    private static ulong ALIGN(ulong x, ulong a) => unchecked(x + a - 1) & ~(a - 1);

    /// <summary>
    /// As released ALIGN(start, alignment) wraps to 0 for a start above the last multiple of the
    /// alignment, and 0 passes the fit checks that follow: iopt_alloc_iova hands out IOVA 0 over an
    /// existing area (docs/findings/README.md, callers). The patch refuses such a span.
    /// </summary>
    private bool AlignWraps(ulong start, ulong alignment) =>
        PATCHED(ModelPatches.AllocIovaAlignOverflow) && start > ulong.MaxValue - (alignment - 1);

    /// <summary>__alloc_iova_check_used() on the allowed span (always all of [PAGE_SIZE, ULONG_MAX - PAGE_SIZE]).</summary>
    private bool alloc_iova_check_used(ref ulong start_used, ulong last_used, ulong length,
                                       ulong iova_alignment, ulong page_offset)
    {
        if (last_used - start_used < length - 1)
            return false;
        if (AlignWraps(start_used, iova_alignment))
            return false;
        start_used = ALIGN(start_used, iova_alignment) | page_offset;
        if (start_used > last_used || last_used - start_used < length - 1)
            return false;
        return true;
    }

    /// <summary>__alloc_iova_check_hole(): does the hole fit length once aligned?</summary>
    private bool alloc_iova_check_hole(interval_tree_double_span_iter span, ulong length,
                                       ulong iova_alignment, ulong page_offset)
    {
        if (span.is_used != 0 || span.last_hole - span.start_hole < length - 1)
            return false;
        if (AlignWraps(span.start_hole, iova_alignment))
            return false;

        span.start_hole = ALIGN(span.start_hole, iova_alignment) | page_offset;
        if (span.start_hole > span.last_hole || span.last_hole - span.start_hole < length - 1)
            return false;
        return true;
    }

    /// <summary>
    /// iopt_alloc_iova(): v6.2's first-fit allocator. The alignment keeps the alignment of uptr
    /// (up to the rounded-up length) so THPs can be mapped; the lowest hole of area_itree at or
    /// above PAGE_SIZE that is free of areas and reserved ranges and fits wins. No allowed ranges
    /// exist in this model.
    /// </summary>
    private int iopt_alloc_iova(out ulong iova, ulong uptr, ulong length)
    {
        ulong page_offset = uptr % PAGE_SIZE;
        iova = 0;

        lockdep_assert_held(iopt.iova_rwsem);

        // Protect roundup_pow_of_two() from overflow.
        if (length == 0 || length >= ULONG_MAX / 2)
            return -EOVERFLOW;

        ulong iova_alignment = uptr == 0
            ? roundup_pow_of_two(length)
            : min(roundup_pow_of_two(length), 1UL << BitOperations.TrailingZeroCount(uptr));

        if (iova_alignment < iopt.iova_alignment)
            return -EINVAL;

        // The allowed itree is empty, so the only allowed span is the kernel's default.
        ulong start_used = PAGE_SIZE;
        ulong last_used = ULONG_MAX - PAGE_SIZE;
        if (!alloc_iova_check_used(ref start_used, last_used, length, iova_alignment, page_offset))
            return -ENOSPC;

        var used_span = new interval_tree_double_span_iter();
        for (Port.interval_tree_double_span_iter_first(used_span, iopt.reserved_itree, iopt.area_itree,
                                                       start_used, last_used);
             !interval_tree_double_span_iter_done(used_span);
             Port.interval_tree_double_span_iter_next(used_span))
        {
            if (!alloc_iova_check_hole(used_span, length, iova_alignment, page_offset))
                continue;
            iova = used_span.start_hole;
            return 0;
        }
        return -ENOSPC;
    }

    /// <summary>
    /// iopt_alloc_area_pages(): allocate one area per list element, then under iova_rwsem write
    /// pick or check the IOVA and insert the areas (pages still NULL) back to back.
    /// </summary>
    private int iopt_alloc_area_pages(List<iopt_pages_list> pages_list, ulong length, ref ulong dst_iova,
                                      int iommu_prot, uint flags)
    {
        int rc = 0;

        foreach (var elm in pages_list)
        {
            elm.area = iopt_area_alloc();
            if (elm.area is null)
                return -ENOMEM;
        }

        down_write(iopt.iova_rwsem);
        if ((length & (iopt.iova_alignment - 1)) != 0 || length == 0)
        {
            rc = -EINVAL;
            goto out_unlock;
        }

        if ((flags & IOPT_ALLOC_IOVA) != 0)
        {
            // The first element guesses the ideal IOVA alignment.
            var first = pages_list[0];
            rc = iopt_alloc_iova(out dst_iova, unchecked(first.pages!.uptr + first.start_byte), length);
            if (rc != 0)
                goto out_unlock;
            if (IS_ENABLED(CONFIG_IOMMUFD_TEST) && WARN_ON(iopt_check_iova(dst_iova, length) != 0))
            {
                rc = -EINVAL;
                goto out_unlock;
            }
        }
        else
        {
            rc = iopt_check_iova(dst_iova, length);
            if (rc != 0)
                goto out_unlock;
        }

        ulong iova = dst_iova;
        foreach (var elm in pages_list)
        {
            rc = iopt_insert_area(elm.area!, elm.pages!, iova, elm.start_byte, elm.length, iommu_prot);
            if (rc != 0)
                goto out_unlock;
            iova = unchecked(iova + elm.length);
        }

    out_unlock:
        up_write(iopt.iova_rwsem);
        return rc;
    }

    /// <summary>iopt_fill_domains_pages(): fill every new area into every domain, undoing on failure.</summary>
    private int iopt_fill_domains_pages(List<iopt_pages_list> pages_list)
    {
        int i;
        int rc = 0;

        for (i = 0; i < pages_list.Count; i++)
        {
            rc = Port.iopt_area_fill_domains(pages_list[i].area!, pages_list[i].pages!);
            if (rc != 0)
                goto err_undo;
        }
        return 0;

    err_undo:
        for (int j = 0; j < i; j++)
            Port.iopt_area_unfill_domains(pages_list[j].area!, pages_list[j].pages!);
        return rc;
    }

    /// <summary>
    /// iopt_map_pages(): map a list of pages slices at consecutive IOVAs. Each element's kref moves
    /// into its area on success; on failure the elements keep their areas and references, which
    /// the caller releases (<see cref="iopt_free_pages_list"/>), exactly as in v6.2.
    /// </summary>
    /// <param name="pages_list">Elements with pages (one kref each), start_byte and length.</param>
    /// <param name="length">Total length, the sum of the elements' lengths.</param>
    /// <param name="dst_iova">In: the fixed IOVA; out: the IOVA used (with IOPT_ALLOC_IOVA).</param>
    /// <param name="iommu_prot">IOMMU_READ / IOMMU_WRITE / IOMMU_CACHE.</param>
    /// <param name="flags">0 or IOPT_ALLOC_IOVA.</param>
    public int iopt_map_pages(List<iopt_pages_list> pages_list, ulong length, ref ulong dst_iova,
                              int iommu_prot, uint flags)
    {
        int rc = iopt_alloc_area_pages(pages_list, length, ref dst_iova, iommu_prot, flags);
        if (rc != 0)
            return rc;

        down_read(iopt.domains_rwsem);
        rc = iopt_fill_domains_pages(pages_list);
        if (rc != 0)
            goto out_unlock_domains;

        down_write(iopt.iova_rwsem);
        foreach (var elm in pages_list)
        {
            // Set inside domains_rwsem so a domain attached later sees the area; the list's
            // reference moves into the area.
            elm.area!.pages = elm.pages;
            elm.pages = null;
            elm.area = null;
        }
        up_write(iopt.iova_rwsem);
    out_unlock_domains:
        up_read(iopt.domains_rwsem);
        return rc;
    }

    /// <summary>iopt_free_pages_list(): abort leftover areas, drop leftover references, free the elements.</summary>
    public void iopt_free_pages_list(List<iopt_pages_list> pages_list)
    {
        while (pages_list.Count != 0)
        {
            var elm = pages_list[0];
            if (elm.area is not null)
                iopt_abort_area(elm.area);
            if (elm.pages is not null)
                iopt_put_pages(elm.pages);
            pages_list.RemoveAt(0);
            kfree(elm);
        }
    }

    /// <summary>
    /// iopt_map_user_pages() (IOAS_MAP): create pages for [uptr, uptr + length) of current's mm
    /// and map them at *iova (fixed) or at an allocated IOVA (IOPT_ALLOC_IOVA).
    /// </summary>
    public int iopt_map_user_pages(ref ulong iova, ulong uptr, ulong length, int iommu_prot, uint flags)
    {
        var elm = new iopt_pages_list(); // on the stack in v6.2: not an allocation

        var pages = CreatePages(uptr, length, (iommu_prot & IOMMU_WRITE) != 0);
        if (IS_ERR(pages))
            return PTR_ERR(pages);
        elm.pages = pages.Value!;
        elm.start_byte = uptr - elm.pages.uptr;
        elm.length = length;
        return MapOneElement(elm, ref iova, iommu_prot, flags);
    }

    /// <summary>
    /// iopt_map_user_pages()'s tail: map a one-element pages list; on failure abort the area and
    /// drop the element's pages reference, as v6.2 does.
    /// </summary>
    private int MapOneElement(iopt_pages_list elm, ref ulong iova, int iommu_prot, uint flags)
    {
        var pages_list = new List<iopt_pages_list> { elm };

        int rc = iopt_map_pages(pages_list, elm.length, ref iova, iommu_prot, flags);
        if (rc != 0)
        {
            if (elm.area is not null)
                iopt_abort_area(elm.area);
            if (elm.pages is not null)
                iopt_put_pages(elm.pages);
            return rc;
        }
        return 0;
    }

    /// <summary>
    /// Maps [start_byte, start_byte + length) of existing pages at *iova, taking its own kref on
    /// the pages (the caller keeps its reference). This is the one-element form of what IOAS_COPY
    /// does with iopt_get_pages + iopt_map_pages; cleanup on failure is iopt_map_user_pages's.
    /// </summary>
    public int MapPages(iopt_pages pages, ulong start_byte, ulong length, ref ulong iova, int iommu_prot, uint flags)
    {
        kref_get(pages.kref);
        var elm = new iopt_pages_list { pages = pages, start_byte = start_byte, length = length };
        return MapOneElement(elm, ref iova, iommu_prot, flags);
    }

    /// <summary>
    /// iopt_get_pages(): under iova_rwsem read, describe [iova, iova + length) as a list of pages
    /// slices, one kref each; -ENOENT if the range is not fully covered by contiguous areas.
    /// </summary>
    public int iopt_get_pages(ulong iova, ulong length, List<iopt_pages_list> pages_list)
    {
        var iter = new iopt_area_contig_iter();
        int rc;

        if (length == 0)
            return -EINVAL;
        if (check_add_overflow(iova, length - 1, out ulong last_iova))
            return -EOVERFLOW;

        down_read(iopt.iova_rwsem);
        for (var area = iopt_area_contig_init(iter, iova, last_iova); area is not null; area = iopt_area_contig_next(iter))
        {
            ulong last = min(last_iova, iopt_area_last_iova(area));

            var elm = kzalloc(() => new iopt_pages_list(), GFP_KERNEL_ACCOUNT);
            if (elm is null)
            {
                rc = -ENOMEM;
                goto err_free;
            }
            elm.start_byte = iopt_area_start_byte(area, iter.cur_iova);
            elm.pages = area.pages;
            elm.length = last - iter.cur_iova + 1;
            kref_get(elm.pages!.kref);
            pages_list.Add(elm);
        }
        if (!iopt_area_contig_done(iter))
        {
            rc = -ENOENT;
            goto err_free;
        }
        up_read(iopt.iova_rwsem);
        return 0;

    err_free:
        up_read(iopt.iova_rwsem);
        iopt_free_pages_list(pages_list);
        return rc;
    }

    /// <summary>
    /// IOAS_COPY (iommufd_ioas_copy): share the iopt_pages behind [src_iova, src_iova + length) of
    /// <paramref name="src"/> with new areas of this IOAS at *dst_iova (fixed, or allocated with
    /// IOPT_ALLOC_IOVA).
    /// </summary>
    public int iopt_copy_iova(IoPagetable src, ulong src_iova, ulong length, ref ulong dst_iova,
                              int iommu_prot, uint flags)
    {
        var pages_list = new List<iopt_pages_list>();

        int rc = src.iopt_get_pages(src_iova, length, pages_list);
        if (rc != 0)
            return rc;

        rc = iopt_map_pages(pages_list, length, ref dst_iova, iommu_prot, flags);
        iopt_free_pages_list(pages_list);
        return rc;
    }
}
