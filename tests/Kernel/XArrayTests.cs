// SPDX-License-Identifier: GPL-2.0-only
using FsCheck;
using FsCheck.Fluent;
using Iommufd.Faults;
using Iommufd.Model.Kernel;

namespace Iommufd.Tests.Kernel;

/// <summary>Exposes the protected xarray services of <see cref="KernelApi"/> to the tests, plus
/// the xarray usage patterns of pages.c written against them.</summary>
internal sealed class XaApi(FakeKernel kernel) : KernelApi(kernel)
{
    public new void xa_init_flags(xarray xa, uint flags) => base.xa_init_flags(xa, flags);
    public new bool xa_empty(xarray xa) => base.xa_empty(xa);
    public new object? xa_load(xarray xa, ulong index) => base.xa_load(xa, index);
    public new object? xa_find(xarray xa, ref ulong indexp, ulong max, xa_mark_t filter) => base.xa_find(xa, ref indexp, max, filter);
    public new object? xa_find_after(xarray xa, ref ulong indexp, ulong max, xa_mark_t filter) => base.xa_find_after(xa, ref indexp, max, filter);
    public new object? xa_store(xarray xa, ulong index, object? entry, gfp_t gfp) => base.xa_store(xa, index, entry, gfp);
    public new object? xa_erase(xarray xa, ulong index) => base.xa_erase(xa, index);
    public new void xa_destroy(xarray xa) => base.xa_destroy(xa);
    public static new bool xa_is_err(object? e) => KernelApi.xa_is_err(e);
    public static new int xa_err(object? e) => KernelApi.xa_err(e);
    public static new object xa_mk_value(ulong v) => KernelApi.xa_mk_value(v);
    public static new bool xa_is_value(object? e) => KernelApi.xa_is_value(e);
    public static new ulong xa_to_value(object? e) => KernelApi.xa_to_value(e);
    public static new xa_state XA_STATE(xarray xa, ulong index) => KernelApi.XA_STATE(xa, index);
    public static new void xas_set(xa_state xas, ulong index) => KernelApi.xas_set(xas, index);
    public new void xas_lock(xa_state xas) => base.xas_lock(xas);
    public new void xas_unlock(xa_state xas) => base.xas_unlock(xas);
    public new object? xas_load(xa_state xas) => base.xas_load(xas);
    public new object? xas_next(xa_state xas) => base.xas_next(xas);
    public static new bool xas_retry(xa_state xas, object? e) => KernelApi.xas_retry(xas, e);
    public new object? xas_store(xa_state xas, object? e) => base.xas_store(xas, e);
    public static new int xas_error(xa_state xas) => KernelApi.xas_error(xas);
    public static new void xas_set_err(xa_state xas, int err) => KernelApi.xas_set_err(xas, err);
    public new bool xas_nomem(xa_state xas, gfp_t gfp) => base.xas_nomem(xas, gfp);
    public new void xas_destroy(xa_state xas) => base.xas_destroy(xas);
    public new object? xas_find(xa_state xas, ulong max) => base.xas_find(xas, max);
    public new object? xas_next_entry(xa_state xas, ulong max) => base.xas_next_entry(xas, max);
    public new void rcu_read_lock() => base.rcu_read_lock();
    public new void rcu_read_unlock() => base.rcu_read_unlock();

    /// <summary>Stores through a cursor under the lock, without any retry.</summary>
    public object? StoreOnce(xarray xa, ulong index, object? entry, out int error)
    {
        var xas = XA_STATE(xa, index);
        xas_lock(xas);
        var old = xas_store(xas, entry);
        xas_unlock(xas);
        error = xas_error(xas);
        return old;
    }

    /// <summary>pages.c's pages_to_xarray loop: store a run of PFNs, retrying node allocation
    /// with xas_nomem; the optional forced failure stands for its iommufd_should_fail() point.</summary>
    public int PagesToXarray(xarray xa, ulong start, ulong[] pfns, bool failHalfway = false)
    {
        int i = 0, end = pfns.Length, half = end / 2;
        var xas = XA_STATE(xa, start);
        do
        {
            xas_lock(xas);
            while (i != end)
            {
                if (i == half && failHalfway)
                {
                    xas_set_err(xas, -EINVAL);
                    xas_unlock(xas);
                    xas_nomem(xas, GFP_KERNEL);
                    goto err_clear;
                }
                var old = xas_store(xas, xa_mk_value(pfns[i]));
                if (xas_error(xas) != 0)
                    break;
                WARN_ON(old is not null);
                i++;
                xas_next(xas);
            }
            xas_unlock(xas);
        } while (xas_nomem(xas, GFP_KERNEL));
    err_clear:
        if (xas_error(xas) != 0)
        {
            if (xas.xa_index != start)
                ClearXarray(xa, start, xas.xa_index - 1);
            return xas_error(xas);
        }
        return 0;
    }

    /// <summary>pages.c's clear_xarray: xas_for_each over the range, erasing each entry.</summary>
    public void ClearXarray(xarray xa, ulong start, ulong last)
    {
        var xas = XA_STATE(xa, start);
        xas_lock(xas);
        for (var e = xas_find(xas, last); e is not null; e = xas_next_entry(xas, last))
            xas_store(xas, null);
        xas_unlock(xas);
    }

    /// <summary>pages.c's batch_from_xarray reading pattern: xas_next under RCU.</summary>
    public List<ulong> ReadRun(xarray xa, ulong start, ulong last)
    {
        var xas = XA_STATE(xa, start);
        var values = new List<ulong>();
        rcu_read_lock();
        for (ulong i = start; ; i++)
        {
            var e = xas_next(xas);
            if (xas_retry(xas, e))
                continue;
            WARN_ON(!xa_is_value(e));
            values.Add(xa_to_value(e));
            if (i == last)
                break;
        }
        rcu_read_unlock();
        return values;
    }

