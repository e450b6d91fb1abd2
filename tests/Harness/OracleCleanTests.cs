// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;

namespace Iommufd.Tests.Harness;

public class OracleCleanTests
{
    private static RunReport Run(string faults, params Op[] ops) =>
        Runner.Run(new Scenario([], faults, ops), () => new SpecOracle());

    private static void AssertClean(RunReport report)
    {
        Assert.True(report.Violation is null,
            $"{report.Violation}\n{report.Violation?.State}\n" + string.Join("\n", report.Steps.Select(s => $"{s.Index}: {s.Op} -> {s.Result}")));
    }

    [Fact]
    public void Full_lifecycle_is_clean()
    {
        var r = Run("none",
            new MapUserMemory(0, [new Segment(SegmentKind.Run, 8), new Segment(SegmentKind.Scattered, 4)]),
            new CreatePages(0, 0, 12 * 4096, true, 0),
            new CreateIopt(),
            new AttachDomain(0, DomainKind.PageTable),
            new MapArea(0, 0, 0, 12 * 4096, null, true),
            new CreateAccess(0),
            new AccessPin(0, 0, 0, 3 * 4096, true),
            new AccessRw(0, 0, 100, 5000, true, RwContext.OtherMm, false, 7),
            new AccessRw(0, 0, 100, 5000, false, RwContext.Kthread, true, 0),
            new AccessRw(0, 0, 50, 9000, false, RwContext.SameMm, false, 0),
            new DetachDomain(0),
            new AccessUnpin(0),
            new UnmapArea(0));
        AssertClean(r);
        Assert.Equal(13, r.Steps.Count);
    }

    [Fact]
    public void Two_domains_of_both_kinds_shared_pages_and_a_copy_are_clean()
    {
        var r = Run("none",
            new MapUserMemory(0, [new Segment(SegmentKind.HugeRun, 512), new Segment(SegmentKind.Run, 40), new Segment(SegmentKind.Alias, 3)]),
            new CreatePages(0, 0, 555 * 4096, true, 0),
            new CreateIopt(),
            new CreateIopt(),
            new AttachDomain(0, DomainKind.PageTable),
            new AttachDomain(0, DomainKind.Mock),
            new MapArea(0, 0, 0, 555 * 4096, null, true),
            new AttachDomain(1, DomainKind.Mock),
            new CopyArea(0, 1, null),
            new CreateAccess(1),
            new AccessPin(0, 1, 8192, 5 * 4096, false),
            new AccessPin(0, 1, 8192, 5 * 4096, false),
            new AccessRw(0, 1, 4000, 70000, true, RwContext.Kthread, true, 3),
            new AccessRw(0, 1, 0, 555 * 4096, false, RwContext.OtherMm, false, 0),
            new DetachDomain(0),
            new UnmapArea(1),
            new AccessUnpin(0),
            new DetachDomain(0));
        AssertClean(r);
    }

    [Fact]
    public void Half_page_offsets_in_a_mock_domain_are_clean()
    {
        var r = Run("none",
            new MapUserMemory(0, [new Segment(SegmentKind.Run, 6)]),
            new CreatePages(0, 2048, 5 * 4096, true, 0),
            new CreateIopt(),
            new AttachDomain(0, DomainKind.Mock),
            new MapArea(0, 0, 2048, 4 * 4096, null, true),
            new AccessRw(0, 0, 0, 10000, false, RwContext.SameMm, false, 0),
            new UnmapArea(0));
        AssertClean(r);
    }

    [Fact]
    public void Read_only_memory_accounting_modes_and_process_exit_are_clean()
    {
        var r = Run("none",
            new NewProcess(true, 1UL << 30, false),
            new NewProcess(false, 1UL << 30, true),
            new MapUserMemory(1, [new Segment(SegmentKind.Run, 16, ReadOnly: true)]),
            new MapUserMemory(2, [new Segment(SegmentKind.Run, 16, Movable: true)]),
            new CreatePages(0, 0, 16 * 4096, false, 2),
            new CreatePages(1, 0, 16 * 4096, true, 1),
            new CreateIopt(),
            new AttachDomain(0, DomainKind.PageTable),
            new MapArea(0, 0, 0, 16 * 4096, null, false),
            new MapArea(0, 1, 0, 16 * 4096, null, true),
            new CreateAccess(0),
            new AccessPin(0, 0, 0, 4096, true),
            new AccessRw(0, 0, 0, 100, true, RwContext.SameMm, false, 1),
            new AccessPin(0, 1, 4096, 8192, true),
            new ProcessExit(1),
            new AccessRw(0, 1, 4096, 8192, false, RwContext.Kthread, false, 0),
            // Unpin first: an access in the middle of a PFN-contiguous area (migration made it one)
            // would meet the v6.2 batch_clear_carry defect when the last domain goes.
            new AccessUnpin(0),
            new DetachDomain(0),
            new UnmapArea(0));
        AssertClean(r);
    }

