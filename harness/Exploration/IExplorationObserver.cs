// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Oracle;

namespace Iommufd.Harness.Exploration;

/// <summary>Where an exploration is: runs done (sequences, fault-injected runs or concurrent
/// scenarios), the work they did (operations or schedules), and the time spent.</summary>
public sealed record ExplorationProgress(long Runs, long Work, TimeSpan Elapsed);

/// <summary>A failure as soon as it is found, before shrinking: its reproducer and violation.</summary>
public sealed record FoundFailure(string Reproducer, Violation Violation, string Description);

/// <summary>
/// What explore, sweep and interleave tell while they run, in the manner of FsCheck's runner:
/// after every run, and once when a failure is found (so that it can be saved before shrinking,
/// and nothing found is lost to an interrupt). The program prints progress and saves reproducers
/// through it; a nightly run samples memory through it. One interface for every exploration.
/// </summary>
public interface IExplorationObserver
{
    void OnRun(ExplorationProgress progress);
    void OnFound(FoundFailure found);
}

/// <summary>Observes nothing.</summary>
public sealed class NullObserver : IExplorationObserver
{
    public static NullObserver Instance { get; } = new();
    public void OnRun(ExplorationProgress progress) { }
    public void OnFound(FoundFailure found) { }
}