    /// <summary>pages.c's batch_from_xarray_clear pattern: xas_next and erase under the lock.</summary>
    public List<ulong> ReadAndClearRun(xarray xa, ulong start, ulong last)
    {
        var xas = XA_STATE(xa, start);
        var values = new List<ulong>();
        xas_lock(xas);
        for (ulong i = start; ; i++)
        {
            var e = xas_next(xas);
            WARN_ON(!xa_is_value(e));
            values.Add(xa_to_value(e));
            xas_store(xas, null);
            if (i == last)
                break;
        }
        xas_unlock(xas);
        return values;
    }

    /// <summary>xa_for_each(xa, index, entry) with an optional early exit.</summary>
    public List<ulong> ForEach(xarray xa, ref ulong index, Func<ulong, bool>? stop = null)
    {
        var seen = new List<ulong>();
        index = 0;
        for (var e = xa_find(xa, ref index, ULONG_MAX, XA_PRESENT); e is not null;
             e = xa_find_after(xa, ref index, ULONG_MAX, XA_PRESENT))
        {
            seen.Add(index);
            if (stop is not null && stop(index))
                break;
        }
        return seen;
    }
}

public class XArrayTests
{
    private const ulong ULONG_MAX = ulong.MaxValue;
    private const int ENOMEM = KernelApi.ENOMEM;

    private static (FakeKernel Kernel, XaApi Api, xarray Xa) Make(params (string Site, long Hit)[] faults)
    {
        var k = new FakeKernel(new FaultInjector(new ExplicitFaults(faults)));
        var api = new XaApi(k);
        var xa = new xarray("test");
        api.xa_init_flags(xa, KernelApi.XA_FLAGS_ACCOUNT);
        return (k, api, xa);
    }

    private static long Attempts(FakeKernel k, string site) =>
        k.Allocator.Sites.TryGetValue(site, out var c) ? c.Attempts : 0;

    private static void AssertClean(FakeKernel k, xarray xa)
    {
        Assert.Empty(k.Checks.Violations);
        Assert.Equal(xa.NodeCount, k.Allocator.LiveCount);
        Assert.Equal(xa.NodesAllocated - xa.NodesFreed, xa.NodeCount);
    }

    // ---- entries -------------------------------------------------------------------------

    [Fact]
    public void ValueEntriesRoundTripAndAreRecognised()
    {
        var v = XaApi.xa_mk_value(0x1234);
        Assert.True(XaApi.xa_is_value(v));
        Assert.Equal(0x1234UL, XaApi.xa_to_value(v));
        Assert.Equal(v, XaApi.xa_mk_value(0x1234));
        Assert.False(XaApi.xa_is_value(null));
        Assert.False(XaApi.xa_is_value(new object()));
        Assert.Equal(0UL, XaApi.xa_to_value(null));
        Assert.Throws<InvalidOperationException>(() => XaApi.xa_to_value(new object()));
        Assert.Equal((ulong)long.MaxValue, XaApi.xa_to_value(XaApi.xa_mk_value(long.MaxValue)));
    }

    [Fact]
    public void ValueAboveLongMaxLosesTheTopBitAndWarnsWhenStored()
    {
        var (k, api, xa) = Make();
        var v = XaApi.xa_mk_value((1UL << 63) | 5);
        Assert.Equal(5UL, XaApi.xa_to_value(v));
        api.StoreOnce(xa, 3, v, out _);
        var w = Assert.Single(k.Checks.Violations);
        Assert.Equal(CheckKind.Warn, w.Kind);
        Assert.Equal("xa_mk_value", w.Function);
    }

    [Fact]
    public void ErrorEntriesAreRecognised()
    {
        var e = new XaError(-ENOMEM);
        Assert.True(XaApi.xa_is_err(e));
        Assert.Equal(-ENOMEM, XaApi.xa_err(e));
        Assert.False(XaApi.xa_is_err(XaApi.xa_mk_value(1)));
        Assert.Equal(0, XaApi.xa_err(XaApi.xa_mk_value(1)));
        Assert.Equal(0, XaApi.xa_err(null));
    }

    [Fact]
    public void RetryIsFalseForEverythingTheFakeReturns()
    {
        var (_, api, xa) = Make();
        api.xa_store(xa, 0, XaApi.xa_mk_value(7), KernelApi.GFP_KERNEL);
        var xas = XaApi.XA_STATE(xa, 0);
        api.rcu_read_lock();
        var e = api.xas_next(xas);
        var none = api.xas_next(xas);
        api.rcu_read_unlock();
        Assert.False(XaApi.xas_retry(xas, e));
        Assert.False(XaApi.xas_retry(xas, none));
    }

    [Fact]
    public void StoringAnErrorEntryIsRefused()
    {
        var (k, api, xa) = Make();
        var r = api.xa_store(xa, 1, new XaError(-ENOMEM), KernelApi.GFP_KERNEL);
        Assert.Equal(-KernelApi.EINVAL, XaApi.xa_err(r));
        Assert.Equal(CheckKind.Warn, Assert.Single(k.Checks.Violations).Kind);
        k.Checks.Clear();
        api.StoreOnce(xa, 1, new XaError(-ENOMEM), out _);
        Assert.Equal(CheckKind.FakeMisuse, Assert.Single(k.Checks.Violations).Kind);
        Assert.True(api.xa_empty(xa));
    }

    // ---- init, lock ----------------------------------------------------------------------

    [Fact]
    public void InitRecordsFlagsAndLockClass()
    {
        var (k, api, xa) = Make();
        Assert.Equal(KernelApi.XA_FLAGS_ACCOUNT, xa.xa_flags);
        Assert.Equal("test.xa_lock", xa.xa_lock.LockClass);
        api.xa_init_flags(xa, 0);
        Assert.Equal(0u, xa.xa_flags);
        Assert.True(api.xa_empty(xa));
        Assert.Empty(k.Checks.Violations);
    }

    [Fact]
    public void ReinitialisingANonEmptyArrayIsReportedAndLeaksItsNodes()
    {
        var (k, api, xa) = Make();
        api.xa_store(xa, 5, XaApi.xa_mk_value(1), KernelApi.GFP_KERNEL);
        api.xa_init_flags(xa, 0);
        Assert.Equal(CheckKind.FakeMisuse, Assert.Single(k.Checks.Violations).Kind);
        Assert.True(api.xa_empty(xa));
        Assert.Equal(1, k.Allocator.LiveCount);
    }

