// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;

namespace Iommufd.Tests.Port;

/// <summary>
/// pages.c 66-372 and 623-690: temp_kmalloc, the npinned counters, the area index/IOVA helpers,
/// struct pfn_batch (init/destroy/clear/carry/add), batch_unpin and batch_rw/copy_data_page.
/// Expected values are derived from the C.
/// </summary>
public sealed class BatchTests
{
    private const ulong P = KernelApi.PAGE_SIZE;
    private const string Limit = "temp_kmalloc.limit";
    private const string Page = "temp_kmalloc.page";
    private const string PageNoBackup = "temp_kmalloc.page_nobackup";
    private static readonly string ShouldFailTemp = FaultSites.ShouldFail("temp_kmalloc");

    private static Ptr<byte> Backup() => new(KMem.Stack(256), 0);

    // ---- temp_kmalloc (pages.c:74-100) ---------------------------------------------------

    /// <summary>pages.c:78: a zero size WARNs and gives NULL without allocating.</summary>
    [Fact]
    public void Temp_kmalloc_zero_size_warns_and_returns_null()
    {
        var f = new PortFixture();
        ulong size = 0;
        Assert.True(f.Port.temp_kmalloc(ref size, Ptr<byte>.NULL, 0).IsNull);
        Assert.Equal(["temp_kmalloc"], f.Warns);
        Assert.Equal(0, f.Attempts(Limit));
    }

    /// <summary>pages.c:81-82: a request strictly below backup_len is served by the backup, size kept.</summary>
    [Fact]
    public void Temp_kmalloc_small_request_uses_the_backup_and_keeps_size()
    {
        var f = new PortFixture();
        var backup = Backup();
        ulong size = 36;
        Assert.Equal(backup, f.Port.temp_kmalloc(ref size, backup, 256));
        Assert.Equal(36UL, size);
        Assert.Equal(0, f.Attempts(Limit));
        Assert.Equal(0, f.Hits(ShouldFailTemp));
    }

    /// <summary>pages.c:81 is strict and pages.c:84 is skipped with a backup: a request of exactly
    /// backup_len goes to kmalloc (87-90) without consulting iommufd_should_fail().</summary>
    [Fact]
    public void Temp_kmalloc_request_equal_to_backup_len_goes_to_kmalloc()
    {
        var f = new PortFixture();
        var backup = Backup();
        ulong size = 256;
        var res = f.Port.temp_kmalloc(ref size, backup, 256);
        Assert.NotEqual(backup, res);
        Assert.Equal(256L, res.Mem!.Length);
        Assert.Equal(KMemKind.Heap, res.Mem.Kind);
        Assert.Equal(1, f.Attempts(Limit));
        Assert.Equal(0, f.Hits(ShouldFailTemp));
        f.Port.batch_destroy(new pfn_batch { pfns = res.Cast<ulong>() }, backup);
        Assert.Equal(0, f.Kernel.Allocator.LiveCount);
    }

    /// <summary>pages.c:84-85: without a backup the test fault point fails the call before any kmalloc.</summary>
    [Fact]
    public void Temp_kmalloc_without_backup_fails_at_the_should_fail_point()
    {
        var f = PortFixture.Failing((ShouldFailTemp, 1));
        ulong size = 100;
        Assert.True(f.Port.temp_kmalloc(ref size, Ptr<byte>.NULL, 0).IsNull);
        Assert.Equal(100UL, size);
        Assert.Equal(0, f.Attempts(Limit));
    }

    /// <summary>pages.c:87: the first kmalloc is capped at TEMP_MEMORY_LIMIT and size reports it.</summary>
    [Theory]
    [InlineData(16UL, 1000UL, 16UL)]
    [InlineData(32UL, 1000UL, 32UL)]
    [InlineData(65536UL, 1000UL, 1000UL)]
    public void Temp_kmalloc_caps_the_request_at_the_limit(ulong limit, ulong request, ulong expected)
    {
        var f = new PortFixture(tempMemoryLimit: limit);
        ulong size = request;
        var res = f.Port.temp_kmalloc(ref size, Ptr<byte>.NULL, 0);
        Assert.Equal(expected, size);
        Assert.Equal((long)expected, res.Mem!.Length);
        Assert.Equal(1, f.Attempts(Limit));
        Assert.Equal(0, f.Attempts(PageNoBackup));
    }

