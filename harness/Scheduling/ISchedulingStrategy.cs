// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Harness.Scheduling;

/// <summary>
/// One scheduling decision: the decision's index in the schedule, the thread that reached the
/// point (0: none, at the start of a run), whether that thread could go on running (if not, it
/// blocked or finished, and switching away is free), the threads that may run now (ascending
/// ids, never empty) and where the decision is taken (e.g. "acquire iopt_pages.mutex").
/// </summary>
public sealed record Decision(int Step, int Current, bool CurrentRunnable, IReadOnlyList<int> Runnable, string Site)
{
    /// <summary>Whether choosing <paramref name="thread"/> preempts the current thread.</summary>
    public bool IsPreemption(int thread) => CurrentRunnable && thread != Current;
}

/// <summary>
/// A strategy for the controlled scheduler, in the manner of Coyote's <c>ISchedulingStrategy</c>:
/// before each run it is asked to prepare the next schedule, at every decision point it picks the
/// thread to run among the runnable ones, and it says when its search space is exhausted. It
/// records the schedule it produced (the chosen thread at every decision point), so that any run
/// can be replayed exactly with <see cref="ReplayStrategy"/>.
/// </summary>
public interface ISchedulingStrategy
{
    /// <summary>Short name used in reports and reproducers (random, pct, delay, pb-dfs, replay).</summary>
    string Name { get; }

    /// <summary>Prepares the next schedule; false when the search space is exhausted (no run follows).</summary>
    bool PrepareNextIteration();

    /// <summary>Picks the thread to run at <paramref name="decision"/>; one of its runnable threads.</summary>
    int Choose(Decision decision);

    /// <summary>Whether every schedule of the search space has been produced.</summary>
    bool IsExhausted { get; }

    /// <summary>The choices of the current (or last) run, in order.</summary>
    IReadOnlyList<int> Schedule { get; }

    /// <summary>A one-line description of the current position (e.g. "bound 1, 12 schedules").</summary>
    string Describe();
}

/// <summary>Raised by a strategy whose recorded schedule cannot be followed: the run does not
/// behave as when it was recorded.</summary>
public sealed class ScheduleDivergenceException(string message) : Exception(message);

/// <summary>
/// The part every strategy shares: it records the choices of the current run and checks that
/// every choice is runnable. Subclasses implement <see cref="Pick"/> and <see cref="Prepare"/>.
/// </summary>
public abstract class SchedulingStrategyBase : ISchedulingStrategy
{
    private readonly List<int> schedule = [];

    public abstract string Name { get; }
    public virtual bool IsExhausted => false;
    public IReadOnlyList<int> Schedule => schedule;
    /// <summary>The most decisions any earlier run took (what PCT and delay bounding learn k from).</summary>
    protected int LongestRun { get; private set; }
    /// <summary>Runs prepared so far (the current one included).</summary>
    public int Iteration { get; private set; }

    public bool PrepareNextIteration()
    {
        if (Iteration > 0 && !Advance())
            return false;
        LongestRun = Math.Max(LongestRun, schedule.Count);
        schedule.Clear();
        Iteration++;
        Prepare(Iteration - 1);
        return true;
    }

    public int Choose(Decision decision)
    {
        int chosen = decision.Runnable.Count == 1 && ForcedChoicesNeedNoPick ? decision.Runnable[0] : Pick(decision);
        if (!decision.Runnable.Contains(chosen))
            throw new InvalidOperationException($"strategy {Name} chose T{chosen}, which is not runnable at decision {decision.Step}");
        schedule.Add(chosen);
        return chosen;
    }

    /// <summary>Whether a decision with one runnable thread skips <see cref="Pick"/> (true unless
    /// the strategy must see every decision, as replay does).</summary>
    protected virtual bool ForcedChoicesNeedNoPick => true;

    /// <summary>Moves to the next schedule after a run; false when the search space is exhausted.</summary>
    protected virtual bool Advance() => true;

    /// <summary>Sets up run number <paramref name="iteration"/> (0 first).</summary>
    protected abstract void Prepare(int iteration);

    protected abstract int Pick(Decision decision);

    public virtual string Describe() => $"{Name}, {Iteration} schedules";
}
