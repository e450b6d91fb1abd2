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
/// fairness, lockdep subclasses/nesting annotations, RCU grace periods.
/// </summary>
public sealed class PlainExecutionContext : IExecutionContext
{
    private readonly Checks checks;
    private readonly ThreadLocal<task_struct?> current = new();
    private readonly ThreadLocal<PerThread> perThread;
    private readonly object gate = new();
    private readonly HashSet<(string, string)> order = [];
    private int nextThreadId;

    private sealed class PerThread(int id)
    {
        public readonly int Id = id;
        public readonly List<(KLock Lock, LockMode Mode)> Held = [];
        public int RcuDepth;
    }

    public PlainExecutionContext(Checks checks)
    {
        this.checks = checks;
        perThread = new ThreadLocal<PerThread>(() => new PerThread(Interlocked.Increment(ref nextThreadId)));
    }

    public task_struct Current => current.Value ?? throw new InvalidOperationException("no current task on this thread");
    public void SetCurrent(task_struct task) => current.Value = task;
    public int ThreadId => perThread.Value!.Id;
    public bool InRcuReadSection => perThread.Value!.RcuDepth > 0;

    /// <summary>The locks the calling thread holds, outermost first.</summary>
    public IReadOnlyList<KLock> HeldLocks => perThread.Value!.Held.Select(h => h.Lock).ToArray();

    public void Acquire(KLock l, LockMode mode)
    {
        var me = perThread.Value!;
        if (l is not spinlock_t && (me.RcuDepth > 0 || me.Held.Any(h => h.Lock is spinlock_t)))
            checks.Report(CheckKind.LockdepOrder, "might_sleep", $"sleeping lock {l} taken in atomic context");
        CheckOrder(me, l);
        lock (gate)
        {
            if (l.Destroyed)
                checks.Report(CheckKind.FakeMisuse, "mutex_lock", $"{l} used after mutex_destroy");
            if (ReferenceEquals(l.Owner, me) || (mode == LockMode.Exclusive && me.Held.Any(h => ReferenceEquals(h.Lock, l))))
            {
                checks.Report(CheckKind.LockdepOrder, "lock_acquire", $"recursive acquisition of {l}");
                throw new KernelDeadlock($"task would deadlock on {l} it already holds");
            }
            while (mode == LockMode.Exclusive ? l.IsLocked : l.Owner is not null)
                Monitor.Wait(gate);
            if (mode == LockMode.Exclusive) l.Owner = me; else l.Readers++;
        }
        me.Held.Add((l, mode));
    }

    public void Release(KLock l, LockMode mode)
    {
        var me = perThread.Value!;
        int i = me.Held.FindLastIndex(h => ReferenceEquals(h.Lock, l) && h.Mode == mode);
        if (i < 0)
        {
            checks.Report(CheckKind.LockdepNotHeld, "lock_release", $"releasing {l} ({mode}) not held by this task");
            return;
        }
        me.Held.RemoveAt(i);
        lock (gate)
        {
            if (mode == LockMode.Exclusive) l.Owner = null; else l.Readers--;
            Monitor.PulseAll(gate);
        }
    }

    public bool HeldByCurrent(KLock l) => perThread.Value!.Held.Any(h => ReferenceEquals(h.Lock, l));
    public bool HeldByCurrent(KLock l, LockMode mode) =>
        perThread.Value!.Held.Any(h => ReferenceEquals(h.Lock, l) && h.Mode == mode);

    public void RcuReadLock() => perThread.Value!.RcuDepth++;

    public void RcuReadUnlock()
    {
        var me = perThread.Value!;
        if (me.RcuDepth == 0)
            checks.Report(CheckKind.LockdepNotHeld, "rcu_read_unlock", "unbalanced rcu_read_unlock");
        else
            me.RcuDepth--;
    }

    public void SchedulePoint(string what) { }

    // lockdep: remember "class A held while class B acquired"; an acquisition that closes a cycle
    // of length two (B held while A acquired, after A->B was seen) is an order inversion.
    private void CheckOrder(PerThread me, KLock l)
    {
        lock (gate)
        {
            foreach (var (held, _) in me.Held)
            {
                if (held.LockClass == l.LockClass)
                    continue;
                if (order.Contains((l.LockClass, held.LockClass)))
                    checks.Report(CheckKind.LockdepOrder, "lock_acquire",
                        $"possible circular locking: {held.LockClass} -> {l.LockClass} after {l.LockClass} -> {held.LockClass}");
                order.Add((held.LockClass, l.LockClass));
            }
        }
    }
}

/// <summary>A self-deadlock the real kernel would hang on; the model stops the thread instead.</summary>
public sealed class KernelDeadlock(string message) : Exception(message);
