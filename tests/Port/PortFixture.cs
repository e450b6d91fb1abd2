// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;

namespace Iommufd.Tests.Port;

/// <summary>
/// Exposes the protected kernel services of <see cref="KernelApi"/> that the port tests need to
/// build state by hand (xarray stores, value entries) the way pages.c itself would.
/// </summary>
internal sealed class PortApi(FakeKernel kernel) : KernelApi(kernel)
{
    public new object? xa_store(xarray xa, ulong index, object? entry, gfp_t gfp) => base.xa_store(xa, index, entry, gfp);
    public new object? xa_load(xarray xa, ulong index) => base.xa_load(xa, index);
    public static new object xa_mk_value(ulong v) => KernelApi.xa_mk_value(v);
}

/// <summary>
/// A concrete harness for the pages.c tests: one kernel (optionally with a fault plan), one user
/// process that is <c>current</c>, its address space, a <see cref="Pages"/> port instance, and
/// helpers to build <c>iopt_pages</c>, areas, accesses, batches and xarray contents by hand.
/// </summary>
internal sealed class PortFixture
{
    /// <summary>Where the tests' user memory lives (page aligned).</summary>
    public const ulong UserBase = 0x7f00_0000_0000UL;
    public const ulong P = KernelApi.PAGE_SIZE;

    public PortFixture(IFaultPlan? plan = null, ulong memlockLimit = task_struct.DefaultMemlockLimit,
        bool capIpcLock = false, ulong? tempMemoryLimit = null)
    {
        Injector = new FaultInjector(plan ?? new NoFaults());
        Kernel = new FakeKernel(Injector);
        if (tempMemoryLimit is ulong limit)
            Kernel.iommufd_test_memory_limit = limit;
        Task = Kernel.CreateProcess("port-test", memlockLimit: memlockLimit, capIpcLock: capIpcLock);
        Kernel.SetCurrent(Task);
        Port = new Pages(Kernel);
        Api = new PortApi(Kernel);
    }

    /// <summary>Shorthand for a fixture whose plan fails exactly the listed (site, hit) pairs.</summary>
    public static PortFixture Failing(params (string Site, long Hit)[] faults) =>
        new(new ExplicitFaults(faults));

    public FaultInjector Injector { get; }
    public FakeKernel Kernel { get; }
    public task_struct Task { get; }
    public mm_struct Mm => Task.mm!;
    public Pages Port { get; }
    public PortApi Api { get; }

    // ---- user memory -------------------------------------------------------------------

    /// <summary>Maps npages PFN-contiguous frames at va in current's mm; returns the first PFN.</summary>
    public ulong MapRun(ulong va, ulong npages, bool writable = true) =>
        Mm.Space.MapNewRun(va, npages, 1, writable, false).PfnAt(0);

    /// <summary>Maps npages frames that are pairwise not contiguous; returns their PFNs in VA order.</summary>
    public ulong[] MapScattered(ulong va, int npages, ulong seed = 1)
    {
        var vma = Mm.Space.MapNewScattered(va, npages, seed);
        return Enumerable.Range(0, npages).Select(i => vma.PfnAt((ulong)i)).ToArray();
    }

    /// <summary>Allocates fresh contiguous frames that no user mapping refers to.</summary>
    public ulong AllocFrames(ulong count) => Kernel.Phys.AllocRun(count);

    public int PinCount(ulong pfn) => Kernel.Phys.PinCount(pfn);

    // ---- iopt_pages, areas, accesses -----------------------------------------------------

    /// <summary>iopt_alloc_pages for [uptr, uptr + length) of current; asserts success.</summary>
    public iopt_pages NewPages(ulong uptr, ulong length, bool writable = true)
    {
        var p = Port.iopt_alloc_pages(uptr, length, writable);
        Assert.False(p.IsErr, $"iopt_alloc_pages failed with {p.Error}");
        return p.Value!;
    }

    /// <summary>Maps npages contiguous frames at UserBase and creates the iopt_pages over them.</summary>
    public (iopt_pages pages, ulong firstPfn) NewPagesOverRun(ulong npages, bool writable = true)
    {
        ulong pfn = MapRun(UserBase, npages, writable);
        return (NewPages(UserBase, npages * P, writable), pfn);
    }

