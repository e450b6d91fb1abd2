// SPDX-License-Identifier: GPL-2.0-only
using System.Runtime.CompilerServices;
using Iommufd.Faults;
using Iommufd.Model.Kernel;

namespace Iommufd.Tests.Kernel;

/// <summary>The mm / task / GUP services of <see cref="KernelApi"/>, made public for the tests.</summary>
internal sealed class MmKernelApi(FakeKernel kernel) : KernelApi(kernel)
{
    public new task_struct current => base.current;
    public new user_struct current_user() => base.current_user();
    public new bool capable(int cap) => base.capable(cap);
    public new ulong task_rlimit(task_struct task, int limit) => base.task_rlimit(task, limit);
    public new void get_task_struct(task_struct t) => base.get_task_struct(t);
    public new void put_task_struct(task_struct t) => base.put_task_struct(t);
    public new user_struct get_uid(user_struct u) => base.get_uid(u);
    public new void free_uid(user_struct u) => base.free_uid(u);
    public new void mmgrab(mm_struct mm) => base.mmgrab(mm);
    public new void mmdrop(mm_struct mm) => base.mmdrop(mm);
    public new bool mmget_not_zero(mm_struct mm) => base.mmget_not_zero(mm);
    public new void mmput(mm_struct mm) => base.mmput(mm);
    public new void mmap_read_lock(mm_struct mm) => base.mmap_read_lock(mm);
    public new void mmap_read_unlock(mm_struct mm) => base.mmap_read_unlock(mm);
    public new void mmap_write_lock(mm_struct mm) => base.mmap_write_lock(mm);
    public new void mmap_write_unlock(mm_struct mm) => base.mmap_write_unlock(mm);
    public new int __account_locked_vm(mm_struct mm, ulong pages, bool inc, task_struct task, bool bypass_rlim) =>
        base.__account_locked_vm(mm, pages, inc, task, bypass_rlim);
    public new void kthread_use_mm(mm_struct mm) => base.kthread_use_mm(mm);
    public new void kthread_unuse_mm(mm_struct mm) => base.kthread_unuse_mm(mm);
    public new ulong copy_to_user(ulong to, Ptr<byte> from, ulong n) => base.copy_to_user(to, from, n);
    public new ulong copy_from_user(Ptr<byte> to, ulong from, ulong n) => base.copy_from_user(to, from, n);
    public new int pin_user_pages_fast(ulong start, int nr_pages, uint gup_flags, Ptr<PagePtr> pages) =>
        base.pin_user_pages_fast(start, nr_pages, gup_flags, pages);
    public new long pin_user_pages_remote(mm_struct mm, ulong start, ulong nr_pages, uint gup_flags, Ptr<PagePtr> pages, object? vmas, ref int locked) =>
        base.pin_user_pages_remote(mm, start, nr_pages, gup_flags, pages, vmas, ref locked);
    /// <summary>pin_user_pages_remote(..., NULL) for <c>locked</c>.</summary>
    public long pin_user_pages_remote_nolocked(mm_struct mm, ulong start, ulong nr_pages, uint gup_flags, Ptr<PagePtr> pages) =>
        base.pin_user_pages_remote(mm, start, nr_pages, gup_flags, pages, null, ref Unsafe.NullRef<int>());
    public new void unpin_user_pages(Ptr<PagePtr> pages, ulong npages) => base.unpin_user_pages(pages, npages);
    public new void unpin_user_page(PagePtr page) => base.unpin_user_page(page);
    public new void unpin_user_page_range_dirty_lock(PagePtr page, ulong npages, bool make_dirty) =>
        base.unpin_user_page_range_dirty_lock(page, npages, make_dirty);
    public new void set_page_dirty_lock(PagePtr page) => base.set_page_dirty_lock(page);
    public new Ptr<byte> kmap_local_page(PagePtr page) => base.kmap_local_page(page);
    public new void kunmap_local(Ptr<byte> addr) => base.kunmap_local(addr);
}