    [Fact]
    public void XasLockTakesTheXaLockThroughTheExecutionContext()
    {
        var (k, api, xa) = Make();
        var xas = XaApi.XA_STATE(xa, 0);
        Assert.False(k.Exec.HeldByCurrent(xa.xa_lock));
        api.xas_lock(xas);
        Assert.True(k.Exec.HeldByCurrent(xa.xa_lock, LockMode.Exclusive));
        api.xas_unlock(xas);
        Assert.False(k.Exec.HeldByCurrent(xa.xa_lock));
        Assert.Empty(k.Checks.Violations);
    }

    [Fact]
    public void AnArrayServesOnlyOneKernel()
    {
        var (_, api, xa) = Make();
        api.xa_store(xa, 0, XaApi.xa_mk_value(1), KernelApi.GFP_KERNEL);
        var other = new XaApi(new FakeKernel());
        Assert.Throws<InvalidOperationException>(() => other.xa_load(xa, 0));
    }

    // ---- whole-array helpers -------------------------------------------------------------

    [Fact]
    public void StoreLoadEraseReturnOldEntries()
    {
        var (k, api, xa) = Make();
        Assert.True(api.xa_empty(xa));
        Assert.Null(api.xa_store(xa, 10, XaApi.xa_mk_value(1), KernelApi.GFP_KERNEL));
        Assert.False(api.xa_empty(xa));
        Assert.Equal(XaApi.xa_mk_value(1), api.xa_store(xa, 10, XaApi.xa_mk_value(2), KernelApi.GFP_KERNEL));
        Assert.Equal(XaApi.xa_mk_value(2), api.xa_load(xa, 10));
        Assert.Null(api.xa_load(xa, 11));
        Assert.Null(api.xa_erase(xa, 11));
        Assert.Equal(XaApi.xa_mk_value(2), api.xa_erase(xa, 10));
        Assert.Null(api.xa_load(xa, 10));
        Assert.True(api.xa_empty(xa));
        Assert.Equal(2, xa.Stores);
        Assert.Equal(1, xa.Erases);
        Assert.Equal(0, xa.Count);
        AssertClean(k, xa);
        Assert.Equal(0, k.Allocator.LiveCount);
    }

    [Fact]
    public void StoringNullErases()
    {
        var (k, api, xa) = Make();
        api.xa_store(xa, 4, XaApi.xa_mk_value(1), KernelApi.GFP_KERNEL);
        Assert.Equal(XaApi.xa_mk_value(1), api.xa_store(xa, 4, null, KernelApi.GFP_KERNEL));
        Assert.True(api.xa_empty(xa));
        AssertClean(k, xa);
    }

    [Fact]
    public void EntriesAreEnumeratedInIndexOrder()
    {
        var (_, api, xa) = Make();
        ulong[] idx = [ULONG_MAX, 0, 65, 64, 63, 1UL << 40, 5];
        foreach (var i in idx)
            api.xa_store(xa, i, XaApi.xa_mk_value(i & 0xffff), KernelApi.GFP_KERNEL);
        Assert.Equal(idx.Order().ToArray(), xa.Entries.Select(e => e.Index).ToArray());
        Assert.All(xa.Entries, e => Assert.Equal(e.Index & 0xffff, XaApi.xa_to_value(e.Entry)));
        Assert.Equal(idx.Length, xa.Count);
        // Chunks: 0 (0,5,63), 1 (64,65), 2^34, ULONG_MAX >> 6.
        Assert.Equal(4, xa.NodeCount);
    }

    [Fact]
    public void XaStoreRetriesWithANomemNodeWhenTheAtomicAllocationFails()
    {
        var (k, api, xa) = Make((FaultSites.XaNodeAllocAtomic, 1));
        Assert.Null(api.xa_store(xa, 100, XaApi.xa_mk_value(9), KernelApi.GFP_KERNEL));
        Assert.Equal(XaApi.xa_mk_value(9), api.xa_load(xa, 100));
        Assert.Equal(1, Attempts(k, xarray.AtomicNodeSite));
        Assert.Equal(1, Attempts(k, xarray.NomemNodeSite));
        AssertClean(k, xa);
    }

    [Fact]
    public void XaStoreReturnsAnErrorEntryWhenBothAllocationsFail()
    {
        var (k, api, xa) = Make((FaultSites.XaNodeAllocAtomic, 1), (FaultSites.XasNomem, 1));
        var r = api.xa_store(xa, 100, XaApi.xa_mk_value(9), KernelApi.GFP_KERNEL);
        Assert.True(XaApi.xa_is_err(r));
        Assert.Equal(-ENOMEM, XaApi.xa_err(r));
        Assert.True(api.xa_empty(xa));
        Assert.False(k.Exec.HeldByCurrent(xa.xa_lock));
        AssertClean(k, xa);
        Assert.Equal(0, k.Allocator.LiveCount);
    }

    [Fact]
    public void XaStoreWithANonBlockingGfpAllocatesUnderTheLockWithoutReports()
    {
        var (k, api, xa) = Make((FaultSites.XaNodeAllocAtomic, 1));
        Assert.Null(api.xa_store(xa, 3, XaApi.xa_mk_value(3), KernelApi.GFP_ATOMIC));
        Assert.Equal(1, Attempts(k, xarray.NomemNodeSite));
        AssertClean(k, xa);
    }

    [Fact]
    public void XaDestroyFreesEveryNode()
    {
        var (k, api, xa) = Make();
        for (ulong i = 0; i < 1000; i += 7)
            api.xa_store(xa, i, XaApi.xa_mk_value(i), KernelApi.GFP_KERNEL);
        Assert.True(k.Allocator.LiveCount > 1);
        api.xa_destroy(xa);
        Assert.True(api.xa_empty(xa));
        Assert.Equal(0, xa.NodeCount);
        Assert.Equal(0, k.Allocator.LiveCount);
        AssertClean(k, xa);
    }

    // ---- nodes ---------------------------------------------------------------------------