    /// <summary>
    /// An area over page indexes [firstIndex, lastIndex] of <paramref name="pages"/> at
    /// <paramref name="iova"/> (which includes <paramref name="pageOffset"/>), whose storage
    /// domain is <paramref name="storage"/>; when <paramref name="insert"/> it is put in
    /// domains_itree as iopt_area_fill_domains would.
    /// </summary>
    public iopt_area NewArea(iopt_pages pages, ulong firstIndex, ulong lastIndex, ulong iova, ulong lastIova,
        uint pageOffset = 0, iommu_domain? storage = null, bool insert = true)
    {
        var area = new iopt_area
        {
            iopt = new io_pagetable(),
            pages = pages,
            storage_domain = storage,
            page_offset = pageOffset,
            iommu_prot = KernelApi.IOMMU_READ | KernelApi.IOMMU_WRITE,
        };
        area.pages_node.start = firstIndex;
        area.pages_node.last = lastIndex;
        area.node.start = iova;
        area.node.last = lastIova;
        if (insert)
            pages.domains_itree.Insert(area.pages_node);
        return area;
    }

    /// <summary>An access over [firstIndex, lastIndex] inserted in access_itree.</summary>
    public iopt_pages_access NewAccess(iopt_pages pages, ulong firstIndex, ulong lastIndex)
    {
        var access = new iopt_pages_access { users = 1 };
        access.node.start = firstIndex;
        access.node.last = lastIndex;
        pages.access_itree.Insert(access.node);
        return access;
    }

    /// <summary>Stores xa_mk_value(pfn) at index of the xarray.</summary>
    public void StorePfn(xarray xa, ulong index, ulong pfn)
    {
        var old = Api.xa_store(xa, index, PortApi.xa_mk_value(pfn), KernelApi.GFP_KERNEL);
        Assert.Null(old);
    }

    /// <summary>Index -> PFN of every entry of the xarray.</summary>
    public static Dictionary<ulong, ulong> XaContents(xarray xa) =>
        xa.Entries.ToDictionary(e => e.Index, e => ((XaValue)e.Entry).Value);

    public void Lock(iopt_pages pages) => Kernel.Exec.Acquire(pages.mutex, LockMode.Exclusive);
    public void Unlock(iopt_pages pages) => Kernel.Exec.Release(pages.mutex, LockMode.Exclusive);

    // ---- batches -----------------------------------------------------------------------

    /// <summary>A batch made by batch_init; asserts success.</summary>
    internal pfn_batch NewBatch(ulong maxPages)
    {
        var b = new pfn_batch();
        Assert.Equal(0, Port.batch_init(b, maxPages));
        return b;
    }

    /// <summary>The runs of the batch as (pfn, npfns) pairs, slots 0 .. end - 1.</summary>
    internal static (ulong Pfn, uint N)[] Runs(pfn_batch b) =>
        Enumerable.Range(0, (int)b.end).Select(i => (b.pfns[i], b.npfns[i])).ToArray();

    /// <summary>The PFNs of the batch, run by run, expanded.</summary>
    internal static ulong[] Expand(pfn_batch b) =>
        Runs(b).SelectMany(r => Enumerable.Range(0, (int)r.N).Select(k => r.Pfn + (ulong)k)).ToArray();

    /// <summary>Run-length encoding of a PFN list the way batch_add_pfn groups it (no run limit).</summary>
    internal static (ulong Pfn, uint N)[] Rle(IEnumerable<ulong> pfns)
    {
        var runs = new List<(ulong Pfn, uint N)>();
        foreach (var pfn in pfns)
        {
            if (runs.Count > 0 && runs[^1].Pfn + runs[^1].N == pfn)
                runs[^1] = (runs[^1].Pfn, runs[^1].N + 1);
            else
                runs.Add((pfn, 1));
        }
        return runs.ToArray();
    }

    // ---- checks ------------------------------------------------------------------------

    public string ChecksText => string.Join("; ", Kernel.Checks.Violations);

    /// <summary>The WARN records, as the names of the functions that fired them.</summary>
    public string[] Warns => Kernel.Checks.Violations.Where(v => v.Kind == CheckKind.Warn).Select(v => v.Function).ToArray();

    public void AssertNoChecks() => Assert.True(Kernel.Checks.Count == 0, ChecksText);

    public long Hits(string site) => Injector.Hits.GetValueOrDefault(site);

    public long Attempts(string allocSite) =>
        Kernel.Allocator.Sites.TryGetValue(allocSite, out var c) ? c.Attempts : 0;
}
