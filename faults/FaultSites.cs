// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Faults;

/// <summary>
/// Stable names of the fault sites of the model. A site name never changes once published,
/// because it is part of reproducer strings.
/// </summary>
public static class FaultSites
{
    /// <summary><c>iommufd_should_fail()</c> called from the named pages.c function.</summary>
    public static string ShouldFail(string function) => "should_fail@" + function;

    /// <summary>A kmalloc/kzalloc issued by the named function (temp_kmalloc names its attempts).</summary>
    public static string Alloc(string function) => "alloc@" + function;

    /// <summary>The xarray's node allocation under xa_lock (GFP_NOWAIT).</summary>
    public const string XaNodeAllocAtomic = "alloc@xa_node_atomic";
    /// <summary>The xarray's node allocation in xas_nomem (GFP_KERNEL, outside the lock).</summary>
    public const string XasNomem = "alloc@xas_nomem";
    public const string IommuMapMock = "iommu_map@mock";
    public const string IommuMapPageTable = "iommu_map@pagetable";
    public const string GupFail = "gup.fail";
    public const string GupShort = "gup.short";
    public const string GupDropLock = "gup.drop_mmap_lock";
    public const string MmgetNotZero = "mm.mmget_not_zero";
    public const string AccountLockedVm = "mm.account_locked_vm";

    /// <summary>Where a site lives: the seed (pages.c), a fake of a kernel service, or the callers.</summary>
    public enum Origin { PagesC, Fake, Callers }

    /// <summary>One known site.</summary>
    public sealed record Site(string Name, Origin Origin, string Description);

    /// <summary>
    /// Every fault site of the model. Sweeps report which of these they reached and failed;
    /// a site missing here but hit in a run is reported as unknown (a new site must be added).
    /// </summary>
    public static IReadOnlyList<Site> Catalog { get; } =
    [
        new(ShouldFail("temp_kmalloc"), Origin.PagesC, "iommufd_should_fail() in temp_kmalloc (no backup buffer)"),
        new(ShouldFail("pages_to_xarray"), Origin.PagesC, "iommufd_should_fail() half-way through pages_to_xarray"),
        new(ShouldFail("pfn_reader_user_pin"), Origin.PagesC, "iommufd_should_fail() before pinning user pages"),
        new(ShouldFail("pfn_reader_user_update_pinned"), Origin.PagesC, "iommufd_should_fail() before accounting an increase"),
        new(ShouldFail("iopt_pages_rw_page"), Origin.PagesC, "iommufd_should_fail() in the one-page rw path"),
        new(Alloc("temp_kmalloc.limit"), Origin.PagesC, "temp_kmalloc's first kmalloc (up to TEMP_MEMORY_LIMIT)"),
        new(Alloc("temp_kmalloc.page"), Origin.PagesC, "temp_kmalloc's PAGE_SIZE retry when a backup exists"),
        new(Alloc("temp_kmalloc.page_nobackup"), Origin.PagesC, "temp_kmalloc's PAGE_SIZE retry without a backup"),
        new(Alloc("iopt_area_add_access"), Origin.PagesC, "kzalloc of struct iopt_pages_access"),
        new(Alloc("iopt_alloc_pages"), Origin.PagesC, "kzalloc of struct iopt_pages"),
        new(XaNodeAllocAtomic, Origin.Fake, "xarray node allocation under xa_lock (GFP_NOWAIT)"),
        new(XasNomem, Origin.Fake, "xarray node allocation in xas_nomem (GFP_KERNEL)"),
        new(IommuMapMock, Origin.Fake, "the selftest mock domain's map fault point (-ENOENT)"),
        new(IommuMapPageTable, Origin.Fake, "page-table allocation in the page-table domain's map (-ENOMEM)"),
        new(GupFail, Origin.Fake, "pin_user_pages_* fails outright (-ENOMEM)"),
        new(GupShort, Origin.Fake, "pin_user_pages_* pins fewer pages than asked"),
        new(GupDropLock, Origin.Fake, "pin_user_pages_remote drops the mmap lock (*locked = 0)"),
        new(MmgetNotZero, Origin.Fake, "mmget_not_zero fails as if the process were exiting"),
        new(AccountLockedVm, Origin.Fake, "__account_locked_vm refuses an increase as if at RLIMIT_MEMLOCK"),
        new(Alloc("iopt_area_alloc"), Origin.Callers, "kzalloc of struct iopt_area"),
        new(Alloc("iopt_reserve_iova"), Origin.Callers, "kzalloc of struct iopt_reserved (a domain's aperture, on attach)"),
        new(Alloc("iopt_get_pages"), Origin.Callers, "kzalloc of an iopt_pages_list element (IOAS_COPY)"),
        new(Alloc("iommufd_access_create"), Origin.Callers, "kzalloc of struct iommufd_access"),
        new(Alloc("Pin"), Origin.Callers, "the selftest access driver's page array and item"),
        new(Alloc("Rw"), Origin.Callers, "the selftest access driver's bounce buffer"),
    ];
}
