// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;
using static Iommufd.Model.Kernel.KernelApi;
using static Iommufd.Tests.Port.ScenarioFixture;

namespace Iommufd.Tests.Port;

/// <summary>
/// iopt_pages_rw_access (pages.c:1815) and the paths it chooses: the copy_to/from_user fast path
/// in the caller's mm, the kthread path (kthread_use_mm), iopt_pages_rw_page (1768) for one page
/// of another mm, iopt_pages_rw_slow (1727) through the pfn_reader, and the fallbacks to the slow
/// path when the source process has exited (mmget_not_zero fails).
/// </summary>
public sealed class RwTests
{
    private const ulong Iova = 0x100000;

    private static byte[] Pattern(int n, int salt) => Enumerable.Range(0, n).Select(i => (byte)(i * 31 + salt)).ToArray();

    private static Ptr<byte> Buffer(byte[] contents)
    {
        var p = new Ptr<byte>(KMem.Stack(contents.Length), 0);
        contents.CopyTo(p.AsSpan(contents.Length));
        return p;
    }

    /// <summary>The bytes [startByte, startByte + n) of the pages, read from the frames directly.</summary>
    private static byte[] Frames(ScenarioFixture f, ulong[] pfns, ulong startByte, int n)
    {
        var result = new byte[n];
        for (int done = 0; done < n;)
        {
            ulong at = startByte + (ulong)done;
            int off = (int)(at % P);
            int chunk = Math.Min(n - done, (int)P - off);
            f.Phys.Read(pfns[at / P], off, result.AsSpan(done, chunk));
            done += chunk;
        }
        return result;
    }

    private static (iopt_pages pages, ulong[] pfns) Pages(ScenarioFixture f, int npages, bool writable = true)
    {
        f.MapFrames(U, f.SparseFrames(npages), writable);
        return (f.NewPages(U, (ulong)npages * P, writable), f.Pfns(U, npages));
    }

    /// <summary>Reads then writes [start, start + n) with the given flags; asserts byte exactness.</summary>
    private static void ReadWriteRoundTrip(ScenarioFixture f, iopt_pages pages, ulong[] pfns, ulong start, int n, uint flags)
    {
        var expected = Frames(f, pfns, start, n);
        var read = Buffer(new byte[n]);
        Assert.Equal(0, f.Port.iopt_pages_rw_access(pages, start, read, (ulong)n, flags));
        Assert.Equal(expected, read.AsSpan(n).ToArray());

        var data = Pattern(n, (int)flags + 3);
        Assert.Equal(0, f.Port.iopt_pages_rw_access(pages, start, Buffer(data), (ulong)n, flags | IOMMUFD_ACCESS_RW_WRITE));
        Assert.Equal(data, Frames(f, pfns, start, n));
    }

    // change_mm is false (current->mm is the source mm) and no SLOW_PATH flag: the copy goes
    // through copy_from_user / copy_to_user at uptr + start_byte; no page is pinned and no mm
    // reference taken.
    [Fact]
    public void Fast_path_in_the_source_mm_copies_without_pinning()
    {
        var f = new ScenarioFixture();
        var (pages, pfns) = Pages(f, 3);
        ReadWriteRoundTrip(f, pages, pfns, P - 100, 300, 0);
        Assert.Equal(0L, f.Phys.PinOperations);
        Assert.Equal(1, f.Task.mm!.mm_users);
        f.ReleaseAndAssertClean(pages);
    }

    // __IOMMUFD_ACCESS_RW_SLOW_PATH forces change_mm; without KTHREAD and with more than one page
    // iopt_pages_rw_slow runs: pfn_reader pins the pages from the mm (GUP), batch_rw copies
    // through kmap with the offset applied to the first page only, pfn_reader_unpin drops the
    // pins (dirtying them for a writable pages), and npinned returns to 0 without accounting.
    [Fact]
    public void Slow_path_flag_goes_through_the_pfn_reader_and_leaves_nothing_pinned()
    {
        var f = new ScenarioFixture();
        var (pages, pfns) = Pages(f, 3);
        ReadWriteRoundTrip(f, pages, pfns, P - 100, (int)(P + 300), __IOMMUFD_ACCESS_RW_SLOW_PATH);
        // Three pages pinned by each of the two calls.
        Assert.Equal(6L, f.Phys.PinOperations);
        Assert.Equal(0L, f.Phys.TotalPins);
        Assert.All(pfns, p => Assert.True(f.Phys.IsDirty(p)));
        f.AssertPinned(pages, 0);
        f.ReleaseAndAssertClean(pages);
    }

