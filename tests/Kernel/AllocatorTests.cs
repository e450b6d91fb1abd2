// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Model.Kernel;

namespace Iommufd.Tests.Kernel;

/// <summary>kmalloc / kzalloc / kfree of the fake allocator.</summary>
public class AllocatorTests
{
    private sealed class Thing;

    private static FakeKernel Kernel(params (string Site, long Hit)[] faults) =>
        new(new FaultInjector(new ExplicitFaults(faults)));

    [Fact]
    public void Kmalloc_ReturnsAZeroedTrackedHeapBlockOfTheSize()
    {
        var k = new FakeKernel();
        var p = k.Allocator.kmalloc(40, gfp_t.GFP_KERNEL, "site_a");
        Assert.False(p.IsNull);
        Assert.Equal(0, p.ByteOffset);
        Assert.Equal(KMemKind.Heap, p.Mem!.Kind);
        Assert.Equal("site_a", p.Mem.Site);
        Assert.Equal(40, p.Mem.Length);
        Assert.All(p.AsSpan(40).ToArray(), b => Assert.Equal(0, b));
        Assert.Throws<KernelMemoryFault>(() => p[40]);

        var live = Assert.Single(k.Allocator.Live);
        Assert.Equal("site_a", live.Site);
        Assert.Equal(40, live.Bytes);
        Assert.Equal("kmalloc", live.What);
        Assert.Equal(1, k.Allocator.LiveCount);
        Assert.Equal(0, k.Checks.Count);
    }

    [Fact]
    public void Kzalloc_ReturnsTheMadeObject_TrackedByIdentity()
    {
        var k = new FakeKernel();
        var a = k.Allocator.kzalloc(gfp_t.GFP_KERNEL, "site_t", () => new Thing());
        var b = k.Allocator.kzalloc(gfp_t.GFP_KERNEL, "site_t", () => new Thing());
        Assert.NotNull(a);
        Assert.NotNull(b);
        Assert.NotSame(a, b);
        Assert.True(k.Allocator.IsLive(a));
        Assert.False(k.Allocator.IsLive(new Thing()));
        Assert.Equal(2, k.Allocator.LiveCount);
        Assert.All(k.Allocator.Live, l => Assert.Equal(nameof(Thing), l.What));
        k.Allocator.kfree(a, "test");
        Assert.False(k.Allocator.IsLive(a));
        Assert.True(k.Allocator.IsLive(b!));
        Assert.Equal(0, k.Checks.Count);
    }

    [Fact]
    public void Live_IsInAllocationOrder_AndShrinksOnFree()
    {
        var k = new FakeKernel();
        var p1 = k.Allocator.kmalloc(8, gfp_t.GFP_KERNEL, "one");
        var t = k.Allocator.kzalloc(gfp_t.GFP_KERNEL, "two", () => new Thing());
        var p3 = k.Allocator.kmalloc(8, gfp_t.GFP_KERNEL, "three");
        Assert.Equal(["one", "two", "three"], k.Allocator.Live.Select(l => l.Site));
        var seqs = k.Allocator.Live.Select(l => l.Sequence).ToArray();
        Assert.True(seqs[0] < seqs[1] && seqs[1] < seqs[2]);
        k.Allocator.kfree(t, "test");
        Assert.Equal(["one", "three"], k.Allocator.Live.Select(l => l.Site));
        k.Allocator.kfree(p1, "test");
        k.Allocator.kfree(p3, "test");
        Assert.Empty(k.Allocator.Live);
        Assert.Equal(0, k.Allocator.LiveCount);
    }

    [Fact]
    public void Sites_CountAttemptsFailuresAndFrees()
    {
        var k = Kernel((FaultSites.Alloc("s"), 2));
        var a = k.Allocator.kmalloc(8, gfp_t.GFP_KERNEL, "s");
        var failed = k.Allocator.kmalloc(8, gfp_t.GFP_KERNEL, "s");
        var c = k.Allocator.kzalloc(gfp_t.GFP_KERNEL, "s", () => new Thing());
        var other = k.Allocator.kmalloc(8, gfp_t.GFP_KERNEL, "t");
        Assert.True(failed.IsNull);
        k.Allocator.kfree(a, "test");
        k.Allocator.kfree(c, "test");

        var s = k.Allocator.Sites["s"];
        Assert.Equal(3, s.Attempts);
        Assert.Equal(1, s.Failures);
        Assert.Equal(2, s.Frees);
        var t = k.Allocator.Sites["t"];
        Assert.Equal(1, t.Attempts);
        Assert.Equal(0, t.Failures);
        Assert.Equal(0, t.Frees);
        Assert.Equal(2, k.Allocator.Sites.Count);
        Assert.Equal(1, k.Allocator.LiveCount);
        Assert.False(other.IsNull);
    }

