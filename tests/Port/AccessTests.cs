// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;
using static Iommufd.Model.Kernel.KernelApi;
using static Iommufd.Tests.Port.ScenarioFixture;
using Iommufd.Model.Selftest;

namespace Iommufd.Tests.Port;

/// <summary>
/// In-kernel accesses: iopt_area_add_access (pages.c:1899), iopt_area_remove_access (1955),
/// iopt_pages_get_exact_access (1869), iopt_pages_fill_xarray (1655) with its three tiers
/// (iopt_pages_fill_from_xarray 1574, _from_domain 1594, _from_mm 1616) and its out_clean_xa
/// unwind, iopt_pages_unfill_xarray (1526) and iopt_pages_unpin_xarray (1503).
/// </summary>
public sealed class AccessTests
{
    private const ulong Iova = 0x100000;

    private static SortedDictionary<ulong, ulong> Xa(params (ulong Index, ulong Pfn)[] entries) =>
        new(entries.ToDictionary(e => e.Index, e => e.Pfn));

    private static SortedDictionary<ulong, ulong> XaOf(ulong[] pfns, params ulong[] indexes) =>
        Xa(indexes.Select(i => (i, pfns[i])).ToArray());

    // No domain, no other access: the whole range is one hole, iopt_pages_fill_from_mm pins it
    // with GUP into out_pages, pages_to_xarray stores index -> PFN, pfn_reader_user_update_pinned
    // accounts it; the access node enters access_itree with users = 1 and num_accesses = 1.
    // Remove: last user, so the node leaves access_itree and iopt_pages_unfill_xarray sees one
    // hole: iopt_pages_unpin_xarray clears the entries and unpins; update_unpinned un-accounts.
    [Fact]
    public void Access_without_domain_pins_from_the_mm_and_fills_the_xarray()
    {
        var f = new ScenarioFixture();
        var (pfns, pages, area) = f.RunWithArea(U, 5, Iova);

        Assert.Equal(0, f.AddAccess(area, 1, 3, out var got));
        Assert.Equal(pfns[1..4], got);
        Assert.Equal(XaOf(pfns, 1, 2, 3), Xarray(pages));
        Assert.Equal([0, 1, 1, 1, 0], f.PinCounts(pfns));
        f.AssertPinned(pages, 3);
        var node = Assert.Single(Nodes(pages.access_itree));
        Assert.Equal((1UL, 3UL), (node.start, node.last));
        Assert.Equal(1U, ((iopt_pages_access)node.Container!).users);
        Assert.Equal(1U, area.num_accesses);

        f.RemoveAccess(area, 1, 3);
        Assert.Empty(Xarray(pages));
        Assert.Empty(Nodes(pages.access_itree));
        Assert.Equal(0U, area.num_accesses);
        f.AssertPinned(pages, 0);
        f.ReleaseAndAssertClean(pages);
    }

    // An exact duplicate (same start and last) is found by iopt_pages_get_exact_access: users and
    // num_accesses go up, the PFNs come from the xarray (no GUP, no allocation of a second
    // iopt_pages_access). The first remove only drops a user; the second releases everything.
    [Fact]
    public void Exact_duplicate_accesses_share_one_entry_counted_by_users()
    {
        var f = new ScenarioFixture();
        var (pfns, pages, area) = f.RunWithArea(U, 3, Iova);
        Assert.Equal(0, f.AddAccess(area, 0, 2, out _));
        long pinOps = f.Phys.PinOperations;

        Assert.Equal(0, f.AddAccess(area, 0, 2, out var second));
        Assert.Equal(pfns, second);
        Assert.Equal(pinOps, f.Phys.PinOperations);
        Assert.Equal(1, f.Kernel.Allocator.Sites["iopt_area_add_access"].Attempts);
        var access = (iopt_pages_access)Assert.Single(Nodes(pages.access_itree)).Container!;
        Assert.Equal(2U, access.users);
        Assert.Equal(2U, area.num_accesses);

        f.RemoveAccess(area, 0, 2);
        Assert.Equal(1U, access.users);
        Assert.Equal(1U, area.num_accesses);
        Assert.Equal([1, 1, 1], f.PinCounts(pfns));
        Assert.Equal(XaOf(pfns, 0, 1, 2), Xarray(pages));
        Assert.True(f.Kernel.Allocator.IsLive(access));

        f.RemoveAccess(area, 0, 2);
        Assert.False(f.Kernel.Allocator.IsLive(access));
        f.AssertPinned(pages, 0);
        f.ReleaseAndAssertClean(pages);
    }

