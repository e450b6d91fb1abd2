// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Model.Kernel;

namespace Iommufd.Tests.Kernel;

public class GupTests
{
    private const ulong P = MmFixture.P, Base = MmFixture.Base;
    private const uint W = KernelApi.FOLL_WRITE, LT = KernelApi.FOLL_LONGTERM;

    private static ulong[] Pfns(Ptr<PagePtr> pages, long n) => Enumerable.Range(0, (int)n).Select(i => pages[i].Pfn).ToArray();

    [Fact]
    public void Fast_PinsEveryPage_AndStoresItsPage()
    {
        var (k, api, proc) = MmFixture.Make();
        ulong first = proc.mm!.Space.MapNewRun(Base, 4).PfnAt(0);
        var pages = MmFixture.PageArray(4);
        Assert.Equal(4, api.pin_user_pages_fast(Base, 4, W | LT, pages));
        Assert.Equal(new[] { first, first + 1, first + 2, first + 3 }, Pfns(pages, 4));
        Assert.All(Pfns(pages, 4), pfn => Assert.Equal(1, k.Phys.PinCount(pfn)));
        Assert.Equal(4L, k.Phys.TotalPins);
        Assert.False(proc.mm.mmap_lock.IsLocked);
        Assert.Empty(k.Checks.Violations);
    }

    [Fact]
    public void Fast_StopsAtTheFirstHole()
    {
        var (k, api, proc) = MmFixture.Make();
        var space = proc.mm!.Space;
        space.MapNewRun(Base, 3);
        space.MapNewRun(Base + 4 * P, 2);
        var pages = MmFixture.PageArray(6);
        Assert.Equal(3, api.pin_user_pages_fast(Base, 6, 0, pages));
        Assert.Equal(3L, k.Phys.TotalPins);
        Assert.True(pages[3].IsNull);
    }

    [Fact]
    public void Write_StopsAtTheFirstReadOnlyPage_ReadPinsIt()
    {
        var (k, api, proc) = MmFixture.Make();
        var space = proc.mm!.Space;
        space.MapNewRun(Base, 2);
        space.MapNewRun(Base + 2 * P, 2, writable: false);
        var pages = MmFixture.PageArray(4);
        Assert.Equal(2, api.pin_user_pages_fast(Base, 4, W, pages));
        Assert.Equal(4, api.pin_user_pages_fast(Base, 4, 0, pages));
        Assert.Equal(6L, k.Phys.TotalPins);
    }

    [Fact]
    public void FirstPageUnpinnable_GivesEfault()
    {
        var (k, api, proc) = MmFixture.Make();
        var space = proc.mm!.Space;
        space.MapNewRun(Base + P, 1, writable: false);
        var pages = MmFixture.PageArray(2);
        Assert.Equal(-KernelApi.EFAULT, api.pin_user_pages_fast(Base, 2, 0, pages));
        Assert.Equal(-KernelApi.EFAULT, api.pin_user_pages_fast(Base + P, 1, W, pages));
        api.mmap_read_lock(proc.mm);
        Assert.Equal(-KernelApi.EFAULT, api.pin_user_pages_remote_nolocked(proc.mm, Base, 2, 0, pages));
        api.mmap_read_unlock(proc.mm);
        Assert.Equal(0L, k.Phys.TotalPins);
        Assert.Empty(k.Checks.Violations);
    }

    [Fact]
    public void Fast_WithoutAnMm_GivesEfault()
    {
        var (k, api, _) = MmFixture.Make();
        k.SetCurrent(k.CreateKthread());
        Assert.Equal(-KernelApi.EFAULT, api.pin_user_pages_fast(Base, 1, 0, MmFixture.PageArray(1)));
    }

    [Fact]
    public void Fast_TakesTheMmapReadLock_SoHoldingItForWritingDeadlocks()
    {
        var (k, api, proc) = MmFixture.Make();
        proc.mm!.Space.MapNewRun(Base, 1);
        api.mmap_write_lock(proc.mm);
        Assert.Throws<KernelDeadlock>(() => api.pin_user_pages_fast(Base, 1, 0, MmFixture.PageArray(1)));
        Assert.Contains(k.Checks.Violations, v => v.Kind == CheckKind.LockdepOrder);
    }

