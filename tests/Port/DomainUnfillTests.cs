// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;
using static Iommufd.Model.Kernel.KernelApi;
using static Iommufd.Tests.Port.ScenarioFixture;

namespace Iommufd.Tests.Port;

/// <summary>
/// iopt_area_unpin_domain (pages.c:1190), __iopt_area_unfill_domain (1243),
/// iopt_area_unmap_domain (1312), iopt_area_unfill_domain (1328) and iopt_area_unfill_domains
/// (1478): what is unmapped (exact calls), what is unpinned, and what stays pinned because an
/// access or another area still holds it. Two v6.2 defects of the carry logic are pinned down in
/// the V6_2_ tests; the other scenarios are built so they do not reach them.
/// </summary>
public sealed class DomainUnfillTests
{
    private const ulong Iova = 0x100000;

    /// <summary>npages of user memory at U: a contiguous run, or frames no two of which are contiguous.</summary>
    private static (iopt_pages pages, iopt_area area, ulong[] pfns) Area(ScenarioFixture f, int npages, bool contiguous)
    {
        if (contiguous)
            f.MapRun(U, (ulong)npages);
        else
            f.MapFrames(U, f.SparseFrames(npages));
        var pages = f.NewPages(U, (ulong)npages * P);
        return (pages, f.NewArea(pages, Iova, 0, (ulong)npages * P), f.Pfns(U, npages));
    }

    // Two domains filled by iopt_area_fill_domains (storage = index 0), then an access on [1, 2]
    // (it reads the PFNs from the storage domain, no new pin). iopt_area_unfill_domains:
    // index 1 is not the storage domain, so one iopt_area_unmap_domain_range over the whole
    // area; then the area leaves domains_itree and the storage domain is unfilled. With no two
    // frames contiguous batch_from_domain_continue adds nothing, so: hole [0] -> unmap [0, 0],
    // unpin P0; used [1, 2] -> nothing to skip; hole [3] -> unmap [unmapped_end_index = 1, 3] in
    // one call, unpin P3. The access keeps P1, P2 pinned and in the xarray.
    [Fact]
    public void Unfill_domains_with_several_domains_and_an_access_unmaps_everything_and_keeps_the_access_pins()
    {
        var f = new ScenarioFixture();
        var (pages, area, pfns) = Area(f, 4, contiguous: false);
        var storage = f.NewMock("storage");
        var other = f.NewMock("other");
        f.AddDomainSlot(storage);
        f.AddDomainSlot(other);
        Assert.Equal(0, f.FillDomains(area));
        Assert.Equal(0, f.AddAccess(area, 1, 2, out _));

        f.UnfillDomains(area);
        Assert.Equal([(Iova, 4 * P)], UnmapCalls(other));
        Assert.Equal([(Iova, P), (Iova + P, 3 * P)], UnmapCalls(storage));
        Assert.True(storage.IsEmpty);
        Assert.True(other.IsEmpty);
        Assert.Null(area.storage_domain);
        Assert.Empty(Nodes(pages.domains_itree));
        Assert.Equal([0, 1, 1, 0], f.PinCounts(pfns));
        Assert.Equal(new SortedDictionary<ulong, ulong> { [1] = pfns[1], [2] = pfns[2] }, Xarray(pages));
        f.AssertPinned(pages, 2);

        f.RemoveAccess(area, 1, 2);
        f.RemoveDomainSlot(other);
        f.RemoveDomainSlot(storage);
        f.ReleaseAndAssertClean(pages, storage, other);
    }

    // pages.c:1488: an area without storage_domain (never filled) is left alone: no iommu call.
    [Fact]
    public void Unfill_domains_of_an_area_without_storage_domain_does_nothing()
    {
        var f = new ScenarioFixture();
        var (pages, area, _) = Area(f, 2, contiguous: true);
        var d = f.NewMock();
        f.AddDomainSlot(d);
        f.UnfillDomains(area);
        Assert.Empty(d.Events);
        f.RemoveDomainSlot(d);
        f.ReleaseAndAssertClean(pages, d);
    }