    [Fact]
    public void AStoreAllocatesANodeOnlyForANewChunkOf64Indexes()
    {
        var (k, api, xa) = Make();
        api.StoreOnce(xa, 0, XaApi.xa_mk_value(0), out _);
        Assert.Equal(1, Attempts(k, xarray.AtomicNodeSite));
        api.StoreOnce(xa, 63, XaApi.xa_mk_value(63), out _);
        Assert.Equal(1, Attempts(k, xarray.AtomicNodeSite));
        api.StoreOnce(xa, 64, XaApi.xa_mk_value(64), out _);
        Assert.Equal(2, Attempts(k, xarray.AtomicNodeSite));
        api.StoreOnce(xa, 200, null, out _);
        Assert.Equal(2, Attempts(k, xarray.AtomicNodeSite));
        Assert.Equal(2, xa.NodeCount);
        Assert.Equal(2, xa.NodesAllocated);
        AssertClean(k, xa);
    }

    [Fact]
    public void ANodeIsFreedWhenItsLastEntryIsErased()
    {
        var (k, api, xa) = Make();
        api.StoreOnce(xa, 64, XaApi.xa_mk_value(1), out _);
        api.StoreOnce(xa, 65, XaApi.xa_mk_value(2), out _);
        api.StoreOnce(xa, 64, null, out _);
        Assert.Equal(1, xa.NodeCount);
        Assert.Equal(1, k.Allocator.LiveCount);
        api.StoreOnce(xa, 65, null, out _);
        Assert.Equal(0, xa.NodeCount);
        Assert.Equal(0, k.Allocator.LiveCount);
        Assert.Equal(1, xa.NodesFreed);
        AssertClean(k, xa);
    }

    [Fact]
    public void AMillionEntriesAreCheapAndLeaveNoAllocationWhenErased()
    {
        var (k, api, xa) = Make();
        const ulong n = 1UL << 20;
        ulong[] pfns = new ulong[n];
        for (ulong i = 0; i < n; i++)
            pfns[i] = i * 3;
        Assert.Equal(0, api.PagesToXarray(xa, 1UL << 32, pfns));
        Assert.Equal((long)n, xa.Count);
        Assert.Equal((int)(n / 64), xa.NodeCount);
        ulong index = 0, visited = 0;
        for (var e = api.xa_find(xa, ref index, ULONG_MAX, KernelApi.XA_PRESENT); e is not null;
             e = api.xa_find_after(xa, ref index, ULONG_MAX, KernelApi.XA_PRESENT))
            visited++;
        Assert.Equal(n, visited);
        api.ClearXarray(xa, 0, ULONG_MAX);
        Assert.True(api.xa_empty(xa));
        Assert.Equal(0, k.Allocator.LiveCount);
        AssertClean(k, xa);
    }

    // ---- the cursor ----------------------------------------------------------------------

    [Fact]
    public void XasNextLoadsTheStartIndexFirstThenMovesOn()
    {
        var (k, api, xa) = Make();
        for (ulong i = 10; i < 14; i++)
            api.xa_store(xa, i, XaApi.xa_mk_value(i * 2), KernelApi.GFP_KERNEL);
        var xas = XaApi.XA_STATE(xa, 10);
        Assert.Equal(xa_state.Position.Restart, xas.State);
        api.rcu_read_lock();
        Assert.Equal(XaApi.xa_mk_value(20), api.xas_next(xas));
        Assert.Equal(10UL, xas.xa_index);
        Assert.Equal(XaApi.xa_mk_value(22), api.xas_next(xas));
        Assert.Equal(11UL, xas.xa_index);
        api.rcu_read_unlock();
        Assert.Equal([20UL, 22, 24, 26], api.ReadRun(xa, 10, 13));
        Assert.Empty(k.Checks.Violations);
    }

    [Fact]
    public void AfterAStoreXasNextMovesOn()
    {
        var (k, api, xa) = Make();
        api.xa_store(xa, 6, XaApi.xa_mk_value(6), KernelApi.GFP_KERNEL);
        var xas = XaApi.XA_STATE(xa, 5);
        api.xas_lock(xas);
        api.xas_store(xas, XaApi.xa_mk_value(5));
        Assert.Equal(xa_state.Position.Walked, xas.State);
        Assert.Equal(XaApi.xa_mk_value(6), api.xas_next(xas));
        Assert.Equal(6UL, xas.xa_index);
        api.xas_unlock(xas);
        Assert.Empty(k.Checks.Violations);
    }

    [Fact]
    public void XasLoadReadsWithoutMovingAndWalksTheCursor()
    {
        var (k, api, xa) = Make();
        api.xa_store(xa, 1, XaApi.xa_mk_value(1), KernelApi.GFP_KERNEL);
        api.xa_store(xa, 2, XaApi.xa_mk_value(2), KernelApi.GFP_KERNEL);
        var xas = XaApi.XA_STATE(xa, 1);
        api.rcu_read_lock();
        Assert.Equal(XaApi.xa_mk_value(1), api.xas_load(xas));
        Assert.Equal(1UL, xas.xa_index);
        Assert.Equal(XaApi.xa_mk_value(2), api.xas_next(xas));
        XaApi.xas_set(xas, 1);
        Assert.Equal(xa_state.Position.Restart, xas.State);
        Assert.Equal(XaApi.xa_mk_value(1), api.xas_next(xas));
        api.rcu_read_unlock();
        Assert.Empty(k.Checks.Violations);
    }

    [Fact]
    public void AnErroredCursorStoresNothingAndReadsNull()
    {
        var (k, api, xa) = Make();
        api.xa_store(xa, 3, XaApi.xa_mk_value(3), KernelApi.GFP_KERNEL);
        var xas = XaApi.XA_STATE(xa, 3);
        XaApi.xas_set_err(xas, -KernelApi.EINVAL);
        Assert.Equal(-KernelApi.EINVAL, XaApi.xas_error(xas));
        api.xas_lock(xas);
        Assert.Null(api.xas_store(xas, XaApi.xa_mk_value(99)));
        Assert.Null(api.xas_store(xas, null));
        Assert.Null(api.xas_next(xas));
        Assert.Null(api.xas_load(xas));
        Assert.Null(api.xas_find(xas, ULONG_MAX));
        api.xas_unlock(xas);
        Assert.Equal(3UL, xas.xa_index);
        Assert.Equal(XaApi.xa_mk_value(3), api.xa_load(xa, 3));
        Assert.Equal(-KernelApi.EINVAL, XaApi.xas_error(xas));
        Assert.Empty(k.Checks.Violations);
    }