    [Fact]
    public void EveryAllocation_ConsultsTheInjector_AtAllocSite()
    {
        var k = Kernel((FaultSites.Alloc("blk"), 2), (FaultSites.Alloc("obj"), 1));
        Assert.False(k.Allocator.kmalloc(8, gfp_t.GFP_KERNEL, "blk").IsNull);
        Assert.True(k.Allocator.kmalloc(8, gfp_t.GFP_KERNEL, "blk").IsNull);
        Assert.False(k.Allocator.kmalloc(8, gfp_t.GFP_KERNEL, "blk").IsNull);
        bool made = false;
        Assert.Null(k.Allocator.kzalloc(gfp_t.GFP_KERNEL, "obj", () => { made = true; return new Thing(); }));
        Assert.False(made); // a failed kzalloc constructs nothing
        Assert.NotNull(k.Allocator.kzalloc(gfp_t.GFP_KERNEL, "obj", () => new Thing()));

        Assert.Equal(3, k.Faults.Hits[FaultSites.Alloc("blk")]);
        Assert.Equal(2, k.Faults.Hits[FaultSites.Alloc("obj")]);
        Assert.Equal([(FaultSites.Alloc("blk"), 2L), (FaultSites.Alloc("obj"), 1L)],
            k.Faults.Injected.Select(f => (f.Site, f.SiteHit)));
        Assert.Equal(3, k.Allocator.LiveCount);
        // An injected failure of a small allocation is not a WARN.
        Assert.Equal(0, k.Checks.Count);
    }

    [Fact]
    public void KfreeNull_IsANoOp()
    {
        var k = new FakeKernel();
        var p = k.Allocator.kmalloc(8, gfp_t.GFP_KERNEL, "s");
        k.Allocator.kfree(Ptr<byte>.NULL, "test");
        k.Allocator.kfree((object?)null, "test");
        Assert.Equal(0, k.Checks.Count);
        Assert.Equal(1, k.Allocator.LiveCount);
        Assert.Equal(0, k.Allocator.Sites["s"].Frees);
        Assert.False(p.Mem!.Freed);
    }

    [Fact]
    public void DoubleFree_OfABlock_IsReported_AndChangesNothing()
    {
        var k = new FakeKernel();
        var p = k.Allocator.kmalloc(8, gfp_t.GFP_KERNEL, "s");
        var keep = k.Allocator.kmalloc(8, gfp_t.GFP_KERNEL, "s");
        k.Allocator.kfree(p, "first");
        Assert.Equal(0, k.Checks.Count);
        k.Allocator.kfree(p, "second");
        var v = Assert.Single(k.Checks.Violations);
        Assert.Equal(CheckKind.FakeMisuse, v.Kind);
        Assert.Equal("second", v.Function);
        Assert.Contains("double kfree", v.Message);
        Assert.Equal(1, k.Allocator.Sites["s"].Frees);
        Assert.Equal(1, k.Allocator.LiveCount);
        Assert.False(keep.Mem!.Freed);
    }

    [Fact]
    public void DoubleFree_OfAnObject_AndFreeOfAnUnknownObject_AreReported_AndChangeNothing()
    {
        var k = new FakeKernel();
        var t = k.Allocator.kzalloc(gfp_t.GFP_KERNEL, "s", () => new Thing())!;
        var keep = k.Allocator.kzalloc(gfp_t.GFP_KERNEL, "s", () => new Thing())!;
        k.Allocator.kfree(t, "first");
        k.Allocator.kfree(t, "second");
        k.Allocator.kfree(new Thing(), "stranger");
        Assert.Equal([(CheckKind.FakeMisuse, "second"), (CheckKind.FakeMisuse, "stranger")],
            k.Checks.Violations.Select(v => (v.Kind, v.Function)));
        Assert.All(k.Checks.Violations, v => Assert.Contains(nameof(Thing), v.Message));
        Assert.Equal(1, k.Allocator.Sites["s"].Frees);
        Assert.True(k.Allocator.IsLive(keep));
        Assert.Equal(1, k.Allocator.LiveCount);
    }

    [Fact]
    public void KfreeOfStackMemory_IsReported_AndChangesNothing()
    {
        var k = new FakeKernel();
        var stack = new Ptr<byte>(KMem.Stack(16), 0);
        k.Allocator.kfree(stack, "caller");
        var v = Assert.Single(k.Checks.Violations);
        Assert.Equal(CheckKind.FakeMisuse, v.Kind);
        Assert.Equal("caller", v.Function);
        Assert.Contains("non-heap", v.Message);
        Assert.False(stack.Mem!.Freed);
        stack[0] = 1; // still usable
        Assert.Empty(k.Allocator.Sites);
    }