    // Detaching a domain while another remains (iopt_unfill_domain): storage_domain is re-pointed
    // to the remaining domain, then iopt_area_unmap_domain unmaps the whole area with one
    // iommu_unmap and unpins nothing. Detaching the last one then unfills it.
    [Fact]
    public void Detaching_a_non_last_domain_only_unmaps()
    {
        var f = new ScenarioFixture();
        var (pages, area, pfns) = Area(f, 3, contiguous: true);
        var a = f.NewMock("a");
        var b = f.NewPageTable("b");
        f.AddDomainSlot(a);
        f.AddDomainSlot(b);
        Assert.Equal(0, f.FillDomains(area));

        f.RemoveDomainSlot(a);
        f.Locked(pages, () => area.storage_domain = b);
        f.Port.iopt_area_unmap_domain(area, a);
        Assert.Equal([(Iova, 3 * P)], UnmapCalls(a));
        Assert.True(a.IsEmpty);
        Assert.Equal([1, 1, 1], f.PinCounts(pfns));
        f.AssertPinned(pages, 3);

        f.RemoveDomainSlot(b);
        f.UnfillLastDomain(area, b);
        Assert.Equal([(Iova, 3 * P)], UnmapCalls(b));
        f.ReleaseAndAssertClean(pages, a, b);
    }

    // Last domain detached while an access holds the head [0, 1] of a contiguous run: the used
    // span comes first (batch_skip_carry on an empty batch returns), then the hole [2, 3]:
    // unmapped_end_index = 0, start = 2, batch_from_domain reads P2, P3, batch_last_index = 3 =
    // last_index = real_last_index (no read-ahead), and the unmap runs from unmapped_end_index
    // 0 to 3: the whole area in one call (never splitting the one map call). Unpins P2, P3 only.
    [Fact]
    public void Last_domain_detach_with_an_access_at_the_head_unmaps_all_and_unpins_the_rest()
    {
        var f = new ScenarioFixture();
        var (pages, area, pfns) = Area(f, 4, contiguous: true);
        Assert.Equal(0, f.AddAccess(area, 0, 1, out _));
        var d = f.NewMock();
        Assert.Equal(0, f.FillDomain(area, d));
        Assert.Equal([(Iova, 4 * P, pfns[0] * P)], MapCalls(d));

        f.UnfillLastDomain(area, d);
        Assert.Equal([(Iova, 4 * P)], UnmapCalls(d));
        Assert.Equal([1, 1, 0, 0], f.PinCounts(pfns));
        f.AssertPinned(pages, 2);
        f.RemoveAccess(area, 0, 1);
        f.ReleaseAndAssertClean(pages, d);
    }

    // Access at the tail [2, 3] of a contiguous run: hole [0, 1] ends before real_last_index, so
    // batch_from_domain_continue reads ahead through P2, P3 (contiguous) and the whole area is
    // unmapped in one call; batch_unpin drops P0, P1 and batch_clear_carry keeps 2 PFNs. The
    // carry's PFN is computed wrongly in v6.2 (npfns[0] written first), but the following used
    // span [2, 3] skips exactly those 2 PFNs, so nothing reads the wrong value: the outcome is
    // right. Also checks that every unpin happens after its IOVA left the domain.
    [Fact]
    public void Last_domain_detach_with_an_access_at_the_tail_skips_the_whole_carry()
    {
        var f = new ScenarioFixture();
        var (pages, area, pfns) = Area(f, 4, contiguous: true);
        var d = f.NewMock();
        Assert.Equal(0, f.FillDomain(area, d));
        Assert.Equal(0, f.AddAccess(area, 2, 3, out var accessPfns));
        Assert.Equal(pfns[2..], accessPfns);
        var stillMapped = new List<ulong>();
        f.Phys.Unpinned += e =>
        {
            if (d.Mappings.Any(m => m.Paddr / P == e.Pfn))
                stillMapped.Add(e.Pfn);
        };

        f.UnfillLastDomain(area, d);
        Assert.Equal([(Iova, 4 * P)], UnmapCalls(d));
        Assert.Empty(stillMapped);
        Assert.Equal([0, 0, 1, 1], f.PinCounts(pfns));
        f.AssertPinned(pages, 2);
        f.AssertNoChecks();
        f.RemoveAccess(area, 2, 3);
        f.ReleaseAndAssertClean(pages, d);
    }