    /// <summary>pages.c:91-95: the capped kmalloc fails, the PAGE_SIZE retry (backup present) succeeds,
    /// so size becomes PAGE_SIZE even though the limit is 16 (above both request and limit).</summary>
    [Fact]
    public void Temp_kmalloc_with_backup_retries_one_page_when_the_capped_kmalloc_fails()
    {
        var f = new PortFixture(new ExplicitFaults([(FaultSites.Alloc(Limit), 1)]), tempMemoryLimit: 16);
        var backup = Backup();
        ulong size = 1000;
        var res = f.Port.temp_kmalloc(ref size, backup, 256);
        Assert.Equal(P, size);
        Assert.NotEqual(backup, res);
        Assert.Equal((long)P, res.Mem!.Length);
        Assert.Equal(1, f.Attempts(Page));
    }

    /// <summary>pages.c:96-97: both kmallocs fail, the backup is returned and size = backup_len.</summary>
    [Fact]
    public void Temp_kmalloc_with_backup_falls_back_to_the_backup_when_both_kmallocs_fail()
    {
        var f = new PortFixture(new ExplicitFaults([(FaultSites.Alloc(Limit), 1), (FaultSites.Alloc(Page), 1)]));
        var backup = Backup();
        ulong size = 1000;
        Assert.Equal(backup, f.Port.temp_kmalloc(ref size, backup, 256));
        Assert.Equal(256UL, size);
        Assert.Equal(0, f.Attempts(PageNoBackup));
        Assert.Equal(0, f.Kernel.Allocator.LiveCount);
    }

    /// <summary>pages.c:99: without a backup the last attempt is a PAGE_SIZE GFP_KERNEL kmalloc, which may
    /// itself fail (NULL, size left at PAGE_SIZE).</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Temp_kmalloc_without_backup_tries_one_page_last(bool lastFails)
    {
        var faults = new List<(string, long)> { (FaultSites.Alloc(Limit), 1) };
        if (lastFails)
            faults.Add((FaultSites.Alloc(PageNoBackup), 1));
        var f = new PortFixture(new ExplicitFaults(faults), tempMemoryLimit: 16);
        ulong size = 1000;
        var res = f.Port.temp_kmalloc(ref size, Ptr<byte>.NULL, 0);
        Assert.Equal(P, size);
        Assert.Equal(lastFails, res.IsNull);
        Assert.Equal(0, f.Attempts(Page));
        Assert.Equal(1, f.Attempts(PageNoBackup));
    }

    // ---- npinned (pages.c:163-189) --------------------------------------------------------

    /// <summary>pages.c:163-170: add within npages is silent; going above npages WARNs but stores the sum;
    /// wrapping WARNs too.</summary>
    [Fact]
    public void Add_npinned_warns_above_npages_and_on_wrap()
    {
        var f = new PortFixture();
        var pages = new iopt_pages { npages = 4 };
        f.Port.iopt_pages_add_npinned(pages, 4);
        Assert.Equal(4UL, pages.npinned);
        f.AssertNoChecks();
        f.Port.iopt_pages_add_npinned(pages, 1);
        Assert.Equal(5UL, pages.npinned);
        Assert.Equal(["iopt_pages_add_npinned"], f.Warns);
        pages.npinned = ulong.MaxValue;
        pages.npages = ulong.MaxValue;
        f.Port.iopt_pages_add_npinned(pages, 2);
        Assert.Equal(1UL, pages.npinned);
        Assert.Equal(2, f.Warns.Length);
    }

    /// <summary>pages.c:172-179: sub to zero is silent; below zero WARNs and wraps.</summary>
    [Fact]
    public void Sub_npinned_warns_on_underflow()
    {
        var f = new PortFixture();
        var pages = new iopt_pages { npages = 4, npinned = 3 };
        f.Port.iopt_pages_sub_npinned(pages, 3);
        Assert.Equal(0UL, pages.npinned);
        f.AssertNoChecks();
        f.Port.iopt_pages_sub_npinned(pages, 1);
        Assert.Equal(ulong.MaxValue, pages.npinned);
        Assert.Equal(["iopt_pages_sub_npinned"], f.Warns);
    }

