// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;

namespace Iommufd.Tests.Harness;

/// <summary>
/// A stand-in for the specification oracle in the explorer tests: it flags what the fake kernel
/// itself detects (WARN_ON, lockdep failures and fake-detected misuse such as unpinning a frame
/// that holds no pin) as invariant "h", and at teardown frames still pinned or allocations still
/// live as invariant "j". Crashes are flagged by the Runner itself.
/// </summary>
internal sealed class KernelChecksOracle : IOracle
{
    private World? world;

    public void Attach(World w) => world = w;

    public IReadOnlyList<Violation> AfterStep(int step, Op op, StepResult result)
    {
        var first = world!.Kernel.Checks.Violations.FirstOrDefault();
        return first is null ? [] : [new Violation("h", step, first.ToString())];
    }

    public IReadOnlyList<Violation> AfterTeardown()
    {
        var k = world!.Kernel;
        if (k.Checks.Violations.FirstOrDefault() is { } check)
            return [new Violation("h", -1, check.ToString())];
        var pinned = k.Phys.PinnedFrames();
        if (pinned.Count > 0)
            return [new Violation("j", -1, $"{pinned.Count} frames still pinned after teardown",
                string.Join("\n", pinned.Take(4).Select(p => p.ToString())))];
        return k.Allocator.Live.Count > 0 ? [new Violation("j", -1, $"{k.Allocator.Live.Count} allocations leaked")] : [];
    }
}

/// <summary>Fails on a synthetic condition of the scenario alone (no model knowledge): invariant
/// "x" at the first step where at least <see cref="Threshold"/> AccessPin operations of length at
/// least two pages have been seen. Used to check that shrinking is minimal.</summary>
internal sealed class SyntheticOracle(int threshold) : IOracle
{
    public int Threshold { get; } = threshold;
    private int seen;

    public void Attach(World world) { }

    public IReadOnlyList<Violation> AfterStep(int step, Op op, StepResult result)
    {
        if (op is AccessPin { Length: >= 2 * 4096 })
            seen++;
        return seen >= Threshold ? [new Violation("x", step, $"{seen} long pins")] : [];
    }

    public IReadOnlyList<Violation> AfterTeardown() => [];
}
