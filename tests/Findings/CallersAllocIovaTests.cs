// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;
using Iommufd.Tests.Harness;
using Iommufd.Model.Port;
using Iommufd.Model.Patches;

namespace Iommufd.Tests.Findings;

/// <summary>
/// A defect of the callers (io_pagetable.c v6.2), not of the seed (docs/findings/README.md):
/// iopt_alloc_iova rounds a hole's start up to the alignment with ALIGN, which wraps to 0 for a
/// start above the last multiple of the alignment, and 0 passes the fit checks. The allocator then
/// returns IOVA 0 for a range that overlaps an existing area. The test configuration catches it
/// with a WARN_ON(iopt_check_iova()) in iopt_alloc_area_pages; without CONFIG_IOMMUFD_TEST nothing
/// does and the overlapping area is inserted.
/// </summary>
public class CallersAllocIovaTests
{
    /// <summary>An area of about 2^63 bytes at a fixed IOVA above 2^63's alignment boundary less its
    /// length; then a map of about 2^62.1 bytes (alignment 2^63, the user pointer is 0) with an
    /// allocated IOVA: the only hole that is long enough starts above 2^63 and ALIGN wraps it.</summary>
    private static Scenario Reproducer(params string[] patches) => new(patches, "none",
    [
        new CreateIopt(),
        new MapUserMemory(0, [new Segment(SegmentKind.Run, 1)]),
        new CreatePages(0, 0, 9223372036852752384, true, 0, RawUptr: true),
        new MapArea(0, 0, 0, 9223372036854775808, 502511173632, true),
        new MapArea(0, 0, 0, 4861955100764161231, null, true),
    ]);

    [Fact]
    public void As_released_the_allocator_returns_iova_0_over_an_existing_area_and_the_test_config_warns()
    {
        var report = Runner.Run(Reproducer(), () => new SpecOracle());
        Assert.Equal(-22, report.Steps[^1].Result.Rc);
        var v = ExpectedFailure.Replays(report);
        Assert.Equal("h", v.Invariant);
        Assert.Contains("iopt_alloc_area_pages", v.Message);
    }

    [Fact]
    public void With_the_patch_the_hole_does_not_fit_and_the_map_fails_with_ENOSPC()
    {
        var report = Runner.Run(Reproducer(ModelPatches.AllocIovaAlignOverflow), () => new SpecOracle());
        Assert.Equal(-28, report.Steps[^1].Result.Rc);
        Assert.Null(report.Violation);
    }
}
