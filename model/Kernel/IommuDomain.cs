// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Model.Kernel;

/// <summary>struct iommu_domain_geometry: the IOVA window a domain can translate.</summary>
public readonly record struct iommu_domain_geometry(ulong aperture_start, ulong aperture_end, bool force_aperture);

/// <summary>One translation a domain currently holds: <paramref name="Size"/> bytes of IOVA starting at
/// <paramref name="Iova"/> map to physical addresses starting at <paramref name="Paddr"/>.</summary>
public readonly record struct IommuMapping(ulong Iova, ulong Size, ulong Paddr, int Prot)
{
    public ulong Last => Iova + Size - 1;
    public override string ToString() => $"[{Iova:x}, +{Size:x}) -> {Paddr:x} prot {Prot}";
}

/// <summary>What an <see cref="IommuEvent"/> records.</summary>
public enum IommuEventKind
{
    /// <summary>A core iommu_map() call; <see cref="IommuEvent.Error"/> is its return value and
    /// <see cref="IommuEvent.Bytes"/> what the call left mapped (the size on success, 0 on failure).</summary>
    Map,
    /// <summary>A core iommu_unmap() call; <see cref="IommuEvent.Bytes"/> is its return value.</summary>
    Unmap,
    /// <summary>One driver map_pages() call issued by the core; <see cref="IommuEvent.Bytes"/> is the
    /// driver's <c>mapped</c> output, <see cref="IommuEvent.Error"/> its return value.</summary>
    MapPages,
    /// <summary>One driver unmap_pages() call issued by the core; <see cref="IommuEvent.Bytes"/> is its return value.</summary>
    UnmapPages,
}

/// <summary>
/// One entry of a domain's event log. Entries are appended when the call returns, so a core
/// call follows the driver calls (and, for a failed map, the unwinding unmap) it made.
/// <paramref name="Sequence"/> counts from 1 per domain. For core events <paramref name="Size"/> is the
/// requested size; for driver events it is <c>PageSize * PageCount</c>.
/// </summary>
public sealed record IommuEvent(
    long Sequence, IommuEventKind Kind, ulong Iova, ulong Size, ulong Paddr, int Prot,
    int Error, ulong Bytes, ulong PageSize, ulong PageCount, int ThreadId)
{
    public override string ToString() => Kind switch
    {
        IommuEventKind.Map => $"#{Sequence} map iova {Iova:x} size {Size:x} paddr {Paddr:x} prot {Prot} -> {Error}",
        IommuEventKind.Unmap => $"#{Sequence} unmap iova {Iova:x} size {Size:x} -> {Bytes:x}",
        IommuEventKind.MapPages => $"#{Sequence} map_pages iova {Iova:x} paddr {Paddr:x} {PageCount}x{PageSize:x} -> {Error}, mapped {Bytes:x}",
        _ => $"#{Sequence} unmap_pages iova {Iova:x} {PageCount}x{PageSize:x} -> {Bytes:x}",
    };
}

/// <summary>
/// struct iommu_domain together with its driver ops (<c>domain-&gt;ops</c>): the abstract base of the
/// IOMMU fakes. The IOMMU core (<see cref="KernelApi"/>'s <c>iommu_map</c>, <c>iommu_unmap</c>,
/// <c>iommu_iova_to_phys</c>) checks alignment, splits ranges into page sizes and calls the three ops
/// below; drivers implement them. The base keeps what every fake shares: the page-size bitmap, the
/// geometry, the event log the oracle reads, and the free/use-after-free bookkeeping.
/// Models: a paging domain with map_pages/unmap_pages/iova_to_phys ops and domain free.
/// Does not model: domain types other than paging (identity, blocked, DMA), attach/detach of
/// devices, IOTLB flushing and gather, dirty tracking, iotlb_sync_map.
/// </summary>
public abstract partial class iommu_domain
{
    public ulong pgsize_bitmap;
    public iommu_domain_geometry geometry;

    private readonly object logGate = new();
    private readonly List<IommuEvent> events = [];
    private long sequence;
    private int freed;

    protected iommu_domain(FakeKernel kernel, string name, ulong pgsizeBitmap, iommu_domain_geometry geometry)
    {
        Kernel = kernel;
        Name = name;
        pgsize_bitmap = pgsizeBitmap;
        this.geometry = geometry;
    }

    /// <summary>The kernel this domain belongs to (its checks log and fault injector).</summary>
    public FakeKernel Kernel { get; }

    /// <summary>Test-only hooks that make the driver misbehave on purpose (oracle tests). Unset (the
    /// default) they change nothing; production paths never set them.</summary>
    public IommuDomainTestHooks TestHooks { get; } = new();

    /// <summary>A readable name, given at creation (used in reports and <see cref="ToString"/>).</summary>
    public string Name { get; }

    public bool IsFreed => Volatile.Read(ref freed) != 0;