    /// <summary>pages.c:181-189: err_unpin unpins every page of the list and takes them off npinned.</summary>
    [Fact]
    public void Err_unpin_unpins_the_list_and_subtracts()
    {
        var f = new PortFixture();
        ulong pfn = f.AllocFrames(3);
        var list = new Ptr<PagePtr>(KMem.Stack(3 * 8), 0);
        for (int i = 0; i < 3; i++)
        {
            f.Kernel.Phys.Pin(pfn + (ulong)i);
            list[i] = PagePtr.FromPfn(pfn + (ulong)i);
        }
        var pages = new iopt_pages { npages = 10, npinned = 5 };
        f.Port.iopt_pages_err_unpin(pages, 4, 6, list);
        Assert.Equal(2UL, pages.npinned);
        Assert.Equal(0L, f.Kernel.Phys.TotalPins);
        f.AssertNoChecks();
    }

    // ---- iopt_area_index_to_iova(_last) (pages.c:197-219) ---------------------------------

    /// <summary>
    /// Area over indexes [2, 5] at IOVA 0x10800 with page_offset 0x800, ending at 0x13bff.
    /// pages.c:203-204: the first index gives the area's own IOVA; 205: other indexes are page
    /// boundaries from iova - page_offset. pages.c:215-216: the last index gives the area's last
    /// IOVA; 217-218: others the last byte of their page.
    /// </summary>
    [Fact]
    public void Index_to_iova_honours_page_offset_and_the_area_edges()
    {
        var f = new PortFixture();
        var pages = new iopt_pages { npages = 8 };
        var area = f.NewArea(pages, 2, 5, 0x10800, 0x13bff, pageOffset: 0x800, insert: false);
        Assert.Equal(0x10800UL, f.Port.iopt_area_index_to_iova(area, 2));
        Assert.Equal(0x11000UL, f.Port.iopt_area_index_to_iova(area, 3));
        Assert.Equal(0x13000UL, f.Port.iopt_area_index_to_iova(area, 5));
        Assert.Equal(0x10fffUL, f.Port.iopt_area_index_to_iova_last(area, 2));
        Assert.Equal(0x12fffUL, f.Port.iopt_area_index_to_iova_last(area, 4));
        Assert.Equal(0x13bffUL, f.Port.iopt_area_index_to_iova_last(area, 5));
        f.AssertNoChecks();
    }

    /// <summary>pages.c:200-202 and 212-214: an index outside the area WARNs (the value is still computed).</summary>
    [Fact]
    public void Index_to_iova_warns_outside_the_area()
    {
        var f = new PortFixture();
        var area = f.NewArea(new iopt_pages { npages = 8 }, 2, 5, 0x10000, 0x13fff, insert: false);
        Assert.Equal(0x10000UL - P, f.Port.iopt_area_index_to_iova(area, 1));
        Assert.Equal(0x14fffUL, f.Port.iopt_area_index_to_iova_last(area, 6));
        Assert.Equal(["iopt_area_index_to_iova", "iopt_area_index_to_iova_last"], f.Warns);
    }

    // ---- batch init / destroy (pages.c:315-348) ------------------------------------------

    /// <summary>pages.c:315-330 with TEMP_MEMORY_LIMIT 16 and 32: 16/12 = 1 and 32/12 = 2 entries;
    /// npfns starts right after array_size u64 slots in the same block; batch_clear zeroes slot 0.</summary>
    [Theory]
    [InlineData(16UL, 1U)]
    [InlineData(32UL, 2U)]
    public void Batch_init_under_a_small_limit_gives_one_or_two_entries(ulong limit, uint entries)
    {
        var f = new PortFixture(tempMemoryLimit: limit);
        var b = f.NewBatch(10);
        Assert.Equal(entries, b.array_size);
        Assert.Equal((long)limit, b.pfns.Mem!.Length);
        Assert.Same(b.pfns.Mem, b.npfns.Mem);
        Assert.Equal(8L * entries, b.npfns.ByteOffset);
        Assert.Equal((0U, 0U, 0UL, 0U), (b.end, b.total_pfns, b.pfns[0], b.npfns[0]));
        f.Port.batch_destroy(b, Ptr<byte>.NULL);
        Assert.Equal(0, f.Kernel.Allocator.LiveCount);
        f.AssertNoChecks();
    }

