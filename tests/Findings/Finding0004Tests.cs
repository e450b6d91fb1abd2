// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;
using Iommufd.Tests.Harness;
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;
using Iommufd.Model.Patches;

namespace Iommufd.Tests.Findings;

/// <summary>
/// Finding 0004 (docs/findings/0004-mm-accounting-after-exit.md): with MM accounting, once the
/// process that created the pages has exited, unpinning cannot be un-accounted, last_npinned stays
/// stale, and the next pfn_reader on those pages WARNs in pfn_reader_destroy.
/// </summary>
public class Finding0004Tests
{
    internal static Scenario Reproducer(params string[] patches) => new(patches, "none",
    [
        new NewProcess(false, 1UL << 30, false),
        new MapUserMemory(1, [new Segment(SegmentKind.Run, 2)]),
        new CreatePages(0, 0, 2 * 4096, true, IoptPagesAccount.IOPT_PAGES_ACCOUNT_MM),
        new CreateIopt(),
        new AttachDomain(0, DomainKind.PageTable),
        new MapArea(0, 0, 0, 2 * 4096, null, true),
        new ProcessExit(0),
        new DetachDomain(0),
        new AttachDomain(0, DomainKind.PageTable),
    ]);

    [Fact]
    public void As_released_the_stale_count_makes_the_next_reader_WARN()
    {
        var world = new World(new Iommufd.Faults.FaultInjector(new Iommufd.Faults.NoFaults()));
        var results = Reproducer().Ops.Select(world.Apply).ToArray();
        Assert.All(results.Take(8), r => Assert.Equal(0, r.Rc));
        int pages = world.PagesList.Single().Id;
        // After the detach nothing is pinned, but the accounting still counts the two pages.
        Assert.Equal(0UL, world.Pages(pages).NPinned);
        Assert.Equal(-KernelApi.EFAULT, results[8].Rc);
        Assert.Contains(world.Kernel.Checks.Violations, v => v.Kind == CheckKind.Warn && v.Function == "pfn_reader_destroy");
        Assert.Equal(2UL, world.Pages(pages).LastNPinned);
    }

    [Fact]
    public void The_oracle_reports_the_stale_count_at_the_detach()
    {
        var report = Runner.Run(Reproducer(), () => new SpecOracle());
        var v = ExpectedFailure.Replays(report);
        Assert.Equal("a", v.Invariant);
        Assert.Equal(7, v.Step);
    }

    [Fact]
    public void With_the_patch_the_accounting_follows_the_unpin_and_nothing_WARNs()
    {
        var report = Runner.Run(Reproducer(ModelPatches.MmUnaccountAfterExit), () => new SpecOracle());
        Assert.Null(report.Violation);
        // The re-attach still fails (the pages cannot be pinned from an exited mm), cleanly.
        Assert.Equal(-KernelApi.EFAULT, report.Steps[^1].Result.Rc);
    }
}
