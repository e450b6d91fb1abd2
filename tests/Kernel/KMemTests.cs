// SPDX-License-Identifier: GPL-2.0-only
using System.Runtime.CompilerServices;
using Iommufd.Model.Kernel;

namespace Iommufd.Tests.Kernel;

/// <summary>KMem (bounds, lifetime), Ptr&lt;T&gt; (C pointer semantics) and PagePtr.</summary>
public class KMemTests
{
    private static Ptr<byte> Heap(FakeKernel k, ulong bytes, string site = "test") =>
        k.Allocator.kmalloc(bytes, gfp_t.GFP_KERNEL, site);

    // ---- KMem ------------------------------------------------------------------------------

    [Fact]
    public void Stack_IsAStackBlock_NamedAfterItsOwner_ZeroFilled()
    {
        var m = KMem.Stack(24);
        Assert.Equal(KMemKind.Stack, m.Kind);
        Assert.Equal("stack@" + nameof(Stack_IsAStackBlock_NamedAfterItsOwner_ZeroFilled), m.Site);
        Assert.Equal(24, m.Length);
        Assert.False(m.Freed);
        Assert.All(m.Data, b => Assert.Equal(0, b));
        Assert.Equal("stack@owner", KMem.Stack(1, "owner").Site);
    }

    [Fact]
    public void Access_WithinBounds_Works_AndEachOverrunFaults()
    {
        var p = new Ptr<ulong>(KMem.Stack(4 * sizeof(ulong)), 0);
        for (long i = 0; i < 4; i++)
            p[i] = (ulong)(i + 100);
        for (long i = 0; i < 4; i++)
            Assert.Equal((ulong)(i + 100), p[i]);
        Assert.Throws<KernelMemoryFault>(() => p[4]);
        Assert.Throws<KernelMemoryFault>(() => p[-1]);
        Assert.Throws<KernelMemoryFault>(() => { p[4] = 1; });
        // An access straddling the end faults even though it starts inside the block.
        var straddle = new Ptr<ulong>(p.Mem, 3 * sizeof(ulong) + 4);
        var ex = Assert.Throws<KernelMemoryFault>(() => straddle[0]);
        Assert.Contains("out-of-bounds", ex.Message);
    }

    [Fact]
    public void Access_AfterKfree_FaultsAsUseAfterFree()
    {
        var k = new FakeKernel();
        var p = Heap(k, 16).Cast<uint>();
        p[1] = 7;
        k.Allocator.kfree(p.AsVoid(), "test");
        Assert.True(p.Mem!.Freed);
        var ex = Assert.Throws<KernelMemoryFault>(() => p[1]);
        Assert.Contains("use after free", ex.Message);
        Assert.Throws<KernelMemoryFault>(() => { p[0] = 1; });
        Assert.Throws<KernelMemoryFault>(() => p.AsSpan(1));
    }

    // ---- Ptr<T> ----------------------------------------------------------------------------

    [Fact]
    public void Null_IsTheDefault_AndDereferenceFaults()
    {
        Ptr<ulong> p = default;
        Assert.True(p.IsNull);
        Assert.True(Ptr<ulong>.NULL.IsNull);
        Assert.Equal(Ptr<ulong>.NULL, p);
        Assert.Equal("NULL", p.ToString());
        Assert.Contains("NULL", Assert.Throws<KernelMemoryFault>(() => p[0]).Message);
        Assert.Throws<KernelMemoryFault>(() => p.AsSpan(1));
        Assert.False(new Ptr<ulong>(KMem.Stack(8), 0).IsNull);
    }

    [Fact]
    public void ElementSize_IsSizeofT()
    {
        Assert.Equal(8, Ptr<ulong>.ElementSize);
        Assert.Equal(4, Ptr<uint>.ElementSize);
        Assert.Equal(1, Ptr<byte>.ElementSize);
        Assert.Equal(8, Ptr<PagePtr>.ElementSize);
    }

    [Fact]
    public void Arithmetic_ScalesBySizeofT()
    {
        var m = KMem.Stack(10 * sizeof(ulong));
        var p = new Ptr<ulong>(m, 0);
        for (long i = 0; i < 10; i++)
            p[i] = (ulong)i * 11;

        var q = p + 3L;
        Assert.Same(m, q.Mem);
        Assert.Equal(3 * sizeof(ulong), q.ByteOffset);
        Assert.Equal(33UL, q[0]);
        Assert.Equal(44UL, q[1]);
        Assert.Equal(22UL, q[-1]);
        Assert.Equal(55UL, (p + 5UL)[0]);
        Assert.Equal(11UL, (q - 2L)[0]);

        var r = q;
        r++;
        Assert.Equal(4 * sizeof(ulong), r.ByteOffset);
        Assert.Equal(3 * sizeof(ulong), q.ByteOffset);

        // A ulong that wraps to -1, as C's unsigned pointer arithmetic does.
        Assert.Equal(2 * sizeof(ulong), (q + ulong.MaxValue).ByteOffset);

        var u = new Ptr<uint>(m, 0) + 3L;
        Assert.Equal(3 * sizeof(uint), u.ByteOffset);
    }

