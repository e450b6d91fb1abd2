// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Harness.Scheduling;

/// <summary>
/// Systematic depth-first enumeration of schedules with a bounded number of preemptions, as CHESS
/// does (Musuvathi and Qadeer, "Iterative Context Bounding for Systematic Testing of Multithreaded
/// Programs", PLDI 2007). Switching away from a thread that could go on running is a preemption;
/// switching when it blocks or finishes is free. The search is iterative: first every schedule
/// with 0 preemptions, then (level 1) every schedule with at most 1, and so on up to
/// <paramref name="bound"/>; then it is exhausted. Within a level the first run of a subtree takes
/// the non-preemptive choice at every new decision, and backtracking tries the other runnable
/// threads (in id order) at the deepest decision that has one left. A level repeats the schedules
/// of lower levels (CHESS does the same); <see cref="NewSchedule"/> tells whether the last run's
/// schedule had exactly the level's number of preemptions, i.e. was not seen at a lower level.
/// The program must be deterministic: a replayed prefix that offers other threads than when it was
/// recorded is a <see cref="ScheduleDivergenceException"/>.
/// </summary>
public sealed class PreemptionBoundedDfsStrategy : SchedulingStrategyBase
{
    private sealed class Frame(int current, int[] runnable, int[] options, int preemptionsBefore)
    {
        public readonly int Current = current;
        public readonly int[] Runnable = runnable;
        public readonly int[] Options = options;
        public readonly int PreemptionsBefore = preemptionsBefore;
        public int Index;
    }

    private readonly int bound;
    private readonly List<Frame> frames = [];
    private int branching;
    private int preemptions;
    private bool exhausted;

    public PreemptionBoundedDfsStrategy(int bound)
    {
        if (bound < 0)
            throw new ArgumentOutOfRangeException(nameof(bound), bound, "the preemption bound cannot be negative");
        this.bound = bound;
    }

    public override string Name => "pb-dfs";

    /// <summary>The preemption bound of the level being enumerated.</summary>
    public int Level { get; private set; }

    /// <summary>Preemptions in the current (or last) run's schedule.</summary>
    public int Preemptions => preemptions;

    /// <summary>Whether the last run's schedule was first enumerated at this level.</summary>
    public bool NewSchedule => preemptions == Level;

    /// <summary>Distinct schedules enumerated so far (repeats of lower levels not counted).</summary>
    public int DistinctSchedules { get; private set; }

    public override bool IsExhausted => exhausted;

    protected override void Prepare(int iteration)
    {
        branching = 0;
        preemptions = 0;
    }

    protected override bool Advance()
    {
        if (NewSchedule)
            DistinctSchedules++;
        // Backtrack: the deepest decision with an untried option gets its next option.
        while (frames.Count > 0)
        {
            var top = frames[^1];
            if (top.Index + 1 < top.Options.Length)
            {
                top.Index++;
                return true;
            }
            frames.RemoveAt(frames.Count - 1);
        }
        if (Level >= bound)
        {
            exhausted = true;
            return false;
        }
        Level++;
        return true;
    }

    protected override int Pick(Decision decision)
    {
        Frame frame;
        if (branching < frames.Count)
        {
            frame = frames[branching];
            if (frame.Current != decision.Current || !frame.Runnable.SequenceEqual(decision.Runnable))
                throw new ScheduleDivergenceException(
                    $"decision {decision.Step} at {decision.Site} offers {Threads(decision.Runnable)} after T{decision.Current}, " +
                    $"but {Threads(frame.Runnable)} after T{frame.Current} when it was first explored (the program is not deterministic)");
        }
        else
        {
            int[] options = decision.CurrentRunnable
                ? preemptions < Level
                    ? [decision.Current, .. decision.Runnable.Where(t => t != decision.Current)]
                    : [decision.Current]
                : decision.Runnable.ToArray();
            frame = new Frame(decision.Current, decision.Runnable.ToArray(), options, preemptions);
            frames.Add(frame);
        }
        branching++;
        int chosen = frame.Options[frame.Index];
        if (decision.IsPreemption(chosen))
            preemptions++;
        return chosen;
    }

    private static string Threads(IEnumerable<int> ts) => string.Join(" ", ts.Select(t => $"T{t}"));

    public override string Describe() =>
        $"pb-dfs bound {bound}, level {Level}, {Iteration} schedules run ({DistinctSchedules} distinct){(exhausted ? ", exhausted" : "")}";
}
