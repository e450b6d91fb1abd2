// SPDX-License-Identifier: GPL-2.0-only
using FsCheck;
using FsCheck.Fluent;
using Iommufd.Faults;
using Iommufd.Model.Kernel;

namespace Iommufd.Tests.Kernel;

public class PageTableDomainTests
{
    private const ulong K4 = PageTableDomain.SZ_4K, M2 = PageTableDomain.SZ_2M, G1 = PageTableDomain.SZ_1G;
    private const int RW = KernelApi.IOMMU_READ | KernelApi.IOMMU_WRITE;
    private const int EEXIST = 17;

    private static (FakeKernel Kernel, PageTableDomain Domain) Make(FakeKernel? kernel = null)
    {
        kernel ??= new FakeKernel();
        return (kernel, new PageTableDomain(kernel));
    }

    [Fact]
    public void Has_4K_2M_1G_pages_and_a_48_bit_aperture()
    {
        var (_, d) = Make();
        Assert.Equal((1UL << 12) | (1UL << 21) | (1UL << 30), d.pgsize_bitmap);
        Assert.Equal(new iommu_domain_geometry(0, (1UL << 48) - 1, true), d.geometry);
        Assert.Equal("pagetable", d.Name);
        Assert.Equal("pt1", new PageTableDomain(new FakeKernel(), "pt1").Name);
    }

    [Fact]
    public void Map_pages_installs_one_leaf_per_page_of_the_given_size()
    {
        var (kernel, d) = Make();
        Assert.Equal(0, d.map_pages(4 * G1, 8 * G1, G1, 4, RW, out ulong mapped));
        Assert.Equal(4 * G1, mapped);
        Assert.Equal(4 * G1, d.MappedBytes);
        Assert.Equal(Enumerable.Range(0, 4).Select(i => new IommuMapping((4 + (ulong)i) * G1, G1, (8 + (ulong)i) * G1, RW)), d.Mappings);
        Assert.Equal(0, d.TableCount);
        Assert.Equal(0, kernel.Checks.Count);
    }

    [Fact]
    public void Zero_pages_map_nothing()
    {
        var (_, d) = Make();
        Assert.Equal(0, d.map_pages(0, 0, K4, 0, RW, out ulong mapped));
        Assert.Equal(0UL, mapped);
        Assert.True(d.IsEmpty);
    }

    [Theory]
    [InlineData(0x0UL, 0x200000UL, 0x1000UL, 0x1000UL)]      // 4K inside a 2M leaf
    [InlineData(0x3000UL, 0x1000UL, 0x0UL, 0x200000UL)]      // 2M over a 4K leaf not at its start
    [InlineData(0x0UL, 0x1000UL, 0x0UL, 0x200000UL)]         // 2M over a 4K leaf at its start
    [InlineData(0x40200000UL, 0x200000UL, 0x40000000UL, 0x40000000UL)] // 1G over a 2M leaf
    [InlineData(0x40000000UL, 0x40000000UL, 0x40600000UL, 0x200000UL)] // 2M inside a 1G leaf
    [InlineData(0x5000UL, 0x1000UL, 0x5000UL, 0x1000UL)]     // the same 4K twice
    public void Installing_over_an_existing_leaf_warns_and_fails_with_EEXIST(ulong oldIova, ulong oldSize, ulong newIova, ulong newSize)
    {
        var (kernel, d) = Make();
        Assert.Equal(0, d.map_pages(oldIova, 0x1_0000_0000_0000, oldSize, 1, RW, out _));
        Assert.Equal(-EEXIST, d.map_pages(newIova, 0x2_0000_0000_0000, newSize, 1, RW, out ulong mapped));
        Assert.Equal(0UL, mapped);
        Assert.Equal([new IommuMapping(oldIova, oldSize, 0x1_0000_0000_0000, RW)], d.Mappings);
        var v = Assert.Single(kernel.Checks.Violations);
        Assert.Equal((CheckKind.Warn, "pagetable_map_pages"), (v.Kind, v.Function));
    }

