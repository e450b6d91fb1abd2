// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;

namespace Iommufd.Harness.FaultInjection;

/// <summary>
/// Wraps an oracle and adds the all-or-nothing check: an operation documented to leave the state
/// unchanged when it fails (filling domains, filling the xarray for an access, attaching a domain,
/// mapping or copying an area) must, when it returns an error, leave exactly the state it found.
/// Reported as invariant "all-or-nothing" with the state difference.
/// </summary>
public sealed class AllOrNothingOracle(IOracle inner) : IOracle
{
    private IObservation? world;
    private StateSnapshot? before;

    /// <summary>Operations whose failure must leave the state unchanged.</summary>
    public static bool IsAllOrNothing(Op op) =>
        op is MapArea or CopyArea or AttachDomain or AccessPin;

    public void Attach(IObservation w)
    {
        world = w;
        inner.Attach(w);
        before = StateSnapshot.Take(w);
    }

    public IReadOnlyList<Violation> AfterStep(int step, Op op, StepResult result)
    {
        var found = inner.AfterStep(step, op, result);
        if (found.Count > 0)
            return found;
        var after = StateSnapshot.Take(world!);
        var prior = before!;
        before = after;
        if (IsAllOrNothing(op) && !result.Skipped && result.Rc != 0 && !prior.SameAs(after))
            return [new Violation("all-or-nothing", step,
                $"{op.GetType().Name} failed with {result.Rc} but changed the state", StateSnapshot.Diff(prior, after))];
        return [];
    }

    public IReadOnlyList<Violation> AfterTeardown() => inner.AfterTeardown();

    /// <summary>The snapshot before the next step (for callers that check steps themselves).</summary>
    public StateSnapshot? Before => before;
}
