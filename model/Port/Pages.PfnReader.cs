// SPDX-License-Identifier: GPL-2.0-only
// Port of pages.c (Linux v6.2), part 2: struct pfn_reader, the iterator that loads the PFNs of
// an index range into a batch from the cheapest source: the pinned_pfns xarray (indexes held by
// an access), else an iommu_domain holding an area over the index, else pin_user_pages().
using Iommufd.Model.Kernel;

namespace Iommufd.Model.Port;

public sealed partial class Pages
{
    /// <summary>Accounts the pins the reader has changed (see pfn_reader_user_update_pinned).</summary>
    // pages.c:945
    internal int pfn_reader_update_pinned(pfn_reader pfns)
    {
        return pfn_reader_user_update_pinned(pfns.user, pfns.pages);
    }

    /// <summary>
    /// Unpins the pages of the current batch [batch_start_index, batch_end_index) that no access
    /// and no domain holds, i.e. only the parts of the range that are holes in both
    /// access_itree and domains_itree. Needs pages.mutex.
    /// </summary>
    // pages.c:954
    internal void pfn_reader_unpin(pfn_reader pfns)
    {
        ulong last = pfns.batch_end_index - 1;
        ulong start = pfns.batch_start_index;
        interval_tree_double_span_iter span = new();
        iopt_pages pages = pfns.pages;

        lockdep_assert_held(pages.mutex);

        for (interval_tree_double_span_iter_first(span, pages.access_itree,
                                                  pages.domains_itree, start, last);
             !interval_tree_double_span_iter_done(span);
             interval_tree_double_span_iter_next(span))
        {
            if (span.is_used != 0)
                continue;

            // first_page_off is unsigned int: the unsigned long offset is truncated to 32 bits.
            batch_unpin(pfns.batch, pages, (uint)(span.start_hole - start),
                        span.last_hole - span.start_hole + 1);
        }
    }

    /// <summary>
    /// Appends to the batch the PFNs of the current span starting at batch_end_index: from the
    /// xarray for a span used by an access (is_used 1), from the storage domain of an area for a
    /// span used by a domain (is_used 2, at most up to the end of that area), otherwise from the
    /// user pages, pinning more of them when the pinned window is exhausted.
    /// </summary>
    // pages.c:974
    internal int pfn_reader_fill_span(pfn_reader pfns)
    {
        interval_tree_double_span_iter span = pfns.span;
        ulong start_index = pfns.batch_end_index;
        iopt_area? area;
        int rc;

        if (IS_ENABLED(CONFIG_IOMMUFD_TEST) &&
            WARN_ON(span.last_used < start_index))
            return -EINVAL;

        if (span.is_used == 1)
        {
            batch_from_xarray(pfns.batch, pfns.pages.pinned_pfns,
                              start_index, span.last_used);
            return 0;
        }

        if (span.is_used == 2)
        {
            // Take what the first area with a domain over start_index provides; if it ends
            // before the span does, the next call finds the following area.
            area = iopt_pages_find_domain_area(pfns.pages, start_index);
            if (WARN_ON(area == null))
                return -EINVAL;

            // storage_domain is stable while pages.mutex is held.
            batch_from_domain(
                pfns.batch, area!.storage_domain!, area, start_index,
                min(iopt_area_last_index(area), span.last_used));
            return 0;
        }

        if (start_index >= pfns.user.upages_end)
        {
            rc = pfn_reader_user_pin(pfns.user, pfns.pages, start_index,
                                     span.last_hole);
            if (rc != 0)
                return rc;
        }

        batch_from_pages(pfns.batch,
                         pfns.user.upages +
                             (start_index - pfns.user.upages_start),
                         pfns.user.upages_end - start_index);
        return 0;
    }

    /// <summary>True once the batches have covered the whole range up to last_index.</summary>
    // pages.c:1022
    internal bool pfn_reader_done(pfn_reader pfns)
    {
        return pfns.batch_start_index == pfns.last_index + 1;
    }

