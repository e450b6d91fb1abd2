// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Model.Kernel;

/// <summary>
/// Every blocking point and every shared-memory effect the port and the fakes perform goes
/// through this interface: lock acquire/release, RCU read sections, atomics, and explicit
/// scheduling points. The plain implementation below runs on real threads; a controlled
/// scheduler implements the same interface to serialise threads and choose interleavings.
/// </summary>
public interface IExecutionContext
{
    /// <summary>The task of the calling thread (<c>current</c>).</summary>
    task_struct Current { get; }

    /// <summary>Makes <paramref name="task"/> the calling thread's <c>current</c>.</summary>
    void SetCurrent(task_struct task);

    void Acquire(KLock l, LockMode mode);
    void Release(KLock l, LockMode mode);
    bool HeldByCurrent(KLock l);
    bool HeldByCurrent(KLock l, LockMode mode);

    void RcuReadLock();
    void RcuReadUnlock();
    bool InRcuReadSection { get; }

    /// <summary>A point where another thread may run (before atomics, GUP, iommu calls...).</summary>
    void SchedulePoint(string what);

    /// <summary>A small integer naming the calling thread (fault injection counts hits per thread).</summary>
    int ThreadId { get; }
}

/// <summary>
/// The plain execution context: real threads, real blocking (Monitor), with owner tracking for
/// lockdep and lock-order checking. Models: mutex/rwsem/spinlock exclusion, lock ownership,
/// lockdep's held-lock assertions and ABBA order inversions between lock classes, sleeping in an
/// RCU read section or under a spinlock. Does not model: preemption points (threads run freely),
/// fairness, lockdep subclasses/nesting annotations, RCU grace periods. The lockdep bookkeeping
/// is <see cref="Lockdep"/>, shared with the controlled scheduler.
/// </summary>
public sealed class PlainExecutionContext : IExecutionContext
{
    /// <summary>What the context knows of one OS thread: its lockdep state and its <c>current</c>.</summary>
    private sealed class PlainThread(int id)
    {
        public readonly LockdepThread Lockdep = new(id);
        public task_struct? Current;
    }

    private readonly PerThread<PlainThread> threads;
    private readonly object gate = new();
    private readonly Lockdep lockdep;
    private int nextThreadId;

    public PlainExecutionContext(Checks checks)
    {
        lockdep = new Lockdep(checks);
        threads = new PerThread<PlainThread>(() => new PlainThread(Interlocked.Increment(ref nextThreadId)));
    }

    private LockdepThread Me => threads.Value.Lockdep;

    public task_struct Current => threads.Value.Current ?? throw new InvalidOperationException("no current task on this thread");
    public void SetCurrent(task_struct task) => threads.Value.Current = task;
    public int ThreadId => Me.Id;
    public bool InRcuReadSection => Me.InRcuReadSection;

    /// <summary>The locks the calling thread holds, outermost first.</summary>
    public IReadOnlyList<KLock> HeldLocks => Me.HeldLocks;

    public void Acquire(KLock l, LockMode mode)
    {
        var me = Me;
        lockdep.BeforeAcquire(me, l, mode);
        lock (gate)
        {
            while (!LockState.Available(l, mode))
                Monitor.Wait(gate);
            LockState.Take(l, mode, me);
        }
        Lockdep.Acquired(me, l, mode);
    }

    public void Release(KLock l, LockMode mode)
    {
        if (!lockdep.Releasing(Me, l, mode))
            return;
        lock (gate)
        {
            LockState.Drop(l, mode);
            Monitor.PulseAll(gate);
        }
    }

    public bool HeldByCurrent(KLock l) => Lockdep.Holds(Me, l);
    public bool HeldByCurrent(KLock l, LockMode mode) => Lockdep.Holds(Me, l, mode);

    public void RcuReadLock() => Lockdep.RcuReadLock(Me);
    public void RcuReadUnlock() => lockdep.RcuReadUnlock(Me);

    public void SchedulePoint(string what) { }
}

/// <summary>A self-deadlock the real kernel would hang on; the model stops the thread instead.</summary>
public sealed class KernelDeadlock(string message) : Exception(message);
