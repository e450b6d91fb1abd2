// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Scheduling;
using Iommufd.Model.Kernel;

namespace Iommufd.Tests.Scheduling;

/// <summary>Every strategy on tiny programs built on the fakes' locks.</summary>
public class StrategyTests
{
    // ---- programs ----------------------------------------------------------------------------

    /// <summary>T1 takes A then B, T2 takes B then A: some interleavings deadlock.</summary>
    private static Action[] Abba(SyntheticProgram p)
    {
        var a = new mutex("lock_a");
        var b = new mutex("lock_b");
        return
        [
            () => { p.Lock(a); p.Lock(b); p.Unlock(b); p.Unlock(a); },
            () => { p.Lock(b); p.Lock(a); p.Unlock(a); p.Unlock(b); },
        ];
    }

    /// <summary>Check-then-act across a scheduling point: both threads may see one unit and take it.</summary>
    private sealed class Account
    {
        public int Balance = 1;
    }

    private static Action[] Withdraw(SyntheticProgram p, Account acct) =>
    [
        () => { if (acct.Balance > 0) { p.Point("between check and act"); acct.Balance--; } },
        () => { if (acct.Balance > 0) { p.Point("between check and act"); acct.Balance--; } },
    ];

    /// <summary>T1 has two scheduling points (three blocks), T2 one (two blocks).</summary>
    private static Action[] ThreeAndTwoBlocks(SyntheticProgram p) =>
    [
        () => { p.Point("a1"); p.Point("a2"); },
        () => { p.Point("b1"); },
    ];

    private static bool Overdrawn(Dictionary<SyntheticProgram, Account> accounts, SyntheticProgram p) => accounts[p].Balance < 0;

    // ---- deadlock ----------------------------------------------------------------------------

    [Fact]
    public void Abba_PbDfsFindsTheDeadlock_ReportsItThroughChecks_AndUnwindsBothThreads()
    {
        SyntheticProgram? deadlocked = null;
        var runs = SyntheticProgram.Explore(new PreemptionBoundedDfsStrategy(1), 100, Abba,
            (p, r) => { if (r.Outcome == ScheduleOutcome.Deadlock) deadlocked = p; return deadlocked is not null; });
        var run = runs[^1];
        Assert.Equal(ScheduleOutcome.Deadlock, run.Outcome);
        Assert.NotNull(deadlocked);
        Assert.Contains(deadlocked!.Kernel.Checks.Violations, v => v.Kind == CheckKind.Deadlock && v.Function == "hung_task");
        Assert.Contains("T1 waits for lock_b held by T2", run.Message);
        Assert.Contains("T2 waits for lock_a held by T1", run.Message);
        // The run returned: both threads were unwound, and the context takes a new run.
        Assert.Equal(ScheduleOutcome.Completed, deadlocked.Context.Run([() => { }], new RandomWalkStrategy(1).Prepared(), 10).Outcome);
        // The non-preemptive schedules (level 0) do not deadlock.
        Assert.All(runs.Take(2), r => Assert.Equal(ScheduleOutcome.Completed, r.Outcome));
    }

    [Fact]
    public void Abba_RandomWalkAndPct_FindTheDeadlockToo()
    {
        foreach (ISchedulingStrategy s in new ISchedulingStrategy[] { new RandomWalkStrategy(3), new PctStrategy(3, 2) })
        {
            var runs = SyntheticProgram.Explore(s, 200, Abba, (_, r) => r.Outcome == ScheduleOutcome.Deadlock);
            Assert.True(runs[^1].Outcome == ScheduleOutcome.Deadlock, $"{s.Name} did not deadlock in {runs.Count} schedules");
        }
    }

    [Fact]
    public void Abba_CompletedRunsReportTheLockOrderInversion_AsPlainLockdepDoes()
    {
        SyntheticProgram? found = null;
        SyntheticProgram.Explore(new PreemptionBoundedDfsStrategy(0), 10, Abba,
            (p, r) => { if (r.Outcome == ScheduleOutcome.Completed) found = p; return found is not null; });
        Assert.NotNull(found);
        Assert.Contains(found!.Kernel.Checks.Violations, v => v.Kind == CheckKind.LockdepOrder && v.Message.Contains("possible circular locking"));
    }

    // ---- order-dependent bug -----------------------------------------------------------------

