// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;

namespace Iommufd.Harness.Oracle;

/// <summary>
/// The stand-in oracle: reports what the fake kernel itself detects (WARN_ON, lockdep and fake
/// misuse, invariant h) after every step, and after teardown the leftovers it can see without a
/// specification (pins, live allocations, unbalanced mm/task references; part of invariant j).
/// It knows nothing about what the port should have done.
/// </summary>
public sealed class KernelChecksOracle : IOracle
{
    private World? world;
    private int seen;

    public void Attach(World world) => this.world = world;

    public IReadOnlyList<Violation> AfterStep(int step, Op op, StepResult result) => NewChecks(step);

    public IReadOnlyList<Violation> AfterTeardown()
    {
        var found = NewChecks(-1).ToList();
        if (world is null) return found;
        var kernel = world.Kernel;
        var pins = kernel.Phys.PinnedFrames();
        if (pins.Count > 0)
            found.Add(new Violation("j", -1, $"{pins.Count} frames still pinned after teardown", string.Join("\n", pins.Take(8))));
        var live = kernel.Allocator.Live;
        if (live.Count > 0)
            found.Add(new Violation("j", -1, $"{live.Count} allocations leaked", string.Join("\n", live.Take(8))));
        var refs = kernel.ReferenceImbalances();
        if (refs.Count > 0)
            found.Add(new Violation("j", -1, "unbalanced references after teardown", string.Join("\n", refs)));
        return found;
    }

    private List<Violation> NewChecks(int step)
    {
        if (world is null) return [];
        var all = world.Kernel.Checks.Violations;
        var fresh = all.Skip(seen).Select(c => new Violation("h", step, c.ToString())).ToList();
        seen = all.Count;
        return fresh;
    }
}