    // Overlapping but not identical accesses [0, 2] and [1, 3]: the second fill_xarray walks
    // (access_itree, domains_itree): [1, 2] is used in tree 0 (from the xarray), [3] is a hole
    // (GUP). Each page is pinned once. Removing [0, 2]: unfill_xarray over [0, 2] sees hole [0]
    // (unpinned and erased) and [1, 2] still used by the other access (kept).
    [Fact]
    public void Overlapping_accesses_pin_each_page_once_and_removal_keeps_the_shared_part()
    {
        var f = new ScenarioFixture();
        var (pfns, pages, area) = f.RunWithArea(U, 4, Iova);
        Assert.Equal(0, f.AddAccess(area, 0, 2, out _));
        long pinOps = f.Phys.PinOperations;

        Assert.Equal(0, f.AddAccess(area, 1, 3, out var got));
        Assert.Equal(pfns[1..], got);
        Assert.Equal(pinOps + 1, f.Phys.PinOperations);
        Assert.Equal([1, 1, 1, 1], f.PinCounts(pfns));
        f.AssertPinned(pages, 4);

        f.RemoveAccess(area, 0, 2);
        Assert.Equal(XaOf(pfns, 1, 2, 3), Xarray(pages));
        Assert.Equal([0, 1, 1, 1], f.PinCounts(pfns));
        f.AssertPinned(pages, 3);
        f.RemoveAccess(area, 1, 3);
        f.ReleaseAndAssertClean(pages);
    }

    // Access first, domain attached afterwards: the domain's pfn_reader (pfn_reader_fill_span,
    // is_used == 1) takes the access's PFNs from the xarray, so GUP pins only the other pages.
    // The domain maps exactly the user's pages, each page holds one pin.
    [Fact]
    public void Domain_attached_after_an_access_takes_its_pfns_from_the_xarray()
    {
        var f = new ScenarioFixture();
        f.Space.MapNewScattered(U, 5, seed: 5);
        var pfns = f.Pfns(U, 5);
        var pages = f.NewPages(U, 5 * P);
        var area = f.NewArea(pages, Iova, 0, 5 * P);
        Assert.Equal(0, f.AddAccess(area, 1, 2, out _));
        long pinOps = f.Phys.PinOperations;
        var d = f.NewPageTable();

        Assert.Equal(0, f.FillDomain(area, d));
        Assert.Equal(pinOps + 3, f.Phys.PinOperations);
        for (int i = 0; i < 5; i++)
            Assert.Equal(pfns[i], DomainPfn(d, Iova + (ulong)i * P));
        Assert.Equal([1, 1, 1, 1, 1], f.PinCounts(pfns));
        f.AssertPinned(pages, 5);

        // The access goes while the domain holds the pages: unfill_xarray finds [1, 2] covered by
        // the domain (is_used == 2) and only erases the xarray entries.
        f.RemoveAccess(area, 1, 2);
        Assert.Empty(Xarray(pages));
        Assert.Equal([1, 1, 1, 1, 1], f.PinCounts(pfns));
        f.AssertPinned(pages, 5);
        f.UnfillLastDomain(area, d);
        f.ReleaseAndAssertClean(pages, d);
    }

    // Access while a domain holds the pages: iopt_pages_fill_from_domain reads them with
    // raw_pages_from_domain (iova_to_phys) and pages_to_xarray stores them; no GUP, no change of
    // npinned.
    [Fact]
    public void Access_while_a_domain_holds_the_pages_reads_them_from_the_domain()
    {
        var f = new ScenarioFixture();
        var (pfns, pages, area) = f.RunWithArea(U, 4, Iova);
        var d = f.NewMock();
        Assert.Equal(0, f.FillDomain(area, d));
        long pinOps = f.Phys.PinOperations;

        Assert.Equal(0, f.AddAccess(area, 0, 3, out var got));
        Assert.Equal(pfns, got);
        Assert.Equal(pinOps, f.Phys.PinOperations);
        Assert.Equal(XaOf(pfns, 0, 1, 2, 3), Xarray(pages));
        f.AssertPinned(pages, 4);
        f.RemoveAccess(area, 0, 3);
        f.UnfillLastDomain(area, d);
        f.ReleaseAndAssertClean(pages, d);
    }

