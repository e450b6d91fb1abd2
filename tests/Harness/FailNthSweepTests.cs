// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Execution;
using Iommufd.Harness.FaultInjection;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;
using Xunit.Abstractions;

namespace Iommufd.Tests.Harness;

public class FailNthSweepTests(ITestOutputHelper output)
{
    internal static readonly Op[] Lifecycle =
    [
        new MapUserMemory(0, [new Segment(SegmentKind.Run, 8), new Segment(SegmentKind.Scattered, 4)]),
        new CreatePages(0, 0, 12 * 4096, true, 0),
        new CreateIopt(),
        new AttachDomain(0, DomainKind.PageTable),
        new MapArea(0, 0, 0, 12 * 4096, null, true),
        new AttachDomain(0, DomainKind.Mock),
        new CreateAccess(0),
        new AccessPin(0, 0, 0, 3 * 4096, true),
        new AccessRw(0, 0, 100, 5000, true, RwContext.OtherMm, false, 7),
        new AccessRw(0, 0, 100, 5000, false, RwContext.Kthread, true, 0),
        new DetachDomain(0),
        new AccessUnpin(0),
        new UnmapArea(0),
    ];

    [Fact]
    public void Every_step_is_swept_until_it_reaches_no_more_sites_and_every_failure_is_recovered()
    {
        var result = FailNthSweep.Run(Scenario.AsReleased(Lifecycle), () => new NullOracle());
        Assert.False(result.Baseline.Failed, result.Baseline.Violation?.ToString());
        Assert.NotEmpty(result.Runs);
        // Each run failed exactly one hit, in the step and at the hit number its plan names.
        foreach (var run in result.Runs)
        {
            var fault = Assert.Single(run.Report.Injected);
            Assert.Equal(run.Step, fault.Step);
        }
        // For each step the hit numbers are 1..k with no gap (the sweep stops at the first N not reached).
        foreach (var g in result.Runs.GroupBy(r => r.Step))
            Assert.Equal(Enumerable.Range(1, g.Count()).Select(i => (long)i), g.Select(r => r.N));
        foreach (var f in result.Failures)
            output.WriteLine($"step {f.Step} n {f.N} {f.Injected}: {f.Report.Violation}");
        Assert.Empty(result.Failures);
        Assert.All(result.Sites.Where(s => s.Failed > 0), s => Assert.Equal(s.Failed, s.Recovered));
    }

    [Fact]
    public void The_same_scenario_sweeps_identically_twice()
    {
        var a = FailNthSweep.Run(Scenario.AsReleased(Lifecycle.Take(6).ToArray()), () => new NullOracle());
        var b = FailNthSweep.Run(Scenario.AsReleased(Lifecycle.Take(6).ToArray()), () => new NullOracle());
        Assert.Equal(a.Runs.Select(r => (r.Plan, r.Injected)), b.Runs.Select(r => (r.Plan, r.Injected)));
        Assert.Equal(a.Sites, b.Sites);
    }

    [Fact]
    public void A_failed_all_or_nothing_operation_that_changed_the_state_is_reported()
    {
        var world = new World(new Iommufd.Faults.FaultInjector(new Iommufd.Faults.NoFaults()));
        var oracle = new AllOrNothingOracle(new NullOracle());
        oracle.Attach(world);
        var map = new MapUserMemory(0, [new Segment(SegmentKind.Run, 2)]);
        Assert.Empty(oracle.AfterStep(0, map, world.Apply(map)));
        // Break the invariant on purpose: a pin appears while an attach "fails".
        ulong pfn = world.Regions[0].Owner.Task.mm!.Space.Translate(world.Regions[0].BaseVa)!.Value;
        world.Kernel.Phys.Pin(pfn);
        var violations = oracle.AfterStep(1, new AttachDomain(0, DomainKind.Mock), new StepResult(-12));
        var v = Assert.Single(violations);
        Assert.Equal("all-or-nothing", v.Invariant);
        Assert.Contains($"frame {pfn:x}: pins 1", v.State);
        // The same change after a successful or a non-all-or-nothing operation is not this violation.
        world.Kernel.Phys.Unpin(pfn, false);
        Assert.Empty(oracle.AfterStep(2, new AttachDomain(0, DomainKind.Mock), new StepResult(0)));
        world.Kernel.Phys.Pin(pfn);
        Assert.Empty(oracle.AfterStep(3, new UnmapArea(0), new StepResult(-2)));
    }

    [Fact]
    public void A_destroy_operation_failing_after_an_injected_fault_is_reported()
    {
        var world = new World(new Iommufd.Faults.FaultInjector(new Iommufd.Faults.ExplicitFaults([("test.site", 1)])));
        var oracle = new DestroyNeverFailsOracle(new NullOracle());
        oracle.Attach(world);
        // No fault yet: a failing unmap is not this invariant (the oracle proper judges its rc).
        Assert.Empty(oracle.AfterStep(0, new UnmapArea(0), new StepResult(-2)));
        // Break it on purpose: a fault is injected during the step and the destroy returns an error.
        Assert.True(world.Kernel.ShouldFail("test.site"));
        var v = Assert.Single(oracle.AfterStep(1, new DetachDomain(0), new StepResult(-12)));
        Assert.Equal("destroy-never-fails", v.Invariant);
        Assert.Contains("test.site", v.Message);
        // A non-destroy operation failing after a fault is fine here.
        Assert.False(world.Kernel.ShouldFail("test.site"));
        Assert.Empty(oracle.AfterStep(2, new MapArea(0, 0, 0, 4096, null, true), new StepResult(-12)));
    }
}