    [Fact]
    public void An_overlap_part_way_leaves_the_earlier_leaves_of_the_call_for_the_core_to_unwind()
    {
        var (kernel, d) = Make();
        Assert.Equal(0, d.map_pages(2 * K4, 0, K4, 1, RW, out _));
        Assert.Equal(-EEXIST, d.map_pages(0, 0x10000, K4, 3, RW, out ulong mapped));
        Assert.Equal(2 * K4, mapped);
        Assert.Equal(3 * K4, d.MappedBytes);
        Assert.Equal(1, kernel.Checks.Count);
    }

    [Fact]
    public void Tables_are_allocated_on_demand_and_each_allocation_is_a_fault_point()
    {
        var (kernel, d) = Make();
        long Hits() => kernel.Faults.Hits.GetValueOrDefault(FaultSites.IommuMapPageTable);
        Assert.Equal(0, d.map_pages(0, 0, K4, 1, RW, out _));
        Assert.Equal((2L, 2), (Hits(), d.TableCount));
        Assert.Equal(0, d.map_pages(K4, 0, K4, 1, RW, out _));
        Assert.Equal(2L, Hits());
        Assert.Equal(0, d.map_pages(M2, 0, K4, 1, RW, out _));
        Assert.Equal(3L, Hits());
        Assert.Equal(0, d.map_pages(4 * M2, 0, M2, 1, RW, out _));
        Assert.Equal(3L, Hits());
        Assert.Equal(0, d.map_pages(G1, 0, M2, 1, RW, out _));
        Assert.Equal(4L, Hits());
        Assert.Equal(0, d.map_pages(2 * G1, 0, G1, 1, RW, out _));
        Assert.Equal((4L, 4), (Hits(), d.TableCount));
    }

    [Fact]
    public void A_failed_table_allocation_returns_ENOMEM_and_a_retry_succeeds()
    {
        var kernel = IommuTestApi.Failing(FaultSites.IommuMapPageTable, 2);
        var (_, d) = Make(kernel);
        Assert.Equal(-KernelApi.ENOMEM, d.map_pages(0, 0, K4, 1, RW, out ulong mapped));
        Assert.Equal(0UL, mapped);
        Assert.True(d.IsEmpty);
        Assert.Equal(1, d.TableCount); // the first table was allocated and stays
        Assert.Equal(0, d.map_pages(0, 0, K4, 1, RW, out mapped));
        Assert.Equal(K4, mapped);
        Assert.Equal(2, kernel.Faults.Injected.Single().SiteHit);
    }

    [Fact]
    public void A_large_leaf_replaces_an_empty_table_below_it()
    {
        var (kernel, d) = Make();
        Assert.Equal(0, d.map_pages(0, 0, K4, 1, RW, out _));
        Assert.Equal(K4, d.unmap_pages(0, K4, 1));
        Assert.Equal(2, d.TableCount);
        Assert.Equal(0, d.map_pages(0, 0, M2, 1, RW, out _));
        Assert.Equal(1, d.TableCount);
        Assert.Equal(M2, d.unmap_pages(0, M2, 1));
        Assert.Equal(0, d.map_pages(0, 0, G1, 1, RW, out _));
        Assert.Equal(0, d.TableCount);
        Assert.Equal(0, kernel.Checks.Count);
    }

    [Fact]
    public void Unmapping_part_of_a_large_leaf_removes_the_whole_leaf_and_returns_its_size()
    {
        var (_, d) = Make();
        Assert.Equal(0, d.map_pages(G1, 0, G1, 1, RW, out _));
        Assert.Equal(G1, d.unmap_pages(G1 + 5 * K4, K4, 1));
        Assert.True(d.IsEmpty);
        Assert.Equal(0, d.map_pages(M2, 0, M2, 1, RW, out _));
        Assert.Equal(M2, d.unmap_pages(M2, K4, 2));
        Assert.True(d.IsEmpty);
    }