    /// <summary>
    /// Six pages. Area X = [0, 1] is held by a mock domain; an access on [2, 3] through area Z =
    /// [0, 5] has them in the xarray; [4, 5] are pinned by nobody. A new access [0, 5] through Z
    /// therefore reads all three tiers in one iopt_pages_fill_xarray call.
    /// </summary>
    private static (iopt_pages pages, iopt_area x, iopt_area z, ulong[] pfns, MockDomain d) ThreeTiers(ScenarioFixture f)
    {
        f.MapFrames(U, f.SparseFrames(6));
        var pfns = f.Pfns(U, 6);
        var pages = f.NewPages(U, 6 * P);
        var x = f.NewArea(pages, Iova, 0, 2 * P);
        var z = f.NewArea(pages, 0x200000, 0, 6 * P);
        var d = f.NewMock();
        Assert.Equal(0, f.FillDomain(x, d));
        Assert.Equal(0, f.AddAccess(z, 2, 3, out _));
        return (pages, x, z, pfns, d);
    }

    // The three tiers in one call (pages.c:1655): span [0, 1] is_used == 2 -> from the domain +
    // pages_to_xarray; [2, 3] is_used == 1 -> from the xarray; [4, 5] hole -> GUP + pages_to_xarray.
    // out_pages come back in index order and every page is pinned exactly once.
    [Fact]
    public void Fill_xarray_reads_domain_xarray_and_mm_tiers_in_one_call()
    {
        var f = new ScenarioFixture();
        var (pages, x, z, pfns, d) = ThreeTiers(f);
        long pinOps = f.Phys.PinOperations;

        Assert.Equal(0, f.AddAccess(z, 0, 5, out var got));
        Assert.Equal(pfns, got);
        Assert.Equal(pinOps + 2, f.Phys.PinOperations);
        Assert.Equal(XaOf(pfns, 0, 1, 2, 3, 4, 5), Xarray(pages));
        Assert.Equal([1, 1, 1, 1, 1, 1], f.PinCounts(pfns));
        f.AssertPinned(pages, 6);

        f.RemoveAccess(z, 0, 5);
        Assert.Equal(XaOf(pfns, 2, 3), Xarray(pages));
        Assert.Equal([1, 1, 1, 1, 0, 0], f.PinCounts(pfns));
        f.RemoveAccess(z, 2, 3);
        f.UnfillLastDomain(x, d);
        f.ReleaseAndAssertClean(pages, d);
    }

    /// <summary>
    /// The return code of each fault site reachable in iopt_area_add_access, from the C and the
    /// fakes: the access kzalloc fails with -ENOMEM; an xarray node allocation under the lock
    /// fails into xas_nomem, which allocates outside the lock and the store is retried (success);
    /// pages_to_xarray's should_fail sets -EINVAL; pfn_reader_user_pin's should_fail is -EFAULT;
    /// GUP fails a call with -ENOMEM (a short pin is retried by iopt_pages_fill_from_mm);
    /// pfn_reader_user_update_pinned's should_fail is -ENOMEM.
    /// </summary>
    private static readonly Dictionary<string, int> AddAccessSiteResult = new()
    {
        [FaultSites.Alloc("iopt_area_add_access")] = -ENOMEM,
        [FaultSites.XaNodeAllocAtomic] = 0,
        [FaultSites.ShouldFail("pages_to_xarray")] = -EINVAL,
        [FaultSites.ShouldFail("pfn_reader_user_pin")] = -EFAULT,
        [FaultSites.GupFail] = -ENOMEM,
        [FaultSites.GupShort] = 0,
        [FaultSites.ShouldFail("pfn_reader_user_update_pinned")] = -ENOMEM,
    };

