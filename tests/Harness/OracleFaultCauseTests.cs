// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;

namespace Iommufd.Tests.Harness;

/// <summary>An injected fault met before a check is a cause of its own for the error returned.</summary>
public class OracleFaultCauseTests
{
    private static readonly Op[] WriteToReadOnly =
    [
        new MapUserMemory(0, [new Segment(SegmentKind.Run, 4)]),
        new CreateIopt(),
        new CreatePages(0, 0, 4 * 4096, false, 0),
        new MapArea(0, 0, 0, 4 * 4096, null, false),
        new CreateAccess(0),
        new AccessRw(0, 0, 0, 8192, true, RwContext.Kthread, false, 1),
    ];

    [Fact]
    public void A_write_through_read_only_pages_returns_EPERM_and_the_oracle_accepts_it()
    {
        var report = Runner.Run(new Scenario([], "none", WriteToReadOnly), () => new SpecOracle());
        Assert.Null(report.Violation);
        Assert.Equal(-1, report.Steps[^1].Result.Rc);
    }

    [Fact]
    public void The_same_write_failing_first_on_an_injected_allocation_fault_is_not_a_violation()
    {
        // The selftest driver allocates its bounce buffer before iommufd_access_rw checks permissions.
        var report = Runner.Run(new Scenario([], "list:alloc@Rw#1", WriteToReadOnly), () => new SpecOracle());
        Assert.Single(report.Injected);
        Assert.Equal(-12, report.Steps[^1].Result.Rc);
        Assert.Null(report.Violation);
    }

    [Fact]
    public void A_write_that_fails_at_a_hole_after_writing_aliased_frames_keeps_the_shadow_true()
    {
        // Found by explore --seed 23: the kthread fast path writes pages 0..4 (3 and 4 alias 0 and
        // 1), fails at the hole, and a later slow-path read of page 0 must see what it wrote.
        Op[] ops =
        [
            new CreateIopt(),
            new MapUserMemory(0, [new Segment(SegmentKind.Run, 3), new Segment(SegmentKind.Alias, 2), new Segment(SegmentKind.Hole, 1)]),
            new CreatePages(0, 0, 24576, true, 0),
            new MapArea(0, 0, 0, 4096, null, true),
            new CreateAccess(0),
            new MapArea(0, 0, 0, 24576, null, true),
            new AccessRw(0, 1, 0, 24304, true, RwContext.Kthread, false, 722276),
            new AccessRw(0, 0, 0, 4096, false, RwContext.OtherMm, true, 730445),
        ];
        var report = Runner.Run(new Scenario([], "none", ops), () => new SpecOracle());
        Assert.Equal(-14, report.Steps[6].Result.Rc);
        Assert.Equal(0, report.Steps[7].Result.Rc);
        Assert.Null(report.Violation);
    }
}
