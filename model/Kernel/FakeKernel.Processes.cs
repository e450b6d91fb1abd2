// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;

namespace Iommufd.Model.Kernel;

/// <summary>
/// Processes, threads, kernel threads and users of one simulated kernel, and the reference
/// counts that tie them together: a live task holds one usage reference on itself, one
/// reference on its user and (for user tasks) one mm_users reference; the mm_users together hold
/// one mm_count reference; a kernel thread inside <c>kthread_use_mm</c> holds an mm_count
/// reference. Exit drops the task's own references. <see cref="ReferenceImbalances"/> compares
/// every count with what the live tasks explain, for the harness's "nothing leaks" check.
/// Does not model: fork (address spaces are built, not copied), signals, zombies, pid reuse.
/// </summary>
public sealed partial class FakeKernel
{
    private readonly object processGate = new();
    private readonly List<task_struct> tasks = [];
    private readonly List<mm_struct> mms = [];
    private readonly List<user_struct> users = [];
    private int nextPid = 1, nextMmId = 1;
    private user_struct? rootUser;

    /// <summary>__account_locked_vm, task_rlimit, capable.</summary>
    public MmAccounting Accounting => new(this);
    /// <summary>pin_user_pages_* and unpin_user_page*.</summary>
    public Gup Gup => new(this);
    /// <summary>copy_to_user / copy_from_user / kmap_local_page.</summary>
    public UserCopy UserCopy => new(this);

    public IReadOnlyList<task_struct> Tasks { get { lock (processGate) return tasks.ToArray(); } }
    public IReadOnlyList<mm_struct> Mms { get { lock (processGate) return mms.ToArray(); } }
    public IReadOnlyList<user_struct> Users { get { lock (processGate) return users.ToArray(); } }

    /// <summary>A user (refcount 0 until a task runs as it).</summary>
    public user_struct CreateUser(uint uid)
    {
        var u = new user_struct(uid);
        lock (processGate) users.Add(u);
        return u;
    }

    /// <summary>The uid 0 user kernel threads run as (created on first use).</summary>
    public user_struct RootUser
    {
        get
        {
            lock (processGate)
            {
                if (rootUser is null)
                {
                    rootUser = new user_struct(0);
                    users.Add(rootUser);
                }
                return rootUser;
            }
        }
    }

    /// <summary>A new process (its group leader task) with a new, empty address space. Without
    /// <paramref name="user"/> it runs as a new user of its own (uid 1000 + pid).</summary>
    public task_struct CreateProcess(string comm = "proc", user_struct? user = null,
        ulong memlockLimit = task_struct.DefaultMemlockLimit, bool capIpcLock = false)
    {
        int pid;
        lock (processGate) pid = nextPid++;
        user ??= CreateUser(1000 + (uint)pid);
        GetUid(user, "CreateProcess");
        mm_struct mm;
        lock (processGate)
        {
            mm = new mm_struct(Phys, nextMmId++);
            mms.Add(mm);
        }
        var t = new task_struct(pid, comm, user, kthread: false)
        {
            mm = mm,
            RlimitMemlock = memlockLimit,
            CapIpcLock = capIpcLock,
        };
        lock (processGate) tasks.Add(t);
        return t;
    }

    /// <summary>A new thread of <paramref name="process"/>'s thread group: same mm (one more
    /// mm_users reference), same user, same rlimits.</summary>
    public task_struct CreateThread(task_struct process, string? comm = null)
    {
        var leader = process.group_leader;
        if (leader.Exited || leader.mm is null)
            throw new InvalidOperationException($"{leader} has exited or has no mm");
        int pid;
        lock (processGate) pid = nextPid++;
        GetUid(leader.User, "CreateThread");
        Interlocked.Increment(ref leader.mm.users);
        var t = new task_struct(pid, comm ?? leader.comm, leader.User, kthread: false, leader)
        {
            mm = leader.mm,
            CapIpcLock = leader.CapIpcLock,
        };
        lock (processGate) tasks.Add(t);
        return t;
    }

    /// <summary>A kernel thread: no mm, runs as root.</summary>
    public task_struct CreateKthread(string comm = "kthread")
    {
        int pid;
        lock (processGate) pid = nextPid++;
        var root = RootUser;
        GetUid(root, "CreateKthread");
        var t = new task_struct(pid, comm, root, kthread: true) { RlimitMemlock = task_struct.RLIM_INFINITY };
        lock (processGate) tasks.Add(t);
        return t;
    }

    /// <summary>One task exits: it leaves its mm (mmput), drops its user and its own usage reference.</summary>
    public void ExitTask(task_struct t)
    {
        if (t.Exited)
            throw new InvalidOperationException($"{t} already exited");
        t.Exited = true;
        var mm = t.mm;
        t.mm = null;
        if (mm is not null)
        {
            if (t.IsKthread)
                Checks.Report(CheckKind.Warn, "do_exit", $"{t} exits inside kthread_use_mm({mm})");
            else
                MmPut(mm, "do_exit");
        }
        FreeUid(t.User, "do_exit");
        PutTask(t, "do_exit");
    }

    /// <summary>A process exits: every live thread of its group, the leader last.</summary>
    public void ExitProcess(task_struct process)
    {
        var leader = process.group_leader;
        foreach (var t in Tasks.Where(t => ReferenceEquals(t.group_leader, leader) && !ReferenceEquals(t, leader) && !t.Exited))
            ExitTask(t);
        if (!leader.Exited)
            ExitTask(leader);
    }