    [Fact]
    public void Remote_PinsAnotherProcessesPages_UnderItsMmapLock()
    {
        var (k, api, _) = MmFixture.Make();
        var other = k.CreateProcess("other");
        ulong first = other.mm!.Space.MapNewRun(Base, 3).PfnAt(0);
        var pages = MmFixture.PageArray(3);
        int locked = 1;
        api.mmap_read_lock(other.mm);
        Assert.Equal(3L, api.pin_user_pages_remote(other.mm, Base, 3, W | LT, pages, null, ref locked));
        Assert.Equal(1, locked);
        Assert.True(k.Exec.HeldByCurrent(other.mm.mmap_lock, LockMode.Shared));
        api.mmap_read_unlock(other.mm);
        Assert.Equal(new[] { first, first + 1, first + 2 }, Pfns(pages, 3));
        Assert.Empty(k.Checks.Violations);
    }

    [Fact]
    public void Remote_WithoutTheMmapLock_IsReported()
    {
        var (k, api, proc) = MmFixture.Make();
        proc.mm!.Space.MapNewRun(Base, 1);
        Assert.Equal(1L, api.pin_user_pages_remote_nolocked(proc.mm, Base, 1, 0, MmFixture.PageArray(1)));
        var v = Assert.Single(k.Checks.Violations);
        Assert.Equal((CheckKind.LockdepNotHeld, "pin_user_pages_remote"), (v.Kind, v.Function));
    }

    [Fact]
    public void Remote_DropLockFaultSite_ReturnsWithTheLockReleasedAndLockedZero()
    {
        var (k, api, proc) = MmFixture.Make((FaultSites.GupDropLock, 1));
        var mm = proc.mm!;
        mm.Space.MapNewRun(Base, 4);
        var pages = MmFixture.PageArray(4);
        int locked = 1;
        api.mmap_read_lock(mm);
        Assert.Equal(4L, api.pin_user_pages_remote(mm, Base, 4, W, pages, null, ref locked));
        Assert.Equal(0, locked);
        Assert.False(mm.mmap_lock.IsLocked);
        Assert.Equal(4L, k.Phys.TotalPins);
        // Without a locked pointer the site is never consulted and the lock stays held.
        api.mmap_read_lock(mm);
        Assert.Equal(4L, api.pin_user_pages_remote_nolocked(mm, Base, 4, W, pages));
        Assert.True(mm.mmap_lock.IsLocked);
        api.mmap_read_unlock(mm);
        Assert.Equal(1, k.Faults.Hits[FaultSites.GupDropLock]);
        Assert.Empty(k.Checks.Violations);
    }

    [Fact]
    public void Remote_WithLockedZero_IsMisuse()
    {
        var (k, api, proc) = MmFixture.Make();
        var mm = proc.mm!;
        mm.Space.MapNewRun(Base, 1);
        int locked = 0;
        api.mmap_read_lock(mm);
        Assert.Equal(1L, api.pin_user_pages_remote(mm, Base, 1, 0, MmFixture.PageArray(1), null, ref locked));
        api.mmap_read_unlock(mm);
        Assert.Single(k.Checks.Violations, v => v.Kind == CheckKind.FakeMisuse && v.Message.Contains("*locked == 0"));
    }

    [Fact]
    public void Remote_GupFailAndShortSites_ApplyToo()
    {
        var (k, api, proc) = MmFixture.Make((FaultSites.GupFail, 1), (FaultSites.GupShort, 1));
        var mm = proc.mm!;
        mm.Space.MapNewRun(Base, 4);
        var pages = MmFixture.PageArray(4);
        api.mmap_read_lock(mm);
        Assert.Equal(-(long)KernelApi.ENOMEM, api.pin_user_pages_remote_nolocked(mm, Base, 4, 0, pages));
        Assert.Equal(2L, api.pin_user_pages_remote_nolocked(mm, Base, 4, 0, pages));
        api.mmap_read_unlock(mm);
        Assert.Equal(2L, k.Phys.TotalPins);
    }