/// <summary>Shared set-up for the mm tests: a kernel, one process as current, buffers.</summary>
internal static class MmFixture
{
    public const ulong P = KernelApi.PAGE_SIZE;
    public const ulong Base = 0x7f00_0000_0000;

    public static (FakeKernel K, MmKernelApi Api, task_struct Proc) Make(params (string Site, long Hit)[] faults)
    {
        var k = new FakeKernel(new FaultInjector(faults.Length == 0 ? new NoFaults() : new ExplicitFaults(faults)));
        var proc = k.CreateProcess("test");
        k.SetCurrent(proc);
        return (k, new MmKernelApi(k), proc);
    }

    public static Ptr<PagePtr> PageArray(long n) => new Ptr<byte>(KMem.Stack(8 * n), 0).Cast<PagePtr>();
    public static Ptr<byte> Buffer(long n) => new(KMem.Stack(n), 0);

    public static IEnumerable<CheckViolation> Of(FakeKernel k, CheckKind kind) => k.Checks.Violations.Where(v => v.Kind == kind);
}

public class MmTests
{
    private const ulong P = MmFixture.P, Base = MmFixture.Base;

    [Fact]
    public void MmgrabAndMmdrop_CountReferences_LastDropFrees()
    {
        var (k, api, proc) = MmFixture.Make();
        var mm = proc.mm!;
        api.mmgrab(mm);
        Assert.Equal(2, mm.mm_count);
        api.mmdrop(mm);
        Assert.Equal(1, mm.mm_count);
        k.ExitTask(proc);
        Assert.Equal(0, mm.mm_count);
        Assert.True(mm.Freed);
        Assert.Empty(k.Checks.Violations);
    }

    [Fact]
    public void Mmgrab_OfFreedMm_IsMisuse()
    {
        var (k, api, proc) = MmFixture.Make();
        var mm = proc.mm!;
        k.ExitTask(proc);
        api.mmgrab(mm);
        var v = Assert.Single(k.Checks.Violations);
        Assert.Equal(CheckKind.FakeMisuse, v.Kind);
        Assert.Equal("mmgrab", v.Function);
    }

    [Fact]
    public void Mmdrop_Underflow_IsMisuse()
    {
        var (k, api, proc) = MmFixture.Make();
        var mm = proc.mm!;
        k.ExitTask(proc);
        api.mmdrop(mm);
        Assert.Contains(k.Checks.Violations, v => v.Kind == CheckKind.FakeMisuse && v.Function == "mmdrop");
    }

    [Fact]
    public void MmgetNotZero_SucceedsWhileUsed_FailsAfterExit()
    {
        var (k, api, proc) = MmFixture.Make();
        var mm = proc.mm!;
        api.mmgrab(mm);
        Assert.True(api.mmget_not_zero(mm));
        Assert.Equal(2, mm.mm_users);
        api.mmput(mm);
        Assert.Equal(1, mm.mm_users);
        k.ExitTask(proc);
        Assert.Equal(0, mm.mm_users);
        Assert.False(api.mmget_not_zero(mm));
        Assert.Equal(0, mm.mm_users);
        api.mmdrop(mm);
        Assert.Empty(k.Checks.Violations);
        Assert.Empty(k.ReferenceImbalances());
    }

    [Fact]
    public void MmgetNotZero_FaultSite_FailsAsIfExiting()
    {
        var (k, api, proc) = MmFixture.Make((FaultSites.MmgetNotZero, 2));
        var mm = proc.mm!;
        Assert.True(api.mmget_not_zero(mm));
        Assert.False(api.mmget_not_zero(mm));
        Assert.True(api.mmget_not_zero(mm));
        Assert.Equal(3, mm.mm_users);
        Assert.Equal(3, k.Faults.Hits[FaultSites.MmgetNotZero]);
    }

