// SPDX-License-Identifier: GPL-2.0-only
// STUB for port part 3: the fixed C# signatures of these pages.c functions.
// The helper porting part 3 deletes this file and writes the real functions.
using Iommufd.Model.Kernel;

namespace Iommufd.Model.Port;

public sealed partial class Pages
{
    internal void iopt_area_unpin_domain(pfn_batch batch, iopt_area area, iopt_pages pages, iommu_domain domain, ulong start_index, ulong last_index, ref ulong unmapped_end_index, ulong real_last_index) => throw new NotImplementedException();
    internal void __iopt_area_unfill_domain(iopt_area area, iopt_pages pages, iommu_domain domain, ulong last_index) => throw new NotImplementedException();
    internal void iopt_area_unfill_partial_domain(iopt_area area, iopt_pages pages, iommu_domain domain, ulong end_index) => throw new NotImplementedException();
    public void iopt_area_unmap_domain(iopt_area area, iommu_domain domain) => throw new NotImplementedException();
    public void iopt_area_unfill_domain(iopt_area area, iopt_pages pages, iommu_domain domain) => throw new NotImplementedException();
    public int iopt_area_fill_domain(iopt_area area, iommu_domain domain) => throw new NotImplementedException();
    public int iopt_area_fill_domains(iopt_area area, iopt_pages pages) => throw new NotImplementedException();
    public void iopt_area_unfill_domains(iopt_area area, iopt_pages pages) => throw new NotImplementedException();
    internal void iopt_pages_unpin_xarray(pfn_batch batch, iopt_pages pages, ulong start_index, ulong end_index) => throw new NotImplementedException();
    public void iopt_pages_unfill_xarray(iopt_pages pages, ulong start_index, ulong last_index) => throw new NotImplementedException();
    public void iopt_pages_fill_from_xarray(iopt_pages pages, ulong start_index, ulong last_index, Ptr<PagePtr> out_pages) => throw new NotImplementedException();
    internal int iopt_pages_fill_from_domain(iopt_pages pages, ulong start_index, ulong last_index, Ptr<PagePtr> out_pages) => throw new NotImplementedException();
    internal int iopt_pages_fill_from_mm(iopt_pages pages, pfn_reader_user user, ulong start_index, ulong last_index, Ptr<PagePtr> out_pages) => throw new NotImplementedException();
    public int iopt_pages_fill_xarray(iopt_pages pages, ulong start_index, ulong last_index, Ptr<PagePtr> out_pages) => throw new NotImplementedException();
    internal int iopt_pages_rw_slow(iopt_pages pages, ulong start_index, ulong last_index, ulong offset, Ptr<byte> data, ulong length, uint flags) => throw new NotImplementedException();
    internal int iopt_pages_rw_page(iopt_pages pages, ulong index, ulong offset, Ptr<byte> data, ulong length, uint flags) => throw new NotImplementedException();
    public int iopt_pages_rw_access(iopt_pages pages, ulong start_byte, Ptr<byte> data, ulong length, uint flags) => throw new NotImplementedException();
    internal iopt_pages_access? iopt_pages_get_exact_access(iopt_pages pages, ulong index, ulong last) => throw new NotImplementedException();
    public int iopt_area_add_access(iopt_area area, ulong start_index, ulong last_index, Ptr<PagePtr> out_pages, uint flags) => throw new NotImplementedException();
    public void iopt_area_remove_access(iopt_area area, ulong start_index, ulong last_index) => throw new NotImplementedException();
}
