// SPDX-License-Identifier: GPL-2.0-only
using FsCheck;
using FsCheck.Fluent;
using Iommufd.Faults;
using Iommufd.Model.Kernel;
using Iommufd.Model.Selftest;

namespace Iommufd.Tests.Kernel;

/// <summary>Exposes the protected IOMMU services of <see cref="KernelApi"/> to the tests.</summary>
internal sealed class IommuTestApi(FakeKernel kernel) : KernelApi(kernel)
{
    public new int iommu_map(iommu_domain d, ulong iova, ulong paddr, ulong size, int prot) => base.iommu_map(d, iova, paddr, size, prot);
    public new ulong iommu_unmap(iommu_domain d, ulong iova, ulong size) => base.iommu_unmap(d, iova, size);
    public new ulong iommu_iova_to_phys(iommu_domain d, ulong iova) => base.iommu_iova_to_phys(d, iova);
    public new void iommu_domain_free(iommu_domain d) => base.iommu_domain_free(d);
    public static new ulong iommu_pgsize(ulong bitmap, ulong iova, ulong paddr, ulong size, out ulong count) =>
        KernelApi.iommu_pgsize(bitmap, iova, paddr, size, out count);
    public new void rcu_read_lock() => base.rcu_read_lock();
    public new void rcu_read_unlock() => base.rcu_read_unlock();

    public static FakeKernel Failing(string site, params long[] hits) =>
        new(new FaultInjector(new ExplicitFaults(hits.Select(h => (site, h)))));
}

public class IommuCoreTests
{
    private const ulong K4 = PageTableDomain.SZ_4K, M2 = PageTableDomain.SZ_2M, G1 = PageTableDomain.SZ_1G;
    private const int RW = KernelApi.IOMMU_READ | KernelApi.IOMMU_WRITE;

    private static (ulong Iova, ulong PageSize, ulong Count)[] MapPagesCalls(iommu_domain d) =>
        d.Events.Where(e => e.Kind == IommuEventKind.MapPages).Select(e => (e.Iova, e.PageSize, e.PageCount)).ToArray();

    // ---- alignment refusals --------------------------------------------------------------

    [Theory]
    [InlineData(0x1000UL + 0x800, 0x0UL, 0x1000UL)] // iova
    [InlineData(0x1000UL, 0x10UL, 0x1000UL)]        // paddr
    [InlineData(0x1000UL, 0x0UL, 0x1800UL)]         // size
    public void Map_refuses_misaligned_requests(ulong iova, ulong paddr, ulong size)
    {
        var kernel = new FakeKernel();
        var api = new IommuTestApi(kernel);
        var d = new PageTableDomain(kernel);
        Assert.Equal(-KernelApi.EINVAL, api.iommu_map(d, iova, paddr, size, RW));
        Assert.True(d.IsEmpty);
        var e = Assert.Single(d.Events);
        Assert.Equal((IommuEventKind.Map, iova, size, paddr, -KernelApi.EINVAL, 0UL), (e.Kind, e.Iova, e.Size, e.Paddr, e.Error, e.Bytes));
        Assert.Equal(0, kernel.Checks.Count);
    }

    [Fact]
    public void Like_v6_2_an_empty_map_succeeds_and_a_map_ending_at_the_top_of_the_address_space_is_not_refused()
    {
        var kernel = new FakeKernel();
        var api = new IommuTestApi(kernel);
        var mock = new MockDomain(kernel);
        Assert.Equal(0, api.iommu_map(mock, 0x1000, 0x0, 0, RW));
        Assert.True(mock.IsEmpty);
        // No wrap-around check in v6.2's __iommu_map: the mock (no aperture check) maps the last page.
        ulong top = ulong.MaxValue - 0xfff;
        Assert.Equal(0, api.iommu_map(mock, top, 0x5000, 0x1000, RW));
        Assert.Equal(0x5000UL, mock.iova_to_phys(top));
        Assert.Equal(0x1000UL, api.iommu_unmap(mock, top, 0x1000));
        // The page-table domain refuses it by its aperture instead.
        var table = new PageTableDomain(kernel);
        Assert.Equal(-KernelApi.EINVAL, api.iommu_map(table, top, 0x5000, 0x1000, RW));
        Assert.Equal(0, kernel.Checks.Count);
    }

