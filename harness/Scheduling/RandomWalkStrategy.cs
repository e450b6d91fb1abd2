// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Generation;

namespace Iommufd.Harness.Scheduling;

/// <summary>
/// Random walk: at every decision with a choice, a uniformly random runnable thread (Coyote's
/// "random" strategy). Schedule i uses a PRNG seeded with <c>SeedMix.Derive(seed, i)</c>, so the
/// same seed gives the same schedules. Never exhausted.
/// </summary>
public sealed class RandomWalkStrategy(ulong seed) : SchedulingStrategyBase
{
    private SplitMix64 rng = new(seed);

    public override string Name => "random";

    protected override void Prepare(int iteration) => rng = new SplitMix64(SeedMix.Derive(seed, (ulong)iteration));

    protected override int Pick(Decision decision) => decision.Runnable[rng.NextInt(decision.Runnable.Count)];
}
