// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;
using static Iommufd.Model.Kernel.KernelApi;
using static Iommufd.Tests.Port.ScenarioFixture;
using Iommufd.Model.Selftest;

namespace Iommufd.Tests.Port;

/// <summary>
/// Areas that start 2048 bytes into a page (page_offset != 0), which only the mock domain's 2 KiB
/// IO pages allow: iopt_area_index_to_iova / _last (pages.c:197, 209), batch_to_domain (474),
/// batch_from_domain (375) and raw_pages_from_domain (402), each of which applies page_offset to
/// the area's first index only.
/// </summary>
public sealed class SubPageTests
{
    private const ulong Half = 2048;
    private const ulong Iova = 0x100000 + Half;

    // index_to_iova: the first index maps to the area's IOVA itself, later ones to
    // iova - page_offset + n * PAGE_SIZE; index_to_iova_last: the area's last index maps to
    // last_iova, others to the end of their page. An index outside the area WARNs (test config).
    [Fact]
    public void Index_to_iova_applies_the_page_offset_to_the_first_index_only()
    {
        var f = new ScenarioFixture();
        f.MapRun(U, 3);
        var pages = f.NewPages(U, 3 * P);
        var area = f.NewArea(pages, Iova, Half, 2 * P);   // bytes [2048, 2P + 2047]: pages 0..2

        Assert.Equal(Iova, f.Port.iopt_area_index_to_iova(area, 0));
        Assert.Equal(Iova - Half + P, f.Port.iopt_area_index_to_iova(area, 1));
        Assert.Equal(Iova - Half + 2 * P, f.Port.iopt_area_index_to_iova(area, 2));
        Assert.Equal(Iova - Half + P - 1, f.Port.iopt_area_index_to_iova_last(area, 0));
        Assert.Equal(Iova - Half + 2 * P - 1, f.Port.iopt_area_index_to_iova_last(area, 1));
        Assert.Equal(Iova + 2 * P - 1, f.Port.iopt_area_index_to_iova_last(area, 2));
        f.AssertNoChecks();

        f.Port.iopt_area_index_to_iova(area, 3);
        var warn = Assert.Single(f.Kernel.Checks.Violations);
        Assert.Equal((CheckKind.Warn, "iopt_area_index_to_iova"), (warn.Kind, warn.Function));
        f.Kernel.Checks.Clear();
        f.ReleaseAndAssertClean(pages);
    }

    // batch_to_domain on one contiguous run: page_offset is added to the paddr of the first
    // PFN and subtracted from the first size; the size is clipped to last_iova + 1. An area
    // ending at a page end maps 3P - 2048 bytes (5 IO pages); one ending mid-page maps 2P (4 IO
    // pages). batch_from_domain on unfill subtracts page_offset from iova_to_phys of the first
    // IOVA, so it reads the same PFNs back; one unmap of the whole area.
    [Theory]
    [InlineData(3 * 4096 - 2048)]
    [InlineData(2 * 4096)]
    public void Contiguous_run_at_half_page_is_one_offset_map_call(ulong length)
    {
        var f = new ScenarioFixture();
        ulong pfn0 = f.MapRun(U, 3);
        var pages = f.NewPages(U, 3 * P);
        var area = f.NewArea(pages, Iova, Half, length);
        var d = f.NewMock();

        Assert.Equal(0, f.FillDomain(area, d));
        Assert.Equal([(Iova, length, pfn0 * P + Half)], MapCalls(d));
        var io = d.IoPages;
        Assert.Equal((int)(length / Half), io.Count);
        Assert.Equal(Enumerable.Range(0, io.Count).Select(i => pfn0 * P + Half + (ulong)i * Half), io.Select(p => p.Paddr));
        Assert.Equal(MockTags.Start, io[0].Tags);
        Assert.Equal(MockTags.Last, io[^1].Tags);
        f.AssertPinned(pages, 3);

        f.UnfillLastDomain(area, d);
        Assert.Equal([(Iova, length)], UnmapCalls(d));
        Assert.Equal([0, 0, 0], f.PinCounts(f.Pfns(U, 3)));
        f.ReleaseAndAssertClean(pages, d);
    }

    // Frames that are not contiguous at half-page offset: three runs, the first only 2048 bytes
    // (PAGE_SIZE - page_offset), the others full pages at page-aligned IOVAs. With a mock that
    // tags a one-IO-page map START and LAST, the unfill's single unmap is accepted.
    [Fact]
    public void Scattered_frames_at_half_page_map_a_short_first_run()
    {
        var f = new ScenarioFixture();
        var pfns = f.SparseFrames(3);
        f.MapFrames(U, pfns);
        var pages = f.NewPages(U, 3 * P);
        var area = f.NewArea(pages, Iova, Half, 3 * P - Half);
        var d = f.NewMock(tagSingleEntryStart: true);

        Assert.Equal(0, f.FillDomain(area, d));
        Assert.Equal([(Iova, Half, pfns[0] * P + Half), (Iova + Half, P, pfns[1] * P), (Iova + Half + P, P, pfns[2] * P)],
            MapCalls(d));
        f.UnfillLastDomain(area, d);
        Assert.Equal([(Iova, 3 * P - Half)], UnmapCalls(d));
        Assert.Equal([0, 0, 0], f.PinCounts(pfns));
        f.ReleaseAndAssertClean(pages, d);
    }

