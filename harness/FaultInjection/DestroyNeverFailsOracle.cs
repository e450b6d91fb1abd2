// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;

namespace Iommufd.Harness.FaultInjection;

/// <summary>
/// Wraps an oracle with pages.c's promise that destroy never fails: an operation that tears
/// something down (unmap an area, detach a domain, unpin or destroy an access, drop a pages
/// reference) must succeed even when a fault was injected during it. The wrapped oracle then
/// checks that the state it left is correct. Reported as invariant "destroy-never-fails".
/// </summary>
public sealed class DestroyNeverFailsOracle(IOracle inner) : IOracle
{
    private IObservation? world;
    private int injectedBefore;

    /// <summary>Operations that only destroy: pages.c's destroy paths run under them.</summary>
    public static bool IsDestroy(Op op) =>
        op is UnmapArea or DetachDomain or AccessUnpin or DestroyAccess or PutPages;

    public void Attach(IObservation w)
    {
        world = w;
        inner.Attach(w);
    }

    public IReadOnlyList<Violation> AfterStep(int step, Op op, StepResult result)
    {
        var found = inner.AfterStep(step, op, result);
        int injectedNow = world!.Faults.Injected.Count;
        bool faulted = injectedNow > injectedBefore;
        injectedBefore = injectedNow;
        if (found.Count > 0)
            return found;
        if (IsDestroy(op) && !result.Skipped && result.Rc != 0 && faulted)
            return [new Violation("destroy-never-fails", step,
                $"{op.GetType().Name} returned {result.Rc} after an injected fault ({world.Faults.Injected[^1].Site})")];
        return [];
    }

    public IReadOnlyList<Violation> AfterTeardown() => inner.AfterTeardown();
}