    // out_clean_xa (pages.c:1718) under every (site, hit) of the three-tier add_access: either the
    // access is added, or the call fails with the site's errno and "the xarray is left
    // unchanged": only [2, 3] in it, the same pins and counters as before, no new access node,
    // no leaked allocation (the access object is freed on err_free), no WARN.
    [Fact]
    public void Fill_xarray_under_every_fault_site_leaves_the_xarray_unchanged()
    {
        var sites = SitesReached(f =>
        {
            var (_, _, z, _, _) = ThreeTiers(f);
            return () => f.AddAccess(z, 0, 5, out _);
        });
        Assert.Equal(2, sites.Count(s => s.Site == FaultSites.ShouldFail("pages_to_xarray")));
        Assert.Contains(sites, s => s.Site == FaultSites.ShouldFail("pfn_reader_user_update_pinned"));
        Assert.Contains(sites, s => s.Site == FaultSites.Alloc("iopt_area_add_access"));
        foreach (var (site, hit) in sites)
        {
            var f = new ScenarioFixture(new ExplicitFaults([(site, hit)]));
            var (pages, x, z, pfns, d) = ThreeTiers(f);
            int live = f.Kernel.Allocator.LiveCount;
            string what = $"{site}#{hit}";
            Assert.True(AddAccessSiteResult.TryGetValue(site, out int expected), $"no derivation for {site}");

            int rc = f.AddAccess(z, 0, 5, out var got);
            Assert.True(expected == rc, $"{what}: rc {rc}");
            if (rc == 0)
            {
                Assert.Equal(pfns, got);
                Assert.Equal(XaOf(pfns, 0, 1, 2, 3, 4, 5), Xarray(pages));
                Assert.Equal([1, 1, 1, 1, 1, 1], f.PinCounts(pfns));
                f.AssertPinned(pages, 6);
                f.RemoveAccess(z, 0, 5);
            }
            else
            {
                Assert.Equal(XaOf(pfns, 2, 3), Xarray(pages));
                Assert.Equal([1, 1, 1, 1, 0, 0], f.PinCounts(pfns));
                f.AssertPinned(pages, 4);
                Assert.Single(Nodes(pages.access_itree));
                Assert.Equal(1U, z.num_accesses);
                Assert.True(live == f.Kernel.Allocator.LiveCount, what + ": " + string.Join(", ", f.Kernel.Allocator.Live));
                Assert.True(f.Kernel.Checks.Count == 0, what + ": " + f.ChecksText);
            }
            f.RemoveAccess(z, 2, 3);
            f.UnfillLastDomain(x, d);
            f.ReleaseAndAssertClean(pages, d);
        }
    }

    // The same sweep on the first access of fresh pages (mm tier only, empty xarray, so the
    // xarray must allocate its node): on failure the xarray stays empty, nothing is pinned and
    // nothing allocated; a failed node allocation under the lock is absorbed by xas_nomem.
    [Fact]
    public void First_access_under_every_fault_site_leaves_the_xarray_empty()
    {
        static (iopt_pages, iopt_area, ulong[]) Arrange(ScenarioFixture f)
        {
            f.MapFrames(U, f.SparseFrames(4));
            var pages = f.NewPages(U, 4 * P);
            return (pages, f.NewArea(pages, Iova, 0, 4 * P), f.Pfns(U, 4));
        }

        var sites = SitesReached(f =>
        {
            var (_, area, _) = Arrange(f);
            return () => f.AddAccess(area, 0, 3, out _);
        });
        Assert.Contains(sites, s => s.Site == FaultSites.XaNodeAllocAtomic);
        foreach (var (site, hit) in sites)
        {
            var f = new ScenarioFixture(new ExplicitFaults([(site, hit)]));
            var (pages, area, pfns) = Arrange(f);
            Assert.True(AddAccessSiteResult.TryGetValue(site, out int expected), $"no derivation for {site}");
            int rc = f.AddAccess(area, 0, 3, out var got);
            Assert.True(expected == rc, $"{site}#{hit}: rc {rc}");
            if (rc == 0)
            {
                Assert.Equal(pfns, got);
                Assert.Equal(XaOf(pfns, 0, 1, 2, 3), Xarray(pages));
                f.AssertPinned(pages, 4);
                f.RemoveAccess(area, 0, 3);
            }
            else
            {
                Assert.Empty(Xarray(pages));
                Assert.Empty(Nodes(pages.access_itree));
                Assert.Equal(0U, area.num_accesses);
            }
            f.AssertPinned(pages, 0);
            f.ReleaseAndAssertClean(pages);
        }
    }

