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
}
