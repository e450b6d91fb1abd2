// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Model.Kernel;

namespace Iommufd.Tests.Kernel;

/// <summary>
/// The plain execution context: lock exclusion on real threads, ownership, lockdep checks, RCU
/// read sections and per-thread identity. Cross-thread tests synchronise with events only; the
/// one wait on another thread's state is "blocked inside Acquire" (its thread state), with a
/// generous guard that only turns a hang into a failure.
/// </summary>
public class ExecutionContextTests
{
    private static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(20);

    private static (Checks, PlainExecutionContext) Make()
    {
        var c = new Checks();
        return (c, new PlainExecutionContext(c));
    }

    private static Thread Start(Action body)
    {
        var t = new Thread(() => body()) { IsBackground = true };
        t.Start();
        return t;
    }

    /// <summary>Waits until <paramref name="t"/> is blocked (or finished, if <paramref name="done"/> says so).</summary>
    private static void WaitBlockedOrDone(Thread t, Func<bool> done)
    {
        Assert.True(SpinWait.SpinUntil(() => done() || (t.ThreadState & ThreadState.WaitSleepJoin) != 0, HangGuard),
            "the other thread neither blocked nor finished");
    }

    private static void Join(Thread t) => Assert.True(t.Join(HangGuard), "thread did not finish");

    /// <summary>Runs <paramref name="body"/> on a thread of its own, so that a self-deadlock fails the test instead of hanging it.</summary>
    private static void OnOwnThread(Action body)
    {
        Exception? failure = null;
        Join(Start(() =>
        {
            try { body(); }
            catch (Exception e) { failure = e; }
        }));
        if (failure is not null)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
    }

    // ---- exclusion -------------------------------------------------------------------------

    [Fact]
    public void Mutex_ExcludesASecondThread_UntilReleased()
    {
        var (checks, x) = Make();
        var m = new mutex("m");
        x.Acquire(m, LockMode.Exclusive);

        using var trying = new ManualResetEventSlim();
        bool acquired = false;
        var other = Start(() =>
        {
            trying.Set();
            x.Acquire(m, LockMode.Exclusive);
            Volatile.Write(ref acquired, true);
            x.Release(m, LockMode.Exclusive);
        });
        trying.Wait(HangGuard);
        WaitBlockedOrDone(other, () => Volatile.Read(ref acquired));
        Assert.False(Volatile.Read(ref acquired), "second thread took a mutex that is held");
        Assert.True(m.IsLocked);

        x.Release(m, LockMode.Exclusive);
        Join(other);
        Assert.True(acquired);
        Assert.False(m.IsLocked);
        Assert.Equal(0, checks.Count);
    }

    [Fact]
    public void RwSemaphore_ReadersShare_AndAWriterWaitsForAllOfThem()
    {
        var (checks, x) = Make();
        var s = new rw_semaphore("s");
        x.Acquire(s, LockMode.Shared);

        // A second reader on another thread gets in while we hold the read side.
        using var readerIn = new ManualResetEventSlim();
        using var readerMayLeave = new ManualResetEventSlim();
        var reader = Start(() =>
        {
            x.Acquire(s, LockMode.Shared);
            readerIn.Set();
            readerMayLeave.Wait();
            x.Release(s, LockMode.Shared);
        });
        Assert.True(readerIn.Wait(HangGuard), "a second reader was excluded");
        Assert.Equal(2, s.Readers);

        // A writer waits while any reader holds it.
        using var writerTrying = new ManualResetEventSlim();
        bool writerIn = false;
        var writer = Start(() =>
        {
            writerTrying.Set();
            x.Acquire(s, LockMode.Exclusive);
            Volatile.Write(ref writerIn, true);
            x.Release(s, LockMode.Exclusive);
        });
        writerTrying.Wait(HangGuard);
        WaitBlockedOrDone(writer, () => Volatile.Read(ref writerIn));
        Assert.False(Volatile.Read(ref writerIn), "writer entered with readers inside");

        x.Release(s, LockMode.Shared);
        // One reader left: the writer must still wait for the other.
        WaitBlockedOrDone(writer, () => Volatile.Read(ref writerIn));
        Assert.False(Volatile.Read(ref writerIn), "writer entered with a reader inside");

        readerMayLeave.Set();
        Join(reader);
        Join(writer);
        Assert.True(writerIn);
        Assert.False(s.IsLocked);
        Assert.Equal(0, checks.Count);
    }

