// SPDX-License-Identifier: GPL-2.0-only
// STUB for port part 1: the fixed C# signatures of these pages.c functions.
// The helper porting part 1 deletes this file and writes the real functions.
using Iommufd.Model.Kernel;

namespace Iommufd.Model.Port;

public sealed partial class Pages
{
    internal Ptr<byte> temp_kmalloc(ref ulong size, Ptr<byte> backup, ulong backup_len) => throw new NotImplementedException();
    public void interval_tree_double_span_iter_update(interval_tree_double_span_iter iter) => throw new NotImplementedException();
    public void interval_tree_double_span_iter_first(interval_tree_double_span_iter iter, rb_root_cached itree1, rb_root_cached itree2, ulong first_index, ulong last_index) => throw new NotImplementedException();
    public void interval_tree_double_span_iter_next(interval_tree_double_span_iter iter) => throw new NotImplementedException();
    internal void iopt_pages_add_npinned(iopt_pages pages, ulong npages) => throw new NotImplementedException();
    internal void iopt_pages_sub_npinned(iopt_pages pages, ulong npages) => throw new NotImplementedException();
    internal void iopt_pages_err_unpin(iopt_pages pages, ulong start_index, ulong last_index, Ptr<PagePtr> page_list) => throw new NotImplementedException();
    internal ulong iopt_area_index_to_iova(iopt_area area, ulong index) => throw new NotImplementedException();
    internal ulong iopt_area_index_to_iova_last(iopt_area area, ulong index) => throw new NotImplementedException();
    internal void iommu_unmap_nofail(iommu_domain domain, ulong iova, ulong size) => throw new NotImplementedException();
    internal void iopt_area_unmap_domain_range(iopt_area area, iommu_domain domain, ulong start_index, ulong last_index) => throw new NotImplementedException();
    internal iopt_area? iopt_pages_find_domain_area(iopt_pages pages, ulong index) => throw new NotImplementedException();
    internal void batch_clear(pfn_batch batch) => throw new NotImplementedException();
    internal void batch_clear_carry(pfn_batch batch, uint keep_pfns) => throw new NotImplementedException();
    internal void batch_skip_carry(pfn_batch batch, uint skip_pfns) => throw new NotImplementedException();
    internal int __batch_init(pfn_batch batch, ulong max_pages, Ptr<byte> backup, ulong backup_len) => throw new NotImplementedException();
    internal int batch_init(pfn_batch batch, ulong max_pages) => throw new NotImplementedException();
    internal void batch_init_backup(pfn_batch batch, ulong max_pages, Ptr<byte> backup, ulong backup_len) => throw new NotImplementedException();
    internal void batch_destroy(pfn_batch batch, Ptr<byte> backup) => throw new NotImplementedException();
    internal bool batch_add_pfn(pfn_batch batch, ulong pfn) => throw new NotImplementedException();
    internal void batch_from_domain(pfn_batch batch, iommu_domain domain, iopt_area area, ulong start_index, ulong last_index) => throw new NotImplementedException();
    internal Ptr<PagePtr> raw_pages_from_domain(iommu_domain domain, iopt_area area, ulong start_index, ulong last_index, Ptr<PagePtr> out_pages) => throw new NotImplementedException();
    internal void batch_from_domain_continue(pfn_batch batch, iommu_domain domain, iopt_area area, ulong start_index, ulong last_index) => throw new NotImplementedException();
    internal int batch_iommu_map_small(iommu_domain domain, ulong iova, ulong paddr, ulong size, int prot) => throw new NotImplementedException();
    internal int batch_to_domain(pfn_batch batch, iommu_domain domain, iopt_area area, ulong start_index) => throw new NotImplementedException();
    internal void batch_from_xarray(pfn_batch batch, xarray xa, ulong start_index, ulong last_index) => throw new NotImplementedException();
    internal void batch_from_xarray_clear(pfn_batch batch, xarray xa, ulong start_index, ulong last_index) => throw new NotImplementedException();
    internal void clear_xarray(xarray xa, ulong start_index, ulong last_index) => throw new NotImplementedException();
    internal int pages_to_xarray(xarray xa, ulong start_index, ulong last_index, Ptr<PagePtr> pages) => throw new NotImplementedException();
    internal void batch_from_pages(pfn_batch batch, Ptr<PagePtr> pages, ulong npages) => throw new NotImplementedException();
    internal void batch_unpin(pfn_batch batch, iopt_pages pages, uint first_page_off, ulong npages) => throw new NotImplementedException();
    internal void copy_data_page(PagePtr page, Ptr<byte> data, ulong offset, ulong length, uint flags) => throw new NotImplementedException();
    internal ulong batch_rw(pfn_batch batch, Ptr<byte> data, ulong offset, ulong length, uint flags) => throw new NotImplementedException();
}
