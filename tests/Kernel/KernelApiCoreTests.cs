// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;
using Iommufd.Model.Patches;

namespace Iommufd.Tests.Kernel;

/// <summary>Exposes the protected core services of KernelApi to the tests.</summary>
internal sealed class CoreApi(FakeKernel kernel) : KernelApi(kernel)
{
    public bool Warn(bool c) => WARN_ON(c);
    public void AssertHeld(KLock l) => lockdep_assert_held(l);
    public void AssertHeldWrite(KLock l) => lockdep_assert_held_write(l);
    public bool ShouldFailHere() => iommufd_should_fail();
    public static bool AddOverflow(ulong a, ulong b, out ulong d) => check_add_overflow(a, b, out d);
    public static bool SubOverflow(ulong a, ulong b, out ulong d) => check_sub_overflow(a, b, out d);
    public static T Min<T>(T a, T b) where T : System.Numerics.INumber<T> => min(a, b);
    public static T Max<T>(T a, T b) where T : System.Numerics.INumber<T> => max(a, b);
    public static ulong AlignDown(ulong x, ulong a) => ALIGN_DOWN(x, a);
    public static ulong DivRoundUp(ulong n, ulong d) => DIV_ROUND_UP(n, d);
    public static ulong PhysPfn(ulong p) => PHYS_PFN(p);
    public static ulong PfnPhys(ulong p) => PFN_PHYS(p);
    public static ErrPtr<T> ErrPtr<T>(int e) where T : class => ERR_PTR<T>(e);
    public void Memcpy(Ptr<byte> d, Ptr<byte> s, ulong n) => memcpy(d, s, n);
    public void MutexInit(mutex m) => mutex_init(m);
    public void MutexDestroy(mutex m) => mutex_destroy(m);
    public void MutexLock(mutex m) => mutex_lock(m);
    public void MutexUnlock(mutex m) => mutex_unlock(m);
    public void DownRead(rw_semaphore s) => down_read(s);
    public void UpRead(rw_semaphore s) => up_read(s);
    public void DownWrite(rw_semaphore s) => down_write(s);
    public void UpWrite(rw_semaphore s) => up_write(s);
    public void Atomic64Add(long i, atomic64_t v) => atomic64_add(i, v);
    public void Atomic64Sub(long i, atomic64_t v) => atomic64_sub(i, v);
    public long Atomic64Read(atomic64_t v) => atomic64_read(v);
    public long AtomicLongRead(atomic_long_t v) => atomic_long_read(v);
    public void AtomicLongAdd(long i, atomic_long_t v) => atomic_long_add(i, v);
    public void AtomicLongSub(long i, atomic_long_t v) => atomic_long_sub(i, v);
    public long AtomicLongCmpxchg(atomic_long_t v, long o, long n) => atomic_long_cmpxchg(v, o, n);
    public void KrefInit(kref k) => kref_init(k);
    public void KrefGet(kref k) => kref_get(k);
    public bool KrefPut(kref k, Action<kref> release) => kref_put(k, release);
    public static T ContainerOf<T>(kref k) where T : class => container_of<T>(k);
    public bool Patched(string name) => PATCHED(name);
}

public class KernelApiCoreTests
{
    private static (FakeKernel, CoreApi) Make(IFaultInjector? faults = null)
    {
        var k = new FakeKernel(faults);
        return (k, new CoreApi(k));
    }

    private static (FakeKernel, CoreApi, RecordingExec) MakeRecording()
    {
        RecordingExec? rec = null;
        var k = new FakeKernel(exec: c => rec = new RecordingExec(c));
        return (k, new CoreApi(k), rec!);
    }

    [Fact]
    public void WarnOn_ReturnsItsCondition_AndRecordsTheCallingFunction()
    {
        var (k, api) = Make();
        Assert.False(api.Warn(false));
        Assert.Equal(0, k.Checks.Count);
        Assert.True(api.Warn(true));
        var v = Assert.Single(k.Checks.Violations);
        Assert.Equal(CheckKind.Warn, v.Kind);
        Assert.Equal(nameof(CoreApi.Warn), v.Function);
    }