    [Fact]
    public void Remote_OnAnMmWithoutUsers_IsMisuseAndFaults()
    {
        var (k, api, proc) = MmFixture.Make();
        var mm = proc.mm!;
        mm.Space.MapNewRun(Base, 1);
        api.mmgrab(mm);
        k.ExitTask(proc);
        k.SetCurrent(k.CreateKthread());
        api.mmap_read_lock(mm);
        Assert.Equal(-KernelApi.EFAULT, api.pin_user_pages_remote_nolocked(mm, Base, 1, 0, MmFixture.PageArray(1)));
        api.mmap_read_unlock(mm);
        Assert.Single(k.Checks.Violations, v => v.Kind == CheckKind.FakeMisuse && v.Message.Contains("no users"));
    }

    [Fact]
    public void GupFailFaultSite_FailsTheWholeCallWithEnomem()
    {
        var (k, api, proc) = MmFixture.Make((FaultSites.GupFail, 1));
        proc.mm!.Space.MapNewRun(Base, 2);
        var pages = MmFixture.PageArray(2);
        Assert.Equal(-KernelApi.ENOMEM, api.pin_user_pages_fast(Base, 2, 0, pages));
        Assert.Equal(0L, k.Phys.TotalPins);
        Assert.Equal(2, api.pin_user_pages_fast(Base, 2, 0, pages));
    }

    [Fact]
    public void GupShortFaultSite_PinsHalfRoundedUp_NotConsultedForOnePage()
    {
        var (k, api, proc) = MmFixture.Make((FaultSites.GupShort, 1), (FaultSites.GupShort, 2));
        proc.mm!.Space.MapNewRun(Base, 5);
        var pages = MmFixture.PageArray(5);
        Assert.Equal(1, api.pin_user_pages_fast(Base, 1, 0, pages));
        Assert.Equal(3, api.pin_user_pages_fast(Base, 5, 0, pages));
        Assert.Equal(1, api.pin_user_pages_fast(Base, 2, 0, pages));
        Assert.Equal(5, api.pin_user_pages_fast(Base, 5, 0, pages));
        Assert.Equal(3, k.Faults.Hits[FaultSites.GupShort]);
        Assert.Equal(10L, k.Phys.TotalPins);
    }

    [Fact]
    public void Longterm_MigratesAnUnpinnedMovablePage_ToANewFrameWithTheSameContents()
    {
        var (k, api, proc) = MmFixture.Make();
        var space = proc.mm!.Space;
        ulong old = space.MapNewRun(Base, 2, movable: true).PfnAt(0);
        k.Phys.Write(old, 10, [1, 2, 3]);
        var migrated = new List<MigrationEvent>();
        k.Phys.Migrated += migrated.Add;
        var pages = MmFixture.PageArray(2);
        Assert.Equal(2, api.pin_user_pages_fast(Base, 2, W | LT, pages));
        ulong moved = pages[0].Pfn;
        Assert.NotEqual(old, moved);
        Assert.Equal(moved, space.Translate(Base));
        Assert.True(k.Phys.IsFreed(old));
        Assert.Equal(0, k.Phys.PinCount(old));
        Assert.Equal(1, k.Phys.PinCount(moved));
        var bytes = new byte[4];
        k.Phys.Read(moved, 9, bytes);
        Assert.Equal(new byte[] { PhysMem.InitialByte(old, 9), 1, 2, 3 }, bytes);
        Assert.Equal(2L, k.Phys.Migrations);
        Assert.Equal(new MigrationEvent(old, moved), migrated[0]);
        // A pinned page is never migrated again.
        Assert.Equal(1, api.pin_user_pages_fast(Base, 1, LT, pages));
        Assert.Equal(moved, pages[0].Pfn);
        Assert.Equal(2L, k.Phys.Migrations);
        Assert.Empty(k.Checks.Violations);
    }

    [Fact]
    public void Migration_OnlyForLongtermPinsOfMovableVmas()
    {
        var (k, api, proc) = MmFixture.Make();
        var space = proc.mm!.Space;
        ulong movable = space.MapNewRun(Base, 1, movable: true).PfnAt(0);
        ulong fixedPfn = space.MapNewRun(Base + P, 1).PfnAt(0);
        var pages = MmFixture.PageArray(2);
        Assert.Equal(1, api.pin_user_pages_fast(Base, 1, 0, pages));
        Assert.Equal(movable, pages[0].Pfn);
        api.unpin_user_page(pages[0]);
        Assert.Equal(1, api.pin_user_pages_fast(Base + P, 1, LT, pages));
        Assert.Equal(fixedPfn, pages[0].Pfn);
        Assert.Equal(0L, k.Phys.Migrations);
    }

