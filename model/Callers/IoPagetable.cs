// SPDX-License-Identifier: GPL-2.0-only
// The callers of pages.c: an io_pagetable layer modelled on drivers/iommu/iommufd/io_pagetable.c
// and device.c of Linux v6.2. This file holds the object, its initialisation, the area iterators,
// iopt_put_pages and the teardown helpers; the operations live in the other partial files.
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;
using Iommufd.Model.Selftest;

namespace Iommufd.Model.Callers;

/// <summary>
/// One element of a pages list (<c>struct iopt_pages_list</c>): a slice of an iopt_pages that
/// holds one kref on <see cref="pages"/> until the reference is moved into <see cref="area"/>.
/// </summary>
public sealed class iopt_pages_list
{
    public iopt_pages? pages;
    public iopt_area? area;
    public ulong start_byte;
    public ulong length;
}

/// <summary>
/// One IOAS: an <see cref="io_pagetable"/> and the code of io_pagetable.c / device.c that drives
/// pages.c on it, under the v6.2 lock order domains_rwsem -&gt; iova_rwsem -&gt; pages-&gt;mutex.
/// Every public operation returns the kernel return code (0 or -errno) and its out parameters as
/// the kernel would. What is simplified relative to v6.2 is listed in model/Callers/NOTES.md
/// (reserved ranges only for domain apertures, no allowed ranges, access_list as a plain ordered map).
/// </summary>
public sealed partial class IoPagetable : IoPagetableH
{
    /// <summary>iopt_map_pages() flag: choose the IOVA (otherwise *iova is fixed).</summary>
    public const uint IOPT_ALLOC_IOVA = 1 << 0;

    public const int EEXIST = 17, EOPNOTSUPP = 95, EADDRINUSE = 98;

    /// <summary>Creates and initialises an empty io_pagetable (iopt_init_table).</summary>
    /// <param name="kernel">The simulated kernel.</param>
    /// <param name="port">The pages.c to call (the port, or the kernel's own C); a fresh port if null.
    /// Several IOASes may share it.</param>
    public IoPagetable(FakeKernel kernel, IPagesC? port = null) : base(kernel)
    {
        Port = port ?? new Pages(kernel);
        iopt = new io_pagetable();
        access_list_lock = new spinlock_t("io_pagetable.access_list.xa_lock");
        iopt_init_table();
    }

    /// <summary>The io_pagetable this IOAS owns (the structure pages.c reads).</summary>
    public io_pagetable iopt { get; }

    /// <summary>The pages.c every operation calls.</summary>
    public IPagesC Port { get; }

    /// <summary>
    /// ictx-&gt;account_mode: IOPT_PAGES_ACCOUNT_USER by default; when set to
    /// IOPT_PAGES_ACCOUNT_MM, new pages created by <see cref="iopt_map_user_pages"/> whose mode is
    /// USER are switched to MM, as the ioctl layer of v6.2 does.
    /// </summary>
    public byte account_mode { get; set; } = IoptPagesAccount.IOPT_PAGES_ACCOUNT_USER;

    /// <summary>iopt_init_table(): empty trees, XA_FLAGS_ACCOUNT domains, no alignment restriction.</summary>
    private void iopt_init_table()
    {
        xa_init_flags(iopt.domains, XA_FLAGS_ACCOUNT);
        iopt.next_domain_id = 0;
        iopt.iova_alignment = 1;
    }

    // ---- io_pagetable.h iterators -------------------------------------------------------

    /// <summary>iopt_area_iter_first(): the first area overlapping [start, last]; needs iova_rwsem.</summary>
    internal iopt_area? iopt_area_iter_first(ulong start, ulong last)
    {
        lockdep_assert_held(iopt.iova_rwsem);
        var node = interval_tree_iter_first(iopt.area_itree, start, last);
        return node is null ? null : container_of<iopt_area>(node);
    }

    /// <summary>iopt_reserved_iter_first(): the first reservation overlapping [start, last]; needs iova_rwsem.</summary>
    internal iopt_reserved? iopt_reserved_iter_first(ulong start, ulong last)
    {
        lockdep_assert_held(iopt.iova_rwsem);
        var node = interval_tree_iter_first(iopt.reserved_itree, start, last);
        return node is null ? null : container_of<iopt_reserved>(node);
    }

    /// <summary>iopt_reserved_iter_next(): the next reservation overlapping [start, last].</summary>
    internal static iopt_reserved? iopt_reserved_iter_next(iopt_reserved last_node, ulong start, ulong last)
    {
        var node = interval_tree_iter_next(last_node.node, start, last);
        return node is null ? null : container_of<iopt_reserved>(node);
    }

    /// <summary>iopt_area_iter_next(): the next area overlapping [start, last].</summary>
    internal static iopt_area? iopt_area_iter_next(iopt_area last_node, ulong start, ulong last)
    {
        var node = interval_tree_iter_next(last_node.node, start, last);
        return node is null ? null : container_of<iopt_area>(node);
    }

    /// <summary>struct iopt_area_contig_iter: walks the areas covering [cur_iova, last_iova] contiguously.</summary>
    internal sealed class iopt_area_contig_iter
    {
        public ulong cur_iova;
        public ulong last_iova;
        public iopt_area? area;
    }