    public override string ToString() => Name;

    // ---- driver ops ----------------------------------------------------------------------

    /// <summary>ops-&gt;map_pages: maps <paramref name="pgcount"/> pages of <paramref name="pgsize"/> bytes.
    /// Returns 0 or -errno; <paramref name="mapped"/> is the number of bytes now mapped by this call,
    /// which the core unmaps again when the call fails.</summary>
    public abstract int map_pages(ulong iova, ulong paddr, ulong pgsize, ulong pgcount, int prot, out ulong mapped);

    /// <summary>ops-&gt;unmap_pages: returns the number of bytes unmapped (may differ from the request).</summary>
    public abstract ulong unmap_pages(ulong iova, ulong pgsize, ulong pgcount);

    /// <summary>ops-&gt;iova_to_phys.</summary>
    public abstract ulong iova_to_phys(ulong iova);

    // ---- observation for the oracle ------------------------------------------------------

    /// <summary>The current translations in IOVA order, in the domain's own units (a mock 2K entry,
    /// a page-table leaf).</summary>
    public abstract IReadOnlyList<IommuMapping> Mappings { get; }

    /// <summary>Bytes of IOVA currently translated.</summary>
    public abstract ulong MappedBytes { get; }

    public bool IsEmpty => MappedBytes == 0;

    /// <summary>The core-level and driver-level calls made through the IOMMU core, in order.</summary>
    public IReadOnlyList<IommuEvent> Events { get { lock (logGate) return events.ToArray(); } }

    /// <summary>Number of entries in <see cref="Events"/> (the sequence of the last one).</summary>
    public long EventCount { get { lock (logGate) return events.Count; } }

    /// <summary>The events whose sequence is greater than <paramref name="sequence"/>, in order
    /// (what an observer that already saw the first <paramref name="sequence"/> has not seen).</summary>
    public IReadOnlyList<IommuEvent> EventsSince(long sequence)
    {
        lock (logGate)
        {
            int from = (int)Math.Clamp(sequence, 0, events.Count);
            return events.GetRange(from, events.Count - from);
        }
    }

    /// <summary>The name of the driver's free function, used when a non-empty domain is freed.</summary>
    protected abstract string FreeFunction { get; }

    /// <summary>Frees the domain (ops-&gt;free). A domain still holding translations is reported as a
    /// WARN, as the kernel's mock does; freeing twice is reported as misuse.</summary>
    public void Free()
    {
        if (Interlocked.Exchange(ref freed, 1) != 0)
        {
            Kernel.Checks.Report(CheckKind.FakeMisuse, FreeFunction, $"{Name} freed twice");
            return;
        }
        ulong left = MappedBytes;
        if (left != 0)
            Kernel.Checks.Report(CheckKind.Warn, FreeFunction, $"{Name} freed with {left:#,0} bytes still mapped");
    }

    /// <summary>Reports a call on a freed domain; the call then proceeds on the stale storage.</summary>
    protected void CheckAlive(string function)
    {
        if (IsFreed)
            Kernel.Checks.Report(CheckKind.FakeMisuse, function, $"{Name} used after free");
    }

    internal IommuEvent Record(IommuEventKind kind, ulong iova, ulong size, ulong paddr, int prot, int error,
        ulong bytes, ulong pageSize = 0, ulong pageCount = 0)
    {
        lock (logGate)
        {
            var e = new IommuEvent(++sequence, kind, iova, size, paddr, prot, error, bytes, pageSize, pageCount,
                Kernel.Exec.ThreadId);
            events.Add(e);
            return e;
        }
    }
}

/// <summary>
/// Test-only hooks of an iommu_domain driver: each, when set, breaks one documented behaviour so
/// that a test can check that the oracle notices. Never set outside tests.
/// </summary>
public sealed class IommuDomainTestHooks
{
    private int failMaps;

    /// <summary>Rewrites the physical address a map_pages call installs for an IOVA (the event log
    /// still records what the core asked for): the domain then translates to the wrong memory.</summary>
    public Func<ulong, ulong, ulong>? RewritePaddr { get; set; }

    /// <summary>The next this-many map_pages calls fail with the driver's error, as if the
    /// hardware refused, without asking the fault injector.</summary>
    public int FailMaps { get => Volatile.Read(ref failMaps); set => Volatile.Write(ref failMaps, value); }

    /// <summary>Consumes one forced map failure; true if this call must fail.</summary>
    internal bool TakeMapFailure()
    {
        while (true)
        {
            int n = Volatile.Read(ref failMaps);
            if (n <= 0)
                return false;
            if (Interlocked.CompareExchange(ref failMaps, n - 1, n) == n)
                return true;
        }
    }

    /// <summary>The physical address to install for <paramref name="iova"/>.</summary>
    internal ulong Paddr(ulong iova, ulong paddr) => RewritePaddr?.Invoke(iova, paddr) ?? paddr;
}
