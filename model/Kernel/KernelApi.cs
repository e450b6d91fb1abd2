// SPDX-License-Identifier: GPL-2.0-only
using System.Numerics;
using System.Runtime.CompilerServices;
using Iommufd.Model.Patches;

namespace Iommufd.Model.Kernel;

/// <summary>
/// The kernel services pages.c calls, under their C names, so that the port reads like the C.
/// The port and the callers derive from this class; each service forwards to the fake that
/// models it (one fake per file). This file holds the constants, the checks (WARN_ON, lockdep),
/// the arithmetic helpers, locks, atomics and the allocator; the other partial files hold the
/// xarray, interval tree, mm/GUP and IOMMU services.
/// </summary>
public abstract partial class KernelApi(FakeKernel kernel)
{
    public FakeKernel Kernel { get; } = kernel;

    // ---- configuration -------------------------------------------------------------------
    /// <summary>IS_ENABLED(CONFIG_IOMMUFD_TEST): the model is the kernel's test configuration.</summary>
    protected const bool CONFIG_IOMMUFD_TEST = true;
    protected static bool IS_ENABLED(bool config) => config;

    // ---- constants -----------------------------------------------------------------------
    public const int PAGE_SHIFT = 12;
    public const ulong PAGE_SIZE = 1UL << PAGE_SHIFT;
    public const ulong ULONG_MAX = ulong.MaxValue;
    public const ulong SIZE_MAX = ulong.MaxValue;

    public const int EPERM = 1, ENOENT = 2, ENOMEM = 12, EFAULT = 14, EBUSY = 16, EINVAL = 22,
        ENOSPC = 28, ERANGE = 34, EDEADLOCK = 35, EOVERFLOW = 75;

    public const int IOMMU_READ = 1 << 0, IOMMU_WRITE = 1 << 1, IOMMU_CACHE = 1 << 2;
    public const uint FOLL_WRITE = 0x01, FOLL_LONGTERM = 0x10000, FOLL_PIN = 0x40000;
    public const uint IOMMUFD_ACCESS_RW_READ = 0, IOMMUFD_ACCESS_RW_WRITE = 1 << 0,
        IOMMUFD_ACCESS_RW_KTHREAD = 1 << 1, __IOMMUFD_ACCESS_RW_SLOW_PATH = 1 << 2;
    public const int CAP_IPC_LOCK = 14;
    public const int RLIMIT_MEMLOCK = 8;

    public const gfp_t GFP_KERNEL = gfp_t.GFP_KERNEL, GFP_KERNEL_ACCOUNT = gfp_t.GFP_KERNEL_ACCOUNT,
        __GFP_NOWARN = gfp_t.__GFP_NOWARN, __GFP_NORETRY = gfp_t.__GFP_NORETRY, GFP_ATOMIC = gfp_t.GFP_ATOMIC;

    /// <summary>The test-config tunable TEMP_MEMORY_LIMIT resolves to (default 65536).</summary>
    protected ulong iommufd_test_memory_limit => Kernel.iommufd_test_memory_limit;

    /// <summary>True if the named model patch is on. The port keeps the seed's code on the
    /// default path; a patch is an alternative next to it, named in <see cref="Patches.ModelPatches"/>.</summary>
    protected bool PATCHED(string patch) => Kernel.Patches.Contains(patch);

    // ---- checks --------------------------------------------------------------------------
    /// <summary>WARN_ON(cond): evaluates to cond; reports it naming the calling function.</summary>
    protected bool WARN_ON(bool condition, [CallerMemberName] string function = "")
    {
        if (condition)
            Kernel.Checks.Report(CheckKind.Warn, function, "WARN_ON");
        return condition;
    }

    protected void lockdep_assert_held(KLock l, [CallerMemberName] string function = "")
    {
        if (!Kernel.Exec.HeldByCurrent(l))
            Kernel.Checks.Report(CheckKind.LockdepNotHeld, function, $"lockdep_assert_held({l.LockClass}) failed");
    }

    protected void lockdep_assert_held_write(KLock l, [CallerMemberName] string function = "")
    {
        if (!Kernel.Exec.HeldByCurrent(l, LockMode.Exclusive))
            Kernel.Checks.Report(CheckKind.LockdepNotHeld, function, $"lockdep_assert_held_write({l.LockClass}) failed");
    }

    /// <summary>iommufd_should_fail(): a live fault point named after the calling function.</summary>
    protected bool iommufd_should_fail([CallerMemberName] string function = "") =>
        Kernel.ShouldFail(Iommufd.Faults.FaultSites.ShouldFail(function));

    // ---- arithmetic ----------------------------------------------------------------------
    protected static bool check_add_overflow(ulong a, ulong b, out ulong d)
    {
        d = unchecked(a + b);
        return d < a;
    }

    protected static bool check_sub_overflow(ulong a, ulong b, out ulong d)
    {
        d = unchecked(a - b);
        return b > a;
    }

    protected static T min<T>(T a, T b) where T : INumber<T> => a < b ? a : b;
    protected static T max<T>(T a, T b) where T : INumber<T> => a > b ? a : b;
    protected static ulong ALIGN_DOWN(ulong x, ulong a) => x & ~(a - 1);
    protected static ulong DIV_ROUND_UP(ulong n, ulong d) => unchecked(n + d - 1) / d;
    protected static ulong PHYS_PFN(ulong phys) => phys >> PAGE_SHIFT;
    protected static ulong PFN_PHYS(ulong pfn) => pfn << PAGE_SHIFT;
    protected static uint type_max_u32 => uint.MaxValue;

