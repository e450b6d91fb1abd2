// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Model.Kernel;

namespace Iommufd.Harness.Execution;

/// <summary>
/// Everything the checks read of one world, and the only way they read it: the objects the run
/// created (handles: ids and numbers), the state of the code under test's structures (iopt_pages,
/// areas, io_pagetables) as ids and numbers, and the fakes every backend runs on (frames and pins,
/// mm and user accounting, allocations, the domains' event logs, WARN/lockdep reports, faults).
/// The oracle, the domain ledgers and the fault-injection snapshots never hold a port object, so
/// the same checks judge any backend: the C# port, or the kernel's own pages.c behind a shim.
/// </summary>
public interface IObservation
{
    /// <summary>The fakes the code under test runs on (shared by every backend).</summary>
    FakeKernel Kernel { get; }
    IFaultInjector Faults { get; }

    IReadOnlyList<ProcessHandle> Processes { get; }
    IReadOnlyList<RegionHandle> Regions { get; }
    IReadOnlyList<PagesHandle> PagesList { get; }
    IReadOnlyList<IoptHandle> Iopts { get; }
    IReadOnlyList<AreaHandle> Areas { get; }
    IReadOnlyList<DomainHandle> Domains { get; }
    IReadOnlyList<AccessHandle> Accesses { get; }
    IReadOnlyList<PinHandle> Pins { get; }

    /// <summary>The last rw's buffer (what a read returned, or the data a write wrote).</summary>
    byte[] LastRwData { get; }

    /// <summary>The iopt_pages a CreatePages made (by its handle's id), as it is now.</summary>
    PagesState Pages(int pagesId);

    // For an iopt_pages that is no longer live, the three lists below are what it held when it was
    // freed: a backend never reads freed memory.

    /// <summary>The entries of that iopt_pages' pinned_pfns xarray, in index order.</summary>
    IReadOnlyList<XaEntryState> PinnedPfns(int pagesId);

    /// <summary>The [start, last] page-index ranges in its access_itree, in start order.</summary>
    IReadOnlyList<NodeRange> AccessNodes(int pagesId);

    /// <summary>The [start, last] page-index ranges in its domains_itree, in start order.</summary>
    IReadOnlyList<NodeRange> DomainNodes(int pagesId);

    /// <summary>One io_pagetable (by its handle's id): its areas backed by pages, and its settings.</summary>
    IoptState Iopt(int ioptId);

    /// <summary>The domains stored in that io_pagetable's domains xarray (attached, or being attached).</summary>
    IReadOnlyList<iommu_domain> StoredDomains(int ioptId);
}

/// <summary>One iopt_pages: whether it is still allocated, and its fields.</summary>
public sealed record PagesState(bool Live, ulong NPages, ulong NPinned, ulong LastNPinned, bool MutexHeld, ulong Uptr,
    bool Writable, byte AccountMode, int Kref);

/// <summary>One xarray entry: a value entry (a PFN for pinned_pfns) or something else, rendered.</summary>
public readonly record struct XaEntryState(ulong Index, ulong? Value, string Text)
{
    public override string ToString() => Text;
}

/// <summary>One interval tree node's inclusive range.</summary>
public readonly record struct NodeRange(ulong Start, ulong Last);

/// <summary>One area of an io_pagetable that has pages: its IOVA range, the page indexes it covers,
/// its offset into the first page, its protection, and the pages it maps (the PagesHandle id, or -1
/// if no handle of the run made them).</summary>
public sealed record AreaState(ulong Iova, ulong LastIova, ulong FirstIndex, ulong LastIndex, uint PageOffset, int Prot, int PagesId);

/// <summary>One io_pagetable: its areas with pages in IOVA order, its IOVA alignment, and whether
/// large pages are disabled.</summary>
public sealed record IoptState(IReadOnlyList<AreaState> Areas, ulong IovaAlignment, bool DisableLargePages);