    [Fact]
    public void RwSemaphore_AWriterExcludesReaders()
    {
        var (checks, x) = Make();
        var s = new rw_semaphore("s");
        x.Acquire(s, LockMode.Exclusive);
        bool readerIn = false;
        using var trying = new ManualResetEventSlim();
        var reader = Start(() =>
        {
            trying.Set();
            x.Acquire(s, LockMode.Shared);
            Volatile.Write(ref readerIn, true);
            x.Release(s, LockMode.Shared);
        });
        trying.Wait(HangGuard);
        WaitBlockedOrDone(reader, () => Volatile.Read(ref readerIn));
        Assert.False(Volatile.Read(ref readerIn), "reader entered while a writer held the semaphore");
        x.Release(s, LockMode.Exclusive);
        Join(reader);
        Assert.True(readerIn);
        Assert.Equal(0, checks.Count);
    }

    // ---- ownership -------------------------------------------------------------------------

    [Fact]
    public void HeldByCurrent_InAnyMode_AndInASpecificMode_OnlyForTheHoldingThread()
    {
        var (_, x) = Make();
        var m = new mutex("m");
        var s = new rw_semaphore("s");
        Assert.False(x.HeldByCurrent(m));
        x.Acquire(m, LockMode.Exclusive);
        x.Acquire(s, LockMode.Shared);
        Assert.True(x.HeldByCurrent(m));
        Assert.True(x.HeldByCurrent(m, LockMode.Exclusive));
        Assert.False(x.HeldByCurrent(m, LockMode.Shared));
        Assert.True(x.HeldByCurrent(s));
        Assert.True(x.HeldByCurrent(s, LockMode.Shared));
        Assert.False(x.HeldByCurrent(s, LockMode.Exclusive));
        Assert.Equal<KLock>([m, s], x.HeldLocks);

        bool[] seenByOther = [];
        Join(Start(() => seenByOther = [x.HeldByCurrent(m), x.HeldByCurrent(s), x.HeldByCurrent(m, LockMode.Exclusive)]));
        Assert.Equal([false, false, false], seenByOther);

        x.Release(s, LockMode.Shared);
        x.Release(m, LockMode.Exclusive);
        Assert.False(x.HeldByCurrent(m));
        Assert.False(x.HeldByCurrent(s));
        Assert.Empty(x.HeldLocks);
    }

    [Fact]
    public void ReleaseOfALockNotHeld_IsReported_AndLeavesTheLockAlone()
    {
        var (checks, x) = Make();
        var m = new mutex("m");
        x.Release(m, LockMode.Exclusive);
        var v = Assert.Single(checks.Violations);
        Assert.Equal(CheckKind.LockdepNotHeld, v.Kind);
        Assert.Equal("lock_release", v.Function);

        // Held in the other mode.
        var s = new rw_semaphore("s");
        x.Acquire(s, LockMode.Shared);
        x.Release(s, LockMode.Exclusive);
        Assert.Equal(2, checks.Count);
        Assert.Equal(CheckKind.LockdepNotHeld, checks.Violations[1].Kind);
        Assert.True(x.HeldByCurrent(s, LockMode.Shared));
        Assert.Equal(1, s.Readers);

        // Held by another thread: this thread's release is reported and does not unlock it.
        using var held = new ManualResetEventSlim();
        using var leave = new ManualResetEventSlim();
        var owner = Start(() =>
        {
            x.Acquire(m, LockMode.Exclusive);
            held.Set();
            leave.Wait();
            x.Release(m, LockMode.Exclusive);
        });
        held.Wait(HangGuard);
        x.Release(m, LockMode.Exclusive);
        Assert.Equal(3, checks.Count);
        Assert.True(m.IsLocked);
        leave.Set();
        Join(owner);
        Assert.False(m.IsLocked);
        Assert.Equal(3, checks.Count);
    }

