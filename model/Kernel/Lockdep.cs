// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Model.Kernel;

/// <summary>
/// The lockdep state of one thread of an execution context: the locks it holds, outermost first,
/// and its RCU read-side nesting depth. The object is also the owner recorded in an exclusively
/// held <see cref="KLock"/>.
/// </summary>
public sealed class LockdepThread(int id)
{
    public int Id { get; } = id;
    internal readonly List<(KLock Lock, LockMode Mode)> Held = [];
    internal int RcuDepth;

    /// <summary>The locks this thread holds, outermost first.</summary>
    public IReadOnlyList<KLock> HeldLocks => Held.Select(h => h.Lock).ToArray();
    public bool InRcuReadSection => RcuDepth > 0;
}

/// <summary>
/// The lockdep bookkeeping every execution context shares (the plain one on real threads and the
/// controlled scheduler): held-lock assertions, the "sleeping lock in atomic context" report,
/// recursive acquisition, use after mutex_destroy, and ABBA order inversions between lock classes.
/// It does not block and does not change a lock's owner or readers: exclusion is the context's
/// business. Models lockdep's class-level order graph for cycles of length two only; does not
/// model subclasses, nesting annotations or longer cycles.
/// </summary>
public sealed class Lockdep(Checks checks)
{
    private readonly object gate = new();
    private readonly HashSet<(string, string)> order = [];

    /// <summary>
    /// The checks before <paramref name="me"/> acquires <paramref name="l"/>: might_sleep, the
    /// order graph, mutex_destroy misuse, and recursion (reported, then thrown as
    /// <see cref="KernelDeadlock"/>: the kernel would hang there).
    /// </summary>
    public void BeforeAcquire(LockdepThread me, KLock l, LockMode mode)
    {
        if (l is not spinlock_t && (me.RcuDepth > 0 || me.Held.Any(h => h.Lock is spinlock_t)))
            checks.Report(CheckKind.LockdepOrder, "might_sleep", $"sleeping lock {l} taken in atomic context");
        CheckOrder(me, l);
        if (l.Destroyed)
            checks.Report(CheckKind.FakeMisuse, "mutex_lock", $"{l} used after mutex_destroy");
        if (ReferenceEquals(l.Owner, me) || (mode == LockMode.Exclusive && me.Held.Any(h => ReferenceEquals(h.Lock, l))))
        {
            checks.Report(CheckKind.LockdepOrder, "lock_acquire", $"recursive acquisition of {l}");
            throw new KernelDeadlock($"task would deadlock on {l} it already holds");
        }
    }

    /// <summary>Records that <paramref name="me"/> now holds <paramref name="l"/>.</summary>
    public static void Acquired(LockdepThread me, KLock l, LockMode mode) => me.Held.Add((l, mode));

    /// <summary>Forgets <paramref name="l"/> from <paramref name="me"/>'s held locks; false (and a
    /// report) when it does not hold it in that mode, in which case the lock must be left alone.</summary>
    public bool Releasing(LockdepThread me, KLock l, LockMode mode)
    {
        int i = me.Held.FindLastIndex(h => ReferenceEquals(h.Lock, l) && h.Mode == mode);
        if (i < 0)
        {
            checks.Report(CheckKind.LockdepNotHeld, "lock_release", $"releasing {l} ({mode}) not held by this task");
            return false;
        }
        me.Held.RemoveAt(i);
        return true;
    }

    public static bool Holds(LockdepThread me, KLock l) => me.Held.Any(h => ReferenceEquals(h.Lock, l));
    public static bool Holds(LockdepThread me, KLock l, LockMode mode) =>
        me.Held.Any(h => ReferenceEquals(h.Lock, l) && h.Mode == mode);

    public static void RcuReadLock(LockdepThread me) => me.RcuDepth++;

    public void RcuReadUnlock(LockdepThread me)
    {
        if (me.RcuDepth == 0)
            checks.Report(CheckKind.LockdepNotHeld, "rcu_read_unlock", "unbalanced rcu_read_unlock");
        else
            me.RcuDepth--;
    }

    // lockdep: remember "class A held while class B acquired"; an acquisition that closes a cycle
    // of length two (B held while A acquired, after A->B was seen) is an order inversion.
    private void CheckOrder(LockdepThread me, KLock l)
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

/// <summary>
/// The owner/readers state of a lock, for execution contexts (the plain one and schedulers outside
/// this assembly): whether an acquisition in a mode can succeed now, taking and dropping it. The
/// caller provides the exclusion around these calls (a monitor, or running one thread at a time).
/// </summary>
public static class LockState
{
    /// <summary>Whether <paramref name="l"/> can be taken in <paramref name="mode"/> now: exclusive
    /// needs it free, shared needs no exclusive owner.</summary>
    public static bool Available(KLock l, LockMode mode) => mode == LockMode.Exclusive ? !l.IsLocked : l.Owner is null;

    public static void Take(KLock l, LockMode mode, LockdepThread owner)
    {
        if (mode == LockMode.Exclusive) l.Owner = owner; else l.Readers++;
    }

    public static void Drop(KLock l, LockMode mode)
    {
        if (mode == LockMode.Exclusive) l.Owner = null; else l.Readers--;
    }
}