    // The slow path reads PFNs in the pfn_reader's order of preference: with a domain holding the
    // pages (domains_itree covers them) nothing is pinned from the mm; the data still comes from
    // the same frames.
    [Fact]
    public void Slow_path_reads_through_a_domain_without_pinning()
    {
        var f = new ScenarioFixture();
        var (pages, pfns) = Pages(f, 3);
        var area = f.NewArea(pages, Iova, 0, 3 * P);
        var d = f.NewMock();
        Assert.Equal(0, f.FillDomain(area, d));
        long pinOps = f.Phys.PinOperations;

        ReadWriteRoundTrip(f, pages, pfns, 100, (int)(2 * P), __IOMMUFD_ACCESS_RW_SLOW_PATH);
        Assert.Equal(pinOps, f.Phys.PinOperations);
        Assert.Equal([1, 1, 1], f.PinCounts(pfns));
        f.AssertPinned(pages, 3);
        f.UnfillLastDomain(area, d);
        f.ReleaseAndAssertClean(pages, d);
    }

    // One page with SLOW_PATH: start_index == last_index, so iopt_pages_rw_page: mmget_not_zero,
    // pin_user_pages_remote of exactly that page (FOLL_WRITE for a write), copy_data_page at the
    // offset (set_page_dirty_lock on write), unpin_user_page, mmput.
    [Fact]
    public void Rw_page_pins_exactly_one_page_and_releases_it()
    {
        var f = new ScenarioFixture();
        var (pages, pfns) = Pages(f, 3);
        ReadWriteRoundTrip(f, pages, pfns, P + 1000, 2000, __IOMMUFD_ACCESS_RW_SLOW_PATH);
        Assert.Equal(2L, f.Phys.PinOperations);
        Assert.Equal(0L, f.Phys.TotalPins);
        Assert.Equal([false, true, false], pfns.Select(p => f.Phys.IsDirty(p)));
        Assert.Equal(1, f.Task.mm!.mm_users);
        f.ReleaseAndAssertClean(pages);
    }

    // Another process (current->mm != source_mm) without KTHREAD: one page -> rw_page, more
    // pages -> rw_slow pinning remotely under the source's mmap lock. Data is exact and every
    // mm reference taken is put back.
    [Fact]
    public void Another_process_uses_rw_page_for_one_page_and_the_slow_path_for_more()
    {
        var f = new ScenarioFixture();
        var (pages, pfns) = Pages(f, 3);
        var other = f.Kernel.CreateProcess("other");
        f.Kernel.SetCurrent(other);

        ReadWriteRoundTrip(f, pages, pfns, 2 * P + 8, 64, 0);
        Assert.Equal(2L, f.Phys.PinOperations);
        ReadWriteRoundTrip(f, pages, pfns, 10, (int)(3 * P - 20), 0);
        Assert.Equal(8L, f.Phys.PinOperations);
        Assert.Equal(0L, f.Phys.TotalPins);
        Assert.Equal(1, f.Task.mm!.mm_users);
        f.ReleaseAndAssertClean(pages);
    }

    // iommufd_should_fail() in iopt_pages_rw_page returns -EINVAL after mmget_not_zero and puts
    // the mm back (out_mmput); a hole in the user mapping makes pin_user_pages_remote fail with
    // -EFAULT, which is returned as is (no WARN: rc < 0).
    [Fact]
    public void Rw_page_failures_return_the_error_and_balance_the_mm()
    {
        var f = new ScenarioFixture(new ExplicitFaults([(FaultSites.ShouldFail("iopt_pages_rw_page"), 1)]));
        var (pages, _) = Pages(f, 2);
        var buf = Buffer(new byte[16]);
        Assert.Equal(-EINVAL, f.Port.iopt_pages_rw_access(pages, 8, buf, 16, __IOMMUFD_ACCESS_RW_SLOW_PATH));
        f.Space.Unmap(U + P, 1);
        Assert.Equal(-EFAULT, f.Port.iopt_pages_rw_access(pages, P + 8, buf, 16, __IOMMUFD_ACCESS_RW_SLOW_PATH));
        Assert.Equal(0L, f.Phys.PinOperations);
        Assert.Equal(1, f.Task.mm!.mm_users);
        f.ReleaseAndAssertClean(pages);
    }

    // A kernel thread with IOMMUFD_ACCESS_RW_KTHREAD: change_mm, mmget_not_zero, kthread_use_mm,
    // copy_to/from_user in the source mm, kthread_unuse_mm, mmput. No pin; the thread is left
    // without an mm and every reference is balanced.
    [Fact]
    public void Kthread_path_borrows_the_source_mm()
    {
        var f = new ScenarioFixture();
        var (pages, pfns) = Pages(f, 3);
        var kthread = f.Kernel.CreateKthread();
        f.Kernel.SetCurrent(kthread);

        ReadWriteRoundTrip(f, pages, pfns, 500, (int)(2 * P), IOMMUFD_ACCESS_RW_KTHREAD);
        Assert.Equal(0L, f.Phys.PinOperations);
        Assert.Null(kthread.mm);
        Assert.Equal(1, f.Task.mm!.mm_users);
        f.ReleaseAndAssertClean(pages);
    }