    // Access in the middle [1] of frames that are not contiguous: no read-ahead ever adds a PFN,
    // so no carry exists. Hole [0]: unmap [0, 0], unpin P0. Used [1]: skip. Hole [2, 3]:
    // unmapped_end_index = 1, start = 2, two PFNs read, unmap [1, 3] in one call, unpin P2, P3.
    [Fact]
    public void Last_domain_detach_with_an_access_in_the_middle_of_scattered_frames_is_exact()
    {
        var f = new ScenarioFixture();
        var (pages, area, pfns) = Area(f, 4, contiguous: false);
        var d = f.NewMock();
        Assert.Equal(0, f.FillDomain(area, d));
        Assert.Equal(0, f.AddAccess(area, 1, 1, out _));

        f.UnfillLastDomain(area, d);
        Assert.Equal([(Iova, P), (Iova + P, 3 * P)], UnmapCalls(d));
        Assert.Equal([0, 1, 0, 0], f.PinCounts(pfns));
        f.AssertPinned(pages, 1);
        f.RemoveAccess(area, 1, 1);
        f.ReleaseAndAssertClean(pages, d);
    }

    // Two areas of one iopt_pages, A on indexes [0, 3] and B on [2, 5], both in the same domain
    // at different IOVAs. Unfilling B (taken out of domains_itree first): A still covers [2, 3]
    // (used span first, nothing to skip), hole [4, 5]: unmapped_end_index = 2, start = 4, unmap
    // from index 2 to 5 = all of B in one call, unpin P4, P5 only.
    [Fact]
    public void Unfill_of_one_area_keeps_the_pages_another_area_still_maps()
    {
        var f = new ScenarioFixture();
        f.MapRun(U, 6);
        var pfns = f.Pfns(U, 6);
        var pages = f.NewPages(U, 6 * P);
        var a = f.NewArea(pages, Iova, 0, 4 * P);
        var b = f.NewArea(pages, 0x200000, 2 * P, 4 * P);
        var d = f.NewMock();
        Assert.Equal(0, f.FillDomain(a, d));
        long pinOps = f.Phys.PinOperations;
        Assert.Equal(0, f.FillDomain(b, d));
        // B's indexes 2, 3 come from A's mapping; only 4, 5 are pinned from the mm.
        Assert.Equal(pinOps + 2, f.Phys.PinOperations);
        Assert.Equal((0x200000UL, 4 * P, pfns[2] * P), MapCalls(d)[1]);
        Assert.Equal([1, 1, 1, 1, 1, 1], f.PinCounts(pfns));

        f.UnfillLastDomain(b, d);
        Assert.Equal([(0x200000UL, 4 * P)], UnmapCalls(d));
        Assert.Equal([1, 1, 1, 1, 0, 0], f.PinCounts(pfns));
        f.AssertPinned(pages, 4);
        f.UnfillLastDomain(a, d);
        f.ReleaseAndAssertClean(pages, d);
    }