    [Fact]
    public void Mmput_OfLastUser_TearsDownTheAddressSpace_AndUnderflowIsMisuse()
    {
        var (k, api, proc) = MmFixture.Make();
        var mm = proc.mm!;
        mm.Space.MapNewRun(Base, 2);
        api.mmgrab(mm);
        api.mmput(mm);
        Assert.True(mm.Exited);
        Assert.True(mm.Space.TornDown);
        Assert.Null(mm.Space.Translate(Base));
        Assert.False(mm.Freed);
        api.mmput(mm);
        Assert.Contains(k.Checks.Violations, v => v.Kind == CheckKind.FakeMisuse && v.Function == "mmput");
    }

    [Fact]
    public void MmgetNotZero_OfAFreedMm_IsMisuse()
    {
        var (k, api, proc) = MmFixture.Make();
        var mm = proc.mm!;
        k.ExitTask(proc);
        Assert.True(mm.Freed);
        Assert.False(api.mmget_not_zero(mm));
        var v = Assert.Single(k.Checks.Violations);
        Assert.Equal((CheckKind.FakeMisuse, "mmget_not_zero"), (v.Kind, v.Function));
    }

    [Fact]
    public void KthreadExitingInsideKthreadUseMm_Warns_AndLeaksTheMmCount()
    {
        var (k, api, proc) = MmFixture.Make();
        var kt = k.CreateKthread();
        k.SetCurrent(kt);
        api.kthread_use_mm(proc.mm!);
        k.ExitTask(kt);
        Assert.Single(k.Checks.Violations, v => v.Kind == CheckKind.Warn && v.Function == "do_exit");
        Assert.Single(k.ReferenceImbalances(), s => s.Contains("mm_count 2, expected 1"));
    }

    [Fact]
    public void MmapLocks_GoThroughTheExecutionContext_WithTheMmapLockClass()
    {
        var (k, api, proc) = MmFixture.Make();
        var mm = proc.mm!;
        Assert.Equal("mm.mmap_lock", mm.mmap_lock.LockClass);
        api.mmap_read_lock(mm);
        Assert.True(k.Exec.HeldByCurrent(mm.mmap_lock, LockMode.Shared));
        api.mmap_read_unlock(mm);
        Assert.False(k.Exec.HeldByCurrent(mm.mmap_lock));
        api.mmap_write_lock(mm);
        Assert.True(k.Exec.HeldByCurrent(mm.mmap_lock, LockMode.Exclusive));
        api.mmap_write_unlock(mm);
        Assert.False(mm.mmap_lock.IsLocked);
        Assert.Empty(k.Checks.Violations);
    }

    [Fact]
    public void AccountLockedVm_IncreasesWithinTheLimit_AndFailsPastIt()
    {
        var (k, api, proc) = MmFixture.Make();
        var mm = proc.mm!;
        proc.RlimitMemlock = 10 * P;
        api.mmap_write_lock(mm);
        Assert.Equal(0, api.__account_locked_vm(mm, 6, true, proc, false));
        Assert.Equal(0, api.__account_locked_vm(mm, 4, true, proc, false));
        Assert.Equal(10UL, mm.locked_vm);
        Assert.Equal(-KernelApi.ENOMEM, api.__account_locked_vm(mm, 1, true, proc, false));
        Assert.Equal(10UL, mm.locked_vm);
        Assert.Equal(0, api.__account_locked_vm(mm, 3, false, proc, false));
        Assert.Equal(7UL, mm.locked_vm);
        api.mmap_write_unlock(mm);
        Assert.Empty(k.Checks.Violations);
    }

    [Fact]
    public void AccountLockedVm_BypassIgnoresTheLimit()
    {
        var (k, api, proc) = MmFixture.Make();
        var mm = proc.mm!;
        proc.RlimitMemlock = 0;
        api.mmap_write_lock(mm);
        Assert.Equal(-KernelApi.ENOMEM, api.__account_locked_vm(mm, 1, true, proc, false));
        Assert.Equal(0, api.__account_locked_vm(mm, 100, true, proc, true));
        Assert.Equal(100UL, mm.locked_vm);
        api.mmap_write_unlock(mm);
        Assert.Empty(k.Checks.Violations);
    }

