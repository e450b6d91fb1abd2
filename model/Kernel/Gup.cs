// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;

namespace Iommufd.Model.Kernel;

/// <summary>
/// get_user_pages with FOLL_PIN (pin_user_pages_fast / pin_user_pages_remote) and the unpin side.
/// Models: pinning page by page from the start address, stopping at the first hole, or with
/// FOLL_WRITE at the first read-only page; the return value is the number pinned, or -EFAULT
/// when the very first page cannot be pinned; each pinned page's pin count goes up by one and its
/// <c>struct page *</c> is stored in <c>pages[i]</c>; FOLL_LONGTERM migrates an unpinned page of
/// a movable VMA to a new frame first (its PFN changes); the remote form requires the mmap lock
/// (reported as <see cref="CheckKind.LockdepNotHeld"/> otherwise) and an mm with users; with a
/// <c>locked</c> argument it may drop the lock (v6.2: GUP retakes it internally to finish, then
/// returns with it released and <c>*locked = 0</c>). The fast form works on
/// <c>current->mm</c> and takes the mmap read lock itself (its slow-path fallback), so lockdep
/// sees the order. Every call is a scheduling point.
/// Fault sites: <see cref="FaultSites.GupFail"/> fails the whole call with -ENOMEM (as if an
/// allocation in the page-table walk or in migration failed; -ENOMEM is chosen because -EFAULT is
/// already what holes produce, so the two causes stay distinguishable); <see cref="FaultSites.GupShort"/>
/// (consulted only when more than one page could be pinned) pins half of them, rounded up;
/// <see cref="FaultSites.GupDropLock"/> (consulted only when <c>locked</c> is given and set).
/// Validation: FOLL_PIN passed by the caller or a NULL pages array WARN and give -EINVAL; a
/// negative nr_pages for the fast form WARNs and returns 0 (the v6.2 fast path gives up on a
/// range that wraps); a non-NULL vmas array is reported as misuse (pages.c never passes one).
/// Does not model: FOLL_GET references, fault-in of non-present pages (every mapped page is
/// present), concurrent changes of the address space while the lock is dropped.
/// </summary>
public sealed class Gup(FakeKernel kernel)
{
    private const ulong PAGE_SIZE = KernelApi.PAGE_SIZE;

    public int PinFast(ulong start, int nrPages, uint gupFlags, Ptr<PagePtr> pages)
    {
        const string function = "pin_user_pages_fast";
        kernel.Exec.SchedulePoint(function);
        if (nrPages < 0)
        {
            kernel.Checks.Report(CheckKind.Warn, function, $"negative nr_pages {nrPages}");
            return 0;
        }
        if (!ValidArgs(function, gupFlags, pages))
            return -KernelApi.EINVAL;
        if (nrPages == 0)
            return 0;
        var mm = kernel.Exec.Current.mm;
        if (mm is null)
            return -KernelApi.EFAULT;
        kernel.Exec.Acquire(mm.mmap_lock, LockMode.Shared);
        try
        {
            return (int)PinRange(function, mm, start, (ulong)nrPages, gupFlags, pages);
        }
        finally
        {
            kernel.Exec.Release(mm.mmap_lock, LockMode.Shared);
        }
    }

    /// <param name="hasLocked">False for a NULL <c>locked</c> pointer.</param>
    public long PinRemote(mm_struct mm, ulong start, ulong nrPages, uint gupFlags, Ptr<PagePtr> pages, object? vmas,
        bool hasLocked, ref int locked)
    {
        const string function = "pin_user_pages_remote";
        kernel.Exec.SchedulePoint(function);
        if (!kernel.Exec.HeldByCurrent(mm.mmap_lock))
            kernel.Checks.Report(CheckKind.LockdepNotHeld, function, $"mmap_assert_locked({mm}) failed");
        if (hasLocked && locked == 0)
            kernel.Checks.Report(CheckKind.FakeMisuse, function, "called with *locked == 0");
        if (mm.mm_users <= 0)
            kernel.Checks.Report(CheckKind.FakeMisuse, function, $"{mm} has no users (missing mmget)");
        if (vmas is not null)
            kernel.Checks.Report(CheckKind.FakeMisuse, function, "vmas array is not modelled");
        if (!ValidArgs(function, gupFlags, pages))
            return -KernelApi.EINVAL;
        if (nrPages == 0)
            return 0;
        long rc = PinRange(function, mm, start, nrPages, gupFlags, pages);
        if (hasLocked && locked != 0 && kernel.ShouldFail(FaultSites.GupDropLock))
        {
            kernel.Exec.Release(mm.mmap_lock, LockMode.Shared);
            locked = 0;
        }
        return rc;
    }

