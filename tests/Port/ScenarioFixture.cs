// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;
using Iommufd.Model.Selftest;

namespace Iommufd.Tests.Port;

/// <summary>
/// A hand-built stage for calling the pages.c port (lines 1190-1977) directly: one kernel with a
/// fault plan, one user process that is <c>current</c>, a bare <see cref="io_pagetable"/> whose
/// domains xarray the test fills itself, and <see cref="iopt_pages"/>/<see cref="iopt_area"/>
/// objects built field by field the way io_pagetable.c would build them. Where a test needs a
/// caller's locking or bookkeeping around a pages.c call (pages->mutex around
/// iopt_area_fill_domain, domains_itree insertion, domains_rwsem around fill_domains), the helper
/// does exactly what the v6.2 caller does and nothing more, so the pages.c function under test is
/// the only code deciding the outcome. The queries read the fakes' oracles (pin counts, xarray
/// entries, domain mappings and event logs, accounting counters, checks, live allocations).
/// </summary>
internal sealed class ScenarioFixture : IoPagetableH
{
    public const ulong P = PAGE_SIZE;
    /// <summary>Where user memory lives (2 MiB aligned).</summary>
    public const ulong U = 0x7f00_0000_0000UL;
    public const int RW = IOMMU_READ | IOMMU_WRITE;

    public ScenarioFixture(IFaultPlan? plan = null)
        : base(new FakeKernel(new FaultInjector(plan ?? new NoFaults())))
    {
        Task = Kernel.CreateProcess("scenario");
        Kernel.SetCurrent(Task);
        Port = new Pages(Kernel);
        Iopt = new io_pagetable();
        xa_init_flags(Iopt.domains, XA_FLAGS_ACCOUNT);
    }

    public task_struct Task { get; }
    public Pages Port { get; }
    public io_pagetable Iopt { get; }
    public FaultInjector Injector => (FaultInjector)Kernel.Faults;
    public AddressSpace Space => Task.mm!.Space;
    public PhysMem Phys => Kernel.Phys;

    // ---- user memory -----------------------------------------------------------------------

    /// <summary>Maps npages fresh PFN-contiguous frames at va; returns the first PFN.</summary>
    public ulong MapRun(ulong va, ulong npages, ulong alignment = 1, bool writable = true)
    {
        Space.MapNewRun(va, npages, alignment, writable);
        return PfnAt(va);
    }

    /// <summary>
    /// Maps one page per PFN of <paramref name="pfns"/>; every PFN must be an allocated frame.
    /// </summary>
    public void MapFrames(ulong va, IReadOnlyList<ulong> pfns, bool writable = true) =>
        Space.MapFrames(va, pfns, writable);

    /// <summary>
    /// Allocates 2n contiguous frames and returns every other one: n frames no two of which are
    /// PFN-contiguous, so each forms its own batch run.
    /// </summary>
    public ulong[] SparseFrames(int n)
    {
        ulong first = Phys.AllocRun((ulong)(2 * n));
        return Enumerable.Range(0, n).Select(i => first + 2 * (ulong)i).ToArray();
    }

    public ulong PfnAt(ulong va) => Space.Translate(va) ?? throw new InvalidOperationException($"va {va:x} not mapped");

    public ulong[] Pfns(ulong va, int npages) =>
        Enumerable.Range(0, npages).Select(i => PfnAt(va + (ulong)i * P)).ToArray();

    public int[] PinCounts(IEnumerable<ulong> pfns) => pfns.Select(p => Phys.PinCount(p)).ToArray();

    // ---- pages and areas ---------------------------------------------------------------

    /// <summary>iopt_alloc_pages(uptr, length, writable) as current; asserts success.</summary>
    public iopt_pages NewPages(ulong uptr, ulong length, bool writable = true)
    {
        var p = Port.iopt_alloc_pages(uptr, length, writable);
        Assert.False(p.IsErr, $"iopt_alloc_pages: {p.Error}");
        return p.Value!;
    }