    [Fact]
    public void Migration_RemapsADetachedMmToo()
    {
        var (k, api, _) = MmFixture.Make();
        var mm = new mm_struct();
        ulong old = k.Phys.AllocFrame();
        mm.Space.MapRun(Base, 1, old, movable: true);
        var pages = MmFixture.PageArray(1);
        api.mmap_read_lock(mm);
        Assert.Equal(1L, api.pin_user_pages_remote_nolocked(mm, Base, 1, KernelApi.FOLL_LONGTERM, pages));
        api.mmap_read_unlock(mm);
        Assert.NotEqual(old, pages[0].Pfn);
        Assert.Equal(pages[0].Pfn, mm.Space.Translate(Base));
        Assert.Empty(k.Checks.Violations);
    }

    [Fact]
    public void Migration_MovesEveryAliasOfTheFrame()
    {
        var (k, api, proc) = MmFixture.Make();
        var space = proc.mm!.Space;
        ulong pfn = k.Phys.AllocFrame();
        space.MapFrames(Base, [pfn, pfn], movable: true);
        var other = k.CreateProcess("other");
        other.mm!.Space.MapFrames(Base, [pfn]);
        var pages = MmFixture.PageArray(2);
        Assert.Equal(2, api.pin_user_pages_fast(Base, 2, LT, pages));
        Assert.Equal(pages[0], pages[1]);
        Assert.Equal(2, k.Phys.PinCount(pages[0].Pfn));
        Assert.Equal(pages[0].Pfn, other.mm.Space.Translate(Base));
        Assert.Equal(1L, k.Phys.Migrations);
    }

    [Fact]
    public void UnpinFunctions_DropOnePinEach_AndRangeDirtyMarksDirty()
    {
        var (k, api, proc) = MmFixture.Make();
        ulong first = proc.mm!.Space.MapNewRun(Base, 4).PfnAt(0);
        var pages = MmFixture.PageArray(4);
        Assert.Equal(4, api.pin_user_pages_fast(Base, 4, W, pages));
        Assert.Equal(4, api.pin_user_pages_fast(Base, 4, W, pages));
        api.unpin_user_pages(pages, 4);
        Assert.Equal(4L, k.Phys.TotalPins);
        api.unpin_user_page_range_dirty_lock(pages[0], 2, true);
        api.unpin_user_page_range_dirty_lock(pages[2], 1, false);
        api.unpin_user_page(pages[3]);
        Assert.Equal(0L, k.Phys.TotalPins);
        Assert.Equal(new[] { true, true, false, false }, Enumerable.Range(0, 4).Select(i => k.Phys.IsDirty(first + (ulong)i)));
        api.set_page_dirty_lock(pages[3]);
        Assert.True(k.Phys.IsDirty(first + 3));
        Assert.Equal(8L, k.Phys.PinOperations);
        Assert.Equal(8L, k.Phys.UnpinOperations);
        Assert.Empty(k.Checks.Violations);
    }

    [Fact]
    public void Unpin_OfAnUnpinnedPage_IsMisuse()
    {
        var (k, api, proc) = MmFixture.Make();
        ulong pfn = proc.mm!.Space.MapNewRun(Base, 1).PfnAt(0);
        api.unpin_user_page(PagePtr.FromPfn(pfn));
        api.unpin_user_page_range_dirty_lock(PagePtr.FromPfn(pfn), 1, true);
        Assert.Equal(new[] { "unpin_user_page", "unpin_user_page_range_dirty_lock" },
            k.Checks.Violations.Where(v => v.Kind == CheckKind.FakeMisuse).Select(v => v.Function));
        Assert.Equal(0, k.Phys.PinCount(pfn));
    }