    [Theory]
    [InlineData(LockMode.Exclusive, LockMode.Exclusive)]
    [InlineData(LockMode.Exclusive, LockMode.Shared)]
    [InlineData(LockMode.Shared, LockMode.Exclusive)]
    public void RecursiveAcquisition_IsReported_AndThrowsKernelDeadlock(LockMode first, LockMode second) => OnOwnThread(() =>
    {
        var (checks, x) = Make();
        var s = new rw_semaphore("s");
        x.Acquire(s, first);
        Assert.Throws<KernelDeadlock>(() => x.Acquire(s, second));
        var v = Assert.Single(checks.Violations);
        Assert.Equal(CheckKind.LockdepOrder, v.Kind);
        Assert.Contains("recursive", v.Message);
        // The first hold is intact and releasable.
        Assert.Equal<KLock>([s], x.HeldLocks);
        x.Release(s, first);
        Assert.False(s.IsLocked);
        Assert.Equal(1, checks.Count);
    });

    // ---- lock order ------------------------------------------------------------------------

    [Fact]
    public void AbbaOrderInversion_BetweenTwoClasses_IsReported()
    {
        var (checks, x) = Make();
        var a = new mutex("A");
        var b = new mutex("B");
        x.Acquire(a, LockMode.Exclusive);
        x.Acquire(b, LockMode.Exclusive);
        x.Release(b, LockMode.Exclusive);
        x.Release(a, LockMode.Exclusive);
        // The same order again is fine.
        x.Acquire(a, LockMode.Exclusive);
        x.Acquire(b, LockMode.Exclusive);
        x.Release(b, LockMode.Exclusive);
        x.Release(a, LockMode.Exclusive);
        Assert.Equal(0, checks.Count);

        x.Acquire(b, LockMode.Exclusive);
        x.Acquire(a, LockMode.Exclusive);
        var v = Assert.Single(checks.Violations);
        Assert.Equal(CheckKind.LockdepOrder, v.Kind);
        Assert.Contains("circular", v.Message);
        Assert.Contains("A", v.Message);
        Assert.Contains("B", v.Message);
        x.Release(a, LockMode.Exclusive);
        x.Release(b, LockMode.Exclusive);
    }

    [Fact]
    public void AbbaOrder_IsPerClass_AcrossInstancesAndThreads()
    {
        var (checks, x) = Make();
        // Thread 1 nests instance a1 (class A) -> b1 (class B).
        Join(Start(() =>
        {
            var a1 = new mutex("A");
            var b1 = new mutex("B");
            x.Acquire(a1, LockMode.Exclusive);
            x.Acquire(b1, LockMode.Exclusive);
            x.Release(b1, LockMode.Exclusive);
            x.Release(a1, LockMode.Exclusive);
        }));
        Assert.Equal(0, checks.Count);
        // This thread nests other instances the other way round.
        var b2 = new rw_semaphore("B");
        var a2 = new mutex("A");
        x.Acquire(b2, LockMode.Shared);
        x.Acquire(a2, LockMode.Exclusive);
        Assert.Equal(CheckKind.LockdepOrder, Assert.Single(checks.Violations).Kind);
        x.Release(a2, LockMode.Exclusive);
        x.Release(b2, LockMode.Shared);
    }

    [Fact]
    public void NestingTwoInstancesOfOneClass_IsNotAnOrderReport()
    {
        var (checks, x) = Make();
        var p1 = new mutex("iopt_pages.mutex");
        var p2 = new mutex("iopt_pages.mutex");
        x.Acquire(p1, LockMode.Exclusive);
        x.Acquire(p2, LockMode.Exclusive);
        x.Release(p2, LockMode.Exclusive);
        x.Release(p1, LockMode.Exclusive);
        x.Acquire(p2, LockMode.Exclusive);
        x.Acquire(p1, LockMode.Exclusive);
        x.Release(p1, LockMode.Exclusive);
        x.Release(p2, LockMode.Exclusive);
        Assert.Equal(0, checks.Count);
    }

    // ---- atomic context --------------------------------------------------------------------

    [Fact]
    public void SleepingLock_InsideAnRcuReadSection_IsReported_SpinlockIsNot()
    {
        var (checks, x) = Make();
        var spin = new spinlock_t("xa_lock");
        var m = new mutex("m");
        x.RcuReadLock();
        x.Acquire(spin, LockMode.Exclusive);
        x.Release(spin, LockMode.Exclusive);
        Assert.Equal(0, checks.Count);
        x.Acquire(m, LockMode.Exclusive);
        var v = Assert.Single(checks.Violations);
        Assert.Equal(CheckKind.LockdepOrder, v.Kind);
        Assert.Equal("might_sleep", v.Function);
        x.Release(m, LockMode.Exclusive);
        x.RcuReadUnlock();
        // Outside the section the same lock is fine.
        x.Acquire(m, LockMode.Exclusive);
        x.Release(m, LockMode.Exclusive);
        Assert.Equal(1, checks.Count);
    }

