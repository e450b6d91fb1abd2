// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;
using static Iommufd.Model.Kernel.KernelApi;
using static Iommufd.Tests.Port.ScenarioFixture;
using Iommufd.Model.Selftest;

namespace Iommufd.Tests.Port;

/// <summary>
/// iopt_area_fill_domain (pages.c:1343) and iopt_area_fill_domains (pages.c:1394) on user memory
/// of every shape, with the exact iommu_map calls batch_to_domain (pages.c:474) derives from the
/// PFN runs, and their unwinds under every failure the fakes can inject.
/// </summary>
public sealed class DomainFillTests
{
    private const ulong Iova = 0x100000;

    /// <summary>Maximal PFN-contiguous runs of a PFN list: (first index, first PFN, length).</summary>
    internal static List<(ulong Index, ulong Pfn, ulong Count)> Runs(IReadOnlyList<ulong> pfns)
    {
        var runs = new List<(ulong, ulong, ulong)>();
        for (int i = 0; i < pfns.Count;)
        {
            int j = i + 1;
            while (j < pfns.Count && pfns[j] == pfns[j - 1] + 1)
                j++;
            runs.Add(((ulong)i, pfns[i], (ulong)(j - i)));
            i = j;
        }
        return runs;
    }

    /// <summary>batch_to_domain with large pages: one iommu_map per batch run, IOVA advancing by run length.</summary>
    private static (ulong, ulong, ulong)[] ExpectedMapCalls(ulong iova, IReadOnlyList<ulong> pfns) =>
        Runs(pfns).Select(r => (iova + r.Index * P, r.Count * P, r.Pfn * P)).ToArray();

    private static iommu_domain NewDomain(ScenarioFixture f, string kind) =>
        kind == "mock" ? f.NewMock() : f.NewPageTable();

    // pages.c:1343-1392 success path: pfn_reader_first pins the whole hole from the mm
    // (pfn_reader_fill_span, hole branch), one batch holds the one run, batch_to_domain issues a
    // single iommu_map of the whole area, pfn_reader_update_pinned accounts 4 pages.
    // Unfill (pages.c:1243, 1190): one hole span, batch_from_domain reads the 4 PFNs back as one
    // run, batch_last_index == last_index == real_last_index so no read-ahead, one
    // iopt_area_unmap_domain_range over [0, 3], then batch_unpin of 4 and update_unpinned.
    [Theory]
    [InlineData("mock")]
    [InlineData("pagetable")]
    public void Contiguous_run_is_one_map_call_and_one_unmap_call(string kind)
    {
        var f = new ScenarioFixture();
        ulong pfn0 = f.MapRun(U, 4);
        var pages = f.NewPages(U, 4 * P);
        var area = f.NewArea(pages, Iova, 0, 4 * P);
        var d = NewDomain(f, kind);

        Assert.Equal(0, f.FillDomain(area, d));
        Assert.Equal([(Iova, 4 * P, pfn0 * P)], MapCalls(d));
        Assert.Equal(4 * P, d.MappedBytes);
        for (ulong i = 0; i < 4; i++)
            Assert.Equal(pfn0 + i, DomainPfn(d, Iova + i * P));
        Assert.Equal([1, 1, 1, 1], f.PinCounts(f.Pfns(U, 4)));
        f.AssertPinned(pages, 4);
        Assert.Empty(Xarray(pages));

        f.UnfillLastDomain(area, d);
        Assert.Equal([(Iova, 4 * P)], UnmapCalls(d));
        Assert.True(d.IsEmpty);
        f.AssertPinned(pages, 0);
        f.ReleaseAndAssertClean(pages, d);
    }

