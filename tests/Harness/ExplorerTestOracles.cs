// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Execution;
using Iommufd.Harness.Exploration;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;

namespace Iommufd.Tests.Harness;

/// <summary>Fails on a synthetic condition of the scenario alone (no model knowledge): invariant
/// "x" at the first step where at least <see cref="Threshold"/> AccessPin operations of length at
/// least two pages have been seen. Used to check that shrinking is minimal.</summary>
internal sealed class SyntheticOracle(int threshold) : IOracle
{
    public int Threshold { get; } = threshold;
    private int seen;

    public void Attach(IObservation world) { }

    public IReadOnlyList<Violation> AfterStep(int step, Op op, StepResult result)
    {
        if (op is AccessPin { Length: >= 2 * 4096 })
            seen++;
        return seen >= Threshold ? [new Violation("x", step, $"{seen} long pins")] : [];
    }

    public IReadOnlyList<Violation> AfterTeardown() => [];
}

/// <summary>Records what an exploration told its observer.</summary>
internal sealed class RecordingObserver : IExplorationObserver
{
    public List<ExplorationProgress> Runs { get; } = [];
    public List<FoundFailure> Found { get; } = [];
    public void OnRun(ExplorationProgress progress) => Runs.Add(progress);
    public void OnFound(FoundFailure found) => Found.Add(found);
}