    [Fact]
    public void LockdepAssertHeld_AndHeldWrite()
    {
        var (k, api) = Make();
        var m = new mutex("m");
        var s = new rw_semaphore("s");
        api.AssertHeld(m);
        var v = Assert.Single(k.Checks.Violations);
        Assert.Equal(CheckKind.LockdepNotHeld, v.Kind);
        Assert.Equal(nameof(CoreApi.AssertHeld), v.Function);
        Assert.Contains("m", v.Message);
        k.Checks.Clear();

        api.MutexLock(m);
        api.AssertHeld(m);
        api.AssertHeldWrite(m);
        api.DownRead(s);
        api.AssertHeld(s);
        Assert.Equal(0, k.Checks.Count);
        api.AssertHeldWrite(s); // read side only
        v = Assert.Single(k.Checks.Violations);
        Assert.Equal(CheckKind.LockdepNotHeld, v.Kind);
        Assert.Equal(nameof(CoreApi.AssertHeldWrite), v.Function);
        api.UpRead(s);
        api.DownWrite(s);
        api.AssertHeldWrite(s);
        api.UpWrite(s);
        api.MutexUnlock(m);
        Assert.Equal(1, k.Checks.Count);
        Assert.False(m.IsLocked);
        Assert.False(s.IsLocked);
    }

    [Fact]
    public void IommufdShouldFail_IsTheSiteShouldFailAtTheCaller()
    {
        string site = FaultSites.ShouldFail(nameof(CoreApi.ShouldFailHere));
        Assert.Equal("should_fail@" + nameof(CoreApi.ShouldFailHere), site);
        var (k, api) = Make(new FaultInjector(new ExplicitFaults([(site, 2)])));
        Assert.False(api.ShouldFailHere());
        Assert.True(api.ShouldFailHere());
        Assert.False(api.ShouldFailHere());
        Assert.Equal(3, k.Faults.Hits[site]);
        Assert.Equal(site, Assert.Single(k.Faults.Injected).Site);
    }

    [Fact]
    public void CheckAddOverflow_WrapsAndFlags()
    {
        Assert.False(CoreApi.AddOverflow(2, 3, out ulong d));
        Assert.Equal(5UL, d);
        Assert.False(CoreApi.AddOverflow(ulong.MaxValue, 0, out d));
        Assert.Equal(ulong.MaxValue, d);
        Assert.True(CoreApi.AddOverflow(ulong.MaxValue, 1, out d));
        Assert.Equal(0UL, d);
        Assert.True(CoreApi.AddOverflow(ulong.MaxValue - 1, ulong.MaxValue, out d));
        Assert.Equal(ulong.MaxValue - 2, d);
    }

    [Fact]
    public void CheckSubOverflow_WrapsAndFlags()
    {
        Assert.False(CoreApi.SubOverflow(5, 3, out ulong d));
        Assert.Equal(2UL, d);
        Assert.False(CoreApi.SubOverflow(3, 3, out d));
        Assert.Equal(0UL, d);
        Assert.True(CoreApi.SubOverflow(3, 5, out d));
        Assert.Equal(ulong.MaxValue - 1, d);
        Assert.True(CoreApi.SubOverflow(0, ulong.MaxValue, out d));
        Assert.Equal(1UL, d);
    }

