// SPDX-License-Identifier: GPL-2.0-only
using FsCheck;
using FsCheck.Fluent;
using Iommufd.Faults;
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;

namespace Iommufd.Tests.Port;

/// <summary>
/// pages.c 102-160 (the double span iterator), 692-800 (pfn_reader_user) and 945-1137 (struct
/// pfn_reader) on hand-built iopt_pages. Expected values are derived from the C.
/// </summary>
public sealed class PfnReaderTests
{
    private const ulong P = KernelApi.PAGE_SIZE;
    private const ulong U = PortFixture.UserBase;
    private static readonly string ShouldFailPin = FaultSites.ShouldFail("pfn_reader_user_pin");
    private static readonly string ShouldFailTemp = FaultSites.ShouldFail("temp_kmalloc");

    // ---- interval_tree_double_span_iter (pages.c:102-160) -----------------------------------

    private static rb_root_cached Tree(IEnumerable<(ulong Start, ulong Last)> ivs)
    {
        var root = new rb_root_cached();
        foreach (var (s, l) in ivs)
            root.Insert(new interval_tree_node(null) { start = s, last = l });
        return root;
    }

    private static List<(int IsUsed, ulong Start, ulong Last)> Walk(Pages port, rb_root_cached t0, rb_root_cached t1, ulong first, ulong last)
    {
        var spans = new List<(int, ulong, ulong)>();
        var it = new interval_tree_double_span_iter();
        for (port.interval_tree_double_span_iter_first(it, t0, t1, first, last); it.is_used != -1;
             port.interval_tree_double_span_iter_next(it))
            spans.Add((it.is_used, it.start_used, it.last_used));
        return spans;
    }

    /// <summary>The reference: classify each index (tree 0 wins, then tree 1, else hole) and merge
    /// equal neighbours into maximal spans.</summary>
    private static List<(int IsUsed, ulong Start, ulong Last)> Naive(
        List<(ulong Start, ulong Last)> t0, List<(ulong Start, ulong Last)> t1, ulong first, ulong last)
    {
        static bool In(List<(ulong Start, ulong Last)> t, ulong i) => t.Any(iv => iv.Start <= i && i <= iv.Last);
        var spans = new List<(int IsUsed, ulong Start, ulong Last)>();
        for (ulong i = first; i <= last; i++)
        {
            int c = In(t0, i) ? 1 : In(t1, i) ? 2 : 0;
            if (spans.Count > 0 && spans[^1].IsUsed == c)
                spans[^1] = (c, spans[^1].Start, i);
            else
                spans.Add((c, i, i));
        }
        return spans;
    }

    /// <summary>
    /// pages.c:102-129: tree 0 used wins (is_used 1, its whole used span); tree 0 hole with tree 1
    /// used gives is_used 2 clipped to tree 0's hole; both holes give the common hole; pages.c:146-160
    /// advances both trees past the span and ends at last_index.
    /// Tree 0 = {[4,6]}, tree 1 = {[2,8]}, range [0,10].
    /// </summary>
    [Fact]
    public void Double_span_iter_example()
    {
        var f = new PortFixture();
        var spans = Walk(f.Port, Tree([(4, 6)]), Tree([(2, 8)]), 0, 10);
        Assert.Equal([(0, 0UL, 1UL), (2, 2UL, 3UL), (1, 4UL, 6UL), (2, 7UL, 8UL), (0, 9UL, 10UL)], spans);
    }

    private static readonly Gen<(ulong, ulong)> Iv =
        Gen.Choose(0, 40).SelectMany(s => Gen.Choose(0, 6).Select(n => ((ulong)s, (ulong)(s + n))));

    private static readonly Gen<List<(ulong, ulong)>> Ivs = Gen.Choose(0, 5).SelectMany(n => Gen.ListOf(Iv, n));

    private static IEnumerable<List<(ulong, ulong)>> ShrinkIvs(List<(ulong, ulong)> ivs) =>
        Enumerable.Range(0, ivs.Count).Select(i => ivs.Where((_, j) => j != i).ToList());

