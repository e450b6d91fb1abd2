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
/// one. Random placement is never exhausted. With <c>exhaustive</c> the strategy instead enumerates
/// every placement of at most d delays depth first (at each decision with a choice: 0, 1, ... of
/// the remaining delays, fewer than the runnable threads), the paper's systematic search; it is
/// exhausted when every placement has run.
/// </summary>
public sealed class DelayBoundingStrategy : SchedulingStrategyBase
{
    private readonly ulong seed;
    private readonly int delays;
    private readonly int initialSteps;
    private readonly bool exhaustive;
    private int[] delayPoints = [];
    private int branching;
    private int longestBranching;
    // Exhaustive mode: per decision with a choice, the runnable threads seen and the delays spent there.
    private readonly List<(int[] Runnable, int Current, int Options, int Spent)> frames = [];
    private int remaining;
    private bool exhausted;

    public DelayBoundingStrategy(ulong seed, int delays, int initialSteps = 20, bool exhaustive = false)
    {
        this.exhaustive = exhaustive;
        if (delays < 0)
            throw new ArgumentOutOfRangeException(nameof(delays), delays, "the delay bound cannot be negative");
        this.seed = seed;
        this.delays = delays;
        this.initialSteps = Math.Max(1, initialSteps);
    }

    public override string Name => exhaustive ? "delay-dfs" : "delay";

    public override bool IsExhausted => exhausted;

    protected override bool Advance()
    {
        if (!exhaustive)
            return true;
        while (frames.Count > 0)
        {
            var top = frames[^1];
            if (top.Spent + 1 < top.Options)
            {
                frames[^1] = top with { Spent = top.Spent + 1 };
                return true;
            }
            frames.RemoveAt(frames.Count - 1);
        }
        exhausted = true;
        return false;
    }

    /// <summary>The decisions with a choice (counted from 0) that get a delay in this schedule.</summary>
    public IReadOnlyList<int> DelayPoints => delayPoints;

    protected override void Prepare(int iteration)
    {
        longestBranching = Math.Max(longestBranching, branching);
        branching = 0;
        remaining = delays;
        if (exhaustive)
            return;
        var rng = new SplitMix64(SeedMix.Derive(seed, (ulong)iteration));
        int k = longestBranching > 0 ? longestBranching : initialSteps;
        delayPoints = Enumerable.Range(0, delays).Select(_ => rng.NextInt(k)).Order().ToArray();
    }

    protected override int Pick(Decision decision)
    {
        var runnable = decision.Runnable;
        // The round-robin choice: stay on the current thread if it can run, else the next one after it.
        int index = decision.CurrentRunnable ? IndexOf(runnable, decision.Current) : NextAfter(runnable, decision.Current);
        int skips = exhaustive ? ExhaustiveSkips(decision) : delayPoints.Count(p => p == branching);
        branching++;
        return runnable[(index + skips) % runnable.Count];
    }

    private int ExhaustiveSkips(Decision decision)
    {
        if (branching < frames.Count)
        {
            var f = frames[branching];
            if (f.Current != decision.Current || !f.Runnable.SequenceEqual(decision.Runnable))
                throw new ScheduleDivergenceException(
                    $"decision {decision.Step} at {decision.Site} offers other threads than when it was first explored (the program is not deterministic)");
        }
        else
        {
            frames.Add((decision.Runnable.ToArray(), decision.Current, Math.Min(remaining, decision.Runnable.Count - 1) + 1, 0));
        }
        int spent = frames[branching].Spent;
        remaining -= spent;
        return spent;
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

    public override string Describe() => $"{Name} d={delays}, {Iteration} schedules{(exhausted ? ", exhausted" : "")}";
}