    // unfill_xarray keeping what others still use: access A [0, 5], access B [1], a domain on
    // area X = [4, 5]. Removing A: hole [0] -> unpinned and erased; [1] used by B (tree 0) -> kept;
    // holes [2, 3] -> unpinned and erased; [4, 5] used by the domain (tree 1) -> erased from the
    // xarray only, the domain keeps the pins.
    [Fact]
    public void Unfill_xarray_keeps_indexes_another_access_or_a_domain_still_uses()
    {
        var f = new ScenarioFixture();
        f.MapFrames(U, f.SparseFrames(6));
        var pfns = f.Pfns(U, 6);
        var pages = f.NewPages(U, 6 * P);
        var z = f.NewArea(pages, Iova, 0, 6 * P);
        var x = f.NewArea(pages, 0x200000, 4 * P, 2 * P);
        var d = f.NewMock();
        Assert.Equal(0, f.AddAccess(z, 0, 5, out _));
        Assert.Equal(0, f.AddAccess(z, 1, 1, out _));
        Assert.Equal(0, f.FillDomain(x, d));
        f.AssertPinned(pages, 6);

        f.RemoveAccess(z, 0, 5);
        Assert.Equal(XaOf(pfns, 1), Xarray(pages));
        Assert.Equal([0, 1, 0, 0, 1, 1], f.PinCounts(pfns));
        f.AssertPinned(pages, 3);
        f.RemoveAccess(z, 1, 1);
        f.UnfillLastDomain(x, d);
        f.ReleaseAndAssertClean(pages, d);
    }

    // pages.c:1908: a write access to pages that are not writable is refused with -EPERM before
    // pages->mutex is taken: nothing is pinned, allocated or recorded.
    [Fact]
    public void Write_access_to_read_only_pages_is_eperm_and_changes_nothing()
    {
        var f = new ScenarioFixture();
        f.MapRun(U, 2, writable: false);
        var pages = f.NewPages(U, 2 * P, writable: false);
        var area = f.NewArea(pages, Iova, 0, 2 * P, IOMMU_READ);
        Assert.Equal(-EPERM, f.AddAccess(area, 0, 1, out _, IOMMUFD_ACCESS_RW_WRITE));
        Assert.Equal(0L, f.Phys.PinOperations);
        Assert.False(f.Kernel.Allocator.Sites.ContainsKey("iopt_area_add_access"));
        Assert.Equal(0U, area.num_accesses);

        // A read access to the same pages works (GUP without FOLL_WRITE).
        Assert.Equal(0, f.AddAccess(area, 0, 1, out _));
        f.AssertPinned(pages, 2);
        f.RemoveAccess(area, 0, 1);
        f.ReleaseAndAssertClean(pages);
    }

    // pages.c:1963: removing a range nobody added WARNs and changes nothing; a range that only
    // overlaps an access is not an exact match either.
    [Fact]
    public void Removing_an_access_that_does_not_exist_warns_and_changes_nothing()
    {
        var f = new ScenarioFixture();
        f.MapRun(U, 3);
        var pages = f.NewPages(U, 3 * P);
        var area = f.NewArea(pages, Iova, 0, 3 * P);
        Assert.Equal(0, f.AddAccess(area, 0, 2, out _));

        f.RemoveAccess(area, 0, 1);
        var warn = Assert.Single(f.Kernel.Checks.Violations);
        Assert.Equal((CheckKind.Warn, "iopt_area_remove_access"), (warn.Kind, warn.Function));
        f.Kernel.Checks.Clear();
        Assert.Equal(1U, area.num_accesses);
        f.AssertPinned(pages, 3);
        f.RemoveAccess(area, 0, 2);
        f.ReleaseAndAssertClean(pages);
    }
}
