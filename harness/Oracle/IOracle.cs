// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;

namespace Iommufd.Harness.Oracle;

/// <summary>
/// Checks a run. It is attached to a world before the first operation (so it can watch events
/// such as every unpin as they happen), told about every step, and asked once more after the
/// teardown. It returns the violations it found; an empty list means the step was correct.
/// </summary>
public interface IOracle
{
    void Attach(IObservation world);
    IReadOnlyList<Violation> AfterStep(int step, Op op, StepResult result);
    IReadOnlyList<Violation> AfterTeardown();
}

/// <summary>An oracle that checks nothing (benchmarks measure the harness without it).</summary>
public sealed class NullOracle : IOracle
{
    public void Attach(IObservation world) { }
    public IReadOnlyList<Violation> AfterStep(int step, Op op, StepResult result) => [];
    public IReadOnlyList<Violation> AfterTeardown() => [];
}