    [Fact]
    public void Limits_and_bad_input_fail_with_a_cause_and_change_nothing()
    {
        var r = Run("none",
            new NewProcess(true, 8 * 4096, false),
            new MapUserMemory(1, [new Segment(SegmentKind.Run, 16), new Segment(SegmentKind.Hole, 2), new Segment(SegmentKind.Run, 2)]),
            new CreatePages(0, 0, 0, true, 1),
            new CreatePages(0, 0, 20 * 4096, true, 1),
            new CreateIopt(),
            new AttachDomain(0, DomainKind.PageTable),
            new MapArea(0, 0, 0, 16 * 4096, null, true),
            new MapArea(0, 0, 0, 20 * 4096, 1UL << 30, true),
            new MapArea(0, 0, 0, 4096, 1UL << 30, true),
            new MapArea(0, 0, 0, 0, null, true),
            new SetRlimit(1, 1UL << 30),
            new MapArea(0, 0, 0, 16 * 4096, 0x100000, true),
            new MapArea(0, 0, 0, 8192, 0x100000, true),
            new UnmapRange(0, 0x100000, 4096),
            new UnmapRange(0, 0, 0),
            new UnmapRange(0, ulong.MaxValue - 10, 100),
            new CreateAccess(0),
            new AccessPin(0, 0, 100, 4096, false),
            new AccessPin(0, 0, 0, 0, false, Raw: true),
            new AccessPin(0, 0, 0x5000_0000, 4096, false, Raw: true),
            new UserWrite(0, 15 * 4096, 3 * 4096, 9),
            new SetTempMemoryLimit(16),
            new AccessPin(0, 0, 0, 16 * 4096, true),
            new AccessRw(0, 0, 0, 16 * 4096, false, RwContext.OtherMm, true, 0),
            new UnmapRange(0, 0, ulong.MaxValue));
        AssertClean(r);
        Assert.Contains(r.Steps, s => s.Result.Rc != 0);
    }

    /// <summary>Every fault point of a lifecycle, failed one at a time (fail_nth style). One domain
    /// only: with two, a failed fill unpins the current batch before unmapping it from the earlier
    /// domain, which the oracle reports (see OracleFindingTests).</summary>
    [Fact]
    public void Injected_faults_are_recovered_from()
    {
        Op[] ops =
        [
            new MapUserMemory(0, [new Segment(SegmentKind.Run, 10), new Segment(SegmentKind.Scattered, 6)]),
            new CreatePages(0, 0, 16 * 4096, true, 0),
            new CreateIopt(),
            new AttachDomain(0, DomainKind.Mock),
            new MapArea(0, 0, 0, 16 * 4096, null, true),
            new CreateAccess(0),
            new AccessPin(0, 0, 4096, 6 * 4096, false),
            new AccessRw(0, 0, 10, 20000, true, RwContext.OtherMm, true, 5),
            new AccessUnpin(0),
            new DetachDomain(0),
            new AttachDomain(0, DomainKind.PageTable),
            new UnmapArea(0),
        ];
        var clean = Runner.Run(Scenario.AsReleased(ops), () => new SpecOracle());
        AssertClean(clean);
        long total = clean.SiteHits.Values.Sum();
        int tried = 0, failed = 0;
        for (long n = 1; n <= Math.Min(total, 200); n++)
        {
            var report = Runner.Run(new Scenario([], $"nth:{n}", ops), () => new SpecOracle());
            Assert.True(report.Violation is null, $"nth:{n} ({string.Join(", ", report.Injected)}): {report.Violation}\n{report.Violation?.State}\n" +
                string.Join("\n", report.Steps.Select(s => $"{s.Index}: {s.Op} -> {s.Result}")));
            tried++;
            if (report.Steps.Any(s => s.Result.Rc != 0))
                failed++;
        }
        Assert.True(failed > 5, $"only {failed} of {tried} fault runs failed an operation");
    }
}