    [Fact]
    public void CheckThenAct_PctDepth2_FindsTheOverdraftWithinAFewSchedules()
    {
        var accounts = new Dictionary<SyntheticProgram, Account>();
        var runs = SyntheticProgram.Explore(new PctStrategy(11, 2), 30, p => Withdraw(p, accounts[p] = new Account()),
            (p, _) => Overdrawn(accounts, p));
        Assert.True(accounts.Keys.Any(p => Overdrawn(accounts, p)), $"PCT d=2 missed the overdraft in {runs.Count} schedules");
        Assert.True(runs.Count <= 30);
    }

    [Fact]
    public void CheckThenAct_PctDepth1_NeverPreempts_SoNeverOverdraws()
    {
        var accounts = new Dictionary<SyntheticProgram, Account>();
        SyntheticProgram.Explore(new PctStrategy(11, 1), 30, p => Withdraw(p, accounts[p] = new Account()));
        Assert.Equal(30, accounts.Count);
        Assert.DoesNotContain(accounts.Keys, p => Overdrawn(accounts, p));
    }

    [Fact]
    public void CheckThenAct_RandomWalk_FindsTheOverdraft()
    {
        var accounts = new Dictionary<SyntheticProgram, Account>();
        var runs = SyntheticProgram.Explore(new RandomWalkStrategy(5), 30, p => Withdraw(p, accounts[p] = new Account()),
            (p, _) => Overdrawn(accounts, p));
        Assert.True(accounts.Keys.Any(p => Overdrawn(accounts, p)), $"random walk missed the overdraft in {runs.Count} schedules");
    }

    // ---- PB-DFS counts -----------------------------------------------------------------------

    [Fact]
    public void PbDfs_Bound0_EnumeratesTheTwoNonPreemptiveSchedules_ThenIsExhausted()
    {
        var s = new PreemptionBoundedDfsStrategy(0);
        var runs = SyntheticProgram.Explore(s, 100, ThreeAndTwoBlocks);
        Assert.True(s.IsExhausted);
        Assert.Equal(["11122", "22111"], runs.Select(SyntheticProgram.Key).Order().ToArray());
    }

    [Fact]
    public void PbDfs_Bound1_EnumeratesTheFiveSchedulesWithAtMostOnePreemption_ThenIsExhausted()
    {
        // Blocks: T1 has 3 (a1, a2 split it), T2 has 2. With at most one preemption (a switch away
        // from a thread that has blocks left): 11122 and 22111 (none), 11221, 12211 (T1 preempted
        // once, T2 runs to the end) and 21112 (T2 preempted once). The other five of the
        // C(5,2) = 10 interleavings need two.
        var s = new PreemptionBoundedDfsStrategy(1);
        var runs = SyntheticProgram.Explore(s, 100, ThreeAndTwoBlocks);
        Assert.True(s.IsExhausted);
        Assert.Equal(2 + 5, runs.Count); // level 0, then level 1 (which repeats level 0's two)
        Assert.Equal(5, s.DistinctSchedules);
        Assert.Equal(["11122", "11221", "12211", "21112", "22111"], runs.Select(SyntheticProgram.Key).Distinct().Order().ToArray());
    }

    [Fact]
    public void PbDfs_Bound2_MissesOnlyAbaba_Bound3_ReachesAllTenInterleavings()
    {
        // 12121 switches away from a thread with blocks left three times (the last switch, after
        // T2's second block, is free); every other interleaving needs at most two.
        var two = new PreemptionBoundedDfsStrategy(2);
        var keys = SyntheticProgram.Explore(two, 100, ThreeAndTwoBlocks).Select(SyntheticProgram.Key).Distinct().ToList();
        Assert.True(two.IsExhausted);
        Assert.Equal(9, keys.Count);
        Assert.Equal(9, two.DistinctSchedules);
        Assert.DoesNotContain("12121", keys);

        var three = new PreemptionBoundedDfsStrategy(3);
        var all = SyntheticProgram.Explore(three, 100, ThreeAndTwoBlocks).Select(SyntheticProgram.Key).Distinct().ToList();
        Assert.True(three.IsExhausted);
        Assert.Equal(10, all.Count);
        Assert.Contains("12121", all);
    }

    // ---- delay bounding ----------------------------------------------------------------------