    [Fact]
    public void AFailedNodeAllocationRecordsEnomemInTheCursor()
    {
        var (k, api, xa) = Make((FaultSites.XaNodeAllocAtomic, 1));
        var xas = XaApi.XA_STATE(xa, 70);
        api.xas_lock(xas);
        Assert.Null(api.xas_store(xas, XaApi.xa_mk_value(1)));
        Assert.Equal(-ENOMEM, XaApi.xas_error(xas));
        Assert.Equal(70UL, xas.xa_index);
        // Still in error: a later store does nothing, even one that would need no node.
        Assert.Null(api.xas_store(xas, XaApi.xa_mk_value(2)));
        api.xas_unlock(xas);
        Assert.True(api.xa_empty(xa));
        Assert.Equal(1, Attempts(k, xarray.AtomicNodeSite));
        AssertClean(k, xa);
    }

    [Fact]
    public void XasNomemAllocatesRestartsAndTheRetriedStoreUsesThePreallocatedNode()
    {
        var (k, api, xa) = Make((FaultSites.XaNodeAllocAtomic, 1));
        var xas = XaApi.XA_STATE(xa, 70);
        api.xas_lock(xas);
        api.xas_store(xas, XaApi.xa_mk_value(1));
        api.xas_unlock(xas);
        Assert.True(api.xas_nomem(xas, KernelApi.GFP_KERNEL));
        Assert.Equal(0, XaApi.xas_error(xas));
        Assert.Equal(xa_state.Position.Restart, xas.State);
        Assert.Equal(70UL, xas.xa_index);
        Assert.NotNull(xas.xa_alloc);
        Assert.Equal(1, k.Allocator.LiveCount);

        api.xas_lock(xas);
        Assert.Null(api.xas_store(xas, XaApi.xa_mk_value(1)));
        api.xas_unlock(xas);
        Assert.Null(xas.xa_alloc);
        Assert.Equal(1, Attempts(k, xarray.AtomicNodeSite)); // the retry did not allocate again
        Assert.Equal(XaApi.xa_mk_value(1), api.xa_load(xa, 70));
        Assert.False(api.xas_nomem(xas, KernelApi.GFP_KERNEL));
        AssertClean(k, xa);
    }

    [Fact]
    public void XasNomemFailureKeepsTheError()
    {
        var (k, api, xa) = Make((FaultSites.XaNodeAllocAtomic, 1), (FaultSites.XasNomem, 1));
        var xas = XaApi.XA_STATE(xa, 70);
        api.xas_lock(xas);
        api.xas_store(xas, XaApi.xa_mk_value(1));
        api.xas_unlock(xas);
        Assert.False(api.xas_nomem(xas, KernelApi.GFP_KERNEL));
        Assert.Equal(-ENOMEM, XaApi.xas_error(xas));
        Assert.Equal(xa_state.Position.Error, xas.State);
        Assert.Null(xas.xa_alloc);
        Assert.Equal(1, Attempts(k, xarray.NomemNodeSite));
        AssertClean(k, xa);
    }

    [Fact]
    public void XasNomemWithAnotherErrorFreesThePreallocatedNode()
    {
        var (k, api, xa) = Make((FaultSites.XaNodeAllocAtomic, 1));
        var xas = XaApi.XA_STATE(xa, 70);
        api.xas_lock(xas);
        api.xas_store(xas, XaApi.xa_mk_value(1));
        api.xas_unlock(xas);
        Assert.True(api.xas_nomem(xas, KernelApi.GFP_KERNEL));
        XaApi.xas_set_err(xas, -KernelApi.EINVAL);
        Assert.Equal(1, k.Allocator.LiveCount);
        Assert.False(api.xas_nomem(xas, KernelApi.GFP_KERNEL));
        Assert.Null(xas.xa_alloc);
        Assert.Equal(0, k.Allocator.LiveCount);
        Assert.Equal(-KernelApi.EINVAL, XaApi.xas_error(xas));
        Assert.Equal(1, Attempts(k, xarray.NomemNodeSite));
        AssertClean(k, xa);
    }

    [Fact]
    public void XasDestroyFreesThePreallocatedNode()
    {
        var (k, api, xa) = Make((FaultSites.XaNodeAllocAtomic, 1));
        var xas = XaApi.XA_STATE(xa, 0);
        api.xas_lock(xas);
        api.xas_store(xas, XaApi.xa_mk_value(1));
        api.xas_unlock(xas);
        Assert.True(api.xas_nomem(xas, KernelApi.GFP_KERNEL));
        api.xas_destroy(xas);
        Assert.Equal(0, k.Allocator.LiveCount);
        Assert.Equal(1, xa.NodesFreed);
    }

    [Fact]
    public void XasFindIncludesTheStartInRestartStateAndExcludesItWhenWalked()
    {
        var (k, api, xa) = Make();
        foreach (ulong i in new ulong[] { 5, 6, 200, 1000 })
            api.xa_store(xa, i, XaApi.xa_mk_value(i), KernelApi.GFP_KERNEL);
        var xas = XaApi.XA_STATE(xa, 5);
        api.rcu_read_lock();
        Assert.Equal(XaApi.xa_mk_value(5), api.xas_find(xas, ULONG_MAX));
        Assert.Equal(5UL, xas.xa_index);
        Assert.Equal(XaApi.xa_mk_value(6), api.xas_find(xas, ULONG_MAX));
        Assert.Equal(XaApi.xa_mk_value(200), api.xas_next_entry(xas, 999));
        Assert.Equal(200UL, xas.xa_index);
        Assert.Null(api.xas_next_entry(xas, 999));
        Assert.Equal(xa_state.Position.Bounds, xas.State);
        Assert.Null(api.xas_find(xas, ULONG_MAX)); // bounds: nothing more, even below the new max

        var fresh = XaApi.XA_STATE(xa, 7);
        Assert.Equal(XaApi.xa_mk_value(200), api.xas_find(fresh, ULONG_MAX));
        var beyond = XaApi.XA_STATE(xa, 1001);
        Assert.Null(api.xas_find(beyond, ULONG_MAX));
        var aboveMax = XaApi.XA_STATE(xa, 10);
        Assert.Null(api.xas_find(aboveMax, 9));
        Assert.Equal(10UL, aboveMax.xa_index);
        api.rcu_read_unlock();
        Assert.Empty(k.Checks.Violations);
    }