    /// <summary>
    /// v6.2 selftest mock: a map of a single 2 KiB IO page is tagged LAST only (the LAST tag
    /// replaces START), so the pages.c unmap that starts on that map (correctly, on a map
    /// boundary) is reported by the mock as starting where no map started. Same scenario as
    /// above with the default (v6.2) mock: exactly one WARN from mock_domain_unmap_pages, and the
    /// pages.c outcome is still right (all unmapped, nothing pinned).
    /// </summary>
    [Fact]
    public void V6_2_mock_warns_on_unmapping_a_single_io_page_map()
    {
        var f = new ScenarioFixture();
        var pfns = f.SparseFrames(3);
        f.MapFrames(U, pfns);
        var pages = f.NewPages(U, 3 * P);
        var area = f.NewArea(pages, Iova, Half, 3 * P - Half);
        var d = f.NewMock();

        Assert.Equal(0, f.FillDomain(area, d));
        Assert.Equal(MockTags.Last, d.IoPages[0].Tags);
        f.UnfillLastDomain(area, d);
        var warn = Assert.Single(f.Kernel.Checks.Violations);
        Assert.Equal((CheckKind.Warn, "mock_domain_unmap_pages"), (warn.Kind, warn.Function));
        f.Kernel.Checks.Clear();
        Assert.True(d.IsEmpty);
        f.ReleaseAndAssertClean(pages, d);
    }

    // raw_pages_from_domain (via iopt_pages_fill_from_domain): an access starting at the area's
    // first index subtracts page_offset from iova_to_phys (the mock returns the 2K page base
    // P0 * 4096 + 2048), an access starting later does not; both give the user's PFNs. The second
    // domain's fill reads the storage domain with batch_from_domain and the same offset rules,
    // producing the same map calls.
    [Fact]
    public void Pfns_read_back_from_a_half_page_area_are_the_user_pfns()
    {
        var f = new ScenarioFixture();
        f.Space.MapNewScattered(U, 4, seed: 9);
        var pfns = f.Pfns(U, 4);
        var pages = f.NewPages(U, 4 * P);
        var area = f.NewArea(pages, Iova, Half, 4 * P - Half);
        var d1 = f.NewMock("d1", tagSingleEntryStart: true);
        var d2 = f.NewMock("d2", tagSingleEntryStart: true);
        Assert.Equal(0, f.FillDomain(area, d1));
        long pinOps = f.Phys.PinOperations;

        Assert.Equal(0, f.AddAccess(area, 0, 3, out var all));
        Assert.Equal(pfns, all);
        Assert.Equal(0, f.AddAccess(area, 2, 3, out var tail));
        Assert.Equal(pfns[2..], tail);
        Assert.Equal(0, f.FillDomain(area, d2));
        Assert.Equal(MapCalls(d1), MapCalls(d2));
        Assert.Equal(pinOps, f.Phys.PinOperations);
        f.AssertNoChecks();

        f.RemoveAccess(area, 2, 3);
        f.RemoveAccess(area, 0, 3);
        f.Port.iopt_area_unmap_domain(area, d2);
        Assert.Equal([(Iova, 4 * P - Half)], UnmapCalls(d2));
        f.UnfillLastDomain(area, d1);
        f.ReleaseAndAssertClean(pages, d1, d2);
    }

    // Two areas sharing page 1: A = bytes [0, P + 2047] (offset 0, ends mid-page 1), B = bytes
    // [P + 2048, 3P - 1] (page_offset 2048, pages 1..2), both in one mock domain. B's fill reads
    // index 1 from A's mapping (batch_from_domain on A, where index 1 is not A's first index, so
    // no offset) and pins only page 2; its one run is mapped at B's IOVA with paddr P1 + 2048.
    // Unfilling B leaves page 1 pinned for A (domains_itree still covers it).
    [Fact]
    public void Areas_sharing_a_page_at_half_page_split_read_it_from_the_other_area()
    {
        var f = new ScenarioFixture();
        ulong pfn0 = f.MapRun(U, 3);
        var pfns = f.Pfns(U, 3);
        var pages = f.NewPages(U, 3 * P);
        var a = f.NewArea(pages, 0x100000, 0, P + Half);
        const ulong bIova = 0x200000 + Half;
        var b = f.NewArea(pages, bIova, P + Half, 2 * P - Half);
        var d = f.NewMock();
        Assert.Equal(0, f.FillDomain(a, d));
        Assert.Equal([(0x100000UL, P + Half, pfn0 * P)], MapCalls(d));
        long pinOps = f.Phys.PinOperations;

        Assert.Equal(0, f.FillDomain(b, d));
        Assert.Equal(pinOps + 1, f.Phys.PinOperations);
        Assert.Equal((bIova, 2 * P - Half, pfns[1] * P + Half), MapCalls(d)[1]);
        Assert.Equal([1, 1, 1], f.PinCounts(pfns));

        f.UnfillLastDomain(b, d);
        Assert.Equal([(bIova, 2 * P - Half)], UnmapCalls(d));
        Assert.Equal([1, 1, 0], f.PinCounts(pfns));
        f.AssertPinned(pages, 2);
        f.UnfillLastDomain(a, d);
        Assert.Equal((0x100000UL, P + Half), UnmapCalls(d)[1]);
        f.ReleaseAndAssertClean(pages, d);
    }
}
