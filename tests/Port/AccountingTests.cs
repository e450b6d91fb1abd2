// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;
using static Iommufd.Model.Port.IoptPagesAccount;

namespace Iommufd.Tests.Port;

/// <summary>
/// pages.c 802-943: the three accounting modes (NONE / USER / MM), do_update_pinned,
/// update_unpinned and pfn_reader_user_update_pinned. Expected values are derived from the C.
/// </summary>
public sealed class AccountingTests
{
    private const ulong P = KernelApi.PAGE_SIZE;
    private static readonly string ShouldFailUpd = FaultSites.ShouldFail("pfn_reader_user_update_pinned");

    private static (PortFixture f, iopt_pages pages) Setup(byte mode, ulong memlockPages = 4, IFaultPlan? plan = null)
    {
        var f = new PortFixture(plan, memlockLimit: memlockPages * P);
        var (pages, _) = f.NewPagesOverRun(8);
        pages.account_mode = mode;
        return (f, pages);
    }

    /// <summary>pages.c:859-860 then 874-879: NONE charges nothing, yet last_npinned follows npinned and
    /// pinned_vm moves.</summary>
    [Fact]
    public void None_mode_only_moves_pinned_vm()
    {
        var (f, pages) = Setup(IOPT_PAGES_ACCOUNT_NONE);
        pages.npinned = 3;
        Assert.Equal(0, f.Port.do_update_pinned(pages, 3, true, null));
        Assert.Equal((3UL, 3L, 0L, 0UL), (pages.last_npinned, f.Mm.pinned_vm.Value, f.Task.User.locked_vm.Value, f.Mm.locked_vm));
        pages.npinned = 1;
        Assert.Equal(0, f.Port.do_update_pinned(pages, 2, false, null));
        Assert.Equal((1UL, 1L), (pages.last_npinned, f.Mm.pinned_vm.Value));
        f.AssertNoChecks();
    }

    /// <summary>pages.c:808-816: USER increase against RLIMIT_MEMLOCK = 4 pages: reaching the limit is
    /// allowed (strict &gt;), passing it is -ENOMEM; do_update_pinned (870-871) then changes nothing.</summary>
    [Fact]
    public void User_mode_charges_the_user_up_to_rlimit_memlock()
    {
        var (f, pages) = Setup(IOPT_PAGES_ACCOUNT_USER);
        pages.npinned = 4;
        Assert.Equal(0, f.Port.do_update_pinned(pages, 4, true, null));
        Assert.Equal((4L, 4L, 4UL), (f.Task.User.locked_vm.Value, f.Mm.pinned_vm.Value, pages.last_npinned));
        pages.npinned = 5;
        Assert.Equal(-KernelApi.ENOMEM, f.Port.do_update_pinned(pages, 1, true, null));
        Assert.Equal((4L, 4L, 4UL), (f.Task.User.locked_vm.Value, f.Mm.pinned_vm.Value, pages.last_npinned));
        Assert.Equal(0UL, f.Mm.locked_vm);
        f.AssertNoChecks();
    }

    /// <summary>pages.c:820-826: USER decrease subtracts; pages.c:822-823: a decrease above the counter
    /// WARNs and subtracts nothing, but do_update_pinned still commits last_npinned and pinned_vm
    /// (NOTES.part2 item 4).</summary>
    [Fact]
    public void User_mode_decrease_and_its_warn_on_a_too_small_counter()
    {
        var (f, pages) = Setup(IOPT_PAGES_ACCOUNT_USER);
        pages.npinned = 3;
        Assert.Equal(0, f.Port.do_update_pinned(pages, 3, true, null));
        pages.npinned = 1;
        Assert.Equal(0, f.Port.do_update_pinned(pages, 2, false, null));
        Assert.Equal((1L, 1L, 1UL), (f.Task.User.locked_vm.Value, f.Mm.pinned_vm.Value, pages.last_npinned));
        f.AssertNoChecks();

        pages.npinned = 0;
        Assert.Equal(0, f.Port.do_update_pinned(pages, 5, false, null));
        Assert.Equal(["decr_user_locked_vm"], f.Warns);
        Assert.Equal((1L, -4L, 0UL), (f.Task.User.locked_vm.Value, f.Mm.pinned_vm.Value, pages.last_npinned));
    }