    [Fact]
    public void XasFindAtTheTopIndexDoesNotWrap()
    {
        var (k, api, xa) = Make();
        api.xa_store(xa, 0, XaApi.xa_mk_value(0), KernelApi.GFP_KERNEL);
        api.xa_store(xa, ULONG_MAX, XaApi.xa_mk_value(1), KernelApi.GFP_KERNEL);
        var xas = XaApi.XA_STATE(xa, ULONG_MAX - 3);
        api.rcu_read_lock();
        Assert.Equal(XaApi.xa_mk_value(1), api.xas_find(xas, ULONG_MAX));
        Assert.Equal(ULONG_MAX, xas.xa_index);
        Assert.Null(api.xas_next_entry(xas, ULONG_MAX));
        api.rcu_read_unlock();
        Assert.Empty(k.Checks.Violations);
    }

    [Fact]
    public void ClearXarrayErasesExactlyTheRangeAcrossNodes()
    {
        var (k, api, xa) = Make();
        for (ulong i = 0; i < 300; i += 3)
            api.xa_store(xa, i, XaApi.xa_mk_value(i), KernelApi.GFP_KERNEL);
        api.ClearXarray(xa, 10, 200);
        var left = xa.Entries.Select(e => e.Index).ToArray();
        Assert.Equal(Enumerable.Range(0, 100).Select(i => (ulong)i * 3).Where(i => i < 10 || i > 200).ToArray(), left);
        // Chunks 1 and 2 lost every entry; their nodes are gone.
        Assert.Equal(3, xa.NodeCount);
        Assert.Equal(2, xa.NodesFreed);
        AssertClean(k, xa);
    }

    [Fact]
    public void ReadAndClearRunEmptiesTheRun()
    {
        var (k, api, xa) = Make();
        Assert.Equal(0, api.PagesToXarray(xa, 60, [1, 2, 3, 4, 5, 6, 7, 8]));
        Assert.Equal([1UL, 2, 3, 4, 5, 6, 7, 8], api.ReadAndClearRun(xa, 60, 67));
        Assert.True(api.xa_empty(xa));
        Assert.Equal(0, k.Allocator.LiveCount);
        AssertClean(k, xa);
    }

    // ---- xa_find / xa_find_after / xa_for_each -------------------------------------------

    [Fact]
    public void XaFindLeavesTheIndexUnchangedWhenNothingIsFound()
    {
        var (k, api, xa) = Make();
        api.xa_store(xa, 50, XaApi.xa_mk_value(50), KernelApi.GFP_KERNEL);
        ulong index = 51;
        Assert.Null(api.xa_find(xa, ref index, ULONG_MAX, KernelApi.XA_PRESENT));
        Assert.Equal(51UL, index);
        index = 10;
        Assert.Null(api.xa_find(xa, ref index, 49, KernelApi.XA_PRESENT));
        Assert.Equal(10UL, index);
        Assert.Equal(XaApi.xa_mk_value(50), api.xa_find(xa, ref index, 50, KernelApi.XA_PRESENT));
        Assert.Equal(50UL, index);
        Assert.Null(api.xa_find_after(xa, ref index, ULONG_MAX, KernelApi.XA_PRESENT));
        Assert.Equal(50UL, index);
        Assert.Empty(k.Checks.Violations);
    }

    [Fact]
    public void XaFindAfterTheTopIndexWrapsToNothing()
    {
        var (_, api, xa) = Make();
        api.xa_store(xa, 0, XaApi.xa_mk_value(0), KernelApi.GFP_KERNEL);
        api.xa_store(xa, ULONG_MAX, XaApi.xa_mk_value(1), KernelApi.GFP_KERNEL);
        ulong index = ULONG_MAX;
        Assert.Null(api.xa_find_after(xa, ref index, ULONG_MAX, KernelApi.XA_PRESENT));
        Assert.Equal(ULONG_MAX, index);
    }

    [Fact]
    public void XaFindRefusesMarks()
    {
        var (_, api, xa) = Make();
        ulong index = 0;
        Assert.Throws<NotSupportedException>(() => api.xa_find(xa, ref index, ULONG_MAX, xa_mark_t.XA_MARK_0));
    }

    [Fact]
    public void XaForEachVisitsInOrderAndKeepsTheLastFoundIndex()
    {
        var (k, api, xa) = Make();
        foreach (ulong i in new ulong[] { 0, 1, 2, 130 })
            api.xa_store(xa, i, XaApi.xa_mk_value(i), KernelApi.GFP_KERNEL);
        ulong index = 0;
        Assert.Equal([0UL, 1, 2, 130], api.ForEach(xa, ref index));
        Assert.Equal(130UL, index);
        Assert.Equal([0UL, 1], api.ForEach(xa, ref index, i => i == 1));
        Assert.Equal(1UL, index);
        var empty = new xarray("empty");
        Assert.Empty(api.ForEach(empty, ref index));
        Assert.Equal(0UL, index);
        Assert.Empty(k.Checks.Violations);
    }

    // ---- pages_to_xarray -----------------------------------------------------------------