    [Fact]
    public void Unmap_walks_leaf_by_leaf_and_stops_at_a_hole()
    {
        var (_, d) = Make();
        Assert.Equal(0UL, d.unmap_pages(0, K4, 4));
        Assert.Equal(0, d.map_pages(0, 0, K4, 2, RW, out _));
        Assert.Equal(0, d.map_pages(3 * K4, 0, K4, 1, RW, out _));
        Assert.Equal(2 * K4, d.unmap_pages(0, K4, 4));
        Assert.Equal([new IommuMapping(3 * K4, K4, 0, RW)], d.Mappings);
    }

    [Fact]
    public void Iova_to_phys_adds_the_offset_inside_the_leaf_and_returns_0_when_unmapped()
    {
        var (kernel, d) = Make();
        Assert.Equal(0, d.map_pages(G1, 3 * G1, G1, 1, RW, out _));
        Assert.Equal(3 * G1 + 0x12345, d.iova_to_phys(G1 + 0x12345));
        Assert.Equal(0UL, d.iova_to_phys(G1 - 1));
        Assert.Equal(0, kernel.Checks.Count);
    }

    [Fact]
    public void Bad_leaf_arguments_are_misuse_and_refused()
    {
        var (kernel, d) = Make();
        Assert.Equal(-KernelApi.EINVAL, d.map_pages(0, 0, 2 * K4, 1, RW, out _));
        Assert.Equal(-KernelApi.EINVAL, d.map_pages(0, K4, M2, 1, RW, out _));
        Assert.Equal(0UL, d.unmap_pages(K4, M2, 1));
        Assert.Equal(3, kernel.Checks.Violations.Count(v => v.Kind == CheckKind.FakeMisuse));
        Assert.True(d.IsEmpty);
    }

    [Fact]
    public void Maps_beyond_the_aperture_fail_with_EINVAL()
    {
        var (kernel, d) = Make();
        ulong top = PageTableDomain.APERTURE_LAST + 1;
        Assert.Equal(-KernelApi.EINVAL, d.map_pages(top, 0, K4, 1, RW, out _));
        Assert.Equal(-KernelApi.EINVAL, d.map_pages(top - K4, 0, K4, 2, RW, out _));
        Assert.Equal(0, d.map_pages(top - K4, 0, K4, 1, RW, out _));
        Assert.Equal(0, kernel.Checks.Count);
        Assert.Equal(K4, d.MappedBytes);
    }

    [Fact]
    public void Freeing_a_non_empty_domain_warns_and_use_after_free_is_misuse()
    {
        var (kernel, d) = Make();
        Assert.Equal(0, d.map_pages(0, 0, K4, 1, RW, out _));
        d.Free();
        d.iova_to_phys(0);
        Assert.Equal([(CheckKind.Warn, "pagetable_domain_free"), (CheckKind.FakeMisuse, "pagetable_iova_to_phys")],
            kernel.Checks.Violations.Select(v => (v.Kind, v.Function)));
    }

    [Fact]
    public void Concurrent_maps_and_unmaps_of_disjoint_ranges_through_the_core_are_consistent()
    {
        var kernel = new FakeKernel();
        var d = new PageTableDomain(kernel);
        Parallel.For(0, 8, i =>
        {
            var api = new IommuTestApi(kernel);
            ulong iova = (ulong)i * 4 * M2 + K4;
            for (int round = 0; round < 20; round++)
            {
                Assert.Equal(0, api.iommu_map(d, iova, iova, 3 * M2, RW));
                Assert.Equal(iova + M2, api.iommu_iova_to_phys(d, iova + M2));
                Assert.Equal(3 * M2, api.iommu_unmap(d, iova, 3 * M2));
            }
            Assert.Equal(0, api.iommu_map(d, iova, iova, 3 * M2, RW));
        });
        Assert.Equal(8 * 3 * M2, d.MappedBytes);
        Assert.Equal(0, kernel.Checks.Count);
        Assert.Equal(8 * (20 * 2 + 1), d.Events.Count(e => e.Kind is IommuEventKind.Map or IommuEventKind.Unmap));
    }