    [Fact]
    public void Map_alignment_follows_the_smallest_page_size_of_the_domain()
    {
        var kernel = new FakeKernel();
        var api = new IommuTestApi(kernel);
        var mock = new MockDomain(kernel);
        var table = new PageTableDomain(kernel);
        ulong iova = MockDomain.MOCK_APERTURE_START + 0x800;
        Assert.Equal(0, api.iommu_map(mock, iova, 0x10800, 0x800, RW));
        Assert.Equal(-KernelApi.EINVAL, api.iommu_map(table, iova, 0x10800, 0x800, RW));
        Assert.Equal(0x800UL, mock.MappedBytes);
        Assert.True(table.IsEmpty);
    }

    [Fact]
    public void A_domain_without_page_sizes_refuses_map_with_ENODEV_and_unmaps_nothing()
    {
        var kernel = new FakeKernel();
        var api = new IommuTestApi(kernel);
        var d = new PageTableDomain(kernel);
        Assert.Equal(0, api.iommu_map(d, 0, 0, K4, RW));
        d.pgsize_bitmap = 0;
        Assert.Equal(-19, api.iommu_map(d, 2 * K4, 0, K4, RW));
        Assert.Equal(0UL, api.iommu_unmap(d, 0, K4));
        Assert.Equal(K4, d.MappedBytes);
    }

    // ---- page size splitting -------------------------------------------------------------

    [Fact]
    public void Map_uses_4K_up_to_a_2M_boundary_then_1G_then_2M()
    {
        var kernel = new FakeKernel();
        var api = new IommuTestApi(kernel);
        var d = new PageTableDomain(kernel);
        ulong start = G1 - K4;
        Assert.Equal(0, api.iommu_map(d, start, start, K4 + G1 + M2, RW));
        Assert.Equal([(start, K4, 1UL), (G1, G1, 1UL), (2 * G1, M2, 1UL)], MapPagesCalls(d));
        Assert.Equal([new IommuMapping(start, K4, start, RW), new IommuMapping(G1, G1, G1, RW), new IommuMapping(2 * G1, M2, 2 * G1, RW)],
            d.Mappings);
    }

    [Fact]
    public void Map_stops_the_small_pages_at_the_boundary_only_when_a_larger_page_fits_after_it()
    {
        var kernel = new FakeKernel();
        var api = new IommuTestApi(kernel);
        var d = new PageTableDomain(kernel);
        ulong start = M2 - 2 * K4;
        Assert.Equal(0, api.iommu_map(d, start, start, 2 * K4 + 2 * M2 + 3 * K4, RW));
        Assert.Equal([(start, K4, 2UL), (M2, M2, 2UL), (3 * M2, K4, 3UL)], MapPagesCalls(d));
        Assert.Equal(7, d.Mappings.Count);
    }

    [Fact]
    public void Map_uses_2M_pages_up_to_a_1G_boundary_then_a_1G_page()
    {
        var kernel = new FakeKernel();
        var api = new IommuTestApi(kernel);
        var d = new PageTableDomain(kernel);
        ulong start = G1 - 2 * M2;
        Assert.Equal(0, api.iommu_map(d, start, start + 4 * G1, 2 * M2 + G1, RW));
        Assert.Equal([(start, M2, 2UL), (G1, G1, 1UL)], MapPagesCalls(d));
        Assert.Equal(start + 4 * G1 + M2 + 0x123, api.iommu_iova_to_phys(d, start + M2 + 0x123));
    }

    [Fact]
    public void Map_uses_only_4K_pages_when_iova_and_paddr_differ_inside_2M()
    {
        var kernel = new FakeKernel();
        var api = new IommuTestApi(kernel);
        var d = new PageTableDomain(kernel);
        Assert.Equal(0, api.iommu_map(d, 0, K4, 4 * M2, RW));
        Assert.Equal([(0UL, K4, 2048UL)], MapPagesCalls(d));
        Assert.All(d.Mappings, m => Assert.Equal(K4, m.Size));
    }

    [Fact]
    public void Map_uses_2M_pages_throughout_when_iova_and_paddr_differ_inside_1G()
    {
        var kernel = new FakeKernel();
        var api = new IommuTestApi(kernel);
        var d = new PageTableDomain(kernel);
        Assert.Equal(0, api.iommu_map(d, 0, M2, G1 + 3 * M2, RW));
        Assert.Equal([(0UL, M2, 515UL)], MapPagesCalls(d));
    }

