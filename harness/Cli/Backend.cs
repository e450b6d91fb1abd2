// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;

namespace Iommufd.Cli;

/// <summary>What <c>explore</c> asks of an exploration engine. A null budget is no budget; at
/// least one of the two is set. <paramref name="OnFailure"/> is told about a failure as soon as it
/// is found (before shrinking) so the program can save it even if the run is interrupted later.</summary>
public sealed record ExploreRequest(
    long? Iterations,
    TimeSpan? TimeBudget,
    ulong Seed,
    int MaxSize,
    IReadOnlyList<string> Patches,
    bool OracleOn,
    Action<ExploreProgress>? Progress = null,
    Action<Scenario, Violation>? OnFailure = null,
    CancellationToken Cancel = default,
    bool MixFaults = false);

/// <summary>A progress report during a run.</summary>
public sealed record ExploreProgress(long Sequences, long Operations, TimeSpan Elapsed);

/// <summary>A failure found by exploration: the scenario as generated, the shrunk one, the broken
/// invariant (as seen on the shrunk scenario), its reproducer string and the replay text.</summary>
public sealed record FoundFailure(Scenario Original, Scenario Shrunk, Violation Violation, string Reproducer, string Text);

/// <summary>What an exploration did. The counters cover every sequence run (shrinking runs
/// excluded); <paramref name="ErrorPaths"/> counts the distinct (operation, return code) pairs with a
/// non-zero code.</summary>
public sealed record ExploreOutcome(
    long Sequences,
    long Operations,
    TimeSpan Elapsed,
    IReadOnlyDictionary<string, long> OperationsByKind,
    IReadOnlyDictionary<string, long> ErrorPaths,
    IReadOnlyDictionary<string, long> FaultSites,
    FoundFailure? Failure,
    bool Interrupted,
    long FaultsInjected = 0);

/// <summary>A replayed scenario: the run and its deterministic text rendering.</summary>
public sealed record ReplayOutcome(RunReport Report, string Text);

/// <summary>
/// The seam between the program and the engine that generates, runs, checks and shrinks
/// scenarios. The program only talks to this interface (tests substitute their own engines).
/// </summary>
public interface IExplorationBackend
{
    /// <summary>A short name printed in summaries (which engine produced the numbers).</summary>
    string Name { get; }

    /// <summary>The oracle to check runs with: the engine's own when on, none when off.</summary>
    Func<IOracle> Oracle(bool on);

    ExploreOutcome Explore(ExploreRequest request);

    ReplayOutcome Replay(Scenario scenario);

    /// <summary>A fixed, seed-determined set of scenarios for benchmarks.</summary>
    IReadOnlyList<Scenario> Workload(ulong seed, int count, int maxSize);
}

/// <summary>Chooses the engine. The one place to switch when the real explorer lands.</summary>
public static class Backends
{
    public static IExplorationBackend Create() => new ExplorerBackend(() => new SpecOracle());
}