    /// <summary>
    /// v6.2 defect (batch_clear_carry, pages.c:287): an access on [1] in the middle of a
    /// contiguous 4-page run, last domain detached. Hole [0]: the read-ahead takes P1..P3 into
    /// the one batch run, all 4 pages are unmapped, P0 unpinned, and batch_clear_carry(3) writes
    /// npfns[0] = 3 before computing pfns[0] = pfns[end-1] + (npfns[end-1] - 3) from it, so the
    /// carry starts at P0 instead of P1 (and end becomes 0). The used span [1] skips one PFN
    /// (carry now "P1, P2"), and the last hole [2, 3] unpins the carry: P1 and P2. Correct would
    /// be P2 and P3. Result: the access's page P1 loses its pin while still in use and P3 stays
    /// pinned for ever. No WARN fires. Removing the access later unpins P1 once more, which the
    /// physical-memory fake reports as an unpin of an unpinned page.
    /// </summary>
    [Fact]
    public void V6_2_carry_restarts_at_the_run_start_and_unpins_the_access_page()
    {
        var f = new ScenarioFixture();
        var (pages, area, pfns) = Area(f, 4, contiguous: true);
        var d = f.NewMock();
        Assert.Equal(0, f.FillDomain(area, d));
        Assert.Equal(0, f.AddAccess(area, 1, 1, out _));

        f.UnfillLastDomain(area, d);
        Assert.Equal([(Iova, 4 * P)], UnmapCalls(d));
        // Correct: [0, 1, 0, 0].
        Assert.Equal([0, 0, 0, 1], f.PinCounts(pfns));
        // npinned counts what was asked to unpin (3), so it still says 1 page is pinned.
        f.AssertPinned(pages, 1);
        f.AssertNoChecks();

        f.RemoveAccess(area, 1, 1);
        var misuse = Assert.Single(f.Kernel.Checks.Violations);
        Assert.Equal(CheckKind.FakeMisuse, misuse.Kind);
        Assert.Equal([0, 0, 0, 1], f.PinCounts(pfns));
        Assert.Equal(0UL, pages.npinned);
    }

    /// <summary>
    /// v6.2 defects together (batch_clear_carry sets end = 0 although the carry sits in slot 0,
    /// and iopt_area_unpin_domain computes batch_last_index from start instead of start_index):
    /// six pages, P0..P3 contiguous and P4, P5 contiguous but not following P3, an access on
    /// [1], last domain detached. Hole [0] reads ahead to P3 and leaves a carry of 3 in slot 0
    /// with end = 0; the used span [1] skips one, leaving a carry of 2 for indexes 2, 3. Hole
    /// [2, 5]: unmapped_end_index = 4, so batch_from_domain(4..5) starts a NEW entry in slot 0
    /// (overwriting the carry) while total_pfns counts carry + 2 = 4, and batch_last_index =
    /// 4 + 4 - 1 = 7, past last_index. batch_unpin is then asked for 7 - 2 + 1 = 6 PFNs from a
    /// batch holding one entry of 2: it unpins P4, P5 and then walks npfns[] slots that were
    /// never written. The C reads uninitialised stack there (the u64 backup is not zeroed);
    /// the model's zeroed backup gives npfns == 0 entries, so the walk never ends and runs off
    /// the 256-byte on-stack block: a KernelMemoryFault (the model's KASAN).
    /// </summary>
    [Fact]
    public void V6_2_carry_overwritten_by_next_read_makes_batch_unpin_run_off_the_backup()
    {
        var f = new ScenarioFixture();
        ulong r = f.Phys.AllocRun(7);
        f.MapFrames(U, [r, r + 1, r + 2, r + 3, r + 5, r + 6]);
        var pages = f.NewPages(U, 6 * P);
        var area = f.NewArea(pages, Iova, 0, 6 * P);
        var d = f.NewMock();
        Assert.Equal(0, f.FillDomain(area, d));
        Assert.Equal([(Iova, 4 * P, r * P), (Iova + 4 * P, 2 * P, (r + 5) * P)], MapCalls(d));
        Assert.Equal(0, f.AddAccess(area, 1, 1, out _));

        Assert.Throws<KernelMemoryFault>(() => f.UnfillLastDomain(area, d));
        // Both unmaps happened before the fault, each on a map boundary.
        Assert.Equal([(Iova, 4 * P), (Iova + 4 * P, 2 * P)], UnmapCalls(d));
        Assert.True(d.IsEmpty);
    }
}