    /// <summary>pages.c:337-341 + 81-82: a small batch_init_backup lives in the backup, sized by the
    /// request (3 entries, not 21); pages.c:345: batch_destroy does not free the backup.</summary>
    [Fact]
    public void Batch_init_backup_small_request_uses_the_backup_sized_by_the_request()
    {
        var f = new PortFixture();
        var backup = Backup();
        var b = new pfn_batch();
        f.Port.batch_init_backup(b, 3, backup, 256);
        Assert.Equal(backup, b.pfns.AsVoid());
        Assert.Equal(3U, b.array_size);
        Assert.Equal(24L, b.npfns.ByteOffset);
        f.Port.batch_destroy(b, backup);
        Assert.False(backup.Mem!.Freed);
        f.AssertNoChecks();
        Assert.Equal(0, f.Attempts(Limit));
    }

    /// <summary>pages.c:337-348: a large batch_init_backup is kmalloc'ed and batch_destroy frees it;
    /// when every kmalloc fails it falls back to the full 256-byte backup (21 entries).</summary>
    [Theory]
    [InlineData(false, 100U)]
    [InlineData(true, 21U)]
    public void Batch_init_backup_large_request(bool allocFails, uint entries)
    {
        var plan = allocFails
            ? new ExplicitFaults([(FaultSites.Alloc(Limit), 1), (FaultSites.Alloc(Page), 1)])
            : new ExplicitFaults([]);
        var f = new PortFixture(plan);
        var backup = Backup();
        var b = new pfn_batch();
        f.Port.batch_init_backup(b, 100, backup, 256);
        Assert.Equal(entries, b.array_size);
        Assert.Equal(allocFails, b.pfns.AsVoid() == backup);
        f.Port.batch_destroy(b, backup);
        Assert.Equal(0, f.Kernel.Allocator.LiveCount);
        f.AssertNoChecks();
    }

    /// <summary>pages.c:321-323: batch_init has no backup, so the temp_kmalloc fault point makes it -ENOMEM.</summary>
    [Fact]
    public void Batch_init_fails_with_enomem_at_the_fault_point()
    {
        var f = PortFixture.Failing((ShouldFailTemp, 1));
        var b = new pfn_batch();
        Assert.Equal(-KernelApi.ENOMEM, f.Port.batch_init(b, 4));
        Assert.True(b.pfns.IsNull);
        Assert.Equal(0, f.Kernel.Allocator.LiveCount);
    }

    /// <summary>
    /// pages.c:324-325 (test-only): a TEMP_MEMORY_LIMIT below 12 bytes makes size &lt; elmsz; the
    /// WARN fires and -EINVAL is returned with pfns already set and array_size untouched. The only
    /// caller of batch_init (pfn_reader_init) does not destroy the batch then, so in v6.2 the
    /// 8-byte block leaks (NOTES.part1 item 2).
    /// </summary>
    [Fact]
    public void V6_2_batch_init_below_element_size_warns_and_leaks_the_block()
    {
        var f = new PortFixture(tempMemoryLimit: 8);
        var b = new pfn_batch();
        Assert.Equal(-KernelApi.EINVAL, f.Port.batch_init(b, 4));
        Assert.Equal(["__batch_init"], f.Warns);
        Assert.False(b.pfns.IsNull);
        Assert.Equal(0U, b.array_size);
        Assert.Equal(1, f.Kernel.Allocator.LiveCount);
    }

    // ---- batch_add_pfn (pages.c:350-372) ---------------------------------------------------

    /// <summary>pages.c:354-360 extends the last run; 361-362 refuses a new run when the array is full
    /// (total unchanged) while contiguous PFNs still extend; 363-367 opens a new run.</summary>
    [Fact]
    public void Batch_add_pfn_extends_runs_and_refuses_a_new_run_when_full()
    {
        var f = new PortFixture(tempMemoryLimit: 32);
        var b = f.NewBatch(10);
        Assert.Equal(2U, b.array_size);
        Assert.True(f.Port.batch_add_pfn(b, 10));
        Assert.True(f.Port.batch_add_pfn(b, 11));
        Assert.True(f.Port.batch_add_pfn(b, 20));
        Assert.False(f.Port.batch_add_pfn(b, 30));
        Assert.Equal(3U, b.total_pfns);
        Assert.True(f.Port.batch_add_pfn(b, 21));
        Assert.Equal([(10UL, 2U), (20UL, 2U)], PortFixture.Runs(b));
        Assert.Equal(4U, b.total_pfns);
        // A PFN below the run is not contiguous either.
        Assert.False(f.Port.batch_add_pfn(b, 19));
        f.Port.batch_destroy(b, Ptr<byte>.NULL);
    }