    [Fact]
    public void MinMax_AlignDown_DivRoundUp_PfnConversions()
    {
        Assert.Equal(3UL, CoreApi.Min(3UL, 7UL));
        Assert.Equal(3UL, CoreApi.Min(7UL, 3UL));
        Assert.Equal(-2L, CoreApi.Min(-2L, 1L));
        Assert.Equal(7UL, CoreApi.Max(3UL, 7UL));
        Assert.Equal(7UL, CoreApi.Max(7UL, 3UL));
        Assert.Equal(1L, CoreApi.Max(-2L, 1L));

        Assert.Equal(0x3000UL, CoreApi.AlignDown(0x3fffUL, 0x1000));
        Assert.Equal(0x3000UL, CoreApi.AlignDown(0x3000UL, 0x1000));
        Assert.Equal(ulong.MaxValue - 0xfff, CoreApi.AlignDown(ulong.MaxValue, 0x1000));

        Assert.Equal(0UL, CoreApi.DivRoundUp(0, 4096));
        Assert.Equal(1UL, CoreApi.DivRoundUp(1, 4096));
        Assert.Equal(1UL, CoreApi.DivRoundUp(4096, 4096));
        Assert.Equal(2UL, CoreApi.DivRoundUp(4097, 4096));
        // Like the C macro, n + d - 1 wraps for n near ULONG_MAX (finding 0002 depends on it).
        Assert.Equal(0UL, CoreApi.DivRoundUp(ulong.MaxValue, 4096));
        Assert.Equal(0UL, CoreApi.DivRoundUp(ulong.MaxValue - 4094, 4096));
        Assert.Equal(ulong.MaxValue >> 12, CoreApi.DivRoundUp(ulong.MaxValue - 4095, 4096));

        Assert.Equal(0x12345UL, CoreApi.PhysPfn(0x12345fffUL));
        Assert.Equal(0x12345000UL, CoreApi.PfnPhys(0x12345UL));
        Assert.Equal(0x12345UL, CoreApi.PhysPfn(CoreApi.PfnPhys(0x12345UL)));
        Assert.Equal(12, KernelApi.PAGE_SHIFT);
        Assert.Equal(4096UL, KernelApi.PAGE_SIZE);
    }

    [Fact]
    public void ErrPtr_CarriesAnErrnoOrAValue()
    {
        var e = CoreApi.ErrPtr<string>(-KernelApi.ENOMEM);
        Assert.True(KernelApi.IS_ERR(e));
        Assert.Equal(-KernelApi.ENOMEM, KernelApi.PTR_ERR(e));
        Assert.Null(e.Value);
        ErrPtr<string> ok = "value";
        Assert.False(KernelApi.IS_ERR(ok));
        Assert.Equal(0, KernelApi.PTR_ERR(ok));
        Assert.Equal("value", ok.Value);
    }

    [Fact]
    public void Memcpy_CopiesNBytes_AndChecksBothBlocks()
    {
        var (_, api) = Make();
        var src = new Ptr<byte>(KMem.Stack(8), 0);
        var dst = new Ptr<byte>(KMem.Stack(8), 0);
        for (int i = 0; i < 8; i++) src[i] = (byte)(i + 1);
        api.Memcpy(dst + 2L, src + 1L, 4);
        Assert.Equal(new byte[] { 0, 0, 2, 3, 4, 5, 0, 0 }, dst.AsSpan(8).ToArray());
        api.Memcpy(Ptr<byte>.NULL, Ptr<byte>.NULL, 0); // n == 0 touches nothing
        Assert.Throws<KernelMemoryFault>(() => api.Memcpy(dst, src + 4L, 5));
        Assert.Throws<KernelMemoryFault>(() => api.Memcpy(dst + 4L, src, 5));
        Assert.Throws<KernelMemoryFault>(() => api.Memcpy(Ptr<byte>.NULL, src, 1));
    }

    [Fact]
    public void MutexDestroy_OfALockedMutex_IsReported_AndInitRevives()
    {
        var (k, api) = Make();
        var m = new mutex("m");
        api.MutexLock(m);
        api.MutexDestroy(m);
        var v = Assert.Single(k.Checks.Violations);
        Assert.Equal(CheckKind.FakeMisuse, v.Kind);
        Assert.Equal("mutex_destroy", v.Function);
        api.MutexUnlock(m);

        var n = new mutex("n");
        api.MutexDestroy(n); // unlocked: fine
        Assert.Equal(1, k.Checks.Count);
        api.MutexLock(n); // but using it afterwards is not
        Assert.Equal(2, k.Checks.Count);
        api.MutexUnlock(n);
        api.MutexInit(n);
        api.MutexLock(n);
        api.MutexUnlock(n);
        Assert.Equal(2, k.Checks.Count);
    }

