// SPDX-License-Identifier: GPL-2.0-only
using System.Diagnostics;
using System.Globalization;
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;
using Iommufd.Harness.Repro;

namespace Iommufd.Harness.Exploration;

/// <summary>A failure found by an exploration: where it came from, the scenario as generated
/// and as shrunk, the violation the shrunk scenario shows, and its reproducer string.</summary>
public sealed record Finding(
    int Iteration,
    ulong ScenarioSeed,
    int Size,
    Scenario Original,
    Violation OriginalViolation,
    Scenario Shrunk,
    Violation Violation,
    string Reproducer,
    int ShrinkRuns);

/// <summary>The outcome of an exploration: its counters and the failure it found, if any.</summary>
public sealed record ExploreResult(ExploreStats Stats, Finding? Finding, bool Interrupted = false)
{
    public bool Found => Finding is not null;
}

/// <summary>A replayed scenario: the run report and its deterministic text rendering.</summary>
public sealed record ReplayResult(RunReport Report, string Text);

/// <summary>
/// Throws generated scenarios at the model, one fresh world per scenario, checks each with a new
/// oracle from the factory, and on the first failure shrinks it and returns it with its
/// reproducer. Scenario i is generated from <c>SeedMix.Derive(seed, i)</c> at size
/// <c>1 + i % MaxSize</c>, so the same options (with an iteration budget) give the same result.
/// </summary>
public sealed class Explorer(Func<IOracle> oracleFactory)
{
    public ExploreResult Explore(ExploreOptions options)
    {
        if (options.Iterations <= 0 && options.TimeBudget is null)
            throw new ArgumentException("an exploration needs an iteration budget, a time budget or both", nameof(options));
        int maxSize = Math.Clamp(options.MaxSize, 1, GenerationOptions.MaxSize);
        var clock = Stopwatch.StartNew();
        var stats = new ExploreStats.Builder();
        Finding? finding = null;
        bool interrupted = false;
        TimeSpan? explored = null;
        for (int i = 0; options.Iterations <= 0 || i < options.Iterations; i++)
        {
            if (options.Cancel.IsCancellationRequested)
            {
                interrupted = true;
                break;
            }
            if (options.TimeBudget is { } budget && clock.Elapsed >= budget)
                break;
            ulong seed = SeedMix.Derive(options.Seed, (ulong)i);
            int size = 1 + i % maxSize;
            var scenario = ScenarioGenerator.Generate(seed, size, options.Generation, options.Patches, FaultPlanFor(options, seed))
                with { Backend = options.System.Id == PortSystem.PortId ? null : options.System.Id };
            var report = Runner.Run(options.System, scenario, oracleFactory);
            stats.Add(report);
            if (report.Violation is { } violation)
            {
                explored = clock.Elapsed; // rates cover exploring, not shrinking
                options.Observer.OnFound(new FoundFailure(ReproducerCodec.Encode(scenario), violation, violation.ToString()));
                // A cancelled shrink stops at once: every further candidate counts as not failing.
                var shrunk = new Shrinker(s => options.Cancel.IsCancellationRequested ? null : Runner.Run(options.System, s, oracleFactory).Violation,
                        options.ShrinkBudget)
                    .Shrink(scenario, violation);
                interrupted = options.Cancel.IsCancellationRequested;
                finding = new Finding(i, seed, size, scenario, violation, shrunk.Scenario, shrunk.Violation,
                    ReproducerCodec.Encode(shrunk.Scenario), shrunk.Runs);
                break;
            }
            options.Observer.OnRun(new ExplorationProgress(stats.Sequences, stats.Operations, clock.Elapsed));
        }
        return new ExploreResult(stats.Build(explored ?? clock.Elapsed), finding, interrupted);
    }

    /// <summary>Runs a scenario on the port and returns its first violation, if any.</summary>
    public Violation? Check(Scenario scenario) => Runner.Run(scenario, oracleFactory).Violation;

    /// <summary>Runs a scenario once (on <paramref name="system"/>, the port by default) and renders
    /// what happened; same scenario, same text.</summary>
    public ReplayResult Replay(Scenario scenario, ISystemUnderTest? system = null)
    {
        var report = Runner.Run(system ?? PortSystem.Instance, scenario, oracleFactory);
        return new ReplayResult(report, ReportRenderer.Render(report));
    }

    /// <summary>No faults unless mixing is on; then a third of the scenarios get a seeded
    /// probabilistic plan over every site.</summary>
    private static string FaultPlanFor(ExploreOptions options, ulong seed)
    {
        if (!options.MixFaultPlans)
            return "none";
        ulong pick = SeedMix.Derive(seed, 0xFA17);
        double[] rates = [0.002, 0.01, 0.05];
        return pick % 3 != 0
            ? "none"
            : $"prob:{SeedMix.Derive(seed, 0xFA18)}:{rates[pick / 3 % 3].ToString("R", CultureInfo.InvariantCulture)}";
    }
}