    [Fact]
    public void PagesToXarrayStoresARunAcrossNodes()
    {
        var (k, api, xa) = Make();
        ulong[] pfns = [.. Enumerable.Range(0, 200).Select(i => (ulong)(1000 + i))];
        Assert.Equal(0, api.PagesToXarray(xa, 30, pfns));
        Assert.Equal(pfns, api.ReadRun(xa, 30, 229));
        Assert.Equal(4, xa.NodeCount); // chunks 0..3 cover 30..229
        AssertClean(k, xa);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void PagesToXarrayRecoversFromAtomicNodeFailures(long failedHit)
    {
        var (k, api, xa) = Make((FaultSites.XaNodeAllocAtomic, failedHit));
        ulong[] pfns = [.. Enumerable.Range(0, 300).Select(i => (ulong)i)];
        Assert.Equal(0, api.PagesToXarray(xa, 0, pfns));
        Assert.Equal(pfns, api.ReadRun(xa, 0, 299));
        Assert.Equal(1, Attempts(k, xarray.NomemNodeSite));
        Assert.Single(k.Faults.Injected);
        AssertClean(k, xa);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void PagesToXarrayFailsCleanlyWhenBothSitesFail(long failedHit)
    {
        var (k, api, xa) = Make((FaultSites.XaNodeAllocAtomic, failedHit), (FaultSites.XasNomem, 1));
        ulong[] pfns = [.. Enumerable.Range(0, 300).Select(i => (ulong)i)];
        Assert.Equal(-ENOMEM, api.PagesToXarray(xa, 10, pfns));
        Assert.True(api.xa_empty(xa));
        Assert.Equal(0, k.Allocator.LiveCount);
        Assert.Equal(2, k.Faults.Injected.Count);
        AssertClean(k, xa);
    }

    [Fact]
    public void PagesToXarrayRetriesMoreThanOnce()
    {
        var (k, api, xa) = Make((FaultSites.XaNodeAllocAtomic, 1), (FaultSites.XaNodeAllocAtomic, 2));
        ulong[] pfns = [.. Enumerable.Range(0, 130).Select(i => (ulong)i)];
        Assert.Equal(0, api.PagesToXarray(xa, 0, pfns));
        Assert.Equal(2, Attempts(k, xarray.NomemNodeSite));
        Assert.Equal(pfns, api.ReadRun(xa, 0, 129));
        AssertClean(k, xa);
    }

    [Fact]
    public void PagesToXarrayInjectedErrorHalfwayClearsEverythingStored()
    {
        var (k, api, xa) = Make((FaultSites.XaNodeAllocAtomic, 2));
        ulong[] pfns = [.. Enumerable.Range(0, 200).Select(i => (ulong)i)];
        // A node failure at chunk 1 is retried through xas_nomem first; the forced error at
        // index 100 then unwinds everything stored so far, nodes included.
        Assert.Equal(-KernelApi.EINVAL, api.PagesToXarray(xa, 0, pfns, failHalfway: true));
        Assert.True(api.xa_empty(xa));
        Assert.Equal(0, k.Allocator.LiveCount);
        AssertClean(k, xa);
    }

    // ---- checks --------------------------------------------------------------------------

    [Fact]
    public void XasStoreWithoutTheLockIsReported()
    {
        var (k, api, xa) = Make();
        var xas = XaApi.XA_STATE(xa, 1);
        api.xas_store(xas, XaApi.xa_mk_value(1));
        var v = Assert.Single(k.Checks.Violations);
        Assert.Equal(CheckKind.LockdepNotHeld, v.Kind);
        Assert.Equal("xas_store", v.Function);
    }

    [Fact]
    public void XasStoreUnderRcuOnlyIsStillReported()
    {
        var (k, api, xa) = Make();
        var xas = XaApi.XA_STATE(xa, 1);
        api.rcu_read_lock();
        api.xas_store(xas, null);
        api.rcu_read_unlock();
        Assert.Equal(CheckKind.LockdepNotHeld, Assert.Single(k.Checks.Violations).Kind);
    }

    [Theory]
    [InlineData("xas_next")]
    [InlineData("xas_load")]
    [InlineData("xas_find")]
    [InlineData("xas_next_entry")]
    public void CursorReadsNeedTheLockOrRcu(string function)
    {
        var (k, api, xa) = Make();
        api.xa_store(xa, 0, XaApi.xa_mk_value(0), KernelApi.GFP_KERNEL);
        void Read(xa_state xas)
        {
            _ = function switch
            {
                "xas_next" => api.xas_next(xas),
                "xas_load" => api.xas_load(xas),
                "xas_find" => api.xas_find(xas, ULONG_MAX),
                _ => api.xas_next_entry(xas, ULONG_MAX),
            };
        }

        Read(XaApi.XA_STATE(xa, 0));
        var v = Assert.Single(k.Checks.Violations);
        Assert.Equal(CheckKind.LockdepNotHeld, v.Kind);
        Assert.Equal(function, v.Function);

        k.Checks.Clear();
        api.rcu_read_lock();
        Read(XaApi.XA_STATE(xa, 0));
        api.rcu_read_unlock();
        var locked = XaApi.XA_STATE(xa, 0);
        api.xas_lock(locked);
        Read(locked);
        api.xas_unlock(locked);
        Assert.Empty(k.Checks.Violations);
    }

    [Fact]
    public void ABlockingXasNomemUnderTheLockIsReported()
    {
        var (k, api, xa) = Make((FaultSites.XaNodeAllocAtomic, 1));
        var xas = XaApi.XA_STATE(xa, 0);
        api.xas_lock(xas);
        api.xas_store(xas, XaApi.xa_mk_value(1));
        Assert.True(api.xas_nomem(xas, KernelApi.GFP_KERNEL));
        api.xas_unlock(xas);
        var v = Assert.Single(k.Checks.Violations);
        Assert.Equal(CheckKind.LockdepOrder, v.Kind);
        Assert.Equal("might_sleep", v.Function);
        api.xas_destroy(xas);
    }

    [Fact]
    public void TheXaHelpersNeedNoLockFromTheCaller()
    {
        var (k, api, xa) = Make();
        api.xa_store(xa, 9, XaApi.xa_mk_value(9), KernelApi.GFP_KERNEL);
        ulong index = 0;
        api.xa_load(xa, 9);
        api.xa_find(xa, ref index, ULONG_MAX, KernelApi.XA_PRESENT);
        api.xa_find_after(xa, ref index, ULONG_MAX, KernelApi.XA_PRESENT);
        api.xa_erase(xa, 9);
        Assert.False(k.Exec.InRcuReadSection);
        Assert.Empty(k.Checks.Violations);
    }

    // ---- concurrency ---------------------------------------------------------------------

    [Fact]
    public void ConcurrentLockedWritersOnDisjointRangesAllLand()
    {
        var k = new FakeKernel();
        var xa = new xarray("conc");
        const int threads = 4, per = 2000;
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            var api = new XaApi(k);
            for (int i = 0; i < per; i++)
            {
                ulong index = (ulong)(i * threads + t);
                api.xa_store(xa, index, XaApi.xa_mk_value(index), KernelApi.GFP_KERNEL);
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        Assert.Equal(threads * per, xa.Count);
        Assert.All(xa.Entries, e => Assert.Equal(e.Index, XaApi.xa_to_value(e.Entry)));
        AssertClean(k, xa);
    }

    // ---- model-based property ------------------------------------------------------------

    private enum OpKind { Store, Erase, StoreRun, Clear, Find, ReadRun }

    private sealed record Op(OpKind Kind, ulong Index, int Len);

    private static readonly Gen<ulong> IndexGen = Gen.Frequency(
        (6, Gen.Choose(0, 400).Select(i => (ulong)i)),
        (1, Gen.Choose(0, 100).Select(i => ULONG_MAX - (ulong)i)),
        (1, Gen.Choose(0, 1 << 20).Select(i => ((ulong)i << 20) + 7)));

    private static readonly Gen<Op> OpGen =
        from kind in Gen.Elements(Enum.GetValues<OpKind>())
        from index in IndexGen
        from len in Gen.Choose(1, 150)
        select new Op(kind, index, len);

    private static IEnumerable<(ulong Seed, Op[] Ops)> Shrink((ulong Seed, Op[] Ops) c) =>
        Enumerable.Range(0, c.Ops.Length).Select(i => (c.Seed, c.Ops.Where((_, j) => j != i).ToArray()));

    [Fact]
    public void BehavesLikeASortedMapUnderRandomNodeFailures()
    {
        var gen = from seed in Gen.Choose(0, int.MaxValue)
                  from ops in Gen.ArrayOf(OpGen)
                  select ((ulong)seed, ops);
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(200).WithReplay(20240601UL, 12345UL).WithQuietOnSuccess(true),
            Prop.ForAll(Arb.From(gen, Shrink), c => RunAgainstModel(c.Item1, c.Item2)));
    }

    private static void RunAgainstModel(ulong seed, Op[] ops)
    {
        var plan = new ProbabilisticFaults(seed, new Dictionary<string, double>
        {
            [FaultSites.XaNodeAllocAtomic] = 0.3,
            [FaultSites.XasNomem] = 0.3,
        });
        var k = new FakeKernel(new FaultInjector(plan));
        var api = new XaApi(k);
        var xa = new xarray("prop");
        api.xa_init_flags(xa, KernelApi.XA_FLAGS_ACCOUNT);
        var model = new SortedDictionary<ulong, ulong>();
        ulong tag = 0;

        foreach (var op in ops)
        {
            tag++;
            ulong last = op.Index > ULONG_MAX - (ulong)(op.Len - 1) ? ULONG_MAX : op.Index + (ulong)(op.Len - 1);
            switch (op.Kind)
            {
                case OpKind.Store:
                {
                    var r = api.xa_store(xa, op.Index, XaApi.xa_mk_value(tag), KernelApi.GFP_KERNEL);
                    if (XaApi.xa_is_err(r))
                        Assert.Equal(-ENOMEM, XaApi.xa_err(r));
                    else
                    {
                        Assert.Equal(model.TryGetValue(op.Index, out var o) ? XaApi.xa_mk_value(o) : null, r);
                        model[op.Index] = tag;
                    }
                    break;
                }
                case OpKind.Erase:
                    Assert.Equal(model.Remove(op.Index, out var old) ? XaApi.xa_mk_value(old) : null, api.xa_erase(xa, op.Index));
                    break;
                case OpKind.StoreRun:
                {
                    api.ClearXarray(xa, op.Index, last);
                    foreach (var key in model.Keys.Where(i => i >= op.Index && i <= last).ToList())
                        model.Remove(key);
                    ulong[] pfns = [.. Enumerable.Range(0, (int)(last - op.Index + 1)).Select(i => tag * 1000 + (ulong)i)];
                    int rc = api.PagesToXarray(xa, op.Index, pfns);
                    if (rc == 0)
                        for (int i = 0; i < pfns.Length; i++)
                            model[op.Index + (ulong)i] = pfns[i];
                    else
                        Assert.Equal(-ENOMEM, rc);
                    break;
                }
                case OpKind.Clear:
                    api.ClearXarray(xa, op.Index, last);
                    foreach (var key in model.Keys.Where(i => i >= op.Index && i <= last).ToList())
                        model.Remove(key);
                    break;
                case OpKind.Find:
                {
                    ulong index = op.Index;
                    var e = api.xa_find(xa, ref index, last, KernelApi.XA_PRESENT);
                    var expect = model.Keys.Where(i => i >= op.Index && i <= last).Select(i => (ulong?)i).FirstOrDefault();
                    Assert.Equal(expect ?? op.Index, index);
                    Assert.Equal(expect is null ? null : XaApi.xa_mk_value(model[expect.Value]), e);
                    break;
                }
                case OpKind.ReadRun:
                {
                    var xas = XaApi.XA_STATE(xa, op.Index);
                    api.rcu_read_lock();
                    for (ulong i = op.Index; ; i++)
                    {
                        Assert.Equal(model.TryGetValue(i, out var v) ? XaApi.xa_mk_value(v) : null, api.xas_next(xas));
                        if (i == last)
                            break;
                    }
                    api.rcu_read_unlock();
                    break;
                }
            }
            Assert.Equal(model.Select(kv => (kv.Key, (object)XaApi.xa_mk_value(kv.Value))), xa.Entries);
            Assert.Equal(model.Keys.Select(i => i >> 6).Distinct().Count(), xa.NodeCount);
            AssertClean(k, xa);
        }
    }
}
