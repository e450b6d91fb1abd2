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
    public void A_pin_over_16_MiB_is_refused_by_the_selftest_guard_and_the_oracle_accepts_it()
    {
        // Found by explore --patch all --seed 1: a 2 GiB pin over an area of a huge raw iopt_pages
        // made the model's page array exceed KMALLOC_MAX_SIZE (a WARN) where v6.2's selftest
        // refuses any access pin over 16 MiB first.
        Op[] ops =
        [
            new MapUserMemory(0, [new Segment(SegmentKind.Run, 1)]),
            new CreatePages(0, 0, 4294959104, true, 0, RawUptr: true),
            new CreateIopt(),
            new MapArea(0, 0, 0, 2373402624, null, false),
            new CreateAccess(0),
            new AccessPin(0, 0, 0, 2373402624, true, false),
        ];
        var report = Runner.Run(new Scenario([], "none", ops), () => new SpecOracle());
        Assert.Equal(0, report.Steps[3].Result.Rc);
        Assert.Equal(-12, report.Steps[^1].Result.Rc);
        Assert.Null(report.Violation);
    }

    [Fact]
    public void A_map_that_finds_no_free_iova_hole_may_return_ENOSPC_and_one_with_room_may_not()
    {
        // Found by explore --patch all --seed 11: two areas of 2^63 bytes leave free IOVA holes of
        // under 4 MiB; a 3.5 MiB map with an allocated IOVA then fails with -ENOSPC.
        Op[] full =
        [
            new MapUserMemory(0, [new Segment(SegmentKind.Run, 1)]),
            new CreateIopt(),
            new CreatePages(0, 0, 9223372036852920285, true, 0, RawUptr: true),
            new MapArea(0, 0, 0, 9223372036854775807, 0, true),
            new MapArea(0, 0, 4096, 9223372036854771711, null, true),
            new MapArea(0, 0, 0, 3719168, null, true),
        ];
        var report = Runner.Run(new Scenario([], "none", full), () => new SpecOracle());
        Assert.Equal(-28, report.Steps[^1].Result.Rc);
        Assert.Null(report.Violation);

        // Without the second big area there is room, and the same map succeeds.
        var roomy = Runner.Run(new Scenario([], "none", [.. full.Take(4), full[^1]]), () => new SpecOracle());
        Assert.Equal(0, roomy.Steps[^1].Result.Rc);
        Assert.Null(roomy.Violation);
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