    /// <summary>Property: for any two trees and range, the double span walk equals the naive per-index
    /// classification merged into maximal spans (spans partition the range, in order).</summary>
    [Fact]
    public void Double_span_iter_matches_a_naive_per_index_classification()
    {
        var range = Gen.Choose(0, 48).SelectMany(a => Gen.Choose(0, 12).Select(n => ((ulong)a, (ulong)(a + n))));
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(1500).WithReplay(0x7e57_0001UL, 0x9e37_79b9UL),
            Prop.ForAll(Arb.From(Ivs, ShrinkIvs), Arb.From(Ivs, ShrinkIvs), Arb.From(range), (t0, t1, r) =>
            {
                var f = new PortFixture();
                Assert.Equal(Naive(t0, t1, r.Item1, r.Item2), Walk(f.Port, Tree(t0), Tree(t1), r.Item1, r.Item2));
            }));
    }

    // ---- pfn_reader_user (pages.c:706-800) ----------------------------------------------------

    private static pfn_reader_user NewUser(PortFixture f, iopt_pages pages)
    {
        var user = new pfn_reader_user();
        f.Port.pfn_reader_user_init(user, pages);
        return user;
    }

    /// <summary>pages.c:706-717: an empty reader; FOLL_WRITE only for writable pages.</summary>
    [Theory]
    [InlineData(true, KernelApi.FOLL_LONGTERM | KernelApi.FOLL_WRITE)]
    [InlineData(false, KernelApi.FOLL_LONGTERM)]
    public void User_init_sets_flags_and_the_empty_state(bool writable, uint flags)
    {
        var f = new PortFixture();
        var (pages, _) = f.NewPagesOverRun(2, writable);
        var user = NewUser(f, pages);
        Assert.Equal((flags, -1, 0UL, 0UL), (user.gup_flags, user.locked, user.upages_start, user.upages_end));
        Assert.True(user.upages.IsNull);
    }

    /// <summary>
    /// Fast path (source_mm == current->mm): pages.c:747-753 sizes upages for the range, 757-765 takes
    /// no mm reference (locked 0), 775-777 pin_user_pages_fast, 791-794 record the window and npinned.
    /// pages.c:719-732 destroy: no mmput, upages freed, locked -1.
    /// </summary>
    [Fact]
    public void User_pin_fast_path_pins_the_range_without_an_mm_reference()
    {
        var f = new PortFixture();
        var (pages, pfn) = f.NewPagesOverRun(4);
        var user = NewUser(f, pages);
        Assert.Equal(0, f.Port.pfn_reader_user_pin(user, pages, 0, 3));
        Assert.Equal(Enumerable.Range(0, 4).Select(i => pfn + (ulong)i), Enumerable.Range(0, 4).Select(i => user.upages[i].Pfn));
        Assert.Equal((0UL, 4UL, 4UL, 0), (user.upages_start, user.upages_end, pages.npinned, user.locked));
        Assert.Equal(32L, user.upages.Mem!.Length);
        Assert.Equal(1, f.Mm.mm_users);
        Assert.All(Enumerable.Range(0, 4), i => Assert.Equal(1, f.PinCount(pfn + (ulong)i)));

        var block = user.upages.Mem;
        f.Port.pfn_reader_user_destroy(user, pages);
        Assert.True(block.Freed);
        Assert.Equal((-1, true), (user.locked, user.upages.IsNull));
        Assert.Equal(1, f.Mm.mm_users);
        f.AssertNoChecks();
    }

    /// <summary>
    /// Remote mm (current is another process): pages.c:760-762 mmget_not_zero (mm_users + 1),
    /// 779-786 take the mmap read lock (locked 1) and pin_user_pages_remote; destroy (724-728)
    /// unlocks and mmputs.
    /// </summary>
    [Fact]
    public void User_pin_remote_takes_a_reference_and_the_read_lock()
    {
        var f = new PortFixture();
        var (pages, pfn) = f.NewPagesOverRun(4);
        var other = f.Kernel.CreateProcess("other");
        f.Kernel.SetCurrent(other);
        var user = NewUser(f, pages);
        Assert.Equal(0, f.Port.pfn_reader_user_pin(user, pages, 1, 3));
        Assert.Equal((1UL, 4UL, 3UL, 1), (user.upages_start, user.upages_end, pages.npinned, user.locked));
        Assert.Equal(pfn + 1, user.upages[0].Pfn);
        Assert.Equal(2, f.Mm.mm_users);
        Assert.True(f.Kernel.Exec.HeldByCurrent(f.Mm.mmap_lock, LockMode.Shared));

        f.Port.pfn_reader_user_destroy(user, pages);
        Assert.Equal(1, f.Mm.mm_users);
        Assert.False(f.Kernel.Exec.HeldByCurrent(f.Mm.mmap_lock));
        f.AssertNoChecks();
    }

    /// <summary>pages.c:760-762: a failed mmget_not_zero returns -EFAULT with upages allocated and
    /// locked still -1 (no reference), so destroy frees upages and does not mmput.</summary>
    [Fact]
    public void User_pin_remote_mmget_failure_returns_efault_without_a_reference()
    {
        var f = PortFixture.Failing((FaultSites.MmgetNotZero, 1));
        var (pages, pfn) = f.NewPagesOverRun(2);
        f.Kernel.SetCurrent(f.Kernel.CreateProcess("other"));
        var user = NewUser(f, pages);
        Assert.Equal(-KernelApi.EFAULT, f.Port.pfn_reader_user_pin(user, pages, 0, 1));
        Assert.Equal((-1, false, 0UL), (user.locked, user.upages.IsNull, pages.npinned));
        Assert.Equal(0, f.PinCount(pfn));
        f.Port.pfn_reader_user_destroy(user, pages);
        Assert.Equal(1, f.Mm.mm_users);
        f.AssertNoChecks();
    }

    /// <summary>pages.c:780-783 and 784-786: when GUP drops the mmap lock (*locked = 0) the reader keeps
    /// its mm reference and the next pin re-takes the lock (locked back to 1) before pinning.</summary>
    [Fact]
    public void User_pin_remote_retakes_the_lock_after_gup_dropped_it()
    {
        var f = PortFixture.Failing((FaultSites.GupDropLock, 1));
        var (pages, pfn) = f.NewPagesOverRun(8);
        f.Kernel.SetCurrent(f.Kernel.CreateProcess("other"));
        var user = NewUser(f, pages);
        Assert.Equal(0, f.Port.pfn_reader_user_pin(user, pages, 0, 3));
        Assert.Equal(0, user.locked);
        Assert.False(f.Kernel.Exec.HeldByCurrent(f.Mm.mmap_lock));
        Assert.Equal(2, f.Mm.mm_users);

        Assert.Equal(0, f.Port.pfn_reader_user_pin(user, pages, 4, 7));
        Assert.Equal((1, 4UL, 8UL, 8UL), (user.locked, user.upages_start, user.upages_end, pages.npinned));
        Assert.True(f.Kernel.Exec.HeldByCurrent(f.Mm.mmap_lock, LockMode.Shared));
        Assert.Equal(2, f.Mm.mm_users);
        Assert.Equal(pfn + 4, user.upages[0].Pfn);
        f.Port.pfn_reader_user_destroy(user, pages);
        Assert.Equal(1, f.Mm.mm_users);
        f.AssertNoChecks();
    }

    /// <summary>pages.c:791-794: a short pin (GUP pins 2 of 4) records only what was pinned.</summary>
    [Fact]
    public void User_pin_short_pin_records_the_pinned_part()
    {
        var f = PortFixture.Failing((FaultSites.GupShort, 1));
        var (pages, pfn) = f.NewPagesOverRun(4);
        var user = NewUser(f, pages);
        Assert.Equal(0, f.Port.pfn_reader_user_pin(user, pages, 0, 3));
        Assert.Equal((0UL, 2UL, 2UL), (user.upages_start, user.upages_end, pages.npinned));
        Assert.Equal([1, 1, 0, 0], Enumerable.Range(0, 4).Select(i => f.PinCount(pfn + (ulong)i)));
        f.Port.pfn_reader_user_destroy(user, pages);
        f.AssertNoChecks();
    }

    /// <summary>pages.c:771-772: the test fault point fails after upages and locked = 0 were set up,
    /// before GUP; nothing is pinned.</summary>
    [Fact]
    public void User_pin_should_fail_returns_efault_before_pinning()
    {
        var f = PortFixture.Failing((ShouldFailPin, 1));
        var (pages, _) = f.NewPagesOverRun(2);
        var user = NewUser(f, pages);
        Assert.Equal(-KernelApi.EFAULT, f.Port.pfn_reader_user_pin(user, pages, 0, 1));
        Assert.Equal((0, false, 0UL), (user.locked, user.upages.IsNull, pages.npinned));
        Assert.Equal(0L, f.Kernel.Phys.PinOperations);
        f.Port.pfn_reader_user_destroy(user, pages);
        f.AssertNoChecks();
    }

    /// <summary>pages.c:750-752: the page array allocation (temp_kmalloc without backup) fails: -ENOMEM,
    /// nothing else changed.</summary>
    [Fact]
    public void User_pin_upages_allocation_failure_returns_enomem()
    {
        var f = PortFixture.Failing((ShouldFailTemp, 1));
        var (pages, _) = f.NewPagesOverRun(2);
        var user = NewUser(f, pages);
        Assert.Equal(-KernelApi.ENOMEM, f.Port.pfn_reader_user_pin(user, pages, 0, 1));
        Assert.Equal((-1, true), (user.locked, user.upages.IsNull));
        Assert.Equal(0, f.Hits(ShouldFailPin));
        f.AssertNoChecks();
    }

    /// <summary>pages.c:744-746 (test build): last &lt; start WARNs and returns -EINVAL; pages.c:787-790:
    /// a GUP error (unmapped first page) is returned as is, without the rc == 0 WARN.</summary>
    [Fact]
    public void User_pin_rejects_a_reversed_range_and_passes_gup_errors_through()
    {
        var f = new PortFixture();
        f.MapRun(U + P, 1);
        var pages = f.NewPages(U, 2 * P);
        var user = NewUser(f, pages);
        Assert.Equal(-KernelApi.EINVAL, f.Port.pfn_reader_user_pin(user, pages, 1, 0));
        Assert.Equal(["pfn_reader_user_pin"], f.Warns);
        Assert.Equal(-KernelApi.EFAULT, f.Port.pfn_reader_user_pin(user, pages, 0, 1));
        Assert.Single(f.Warns);
        Assert.Equal(0UL, pages.npinned);
        f.Port.pfn_reader_user_destroy(user, pages);
    }

    // ---- pfn_reader (pages.c:945-1137) ----------------------------------------------------------

    /// <summary>Runs a reader over [first, last] the way iopt_pages_rw_slow does (unpin each batch,
    /// then next), returning each batch as (start, end, pfns).</summary>
    private static List<(ulong Start, ulong End, ulong[] Pfns)> ReadAll(PortFixture f, iopt_pages pages, ulong first, ulong last)
    {
        var batches = new List<(ulong, ulong, ulong[])>();
        var pfns = new pfn_reader();
        f.Lock(pages);
        Assert.Equal(0, f.Port.pfn_reader_first(pfns, pages, first, last));
        while (!f.Port.pfn_reader_done(pfns))
        {
            batches.Add((pfns.batch_start_index, pfns.batch_end_index, PortFixture.Expand(pfns.batch)));
            f.Port.pfn_reader_unpin(pfns);
            Assert.Equal(0, f.Port.pfn_reader_next(pfns));
        }
        f.Port.pfn_reader_destroy(pfns);
        f.Unlock(pages);
        return batches;
    }

    /// <summary>
    /// Four scattered user pages. Limit 16: one-entry batches and an 16-byte upages (2 pages per pin),
    /// so pfn_reader_next (1027-1057) stops each batch after one PFN ("fill added nothing") and the
    /// reader pins twice. Limit 32: two-entry batches, 4-page upages, one pin. Default: one batch.
    /// Afterwards nothing is pinned, npinned is 0 and no WARN (1109-1117).
    /// </summary>
    [Theory]
    [InlineData(16UL, 1, 2)]
    [InlineData(32UL, 2, 1)]
    [InlineData(65536UL, 4, 1)]
    public void Reader_over_user_pages_splits_batches_by_the_memory_limit(ulong limit, int perBatch, int pinCalls)
    {
        var f = new PortFixture(tempMemoryLimit: limit);
        var pfnsOfPages = f.MapScattered(U, 4);
        var pages = f.NewPages(U, 4 * P);
        var batches = ReadAll(f, pages, 0, 3);
        var expected = Enumerable.Range(0, 4 / perBatch).Select(k =>
            ((ulong)(k * perBatch), (ulong)((k + 1) * perBatch), pfnsOfPages[(k * perBatch)..((k + 1) * perBatch)])).ToList();
        Assert.Equal(expected.Count, batches.Count);
        for (int k = 0; k < expected.Count; k++)
        {
            Assert.Equal((expected[k].Item1, expected[k].Item2), (batches[k].Start, batches[k].End));
            Assert.Equal(expected[k].Item3, batches[k].Pfns);
        }
        Assert.Equal(pinCalls, f.Hits(ShouldFailPin));
        Assert.Equal(0L, f.Kernel.Phys.TotalPins);
        Assert.Equal(0UL, pages.npinned);
        Assert.Equal(1, f.Kernel.Allocator.LiveCount); // the iopt_pages only
        f.AssertNoChecks();
    }

    /// <summary>
    /// Six pages over a contiguous run U..U+5. Accesses at [1,1] and [4,4] with xarray PFNs X, Y;
    /// an area with a storage domain over [3,4] mapping D, D+1. pfn_reader_fill_span (974-1020)
    /// reads index 1 and 4 from the xarray (is_used 1 wins over the domain at 4), index 3 from the
    /// domain (is_used 2, clipped to tree 0's hole), and pins 0, 2, 5 from the user (one GUP each).
    /// pfn_reader_destroy (1089-1117) then unpins only the holes 0, 2, 5.
    /// </summary>
    [Fact]
    public void Reader_takes_xarray_then_domain_then_user_and_releases_only_the_holes()
    {
        var f = new PortFixture();
        var (pages, u) = f.NewPagesOverRun(6);
        ulong x = f.AllocFrames(1), y = f.AllocFrames(1), d = f.AllocFrames(2);
        foreach (var pfn in new[] { x, y, d, d + 1 }) f.Kernel.Phys.Pin(pfn);
        // npinned counts indexes, not frames: 1, 3 and 4 are held (4 by both the access and the domain).
        pages.npinned = pages.last_npinned = 3;
        f.NewAccess(pages, 1, 1);
        f.NewAccess(pages, 4, 4);
        f.StorePfn(pages.pinned_pfns, 1, x);
        f.StorePfn(pages.pinned_pfns, 4, y);
        var domain = new PageTableDomain(f.Kernel, "storage");
        Assert.Equal(0, domain.map_pages(0x200000, d * P, P, 2, KernelApi.IOMMU_READ | KernelApi.IOMMU_WRITE, out ulong mapped));
        Assert.Equal(2 * P, mapped);
        f.NewArea(pages, 3, 4, 0x200000, 0x200000 + 2 * P - 1, storage: domain);

        var pfns = new pfn_reader();
        f.Lock(pages);
        Assert.Equal(0, f.Port.pfn_reader_first(pfns, pages, 0, 5));
        Assert.Equal([u, x, u + 2, d, y, u + 5], PortFixture.Expand(pfns.batch));
        // One batch covers [0, 6); done (1022-1025) only becomes true once next moves past it.
        Assert.Equal((0UL, 6UL), (pfns.batch_start_index, pfns.batch_end_index));
        Assert.False(f.Port.pfn_reader_done(pfns));
        Assert.Equal(3, f.Hits(ShouldFailPin));
        Assert.Equal(6UL, pages.npinned);
        Assert.Equal([1, 0, 1, 0, 0, 1], Enumerable.Range(0, 6).Select(i => f.PinCount(u + (ulong)i)));

        f.Port.pfn_reader_destroy(pfns);
        f.Unlock(pages);
        Assert.Equal(4L, f.Kernel.Phys.TotalPins);
        Assert.Equal([1, 1, 1, 1], new[] { x, y, d, d + 1 }.Select(f.PinCount));
        Assert.Equal(3UL, pages.npinned);
        f.AssertNoChecks();
    }

    /// <summary>
    /// pfn_reader_release_pins (1089-1107) mid-walk with limit 16: after the first batch ([0,1), p0)
    /// the reader holds p1 pinned in upages beyond batch_end; destroy unpins p1 (1093-1100) and the
    /// batch p0 (1102-1104): nothing stays pinned and npinned is back to 0 (no WARN at 1116).
    /// </summary>
    [Fact]
    public void Reader_destroy_mid_walk_releases_upages_beyond_the_batch_and_the_batch()
    {
        var f = new PortFixture(tempMemoryLimit: 16);
        var p = f.MapScattered(U, 4);
        var pages = f.NewPages(U, 4 * P);
        var pfns = new pfn_reader();
        f.Lock(pages);
        Assert.Equal(0, f.Port.pfn_reader_first(pfns, pages, 0, 3));
        Assert.Equal((0UL, 1UL, 2UL), (pfns.batch_start_index, pfns.batch_end_index, pfns.user.upages_end));
        Assert.Equal([p[0]], PortFixture.Expand(pfns.batch));
        Assert.Equal(2UL, pages.npinned);
        // pages.c:1099 and 1104: after release the reader holds nothing: both windows collapse to batch_end.
        f.Port.pfn_reader_release_pins(pfns);
        Assert.Equal((1UL, 1UL, 1UL), (pfns.batch_start_index, pfns.batch_end_index, pfns.user.upages_end));
        Assert.Equal(0L, f.Kernel.Phys.TotalPins);
        f.Port.pfn_reader_destroy(pfns);
        f.Unlock(pages);
        Assert.Equal(0L, f.Kernel.Phys.TotalPins);
        Assert.Equal(0UL, pages.npinned);
        Assert.Equal(1, f.Kernel.Allocator.LiveCount);
        f.AssertNoChecks();
    }

    /// <summary>pages.c:1116: destroying a reader whose pins were accounted (last_npinned moved) and
    /// then released leaves last_npinned != npinned, which WARNs.</summary>
    [Fact]
    public void Reader_destroy_warns_when_accounting_is_out_of_date()
    {
        var f = new PortFixture();
        var (pages, _) = f.NewPagesOverRun(2);
        var pfns = new pfn_reader();
        f.Lock(pages);
        Assert.Equal(0, f.Port.pfn_reader_first(pfns, pages, 0, 1));
        Assert.Equal(0, f.Port.pfn_reader_update_pinned(pfns));
        Assert.Equal(2UL, pages.last_npinned);
        f.Port.pfn_reader_destroy(pfns);
        f.Unlock(pages);
        Assert.Equal(["pfn_reader_destroy"], f.Warns);
        Assert.Equal((0UL, 2UL), (pages.npinned, pages.last_npinned));
    }

    /// <summary>pfn_reader_first error paths: 1124-1126 reversed range WARNs -EINVAL; 1128-1130
    /// batch_init -ENOMEM returns without destroy (nothing held); 1131-1134 a pin failure destroys
    /// the reader (upages and batch freed) and returns the error.</summary>
    [Fact]
    public void Reader_first_error_paths_leave_nothing_behind()
    {
        var f = new PortFixture();
        var (pages, _) = f.NewPagesOverRun(2);
        f.Lock(pages);
        Assert.Equal(-KernelApi.EINVAL, f.Port.pfn_reader_first(new pfn_reader(), pages, 1, 0));
        Assert.Equal(["pfn_reader_first"], f.Warns);
        f.Unlock(pages);

        var g = PortFixture.Failing((ShouldFailTemp, 1));
        var (pagesG, _) = g.NewPagesOverRun(2);
        g.Lock(pagesG);
        Assert.Equal(-KernelApi.ENOMEM, g.Port.pfn_reader_first(new pfn_reader(), pagesG, 0, 1));
        g.Unlock(pagesG);
        Assert.Equal(1, g.Kernel.Allocator.LiveCount);
        g.AssertNoChecks();

        var h = PortFixture.Failing((ShouldFailPin, 1));
        var (pagesH, _) = h.NewPagesOverRun(2);
        h.Lock(pagesH);
        Assert.Equal(-KernelApi.EFAULT, h.Port.pfn_reader_first(new pfn_reader(), pagesH, 0, 1));
        h.Unlock(pagesH);
        Assert.Equal(1, h.Kernel.Allocator.LiveCount);
        Assert.Equal(0L, h.Kernel.Phys.TotalPins);
        h.AssertNoChecks();
    }

    /// <summary>pages.c:1064: pfn_reader_init asserts pages->mutex.</summary>
    [Fact]
    public void Reader_init_without_the_mutex_is_a_lockdep_report()
    {
        var f = new PortFixture();
        var (pages, _) = f.NewPagesOverRun(1);
        var pfns = new pfn_reader();
        Assert.Equal(0, f.Port.pfn_reader_init(pfns, pages, 0, 0));
        var v = Assert.Single(f.Kernel.Checks.Violations);
        Assert.Equal((CheckKind.LockdepNotHeld, "pfn_reader_init"), (v.Kind, v.Function));
        f.Port.batch_destroy(pfns.batch, Ptr<byte>.NULL);
    }
}
