// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;
using Iommufd.Tests.Harness;
using Iommufd.Model.Port;
using Iommufd.Model.Patches;

namespace Iommufd.Tests.Findings;

/// <summary>
/// Finding 0003 (docs/findings/0003-fill-domains-unpin-before-unmap.md): when mapping an area
/// into several domains fails in a later domain, iopt_area_fill_domains releases the current
/// batch's pins while the earlier domains still map those pages.
/// </summary>
public class Finding0003Tests
{
    /// <summary>One page; a mock domain and a page-table domain; the page-table map fails.</summary>
    private static Scenario Reproducer(params string[] patches) => new(patches, $"list:{Iommufd.Faults.FaultSites.IommuMapPageTable}#1",
    [
        new MapUserMemory(0, [new Segment(SegmentKind.Run, 1)]),
        new CreatePages(0, 0, 4096, true, 0),
        new CreateIopt(),
        new AttachDomain(0, DomainKind.Mock),
        new AttachDomain(0, DomainKind.PageTable),
        new MapArea(0, 0, 0, 4096, null, true),
    ]);

    [Fact]
    public void As_released_the_page_is_unpinned_while_the_first_domain_still_maps_it()
    {
        var report = Runner.Run(Reproducer(), () => new SpecOracle());
        Assert.Single(report.Injected);
        Assert.Equal(-12, report.Steps[^1].Result.Rc);
        var v = ExpectedFailure.Replays(report);
        Assert.Equal("c", v.Invariant);
        Assert.Equal(5, v.Step);
        Assert.Contains("still maps it", v.Message);
    }

    [Fact]
    public void With_the_patch_the_failed_map_leaves_everything_as_it_was()
    {
        var report = Runner.Run(Reproducer(ModelPatches.FillDomainsUnmapBeforeUnpin), () => new SpecOracle());
        Assert.Single(report.Injected);
        Assert.Equal(-12, report.Steps[^1].Result.Rc);
        Assert.Null(report.Violation);
    }

    [Fact]
    public void With_the_patch_a_fail_nth_sweep_of_the_map_with_three_domains_stays_clean()
    {
        Op[] ops =
        [
            new MapUserMemory(0, [new Segment(SegmentKind.Run, 6), new Segment(SegmentKind.Scattered, 3)]),
            new CreatePages(0, 0, 9 * 4096, true, 0),
            new CreateIopt(),
            new AttachDomain(0, DomainKind.Mock),
            new AttachDomain(0, DomainKind.PageTable),
            new AttachDomain(0, DomainKind.Mock),
            new SetTempMemoryLimit(32),
            new MapArea(0, 0, 0, 9 * 4096, null, true),
        ];
        var patched = Iommufd.Harness.FaultInjection.FailNthSweep.Run(
            new Scenario([ModelPatches.FillDomainsUnmapBeforeUnpin], "none", ops), () => new SpecOracle(), stepFilter: s => s == 7);
        Assert.NotEmpty(patched.Runs);
        Assert.Empty(patched.Failures);
        var released = Iommufd.Harness.FaultInjection.FailNthSweep.Run(
            new Scenario([], "none", ops), () => new SpecOracle(), stepFilter: s => s == 7);
        var unpinned = released.Failures.Where(f => f.Report.Violation!.Invariant == "c").ToList();
        Assert.NotEmpty(unpinned);
        Assert.All(unpinned, f => ExpectedFailure.Replays(f.Report));
    }
}
