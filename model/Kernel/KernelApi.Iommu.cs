// SPDX-License-Identifier: GPL-2.0-only
// STUB: signatures fixed; bodies to be implemented by the iommu fakes (IommuDomain.cs ...).
namespace Iommufd.Model.Kernel;

public abstract partial class KernelApi
{
    /// <summary>v6.2 iommu_map (no gfp argument): 0 or -errno; on failure nothing of this call stays mapped.</summary>
    protected int iommu_map(iommu_domain domain, ulong iova, ulong paddr, ulong size, int prot) => throw new NotImplementedException();
    /// <summary>Returns the number of bytes unmapped.</summary>
    protected ulong iommu_unmap(iommu_domain domain, ulong iova, ulong size) => throw new NotImplementedException();
    protected ulong iommu_iova_to_phys(iommu_domain domain, ulong iova) => throw new NotImplementedException();
}