    /// <summary>pages.c:356: a run that holds type_max(u32) PFNs is not extended; the next contiguous
    /// PFN needs a new run (and is refused in a full one-entry batch). The long run is written by
    /// hand: pinning 2^32 pages is impractical.</summary>
    [Theory]
    [InlineData(16UL)]
    [InlineData(32UL)]
    public void Batch_add_pfn_starts_a_new_run_at_the_u32_run_limit(ulong limit)
    {
        var f = new PortFixture(tempMemoryLimit: limit);
        var b = f.NewBatch(10);
        Assert.True(f.Port.batch_add_pfn(b, 0x100));
        b.npfns[0] = uint.MaxValue;
        b.total_pfns = uint.MaxValue;
        ulong next = 0x100 + (ulong)uint.MaxValue;
        bool added = f.Port.batch_add_pfn(b, next);
        Assert.Equal(b.array_size > 1, added);
        Assert.Equal(uint.MaxValue, b.npfns[0]);
        if (added)
            Assert.Equal((next, 1U), (b.pfns[1], b.npfns[1]));
    }

    // ---- clear / carry (pages.c:275-313) ----------------------------------------------------

    /// <summary>pages.c:275-281 and 290-291: clear (and carry 0) empties the batch and zeroes slot 0.</summary>
    [Fact]
    public void Batch_clear_and_carry_zero_empty_the_batch()
    {
        var f = new PortFixture();
        foreach (bool viaCarry in new[] { false, true })
        {
            var b = f.NewBatch(4);
            f.Port.batch_add_pfn(b, 7);
            f.Port.batch_add_pfn(b, 9);
            if (viaCarry) f.Port.batch_clear_carry(b, 0); else f.Port.batch_clear(b);
            Assert.Equal((0U, 0U, 0UL, 0U), (b.end, b.total_pfns, b.pfns[0], b.npfns[0]));
            f.Port.batch_destroy(b, Ptr<byte>.NULL);
        }
        f.AssertNoChecks();
    }

    /// <summary>
    /// pages.c:297-300 with two runs {5}, {10,11,12} and keep 2: slot 0 becomes 10 + (3 - 2) = 11 with
    /// 2 PFNs, as intended. But end is set to 0 (v6.2 defect: the carried run lives in slot 0 yet the
    /// batch looks empty), so the next batch_add_pfn overwrites it while total_pfns still counts it.
    /// </summary>
    [Fact]
    public void V6_2_batch_clear_carry_sets_end_to_zero_so_the_next_add_overwrites_the_carry()
    {
        var f = new PortFixture();
        var b = f.NewBatch(4);
        foreach (ulong pfn in new ulong[] { 5, 10, 11, 12 })
            Assert.True(f.Port.batch_add_pfn(b, pfn));
        f.Port.batch_clear_carry(b, 2);
        f.AssertNoChecks();
        Assert.Equal((11UL, 2U, 2U), (b.pfns[0], b.npfns[0], b.total_pfns));
        Assert.Equal(0U, b.end);
        // Correct would be to extend the carry (13 follows 11,12) giving one run 11..13.
        Assert.True(f.Port.batch_add_pfn(b, 13));
        Assert.Equal((13UL, 1U), (b.pfns[0], b.npfns[0]));
        Assert.Equal(3U, b.total_pfns);
        Assert.Equal(1U, b.end);
        f.Port.batch_destroy(b, Ptr<byte>.NULL);
    }

    /// <summary>
    /// pages.c:298-300 with a single run 10,11,12 and keep 2: npfns[0] is written (2) before
    /// npfns[end - 1] (the same slot) is read, so pfns[0] = 10 + (2 - 2) = 10 instead of 11. v6.2
    /// defect: the carry names the wrong PFNs (later unpinned instead of 11, 12).
    /// </summary>
    [Fact]
    public void V6_2_batch_clear_carry_with_one_run_keeps_the_first_pfns_instead_of_the_last()
    {
        var f = new PortFixture();
        var b = f.NewBatch(4);
        foreach (ulong pfn in new ulong[] { 10, 11, 12 })
            f.Port.batch_add_pfn(b, pfn);
        f.Port.batch_clear_carry(b, 2);
        f.AssertNoChecks();
        Assert.Equal((10UL, 2U, 2U, 0U), (b.pfns[0], b.npfns[0], b.total_pfns, b.end));
        f.Port.batch_destroy(b, Ptr<byte>.NULL);
    }

