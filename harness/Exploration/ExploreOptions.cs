// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;

using Iommufd.Harness.Oracle;

namespace Iommufd.Harness.Exploration;

/// <summary>
/// What an exploration does. It stops at the first violation, after <see cref="Iterations"/>
/// scenarios (0: no limit), or when <see cref="TimeBudget"/> is spent, whichever comes first.
/// With an iteration budget only, the result is a pure function of the options.
/// </summary>
public sealed record ExploreOptions
{
    /// <summary>Scenarios to run at most (0: unlimited, then a time budget is needed).</summary>
    public int Iterations { get; init; } = 1000;
    /// <summary>Wall-clock budget, checked between scenarios; null: none.</summary>
    public TimeSpan? TimeBudget { get; init; }
    /// <summary>Master seed; scenario i uses <c>SeedMix.Derive(Seed, i)</c>.</summary>
    public ulong Seed { get; init; } = 1;
    /// <summary>Largest FsCheck size (1..100); scenario i has size <c>1 + i % MaxSize</c>.</summary>
    public int MaxSize { get; init; } = GenerationOptions.MaxSize;
    public GenerationOptions Generation { get; init; } = GenerationOptions.Default;
    /// <summary>The model variant: the named patches switched on (empty: as released).</summary>
    public IReadOnlyList<string> Patches { get; init; } = [];
    /// <summary>Give some scenarios a seeded probabilistic fault plan (off: no faults).</summary>
    public bool MixFaultPlans { get; init; }
    /// <summary>Runs the shrinker may spend on a failure.</summary>
    public int ShrinkBudget { get; init; } = 2000;
    /// <summary>The code under test (default: the C# port).</summary>
    public ISystemUnderTest System { get; init; } = PortSystem.Instance;
    /// <summary>Told after every sequence, and about a failure as soon as it is found (before shrinking).</summary>
    public IExplorationObserver Observer { get; init; } = NullObserver.Instance;
    /// <summary>Stops the run between sequences (and shrinking between candidates); what was found is kept.</summary>
    public CancellationToken Cancel { get; init; }
}