    [Fact]
    public void SleepingLock_WhileHoldingASpinlock_IsReported()
    {
        var (checks, x) = Make();
        var spin = new spinlock_t("xa_lock");
        var s = new rw_semaphore("s");
        x.Acquire(spin, LockMode.Exclusive);
        x.Acquire(s, LockMode.Shared);
        var v = Assert.Single(checks.Violations);
        Assert.Equal("might_sleep", v.Function);
        x.Release(s, LockMode.Shared);
        x.Release(spin, LockMode.Exclusive);
        x.Acquire(s, LockMode.Shared);
        x.Release(s, LockMode.Shared);
        Assert.Equal(1, checks.Count);
    }

    [Fact]
    public void RcuReadSections_Nest_PerThread_AndAnUnbalancedUnlockIsReported()
    {
        var (checks, x) = Make();
        Assert.False(x.InRcuReadSection);
        x.RcuReadLock();
        x.RcuReadLock();
        Assert.True(x.InRcuReadSection);
        bool otherSees = true;
        Join(Start(() => otherSees = x.InRcuReadSection));
        Assert.False(otherSees);
        x.RcuReadUnlock();
        Assert.True(x.InRcuReadSection);
        x.RcuReadUnlock();
        Assert.False(x.InRcuReadSection);
        Assert.Equal(0, checks.Count);

        x.RcuReadUnlock();
        var v = Assert.Single(checks.Violations);
        Assert.Equal(CheckKind.LockdepNotHeld, v.Kind);
        Assert.Equal("rcu_read_unlock", v.Function);
        // The depth did not go negative: one lock opens a section again, one unlock closes it.
        x.RcuReadLock();
        Assert.True(x.InRcuReadSection);
        x.RcuReadUnlock();
        Assert.False(x.InRcuReadSection);
    }

    [Fact]
    public void UsingADestroyedMutex_IsReported()
    {
        var (checks, x) = Make();
        var m = new mutex("m") { Destroyed = true };
        x.Acquire(m, LockMode.Exclusive);
        var v = Assert.Single(checks.Violations);
        Assert.Equal(CheckKind.FakeMisuse, v.Kind);
        Assert.Contains("mutex_destroy", v.Message);
        Assert.True(x.HeldByCurrent(m));
        x.Release(m, LockMode.Exclusive);
    }

    // ---- identity --------------------------------------------------------------------------

    [Fact]
    public void Current_IsPerThread_AndUnsetThrows()
    {
        var (_, x) = Make();
        Assert.Throws<InvalidOperationException>(() => x.Current);
        var mine = new task_struct();
        x.SetCurrent(mine);
        Assert.Same(mine, x.Current);

        var theirs = new task_struct();
        task_struct? seen = null;
        bool unsetThrew = false;
        Join(Start(() =>
        {
            try { _ = x.Current; }
            catch (InvalidOperationException) { unsetThrew = true; }
            x.SetCurrent(theirs);
            seen = x.Current;
        }));
        Assert.True(unsetThrew);
        Assert.Same(theirs, seen);
        Assert.Same(mine, x.Current);
    }

    [Fact]
    public void ThreadId_IsStablePerThread_AndDistinctAcrossThreads()
    {
        var (_, x) = Make();
        int mine = x.ThreadId;
        Assert.Equal(mine, x.ThreadId);
        var ids = new int[3];
        var threads = Enumerable.Range(0, ids.Length).Select(i => Start(() =>
        {
            int first = x.ThreadId;
            ids[i] = first == x.ThreadId ? first : -1;
        })).ToArray();
        foreach (var t in threads) Join(t);
        Assert.DoesNotContain(-1, ids);
        Assert.Equal(ids.Length + 1, ids.Append(mine).Distinct().Count());
        Assert.All(ids.Append(mine), id => Assert.True(id > 0));
    }
}