    /// <summary>pages.c:293-295: keeping more PFNs than the last run holds WARNs (test build).</summary>
    [Fact]
    public void Batch_clear_carry_warns_when_keep_exceeds_the_last_run()
    {
        var f = new PortFixture();
        var b = f.NewBatch(4);
        f.Port.batch_add_pfn(b, 10);
        f.Port.batch_add_pfn(b, 20);
        f.Port.batch_clear_carry(b, 2);
        Assert.Equal(["batch_clear_carry"], f.Warns);
        // pfns[0] = pfns[1] + (npfns[1] - 2) = 20 + (1 - 2) wraps in u32 then widens.
        Assert.Equal(20UL + uint.MaxValue, b.pfns[0]);
        f.Port.batch_destroy(b, Ptr<byte>.NULL);
    }

    /// <summary>pages.c:303-313: skip on an empty batch does nothing; otherwise slot 0 moves forward by
    /// min(total, skip); a batch that is not a single carried run WARNs.</summary>
    [Fact]
    public void Batch_skip_carry_advances_the_single_run()
    {
        var f = new PortFixture();
        var b = f.NewBatch(4);
        f.Port.batch_skip_carry(b, 3);
        Assert.Equal((0UL, 0U, 0U), (b.pfns[0], b.npfns[0], b.total_pfns));
        foreach (ulong pfn in new ulong[] { 100, 101, 102, 103 })
            f.Port.batch_add_pfn(b, pfn);
        f.Port.batch_skip_carry(b, 1);
        Assert.Equal((101UL, 3U, 3U), (b.pfns[0], b.npfns[0], b.total_pfns));
        f.Port.batch_skip_carry(b, 10);
        Assert.Equal((104UL, 0U, 0U), (b.pfns[0], b.npfns[0], b.total_pfns));
        f.AssertNoChecks();

        f.Port.batch_clear(b);
        f.Port.batch_add_pfn(b, 1);
        f.Port.batch_add_pfn(b, 5);
        f.Port.batch_skip_carry(b, 1);
        Assert.Equal(["batch_skip_carry"], f.Warns);
        f.Port.batch_destroy(b, Ptr<byte>.NULL);
    }

    // ---- batch_unpin (pages.c:623-647) -------------------------------------------------------

    /// <summary>
    /// Runs {A, A+1, A+2}, {B, B+1}; first_page_off 2, npages 2: pages.c:628-633 stays in run 0
    /// (3 &gt; 2), 635-645 unpins A+2 then B. Dirtying follows pages.writable; npinned drops by 2.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Batch_unpin_walks_runs_from_an_offset(bool writable)
    {
        var f = new PortFixture();
        ulong a = f.AllocFrames(3), gap = f.AllocFrames(1), bRun = f.AllocFrames(2);
        Assert.NotEqual(a + 3, bRun);
        Assert.Equal(a + 3, gap);
        var all = new[] { a, a + 1, a + 2, bRun, bRun + 1 };
        foreach (var pfn in all) f.Kernel.Phys.Pin(pfn);
        var b = f.NewBatch(8);
        foreach (var pfn in all) f.Port.batch_add_pfn(b, pfn);
        var pages = new iopt_pages { npages = 8, npinned = 5, writable = writable };

        f.Port.batch_unpin(b, pages, 2, 2);
        Assert.Equal([1, 1, 0, 0, 1], all.Select(f.PinCount));
        Assert.Equal(writable, f.Kernel.Phys.IsDirty(a + 2));
        Assert.Equal(writable, f.Kernel.Phys.IsDirty(bRun));
        Assert.False(f.Kernel.Phys.IsDirty(a));
        Assert.Equal(3UL, pages.npinned);

        // An offset past the first run (3 is not < 3 at pages.c:630) continues into run 1: 4 -> B+1.
        f.Port.batch_unpin(b, pages, 4, 1);
        Assert.Equal([1, 1, 0, 0, 0], all.Select(f.PinCount));
        Assert.Equal(2UL, pages.npinned);
        f.AssertNoChecks();
    }