    /// <summary>n fresh PFN-contiguous user pages at uptr, one iopt_pages over them and one area
    /// over all of it at iova: the most common starting point of the port's scenarios.</summary>
    public (ulong[] Pfns, iopt_pages Pages, iopt_area Area) RunWithArea(ulong uptr, int n, ulong iova)
    {
        MapRun(uptr, (ulong)n);
        var pages = NewPages(uptr, (ulong)n * P);
        return (Pfns(uptr, n), pages, NewArea(pages, iova, 0, (ulong)n * P));
    }

    /// <summary>
    /// An area as iopt_insert_area fills it: IOVA [iova, iova + length - 1], page indexes of
    /// bytes [startByte, startByte + length - 1] of <paramref name="pages"/>, page_offset =
    /// startByte % PAGE_SIZE, area->pages set (as after IOAS_MAP completes).
    /// </summary>
    public iopt_area NewArea(iopt_pages pages, ulong iova, ulong startByte, ulong length, int prot = RW)
    {
        var area = new iopt_area
        {
            iopt = Iopt,
            pages = pages,
            iommu_prot = prot,
            page_offset = (uint)(startByte % P),
        };
        area.node.start = iova;
        area.node.last = iova + length - 1;
        area.pages_node.start = startByte / P;
        area.pages_node.last = (startByte + length - 1) / P;
        Assert.True(area.pages_node.last < pages.npages);
        return area;
    }

    /// <summary>Drops the creation reference of the pages (iopt_put_pages).</summary>
    public void PutPages(iopt_pages pages) => kref_put(pages.kref, Port.iopt_release_pages);

    // ---- domains -----------------------------------------------------------------------

    public MockDomain NewMock(string name = "mock", bool tagSingleEntryStart = false) =>
        new(Kernel, name, tagSingleEntryStart);

    public PageTableDomain NewPageTable(string name = "pagetable") => new(Kernel, name);

    /// <summary>Stores the domain at index next_domain_id++ of iopt->domains (as iopt_table_add_domain).</summary>
    public void AddDomainSlot(iommu_domain domain)
    {
        var old = xa_store(Iopt.domains, Iopt.next_domain_id, domain, GFP_KERNEL);
        Assert.Null(old);
        Iopt.next_domain_id++;
    }

    /// <summary>Removes the domain from iopt->domains the v6.2 way: the last entry moves into its slot.</summary>
    public void RemoveDomainSlot(iommu_domain domain)
    {
        ulong index = 0;
        for (; index < Iopt.next_domain_id; index++)
            if (ReferenceEquals(xa_load(Iopt.domains, index), domain))
                break;
        Assert.True(index < Iopt.next_domain_id, "domain not attached");
        ulong last = Iopt.next_domain_id - 1u;
        if (index != last)
            xa_store(Iopt.domains, index, xa_load(Iopt.domains, last), GFP_KERNEL);
        xa_erase(Iopt.domains, last);
        Iopt.next_domain_id--;
    }

    /// <summary>A direct iommu_map on the domain (to pre-populate it outside pages.c).</summary>
    public int IommuMap(iommu_domain d, ulong iova, ulong paddr, ulong size, int prot = RW) =>
        iommu_map(d, iova, paddr, size, prot);

    /// <summary>A direct iommu_unmap on the domain; returns the bytes unmapped.</summary>
    public ulong IommuUnmap(iommu_domain d, ulong iova, ulong size) => iommu_unmap(d, iova, size);

    public iommu_domain? DomainAt(ulong index) => (iommu_domain?)xa_load(Iopt.domains, index);

    /// <summary>
    /// What iopt_fill_domain does for one area: under pages->mutex, iopt_area_fill_domain and,
    /// for the first domain, storage_domain and domains_itree.
    /// </summary>
    public int FillDomain(iopt_area area, iommu_domain domain)
    {
        var pages = area.pages!;
        mutex_lock(pages.mutex);
        int rc = Port.iopt_area_fill_domain(area, domain);
        if (rc == 0 && area.storage_domain is null)
        {
            area.storage_domain = domain;
            interval_tree_insert(area.pages_node, pages.domains_itree);
        }
        mutex_unlock(pages.mutex);
        return rc;
    }