    // pages.c:1824: a write to pages that are not writable is refused with -EPERM before any
    // path is chosen, for every combination of flags; the frames keep their contents.
    [Theory]
    [InlineData(0U)]
    [InlineData(__IOMMUFD_ACCESS_RW_SLOW_PATH)]
    [InlineData(IOMMUFD_ACCESS_RW_KTHREAD)]
    public void Write_to_read_only_pages_is_eperm_on_every_path(uint flags)
    {
        var f = new ScenarioFixture();
        var (pages, pfns) = Pages(f, 2, writable: false);
        if ((flags & IOMMUFD_ACCESS_RW_KTHREAD) != 0)
            f.Kernel.SetCurrent(f.Kernel.CreateKthread());
        var before = Frames(f, pfns, 0, (int)(2 * P));
        var data = Pattern(100, 9);

        Assert.Equal(-EPERM, f.Port.iopt_pages_rw_access(pages, P - 50, Buffer(data), 100, flags | IOMMUFD_ACCESS_RW_WRITE));
        Assert.Equal(before, Frames(f, pfns, 0, (int)(2 * P)));
        Assert.Equal(0L, f.Phys.PinOperations);
        // Reading the same pages is allowed.
        var read = Buffer(new byte[100]);
        Assert.Equal(0, f.Port.iopt_pages_rw_access(pages, P - 50, read, 100, flags));
        Assert.Equal(before[(int)(P - 50)..(int)(P + 50)], read.AsSpan(100).ToArray());
        f.ReleaseAndAssertClean(pages);
    }

    // The source process exits while an access holds the pages in the xarray. A kernel thread's
    // KTHREAD rw then fails mmget_not_zero (mm_users is 0) and falls back to iopt_pages_rw_slow,
    // which reads the PFNs from the xarray (no mm needed) and copies through kmap: it works.
    [Fact]
    public void After_process_exit_rw_falls_back_to_the_slow_path_and_reads_the_xarray()
    {
        var f = new ScenarioFixture();
        var (pages, pfns) = Pages(f, 2);
        var area = f.NewArea(pages, Iova, 0, 2 * P);
        Assert.Equal(0, f.AddAccess(area, 0, 1, out _));
        var kthread = f.Kernel.CreateKthread();
        f.Kernel.ExitProcess(f.Task);
        f.Kernel.SetCurrent(kthread);
        Assert.Equal(0, pages.source_mm!.mm_users);
        long pinOps = f.Phys.PinOperations;

        ReadWriteRoundTrip(f, pages, pfns, 1000, (int)P, IOMMUFD_ACCESS_RW_KTHREAD);
        // Single page from another task: rw_page falls back to rw_slow too.
        ReadWriteRoundTrip(f, pages, pfns, 16, 32, 0);
        Assert.Equal(pinOps, f.Phys.PinOperations);
        Assert.Null(kthread.mm);

        f.RemoveAccess(area, 0, 1);
        f.ReleaseAndAssertClean(pages);
    }

    // The source process exits and nothing holds the pages: rw_page's mmget_not_zero fails, the
    // fallback rw_slow must pin from the mm, and pfn_reader_user_pin's own mmget_not_zero fails:
    // -EFAULT (NOTES.part3 item 12). Nothing is pinned or leaked.
    [Fact]
    public void After_process_exit_without_holders_rw_fails_with_efault()
    {
        var f = new ScenarioFixture();
        var (pages, _) = Pages(f, 2);
        var other = f.Kernel.CreateProcess("other");
        f.Kernel.ExitProcess(f.Task);
        f.Kernel.SetCurrent(other);
        var buf = Buffer(new byte[64]);
        Assert.Equal(-EFAULT, f.Port.iopt_pages_rw_access(pages, 100, buf, 64, 0));
        Assert.Equal(-EFAULT, f.Port.iopt_pages_rw_access(pages, 100, buf, P, 0));
        Assert.Equal(0L, f.Phys.PinOperations);
        f.ReleaseAndAssertClean(pages);
    }

    // mmget_not_zero failing once (fault site) on the KTHREAD path: the fallback rw_slow then
    // pins through pfn_reader_user_pin, whose own mmget_not_zero succeeds: the copy works and the
    // pins are dropped again.
    [Fact]
    public void Kthread_path_falls_back_to_the_slow_path_when_mmget_fails()
    {
        var f = new ScenarioFixture(new ExplicitFaults([(FaultSites.MmgetNotZero, 1)]));
        var (pages, pfns) = Pages(f, 2);
        f.Kernel.SetCurrent(f.Kernel.CreateKthread());
        var expected = Frames(f, pfns, 200, (int)P);
        var read = Buffer(new byte[P]);

        Assert.Equal(0, f.Port.iopt_pages_rw_access(pages, 200, read, P, IOMMUFD_ACCESS_RW_KTHREAD));
        Assert.Equal(expected, read.AsSpan((int)P).ToArray());
        Assert.Equal(2L, f.Phys.PinOperations);
        Assert.Equal(0L, f.Phys.TotalPins);
        f.ReleaseAndAssertClean(pages);
    }
}