    [Fact]
    public void Difference_IsInElements_AndFaultsAcrossBlocks()
    {
        var m = KMem.Stack(64);
        var p = new Ptr<ulong>(m, 0);
        Assert.Equal(5, (p + 5L) - p);
        Assert.Equal(-2, (p + 1L) - (p + 3L));
        Assert.Equal(0, p - p);
        Assert.Equal(3, (new Ptr<uint>(m, 0) + 3L) - new Ptr<uint>(m, 0));

        var other = new Ptr<ulong>(KMem.Stack(64), 0);
        Assert.Contains("different objects", Assert.Throws<KernelMemoryFault>(() => other - p).Message);
        Assert.Throws<KernelMemoryFault>(() => p - Ptr<ulong>.NULL);
    }

    [Fact]
    public void Cast_And_AsVoid_KeepTheByteAddress_ForMixedArraysInOneBlock()
    {
        // As pfn_batch lays out its memory: ulong pfns[n] followed by uint npfns[n] in one block.
        const int n = 3;
        var k = new FakeKernel();
        var block = Heap(k, n * sizeof(ulong) + n * sizeof(uint));
        var pfns = block.Cast<ulong>();
        var npfns = (pfns + (long)n).Cast<uint>();
        Assert.Same(block.Mem, npfns.Mem);
        Assert.Equal(n * sizeof(ulong), npfns.ByteOffset);
        for (int i = 0; i < n; i++)
        {
            pfns[i] = ulong.MaxValue - (ulong)i;
            npfns[i] = (uint)(i + 1);
        }
        // The two arrays do not overlap.
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(ulong.MaxValue - (ulong)i, pfns[i]);
            Assert.Equal((uint)(i + 1), npfns[i]);
        }
        // The last uint is the last 4 bytes of the block; one past it is out of bounds.
        Assert.Throws<KernelMemoryFault>(() => npfns[n]);

        var v = npfns.AsVoid();
        Assert.Equal(npfns.ByteOffset, v.ByteOffset);
        Assert.Same(npfns.Mem, v.Mem);
        Assert.Equal(1, v[0]); // little-endian low byte of npfns[0]
        Assert.Equal(npfns, v.Cast<uint>());
        Assert.Equal(0xFF, pfns.AsVoid()[0]);
    }

    [Fact]
    public void AsSpan_AliasesTheBlock_AndChecksBounds()
    {
        var p = new Ptr<uint>(KMem.Stack(4 * sizeof(uint)), 0) + 1L;
        var s = p.AsSpan(3);
        Assert.Equal(3, s.Length);
        s[0] = 5;
        s[2] = 9;
        Assert.Equal(5u, p[0]);
        Assert.Equal(9u, p[2]);
        p[1] = 6;
        Assert.Equal(6u, p.AsSpan(2)[1]);
        Assert.Throws<KernelMemoryFault>(() => p.AsSpan(4));
        Assert.Throws<KernelMemoryFault>(() => p.AsSpan(-1));
        Assert.Equal(0, p.AsSpan(0).Length);
        Assert.Equal(0, Ptr<uint>.NULL.AsSpan(0).Length);
    }

    [Fact]
    public void Equality_IsSameBlockAndSameByteOffset()
    {
        var m = KMem.Stack(32);
        var a = new Ptr<ulong>(m, 8);
        var b = new Ptr<ulong>(m, 0) + 1L;
        Assert.True(a == b);
        Assert.False(a != b);
        Assert.True(a.Equals((object)b));
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.True(a != new Ptr<ulong>(m, 16));
        // Same offset in a different block (even with equal contents) is a different pointer.
        Assert.True(a != new Ptr<ulong>(KMem.Stack(32), 8));
        Assert.False(a.Equals((object)new Ptr<uint>(m, 8)));
        Assert.False(a == Ptr<ulong>.NULL);
        Assert.True(new Ptr<ulong>(null, 0) == Ptr<ulong>.NULL);
        Assert.Equal(m.Site + "+8", a.ToString());
    }

    // ---- PagePtr ---------------------------------------------------------------------------

    [Fact]
    public void PagePtr_DefaultIsNull_AndPfnOfNullFaults()
    {
        PagePtr p = default;
        Assert.True(p.IsNull);
        Assert.Equal(PagePtr.NULL, p);
        Assert.Equal("NULL", p.ToString());
        Assert.Throws<KernelMemoryFault>(() => p.Pfn);
    }

    [Theory]
    [InlineData(0UL)]
    [InlineData(1UL)]
    [InlineData(0x12345UL)]
    [InlineData(1UL << 52)]
    public void PagePtr_FromPfn_RoundTrips_AndIsNotNull(ulong pfn)
    {
        var p = PagePtr.FromPfn(pfn);
        Assert.False(p.IsNull);
        Assert.Equal(pfn, p.Pfn);
        Assert.Equal(PagePtr.FromPfn(pfn), p);
        Assert.True(p == PagePtr.FromPfn(pfn));
        Assert.True(p != PagePtr.FromPfn(pfn + 1));
        Assert.True(p != PagePtr.NULL);
        Assert.Equal(PagePtr.FromPfn(pfn).GetHashCode(), p.GetHashCode());
    }

    [Fact]
    public void PagePtr_IsEightBytes_AndRoundTripsThroughKernelMemory()
    {
        Assert.Equal(8, Unsafe.SizeOf<PagePtr>());
        var pages = new Ptr<PagePtr>(KMem.Stack(2 * 8), 0);
        Assert.True(pages[0].IsNull); // zeroed memory reads as NULL pointers
        pages[1] = PagePtr.FromPfn(77);
        Assert.Equal(77UL, pages[1].Pfn);
        Assert.Throws<KernelMemoryFault>(() => pages[2]);
    }
}