    // ---- differential test of the sparse leaf index against a plain list of leaves ---------

    private sealed record Op(int Kind, ulong Iova, ulong Size, ulong Count);

    private static readonly Gen<Op> OpGen =
        from kind in Gen.Choose(0, 2)
        from size in Gen.Elements(K4, M2, G1)
        from g in Gen.Choose(0, 2)
        from m in Gen.Elements(0, 1, 2, 511)
        from k in Gen.Elements(0, 1, 2, 511)
        from count in Gen.Choose(1, 3)
        select new Op(kind, ((ulong)g * G1 + (ulong)m * M2 + (ulong)k * K4) & ~(size - 1), size, (ulong)count);

    private sealed class ReferenceTable
    {
        public readonly List<IommuMapping> Leaves = [];
        private IommuMapping? At(ulong iova) => Leaves.Cast<IommuMapping?>().FirstOrDefault(l => l!.Value.Iova <= iova && iova <= l.Value.Last);

        public (int Rc, ulong Mapped) Map(ulong iova, ulong paddr, ulong size, ulong count)
        {
            ulong mapped = 0;
            for (ulong i = 0; i < count; i++)
            {
                var leaf = new IommuMapping(iova + i * size, size, paddr + i * size, RW);
                if (Leaves.Any(l => l.Iova <= leaf.Last && leaf.Iova <= l.Last))
                    return (-EEXIST, mapped);
                Leaves.Add(leaf);
                mapped += size;
            }
            return (0, mapped);
        }

        public ulong Unmap(ulong iova, ulong size)
        {
            ulong unmapped = 0;
            while (unmapped < size && At(iova) is { } leaf)
            {
                Leaves.Remove(leaf);
                unmapped += leaf.Size;
                iova = leaf.Iova + leaf.Size;
            }
            return unmapped;
        }

        public ulong Phys(ulong iova) => At(iova) is { } l ? l.Paddr + (iova - l.Iova) : 0;
    }

    [Fact]
    public void The_sparse_leaf_index_behaves_like_a_plain_list_of_leaves()
    {
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(200).WithReplay(77UL, 13UL).WithQuietOnSuccess(true),
            Prop.ForAll(Arb.From(Gen.ListOf(OpGen)), ops =>
            {
                var (kernel, d) = Make();
                var reference = new ReferenceTable();
                int expectedWarns = 0;
                foreach (var op in ops)
                {
                    switch (op.Kind)
                    {
                        case 0:
                            var (rc, mapped) = reference.Map(op.Iova, op.Iova + 8 * G1, op.Size, op.Count);
                            if (rc != 0) expectedWarns++;
                            Assert.Equal(rc, d.map_pages(op.Iova, op.Iova + 8 * G1, op.Size, op.Count, RW, out ulong got));
                            Assert.Equal(mapped, got);
                            break;
                        case 1:
                            Assert.Equal(reference.Unmap(op.Iova, op.Size * op.Count), d.unmap_pages(op.Iova, op.Size, op.Count));
                            break;
                        default:
                            ulong probe = op.Iova + op.Size / 2 + K4 - 8;
                            Assert.Equal(reference.Phys(probe), d.iova_to_phys(probe));
                            break;
                    }
                    Assert.Equal(reference.Leaves.OrderBy(l => l.Iova), d.Mappings);
                    Assert.Equal((ulong)reference.Leaves.Sum(l => (decimal)l.Size), d.MappedBytes);
                }
                Assert.Equal(expectedWarns, kernel.Checks.Count);
            }));
    }
}
