// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;

namespace Iommufd.Tests.Port;

/// <summary>
/// pages.c 517-621: batch_from_xarray, batch_from_xarray_clear, clear_xarray, pages_to_xarray
/// (with its half-way fault point, the xas_nomem retry and the err_clear unwind) and
/// batch_from_pages. Expected values are derived from the C.
/// </summary>
public sealed class XarrayHelperTests
{
    private static readonly string ShouldFailP2X = FaultSites.ShouldFail("pages_to_xarray");

    private static xarray NewXa() => new("port-test.xa");

    private static Ptr<PagePtr> PageList(params ulong[] pfns)
    {
        var list = new Ptr<PagePtr>(KMem.Stack(8L * Math.Max(1, pfns.Length)), 0);
        for (int i = 0; i < pfns.Length; i++)
            list[i] = PagePtr.FromPfn(pfns[i]);
        return list;
    }

    private static void Fill(PortFixture f, xarray xa, ulong start, params ulong[] pfns)
    {
        for (int i = 0; i < pfns.Length; i++)
            f.StorePfn(xa, start + (ulong)i, pfns[i]);
    }

    // ---- batch_from_xarray (pages.c:517-536) -----------------------------------------------

    /// <summary>pages.c:524-533: every value in [3, 7] goes into the batch, grouped into runs; the
    /// entries stay; the walk runs under rcu_read_lock (no lockdep report).</summary>
    [Fact]
    public void Batch_from_xarray_reads_the_range_into_runs()
    {
        var f = new PortFixture();
        var xa = NewXa();
        Fill(f, xa, 3, 100, 101, 102, 200, 201);
        var b = f.NewBatch(8);
        f.Port.batch_from_xarray(b, xa, 3, 7);
        Assert.Equal([(100UL, 3U), (200UL, 2U)], PortFixture.Runs(b));
        Assert.Equal(5U, b.total_pfns);
        Assert.Equal(5, PortFixture.XaContents(xa).Count);
        f.AssertNoChecks();
    }

    /// <summary>pages.c:530-532: with a one-entry batch (limit 16) the walk stops at the first PFN that
    /// needs a second run.</summary>
    [Fact]
    public void Batch_from_xarray_stops_when_the_batch_is_full()
    {
        var f = new PortFixture(tempMemoryLimit: 16);
        var xa = NewXa();
        Fill(f, xa, 3, 100, 101, 102, 200, 201);
        var b = f.NewBatch(5);
        f.Port.batch_from_xarray(b, xa, 3, 7);
        Assert.Equal([(100UL, 3U)], PortFixture.Runs(b));
        f.AssertNoChecks();
    }

    /// <summary>pages.c:529-530: a missing entry only WARNs and xa_to_value(NULL) = 0 is added as a PFN.</summary>
    [Fact]
    public void Batch_from_xarray_warns_on_a_missing_entry_and_adds_pfn_zero()
    {
        var f = new PortFixture();
        var xa = NewXa();
        f.StorePfn(xa, 3, 100);
        f.StorePfn(xa, 5, 102);
        var b = f.NewBatch(8);
        f.Port.batch_from_xarray(b, xa, 3, 5);
        Assert.Equal([100UL, 0UL, 102UL], PortFixture.Expand(b));
        Assert.Equal(["batch_from_xarray"], f.Warns);
    }

    // ---- batch_from_xarray_clear (pages.c:538-559) -------------------------------------------

    /// <summary>pages.c:550-553: each entry that fits is erased; the one that does not fit (full
    /// one-entry batch) stays, and so does everything after it.</summary>
    [Fact]
    public void Batch_from_xarray_clear_erases_what_it_took_and_keeps_the_rest()
    {
        var f = new PortFixture(tempMemoryLimit: 16);
        var xa = NewXa();
        Fill(f, xa, 3, 100, 101, 102, 200, 201);
        var b = f.NewBatch(5);
        f.Port.batch_from_xarray_clear(b, xa, 3, 7);
        Assert.Equal([(100UL, 3U)], PortFixture.Runs(b));
        Assert.Equal(new Dictionary<ulong, ulong> { [6] = 200, [7] = 201 }, PortFixture.XaContents(xa));
        f.AssertNoChecks();
    }