    [Fact]
    public void InvalidArguments_AreWarnedOrReported()
    {
        var (k, api, proc) = MmFixture.Make();
        var mm = proc.mm!;
        mm.Space.MapNewRun(Base, 1);
        var pages = MmFixture.PageArray(1);
        Assert.Equal(-KernelApi.EINVAL, api.pin_user_pages_fast(Base, 1, KernelApi.FOLL_PIN, pages));
        Assert.Equal(-KernelApi.EINVAL, api.pin_user_pages_fast(Base, 1, 0, Ptr<PagePtr>.NULL));
        Assert.Equal(0, api.pin_user_pages_fast(Base, -1, 0, pages));
        Assert.Equal(0, api.pin_user_pages_fast(Base, 0, 0, pages));
        Assert.Equal(3, k.Checks.Violations.Count(v => v.Kind == CheckKind.Warn));
        int locked = 1;
        api.mmap_read_lock(mm);
        Assert.Equal(1L, api.pin_user_pages_remote(mm, Base, 1, 0, pages, new object(), ref locked));
        api.mmap_read_unlock(mm);
        Assert.Single(k.Checks.Violations, v => v.Kind == CheckKind.FakeMisuse && v.Message.Contains("vmas"));
        Assert.Equal(1L, k.Phys.TotalPins);
    }

    [Fact]
    public void KmapLocalPage_GivesTheFrameContents_AndKunmapMustMatch()
    {
        var (k, api, proc) = MmFixture.Make();
        ulong pfn = proc.mm!.Space.MapNewRun(Base, 1).PfnAt(0);
        var page = PagePtr.FromPfn(pfn);
        var mem = api.kmap_local_page(page);
        Assert.Equal(KMemKind.Frame, mem.Mem!.Kind);
        Assert.Equal(4096L, mem.Mem.Length);
        Assert.Equal(PhysMem.InitialByte(pfn, 77), mem[77]);
        mem[77] = 0x5A;
        Assert.Equal(1, k.Phys.OutstandingKmaps);
        api.kunmap_local(mem + 77);
        Assert.Equal(0, k.Phys.OutstandingKmaps);
        var buf = MmFixture.Buffer(1);
        Assert.Equal(0UL, api.copy_from_user(buf, Base + 77, 1));
        Assert.Equal(0x5A, buf[0]);
        Assert.Empty(k.Checks.Violations);
        api.kunmap_local(mem);
        api.kunmap_local(buf);
        Assert.Equal(2, k.Checks.Violations.Count(v => v.Kind == CheckKind.FakeMisuse && v.Function == "kunmap_local"));
    }

    [Fact]
    public void EveryGupCall_IsASchedulingPoint()
    {
        var k = new FakeKernel(exec: c => new RecordingExec(c));
        var exec = (RecordingExec)k.Exec;
        var proc = k.CreateProcess();
        k.SetCurrent(proc);
        var api = new MmKernelApi(k);
        proc.mm!.Space.MapNewRun(Base, 1);
        var pages = MmFixture.PageArray(1);
        api.pin_user_pages_fast(Base, 1, 0, pages);
        api.mmap_read_lock(proc.mm);
        api.pin_user_pages_remote_nolocked(proc.mm, Base, 1, 0, pages);
        api.mmap_read_unlock(proc.mm);
        Assert.Equal(1, exec.Points.Count(p => p == "pin_user_pages_fast"));
        Assert.Equal(1, exec.Points.Count(p => p == "pin_user_pages_remote"));
    }

    [Fact]
    public void PinAndUnpinEvents_CarryTheCountAfter()
    {
        var (k, api, proc) = MmFixture.Make();
        ulong pfn = proc.mm!.Space.MapNewRun(Base, 1).PfnAt(0);
        var log = new List<string>();
        k.Phys.Pinned += e => log.Add($"+{e.Pfn - pfn}:{e.PinCount}");
        k.Phys.Unpinned += e => log.Add($"-{e.Pfn - pfn}:{e.PinCount}:{k.Phys.PinCount(e.Pfn)}");
        var pages = MmFixture.PageArray(1);
        api.pin_user_pages_fast(Base, 1, 0, pages);
        api.pin_user_pages_fast(Base, 1, 0, pages);
        api.unpin_user_page(pages[0]);
        api.unpin_user_pages(pages, 1);
        Assert.Equal(new[] { "+0:1", "+0:2", "-0:1:1", "-0:0:0" }, log);
    }
}
