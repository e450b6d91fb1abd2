// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Model.Port;

/// <summary>
/// The named patches that can be switched on in the port. Each one is a proposed fix for a
/// finding in the seed (docs/findings/); with none switched on the port is pages.c as released.
/// </summary>
public static class ModelPatches
{
    public const string BatchCarryOrder = "batch-carry-order";
    public const string BatchCarryEnd = "batch-carry-end";
    public const string UnpinDomainLastIndex = "unpin-domain-last-index";
    public const string BatchSkipCarryEmpty = "batch-skip-carry-empty";
    public const string UnpinDomainNoReread = "unpin-domain-no-reread";
    public const string AllocPagesNpagesOverflow = "alloc-pages-npages-overflow";
    public const string FillDomainsUnmapBeforeUnpin = "fill-domains-unmap-before-unpin";
    public const string MmUnaccountAfterExit = "mm-unaccount-after-exit";
    /// <summary>A fix in the callers (io_pagetable.c), not in the seed; needed to explore past it.</summary>
    public const string SplitDomainsItree = "callers-split-domains-itree";
    /// <summary>A fix in the callers (io_pagetable.c), not in the seed.</summary>
    public const string AllocIovaAlignOverflow = "callers-alloc-iova-align-overflow";
    /// <summary>A fix in the selftest's mock domain (selftest.c), not in the seed.</summary>
    public const string MockSinglePageTags = "selftest-mock-single-page-tags";

    /// <summary>Name -> one-line description.</summary>
    public static IReadOnlyDictionary<string, string> All { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [BatchCarryOrder] = "batch_clear_carry: compute pfns[0] from the last run before overwriting npfns[0] (finding 0001)",
        [BatchCarryEnd] = "batch_clear_carry: leave the carried run in the batch (end = 1, not 0) (finding 0001)",
        [UnpinDomainLastIndex] = "iopt_area_unpin_domain: the batch starts at start_index, so count batch_last_index from it (finding 0001)",
        [BatchSkipCarryEmpty] = "batch_skip_carry: a carry skipped to nothing empties the batch (end = 0), so no empty run is left for batch-carry-end (finding 0001)",
        [UnpinDomainNoReread] = "iopt_area_unpin_domain: read ahead only when this pass read from the domain, never re-read IOVAs an earlier read-ahead unmapped (finding 0005)",
        [AllocPagesNpagesOverflow] = "iopt_alloc_pages: bound length so that length + offset_in_page(uptr) cannot wrap DIV_ROUND_UP (finding 0002)",
        [FillDomainsUnmapBeforeUnpin] = "iopt_area_fill_domains: on failure unmap the current batch from the domains that got it before releasing its pins (finding 0003)",
        [MmUnaccountAfterExit] = "update_mm_locked_vm: un-account a decrease even after the mm's users are gone (it is still mmgrab'ed) (finding 0004)",
        [AllocIovaAlignOverflow] = "io_pagetable.c __alloc_iova_check_used/_hole (callers, not the seed): a start whose ALIGN would wrap to 0 does not fit",
        [MockSinglePageTags] = "selftest.c mock_domain_map_pages (the test driver, not the seed): a map of one IO page is tagged START as well as LAST",
        [SplitDomainsItree] = "io_pagetable.c iopt_area_split (callers, not the seed): move the area's domains_itree node to the two pieces",
    };

    /// <summary>The patches that together fix finding 0001 (carry handling when unfilling a domain).</summary>
    public static IReadOnlyList<string> Finding0001 { get; } = [BatchCarryOrder, BatchCarryEnd, UnpinDomainLastIndex, BatchSkipCarryEmpty];

    /// <summary>Every patch: the model with all known findings fixed.</summary>
    public static IReadOnlyList<string> AllFindings => [.. All.Keys];

    public static bool IsKnown(string name) => All.ContainsKey(name);
}