    [Fact]
    public void DelayBounding_NoDelays_IsTheRoundRobinSchedule_EveryTime()
    {
        var m = new mutex("m");
        Action[] Program(SyntheticProgram p) =>
        [
            () => { p.Point("x1"); p.Point("x2"); },
            () => { p.Lock(m); p.Unlock(m); },
            () => { p.Point("z1"); },
        ];
        var runs = SyntheticProgram.Explore(new DelayBoundingStrategy(9, 0), 5, Program);
        // T1 runs until it finishes, then T2 (acquire, release), then T3: decisions at start, x1,
        // x2, T1's finish, acquire, release, T2's finish, z1.
        Assert.All(runs, r => Assert.Equal("11122233", SyntheticProgram.Key(r)));
        Assert.Equal("start", runs[0].Trace[0].Site);
        Assert.Equal("acquire m", runs[0].Trace[4].Site);
    }

    [Fact]
    public void DelayBounding_OneDelay_LeavesRoundRobin_AndFindsTheOverdraft()
    {
        var accounts = new Dictionary<SyntheticProgram, Account>();
        var runs = SyntheticProgram.Explore(new DelayBoundingStrategy(4, 1), 40, p => Withdraw(p, accounts[p] = new Account()),
            (p, _) => Overdrawn(accounts, p));
        Assert.True(accounts.Keys.Any(p => Overdrawn(accounts, p)), $"one delay missed the overdraft in {runs.Count} schedules");
    }

    [Fact]
    public void DelayBoundingExhaustive_EnumeratesEveryPlacementOfTheDelays_ThenIsExhausted()
    {
        // Round robin gives 11122; its decisions with a choice are the start, a1 and a2 (after T1
        // finishes only T2 can run). One delay at the start gives 22111 (T2 then runs on: no delay
        // left at b1), at a1 12211, at a2 11221.
        var none = new DelayBoundingStrategy(1, 0, exhaustive: true);
        Assert.Equal(["11122"], SyntheticProgram.Explore(none, 100, ThreeAndTwoBlocks).Select(SyntheticProgram.Key).ToArray());
        Assert.True(none.IsExhausted);

        var one = new DelayBoundingStrategy(1, 1, exhaustive: true);
        var keys = SyntheticProgram.Explore(one, 100, ThreeAndTwoBlocks).Select(SyntheticProgram.Key).ToArray();
        Assert.True(one.IsExhausted);
        Assert.Equal(["11122", "11221", "12211", "22111"], keys.Order().ToArray());
        Assert.Equal(keys.Length, keys.Distinct().Count());
    }

    // ---- replay ------------------------------------------------------------------------------

    [Fact]
    public void Replay_OfARecordedSchedule_ReproducesTheTraceByteForByte()
    {
        var recorded = SyntheticProgram.Explore(new RandomWalkStrategy(21), 12, Abba)
            .First(r => r.Schedule.Distinct().Count() > 1 && r.Trace.Count > 6);
        var replay = new ReplayStrategy(recorded.Schedule);
        var again = SyntheticProgram.Explore(replay, 5, Abba);
        Assert.Single(again);
        Assert.True(replay.IsExhausted);
        Assert.Equal(SyntheticProgram.Render(recorded), SyntheticProgram.Render(again[0]));
    }

    [Fact]
    public void Replay_OfAWrongSchedule_IsReportedAsDivergence()
    {
        // In ThreeAndTwoBlocks, after T2's only block ends... "2222" asks for T2 after it finished.
        var run = SyntheticProgram.Explore(new ReplayStrategy([2, 2, 2, 2]), 1, ThreeAndTwoBlocks)[0];
        Assert.Equal(ScheduleOutcome.Divergence, run.Outcome);
        Assert.Contains("recorded T2 is not runnable", run.Message);
        var tooShort = SyntheticProgram.Explore(new ReplayStrategy([1, 1]), 1, ThreeAndTwoBlocks)[0];
        Assert.Equal(ScheduleOutcome.Divergence, tooShort.Outcome);
        Assert.Contains("past the 2 recorded decisions", tooShort.Message);
    }

    // ---- determinism -------------------------------------------------------------------------

    [Fact]
    public void SameSeed_SameSchedules_ForEverySeededStrategy()
    {
        Func<ISchedulingStrategy>[] makers =
        [
            () => new RandomWalkStrategy(77), () => new PctStrategy(77, 3), () => new DelayBoundingStrategy(77, 2),
        ];
        foreach (var make in makers)
        {
            var first = SyntheticProgram.Explore(make(), 25, Abba).Select(SyntheticProgram.Render).ToArray();
            var second = SyntheticProgram.Explore(make(), 25, Abba).Select(SyntheticProgram.Render).ToArray();
            Assert.Equal(first, second);
            Assert.True(first.Distinct().Count() > 1, $"{make().Name} produced a single schedule");
        }
        var other = SyntheticProgram.Explore(new RandomWalkStrategy(78), 25, Abba).Select(SyntheticProgram.Render);
        Assert.NotEqual(SyntheticProgram.Explore(new RandomWalkStrategy(77), 25, Abba).Select(SyntheticProgram.Render), other);
    }

