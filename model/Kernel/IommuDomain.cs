// SPDX-License-Identifier: GPL-2.0-only
// STUB: to be replaced by the iommu fakes.
namespace Iommufd.Model.Kernel;

/// <summary>struct iommu_domain.</summary>
public abstract partial class iommu_domain
{
    public ulong pgsize_bitmap;
}