    [Fact]
    public void Pgsize_picks_the_largest_size_that_alignment_and_size_allow()
    {
        const ulong bitmap = PageTableDomain.PAGE_SIZES;
        Assert.Equal(K4, IommuTestApi.iommu_pgsize(bitmap, M2 - K4, M2 - K4, 3 * M2, out ulong c1));
        Assert.Equal(1UL, c1);
        Assert.Equal(K4, IommuTestApi.iommu_pgsize(bitmap, M2 - K4, M2 - K4, M2, out ulong c2));
        Assert.Equal(M2 / K4, c2);
        Assert.Equal(G1, IommuTestApi.iommu_pgsize(bitmap, 0, 0, 5 * G1 + K4, out ulong c3));
        Assert.Equal(5UL, c3);
        Assert.Equal(0x800UL, IommuTestApi.iommu_pgsize(MockDomain.MOCK_IO_PAGE_SIZE, 1UL << 24, 0x800, 0x3000, out ulong c4));
        Assert.Equal(6UL, c4);
    }

    /// <summary>Reference: one leaf at a time, the largest size the alignment and the remaining length allow.</summary>
    private static List<(ulong Iova, ulong Size, ulong Paddr)> GreedyLeaves(ulong iova, ulong paddr, ulong size)
    {
        var result = new List<(ulong, ulong, ulong)>();
        while (size != 0)
        {
            ulong leaf = new[] { G1, M2, K4 }.First(s => s <= size && (iova | paddr) % s == 0);
            result.Add((iova, leaf, paddr));
            iova += leaf; paddr += leaf; size -= leaf;
        }
        return result;
    }

    private static readonly Gen<ulong> AddressGen =
        from g in Gen.Choose(0, 3)
        from m in Gen.OneOf(Gen.Constant(0), Gen.Constant(1), Gen.Constant(511), Gen.Choose(0, 511))
        from k in Gen.OneOf(Gen.Constant(0), Gen.Constant(1), Gen.Constant(511), Gen.Choose(0, 511))
        select (ulong)g * G1 + (ulong)m * M2 + (ulong)k * K4;

    private static readonly Gen<(ulong Iova, ulong Paddr, ulong Size)> RequestGen =
        from iova in AddressGen
        from delta in AddressGen
        from g in Gen.Choose(0, 1)
        from m in Gen.Choose(0, 3)
        from k in Gen.Choose(0, 3)
        let paddr = iova + delta
        // Keep all-4K requests (addresses at different offsets in 2M) small enough to stay fast.
        let bigOk = (iova ^ paddr) % M2 == 0
        let size = (bigOk ? (ulong)g * G1 : 0) + (ulong)m * M2 + (ulong)(k + 1) * K4
        select (iova, paddr, size);