    [Fact]
    public void AccountLockedVm_DecreaseBelowZero_WarnsAndWraps()
    {
        var (k, api, proc) = MmFixture.Make();
        var mm = proc.mm!;
        api.mmap_write_lock(mm);
        Assert.Equal(0, api.__account_locked_vm(mm, 2, true, proc, false));
        Assert.Equal(0, api.__account_locked_vm(mm, 3, false, proc, false));
        api.mmap_write_unlock(mm);
        Assert.Equal(ulong.MaxValue, mm.locked_vm);
        var v = Assert.Single(k.Checks.Violations);
        Assert.Equal((CheckKind.Warn, "__account_locked_vm"), (v.Kind, v.Function));
    }

    [Fact]
    public void AccountLockedVm_RequiresTheWriteLock()
    {
        var (k, api, proc) = MmFixture.Make();
        var mm = proc.mm!;
        api.mmap_read_lock(mm);
        Assert.Equal(0, api.__account_locked_vm(mm, 1, true, proc, false));
        api.mmap_read_unlock(mm);
        var v = Assert.Single(k.Checks.Violations);
        Assert.Equal(CheckKind.LockdepNotHeld, v.Kind);
    }

    [Fact]
    public void AccountLockedVm_FaultSite_FailsAnIncreaseOnly()
    {
        var (k, api, proc) = MmFixture.Make((FaultSites.AccountLockedVm, 1));
        var mm = proc.mm!;
        api.mmap_write_lock(mm);
        Assert.Equal(-KernelApi.ENOMEM, api.__account_locked_vm(mm, 1, true, proc, true));
        Assert.Equal(0UL, mm.locked_vm);
        Assert.Equal(0, api.__account_locked_vm(mm, 1, true, proc, false));
        Assert.Equal(0, api.__account_locked_vm(mm, 1, false, proc, false));
        api.mmap_write_unlock(mm);
        Assert.Equal(2, k.Faults.Hits[FaultSites.AccountLockedVm]);
        Assert.Equal(0UL, mm.locked_vm);
    }

    [Fact]
    public void TaskRlimit_IsInBytes_AndSharedByTheThreadGroup()
    {
        var (k, api, proc) = MmFixture.Make();
        Assert.Equal(task_struct.DefaultMemlockLimit, api.task_rlimit(proc, KernelApi.RLIMIT_MEMLOCK));
        var thread = k.CreateThread(proc);
        thread.RlimitMemlock = 12345;
        Assert.Equal(12345UL, api.task_rlimit(proc, KernelApi.RLIMIT_MEMLOCK));
        Assert.Equal(task_struct.RLIM_INFINITY, api.task_rlimit(proc, 7));
        Assert.Same(proc, thread.group_leader);
        Assert.Same(proc.mm, thread.mm);
    }

    [Fact]
    public void Capable_ReportsCapIpcLockOfCurrent_Only()
    {
        var (k, api, _) = MmFixture.Make();
        Assert.False(api.capable(KernelApi.CAP_IPC_LOCK));
        var priv = k.CreateProcess("priv", capIpcLock: true);
        k.SetCurrent(priv);
        Assert.True(api.capable(KernelApi.CAP_IPC_LOCK));
        Assert.False(api.capable(21));
    }

    [Fact]
    public void TaskAndUidReferences_Balance_AndOverPutIsMisuse()
    {
        var (k, api, proc) = MmFixture.Make();
        Assert.Same(proc.User, api.current_user());
        api.get_task_struct(proc.group_leader);
        var u = api.get_uid(api.current_user());
        Assert.Equal(2, proc.Usage);
        Assert.Equal(2, u.RefCount);
        Assert.NotEmpty(k.ReferenceImbalances());
        api.put_task_struct(proc);
        api.free_uid(u);
        Assert.Empty(k.ReferenceImbalances());
        k.ExitTask(proc);
        Assert.True(proc.Freed);
        Assert.True(u.Freed);
        Assert.Empty(k.Checks.Violations);
        api.put_task_struct(proc);
        api.free_uid(u);
        Assert.Equal(new[] { "put_task_struct", "free_uid" }, k.Checks.Violations.Where(v => v.Kind == CheckKind.FakeMisuse).Select(v => v.Function));
    }