    /// <summary>Makes <paramref name="t"/> the calling thread's <c>current</c>.</summary>
    public void SetCurrent(task_struct t) => Exec.SetCurrent(t);

    /// <summary>
    /// Every reference count that live tasks do not explain: task usage other than 1 for a live
    /// task or 0 for an exited one; mm_users other than the number of live user tasks on it;
    /// mm_count other than 1 while it has users, 0 after; user refcounts other than the number
    /// of live tasks running as the user. Empty when nothing leaks.
    /// </summary>
    public IReadOnlyList<string> ReferenceImbalances()
    {
        var result = new List<string>();
        var allTasks = Tasks;
        foreach (var t in allTasks)
        {
            int expected = t.Exited ? 0 : 1;
            if (t.Usage != expected)
                result.Add($"{t}: usage {t.Usage}, expected {expected}");
        }
        foreach (var mm in Mms)
        {
            int expectedUsers = allTasks.Count(t => !t.Exited && !t.IsKthread && ReferenceEquals(t.mm, mm));
            if (mm.mm_users != expectedUsers)
                result.Add($"{mm}: mm_users {mm.mm_users}, expected {expectedUsers}");
            int expectedCount = (expectedUsers > 0 ? 1 : 0)
                + allTasks.Count(t => !t.Exited && t.IsKthread && ReferenceEquals(t.mm, mm));
            if (mm.mm_count != expectedCount)
                result.Add($"{mm}: mm_count {mm.mm_count}, expected {expectedCount}");
        }
        foreach (var u in Users)
        {
            int expected = allTasks.Count(t => !t.Exited && ReferenceEquals(t.User, u));
            if (u.RefCount != expected)
                result.Add($"{u}: refcount {u.RefCount}, expected {expected}");
        }
        return result;
    }

    // ---- the reference operations behind the KernelApi services -----------------------------

    internal void MmGrab(mm_struct mm, string function)
    {
        if (Interlocked.Increment(ref mm.count) <= 1)
            Checks.Report(CheckKind.FakeMisuse, function, $"mmgrab of freed {mm}");
    }

    internal void MmDrop(mm_struct mm, string function)
    {
        int v = Interlocked.Decrement(ref mm.count);
        if (v < 0)
            Checks.Report(CheckKind.FakeMisuse, function, $"mmdrop underflow of {mm}");
        else if (v == 0)
            mm.Freed = true;
    }

    internal bool MmGetNotZero(mm_struct mm, string function)
    {
        if (mm.Freed)
            Checks.Report(CheckKind.FakeMisuse, function, $"mmget_not_zero of freed {mm} (no mm_count reference held)");
        if (ShouldFail(FaultSites.MmgetNotZero))
            return false;
        while (true)
        {
            int v = Volatile.Read(ref mm.users);
            if (v <= 0)
                return false;
            if (Interlocked.CompareExchange(ref mm.users, v + 1, v) == v)
                return true;
        }
    }

    internal void MmPut(mm_struct mm, string function)
    {
        int v = Interlocked.Decrement(ref mm.users);
        if (v < 0)
        {
            Checks.Report(CheckKind.FakeMisuse, function, $"mmput underflow of {mm}");
            return;
        }
        if (v > 0)
            return;
        mm.Exited = true;
        mm.Space.Teardown();
        MmDrop(mm, function);
    }

    internal void GetTask(task_struct t, string function)
    {
        if (Interlocked.Increment(ref t.usage) <= 1)
            Checks.Report(CheckKind.FakeMisuse, function, $"get_task_struct of freed {t}");
    }

    internal void PutTask(task_struct t, string function)
    {
        int v = Interlocked.Decrement(ref t.usage);
        if (v < 0)
            Checks.Report(CheckKind.FakeMisuse, function, $"put_task_struct underflow of {t}");
        else if (v == 0)
            t.Freed = true;
    }

    internal void GetUid(user_struct u, string function)
    {
        if (u.Freed)
            Checks.Report(CheckKind.FakeMisuse, function, $"get_uid of freed {u}");
        Interlocked.Increment(ref u.refcount);
    }

    internal void FreeUid(user_struct u, string function)
    {
        int v = Interlocked.Decrement(ref u.refcount);
        if (v < 0)
            Checks.Report(CheckKind.FakeMisuse, function, $"free_uid underflow of {u}");
        else if (v == 0)
            u.Freed = true;
    }

    internal void KthreadUseMm(mm_struct mm, string function)
    {
        var t = Exec.Current;
        if (!t.IsKthread)
            Checks.Report(CheckKind.Warn, function, $"{t} is not a kernel thread");
        if (t.mm is not null)
            Checks.Report(CheckKind.Warn, function, $"{t} already uses {t.mm}");
        MmGrab(mm, function);
        t.mm = mm;
    }

    internal void KthreadUnuseMm(mm_struct mm, string function)
    {
        var t = Exec.Current;
        if (!t.IsKthread)
            Checks.Report(CheckKind.Warn, function, $"{t} is not a kernel thread");
        if (!ReferenceEquals(t.mm, mm))
        {
            Checks.Report(CheckKind.Warn, function, $"{t} does not use {mm}");
            return;
        }
        t.mm = null;
        MmDrop(mm, function);
    }
}
