// SPDX-License-Identifier: GPL-2.0-only
using FsCheck;
using FsCheck.Fluent;
using Iommufd.Faults;
using Iommufd.Harness.Oracle;
using Iommufd.Model.Kernel;
using Iommufd.Tests.Kernel;
using Range = Iommufd.Harness.Oracle.Range;

namespace Iommufd.Tests.Harness;

/// <summary>The oracle's own building blocks: the domain ledger's pairing rules and reverse index,
/// the range list, and the shadow memory.</summary>
public class OracleModelTests
{
    private const int RW = KernelApi.IOMMU_READ | KernelApi.IOMMU_WRITE;

    private static (IommuTestApi Api, PageTableDomain Domain, DomainLedger Ledger) NewDomain()
    {
        var k = new FakeKernel(new FaultInjector(new NoFaults()));
        var d = new PageTableDomain(k);
        return (new IommuTestApi(k), d, new DomainLedger(d));
    }

    [Fact]
    public void Ledger_accepts_unmaps_of_whole_earlier_maps_and_tracks_frames()
    {
        var (api, d, ledger) = NewDomain();
        api.iommu_map(d, 0x10000, 0x500000, 0x2000, RW);
        api.iommu_map(d, 0x12000, 0x700000, 0x1000, RW);
        Assert.Empty(ledger.Consume());
        Assert.Equal(1, ledger.References(0x501));
        Assert.Equal(1, ledger.References(0x700));
        Assert.Equal(0x11000UL, ledger.IovaOf(0x501));
        Assert.Equal(0x3000UL, ledger.LiveBytes);
        api.iommu_unmap(d, 0x10000, 0x3000);
        Assert.Empty(ledger.Consume());
        Assert.Equal(0, ledger.References(0x501));
        Assert.Equal(0UL, ledger.LiveBytes);
    }

    [Fact]
    public void Ledger_reports_an_unmap_that_splits_a_map()
    {
        var (api, d, ledger) = NewDomain();
        api.iommu_map(d, 0x10000, 0x500000, 0x3000, RW);
        api.iommu_unmap(d, 0x11000, 0x1000);
        var problems = ledger.Consume();
        Assert.Single(problems);
        Assert.Contains("starts inside the map at 10000", problems[0]);
    }

    [Fact]
    public void Ledger_reports_an_unmap_ending_inside_a_map_or_of_nothing()
    {
        var (api, d, ledger) = NewDomain();
        api.iommu_map(d, 0x10000, 0x500000, 0x3000, RW);
        api.iommu_unmap(d, 0x10000, 0x1000);
        api.iommu_unmap(d, 0x40000, 0x1000);
        var problems = ledger.Consume();
        Assert.Equal(2, problems.Count);
        Assert.Contains("ends inside the map", problems[0]);
        Assert.Contains("nothing mapped there", problems[1]);
    }

    [Fact]
    public void Ledger_ignores_the_rollback_of_a_failed_map()
    {
        var k = new FakeKernel(new FaultInjector(new ExplicitFaults([(FaultSites.IommuMapPageTable, 2)])));
        var api = new IommuTestApi(k);
        var d = new PageTableDomain(k);
        var ledger = new DomainLedger(d);
        // Crosses a 2M boundary: the second table allocation fails and the core takes back the first part.
        Assert.NotEqual(0, api.iommu_map(d, 0x1ff000, 0x500000, 0x2000, RW));
        Assert.Empty(ledger.Consume());
        Assert.Equal(0UL, ledger.LiveBytes);
    }

    [Fact]
    public void RangeList_agrees_with_a_set_of_points()
    {
        var pairGen = Gen.Choose(0, 60).SelectMany(a => Gen.Choose(0, 60).Select(b => ((ulong)a, (ulong)b)));
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(200).WithReplay(7UL, 11UL), Prop.ForAll(
            Arb.From(Gen.ListOf(pairGen)),
            pairs =>
            {
                var map = new CoverageMap();
                var set = new HashSet<ulong>();
                foreach (var (a, b) in pairs)
                {
                    var r = new Range(Math.Min(a, b), Math.Max(a, b));
                    map.Add(r, 1);
                    for (ulong x = r.First; x <= r.Last; x++) set.Add(x);
                }
                var list = RangeList.From(map);
                return list.Count == (ulong)set.Count
                       && Enumerable.Range(0, 64).All(x => list.Contains((ulong)x) == set.Contains((ulong)x))
                       && list.Points().SequenceEqual(set.Order());
            }));
    }

    [Fact]
    public void Shadow_starts_from_the_initial_pattern_and_follows_writes_and_migration()
    {
        var shadow = new ShadowMemory();
        Assert.Equal(PhysMem.InitialByte(0x1234, 77), shadow.Get(0x1234, 77));
        shadow.Set(0x1234, 77, 0xab);
        shadow.Write(0x1234, 100, [1, 2, 3]);
        shadow.Migrate(0x1234, 0x9999);
        Assert.Equal(0xab, shadow.Get(0x9999, 77));
        var span = new byte[3];
        shadow.Read(0x9999, 100, span);
        Assert.Equal([1, 2, 3], span);
        Assert.Equal(PhysMem.InitialByte(0x1234, 0), shadow.Get(0x9999, 0));
    }

    [Fact]
    public void Shadow_finds_the_first_byte_where_memory_differs()
    {
        var k = new FakeKernel(new FaultInjector(new NoFaults()));
        ulong pfn = k.Phys.AllocFrame();
        var shadow = new ShadowMemory();
        Assert.Equal(-1, shadow.FirstDifference(k.Phys, pfn, out _, out _));
        k.Phys.Write(pfn, 10, [0x5a]);
        shadow.Set(pfn, 10, 0x5a);
        Assert.Equal(-1, shadow.FirstDifference(k.Phys, pfn, out _, out _));
        k.Phys.Write(pfn, 20, [(byte)~PhysMem.InitialByte(pfn, 20)]);
        Assert.Equal(20, shadow.FirstDifference(k.Phys, pfn, out byte e, out byte a));
        Assert.Equal(PhysMem.InitialByte(pfn, 20), e);
        Assert.Equal((byte)~e, a);
        shadow.Resync(k.Phys, pfn);
        Assert.Equal(-1, shadow.FirstDifference(k.Phys, pfn, out _, out _));
    }
}