    // batch_to_domain (pages.c:474) with disable_large_pages == false hands the whole 2 MiB run
    // to iommu_map, so the page-table domain can use one 2M leaf; with disable_large_pages ==
    // true batch_iommu_map_small (pages.c:447) issues one PAGE_SIZE iommu_map per page (512
    // calls, 512 4K leaves). Unfill unmaps by batch run either way: one iommu_unmap of 2 MiB.
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Huge_run_maps_one_large_leaf_unless_large_pages_are_disabled(bool disableLargePages)
    {
        var f = new ScenarioFixture();
        const ulong n = PhysMem.HugeRunPages;
        const ulong hugeIova = 0x4000_0000;
        ulong pfn0 = f.MapRun(U, n, alignment: n);
        var pages = f.NewPages(U, n * P);
        var area = f.NewArea(pages, hugeIova, 0, n * P);
        f.Iopt.disable_large_pages = disableLargePages;
        var d = f.NewPageTable();

        Assert.Equal(0, f.FillDomain(area, d));
        var maps = MapCalls(d);
        if (disableLargePages)
        {
            Assert.Equal(Enumerable.Range(0, (int)n).Select(i => (hugeIova + (ulong)i * P, P, (pfn0 + (ulong)i) * P)), maps);
            Assert.Equal((int)n, d.Mappings.Count);
            Assert.All(d.Mappings, m => Assert.Equal(PageTableDomain.SZ_4K, m.Size));
        }
        else
        {
            Assert.Equal([(hugeIova, n * P, pfn0 * P)], maps);
            var leaf = Assert.Single(d.Mappings);
            Assert.Equal(PageTableDomain.SZ_2M, leaf.Size);
        }
        f.AssertPinned(pages, n);
        Assert.Equal(n, (ulong)f.Phys.TotalPins);

        f.UnfillLastDomain(area, d);
        Assert.Equal([(hugeIova, n * P)], UnmapCalls(d));
        Assert.True(d.IsEmpty);
        f.ReleaseAndAssertClean(pages, d);
    }

