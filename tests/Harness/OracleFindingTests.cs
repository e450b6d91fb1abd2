// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;

namespace Iommufd.Tests.Harness;

/// <summary>
/// Defects of the v6.2 seed that the port reproduces faithfully: the oracle must report them, at
/// the step where they happen. These tests assert that the findings reproduce, not that they are
/// absent.
/// </summary>
public class OracleFindingTests
{
    private const ulong Page = 4096;

    private static (RunReport Report, SpecOracle Oracle) Run(string faults, params Op[] ops)
    {
        SpecOracle? oracle = null;
        var report = Runner.Run(new Scenario([], faults, ops), () => oracle = new SpecOracle());
        return (report, oracle!);
    }

    private static string Dump(RunReport r, SpecOracle o) =>
        $"{r.Violation}\n{r.Violation?.State}\nall: {string.Join("\n", o.Reported)}\n" +
        string.Join("\n", r.Steps.Select(s => $"{s.Index}: {s.Op} -> {s.Result}"));

    /// <summary>pages.c:287 batch_clear_carry: with an access pin in the middle of a PFN-contiguous
    /// area, detaching the last domain unpins the wrong page. The run crashes in batch_unpin or an
    /// invariant breaks; either way at the detach step, and the oracle saw the wrong unpin.</summary>
    [Fact]
    public void V6_2_batch_clear_carry_is_reported_at_the_detach()
    {
        var (r, o) = Run("none",
            new MapUserMemory(0, [new Segment(SegmentKind.Run, 8)]),
            new CreatePages(0, 0, 8 * Page, true, 0),
            new CreateIopt(),
            new AttachDomain(0, DomainKind.PageTable),
            new MapArea(0, 0, 0, 8 * Page, null, true),
            new CreateAccess(0),
            new AccessPin(0, 0, 4096, 4096, false),
            new DetachDomain(0));
        Assert.True(r.Violation is not null, Dump(r, o));
        Assert.Equal(7, r.Violation!.Step);
        Assert.Contains(r.Violation.Invariant, new[] { "crash", "b", "c", "h" });
        // Whatever ended the run, the oracle saw an unpin of a frame that must stay pinned.
        Assert.Contains(o.Reported, v => v.Step == 7 && v.Invariant is "c" or "h");
    }

    // Findings 0003 (fill_domains unpins before it unmaps: invariant c) and 0004 (MM accounting
    // after the owner exits: invariant a) are asserted, as released and patched, in
    // tests/Findings/Finding0003Tests.cs and Finding0004Tests.cs.

    /// <summary>Same scenario, same report: the oracle's findings, messages and state renderings
    /// do not depend on anything but the run.</summary>
    [Fact]
    public void Reports_are_identical_when_a_scenario_is_run_twice()
    {
        Op[] ops =
        [
            new MapUserMemory(0, [new Segment(SegmentKind.Run, 8), new Segment(SegmentKind.Scattered, 8)]),
            new CreatePages(0, 0, 16 * Page, true, 0),
            new CreateIopt(),
            new AttachDomain(0, DomainKind.Mock),
            new AttachDomain(0, DomainKind.PageTable),
            new MapArea(0, 0, 0, 16 * Page, null, true),
            new CreateAccess(0),
            new AccessPin(0, 0, 4096, 4096, false),
            new DetachDomain(0),
            new DetachDomain(0),
        ];
        string Render()
        {
            var (r, o) = Run("none", ops);
            return $"{r.Violation}|{r.Violation?.State}|" + string.Join("|", o.Reported.Select(v => $"{v}#{v.State}"));
        }
        string first = Render();
        Assert.Contains("invariant", first);
        Assert.Equal(first, Render());
    }
}