    // ---- ERR_PTR -------------------------------------------------------------------------
    protected static ErrPtr<T> ERR_PTR<T>(int err) where T : class => ErrPtr<T>.FromError(err);
    public static bool IS_ERR<T>(ErrPtr<T> p) where T : class => p.IsErr;
    public static int PTR_ERR<T>(ErrPtr<T> p) where T : class => p.Error;

    // ---- memory --------------------------------------------------------------------------
    protected Ptr<byte> kmalloc(ulong size, gfp_t flags, [CallerMemberName] string site = "") =>
        Kernel.Allocator.kmalloc(size, flags, site);

    protected T? kzalloc<T>(Func<T> make, gfp_t flags, [CallerMemberName] string site = "") where T : class =>
        Kernel.Allocator.kzalloc(flags, site, make);

    protected void kfree<T>(Ptr<T> p, [CallerMemberName] string caller = "") where T : unmanaged =>
        Kernel.Allocator.kfree(p.AsVoid(), caller);

    protected void kfree(object? obj, [CallerMemberName] string caller = "") =>
        Kernel.Allocator.kfree(obj, caller);

    protected void memcpy(Ptr<byte> dst, Ptr<byte> src, ulong n)
    {
        if (n == 0) return;
        src.AsSpan((long)n).CopyTo(dst.AsSpan((long)n));
    }

    // ---- locks ---------------------------------------------------------------------------
    protected void mutex_init(mutex m) => m.Destroyed = false;
    protected void mutex_destroy(mutex m)
    {
        if (m.IsLocked)
            Kernel.Checks.Report(CheckKind.FakeMisuse, "mutex_destroy", $"{m} destroyed while locked");
        m.Destroyed = true;
    }
    protected void mutex_lock(mutex m) => Kernel.Exec.Acquire(m, LockMode.Exclusive);
    protected void mutex_unlock(mutex m) => Kernel.Exec.Release(m, LockMode.Exclusive);
    protected void down_read(rw_semaphore s) => Kernel.Exec.Acquire(s, LockMode.Shared);
    protected void up_read(rw_semaphore s) => Kernel.Exec.Release(s, LockMode.Shared);
    protected void down_write(rw_semaphore s) => Kernel.Exec.Acquire(s, LockMode.Exclusive);
    protected void up_write(rw_semaphore s) => Kernel.Exec.Release(s, LockMode.Exclusive);
    protected void rcu_read_lock() => Kernel.Exec.RcuReadLock();
    protected void rcu_read_unlock() => Kernel.Exec.RcuReadUnlock();

    // ---- atomics -------------------------------------------------------------------------
    protected void atomic64_add(long i, atomic64_t v) { Kernel.Exec.SchedulePoint("atomic64_add"); Interlocked.Add(ref v.counter, i); }
    protected void atomic64_sub(long i, atomic64_t v) { Kernel.Exec.SchedulePoint("atomic64_sub"); Interlocked.Add(ref v.counter, unchecked(-i)); }
    protected long atomic64_read(atomic64_t v) { Kernel.Exec.SchedulePoint("atomic64_read"); return Interlocked.Read(ref v.counter); }
    protected long atomic_long_read(atomic_long_t v) { Kernel.Exec.SchedulePoint("atomic_long_read"); return Interlocked.Read(ref v.counter); }
    protected void atomic_long_add(long i, atomic_long_t v) { Kernel.Exec.SchedulePoint("atomic_long_add"); Interlocked.Add(ref v.counter, i); }
    protected void atomic_long_sub(long i, atomic_long_t v) { Kernel.Exec.SchedulePoint("atomic_long_sub"); Interlocked.Add(ref v.counter, unchecked(-i)); }
    protected long atomic_long_cmpxchg(atomic_long_t v, long old, long @new)
    {
        Kernel.Exec.SchedulePoint("atomic_long_cmpxchg");
        return Interlocked.CompareExchange(ref v.counter, @new, old);
    }

    /// <summary>container_of(kref, T, kref).</summary>
    protected static T container_of<T>(kref k) where T : class => (T)k.Container!;

    protected void kref_init(kref k) => Volatile.Write(ref k.refcount, 1);
    protected void kref_get(kref k)
    {
        Kernel.Exec.SchedulePoint("kref_get");
        if (Interlocked.Increment(ref k.refcount) <= 1)
            Kernel.Checks.Report(CheckKind.FakeMisuse, "kref_get", "kref_get on a released object");
    }
    /// <summary>Drops a reference; calls <paramref name="release"/> and returns true on the last one.</summary>
    protected bool kref_put(kref k, Action<kref> release)
    {
        Kernel.Exec.SchedulePoint("kref_put");
        int v = Interlocked.Decrement(ref k.refcount);
        if (v < 0)
            Kernel.Checks.Report(CheckKind.FakeMisuse, "kref_put", "kref underflow");
        if (v != 0)
            return false;
        release(k);
        return true;
    }
}

/// <summary>A pointer that may carry an errno (ERR_PTR); exactly one of the two is meaningful.</summary>
public readonly struct ErrPtr<T> where T : class
{
    private ErrPtr(T? value, int error) { Value = value; Error = error; }
    public T? Value { get; }
    public int Error { get; }
    public bool IsErr => Error != 0;
    public static ErrPtr<T> FromError(int err) => new(null, err);
    public static implicit operator ErrPtr<T>(T value) => new(value, 0);
}