    // Scattered frames: batch_add_pfn (pages.c:350) starts a new entry at every discontinuity, so
    // batch_to_domain issues one iommu_map per maximal PFN run, each at the IOVA of its first
    // index. The runs are computed from the frames the seed produced, not fixed in the test.
    // Unfill reads the same runs back with batch_from_domain and, the batch being large enough,
    // unmaps the whole area with one call (unmaps may span several maps as long as they start
    // and end on map boundaries; the mock WARNs otherwise).
    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(7UL)]
    public void Scattered_frames_map_one_call_per_pfn_run(ulong seed)
    {
        var f = new ScenarioFixture();
        f.Space.MapNewScattered(U, 8, seed);
        var pfns = f.Pfns(U, 8);
        var pages = f.NewPages(U, 8 * P);
        var area = f.NewArea(pages, Iova, 0, 8 * P);
        var d = f.NewMock();

        Assert.Equal(0, f.FillDomain(area, d));
        Assert.Equal(ExpectedMapCalls(Iova, pfns), MapCalls(d));
        for (int i = 0; i < 8; i++)
            Assert.Equal(pfns[i], DomainPfn(d, Iova + (ulong)i * P));
        Assert.All(f.PinCounts(pfns), c => Assert.Equal(1, c));

        f.UnfillLastDomain(area, d);
        Assert.Equal([(Iova, 8 * P)], UnmapCalls(d));
        f.ReleaseAndAssertClean(pages, d);
    }

    // One frame at two user addresses: GUP pins it once per address, batch_add_pfn sees X then X
    // (not X + 1) and keeps two entries, so there are two iommu_map calls of one page each with
    // the same paddr. Unfill reads back X, X (two entries), unmaps [0, 1] in one call and
    // batch_unpin drops both pins.
    [Fact]
    public void Alias_of_one_frame_maps_it_at_both_iovas_and_pins_it_twice()
    {
        var f = new ScenarioFixture();
        ulong x = f.MapRun(U, 1);
        f.Space.MapAlias(U + P, U, 1);
        var pages = f.NewPages(U, 2 * P);
        var area = f.NewArea(pages, Iova, 0, 2 * P);
        var d = f.NewMock();

        Assert.Equal(0, f.FillDomain(area, d));
        Assert.Equal([(Iova, P, x * P), (Iova + P, P, x * P)], MapCalls(d));
        Assert.Equal(2, f.Phys.PinCount(x));
        f.AssertPinned(pages, 2);

        f.UnfillLastDomain(area, d);
        Assert.Equal([(Iova, 2 * P)], UnmapCalls(d));
        Assert.Equal(0, f.Phys.PinCount(x));
        f.ReleaseAndAssertClean(pages, d);
    }

    // disable_large_pages on the mock: batch_iommu_map_small maps every page separately even
    // inside one contiguous run; the unfill still unmaps per batch run (one call over 4 pages),
    // which the mock accepts because the call starts on a map start and ends on a map end.
    [Fact]
    public void Disabled_large_pages_map_page_by_page_and_unmap_by_run()
    {
        var f = new ScenarioFixture();
        ulong pfn0 = f.MapRun(U, 4);
        var pages = f.NewPages(U, 4 * P);
        var area = f.NewArea(pages, Iova, 0, 4 * P);
        f.Iopt.disable_large_pages = true;
        var d = f.NewMock();

        Assert.Equal(0, f.FillDomain(area, d));
        Assert.Equal(Enumerable.Range(0, 4).Select(i => (Iova + (ulong)i * P, P, (pfn0 + (ulong)i) * P)), MapCalls(d));
        // Each 4K map call is two 2K IO pages, START then LAST.
        Assert.Equal(Enumerable.Range(0, 8).Select(i => i % 2 == 0 ? MockTags.Start : MockTags.Last),
            ((MockDomain)d).IoPages.Select(p => p.Tags));
        f.UnfillLastDomain(area, d);
        Assert.Equal([(Iova, 4 * P)], UnmapCalls(d));
        f.ReleaseAndAssertClean(pages, d);
    }

    // A second domain attached to an area that already has a storage domain: pfn_reader_fill_span
    // (is_used == 2) reads the PFNs from the storage domain with batch_from_domain, so no GUP
    // pin is taken and npinned does not change; the new domain gets the same map calls.
    [Fact]
    public void Second_domain_is_filled_from_the_storage_domain_without_new_pins()
    {
        var f = new ScenarioFixture();
        f.Space.MapNewScattered(U, 6, seed: 3);
        var pfns = f.Pfns(U, 6);
        var pages = f.NewPages(U, 6 * P);
        var area = f.NewArea(pages, Iova, 0, 6 * P);
        var first = f.NewMock("first");
        var second = f.NewPageTable("second");
        Assert.Equal(0, f.FillDomain(area, first));
        long pinOps = f.Phys.PinOperations;

        Assert.Equal(0, f.FillDomain(area, second));
        Assert.Equal(pinOps, f.Phys.PinOperations);
        Assert.Same(first, area.storage_domain);
        Assert.Equal(ExpectedMapCalls(Iova, pfns), MapCalls(second));
        Assert.All(f.PinCounts(pfns), c => Assert.Equal(1, c));
        f.AssertPinned(pages, 6);

        // Detaching the non-storage domain only unmaps (pages.c:1312).
        f.Port.iopt_area_unmap_domain(area, second);
        Assert.Equal([(Iova, 6 * P)], UnmapCalls(second));
        Assert.All(f.PinCounts(pfns), c => Assert.Equal(1, c));
        f.UnfillLastDomain(area, first);
        f.ReleaseAndAssertClean(pages, first, second);
    }

    /// <summary>
    /// Three non-contiguous frames and TEMP_MEMORY_LIMIT = 16: batch_init gets 16 bytes, one
    /// 12-byte entry, so every batch is one page; the user reader gets two 8-byte slots, so GUP
    /// pins two pages, then one.
    /// </summary>
    private static (iopt_pages pages, iopt_area area, ulong[] pfns) ThreeBatches(ScenarioFixture f)
    {
        f.Kernel.iommufd_test_memory_limit = 16;
        var pfns = f.SparseFrames(3);
        f.MapFrames(U, pfns);
        var pages = f.NewPages(U, 3 * P);
        return (pages, f.NewArea(pages, Iova, 0, 3 * P), pfns);
    }

    // Failing the h-th iommu_map (batch h-1) in iopt_area_fill_domain: batch_to_domain fails
    // before mapping anything of that batch, out_unmap runs pfn_reader_release_pins (the pages
    // GUP pinned but not yet in the batch, then the current batch through pfn_reader_unpin) and
    // iopt_area_unfill_partial_domain(done_end_index = batch_start_index = h-1), which unmaps
    // [0, h-2] in one call (the on-stack backup batch holds all h-1 runs) and unpins them.
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Failing_the_nth_mock_map_unwinds_the_earlier_batches(int h)
    {
        var f = new ScenarioFixture(new ExplicitFaults([(FaultSites.IommuMapMock, h)]));
        var (pages, area, pfns) = ThreeBatches(f);
        var d = f.NewMock();

        Assert.Equal(-ENOENT, f.FillDomain(area, d));
        Assert.Equal(ExpectedMapCalls(Iova, pfns).Take(h), MapCalls(d));
        Assert.Equal(h == 1 ? [] : new[] { (Iova, (ulong)(h - 1) * P) }, UnmapCalls(d));
        Assert.True(d.IsEmpty);
        Assert.Null(area.storage_domain);
        Assert.Empty(Nodes(pages.domains_itree));
        Assert.Equal([0, 0, 0], f.PinCounts(pfns));
        f.AssertPinned(pages, 0);
        f.ReleaseAndAssertClean(pages, d);
    }

    // The page-table domain's failures: a table allocation fails (-ENOMEM) on the first map; a
    // leaf already present in the range (-EEXIST, the fake WARNs, the core unwinds what the call
    // installed before the clash); a range past the aperture (-EINVAL, nothing mapped). In every
    // case batch_to_domain's own err_unmap has nothing to undo (start_iova == iova for the one
    // run) and fill_domain releases the batch's pins; the domain keeps only what it had before.
    [Theory]
    [InlineData(-12)]
    [InlineData(-17)]
    [InlineData(-22)]
    public void Page_table_map_failures_leave_the_domain_as_it_was(int errno)
    {
        var plan = errno == -12 ? new ExplicitFaults([(FaultSites.IommuMapPageTable, 1)]) : null;
        var f = new ScenarioFixture(plan);
        ulong pfn0 = f.MapRun(U, 4);
        var pages = f.NewPages(U, 4 * P);
        ulong iova = errno == -22 ? PageTableDomain.APERTURE_LAST + 1 - 2 * P : Iova;
        var area = f.NewArea(pages, iova, 0, 4 * P);
        var d = f.NewPageTable();
        ulong spare = f.Phys.AllocFrame();
        if (errno == -17)
            Assert.Equal(0, f.IommuMap(d, iova + 2 * P, spare * P, P));
        var before = d.Mappings.ToArray();

        Assert.Equal(errno, f.FillDomain(area, d));
        Assert.Equal([(iova, 4 * P, pfn0 * P)], MapCalls(d).Skip(errno == -17 ? 1 : 0));
        Assert.Equal(before, d.Mappings);
        Assert.Equal([0, 0, 0, 0], f.PinCounts(f.Pfns(U, 4)));
        f.AssertPinned(pages, 0);
        if (errno == -17)
        {
            var warn = Assert.Single(f.Kernel.Checks.Violations);
            Assert.Equal(("pagetable_map_pages", CheckKind.Warn), (warn.Function, warn.Kind));
            f.Kernel.Checks.Clear();
            Assert.Equal(P, f.IommuUnmap(d, iova + 2 * P, P));
        }
        f.ReleaseAndAssertClean(pages, d);
    }

    /// <summary>
    /// The return code each fault site of the fill paths produces, derived from the C and the
    /// fakes: temp_kmalloc's should_fail (no backup) returns NULL so batch_init / the upages
    /// allocation give -ENOMEM; a failed capped kmalloc falls back to a PAGE_SIZE allocation
    /// (success); pfn_reader_user_pin's should_fail is -EFAULT; the GUP fake fails a call with
    /// -ENOMEM and a short pin is not an error; pfn_reader_user_update_pinned's should_fail is
    /// -ENOMEM; the mock's map fault is -ENOENT and the page table's table allocation -ENOMEM.
    /// </summary>
    internal static readonly Dictionary<string, int> FillSiteResult = new()
    {
        [FaultSites.ShouldFail("temp_kmalloc")] = -ENOMEM,
        [FaultSites.Alloc("temp_kmalloc.limit")] = 0,
        [FaultSites.ShouldFail("pfn_reader_user_pin")] = -EFAULT,
        [FaultSites.GupFail] = -ENOMEM,
        [FaultSites.GupShort] = 0,
        [FaultSites.ShouldFail("pfn_reader_user_update_pinned")] = -ENOMEM,
        [FaultSites.IommuMapMock] = -ENOENT,
        [FaultSites.IommuMapPageTable] = -ENOMEM,
    };

    private static int ExpectedRc(string site) =>
        FillSiteResult.TryGetValue(site, out int rc) ? rc : throw new Xunit.Sdk.XunitException($"no derivation for site {site}");

    // Every (site, hit) a clean iopt_area_fill_domain of three one-page batches reaches, failed
    // one at a time: either the fill still succeeds (fallback sites) with every page mapped and
    // pinned once, or it fails with the site's errno and leaves the domain empty, nothing pinned,
    // npinned == last_npinned == 0, no WARN and no leaked allocation (pages.c:1376-1391).
    [Fact]
    public void Fill_domain_under_every_fault_site_either_succeeds_or_changes_nothing()
    {
        void Body(ScenarioFixture f, out iopt_pages pages, out iopt_area area, out ulong[] pfns, out iommu_domain d, out int rc)
        {
            (pages, area, pfns) = ThreeBatches(f);
            d = f.NewMock();
            rc = f.FillDomain(area, d);
        }

        var sites = SitesReached(f =>
        {
            var (_, area, _) = ThreeBatches(f);
            var d = f.NewMock();
            return () => f.FillDomain(area, d);
        });
        Assert.Contains(sites, s => s.Site == FaultSites.IommuMapMock);
        Assert.Contains(sites, s => s.Site == FaultSites.ShouldFail("pfn_reader_user_update_pinned"));
        Assert.Contains(sites, s => s.Site == FaultSites.ShouldFail("temp_kmalloc"));
        Assert.Contains(sites, s => s.Site == FaultSites.ShouldFail("pfn_reader_user_pin"));
        Assert.Contains(sites, s => s.Site == FaultSites.GupFail);
        foreach (var (site, hit) in sites)
        {
            var f = new ScenarioFixture(new ExplicitFaults([(site, hit)]));
            Body(f, out var pages, out var area, out var pfns, out var d, out int rc);
            string what = $"{site}#{hit}";
            Assert.True(ExpectedRc(site) == rc, $"{what}: rc {rc}");
            if (rc == 0)
            {
                Assert.Equal(3 * P, d.MappedBytes);
                Assert.All(f.PinCounts(pfns), c => Assert.Equal(1, c));
                f.AssertPinned(pages, 3);
                f.UnfillLastDomain(area, d);
            }
            else
            {
                Assert.True(d.IsEmpty, what);
                Assert.Equal([0, 0, 0], f.PinCounts(pfns));
                f.AssertPinned(pages, 0);
                Assert.Null(area.storage_domain);
            }
            f.ReleaseAndAssertClean(pages, d);
        }
    }

    // ---- iopt_area_fill_domains ------------------------------------------------------------

    // pages.c:1405: with no domain in iopt->domains the function returns 0 before taking the
    // mutex: nothing pinned, the area not in domains_itree, no storage_domain.
    [Fact]
    public void Fill_domains_without_domains_does_nothing()
    {
        var f = new ScenarioFixture();
        f.MapRun(U, 2);
        var pages = f.NewPages(U, 2 * P);
        var area = f.NewArea(pages, Iova, 0, 2 * P);
        Assert.Equal(0, f.FillDomains(area));
        Assert.Equal(0L, f.Phys.TotalPins);
        Assert.Null(area.storage_domain);
        Assert.Empty(Nodes(pages.domains_itree));
        f.AssertPinned(pages, 0);
        f.ReleaseAndAssertClean(pages);
    }

    // Success path of pages.c:1394: each batch goes to every domain in xa_for_each order, the
    // pages are pinned once (one reader), storage_domain = domain 0 and the area enters
    // domains_itree. Unfill_domains (pages.c:1478) then unmaps the non-storage domains over the
    // whole area and unfills the storage domain: one unmap call per domain, no pin left.
    [Fact]
    public void Fill_domains_maps_every_domain_in_order_and_pins_once()
    {
        var f = new ScenarioFixture();
        f.Space.MapNewScattered(U, 5, seed: 11);
        var pfns = f.Pfns(U, 5);
        var pages = f.NewPages(U, 5 * P);
        var area = f.NewArea(pages, Iova, 0, 5 * P);
        iommu_domain[] ds = [f.NewMock("a"), f.NewPageTable("b"), f.NewMock("c")];
        foreach (var d in ds)
            f.AddDomainSlot(d);

        Assert.Equal(0, f.FillDomains(area));
        foreach (var d in ds)
            Assert.Equal(ExpectedMapCalls(Iova, pfns), MapCalls(d));
        var sequences = ds.SelectMany(d => d.Events.Where(e => e.Kind == IommuEventKind.Map).Select(e => (e.Iova, d.Name))).ToArray();
        Assert.Equal(ds.Length * Runs(pfns).Count, sequences.Length);
        Assert.Same(ds[0], area.storage_domain);
        Assert.Same(area.pages_node, Assert.Single(Nodes(pages.domains_itree)));
        Assert.All(f.PinCounts(pfns), c => Assert.Equal(1, c));
        f.AssertPinned(pages, 5);

        f.UnfillDomains(area);
        foreach (var d in ds)
            Assert.Equal([(Iova, 5 * P)], UnmapCalls(d));
        Assert.All(ds, d => Assert.True(d.IsEmpty));
        Assert.Null(area.storage_domain);
        Assert.Empty(Nodes(pages.domains_itree));
        f.AssertPinned(pages, 0);
        foreach (var d in ds)
            f.RemoveDomainSlot(d);
        f.ReleaseAndAssertClean(pages, ds);
    }

    // The unwind of pages.c:1446-1470 when the h-th mock map fails: three mocks, three one-page
    // batches, so hit h is domain k = (h-1) % 3 in batch b = (h-1) / 3. xa_for_each left index
    // = k; domains before k use done_first_end_index (b + 1 pages mapped), k and after use
    // done_all_end_index (b pages). Domains 0 and 1 are unmapped with one call each; domain 2 is
    // next_domain_id - 1, so it is unfilled (unmap + unpin of [0, end - 1]). The reader's current
    // batch is unpinned by pfn_reader_release_pins. All domains end as they began.
    [Theory]
    [InlineData(1)] [InlineData(2)] [InlineData(3)]
    [InlineData(4)] [InlineData(5)] [InlineData(6)]
    [InlineData(7)] [InlineData(8)] [InlineData(9)]
    public void Fill_domains_failure_of_any_domain_in_any_batch_leaves_all_domains_unchanged(int h)
    {
        var f = new ScenarioFixture(new ExplicitFaults([(FaultSites.IommuMapMock, h)]));
        var (pages, area, pfns) = ThreeBatches(f);
        MockDomain[] ds = [f.NewMock("a"), f.NewMock("b"), f.NewMock("c")];
        foreach (var d in ds)
            f.AddDomainSlot(d);
        int k = (h - 1) % 3, b = (h - 1) / 3;

        Assert.Equal(-ENOENT, f.FillDomains(area));
        for (int i = 0; i < 3; i++)
        {
            ulong mapped = (ulong)(i < k ? b + 1 : b);
            Assert.Equal(mapped == 0 ? [] : new[] { (Iova, mapped * P) }, UnmapCalls(ds[i]));
            Assert.True(ds[i].IsEmpty);
        }
        Assert.Null(area.storage_domain);
        Assert.Empty(Nodes(pages.domains_itree));
        Assert.Equal([0, 0, 0], f.PinCounts(pfns));
        f.AssertPinned(pages, 0);
        foreach (var d in ds)
            f.RemoveDomainSlot(d);
        f.ReleaseAndAssertClean(pages, ds);
    }

    // Every (site, hit) a clean iopt_area_fill_domains over [mock, page table, mock] reaches,
    // failed one at a time: success with every domain mapped, or the site's errno with every
    // domain empty, nothing pinned and the area not installed (the C's "on failure all domains
    // are left unchanged").
    [Fact]
    public void Fill_domains_under_every_fault_site_either_succeeds_or_changes_nothing()
    {
        void Body(ScenarioFixture f, out iopt_pages pages, out iopt_area area, out ulong[] pfns, out iommu_domain[] ds, out int rc)
        {
            (pages, area, pfns) = ThreeBatches(f);
            ds = [f.NewMock("a"), f.NewPageTable("b"), f.NewMock("c")];
            foreach (var d in ds)
                f.AddDomainSlot(d);
            rc = f.FillDomains(area);
        }

        var sites = SitesReached(f =>
        {
            var (_, area, _) = ThreeBatches(f);
            iommu_domain[] ds = [f.NewMock("a"), f.NewPageTable("b"), f.NewMock("c")];
            foreach (var d in ds)
                f.AddDomainSlot(d);
            return () => f.FillDomains(area);
        });
        Assert.Contains(sites, s => s.Site == FaultSites.IommuMapPageTable);
        // Two mocks times three batches.
        Assert.Equal(6, sites.Count(s => s.Site == FaultSites.IommuMapMock));
        foreach (var (site, hit) in sites)
        {
            var f = new ScenarioFixture(new ExplicitFaults([(site, hit)]));
            Body(f, out var pages, out var area, out var pfns, out var ds, out int rc);
            string what = $"{site}#{hit}";
            Assert.True(ExpectedRc(site) == rc, $"{what}: rc {rc}");
            if (rc == 0)
            {
                Assert.All(ds, d => Assert.Equal(3 * P, d.MappedBytes));
                Assert.Same(ds[0], area.storage_domain);
                f.AssertPinned(pages, 3);
                f.UnfillDomains(area);
            }
            else
            {
                Assert.All(ds, d => Assert.True(d.IsEmpty, what));
                Assert.Null(area.storage_domain);
                Assert.Empty(Nodes(pages.domains_itree));
                f.AssertPinned(pages, 0);
            }
            Assert.Equal([0, 0, 0], f.PinCounts(pfns));
            foreach (var d in ds)
                f.RemoveDomainSlot(d);
            f.ReleaseAndAssertClean(pages, ds);
        }
    }
}