    /// <summary>pages.c:828-853 for MM mode from the owning process without a reader: no mmget, the
    /// mmap write lock around __account_locked_vm, mm.locked_vm charged; past RLIMIT_MEMLOCK -ENOMEM.</summary>
    [Fact]
    public void Mm_mode_charges_mm_locked_vm_and_respects_the_rlimit()
    {
        var (f, pages) = Setup(IOPT_PAGES_ACCOUNT_MM);
        pages.npinned = 3;
        Assert.Equal(0, f.Port.do_update_pinned(pages, 3, true, null));
        Assert.Equal((3UL, 3L, 0L, 3UL), (f.Mm.locked_vm, f.Mm.pinned_vm.Value, f.Task.User.locked_vm.Value, pages.last_npinned));
        Assert.False(f.Kernel.Exec.HeldByCurrent(f.Mm.mmap_lock));
        Assert.Equal(1, f.Mm.mm_users);
        pages.npinned = 5;
        Assert.Equal(-KernelApi.ENOMEM, f.Port.do_update_pinned(pages, 2, true, null));
        Assert.Equal((3UL, 3UL), (f.Mm.locked_vm, pages.last_npinned));
        pages.npinned = 0;
        Assert.Equal(0, f.Port.do_update_pinned(pages, 3, false, null));
        Assert.Equal((0UL, 0L), (f.Mm.locked_vm, f.Mm.pinned_vm.Value));
        f.AssertNoChecks();
    }

    /// <summary>pages.c:834-838: a reader that holds the mmap read lock (remote pin, locked 1) has it
    /// dropped (locked 0) before the write lock is taken; its mm reference is kept for destroy.</summary>
    [Fact]
    public void Mm_mode_with_a_reader_holding_the_read_lock_drops_it_first()
    {
        var (f, pages) = Setup(IOPT_PAGES_ACCOUNT_MM);
        f.Kernel.SetCurrent(f.Kernel.CreateProcess("other"));
        var user = new pfn_reader_user();
        f.Port.pfn_reader_user_init(user, pages);
        f.Lock(pages);
        Assert.Equal(0, f.Port.pfn_reader_user_pin(user, pages, 0, 1));
        Assert.Equal((1, 2), (user.locked, f.Mm.mm_users));
        Assert.Equal(0, f.Port.pfn_reader_user_update_pinned(user, pages));
        Assert.Equal((0, 2, 2UL, 2UL), (user.locked, f.Mm.mm_users, f.Mm.locked_vm, pages.last_npinned));
        Assert.False(f.Kernel.Exec.HeldByCurrent(f.Mm.mmap_lock));
        f.Port.pfn_reader_user_destroy(user, pages);
        f.Unlock(pages);
        Assert.Equal(1, f.Mm.mm_users);
        f.AssertNoChecks();
    }

    /// <summary>pages.c:839-844 and 850-851: remote without a reader takes and drops its own mm
    /// reference; when mmget_not_zero fails it returns -EINVAL before locking.</summary>
    [Fact]
    public void Mm_mode_remote_without_a_reader_takes_its_own_reference()
    {
        var (f, pages) = Setup(IOPT_PAGES_ACCOUNT_MM, plan: new ExplicitFaults([(FaultSites.MmgetNotZero, 2)]));
        f.Kernel.SetCurrent(f.Kernel.CreateProcess("other"));
        pages.npinned = 2;
        Assert.Equal(0, f.Port.do_update_pinned(pages, 2, true, null));
        Assert.Equal((2UL, 1), (f.Mm.locked_vm, f.Mm.mm_users));
        pages.npinned = 3;
        Assert.Equal(-KernelApi.EINVAL, f.Port.do_update_pinned(pages, 1, true, null));
        Assert.Equal((2UL, 2UL), (f.Mm.locked_vm, pages.last_npinned));
        f.AssertNoChecks();
    }

