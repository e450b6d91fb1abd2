// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;

namespace Iommufd.Model.Kernel;

/// <summary>gfp_t flags the port passes. Only their fault-relevant meaning is modelled.</summary>
[Flags]
public enum gfp_t : uint
{
    GFP_ATOMIC = 0x1,
    GFP_KERNEL = 0x2,
    __GFP_ACCOUNT = 0x4,
    __GFP_NOWARN = 0x8,
    __GFP_NORETRY = 0x10,
    GFP_KERNEL_ACCOUNT = GFP_KERNEL | __GFP_ACCOUNT,
    GFP_NOWAIT = 0x20,
}

/// <summary>One live allocation, for leak reports.</summary>
public sealed record LiveAllocation(string Site, long Bytes, string What, long Sequence);

/// <summary>
/// kmalloc / kzalloc / kfree. Models: every allocation is a fault site (<c>alloc@site</c>) that
/// the fault injector may fail, like failslab with fail-nth; per-site counts of attempts, failures
/// and live blocks; byte blocks (<see cref="KMem"/>) with use-after-free and bounds checks; typed
/// structure allocations (<c>kzalloc(sizeof(*p))</c>) tracked by identity; kfree(NULL) is a no-op;
/// double free, freeing a stack buffer or an interior pointer are reported; kmalloc(0)
/// returns ZERO_SIZE_PTR (not counted, ignored by kfree) without consulting the fault injector; allocations larger
/// than KMALLOC_MAX_SIZE (4 MiB) fail. Does not model: slab caches, memcg charging of
/// __GFP_ACCOUNT, reclaim, actual memory pressure (only injected failures happen).
/// </summary>
public sealed class Allocator(Checks checks, Func<string, bool> shouldFail)
{
    public const long KMALLOC_MAX_SIZE = 4L << 20;

    private readonly object gate = new();
    private readonly Dictionary<object, LiveAllocation> live = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<string, SiteCounts> sites = new(StringComparer.Ordinal);
    private long sequence;

    public sealed class SiteCounts
    {
        public long Attempts, Failures, Frees;
    }

    public IReadOnlyDictionary<string, SiteCounts> Sites { get { lock (gate) return new Dictionary<string, SiteCounts>(sites); } }
    public IReadOnlyList<LiveAllocation> Live { get { lock (gate) return live.Values.OrderBy(a => a.Sequence).ToArray(); } }
    public int LiveCount { get { lock (gate) return live.Count; } }

    private SiteCounts Site(string site) =>
        sites.TryGetValue(site, out var c) ? c : sites[site] = new SiteCounts();

    /// <summary>Asks the fault injector; counts the attempt.</summary>
    private bool Fails(string site, long size)
    {
        bool fail = shouldFail(FaultSites.Alloc(site)) || size > KMALLOC_MAX_SIZE;
        lock (gate)
        {
            var c = Site(site);
            c.Attempts++;
            if (fail) c.Failures++;
        }
        return fail;
    }

    /// <summary>ZERO_SIZE_PTR: what kmalloc(0) returns; non-NULL, holds no bytes, kfree ignores it.</summary>
    public Ptr<byte> ZERO_SIZE_PTR { get; } = new(new KMem([], KMemKind.ZeroSize, "ZERO_SIZE_PTR"), 0);

    public Ptr<byte> kmalloc(ulong size, gfp_t flags, string site)
    {
        if (size == 0)
            return ZERO_SIZE_PTR;
        if (Fails(site, size > long.MaxValue ? long.MaxValue : (long)size))
        {
            if ((flags & gfp_t.__GFP_NOWARN) == 0 && size > KMALLOC_MAX_SIZE)
                checks.Report(CheckKind.Warn, "kmalloc", $"allocation of {size} bytes exceeds KMALLOC_MAX_SIZE at {site}");
            return Ptr<byte>.NULL;
        }
        var mem = new KMem(new byte[size], KMemKind.Heap, site);
        lock (gate) live[mem] = new LiveAllocation(site, (long)size, "kmalloc", ++sequence);
        return new Ptr<byte>(mem, 0);
    }

    /// <summary><c>kzalloc(sizeof(T))</c> of a structure the model represents as an object.</summary>
    public T? kzalloc<T>(gfp_t flags, string site, Func<T> make) where T : class
    {
        if (Fails(site, 0))
            return null;
        T obj = make();
        lock (gate) live[obj] = new LiveAllocation(site, 0, typeof(T).Name, ++sequence);
        return obj;
    }

    public void kfree(Ptr<byte> p, string caller)
    {
        if (p.IsNull)
            return;
        var mem = p.Mem!;
        if (mem.Kind == KMemKind.ZeroSize)
            return;
        if (mem.Kind != KMemKind.Heap)
        {
            checks.Report(CheckKind.FakeMisuse, caller, $"kfree of non-heap memory {mem.Site}");
            return;
        }
        if (p.ByteOffset != 0)
        {
            checks.Report(CheckKind.FakeMisuse, caller, $"kfree of interior pointer {p}");
            return;
        }
        lock (gate)
        {
            if (mem.Freed || !live.Remove(mem))
            {
                checks.Report(CheckKind.FakeMisuse, caller, $"double kfree of {mem.Site}");
                return;
            }
            mem.Freed = true;
            Site(mem.Site).Frees++;
        }
    }

    public void kfree(object? obj, string caller)
    {
        if (obj is null)
            return;
        if (obj is KMem mem)
        {
            kfree(new Ptr<byte>(mem, 0), caller); // a block goes through the block path
            return;
        }
        lock (gate)
        {
            if (!live.Remove(obj, out var a))
            {
                checks.Report(CheckKind.FakeMisuse, caller, $"kfree of {obj.GetType().Name} not allocated or already freed");
                return;
            }
            Site(a.Site).Frees++;
        }
    }

    /// <summary>True if <paramref name="obj"/> was kzalloc'ed and not yet freed.</summary>
    public bool IsLive(object obj) { lock (gate) return live.ContainsKey(obj); }
}