    [Fact]
    public void GetTaskStructAndGetUid_OnFreedObjects_AreMisuse()
    {
        var (k, api, proc) = MmFixture.Make();
        k.ExitTask(proc);
        api.get_task_struct(proc);
        api.get_uid(proc.User);
        Assert.Equal(new[] { "get_task_struct", "get_uid" }, k.Checks.Violations.Select(v => v.Function));
    }

    [Fact]
    public void Processes_ShareAUserOrNot_AndExitDropsEveryReference()
    {
        var k = new FakeKernel();
        var alice = k.CreateUser(1001);
        var a = k.CreateProcess("a", alice);
        var b = k.CreateProcess("b", alice);
        var c = k.CreateProcess("c");
        var t = k.CreateThread(a);
        Assert.Same(a.User, b.User);
        Assert.NotSame(a.User, c.User);
        Assert.NotSame(a.mm, b.mm);
        Assert.Equal(3, alice.RefCount);
        Assert.Equal(2, a.mm!.mm_users);
        Assert.Equal(4, new[] { a.pid, b.pid, c.pid, t.pid }.Distinct().Count());
        Assert.Empty(k.ReferenceImbalances());
        var mmA = a.mm;
        k.ExitProcess(a);
        Assert.True(t.Exited);
        Assert.True(a.Exited);
        Assert.Null(a.mm);
        Assert.True(mmA.Freed);
        Assert.Equal(1, alice.RefCount);
        k.ExitProcess(b);
        k.ExitProcess(c);
        Assert.True(alice.Freed);
        Assert.Empty(k.ReferenceImbalances());
        Assert.Empty(k.Checks.Violations);
    }

    [Fact]
    public void ReferenceImbalances_NameEveryLeakedReference()
    {
        var (k, api, proc) = MmFixture.Make();
        var mm = proc.mm!;
        api.mmgrab(mm);
        Assert.True(api.mmget_not_zero(mm));
        api.get_task_struct(proc);
        api.get_uid(proc.User);
        k.ExitTask(proc);
        var leaks = k.ReferenceImbalances();
        Assert.Equal(4, leaks.Count);
        Assert.Contains(leaks, s => s.Contains("mm_users 1"));
        Assert.Contains(leaks, s => s.Contains("mm_count 2"));
        Assert.Contains(leaks, s => s.Contains("usage 1"));
        Assert.Contains(leaks, s => s.Contains("refcount 1"));
    }

    [Fact]
    public void KthreadUseMm_MakesTheMmCurrent_AndHoldsAnMmCountReference()
    {
        var (k, api, proc) = MmFixture.Make();
        var mm = proc.mm!;
        mm.Space.MapNewRun(Base, 1);
        var kt = k.CreateKthread("worker");
        k.SetCurrent(kt);
        Assert.Null(api.current.mm);
        var buf = MmFixture.Buffer(16);
        Assert.Equal(16UL, api.copy_from_user(buf, Base, 16));
        api.kthread_use_mm(mm);
        Assert.Same(mm, api.current.mm);
        Assert.Equal(2, mm.mm_count);
        Assert.Equal(1, mm.mm_users);
        Assert.Equal(0UL, api.copy_from_user(buf, Base, 16));
        api.kthread_unuse_mm(mm);
        Assert.Null(kt.mm);
        Assert.Equal(1, mm.mm_count);
        Assert.Empty(k.Checks.Violations);
        Assert.Empty(k.ReferenceImbalances());
    }

