// SPDX-License-Identifier: GPL-2.0-only
using System.Diagnostics;
using Iommufd.Harness.Execution;
using Iommufd.Harness.Exploration;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;

namespace Iommufd.Harness.Scheduling;

/// <summary>What an interleaving exploration does: scenario i is generated from
/// <c>SeedMix.Derive(Seed, i)</c> and explored by the engine with up to <see cref="Schedules"/>
/// schedules of its strategy seeded with <c>SeedMix.Derive(Seed, i | 1 &lt;&lt; 63)</c>. It stops at the
/// first violation, after <see cref="Iterations"/> scenarios, or when <see cref="TimeBudget"/> is spent.</summary>
public sealed record InterleaveOptions
{
    /// <summary>The engine that chooses the schedules (default: ours, with PCT).</summary>
    public IInterleavingEngine Engine { get; init; } = new ControlledEngine(new StrategySpec("pct"));
    /// <summary>The code under test (default: the C# port).</summary>
    public ISystemUnderTest System { get; init; } = PortSystem.Instance;
    public ulong Seed { get; init; } = 1;
    /// <summary>Scenarios at most (0: no limit, then a time budget is needed).</summary>
    public long Iterations { get; init; } = 100;
    /// <summary>Schedules per scenario at most (fewer if the strategy is exhausted first).</summary>
    public int Schedules { get; init; } = 50;
    public TimeSpan? TimeBudget { get; init; }
    public IReadOnlyList<string> Patches { get; init; } = [];
    public ConcurrentGenOptions Generation { get; init; } = ConcurrentGenOptions.Default;
    public int StepBudget { get; init; } = InterleaveRunner.DefaultStepBudget;
    /// <summary>Runs the shrinker may spend on a failure.</summary>
    public int ShrinkBudget { get; init; } = 1000;
    /// <summary>The oracle every run is checked with (null: a fresh <see cref="SpecOracle"/> per run).</summary>
    public Func<IOracle>? Oracle { get; init; }
    /// <summary>Told after every scenario (runs: scenarios, work: schedules), and about a failure as
    /// soon as it is found (before shrinking).</summary>
    public IExplorationObserver Observer { get; init; } = NullObserver.Instance;
    public CancellationToken Cancel { get; init; }
}

/// <summary>Counters of an interleaving exploration (everything but <see cref="Elapsed"/> is deterministic).</summary>
public sealed record InterleaveStats(long Scenarios, long Schedules, long Decisions, long ExhaustedScenarios, TimeSpan Elapsed)
{
    public double SchedulesPerSecond => Elapsed.TotalSeconds > 0 ? Schedules / Elapsed.TotalSeconds : 0;
}

/// <summary>A concurrent failure: the run that found it, and the shrunk scenario and schedule with its reproducer.</summary>
public sealed record InterleaveFinding(
    long Iteration,
    InterleaveReport Original,
    InterleaveShrinkResult Shrunk,
    InterleaveReport ShrunkReport,
    string Reproducer);

public sealed record InterleaveResult(InterleaveStats Stats, InterleaveFinding? Finding, bool Interrupted);

/// <summary>
/// Explores generated concurrent scenarios with an interleaving engine and shrinks the first
/// failure. Deterministic for a given seed and iteration budget.
/// </summary>
public static class InterleaveExplorer
{
    public static InterleaveResult Explore(InterleaveOptions o)
    {
        if (o.Iterations <= 0 && o.TimeBudget is null)
            throw new ArgumentException("an exploration needs an iteration budget, a time budget or both", nameof(o));
        var clock = Stopwatch.StartNew();
        long scenarios = 0, schedules = 0, decisions = 0, exhausted = 0;
        InterleaveStats Stats() => new(scenarios, schedules, decisions, exhausted, clock.Elapsed);
        var engine = o.Engine;
        for (long i = 0; o.Iterations <= 0 || i < o.Iterations; i++)
        {
            if (o.Cancel.IsCancellationRequested)
                return new InterleaveResult(Stats(), null, true);
            if (o.TimeBudget is { } budget && clock.Elapsed >= budget)
                break;
            var scenario = ConcurrentScenarioGenerator.Generate(SeedMix.Derive(o.Seed, (ulong)i), o.Generation, o.Patches)
                with { Backend = o.System.Id == PortSystem.PortId ? null : o.System.Id };
            ulong strategySeed = SeedMix.Derive(o.Seed, (ulong)i | 1UL << 63);
            scenarios++;
            var explored = engine.Explore(strategySeed, o.Schedules,
                run => InterleaveRunner.Run(o.System, scenario, engine, run, o.StepBudget, o.Oracle), o.Cancel);
            schedules += explored.Schedules;
            decisions += explored.Decisions;
            if (explored.Exhausted)
                exhausted++;
            if (explored.Failure is { Violation: { } v } report)
            {
                var elapsed = clock.Elapsed; // rates cover exploring, not shrinking
                o.Observer.OnFound(new FoundFailure(InterleaveReproducerCodec.Encode(report.Reproducer), v,
                    InterleaveRenderer.Describe(v, report.Scenario)));
                var shrunk = new InterleaveShrinker(o.System, engine, strategySeed, o.ShrinkBudget, stepBudget: o.StepBudget, cancel: o.Cancel)
                    .Shrink(scenario, report.Reproducer.Trace, v);
                var shrunkReport = engine.Replay(shrunk.Trace, strict: true,
                    run => InterleaveRunner.Run(o.System, shrunk.Scenario, engine, run, o.StepBudget));
                string repro = InterleaveReproducerCodec.Encode(shrunkReport.Reproducer);
                return new InterleaveResult(new InterleaveStats(scenarios, schedules, decisions, exhausted, elapsed),
                    new InterleaveFinding(i, report, shrunk, shrunkReport, repro), o.Cancel.IsCancellationRequested);
            }
            o.Observer.OnRun(new ExplorationProgress(scenarios, schedules, clock.Elapsed));
        }
        return new InterleaveResult(Stats(), null, false);
    }

    /// <summary>Replays a reproducer exactly (on the code under test it names) and renders the run.</summary>
    public static (InterleaveReport Report, string Text) Replay(InterleaveReproducer r, ISystemUnderTest? system = null,
        int stepBudget = InterleaveRunner.DefaultStepBudget)
    {
        var engine = InterleavingEngines.Create(r.Engine, r.Strategy);
        var report = engine.Replay(r.Trace, strict: true, run => InterleaveRunner.Run(system ?? PortSystem.Instance, r.Scenario, engine, run, stepBudget));
        return (report, InterleaveRenderer.Render(report));
    }
}
