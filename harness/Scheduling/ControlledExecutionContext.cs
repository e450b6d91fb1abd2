// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Model.Kernel;

namespace Iommufd.Harness.Scheduling;

/// <summary>How a controlled run ended.</summary>
public enum ScheduleOutcome
{
    /// <summary>Every thread finished.</summary>
    Completed,
    /// <summary>No thread could run while some had not finished (reported as <see cref="CheckKind.Deadlock"/>).</summary>
    Deadlock,
    /// <summary>A thread threw (an oops in the kernel); the others were unwound.</summary>
    Crash,
    /// <summary>The run took more decisions than its budget (a livelock, or a budget too small).</summary>
    StepBudget,
    /// <summary>The strategy could not follow its recorded schedule.</summary>
    Divergence,
}

/// <summary>One decision of a run: where thread <paramref name="From"/> stopped (0: the start of
/// the run), which thread was chosen to run next, and which could have run.</summary>
public sealed record TraceEntry(int Step, int From, string Site, int Chosen, IReadOnlyList<int> Runnable)
{
    public override string ToString() =>
        $"{Step,5}  {(From == 0 ? "--" : $"T{From}"),-3} {Site,-44} -> T{Chosen}  [{string.Join(" ", Runnable.Select(t => $"T{t}"))}]";
}

/// <summary>What a controlled run did: its outcome, the decisions taken (the schedule to replay
/// it) with where each was taken, and the exception of a crashed thread.</summary>
public sealed record ScheduleRun(
    ScheduleOutcome Outcome,
    string Message,
    IReadOnlyList<TraceEntry> Trace,
    IReadOnlyList<int> Schedule,
    Exception? Failure,
    int CrashedThread)
{
    public int Decisions => Trace.Count;
}

/// <summary>Thrown into a thread of an abandoned run (deadlock, crash, step budget, divergence) so
/// that it unwinds instead of staying blocked; the run catches it at the thread's top.</summary>
public sealed class ScheduleAbandonedException() : Exception("the controlled run was abandoned");

/// <summary>
/// A controlled execution context: the logical threads of a run each have an OS thread of their
/// own, but exactly one runs at a time, handing a baton (one <see cref="SemaphoreSlim"/> per
/// thread) to the thread an <see cref="ISchedulingStrategy"/> chooses. Decisions are taken at the
/// start of the run, before every lock acquisition, after every release, at every explicit
/// scheduling point and when a thread finishes. Lock semantics are the scheduler's own: mutexes
/// and spinlocks are exclusive, an rw_semaphore has shared readers or one writer; a thread whose
/// acquisition cannot succeed is not runnable. When nothing is runnable and a thread has not
/// finished, the run reports a deadlock through <see cref="Checks"/> and unwinds every thread
/// (a <see cref="ScheduleAbandonedException"/> is thrown into each, one at a time). Lockdep
/// checking is <see cref="Lockdep"/>, as in <see cref="PlainExecutionContext"/>.
/// <para>Nothing depends on OS timing: every interleaving is a function of the strategy's choices,
/// so the same strategy and seed give the same schedule, decision for decision. Outside
/// <see cref="Run"/> the calling thread (the driver, thread 0, which runs setup and teardown) runs
/// alone: it never yields, and an acquisition of a lock another thread left held is reported as a
/// deadlock and thrown as <see cref="KernelDeadlock"/>.</para>
/// <para>Models: preemption at lock operations and named points, blocking, lock ownership.
/// Does not model: rwsem writer preference or fairness (a reader may join readers while a writer
/// waits), preemption between plain memory accesses (the port's shared state is protected by the
/// locks it takes; unlocked accesses are atomic between decisions), RCU grace periods.</para>
/// </summary>
public sealed class ControlledExecutionContext : IExecutionContext
{
    private readonly Checks checks;
    private readonly Lockdep lockdep;
    private readonly PerThread<Logical> self = new(() => throw new InvalidOperationException("only a scheduled thread has a logical thread"));
    private readonly Logical driver;
    private RunState? run;

    private sealed class Logical(int id, task_struct? current, Action? body)
    {
        public readonly int Id = id;
        public readonly LockdepThread Lockdep = new(id);
        public readonly SemaphoreSlim Baton = new(0, 1);
        public readonly Action? Body = body;
        public task_struct? Current = current;
        public (KLock Lock, LockMode Mode)? Wants;
        public bool Finished;
    }