    [Fact]
    public void KfreeOfAnInteriorPointer_IsReported_AndChangesNothing()
    {
        var k = new FakeKernel();
        var p = k.Allocator.kmalloc(16, gfp_t.GFP_KERNEL, "s");
        k.Allocator.kfree(p + 1L, "caller");
        var v = Assert.Single(k.Checks.Violations);
        Assert.Equal(CheckKind.FakeMisuse, v.Kind);
        Assert.Contains("interior", v.Message);
        Assert.False(p.Mem!.Freed);
        Assert.Equal(1, k.Allocator.LiveCount);
        Assert.Equal(0, k.Allocator.Sites["s"].Frees);
        // The block can still be freed properly.
        k.Allocator.kfree(p, "caller");
        Assert.Equal(1, k.Checks.Count);
        Assert.Equal(0, k.Allocator.LiveCount);
    }

    [Fact]
    public void KmallocZero_ReturnsZeroSizePtr_Untracked_NotAFaultSiteHit_IgnoredByKfree()
    {
        var k = Kernel((FaultSites.Alloc("z"), 1));
        var z = k.Allocator.kmalloc(0, gfp_t.GFP_KERNEL, "z");
        Assert.False(z.IsNull);
        Assert.Equal(k.Allocator.ZERO_SIZE_PTR, z);
        Assert.Equal(KMemKind.ZeroSize, z.Mem!.Kind);
        Assert.Throws<KernelMemoryFault>(() => z[0]); // it holds no bytes
        Assert.Equal(0, k.Allocator.LiveCount);
        Assert.False(k.Faults.Hits.ContainsKey(FaultSites.Alloc("z")));
        Assert.False(k.Allocator.Sites.ContainsKey("z"));
        k.Allocator.kfree(z, "test");
        k.Allocator.kfree(z, "test");
        Assert.Equal(0, k.Checks.Count);
        // The planned failure is still pending for the first real allocation.
        Assert.True(k.Allocator.kmalloc(1, gfp_t.GFP_KERNEL, "z").IsNull);
    }

    [Fact]
    public void AboveKmallocMaxSize_Fails_AndWarnsUnlessNowarn()
    {
        var k = new FakeKernel();
        ulong max = (ulong)Allocator.KMALLOC_MAX_SIZE;
        var atMax = k.Allocator.kmalloc(max, gfp_t.GFP_KERNEL, "big");
        Assert.False(atMax.IsNull);
        Assert.Equal(0, k.Checks.Count);

        Assert.True(k.Allocator.kmalloc(max + 1, gfp_t.GFP_KERNEL | gfp_t.__GFP_NOWARN, "big").IsNull);
        Assert.Equal(0, k.Checks.Count);

        Assert.True(k.Allocator.kmalloc(max + 1, gfp_t.GFP_KERNEL, "big").IsNull);
        Assert.True(k.Allocator.kmalloc(ulong.MaxValue, gfp_t.GFP_KERNEL, "big").IsNull);
        Assert.Equal(2, k.Checks.Count);
        Assert.All(k.Checks.Violations, v =>
        {
            Assert.Equal(CheckKind.Warn, v.Kind);
            Assert.Equal("kmalloc", v.Function);
            Assert.Contains("big", v.Message);
        });
        var s = k.Allocator.Sites["big"];
        Assert.Equal(4, s.Attempts);
        Assert.Equal(3, s.Failures);
        // Oversized requests are still hits of the fault site.
        Assert.Equal(4, k.Faults.Hits[FaultSites.Alloc("big")]);
        Assert.Equal(1, k.Allocator.LiveCount);
    }

    [Fact]
    public void FreedBlocks_FaultOnAccess_LiveOnesDoNot()
    {
        var k = new FakeKernel();
        var a = k.Allocator.kmalloc(8, gfp_t.GFP_KERNEL, "s").Cast<ulong>();
        var b = k.Allocator.kmalloc(8, gfp_t.GFP_KERNEL, "s").Cast<ulong>();
        a[0] = 1;
        b[0] = 2;
        k.Allocator.kfree(a.AsVoid(), "test");
        Assert.Throws<KernelMemoryFault>(() => a[0]);
        Assert.Throws<KernelMemoryFault>(() => { a[0] = 3; });
        Assert.Equal(2UL, b[0]);
    }
}