    [Fact]
    public void Map_splits_like_a_greedy_largest_page_walk_and_unmap_takes_it_all_back()
    {
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(200).WithReplay(20240601UL, 7UL).WithQuietOnSuccess(true),
            Prop.ForAll(Arb.From(RequestGen), req =>
            {
                var kernel = new FakeKernel();
                var api = new IommuTestApi(kernel);
                var d = new PageTableDomain(kernel);
                Assert.Equal(0, api.iommu_map(d, req.Iova, req.Paddr, req.Size, RW));
                Assert.Equal(GreedyLeaves(req.Iova, req.Paddr, req.Size), d.Mappings.Select(m => (m.Iova, m.Size, m.Paddr)).ToList());
                Assert.Equal(req.Size, d.MappedBytes);
                Assert.Equal(req.Paddr + req.Size - 1, api.iommu_iova_to_phys(d, req.Iova + req.Size - 1));
                Assert.Equal(req.Size, api.iommu_unmap(d, req.Iova, req.Size));
                Assert.True(d.IsEmpty);
                Assert.Equal(0, kernel.Checks.Count);
            }));
    }

    // ---- unwinding a failed map -----------------------------------------------------------

    [Fact]
    public void A_table_allocation_failure_in_the_third_chunk_unwinds_the_first_two()
    {
        // Chunks: 4K at 1G-4K (needs two tables, hits 1 and 2), 1G at 1G (none), 2M at 2G (hit 3).
        var kernel = IommuTestApi.Failing(FaultSites.IommuMapPageTable, 3);
        var api = new IommuTestApi(kernel);
        var d = new PageTableDomain(kernel);
        ulong start = G1 - K4;
        Assert.Equal(-KernelApi.ENOMEM, api.iommu_map(d, start, start, K4 + G1 + M2, RW));
        Assert.True(d.IsEmpty);
        var events = d.Events;
        Assert.Equal([IommuEventKind.MapPages, IommuEventKind.MapPages, IommuEventKind.MapPages, IommuEventKind.UnmapPages,
            IommuEventKind.UnmapPages, IommuEventKind.Unmap, IommuEventKind.Map], events.Select(e => e.Kind));
        Assert.Equal((2 * G1, -KernelApi.ENOMEM, 0UL), (events[2].Iova, events[2].Error, events[2].Bytes));
        Assert.Equal((start, K4 + G1, K4 + G1), (events[5].Iova, events[5].Size, events[5].Bytes));
        Assert.Equal((-KernelApi.ENOMEM, 0UL), (events[6].Error, events[6].Bytes));
        Assert.Equal(0, kernel.Checks.Count);
    }

    [Fact]
    public void An_overlap_in_the_last_chunk_unwinds_this_call_and_keeps_the_existing_leaf()
    {
        var kernel = new FakeKernel();
        var api = new IommuTestApi(kernel);
        var d = new PageTableDomain(kernel);
        Assert.Equal(0, api.iommu_map(d, 2 * G1, 0x7000_0000_0000, M2, RW));
        ulong start = G1 - K4;
        Assert.Equal(-17, api.iommu_map(d, start, start, K4 + G1 + M2, RW));
        Assert.Equal([new IommuMapping(2 * G1, M2, 0x7000_0000_0000, RW)], d.Mappings);
        var warn = Assert.Single(kernel.Checks.Violations);
        Assert.Equal((CheckKind.Warn, "pagetable_map_pages"), (warn.Kind, warn.Function));
    }

    [Fact]
    public void A_failure_part_way_through_one_driver_call_unwinds_what_that_call_mapped()
    {
        // 1024 4K pages in one map_pages call; the table for the second 2M region fails (hit 3).
        var kernel = IommuTestApi.Failing(FaultSites.IommuMapPageTable, 3);
        var api = new IommuTestApi(kernel);
        var d = new PageTableDomain(kernel);
        Assert.Equal(-KernelApi.ENOMEM, api.iommu_map(d, 0, K4, 2 * M2, RW));
        Assert.True(d.IsEmpty);
        var mapPages = Assert.Single(d.Events, e => e.Kind == IommuEventKind.MapPages);
        Assert.Equal((M2, -KernelApi.ENOMEM), (mapPages.Bytes, mapPages.Error));
        var unmap = Assert.Single(d.Events, e => e.Kind == IommuEventKind.Unmap);
        Assert.Equal((0UL, M2, M2), (unmap.Iova, unmap.Size, unmap.Bytes));
    }

    [Fact]
    public void A_mock_fault_fails_the_map_with_ENOENT_and_an_empty_unwind()
    {
        var kernel = IommuTestApi.Failing(FaultSites.IommuMapMock, 2);
        var api = new IommuTestApi(kernel);
        var d = new MockDomain(kernel);
        ulong iova = MockDomain.MOCK_APERTURE_START;
        Assert.Equal(0, api.iommu_map(d, iova, 0x10000, 0x2000, RW));
        Assert.Equal(-KernelApi.ENOENT, api.iommu_map(d, iova + 0x2000, 0x20000, 0x2000, RW));
        Assert.Equal(0x2000UL, d.MappedBytes);
        var tail = d.Events.TakeLast(3).ToArray();
        Assert.Equal((IommuEventKind.MapPages, -KernelApi.ENOENT, 0UL), (tail[0].Kind, tail[0].Error, tail[0].Bytes));
        Assert.Equal((IommuEventKind.Unmap, 0UL, 0UL), (tail[1].Kind, tail[1].Size, tail[1].Bytes));
        Assert.Equal((IommuEventKind.Map, -KernelApi.ENOENT), (tail[2].Kind, tail[2].Error));
        Assert.Equal(0, kernel.Checks.Count);
    }

    // ---- unmap -----------------------------------------------------------------------------

    [Theory]
    [InlineData(0x800UL, 0x1000UL)]
    [InlineData(0x1000UL, 0x800UL)]
    public void Unmap_of_a_misaligned_request_returns_0_and_removes_nothing(ulong iova, ulong size)
    {
        var kernel = new FakeKernel();
        var api = new IommuTestApi(kernel);
        var d = new PageTableDomain(kernel);
        Assert.Equal(0, api.iommu_map(d, 0, 0, 4 * K4, RW));
        Assert.Equal(0UL, api.iommu_unmap(d, iova, size));
        Assert.Equal(4 * K4, d.MappedBytes);
        Assert.DoesNotContain(d.Events, e => e.Kind == IommuEventKind.UnmapPages);
    }

    [Fact]
    public void Unmap_stops_at_the_first_chunk_that_unmaps_nothing()
    {
        var kernel = new FakeKernel();
        var api = new IommuTestApi(kernel);
        var d = new PageTableDomain(kernel);
        Assert.Equal(0, api.iommu_map(d, 0, 0, 2 * K4, RW));
        Assert.Equal(0, api.iommu_map(d, 4 * K4, 4 * K4, K4, RW));
        Assert.Equal(2 * K4, api.iommu_unmap(d, 0, 5 * K4));
        Assert.Equal([new IommuMapping(4 * K4, K4, 4 * K4, RW)], d.Mappings);
        var chunks = d.Events.Where(e => e.Kind == IommuEventKind.UnmapPages).Select(e => (e.Iova, e.PageCount, e.Bytes));
        Assert.Equal([(0UL, 5UL, 2 * K4), (2 * K4, 3UL, 0UL)], chunks);
    }

    [Fact]
    public void Unmap_of_part_of_a_2M_leaf_removes_and_reports_the_whole_leaf()
    {
        var kernel = new FakeKernel();
        var api = new IommuTestApi(kernel);
        var d = new PageTableDomain(kernel);
        Assert.Equal(0, api.iommu_map(d, M2, 8 * M2, M2, RW));
        Assert.Equal(M2, api.iommu_unmap(d, M2 + K4, K4));
        Assert.True(d.IsEmpty);
        var e = d.Events[^1];
        Assert.Equal((IommuEventKind.Unmap, M2 + K4, K4, M2), (e.Kind, e.Iova, e.Size, e.Bytes));
    }

    [Fact]
    public void Unmap_that_overshoots_through_a_large_leaf_leaves_the_next_leaf_mapped()
    {
        var kernel = new FakeKernel();
        var api = new IommuTestApi(kernel);
        var d = new PageTableDomain(kernel);
        Assert.Equal(0, api.iommu_map(d, M2, M2, M2, RW));
        Assert.Equal(0, api.iommu_map(d, 2 * M2, 2 * M2, K4, RW));
        // Asks for [2M+4K, 4M+4K): the 2M leaf counts as all of it, so the 4K leaf at 4M stays.
        Assert.Equal(M2, api.iommu_unmap(d, M2 + K4, M2));
        Assert.Equal([new IommuMapping(2 * M2, K4, 2 * M2, RW)], d.Mappings);
    }

    [Fact]
    public void Unmap_of_nothing_returns_0()
    {
        var kernel = new FakeKernel();
        var api = new IommuTestApi(kernel);
        var d = new PageTableDomain(kernel);
        Assert.Equal(0UL, api.iommu_unmap(d, G1, G1));
        Assert.Equal(0UL, api.iommu_unmap(d, G1, 0));
        Assert.Equal([IommuEventKind.UnmapPages, IommuEventKind.Unmap, IommuEventKind.Unmap], d.Events.Select(e => e.Kind));
    }

    // ---- iova_to_phys, scheduling, context checks, event log ------------------------------

    [Fact]
    public void Iova_to_phys_forwards_to_the_domain()
    {
        var kernel = new FakeKernel();
        var api = new IommuTestApi(kernel);
        var table = new PageTableDomain(kernel);
        var mock = new MockDomain(kernel);
        ulong iova = MockDomain.MOCK_APERTURE_START;
        Assert.Equal(0, api.iommu_map(table, iova, 0x40000, 0x2000, RW));
        Assert.Equal(0, api.iommu_map(mock, iova, 0x40000, 0x2000, RW));
        Assert.Equal(0x41234UL, api.iommu_iova_to_phys(table, iova + 0x1234));
        Assert.Equal(0x41000UL, api.iommu_iova_to_phys(mock, iova + 0x1000));
        Assert.Equal(0UL, api.iommu_iova_to_phys(table, iova + 0x2000));
        Assert.Equal(0, kernel.Checks.Count);
    }

    [Fact]
    public void Every_core_call_is_a_scheduling_point()
    {
        RecordingExec? exec = null;
        var kernel = new FakeKernel(exec: c => exec = new RecordingExec(c));
        var api = new IommuTestApi(kernel);
        var d = new PageTableDomain(kernel);
        Assert.Equal(0, api.iommu_map(d, 0, 0, K4, RW));
        api.iommu_iova_to_phys(d, 0);
        api.iommu_unmap(d, 0, K4);
        var points = exec!.Points;
        Assert.Equal(["iommu_map", FaultSites.IommuMapPageTable, FaultSites.IommuMapPageTable, "iommu_iova_to_phys", "iommu_unmap"], points);
    }

    [Fact]
    public void Map_inside_an_rcu_read_section_is_reported_as_sleeping_in_atomic_context()
    {
        var kernel = new FakeKernel();
        var api = new IommuTestApi(kernel);
        var d = new PageTableDomain(kernel);
        api.rcu_read_lock();
        Assert.Equal(0, api.iommu_map(d, 0, 0, K4, RW));
        api.rcu_read_unlock();
        var v = Assert.Single(kernel.Checks.Violations);
        Assert.Equal((CheckKind.LockdepOrder, "might_sleep"), (v.Kind, v.Function));
    }

    [Fact]
    public void Using_a_domain_of_another_kernel_is_misuse()
    {
        var kernel = new FakeKernel();
        var api = new IommuTestApi(kernel);
        var d = new PageTableDomain(new FakeKernel());
        Assert.Equal(0, api.iommu_map(d, 0, 0, K4, RW));
        var v = Assert.Single(kernel.Checks.Violations);
        Assert.Equal((CheckKind.FakeMisuse, "iommu_map"), (v.Kind, v.Function));
    }

    [Fact]
    public void The_event_log_records_core_and_driver_calls_in_order()
    {
        var kernel = new FakeKernel();
        var api = new IommuTestApi(kernel);
        var d = new MockDomain(kernel, "mock-A");
        ulong iova = MockDomain.MOCK_APERTURE_START;
        Assert.Equal(0, api.iommu_map(d, iova, 0x8000, 0x1000, KernelApi.IOMMU_READ));
        Assert.Equal(0x1000UL, api.iommu_unmap(d, iova, 0x1000));
        int tid = kernel.Exec.ThreadId;
        Assert.Equal(
        [
            new IommuEvent(1, IommuEventKind.MapPages, iova, 0x1000, 0x8000, KernelApi.IOMMU_READ, 0, 0x1000, 0x800, 2, tid),
            new IommuEvent(2, IommuEventKind.Map, iova, 0x1000, 0x8000, KernelApi.IOMMU_READ, 0, 0x1000, 0, 0, tid),
            new IommuEvent(3, IommuEventKind.UnmapPages, iova, 0x1000, 0, 0, 0, 0x1000, 0x800, 2, tid),
            new IommuEvent(4, IommuEventKind.Unmap, iova, 0x1000, 0, 0, 0, 0x1000, 0, 0, tid),
        ], d.Events);
        Assert.Equal("mock-A", d.ToString());
        Assert.Contains("map iova 1000000 size 1000", d.Events[1].ToString());
    }

    [Fact]
    public void Domain_free_through_the_core_reports_a_non_empty_domain()
    {
        var kernel = new FakeKernel();
        var api = new IommuTestApi(kernel);
        var d = new PageTableDomain(kernel);
        Assert.Equal(0, api.iommu_map(d, 0, 0, K4, RW));
        api.iommu_domain_free(d);
        Assert.True(d.IsFreed);
        var v = Assert.Single(kernel.Checks.Violations);
        Assert.Equal((CheckKind.Warn, "pagetable_domain_free"), (v.Kind, v.Function));
    }
}