    private sealed class RunState(ISchedulingStrategy strategy, int budget, List<Logical> threads)
    {
        public readonly ISchedulingStrategy Strategy = strategy;
        public readonly int Budget = budget;
        public readonly List<Logical> Threads = threads;
        public readonly SemaphoreSlim DriverBaton = new(0, 1);
        public readonly List<TraceEntry> Trace = [];
        public bool Abandoned;
        public ScheduleOutcome Outcome = ScheduleOutcome.Completed;
        public string Message = "";
        public Exception? Failure;
        public int CrashedThread;
    }

    public ControlledExecutionContext(Checks checks)
    {
        this.checks = checks;
        lockdep = new Lockdep(checks);
        driver = new Logical(0, null, null);
    }

    private Logical Me => self.Existing ?? driver;

    /// <summary>The scheduled thread calling, during a run (null for the driver).</summary>
    private (RunState, Logical)? Scheduled => run is { } r && self.Existing is { } me ? (r, me) : null;

    public task_struct Current => Me.Current ?? throw new InvalidOperationException("no current task on this thread");
    public void SetCurrent(task_struct task) => Me.Current = task;
    public int ThreadId => Me.Id;
    public bool InRcuReadSection => Me.Lockdep.InRcuReadSection;
    public bool HeldByCurrent(KLock l) => Lockdep.Holds(Me.Lockdep, l);
    public bool HeldByCurrent(KLock l, LockMode mode) => Lockdep.Holds(Me.Lockdep, l, mode);
    public void RcuReadLock() => Lockdep.RcuReadLock(Me.Lockdep);
    public void RcuReadUnlock() => lockdep.RcuReadUnlock(Me.Lockdep);

    /// <summary>The locks the calling thread holds, outermost first.</summary>
    public IReadOnlyList<KLock> HeldLocks => Me.Lockdep.HeldLocks;

    private static bool CanTake(KLock l, LockMode mode) => LockState.Available(l, mode);

    public void Acquire(KLock l, LockMode mode)
    {
        var me = Me;
        lockdep.BeforeAcquire(me.Lockdep, l, mode);
        if (Scheduled is var (r, _))
        {
            if (r.Abandoned)
                throw new ScheduleAbandonedException();
            me.Wants = (l, mode);
            Yield(r, me, $"acquire {l}{(mode == LockMode.Shared ? " (read)" : "")}");
            me.Wants = null;
            if (!CanTake(l, mode))
                throw new InvalidOperationException($"scheduler resumed T{me.Id} on {l}, which it cannot take");
        }
        else if (!CanTake(l, mode))
        {
            checks.Report(CheckKind.Deadlock, "lock_acquire", $"{l} is held by a thread that no longer runs");
            throw new KernelDeadlock($"task would wait forever for {l}");
        }
        LockState.Take(l, mode, me.Lockdep);
        Lockdep.Acquired(me.Lockdep, l, mode);
    }

    public void Release(KLock l, LockMode mode)
    {
        var me = Me;
        if (!lockdep.Releasing(me.Lockdep, l, mode))
            return;
        LockState.Drop(l, mode);
        // While a run is being unwound, releases (from finally blocks) just release.
        if (Scheduled is var (r, _) && !r.Abandoned)
            Yield(r, me, $"release {l}{(mode == LockMode.Shared ? " (read)" : "")}");
    }

    public void SchedulePoint(string what)
    {
        if (Scheduled is var (r, me) && !r.Abandoned)
            Yield(r, me, what);
    }

    /// <summary>
    /// Runs <paramref name="bodies"/> as threads T1..Tn under <paramref name="strategy"/> (already
    /// prepared for this run) and returns when every thread finished or the run was abandoned and
    /// every thread unwound. At most <paramref name="stepBudget"/> decisions are taken.
    /// </summary>
    public ScheduleRun Run(IReadOnlyList<Action> bodies, ISchedulingStrategy strategy, int stepBudget)
    {
        if (run is not null)
            throw new InvalidOperationException("a controlled run is already in progress");
        if (self.Existing is not null)
            throw new InvalidOperationException("a scheduled thread cannot start a run");
        var threads = bodies.Select((b, i) => new Logical(i + 1, driver.Current, b)).ToList();
        var r = new RunState(strategy, stepBudget, threads);
        run = r;
        try
        {
            var os = threads.Select(t => new Thread(() => ThreadMain(r, t)) { IsBackground = true, Name = $"sched T{t.Id}" }).ToList();
            foreach (var t in os)
                t.Start();
            if (Decide(r, null, "start") is { } first)
            {
                first.Baton.Release();
                r.DriverBaton.Wait();
            }
            if (r.Abandoned)
            {
                // Unwind the others one at a time: each wakes, sees the run abandoned, throws, and
                // hands the baton back when it has finished unwinding.
                foreach (var t in threads.Where(t => !t.Finished))
                {
                    t.Baton.Release();
                    r.DriverBaton.Wait();
                }
            }
            foreach (var t in os)
                t.Join();
        }
        finally
        {
            run = null;
        }
        return new ScheduleRun(r.Outcome, r.Message, r.Trace, strategy.Schedule.ToArray(), r.Failure, r.CrashedThread);
    }