    /// <summary>What iopt_unfill_domain does for one area when the last domain goes.</summary>
    public void UnfillLastDomain(iopt_area area, iommu_domain domain)
    {
        var pages = area.pages!;
        mutex_lock(pages.mutex);
        interval_tree_remove(area.pages_node, pages.domains_itree);
        area.storage_domain = null;
        Port.iopt_area_unfill_domain(area, pages, domain);
        mutex_unlock(pages.mutex);
    }

    /// <summary>iopt_area_fill_domains under domains_rwsem read (as iopt_fill_domains_pages).</summary>
    public int FillDomains(iopt_area area)
    {
        down_read(Iopt.domains_rwsem);
        int rc = Port.iopt_area_fill_domains(area, area.pages!);
        up_read(Iopt.domains_rwsem);
        return rc;
    }

    /// <summary>iopt_area_unfill_domains under domains_rwsem read (as an unmap does).</summary>
    public void UnfillDomains(iopt_area area)
    {
        down_read(Iopt.domains_rwsem);
        Port.iopt_area_unfill_domains(area, area.pages!);
        up_read(Iopt.domains_rwsem);
    }

    /// <summary>Runs <paramref name="body"/> with pages->mutex held.</summary>
    public T Locked<T>(iopt_pages pages, Func<T> body)
    {
        mutex_lock(pages.mutex);
        try { return body(); }
        finally { mutex_unlock(pages.mutex); }
    }

    public void Locked(iopt_pages pages, Action body) => Locked(pages, () => { body(); return 0; });

    // ---- accesses ------------------------------------------------------------------------

    /// <summary>A caller's out_pages array of n entries (caller memory, not tracked as a leak).</summary>
    public static Ptr<PagePtr> OutPages(ulong n) => new(KMem.Stack((long)(n * 8)), 0);

    public static ulong[] PfnsOf(Ptr<PagePtr> pages, ulong n) =>
        Enumerable.Range(0, (int)n).Select(i => pages[i].Pfn).ToArray();

    /// <summary>iopt_area_add_access; the returned PFNs in <paramref name="pfns"/> on success.</summary>
    public int AddAccess(iopt_area area, ulong start, ulong last, out ulong[] pfns, uint flags = 0)
    {
        var outPages = OutPages(last - start + 1);
        int rc = Port.iopt_area_add_access(area, start, last, outPages, flags);
        pfns = rc == 0 ? PfnsOf(outPages, last - start + 1) : [];
        return rc;
    }

    public void RemoveAccess(iopt_area area, ulong start, ulong last) => Port.iopt_area_remove_access(area, start, last);

    // ---- oracles -----------------------------------------------------------------------

    /// <summary>pages->pinned_pfns as index -> PFN.</summary>
    public static SortedDictionary<ulong, ulong> Xarray(iopt_pages pages) =>
        new(pages.pinned_pfns.Entries.ToDictionary(e => e.Index, e => ((XaValue)e.Entry).Value));

    public static IReadOnlyList<interval_tree_node> Nodes(rb_root_cached root)
    {
        var list = new List<interval_tree_node>();
        for (var n = interval_tree_iter_first(root, 0, ULONG_MAX); n is not null; n = interval_tree_iter_next(n, 0, ULONG_MAX))
            list.Add(n);
        return list;
    }

    /// <summary>The core iommu_map calls (iova, size, paddr) the domain received, successful or not.</summary>
    public static (ulong Iova, ulong Size, ulong Paddr)[] MapCalls(iommu_domain d) =>
        d.Events.Where(e => e.Kind == IommuEventKind.Map).Select(e => (e.Iova, e.Size, e.Paddr)).ToArray();

