// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Model.Patches;

/// <summary>Where a named patch changes the model: the code under test, or what surrounds it.</summary>
public enum PatchKind
{
    /// <summary>pages.c itself: a proposed fix for a finding in the seed (docs/findings/).</summary>
    Kernel,
    /// <summary>The callers of pages.c (io_pagetable.c, device.c), not the seed.</summary>
    Callers,
    /// <summary>The selftest driver (selftest.c: the mock domain and access), not the seed.</summary>
    TestDriver,
}

/// <summary>One named patch: its name (as on command lines and in reproducers), what it changes and where.</summary>
public sealed record ModelPatch(string Name, PatchKind Kind, string Description);

/// <summary>
/// The named patches that can be switched on in the model: the port, the callers and the fakes
/// name them from here. With none switched on the model is v6.2 as released; each patch is an
/// alternative next to the released code, taken only when the patch is on.
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
    public const string SplitDomainsItree = "callers-split-domains-itree";
    public const string AllocIovaAlignOverflow = "callers-alloc-iova-align-overflow";
    public const string MockSinglePageTags = "selftest-mock-single-page-tags";

    /// <summary>Every patch, in the order <c>patches</c> lists them.</summary>
    public static IReadOnlyList<ModelPatch> Catalog { get; } =
    [
        new(BatchCarryOrder, PatchKind.Kernel, "batch_clear_carry: compute pfns[0] from the last run before overwriting npfns[0] (finding 0001)"),
        new(BatchCarryEnd, PatchKind.Kernel, "batch_clear_carry: leave the carried run in the batch (end = 1, not 0) (finding 0001)"),
        new(UnpinDomainLastIndex, PatchKind.Kernel, "iopt_area_unpin_domain: the batch starts at start_index, so count batch_last_index from it (finding 0001)"),
        new(BatchSkipCarryEmpty, PatchKind.Kernel, "batch_skip_carry: a carry skipped to nothing empties the batch (end = 0), so no empty run is left for batch-carry-end (finding 0001)"),
        new(UnpinDomainNoReread, PatchKind.Kernel, "iopt_area_unpin_domain: read ahead only when this pass read from the domain, never re-read IOVAs an earlier read-ahead unmapped (finding 0005)"),
        new(AllocPagesNpagesOverflow, PatchKind.Kernel, "iopt_alloc_pages: bound length so that length + offset_in_page(uptr) cannot wrap DIV_ROUND_UP (finding 0002)"),
        new(FillDomainsUnmapBeforeUnpin, PatchKind.Kernel, "iopt_area_fill_domains: on failure unmap the current batch from the domains that got it before releasing its pins (finding 0003)"),
        new(MmUnaccountAfterExit, PatchKind.Kernel, "update_mm_locked_vm: un-account a decrease even after the mm's users are gone (it is still mmgrab'ed) (finding 0004)"),
        new(AllocIovaAlignOverflow, PatchKind.Callers, "io_pagetable.c __alloc_iova_check_used/_hole (callers, not the seed): a start whose ALIGN would wrap to 0 does not fit"),
        new(MockSinglePageTags, PatchKind.TestDriver, "selftest.c mock_domain_map_pages (the test driver, not the seed): a map of one IO page is tagged START as well as LAST"),
        new(SplitDomainsItree, PatchKind.Callers, "io_pagetable.c iopt_area_split (callers, not the seed): move the area's domains_itree node to the two pieces"),
    ];

    private static readonly Dictionary<string, ModelPatch> ByName = Catalog.ToDictionary(p => p.Name, StringComparer.Ordinal);

    /// <summary>Name -> one-line description.</summary>
    public static IReadOnlyDictionary<string, string> All { get; } =
        Catalog.ToDictionary(p => p.Name, p => p.Description, StringComparer.Ordinal);

    /// <summary>The patches that together fix finding 0001 (carry handling when unfilling a domain).</summary>
    public static IReadOnlyList<string> Finding0001 { get; } = [BatchCarryOrder, BatchCarryEnd, UnpinDomainLastIndex, BatchSkipCarryEmpty];

    /// <summary>Every patch: the model with all known findings fixed.</summary>
    public static IReadOnlyList<string> AllFindings => [.. Catalog.Select(p => p.Name)];

    public static bool IsKnown(string name) => ByName.ContainsKey(name);

    /// <summary>The patch named <paramref name="name"/>, or null.</summary>
    public static ModelPatch? Find(string name) => ByName.GetValueOrDefault(name);
}