    // ---- rw_semaphore ------------------------------------------------------------------------

    private sealed class Occupancy
    {
        public int Readers, Writers, MaxReaders;
        public bool Mixed;
        public void Enter(bool write)
        {
            if (write) Writers++; else Readers++;
            MaxReaders = Math.Max(MaxReaders, Readers);
            Mixed |= Writers > 1 || (Writers > 0 && Readers > 0);
        }
        public void Leave(bool write) { if (write) Writers--; else Readers--; }
    }

    private static Action Section(SyntheticProgram p, rw_semaphore s, Occupancy o, bool write) => () =>
    {
        var mode = write ? LockMode.Exclusive : LockMode.Shared;
        p.Exec.Acquire(s, mode);
        o.Enter(write);
        p.Point("inside");
        o.Leave(write);
        p.Exec.Release(s, mode);
    };

    [Fact]
    public void RwSemaphore_ReadersShare_AWriterExcludesThem()
    {
        var shared = new List<Occupancy>();
        SyntheticProgram.Explore(new PreemptionBoundedDfsStrategy(2), 200, p =>
        {
            var s = new rw_semaphore("sem"); var o = new Occupancy(); shared.Add(o);
            return [Section(p, s, o, false), Section(p, s, o, false)];
        });
        Assert.Contains(shared, o => o.MaxReaders == 2);

        var exclusive = new List<Occupancy>();
        var runs = SyntheticProgram.Explore(new PreemptionBoundedDfsStrategy(1), 200, p =>
        {
            var s = new rw_semaphore("sem"); var o = new Occupancy(); exclusive.Add(o);
            return [Section(p, s, o, true), Section(p, s, o, false), Section(p, s, o, true)];
        });
        Assert.True(runs.Count > 10);
        Assert.All(exclusive, o => Assert.False(o.Mixed));
        // Somewhere a reader waited for the writer: it was not runnable at a decision.
        Assert.Contains(runs, r => r.Trace.Any(t => t.Site == "acquire sem (read)" && t.Chosen != t.From && !t.Runnable.Contains(t.From)));
        Assert.All(runs, r => Assert.Equal(ScheduleOutcome.Completed, r.Outcome));
    }

    // ---- crash, budget, driver ---------------------------------------------------------------

    [Fact]
    public void ACrashingThread_EndsTheRun_AndTheOthersAreUnwound()
    {
        var m = new mutex("m");
        var run = SyntheticProgram.Explore(new DelayBoundingStrategy(1, 0), 1, p =>
        [
            () => { p.Lock(m); p.Point("before oops"); throw new NullReferenceException("oops"); },
            () => { p.Lock(m); p.Unlock(m); },
        ])[0];
        Assert.Equal(ScheduleOutcome.Crash, run.Outcome);
        Assert.Equal(1, run.CrashedThread);
        Assert.IsType<NullReferenceException>(run.Failure);
    }

    [Fact]
    public void ALivelock_StopsAtTheStepBudget()
    {
        var run = SyntheticProgram.Explore(new DelayBoundingStrategy(1, 0), 1, p =>
        {
            bool flag = false;
            return [() => { while (!flag) p.Point("spin"); }, () => flag = true];
        }, budget: 50)[0];
        Assert.Equal(ScheduleOutcome.StepBudget, run.Outcome);
        Assert.Equal(50, run.Decisions);
    }

    [Fact]
    public void TheDriver_OutsideARun_ReportsALockLeftHeld_AsADeadlock()
    {
        var p = new SyntheticProgram();
        var m = new mutex("m");
        var run = p.Context.Run([() => { p.Lock(m); p.Point("then hang up"); throw new InvalidOperationException("gone"); }],
            new RandomWalkStrategy(1).Prepared(), 100);
        Assert.Equal(ScheduleOutcome.Crash, run.Outcome);
        Assert.Throws<KernelDeadlock>(() => p.Lock(m));
        Assert.Contains(p.Kernel.Checks.Violations, v => v.Kind == CheckKind.Deadlock);
    }
}

internal static class StrategyExtensions
{
    public static ISchedulingStrategy Prepared(this ISchedulingStrategy s)
    {
        Assert.True(s.PrepareNextIteration());
        return s;
    }
}