    /// <summary>iopt_area_contig_init(): the area holding iova, NULL if none or not fully set up.</summary>
    internal iopt_area? iopt_area_contig_init(iopt_area_contig_iter iter, ulong iova, ulong last_iova)
    {
        lockdep_assert_held(iopt.iova_rwsem);

        iter.cur_iova = iova;
        iter.last_iova = last_iova;
        iter.area = iopt_area_iter_first(iova, iova);
        if (iter.area is null)
            return null;
        if (iter.area.pages is null)
        {
            iter.area = null;
            return null;
        }
        return iter.area;
    }

    /// <summary>iopt_area_contig_next(): the area that starts right after the current one, or NULL.</summary>
    internal static iopt_area? iopt_area_contig_next(iopt_area_contig_iter iter)
    {
        if (iter.area is null)
            return null;
        ulong last_iova = iopt_area_last_iova(iter.area);
        if (iter.last_iova <= last_iova)
            return null;

        iter.cur_iova = last_iova + 1;
        iter.area = iopt_area_iter_next(iter.area, iter.cur_iova, iter.last_iova);
        if (iter.area is null)
            return null;
        if (iter.cur_iova != iopt_area_iova(iter.area) || iter.area.pages is null)
        {
            iter.area = null;
            return null;
        }
        return iter.area;
    }

    /// <summary>iopt_area_contig_done(): the walk reached last_iova without a gap.</summary>
    internal static bool iopt_area_contig_done(iopt_area_contig_iter iter) =>
        iter.area is not null && iter.last_iova <= iopt_area_last_iova(iter.area);

    /// <summary>xa_for_each(&amp;iopt-&gt;domains, index, domain): the first step.</summary>
    private iommu_domain? domains_first(ref ulong index)
    {
        index = 0;
        return (iommu_domain?)xa_find(iopt.domains, ref index, ULONG_MAX, XA_PRESENT);
    }

    /// <summary>xa_for_each(&amp;iopt-&gt;domains, index, domain): the following steps.</summary>
    private iommu_domain? domains_next(ref ulong index) =>
        (iommu_domain?)xa_find_after(iopt.domains, ref index, ULONG_MAX, XA_PRESENT);

    // ---- references ----------------------------------------------------------------------

    /// <summary>iopt_put_pages(): kref_put with iopt_release_pages as the release function.</summary>
    public void iopt_put_pages(iopt_pages pages) => kref_put(pages.kref, Port.iopt_release_pages);

    // ---- snapshots for the harness (read under iova_rwsem) -------------------------------

    /// <summary>The areas of this IOAS in IOVA order, read under iova_rwsem read.</summary>
    public IReadOnlyList<iopt_area> Areas()
    {
        var list = new List<iopt_area>();
        down_read(iopt.iova_rwsem);
        for (var area = iopt_area_iter_first(0, ULONG_MAX); area is not null; area = iopt_area_iter_next(area, 0, ULONG_MAX))
            list.Add(area);
        up_read(iopt.iova_rwsem);
        return list;
    }

    /// <summary>The attached domains in iopt-&gt;domains order (index 0 first), read under domains_rwsem read.</summary>
    public IReadOnlyList<iommu_domain> Domains()
    {
        var list = new List<iommu_domain>();
        down_read(iopt.domains_rwsem);
        ulong index = 0;
        for (var d = domains_first(ref index); d is not null; d = domains_next(ref index))
            list.Add(d);
        up_read(iopt.domains_rwsem);
        return list;
    }

    // ---- teardown ------------------------------------------------------------------------

    /// <summary>
    /// iopt_destroy_table(): WARNs if any domain, access or area is left (there are never reserved
    /// or allowed ranges in this model).
    /// </summary>
    public void iopt_destroy_table()
    {
        WARN_ON(!RB_EMPTY_ROOT(iopt.reserved_itree));
        WARN_ON(!xa_empty(iopt.domains));
        WARN_ON(access_list_count() != 0);
        WARN_ON(!RB_EMPTY_ROOT(iopt.area_itree));
    }

    /// <summary>
    /// iommufd_ioas_destroy(): unmap everything (WARN on a failure other than -ENOENT), then
    /// iopt_destroy_table(). Domains and accesses must have been removed first, as the kernel's
    /// object references guarantee.
    /// </summary>
    public int iommufd_ioas_destroy()
    {
        int rc = iopt_unmap_all(out _);
        WARN_ON(rc != 0 && rc != -ENOENT);
        iopt_destroy_table();
        return rc;
    }

    /// <summary>
    /// Detaches every domain, last index first (what closing the devices' hw_pagetables does),
    /// through <see cref="iopt_table_remove_domain"/>. Returns the detached domains.
    /// </summary>
    public IReadOnlyList<iommu_domain> DetachAllDomains()
    {
        var domains = Domains();
        for (int i = domains.Count - 1; i >= 0; i--)
            iopt_table_remove_domain(domains[i]);
        return domains;
    }

    /// <summary>
    /// The full teardown the harness uses: every access driver is closed the way the selftest's
    /// access file release does it (its unmap callback over [0, ULONG_MAX - 1], then
    /// iommufd_access_destroy), every domain is detached, everything is unmapped and the table is
    /// destroyed. Returns the iopt_unmap_all() code.
    /// </summary>
    public int TearDown()
    {
        foreach (var access in access_list_snapshot())
        {
            if (access.data is MockAccess driver)
            {
                driver.Close();
                continue;
            }
            access.ops.unmap?.Invoke(access.data, 0, ULONG_MAX);
            iommufd_access_destroy(access);
        }
        DetachAllDomains();
        return iommufd_ioas_destroy();
    }
}
