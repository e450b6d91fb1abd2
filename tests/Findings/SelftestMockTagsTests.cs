// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;
using Iommufd.Tests.Harness;
using Iommufd.Model.Port;
using Iommufd.Model.Patches;

namespace Iommufd.Tests.Findings;

/// <summary>
/// A defect of the v6.2 selftest's mock domain (selftest.c), not of the seed
/// (docs/findings/README.md): mock_domain_map_pages tags a map's first IO page START and its last
/// LAST by assignment, so a map of exactly one IO page (2 KiB) is tagged LAST only, and the unmap
/// that pages.c correctly issues for it WARNs ("did not start a map").
/// </summary>
public class SelftestMockTagsTests
{
    private static Scenario Reproducer(params string[] patches) => new(patches, "none",
    [
        new MapUserMemory(0, [new Segment(SegmentKind.Run, 1)]),
        new CreateIopt(),
        new CreatePages(0, 0, 3433, true, 0),
        new AttachDomain(0, DomainKind.Mock),
        new MapArea(0, 0, 0, 2048, null, true),
    ]);

    [Fact]
    public void As_released_unmapping_a_one_io_page_area_warns_in_the_mock()
    {
        var report = Runner.Run(Reproducer(), () => new SpecOracle());
        Assert.All(report.Steps, s => Assert.Equal(0, s.Result.Rc));
        var v = ExpectedFailure.Replays(report);
        Assert.Equal("h", v.Invariant);
        Assert.Contains("did not start a map", v.Message);
    }

    [Fact]
    public void With_the_mock_fixed_the_same_run_is_clean()
    {
        var report = Runner.Run(Reproducer(ModelPatches.MockSinglePageTags), () => new SpecOracle());
        Assert.Null(report.Violation);
    }
}