    /// <summary>pages.c:554-555: reaching last_index ends the walk with every entry erased; the fake
    /// then frees the xarray node (nothing left allocated). Entries outside the range stay.</summary>
    [Fact]
    public void Batch_from_xarray_clear_of_the_whole_range_empties_it()
    {
        var f = new PortFixture();
        var xa = NewXa();
        Fill(f, xa, 3, 100, 101, 300, 301);
        var b = f.NewBatch(8);
        f.Port.batch_from_xarray_clear(b, xa, 3, 5);
        Assert.Equal([(100UL, 2U), (300UL, 1U)], PortFixture.Runs(b));
        Assert.Equal(new Dictionary<ulong, ulong> { [6] = 301 }, PortFixture.XaContents(xa));
        f.Port.batch_from_xarray_clear(b, xa, 6, 6);
        Assert.Equal(0L, xa.Count);
        f.Port.batch_destroy(b, Ptr<byte>.NULL);
        Assert.Equal(0, f.Kernel.Allocator.LiveCount);
        f.AssertNoChecks();
    }

    /// <summary>pages.c:550-552: a missing entry WARNs, PFN 0 is added and NULL is stored into the empty slot.</summary>
    [Fact]
    public void Batch_from_xarray_clear_warns_on_a_missing_entry()
    {
        var f = new PortFixture();
        var xa = NewXa();
        f.StorePfn(xa, 4, 100);
        var b = f.NewBatch(8);
        f.Port.batch_from_xarray_clear(b, xa, 3, 4);
        Assert.Equal([0UL, 100UL], PortFixture.Expand(b));
        Assert.Equal(["batch_from_xarray_clear"], f.Warns);
        Assert.Equal(0L, xa.Count);
    }

    // ---- clear_xarray (pages.c:561-571) ------------------------------------------------------

    /// <summary>pages.c:567-568: every present entry in [2, 5] is erased, holes are skipped, entries
    /// outside the range stay.</summary>
    [Fact]
    public void Clear_xarray_erases_only_inside_the_range()
    {
        var f = new PortFixture();
        var xa = NewXa();
        foreach (ulong i in new ulong[] { 1, 2, 5, 9 })
            f.StorePfn(xa, i, 1000 + i);
        f.Port.clear_xarray(xa, 2, 5);
        Assert.Equal(new Dictionary<ulong, ulong> { [1] = 1001, [9] = 1009 }, PortFixture.XaContents(xa));
        f.AssertNoChecks();
    }

    // ---- pages_to_xarray (pages.c:573-611) ----------------------------------------------------

    /// <summary>pages.c:584-600: every page's PFN is stored at its index; the fault point is asked
    /// exactly once, at the half-way page.</summary>
    [Fact]
    public void Pages_to_xarray_stores_every_page()
    {
        var f = new PortFixture();
        var xa = NewXa();
        Assert.Equal(0, f.Port.pages_to_xarray(xa, 10, 13, PageList(50, 51, 70, 90)));
        Assert.Equal(new Dictionary<ulong, ulong> { [10] = 50, [11] = 51, [12] = 70, [13] = 90 }, PortFixture.XaContents(xa));
        Assert.Equal(1, f.Hits(ShouldFailP2X));
        f.AssertNoChecks();
    }

    /// <summary>pages.c:596: overwriting an entry WARNs but the new value is stored.</summary>
    [Fact]
    public void Pages_to_xarray_warns_when_it_overwrites_an_entry()
    {
        var f = new PortFixture();
        var xa = NewXa();
        f.StorePfn(xa, 11, 999);
        Assert.Equal(0, f.Port.pages_to_xarray(xa, 10, 11, PageList(50, 51)));
        Assert.Equal(51UL, PortFixture.XaContents(xa)[11]);
        Assert.Equal(["pages_to_xarray"], f.Warns);
    }

    /// <summary>pages.c:585-591 then 603-607: the fault at the half-way page (index 12 of 10..13) sets
    /// -EINVAL; err_clear erases the two entries already stored ([10, 11]); nothing is leaked.</summary>
    [Fact]
    public void Pages_to_xarray_half_way_fault_unwinds_what_was_stored()
    {
        var f = PortFixture.Failing((ShouldFailP2X, 1));
        var xa = NewXa();
        f.StorePfn(xa, 20, 7);
        Assert.Equal(-KernelApi.EINVAL, f.Port.pages_to_xarray(xa, 10, 13, PageList(50, 51, 70, 90)));
        Assert.Equal(new Dictionary<ulong, ulong> { [20] = 7 }, PortFixture.XaContents(xa));
        Assert.Equal(2L, xa.Erases);
        f.AssertNoChecks();
    }

