// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Cli;
using Iommufd.Harness.Execution;
using Iommufd.Harness.Exploration;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;
using Iommufd.Harness.Repro;
using Iommufd.Model.Port;
using static Iommufd.Tests.Harness.CliTestSupport;
using Iommufd.Model.Patches;

namespace Iommufd.Tests.Harness;

/// <summary>explore: consistent for a fixed seed, saves what it finds, reports a summary.</summary>
public class CliExploreTests
{
    /// <summary>The summary lines that depend on the clock.</summary>
    private static string WithoutTimings(string text) =>
        string.Join("\n", text.Split('\n').Where(l => !l.Contains("elapsed:") && !l.Contains("/s:")));

    [Theory]
    [InlineData(1UL)]
    [InlineData(7UL)]
    [InlineData(12345UL)]
    public void A_fixed_seed_and_iteration_budget_give_the_same_outcome_twice(ulong seed)
    {
        var dir = Scratch();
        string[] Args(string file) =>
            ["explore", "--seed", seed.ToString(), "--iterations", "40", "--time", "0", "--max-size", "30", "-q", "-o", Path.Combine(dir.FullName, file)];
        var a = Run(Args("a.txt"));
        var b = Run(Args("b.txt"));
        Assert.InRange(a.Code, 0, 1);
        Assert.Equal(a.Code, b.Code);
        Assert.Equal("", a.Err);
        Assert.Equal(WithoutTimings(a.Out).Replace("a.txt", "X"), WithoutTimings(b.Out).Replace("b.txt", "X"));
        Assert.Contains("sequences:", a.Out);
        Assert.Contains("operations/s:", a.Out);
        Assert.Contains("operations reached:", a.Out);
        Assert.Contains("error paths reached", a.Out);
        if (a.Code == 1)
        {
            // The reproducer file holds the printed reproducer, which replays to a violation.
            string saved = File.ReadAllLines(Path.Combine(dir.FullName, "a.txt")).Single(l => l.StartsWith(ReproducerCodec.Prefix, StringComparison.Ordinal));
            Assert.Contains(saved, a.Out);
            Assert.Equal(saved, File.ReadAllLines(Path.Combine(dir.FullName, "b.txt")).Single(l => l.StartsWith(ReproducerCodec.Prefix, StringComparison.Ordinal)));
            Assert.Contains("VIOLATION: invariant", a.Out);
            var replay = Run("replay", Path.Combine(dir.FullName, "a.txt"));
            Assert.Equal(1, replay.Code);
        }
        else
        {
            Assert.False(File.Exists(Path.Combine(dir.FullName, "a.txt")));
        }
    }

    [Fact]
    public void Patch_all_switches_on_every_named_patch()
    {
        var run = Run("explore", "--patch", "all", "--seed", "3", "--iterations", "5", "--time", "0", "-q");
        Assert.InRange(run.Code, 0, 1);
        string header = run.Out.Split('\n')[0];
        foreach (string name in ModelPatches.AllFindings)
            Assert.Contains(name, header);
        // Naming one patch again next to 'all' changes nothing.
        var again = Run("explore", "--patch", "all", "--patch", ModelPatches.BatchCarryEnd, "--seed", "3", "--iterations", "5", "--time", "0", "-q");
        Assert.Equal(header, again.Out.Split('\n')[0]);
    }

    [Fact]
    public void A_found_violation_is_printed_saved_and_replays_to_the_same_invariant()
    {
        // As released, seed 2 finds the v6.2 carry defect within a few hundred sequences.
        var dir = Scratch();
        string file = Path.Combine(dir.FullName, "sub", "found.txt");
        var run = Run("explore", "--seed", "2", "--iterations", "400", "--time", "0", "-q", "-o", file);
        Assert.Equal(1, run.Code);
        string repro = File.ReadAllLines(file).Single(l => l.StartsWith(ReproducerCodec.Prefix, StringComparison.Ordinal));
        Assert.Contains(repro, run.Out);
        Assert.Matches(@"minimal sequence \(\d+ of \d+ operations\)", run.Out);
        Assert.Contains($"reproducer written to {file}", run.Out);
        var replay = Run("replay", file);
        Assert.Equal(1, replay.Code);
        Assert.Contains("result:  invariant ", replay.Out);
    }

