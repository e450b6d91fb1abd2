// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;

namespace Iommufd.Model.Callers;

/// <summary>
/// pages.c as its callers see it: the functions of pages.c that io_pagetable.c and device.c call,
/// with the C names and parameter order. This is the seam for the code under test: the C# port
/// (<see cref="Pages"/>) implements it, and so does the kernel's own pages.c compiled behind a
/// shim, so that the same callers, driver and checks run on either.
/// </summary>
public interface IPagesC
{
    ErrPtr<iopt_pages> iopt_alloc_pages(ulong uptr, ulong length, bool writable);
    void iopt_release_pages(kref kref);

    int iopt_area_fill_domain(iopt_area area, iommu_domain domain);
    int iopt_area_fill_domains(iopt_area area, iopt_pages pages);
    void iopt_area_unfill_domain(iopt_area area, iopt_pages pages, iommu_domain domain);
    void iopt_area_unfill_domains(iopt_area area, iopt_pages pages);
    void iopt_area_unmap_domain(iopt_area area, iommu_domain domain);

    int iopt_area_add_access(iopt_area area, ulong start_index, ulong last_index, Ptr<PagePtr> out_pages, uint flags);
    void iopt_area_remove_access(iopt_area area, ulong start_index, ulong last_index);
    int iopt_pages_rw_access(iopt_pages pages, ulong start_byte, Ptr<byte> data, ulong length, uint flags);

    void interval_tree_double_span_iter_first(interval_tree_double_span_iter iter, rb_root_cached itree1, rb_root_cached itree2,
        ulong first_index, ulong last_index);
    void interval_tree_double_span_iter_next(interval_tree_double_span_iter iter);
}