    [Fact]
    public void Atomics_ComputeAndAreSchedulingPoints()
    {
        var (_, api, rec) = MakeRecording();
        var a = new atomic64_t();
        api.Atomic64Add(10, a);
        api.Atomic64Sub(3, a);
        Assert.Equal(7, api.Atomic64Read(a));
        Assert.Equal(7, a.Value);
        api.Atomic64Sub(long.MinValue, a); // wraps like the C type
        Assert.Equal(unchecked(7 - long.MinValue), a.Value);

        var l = new atomic_long_t();
        api.AtomicLongAdd(5, l);
        api.AtomicLongSub(2, l);
        Assert.Equal(3, api.AtomicLongRead(l));
        Assert.Equal(3, api.AtomicLongCmpxchg(l, 4, 100)); // mismatch: unchanged, returns old
        Assert.Equal(3, l.Value);
        Assert.Equal(3, api.AtomicLongCmpxchg(l, 3, 100));
        Assert.Equal(100, l.Value);

        Assert.Equal(["atomic64_add", "atomic64_sub", "atomic64_read", "atomic64_sub",
            "atomic_long_add", "atomic_long_sub", "atomic_long_read", "atomic_long_cmpxchg", "atomic_long_cmpxchg"], rec.Points);
    }

    private sealed class Holder
    {
        public Holder() => Ref = new kref(this);
        public kref Ref { get; }
    }

    [Fact]
    public void Kref_ReleaseRunsExactlyOnce_OnTheLastPut_AndIsASchedulingPoint()
    {
        var (k, api, rec) = MakeRecording();
        var h = new Holder();
        int released = 0;
        void Release(kref r) { released++; Assert.Same(h, CoreApi.ContainerOf<Holder>(r)); }
        api.KrefInit(h.Ref);
        Assert.Equal(1, h.Ref.Value);
        api.KrefGet(h.Ref);
        api.KrefGet(h.Ref);
        Assert.Equal(3, h.Ref.Value);
        Assert.False(api.KrefPut(h.Ref, Release));
        Assert.False(api.KrefPut(h.Ref, Release));
        Assert.Equal(0, released);
        Assert.True(api.KrefPut(h.Ref, Release));
        Assert.Equal(1, released);
        Assert.Equal(0, h.Ref.Value);
        Assert.Equal(0, k.Checks.Count);
        Assert.Equal(["kref_get", "kref_get", "kref_put", "kref_put", "kref_put"], rec.Points);
    }

    [Fact]
    public void Kref_GetAfterRelease_AndUnderflow_AreReported_WithoutASecondRelease()
    {
        var (k, api) = Make();
        var r = new kref();
        int released = 0;
        api.KrefInit(r);
        Assert.True(api.KrefPut(r, _ => released++));
        api.KrefGet(r);
        var v = Assert.Single(k.Checks.Violations);
        Assert.Equal(CheckKind.FakeMisuse, v.Kind);
        Assert.Equal("kref_get", v.Function);

        var u = new kref();
        api.KrefInit(u);
        api.KrefPut(u, _ => released++);
        Assert.False(api.KrefPut(u, _ => released++));
        Assert.Equal(2, k.Checks.Count);
        Assert.Equal("kref_put", k.Checks.Violations[1].Function);
        Assert.Equal(2, released); // one per object, none for the underflowing put
    }

    [Fact]
    public void ContainerOf_ReturnsTheEmbeddingObject()
    {
        var h = new Holder();
        Assert.Same(h, CoreApi.ContainerOf<Holder>(h.Ref));
        Assert.Throws<InvalidCastException>(() => CoreApi.ContainerOf<string>(h.Ref));
    }

    [Fact]
    public void Patched_ReflectsTheKernelsPatches()
    {
        var (_, plain) = Make();
        Assert.All(ModelPatches.All.Keys, p => Assert.False(plain.Patched(p)));
        var k = new FakeKernel(patches: [ModelPatches.BatchCarryEnd]);
        var api = new CoreApi(k);
        Assert.True(api.Patched(ModelPatches.BatchCarryEnd));
        Assert.False(api.Patched(ModelPatches.BatchCarryOrder));
        var all = new CoreApi(new FakeKernel(patches: ModelPatches.AllFindings));
        Assert.All(ModelPatches.All.Keys, p => Assert.True(all.Patched(p)));
    }

    [Fact]
    public void FakeKernel_RejectsAnUnknownPatchName()
    {
        var ex = Assert.Throws<ArgumentException>(() => new FakeKernel(patches: [ModelPatches.BatchCarryEnd, "no-such-patch"]));
        Assert.Contains("no-such-patch", ex.Message);
    }
}
