// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;

namespace Iommufd.Tests.Harness;

/// <summary>
/// Reports of exploration with every patch on that were the harness's fault (the callers' model,
/// the World or the oracle), each kept as the scenario that showed it.
/// </summary>
public class ExplorationRegressionTests
{
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
    public void A_cut_one_byte_into_an_area_is_a_no_op_that_succeeds()
    {
        // Found by explore --patch all --seed 14: iopt_area_split returns 0 without splitting when
        // the IOVA it is given is the area's first byte; the oracle demanded -EINVAL and the World
        // recorded two areas.
        Op[] ops =
        [
            new MapUserMemory(0, [new Segment(SegmentKind.Run, 1)]),
            new CreatePages(0, 0, 4096, true, 0),
            new CreateIopt(),
            new MapArea(0, 0, 0, 4096, null, true),
            new CreateAccess(0),
            new SplitArea(0, 1),
        ];
        var report = Runner.Run(new Scenario([], "none", ops), () => new SpecOracle());
        Assert.Equal(0, report.Steps[^1].Result.Rc);
        Assert.Null(report.Violation);
        var w = new World(new Iommufd.Faults.FaultInjector(new Iommufd.Faults.NoFaults()), []);
        foreach (var op in ops)
            w.Apply(op);
        Assert.Single(w.Areas);
        Assert.Single(w.Iopt(w.Iopts[0].Id).Areas);
    }

    [Fact]
    public void The_oracle_expects_the_iova_a_mock_domain_reserves_outside_its_aperture()
    {
        // explore --patch all --seed 10: an area at the top of the IOVA space was filled into a
        // mock domain; v6.2 refuses that attach because the mock reserves everything outside
        // [16 MiB, 2 GiB). The oracle must ask for exactly these refusals.
        Op[] ops =
        [
            new CreateIopt(),
            new MapUserMemory(0, [new Segment(SegmentKind.Run, 4)]),
            new CreatePages(0, 0, 4 * 4096, true, 0),
            new MapArea(0, 0, 0, 4 * 4096, 18446744073709535232, true),   // ends at ULONG_MAX
            new AttachDomain(0, DomainKind.Mock),                          // -EADDRINUSE
            new UnmapArea(0),
            new AttachDomain(0, DomainKind.Mock),                          // ok now
            new MapArea(0, 0, 0, 4 * 4096, 0x10000, true),                 // below the aperture: -EINVAL
            new MapArea(0, 0, 0, 4 * 4096, null, true),                    // allocated inside it
        ];
        var report = Runner.Run(new Scenario([], "none", ops), () => new SpecOracle());
        Assert.Null(report.Violation);
        Assert.Equal([0, 0, 0, 0, -98, 0, 0, -22, 0], report.Steps.Select(s => s.Result.Rc));
    }
}
