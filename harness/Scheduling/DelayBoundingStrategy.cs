// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Generation;

namespace Iommufd.Harness.Scheduling;

/// <summary>
/// Delay-bounded scheduling (Emmi, Qadeer, Rakamarić, "Delay-Bounded Scheduling", POPL 2011): a
/// deterministic round-robin scheduler (the current thread runs on while it can; when it blocks or
/// finishes, the next runnable thread in id order after it runs) perturbed by at most d delays.
/// A delay at a decision skips the thread the deterministic scheduler would run, passing to the
/// next one in round-robin order. Each schedule places its d delays at decisions with a choice
/// drawn uniformly among the first k such decisions (k learnt from earlier runs, like PCT's), from
/// a PRNG seeded with <c>SeedMix.Derive(seed, i)</c>. With d = 0 every schedule is the round-robin
/// one. Never exhausted (exhaustive enumeration of delay placements is not implemented).
/// </summary>
public sealed class DelayBoundingStrategy : SchedulingStrategyBase
{
    private readonly ulong seed;
    private readonly int delays;
    private readonly int initialSteps;
    private int[] delayPoints = [];
    private int branching;
    private int longestBranching;

    public DelayBoundingStrategy(ulong seed, int delays, int initialSteps = 20)
    {
        if (delays < 0)
            throw new ArgumentOutOfRangeException(nameof(delays), delays, "the delay bound cannot be negative");
        this.seed = seed;
        this.delays = delays;
        this.initialSteps = Math.Max(1, initialSteps);
    }

    public override string Name => "delay";

    /// <summary>The decisions with a choice (counted from 0) that get a delay in this schedule.</summary>
    public IReadOnlyList<int> DelayPoints => delayPoints;

    protected override void Prepare(int iteration)
    {
        longestBranching = Math.Max(longestBranching, branching);
        branching = 0;
        var rng = new SplitMix64(SeedMix.Derive(seed, (ulong)iteration));
        int k = longestBranching > 0 ? longestBranching : initialSteps;
        delayPoints = Enumerable.Range(0, delays).Select(_ => rng.NextInt(k)).Order().ToArray();
    }

    protected override int Pick(Decision decision)
    {
        var runnable = decision.Runnable;
        // The round-robin choice: stay on the current thread if it can run, else the next one after it.
        int index = decision.CurrentRunnable ? IndexOf(runnable, decision.Current) : NextAfter(runnable, decision.Current);
        int skips = delayPoints.Count(p => p == branching);
        branching++;
        return runnable[(index + skips) % runnable.Count];
    }

    private static int IndexOf(IReadOnlyList<int> runnable, int thread)
    {
        for (int i = 0; i < runnable.Count; i++)
            if (runnable[i] == thread)
                return i;
        return 0;
    }

    /// <summary>The position of the first runnable thread after <paramref name="thread"/> in cyclic id order.</summary>
    private static int NextAfter(IReadOnlyList<int> runnable, int thread)
    {
        for (int i = 0; i < runnable.Count; i++)
            if (runnable[i] > thread)
                return i;
        return 0;
    }

    public override string Describe() => $"delay d={delays}, {Iteration} schedules";
}
