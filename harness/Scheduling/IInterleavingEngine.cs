// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Model.Kernel;

namespace Iommufd.Harness.Scheduling;

/// <summary>How the threads of one controlled run ended, whatever engine ran them: the outcome,
/// a message, the exception of a crashed thread, every decision taken (for the printed
/// interleaving), the engine's own replayable record of the run (opaque to everyone else), and,
/// for a strict replay that completed before using its whole record, what was left unused.</summary>
public sealed record ThreadsOutcome(
    ScheduleOutcome Outcome,
    string Message,
    Exception? Failure,
    int CrashedThread,
    IReadOnlyList<TraceEntry> Trace,
    string EngineTrace,
    string? RecordUnused = null)
{
    public int Decisions => Trace.Count;
}

/// <summary>
/// One schedule of one concurrent run, as an engine hands it to the runner: the execution context
/// the world must run on (every lock operation and scheduling point of the code under test and
/// the fakes goes through it), and running the threads under it.
/// </summary>
public interface IScheduledRun
{
    /// <summary>The execution context of this run's world (called once, when the world is made).</summary>
    IExecutionContext CreateContext(Checks checks);

    /// <summary>Runs <paramref name="bodies"/> as threads T1..Tn, interleaved as the engine
    /// decides, taking at most <paramref name="stepBudget"/> decisions.</summary>
    ThreadsOutcome RunThreads(IReadOnlyList<Action> bodies, int stepBudget);
}

/// <summary>What an engine's exploration of one scenario did: schedules run, decisions taken,
/// whether its search space was exhausted, and the first failing run (null: none).</summary>
public sealed record EngineExploration(int Schedules, long Decisions, bool Exhausted, InterleaveReport? Failure);

/// <summary>
/// An interleaving engine: it decides the schedules. The runner (<see cref="InterleaveRunner"/>)
/// stays one: it builds the world on the engine's context, runs the setup, hands the threads to
/// the engine, and checks; the engine only chooses who runs at every decision. Our controlled
/// scheduler is the first engine (<see cref="ControlledEngine"/>); Microsoft.Coyote is the second.
/// </summary>
public interface IInterleavingEngine
{
    /// <summary>The engine's name as reproducers record it ("controlled", "coyote").</summary>
    string Name { get; }

    /// <summary>The strategy and its bounds, as printed (e.g. "pct (d=3)").</summary>
    string Strategy { get; }

    /// <summary>Runs <paramref name="runOne"/> under up to <paramref name="maxSchedules"/> schedules
    /// of the engine's strategy seeded with <paramref name="seed"/>, stopping at the first failing
    /// run or when the strategy has no schedule left.</summary>
    EngineExploration Explore(ulong seed, int maxSchedules, Func<IScheduledRun, InterleaveReport> runOne, CancellationToken cancel = default);

    /// <summary>Runs <paramref name="runOne"/> once under the recorded <paramref name="trace"/>.
    /// Strict: a run that leaves the record (another site at a decision, a recorded thread that
    /// cannot run, more or fewer decisions) is a divergence. Not strict (shrinking a scenario under
    /// the schedule of a larger one): the recorded choices are followed while they can be.</summary>
    InterleaveReport Replay(string trace, bool strict, Func<IScheduledRun, InterleaveReport> runOne);
}
