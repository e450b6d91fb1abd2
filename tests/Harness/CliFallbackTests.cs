// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Cli;
using Iommufd.Faults;
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;
using Iommufd.Harness.Repro;
using Iommufd.Model.Kernel;

namespace Iommufd.Tests.Harness;

/// <summary>The stand-in engine the program uses until the real explorer is wired in.</summary>
public class CliFallbackTests
{
    [Fact]
    public void Generation_is_a_pure_function_of_the_seed()
    {
        var a = new FallbackBackend().Workload(42, 8, 30).Select(ReproducerCodec.Encode).ToArray();
        var b = new FallbackBackend().Workload(42, 8, 30).Select(ReproducerCodec.Encode).ToArray();
        var c = new FallbackBackend().Workload(43, 8, 30).Select(ReproducerCodec.Encode).ToArray();
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.Equal(8, a.Distinct().Count());
    }

    [Fact]
    public void Generated_maps_stay_inside_the_pages_they_map()
    {
        foreach (var scenario in new FallbackBackend().Workload(9, 50, 40))
        {
            var pages = scenario.Ops.OfType<CreatePages>().Select(p => p.Length).Distinct().Single();
            foreach (var map in scenario.Ops.OfType<MapArea>())
                Assert.True(map.StartByte + map.Length <= pages, $"{map} past {pages}");
        }
    }

    [Fact]
    public void Explore_counts_what_it_ran_and_is_repeatable()
    {
        var request = new ExploreRequest(25, null, 11, 20, [], OracleOn: false);
        var a = new FallbackBackend().Explore(request);
        var b = new FallbackBackend().Explore(request);
        Assert.Equal(a.Sequences, b.Sequences);
        Assert.Equal(a.Operations, b.Operations);
        Assert.Equal(a.OperationsByKind, b.OperationsByKind);
        Assert.Equal(a.ErrorPaths, b.ErrorPaths);
        Assert.Equal(a.Failure?.Reproducer, b.Failure?.Reproducer);
        Assert.Equal(a.Operations, a.OperationsByKind.Values.Sum());
        Assert.True(a.Sequences is > 0 and <= 25);
    }

    [Fact]
    public void Shrinking_keeps_the_invariant_and_never_grows_the_scenario()
    {
        // Seed 1 of the stand-in generator runs into the v6.2 batch_clear_carry defect.
        var outcome = new FallbackBackend().Explore(new ExploreRequest(200, null, 1, 100, [], OracleOn: true));
        Assert.NotNull(outcome.Failure);
        var f = outcome.Failure!;
        Assert.True(f.Shrunk.Ops.Count <= f.Original.Ops.Count);
        var replay = Runner.Run(ReproducerCodec.Decode(f.Reproducer), new FallbackBackend().Oracle(true));
        Assert.Equal(f.Violation.Invariant, replay.Violation?.Invariant);
        Assert.Equal(f.Text, new FallbackBackend().Replay(f.Shrunk).Text);
    }

    [Fact]
    public void The_kernel_checks_oracle_reports_a_fired_check_as_invariant_h_once()
    {
        var world = new World(new FaultInjector(new NoFaults()));
        var oracle = new KernelChecksOracle();
        oracle.Attach(world);
        Assert.Empty(oracle.AfterStep(0, new CreateIopt(), new StepResult(0)));
        world.Kernel.Checks.Report(CheckKind.Warn, "test_function", "WARN_ON");
        var found = oracle.AfterStep(1, new CreateIopt(), new StepResult(0));
        var v = Assert.Single(found);
        Assert.Equal("h", v.Invariant);
        Assert.Equal(1, v.Step);
        Assert.Contains("test_function", v.Message);
        Assert.Empty(oracle.AfterStep(2, new CreateIopt(), new StepResult(0)));
    }

    [Fact]
    public void The_kernel_checks_oracle_reports_pins_left_after_teardown_as_invariant_j()
    {
        var world = new World(new FaultInjector(new NoFaults()));
        var oracle = new KernelChecksOracle();
        oracle.Attach(world);
        Assert.Empty(oracle.AfterTeardown());
        // Leave a pin behind on purpose: an access pins a page and the run stops without teardown
        // of that pin (the world's TearDown is not called).
        foreach (var op in CliTestSupport.Clean().Ops.Take(5))
            world.Apply(op);
        world.Apply(new CreateAccess(0));
        Assert.Equal(0, world.Apply(new AccessPin(0, 0, 0, 4096, true)).Rc);
        var found = oracle.AfterTeardown();
        Assert.Contains(found, v => v.Invariant == "j" && v.Message.Contains("still pinned"));
    }

    [Fact]
    public void The_no_oracle_setting_checks_nothing()
    {
        var oracle = new FallbackBackend().Oracle(false)();
        Assert.IsType<NullOracle>(oracle);
    }

    [Fact]
    public void Quick_bench_runs_every_mode_at_least_once_and_counts_operations()
    {
        var workload = new FallbackBackend().Workload(1, 2, 8);
        var results = QuickBench.Measure([("a", () => new NullOracle()), ("b", () => new KernelChecksOracle())], workload, TimeSpan.Zero);
        Assert.Equal(["a", "b"], results.Select(r => r.Mode));
        foreach (var r in results)
        {
            Assert.True(r.Sequences >= 1);
            Assert.True(r.Operations >= 1);
        }
    }
}