    [Fact]
    public void KthreadUseMm_FromAUserTask_Warns()
    {
        var (k, api, proc) = MmFixture.Make();
        var mine = proc.mm!;
        var other = k.CreateProcess("other");
        api.kthread_use_mm(other.mm!);
        Assert.Same(other.mm, proc.mm);
        Assert.Equal(2, k.Checks.Violations.Count(v => v.Kind == CheckKind.Warn && v.Function == "kthread_use_mm"));
        k.Checks.Clear();
        var kt = k.CreateKthread();
        k.SetCurrent(kt);
        api.kthread_unuse_mm(mine);
        Assert.Single(k.Checks.Violations, v => v.Kind == CheckKind.Warn && v.Function == "kthread_unuse_mm");
    }

    [Fact]
    public void CopyToUserAndFromUser_CopyThroughTheTranslations()
    {
        var (k, api, proc) = MmFixture.Make();
        var mm = proc.mm!;
        ulong pfn = mm.Space.MapNewScattered(Base, 3, seed: 5).PfnAt(1);
        var src = MmFixture.Buffer(2 * (long)P);
        for (int i = 0; i < 2 * (int)P; i++) src[i] = (byte)(i * 7);
        Assert.Equal(0UL, api.copy_to_user(Base + 100, src, 2 * P));
        var back = MmFixture.Buffer(2 * (long)P);
        Assert.Equal(0UL, api.copy_from_user(back, Base + 100, 2 * P));
        Assert.True(src.AsSpan(2 * (long)P).SequenceEqual(back.AsSpan(2 * (long)P)));
        var one = new byte[1];
        k.Phys.Read(pfn, 0, one);
        Assert.Equal(src[(long)P - 100], one[0]);
        Assert.False(k.Phys.IsDirty(pfn));
    }

    [Fact]
    public void CopyToUser_StopsAtAHoleOrReadOnlyPage_CopyFromUserReadsReadOnly()
    {
        var (k, api, proc) = MmFixture.Make();
        var space = proc.mm!.Space;
        space.MapNewRun(Base, 1);
        space.MapNewRun(Base + P, 1, writable: false);
        var buf = MmFixture.Buffer(3 * (long)P);
        Assert.Equal(P + 10, api.copy_to_user(Base + P - 10, buf, P + 20));
        Assert.Equal(0UL, api.copy_from_user(buf, Base, 2 * P));
        Assert.Equal(P - 8, api.copy_from_user(buf, Base + 2 * P - 8, P));
        Assert.Equal(5UL, api.copy_from_user(buf, Base + 5 * P, 5));
        Assert.Empty(k.Checks.Violations);
    }

    [Fact]
    public void CopyToUser_WritesOnlyTheBytesBeforeTheFault()
    {
        var (k, api, proc) = MmFixture.Make();
        var space = proc.mm!.Space;
        ulong pfn = space.MapNewRun(Base, 1).PfnAt(0);
        var buf = MmFixture.Buffer(32);
        buf.AsSpan(32).Fill(0xAB);
        Assert.Equal(16UL, api.copy_to_user(Base + P - 16, buf, 32));
        var got = new byte[16];
        k.Phys.Read(pfn, (int)P - 16, got);
        Assert.All(got, b => Assert.Equal(0xAB, b));
    }

    [Fact]
    public void ExitWithPinnedPages_KeepsThePins()
    {
        var (k, api, proc) = MmFixture.Make();
        var mm = proc.mm!;
        ulong pfn = mm.Space.MapNewRun(Base, 2).PfnAt(0);
        var pages = MmFixture.PageArray(2);
        Assert.Equal(2, api.pin_user_pages_fast(Base, 2, KernelApi.FOLL_WRITE | KernelApi.FOLL_LONGTERM, pages));
        k.ExitProcess(proc);
        Assert.Null(mm.Space.Translate(Base));
        Assert.Equal(1, k.Phys.PinCount(pfn));
        Assert.Equal(1, k.Phys.PinCount(pfn + 1));
        api.unpin_user_pages(pages, 2);
        Assert.Equal(0L, k.Phys.TotalPins);
        Assert.Empty(k.Checks.Violations);
    }
}