    /// <summary>
    /// pages.c:884-899: update_unpinned drops its do_update_pinned result. In MM mode, once the
    /// owning process has exited, mmget_not_zero fails (-EINVAL) and the decrease is silently lost:
    /// last_npinned and mm.locked_vm keep the charge (NOTES.part2 item 3; latent in v6.2).
    /// </summary>
    [Fact]
    public void V6_2_update_unpinned_silently_keeps_the_charge_when_the_mm_is_gone()
    {
        var (f, pages) = Setup(IOPT_PAGES_ACCOUNT_MM);
        pages.npinned = 3;
        Assert.Equal(0, f.Port.do_update_pinned(pages, 3, true, null));
        var mm = f.Mm;
        f.Kernel.SetCurrent(f.Kernel.CreateProcess("other"));
        f.Kernel.ExitProcess(f.Task);
        Assert.Equal(0, mm.mm_users);
        pages.npinned = 0;
        f.Port.update_unpinned(pages);
        Assert.Equal((3UL, 3UL, 3L), (pages.last_npinned, mm.locked_vm, mm.pinned_vm.Value));
        f.AssertNoChecks();
    }

    /// <summary>pages.c:886-890: npinned above last_npinned WARNs; equal does nothing; below uncharges.</summary>
    [Fact]
    public void Update_unpinned_warns_on_an_increase_and_uncharges_a_decrease()
    {
        var (f, pages) = Setup(IOPT_PAGES_ACCOUNT_USER);
        pages.npinned = 2;
        f.Port.update_unpinned(pages);
        Assert.Equal(["update_unpinned"], f.Warns);
        Assert.Equal(0UL, pages.last_npinned);
        Assert.Equal(0, f.Port.do_update_pinned(pages, 2, true, null));
        f.Port.update_unpinned(pages);
        Assert.Single(f.Warns);
        pages.npinned = 0;
        f.Port.update_unpinned(pages);
        Assert.Equal((0UL, 0L, 0L), (pages.last_npinned, f.Task.User.locked_vm.Value, f.Mm.pinned_vm.Value));
        Assert.Single(f.Warns);
    }

    /// <summary>pages.c:901-943: nothing to do when equal (no fault point); an increase passes the fault
    /// point first (-ENOMEM, nothing changed); a decrease never consults it.</summary>
    [Fact]
    public void Reader_update_pinned_fault_point_only_on_increase()
    {
        var (f, pages) = Setup(IOPT_PAGES_ACCOUNT_USER, plan: new ExplicitFaults([(ShouldFailUpd, 1)]));
        var user = new pfn_reader_user();
        f.Port.pfn_reader_user_init(user, pages);
        f.Lock(pages);
        Assert.Equal(0, f.Port.pfn_reader_user_update_pinned(user, pages));
        Assert.Equal(0, f.Hits(ShouldFailUpd));
        pages.npinned = 2;
        Assert.Equal(-KernelApi.ENOMEM, f.Port.pfn_reader_user_update_pinned(user, pages));
        Assert.Equal((0UL, 0L), (pages.last_npinned, f.Task.User.locked_vm.Value));
        Assert.Equal(0, f.Port.pfn_reader_user_update_pinned(user, pages));
        Assert.Equal((2UL, 2L), (pages.last_npinned, f.Task.User.locked_vm.Value));
        pages.npinned = 1;
        Assert.Equal(0, f.Port.pfn_reader_user_update_pinned(user, pages));
        Assert.Equal((1UL, 1L), (pages.last_npinned, f.Task.User.locked_vm.Value));
        Assert.Equal(2, f.Hits(ShouldFailUpd));
        f.Unlock(pages);
        f.AssertNoChecks();
    }

    /// <summary>pages.c:907: pages->mutex must be held.</summary>
    [Fact]
    public void Reader_update_pinned_without_the_mutex_is_a_lockdep_report()
    {
        var (f, pages) = Setup(IOPT_PAGES_ACCOUNT_NONE);
        var user = new pfn_reader_user();
        f.Port.pfn_reader_user_init(user, pages);
        Assert.Equal(0, f.Port.pfn_reader_user_update_pinned(user, pages));
        var v = Assert.Single(f.Kernel.Checks.Violations);
        Assert.Equal((CheckKind.LockdepNotHeld, "pfn_reader_user_update_pinned"), (v.Kind, v.Function));
    }
}