    // ---- batch_rw / copy_data_page (pages.c:649-690) -----------------------------------------

    private static byte[] Read(PortFixture f, ulong pfn, int offset, int n)
    {
        var buf = new byte[n];
        f.Kernel.Phys.Read(pfn, offset, buf);
        return buf;
    }

    /// <summary>
    /// Batch runs {A, A+1}, {B}: a write of 3 pages' worth starting 100 bytes into the first page
    /// copies min(length, PAGE_SIZE - offset) then whole pages (pages.c:670-688), crossing runs at
    /// npage == npfns[cur]; each written page is dirtied (655-656). A read (658) gets the same bytes
    /// back and dirties nothing.
    /// </summary>
    [Fact]
    public void Batch_rw_writes_and_reads_across_runs_with_an_offset()
    {
        var f = new PortFixture();
        ulong a = f.AllocFrames(2), gap = f.AllocFrames(1), bRun = f.AllocFrames(1);
        var b = f.NewBatch(4);
        foreach (var pfn in new[] { a, a + 1, bRun }) f.Port.batch_add_pfn(b, pfn);
        Assert.Equal(2U, b.end);

        ulong length = 2 * P + 10;
        var src = new Ptr<byte>(KMem.Stack((long)length), 0);
        var rnd = new Random(1234);
        rnd.NextBytes(src.Mem!.Data);
        Assert.Equal(length, f.Port.batch_rw(b, src, 100, length, KernelApi.IOMMUFD_ACCESS_RW_WRITE));
        Assert.Equal(src.Mem.Data[..(int)(P - 100)], Read(f, a, 100, (int)(P - 100)));
        Assert.Equal(src.Mem.Data[(int)(P - 100)..(int)(2 * P - 100)], Read(f, a + 1, 0, (int)P));
        Assert.Equal(src.Mem.Data[(int)(2 * P - 100)..], Read(f, bRun, 0, 110));
        Assert.True(f.Kernel.Phys.IsDirty(a) && f.Kernel.Phys.IsDirty(a + 1) && f.Kernel.Phys.IsDirty(bRun));
        Assert.False(f.Kernel.Phys.IsDirty(gap));

        foreach (var pfn in new[] { a, a + 1, bRun }) f.Kernel.Phys.ClearDirty(pfn);
        var dst = new Ptr<byte>(KMem.Stack((long)length), 0);
        Assert.Equal(length, f.Port.batch_rw(b, dst, 100, length, KernelApi.IOMMUFD_ACCESS_RW_READ));
        Assert.Equal(src.Mem.Data, dst.Mem!.Data);
        Assert.False(f.Kernel.Phys.IsDirty(a) || f.Kernel.Phys.IsDirty(a + 1) || f.Kernel.Phys.IsDirty(bRun));
        Assert.Equal(0, f.Kernel.Phys.OutstandingKmaps);
        f.AssertNoChecks();
    }

    /// <summary>pages.c:669 and 686-687: the copy stops when the batch runs out (copied is what the
    /// batch holds past the offset) or when length reaches 0 mid-run.</summary>
    [Fact]
    public void Batch_rw_stops_at_the_end_of_the_batch_or_of_length()
    {
        var f = new PortFixture();
        ulong a = f.AllocFrames(2);
        var b = f.NewBatch(4);
        f.Port.batch_add_pfn(b, a);
        f.Port.batch_add_pfn(b, a + 1);
        var big = new Ptr<byte>(KMem.Stack((long)(4 * P)), 0);
        Assert.Equal(2 * P - 8, f.Port.batch_rw(b, big, 8, 4 * P, KernelApi.IOMMUFD_ACCESS_RW_READ));
        Assert.Equal(Read(f, a + 1, 0, (int)P), big.Mem!.Data[(int)(P - 8)..(int)(2 * P - 8)]);
        var small = new Ptr<byte>(KMem.Stack(5), 0);
        Assert.Equal(5UL, f.Port.batch_rw(b, small, 8, 5, KernelApi.IOMMUFD_ACCESS_RW_READ));
        Assert.Equal(Read(f, a, 8, 5), small.Mem!.Data);
        f.AssertNoChecks();
    }
}