    /// <summary>A synthetic failure (two long pins), interrupting the run (as a Ctrl+C would) when it reports it.</summary>
    private sealed class InterruptingOracle(CancellationTokenSource interrupt) : IOracle
    {
        private readonly SyntheticOracle inner = new(2);
        public void Attach(IObservation world) => inner.Attach(world);
        public IReadOnlyList<Violation> AfterStep(int step, Op op, StepResult result) => Interrupt(inner.AfterStep(step, op, result));
        public IReadOnlyList<Violation> AfterTeardown() => Interrupt(inner.AfterTeardown());

        private IReadOnlyList<Violation> Interrupt(IReadOnlyList<Violation> found)
        {
            if (found.Count > 0)
                interrupt.Cancel();
            return found;
        }
    }

    [Fact]
    public void A_failure_found_before_an_interrupt_is_still_reported_and_saved()
    {
        var dir = Scratch();
        string file = Path.Combine(dir.FullName, "interrupted.txt");
        using var interrupt = new CancellationTokenSource();
        var services = CliServices.Default with { Oracle = () => new InterruptingOracle(interrupt) };
        var run = Run(interrupt.Token, services, "explore", "--seed", "2", "--iterations", "400", "--time", "0", "-q", "-o", file);
        Assert.Equal(1, run.Code);
        Assert.Contains("summary (interrupted):", run.Out);
        Assert.Contains("VIOLATION (shrinking was interrupted, the sequence may not be minimal)", run.Out);
        string repro = File.ReadAllLines(file).Single(l => l.StartsWith(ReproducerCodec.Prefix, StringComparison.Ordinal));
        Assert.Contains(repro, run.Out);
        Assert.InRange(Run("replay", file).Code, 0, 1); // saved whole: it decodes and replays
    }

    [Fact]
    public void An_interrupt_before_anything_ran_exits_0_with_an_interrupted_summary()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        var dir = Scratch();
        var run = Run(cancelled.Token, null, "explore", "--seed", "5", "-q", "-o", Path.Combine(dir.FullName, "r.txt"));
        Assert.Equal(0, run.Code);
        Assert.Contains("summary (interrupted):", run.Out);
        Assert.Contains("sequences:      0", run.Out);
    }

    [Fact]
    public void Quiet_runs_write_nothing_to_stderr_and_progress_never_goes_to_stdout()
    {
        var dir = Scratch();
        var run = Run("explore", "--seed", "2", "--iterations", "5", "--time", "0", "--max-size", "10", "-q", "-o", Path.Combine(dir.FullName, "r.txt"));
        Assert.Equal("", run.Err);
        Assert.DoesNotContain("iommufd-verify: ", run.Out);
    }

    [Fact]
    public void The_header_states_the_budget_the_model_and_the_oracle()
    {
        var dir = Scratch();
        var run = Run("explore", "--seed", "2", "--iterations", "3", "--time", "0", "--max-size", "10", "--no-oracle", "-q", "-o", Path.Combine(dir.FullName, "r.txt"));
        Assert.StartsWith("iommufd-verify explore: seed 2, budget 3 sequences, max size 10, model as released, oracle off", run.Out);
    }

    [Fact]
    public void Bench_reports_both_modes_without_asserting_numbers()
    {
        var run = Run("bench", "--seconds", "0.2", "--sequences", "3", "--max-size", "8");
        Assert.Equal(0, run.Code);
        Assert.Equal("", run.Err);
        foreach (string word in new[] { "oracle on", "oracle off", "sequences/s", "operations/s" })
            Assert.Contains(word, run.Out);
    }

    [Fact]
    public void Patches_lists_every_named_patch()
    {
        var run = Run("patches");
        Assert.Equal(0, run.Code);
        foreach (var patch in ModelPatches.Catalog)
        {
            string line = run.Out.Split('\n').Single(l => l.TrimStart('|', ' ').StartsWith(patch.Name + " ", StringComparison.Ordinal));
            Assert.Contains(patch.Kind switch { PatchKind.Kernel => "pages.c", PatchKind.Callers => "callers", _ => "selftest" }, line);
        }
    }
}
