// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;
using Iommufd.Tests.Harness;
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;
using Iommufd.Model.Patches;

namespace Iommufd.Tests.Findings;

/// <summary>
/// Finding 0002 (docs/findings/0002-alloc-pages-npages-overflow.md): IOAS_MAP of
/// SIZE_MAX - PAGE_SIZE bytes from a user pointer 2 or more bytes into a page gives an
/// iopt_pages with npages == 0, and mapping it fires the WARN_ON in iopt_insert_area.
/// </summary>
public class Finding0002Tests
{
    private const ulong Length = ulong.MaxValue - KernelApi.PAGE_SIZE; // SIZE_MAX - PAGE_SIZE

    private static (World World, StepResult Create, StepResult Map) Run(IEnumerable<string> patches, ulong uptr)
    {
        var w = new World(new FaultInjector(new NoFaults()), patches);
        w.Apply(new MapUserMemory(0, [new Segment(SegmentKind.Run, 1)]));
        var create = w.Apply(new CreatePages(0, uptr, Length, true, 0, RawUptr: true));
        w.Apply(new CreateIopt());
        var map = w.Apply(new MapArea(0, 0, uptr % KernelApi.PAGE_SIZE, Length, 0x1000, true));
        return (w, create, map);
    }

    [Fact]
    public void As_released_npages_wraps_to_zero_and_a_user_reachable_WARN_fires()
    {
        var (w, create, map) = Run([], 0x10_0000_0002UL);
        Assert.Equal(0, create.Rc);
        Assert.Equal(0UL, w.Pages(w.PagesList.Single().Id).NPages);
        Assert.Equal(-KernelApi.EOVERFLOW, map.Rc);
        Assert.Contains(w.Kernel.Checks.Violations, v => v.Kind == CheckKind.Warn && v.Function == "iopt_insert_area");
    }

    [Fact]
    public void As_released_the_oracle_reports_the_WARN_and_the_reproducer_replays_to_the_same_failure()
    {
        const ulong uptr = 0x10_0000_0002UL;
        Op[] ops =
        [
            new MapUserMemory(0, [new Segment(SegmentKind.Run, 1)]),
            new CreatePages(0, uptr, Length, true, 0, RawUptr: true),
            new CreateIopt(),
            new MapArea(0, 0, uptr % KernelApi.PAGE_SIZE, Length, 0x1000, true),
        ];
        var v = ExpectedFailure.Replays(Runner.Run(new Scenario([], "none", ops), () => new SpecOracle()));
        Assert.Contains("iopt_insert_area", v.Message);
        Assert.Null(Runner.Run(new Scenario([ModelPatches.AllocPagesNpagesOverflow], "none", ops), () => new SpecOracle()).Violation);
    }

    [Fact]
    public void An_offset_of_one_does_not_wrap_so_the_boundary_is_exact()
    {
        var (w, create, _) = Run([], 0x10_0000_0001UL);
        Assert.Equal(0, create.Rc);
        Assert.Equal(Length / KernelApi.PAGE_SIZE + 1, w.Pages(w.PagesList.Single().Id).NPages);
    }

    [Fact]
    public void With_the_patch_the_map_is_refused_without_a_WARN()
    {
        var (w, create, _) = Run([ModelPatches.AllocPagesNpagesOverflow], 0x10_0000_0002UL);
        Assert.Equal(-KernelApi.EINVAL, create.Rc);
        Assert.Empty(w.Kernel.Checks.Violations);
    }
}