    private bool ValidArgs(string function, uint gupFlags, Ptr<PagePtr> pages)
    {
        if ((gupFlags & KernelApi.FOLL_PIN) != 0)
        {
            kernel.Checks.Report(CheckKind.Warn, function, "FOLL_PIN passed by the caller");
            return false;
        }
        if (pages.IsNull)
        {
            kernel.Checks.Report(CheckKind.Warn, function, "pin without a pages array");
            return false;
        }
        return true;
    }

    private long PinRange(string function, mm_struct mm, ulong start, ulong nrPages, uint gupFlags, Ptr<PagePtr> pages)
    {
        if (kernel.ShouldFail(FaultSites.GupFail))
            return -KernelApi.ENOMEM;
        start &= ~(PAGE_SIZE - 1);
        bool write = (gupFlags & KernelApi.FOLL_WRITE) != 0;
        ulong n = 0;
        while (n < nrPages && n <= (ulong.MaxValue - start) / PAGE_SIZE)
        {
            if (!mm.Space.TryTranslate(start + n * PAGE_SIZE, out _, out bool writable) || (write && !writable))
                break;
            n++;
        }
        if (n == 0)
            return -KernelApi.EFAULT;
        if (n > 1 && kernel.ShouldFail(FaultSites.GupShort))
            n = (n + 1) / 2;
        bool longterm = (gupFlags & KernelApi.FOLL_LONGTERM) != 0;
        var phys = kernel.Phys;
        var migrations = new List<MigrationEvent>();
        var pins = new List<PinEvent>((int)Math.Min(n, 4096));
        ulong done = 0;
        for (; done < n; done++)
        {
            ulong pfn;
            int after;
            lock (phys.Gate)
            {
                // Translate again: an earlier page of this call may have migrated an alias of this one.
                if (!mm.Space.TryTranslate(start + done * PAGE_SIZE, out pfn, out bool writable, out bool movable) ||
                    (write && !writable))
                    break;
                if (longterm && movable && phys.PinCountLocked(pfn) == 0)
                {
                    ulong newPfn = phys.MigrateLocked(pfn, mm.Space);
                    migrations.Add(new MigrationEvent(pfn, newPfn));
                    pfn = newPfn;
                }
                after = phys.PinLocked(pfn, function);
            }
            if (after > 0)
                pins.Add(new PinEvent(pfn, after));
            pages[(long)done] = PagePtr.FromPfn(pfn);
        }
        foreach (var m in migrations)
            phys.RaiseMigrated(m);
        foreach (var p in pins)
            phys.RaisePinned(p);
        return done == 0 ? -KernelApi.EFAULT : (long)done;
    }

    public void UnpinPages(Ptr<PagePtr> pages, ulong npages)
    {
        const string function = "unpin_user_pages";
        for (ulong i = 0; i < npages; i++)
            kernel.Phys.Unpin(pages[(long)i].Pfn, makeDirty: false, function);
    }

    public void UnpinPage(PagePtr page) => kernel.Phys.Unpin(page.Pfn, makeDirty: false, "unpin_user_page");

    public void UnpinRangeDirtyLock(PagePtr page, ulong npages, bool makeDirty)
    {
        const string function = "unpin_user_page_range_dirty_lock";
        ulong first = page.Pfn;
        for (ulong i = 0; i < npages; i++)
            kernel.Phys.Unpin(first + i, makeDirty, function);
    }
}
