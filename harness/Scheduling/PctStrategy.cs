// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Generation;

namespace Iommufd.Harness.Scheduling;

/// <summary>
/// Probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi, Nagarakatte, "A Randomized
/// Scheduler with Probabilistic Guarantees of Finding Bugs", ASPLOS 2010). Each schedule gives the
/// threads random distinct initial priorities (d, d+1, ...; a thread gets its priority when it is
/// first seen) and picks d-1 priority change points uniformly among the first k decisions; at every
/// decision the runnable thread with the highest priority runs, and at the i-th change point the
/// thread about to run drops to priority d-i (below every initial priority, so it runs only when
/// nothing else can). A bug of depth d is then found with probability at least 1/(n k^(d-1)).
/// k is learnt: the longest run seen so far (<paramref name="initialSteps"/> before the first run).
/// Schedule i uses a PRNG seeded with <c>SeedMix.Derive(seed, i)</c>. Never exhausted.
/// </summary>
public sealed class PctStrategy : SchedulingStrategyBase
{
    private readonly ulong seed;
    private readonly int depth;
    private readonly int initialSteps;
    private readonly List<int> initialOrder = []; // highest initial priority first
    private readonly Dictionary<int, int> lowered = [];
    private int[] changePoints = [];
    private SplitMix64 rng;

    public PctStrategy(ulong seed, int depth, int initialSteps = 20)
    {
        if (depth < 1)
            throw new ArgumentOutOfRangeException(nameof(depth), depth, "PCT needs a depth of at least 1");
        this.seed = seed;
        this.depth = depth;
        this.initialSteps = Math.Max(1, initialSteps);
        rng = new SplitMix64(seed);
    }

    public override string Name => "pct";

    /// <summary>The k the current schedule's change points were drawn over.</summary>
    public int EstimatedSteps { get; private set; }

    /// <summary>The decisions at which priorities change in the current schedule.</summary>
    public IReadOnlyList<int> ChangePoints => changePoints;

    protected override bool ForcedChoicesNeedNoPick => false;

    protected override void Prepare(int iteration)
    {
        rng = new SplitMix64(SeedMix.Derive(seed, (ulong)iteration));
        initialOrder.Clear();
        lowered.Clear();
        EstimatedSteps = LongestRun > 0 ? LongestRun : initialSteps;
        var points = new List<int>();
        int wanted = Math.Min(depth - 1, EstimatedSteps);
        while (points.Count < wanted)
        {
            int p = rng.NextInt(EstimatedSteps);
            if (!points.Contains(p))
                points.Add(p);
        }
        changePoints = points.ToArray();
    }

    private int Priority(int thread) =>
        lowered.TryGetValue(thread, out int p) ? p : depth + initialOrder.Count - initialOrder.IndexOf(thread);

    protected override int Pick(Decision decision)
    {
        foreach (int t in decision.Runnable)
            if (!initialOrder.Contains(t) && !lowered.ContainsKey(t))
                initialOrder.Insert(rng.NextInt(initialOrder.Count + 1), t);
        int chosen = Highest(decision.Runnable);
        int i = Array.IndexOf(changePoints, decision.Step);
        if (i >= 0)
        {
            initialOrder.Remove(chosen);
            lowered[chosen] = depth - 1 - i;
            chosen = Highest(decision.Runnable);
        }
        return chosen;
    }

    private int Highest(IReadOnlyList<int> runnable) => runnable.MaxBy(Priority);

    public override string Describe() => $"pct d={depth}, k={EstimatedSteps}, {Iteration} schedules";
}