    /// <summary>
    /// Empties the batch and refills it with the PFNs that follow the previous batch, span by
    /// span, until the batch is full (a fill added nothing) or the range ends. On return the
    /// batch covers [batch_start_index, batch_end_index).
    /// </summary>
    // pages.c:1027
    internal int pfn_reader_next(pfn_reader pfns)
    {
        int rc;

        batch_clear(pfns.batch);
        pfns.batch_start_index = pfns.batch_end_index;

        while (pfns.batch_end_index != pfns.last_index + 1)
        {
            uint npfns = pfns.batch.total_pfns;

            if (IS_ENABLED(CONFIG_IOMMUFD_TEST) &&
                WARN_ON(interval_tree_double_span_iter_done(pfns.span)))
                return -EINVAL;

            rc = pfn_reader_fill_span(pfns);
            if (rc != 0)
                return rc;

            if (WARN_ON(pfns.batch.total_pfns == 0))
                return -EINVAL;

            // unsigned long + unsigned int: the u32 widens to unsigned long.
            pfns.batch_end_index =
                pfns.batch_start_index + pfns.batch.total_pfns;
            if (pfns.batch_end_index == pfns.span.last_used + 1)
                interval_tree_double_span_iter_next(pfns.span);

            // The fill could not add anything: the batch is full.
            if (npfns == pfns.batch.total_pfns)
                return 0;
        }
        return 0;
    }

    /// <summary>
    /// Sets up a reader over [start_index, last_index] with no batch yet read: the user reader is
    /// empty, the batch is allocated for the range and the span walk of access_itree and
    /// domains_itree is positioned on the first span. Needs pages.mutex.
    /// </summary>
    // pages.c:1060
    internal int pfn_reader_init(pfn_reader pfns, iopt_pages pages, ulong start_index, ulong last_index)
    {
        int rc;

        lockdep_assert_held(pages.mutex);

        pfns.pages = pages;
        pfns.batch_start_index = start_index;
        pfns.batch_end_index = start_index;
        pfns.last_index = last_index;
        pfn_reader_user_init(pfns.user, pages);
        rc = batch_init(pfns.batch, last_index - start_index + 1);
        if (rc != 0)
            return rc;
        interval_tree_double_span_iter_first(pfns.span, pages.access_itree,
                                             pages.domains_itree, start_index,
                                             last_index);
        return 0;
    }

    /// <summary>
    /// Gives back the pins the reader still owns: user pages pinned beyond the batch are
    /// unpinned (and taken off npinned), and the pages of the current batch that nothing else
    /// holds are unpinned. Used by error paths before the accounting is brought up to date.
    /// </summary>
    // pages.c:1089
    internal void pfn_reader_release_pins(pfn_reader pfns)
    {
        iopt_pages pages = pfns.pages;

        if (pfns.user.upages_end > pfns.batch_end_index)
        {
            ulong npages = pfns.user.upages_end - pfns.batch_end_index;

            // Pinned but never moved into the batch: simply unpin them.
            unpin_user_pages(pfns.user.upages + (pfns.batch_end_index -
                                                 pfns.user.upages_start),
                             npages);
            iopt_pages_sub_npinned(pages, npages);
            pfns.user.upages_end = pfns.batch_end_index;
        }
        if (pfns.batch_start_index != pfns.batch_end_index)
        {
            pfn_reader_unpin(pfns);
            pfns.batch_start_index = pfns.batch_end_index;
        }
    }

    /// <summary>
    /// Tears the reader down: releases its pins, its mm reference and lock, its page array and
    /// its batch, then warns if the pin accounting was left out of date.
    /// </summary>
    // pages.c:1109
    internal void pfn_reader_destroy(pfn_reader pfns)
    {
        iopt_pages pages = pfns.pages;

        pfn_reader_release_pins(pfns);
        pfn_reader_user_destroy(pfns.user, pfns.pages);
        batch_destroy(pfns.batch, Ptr<byte>.NULL);
        WARN_ON(pages.last_npinned != pages.npinned);
    }

    /// <summary>
    /// Initialises a reader over [start_index, last_index] and reads the first batch; on a read
    /// failure the reader is destroyed before returning the error (an init failure returns
    /// without destroying, as in C).
    /// </summary>
    // pages.c:1119
    internal int pfn_reader_first(pfn_reader pfns, iopt_pages pages, ulong start_index, ulong last_index)
    {
        int rc;

        if (IS_ENABLED(CONFIG_IOMMUFD_TEST) &&
            WARN_ON(last_index < start_index))
            return -EINVAL;

        rc = pfn_reader_init(pfns, pages, start_index, last_index);
        if (rc != 0)
            return rc;
        rc = pfn_reader_next(pfns);
        if (rc != 0)
        {
            pfn_reader_destroy(pfns);
            return rc;
        }
        return 0;
    }
}
