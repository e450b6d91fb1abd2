// SPDX-License-Identifier: GPL-2.0-only
using System.Diagnostics;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;

namespace Iommufd.Harness.Scheduling;

/// <summary>What an interleaving exploration does: scenario i is generated from
/// <c>SeedMix.Derive(Seed, i)</c> and explored with up to <see cref="Schedules"/> schedules of a
/// strategy seeded with <c>SeedMix.Derive(Seed, i | 1 &lt;&lt; 63)</c>. It stops at the first
/// violation, after <see cref="Iterations"/> scenarios, or when <see cref="TimeBudget"/> is spent.</summary>
public sealed record InterleaveOptions
{
    public StrategySpec Strategy { get; init; } = new("pct");
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
    public Action<InterleaveReport>? OnFailure { get; init; }
    /// <summary>The oracle every run is checked with (null: a fresh <see cref="SpecOracle"/> per run).</summary>
    public Func<IOracle>? Oracle { get; init; }
    public Action<InterleaveStats>? Progress { get; init; }
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
/// Explores generated concurrent scenarios under a scheduling strategy and shrinks the first
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
        var lastProgress = TimeSpan.Zero;
        for (long i = 0; o.Iterations <= 0 || i < o.Iterations; i++)
        {
            if (o.Cancel.IsCancellationRequested)
                return new InterleaveResult(Stats(), null, true);
            if (o.TimeBudget is { } budget && clock.Elapsed >= budget)
                break;
            var scenario = ConcurrentScenarioGenerator.Generate(SeedMix.Derive(o.Seed, (ulong)i), o.Generation, o.Patches);
            ulong strategySeed = SeedMix.Derive(o.Seed, (ulong)i | 1UL << 63);
            var strategy = o.Strategy.Create(strategySeed);
            scenarios++;
            for (int k = 0; k < o.Schedules; k++)
            {
                if (!strategy.PrepareNextIteration())
                {
                    exhausted++;
                    break;
                }
                var report = InterleaveRunner.Run(scenario, strategy, o.StepBudget, oracleFactory: o.Oracle);
                schedules++;
                decisions += report.Schedule?.Decisions ?? 0;
                if (report.Violation is { } v)
                {
                    var elapsed = clock.Elapsed; // rates cover exploring, not shrinking
                    o.OnFailure?.Invoke(report);
                    var shrunk = new InterleaveShrinker(o.Strategy, strategySeed, o.ShrinkBudget, stepBudget: o.StepBudget, cancel: o.Cancel)
                        .Shrink(scenario, report.ScheduleChoices, v);
                    var replay = new ReplayStrategy(shrunk.Schedule, o.Strategy.Name);
                    replay.PrepareNextIteration();
                    var shrunkReport = InterleaveRunner.Run(shrunk.Scenario, replay, o.StepBudget);
                    string repro = InterleaveReproducerCodec.Encode(new InterleaveReproducer(shrunk.Scenario, o.Strategy.Name, shrunk.Schedule));
                    return new InterleaveResult(new InterleaveStats(scenarios, schedules, decisions, exhausted, elapsed),
                        new InterleaveFinding(i, report, shrunk, shrunkReport, repro), o.Cancel.IsCancellationRequested);
                }
            }
            if (o.Progress is { } progress && clock.Elapsed - lastProgress >= TimeSpan.FromSeconds(2))
            {
                lastProgress = clock.Elapsed;
                progress(Stats());
            }
        }
        return new InterleaveResult(Stats(), null, false);
    }

    /// <summary>Replays a reproducer exactly and renders the run.</summary>
    public static (InterleaveReport Report, string Text) Replay(InterleaveReproducer r, int stepBudget = InterleaveRunner.DefaultStepBudget)
    {
        var replay = new ReplayStrategy(r.Schedule, r.Strategy);
        replay.PrepareNextIteration();
        var report = InterleaveRunner.Run(r.Scenario, replay, stepBudget);
        return (report, InterleaveRenderer.Render(report));
    }
}