    /// <summary>pages.c:579 with one page: half is the first page, so the fault fires before any store and
    /// pages.c:604 (xa_index != start_index) skips the clear.</summary>
    [Fact]
    public void Pages_to_xarray_single_page_fault_stores_nothing()
    {
        var f = PortFixture.Failing((ShouldFailP2X, 1));
        var xa = NewXa();
        Assert.Equal(-KernelApi.EINVAL, f.Port.pages_to_xarray(xa, 10, 10, PageList(50)));
        Assert.Equal(0L, xa.Count);
        Assert.Equal(0L, xa.Stores);
        Assert.Equal(0L, xa.Erases);
        Assert.Equal(0, f.Kernel.Allocator.LiveCount);
    }

    /// <summary>
    /// Indexes 62..65 span two xarray nodes. The second node allocation under the lock fails at
    /// index 64 (the half-way page): pages.c:594-595 breaks with pages still at half_pages,
    /// 600 xas_nomem allocates outside the lock and the loop restarts at 64, so the fault point is
    /// asked a second time for the same page (NOTES.part1 item 8); the retry stores 64 and 65.
    /// </summary>
    [Fact]
    public void Pages_to_xarray_retries_after_a_node_allocation_failure()
    {
        var f = PortFixture.Failing((FaultSites.XaNodeAllocAtomic, 2));
        var xa = NewXa();
        Assert.Equal(0, f.Port.pages_to_xarray(xa, 62, 65, PageList(5, 6, 7, 8)));
        Assert.Equal(new Dictionary<ulong, ulong> { [62] = 5, [63] = 6, [64] = 7, [65] = 8 }, PortFixture.XaContents(xa));
        Assert.Equal(2, f.Hits(ShouldFailP2X));
        Assert.Equal(1, f.Attempts(xarray.NomemNodeSite));
        Assert.Equal(2, xa.NodeCount);
        f.AssertNoChecks();
    }

    /// <summary>pages.c:600 then 603-607: when xas_nomem cannot allocate either, the loop ends with
    /// -ENOMEM at index 64 and err_clear erases 62..63; no node is left.</summary>
    [Fact]
    public void Pages_to_xarray_gives_enomem_and_unwinds_when_xas_nomem_fails()
    {
        var f = PortFixture.Failing((FaultSites.XaNodeAllocAtomic, 2), (FaultSites.XasNomem, 1));
        var xa = NewXa();
        Assert.Equal(-KernelApi.ENOMEM, f.Port.pages_to_xarray(xa, 62, 65, PageList(5, 6, 7, 8)));
        Assert.Equal(0L, xa.Count);
        Assert.Equal(0, xa.NodeCount);
        Assert.Equal(0, f.Kernel.Allocator.LiveCount);
        f.AssertNoChecks();
    }

    /// <summary>pages.c:585-591 on the retry round: the second ask of the fault point fails, -EINVAL is
    /// set, xas_nomem (error is not -ENOMEM) frees the preallocated node, err_clear erases 62..63.</summary>
    [Fact]
    public void Pages_to_xarray_fault_on_the_retry_frees_the_preallocated_node()
    {
        var f = PortFixture.Failing((FaultSites.XaNodeAllocAtomic, 2), (ShouldFailP2X, 2));
        var xa = NewXa();
        Assert.Equal(-KernelApi.EINVAL, f.Port.pages_to_xarray(xa, 62, 65, PageList(5, 6, 7, 8)));
        Assert.Equal(0L, xa.Count);
        Assert.Equal(1, f.Attempts(xarray.NomemNodeSite));
        Assert.Equal(0, f.Kernel.Allocator.LiveCount);
        f.AssertNoChecks();
    }

    // ---- batch_from_pages (pages.c:613-621) --------------------------------------------------

    /// <summary>pages.c:617-620: PFNs are appended until the batch is full.</summary>
    [Theory]
    [InlineData(16UL, new ulong[] { 5, 6 })]
    [InlineData(32UL, new ulong[] { 5, 6, 9 })]
    [InlineData(65536UL, new ulong[] { 5, 6, 9, 12, 13 })]
    public void Batch_from_pages_fills_until_full(ulong limit, ulong[] expected)
    {
        var f = new PortFixture(tempMemoryLimit: limit);
        var b = f.NewBatch(5);
        f.Port.batch_from_pages(b, PageList(5, 6, 9, 12, 13), 5);
        Assert.Equal(expected, PortFixture.Expand(b));
        Assert.Equal((uint)expected.Length, b.total_pfns);
    }
}