    /// <summary>
    /// The iommu_unmap calls (iova, size) the domain received from outside the IOMMU core: the
    /// core's own unwind of a failed iommu_map (v6.2 __iommu_map calls iommu_unmap for what the
    /// failing call mapped, even 0 bytes) is left out. The event log records that unwind just
    /// before the failed Map event it belongs to.
    /// </summary>
    public static (ulong Iova, ulong Size)[] UnmapCalls(iommu_domain d)
    {
        var core = d.Events.Where(e => e.Kind is IommuEventKind.Map or IommuEventKind.Unmap).ToArray();
        var list = new List<(ulong, ulong)>();
        for (int i = 0; i < core.Length; i++)
        {
            if (core[i].Kind != IommuEventKind.Unmap)
                continue;
            bool coreUnwind = i + 1 < core.Length && core[i + 1].Kind == IommuEventKind.Map && core[i + 1].Error != 0;
            if (!coreUnwind)
                list.Add((core[i].Iova, core[i].Size));
        }
        return list.ToArray();
    }

    /// <summary>The PFN the domain translates <paramref name="iova"/> to (PAGE_SIZE granularity).</summary>
    public static ulong DomainPfn(iommu_domain d, ulong iova) => d.iova_to_phys(iova) / P;

    public long LockedVm(iopt_pages pages) => pages.source_user!.locked_vm.Value;
    public long PinnedVm(iopt_pages pages) => pages.source_mm!.pinned_vm.Value;

    public string ChecksText => string.Join("; ", Kernel.Checks.Violations);

    public void AssertNoChecks() => Assert.True(Kernel.Checks.Count == 0, ChecksText);

    /// <summary>
    /// The pages' counters agree with a state where <paramref name="npinned"/> pages are pinned
    /// and accounted: npinned, last_npinned, the user's locked_vm (USER mode) and pinned_vm.
    /// </summary>
    public void AssertPinned(iopt_pages pages, ulong npinned)
    {
        Assert.Equal(npinned, pages.npinned);
        Assert.Equal(npinned, pages.last_npinned);
        Assert.Equal((long)npinned, PinnedVm(pages));
        if (pages.account_mode == IoptPagesAccount.IOPT_PAGES_ACCOUNT_USER)
            Assert.Equal((long)npinned, LockedVm(pages));
    }

    /// <summary>
    /// Releases <paramref name="pages"/> and frees the domains, then asserts nothing is left:
    /// no pin on any frame, no live allocation, no check fired, balanced task/mm/user references.
    /// </summary>
    public void ReleaseAndAssertClean(iopt_pages? pages, params iommu_domain[] domains)
    {
        if (pages is not null)
            PutPages(pages);
        foreach (var d in domains)
            d.Free();
        Assert.Equal(0L, Phys.TotalPins);
        Assert.True(Kernel.Allocator.LiveCount == 0, "live: " + string.Join(", ", Kernel.Allocator.Live));
        AssertNoChecks();
        Assert.Empty(Kernel.ReferenceImbalances());
    }

    /// <summary>
    /// The (site, hit) pairs that the operation of a clean run reaches: <paramref name="arrange"/>
    /// builds the scenario on a fault-free fixture and returns the operation under test; only
    /// the hits made while that operation runs are listed (hit numbers count from the start of
    /// the run, as the fault plans do, so the same arrangement reproduces them).
    /// </summary>
    public static IReadOnlyList<(string Site, long Hit)> SitesReached(Func<ScenarioFixture, Action> arrange)
    {
        var f = new ScenarioFixture();
        var act = arrange(f);
        var before = new Dictionary<string, long>(f.Injector.Hits);
        act();
        return f.Injector.Hits
            .SelectMany(kv => Enumerable.Range(1, (int)kv.Value)
                .Select(h => (Site: kv.Key, Hit: (long)h))
                .Where(x => x.Hit > before.GetValueOrDefault(kv.Key)))
            .OrderBy(x => x.Site, StringComparer.Ordinal).ThenBy(x => x.Hit).ToArray();
    }
}