    private void ThreadMain(RunState r, Logical t)
    {
        self.Set(t);
        t.Baton.Wait();
        try
        {
            if (!r.Abandoned)
                t.Body!();
        }
        catch (ScheduleAbandonedException)
        {
            // The run was abandoned while this thread was parked: it has now unwound.
            t.Wants = null;
        }
        catch (Exception e)
        {
            if (!r.Abandoned)
            {
                r.Abandoned = true;
                r.Outcome = ScheduleOutcome.Crash;
                r.Message = $"T{t.Id} crashed: {e.GetType().Name}: {e.Message}";
                r.Failure = e;
                r.CrashedThread = t.Id;
            }
            else
            {
                // A second failure while the run was already being abandoned: keep it in the report.
                r.Message += $"; then T{t.Id} crashed while unwinding: {e.GetType().Name}: {e.Message}";
            }
        }
        t.Finished = true;
        if (r.Abandoned)
        {
            r.DriverBaton.Release();
            return;
        }
        var next = Decide(r, t, "finish");
        if (next is not null)
            next.Baton.Release();
        else
            r.DriverBaton.Release();
    }

    /// <summary>A decision point reached by the running thread <paramref name="me"/>: hands the
    /// baton to the chosen thread and waits to be chosen again.</summary>
    private void Yield(RunState r, Logical me, string site)
    {
        var next = Decide(r, me, site);
        if (next == me)
            return;
        if (next is null)
            throw new ScheduleAbandonedException(); // deadlock, budget or divergence: unwind this thread
        next.Baton.Release();
        me.Baton.Wait();
        if (r.Abandoned)
            throw new ScheduleAbandonedException();
    }

    /// <summary>The thread to run next, or null when every thread finished or the run is abandoned.</summary>
    private Logical? Decide(RunState r, Logical? me, string site)
    {
        var runnable = r.Threads.Where(t => !t.Finished && (t.Wants is not { } w || CanTake(w.Lock, w.Mode))).ToList();
        if (runnable.Count == 0)
        {
            if (r.Threads.All(t => t.Finished))
                return null;
            string message = DescribeDeadlock(r);
            checks.Report(CheckKind.Deadlock, "hung_task", message);
            Abandon(r, ScheduleOutcome.Deadlock, message);
            return null;
        }
        if (r.Trace.Count >= r.Budget)
        {
            Abandon(r, ScheduleOutcome.StepBudget, $"the run took more than {r.Budget} scheduling decisions");
            return null;
        }
        var ids = runnable.Select(t => t.Id).ToArray();
        var decision = new Decision(r.Trace.Count, me?.Id ?? 0, me is not null && runnable.Contains(me), ids, site);
        int chosen;
        try
        {
            chosen = r.Strategy.Choose(decision);
        }
        catch (ScheduleDivergenceException e)
        {
            Abandon(r, ScheduleOutcome.Divergence, e.Message);
            return null;
        }
        r.Trace.Add(new TraceEntry(decision.Step, decision.Current, site, chosen, ids));
        return runnable.First(t => t.Id == chosen);
    }

    private static void Abandon(RunState r, ScheduleOutcome outcome, string message)
    {
        r.Abandoned = true;
        r.Outcome = outcome;
        r.Message = message;
    }

    private static string DescribeDeadlock(RunState r)
    {
        string Holders(KLock l) => string.Join(",", r.Threads.Where(t => Lockdep.Holds(t.Lockdep, l)).Select(t => $"T{t.Id}")) is { Length: > 0 } h
            ? h : "a thread that finished";
        return string.Join("; ", r.Threads.Where(t => !t.Finished && t.Wants is not null)
            .Select(t => $"T{t.Id} waits for {t.Wants!.Value.Lock}{(t.Wants.Value.Mode == LockMode.Shared ? " (read)" : "")} held by {Holders(t.Wants.Value.Lock)}"));
    }
}
