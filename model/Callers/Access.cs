// SPDX-License-Identifier: GPL-2.0-only
// In-kernel accesses to an IOAS: iommufd_access_create/destroy, iommufd_access_notify_unmap,
// iommufd_access_pin_pages / unpin_pages / rw of device.c, and iopt_add_access /
// iopt_remove_access of io_pagetable.c, Linux v6.2.
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;

namespace Iommufd.Model.Callers;

/// <summary>struct iommufd_access_ops: what an access driver provides.</summary>
public sealed class iommufd_access_ops
{
    /// <summary>The driver pins pages (iova_alignment becomes PAGE_SIZE); otherwise it only uses rw.</summary>
    public bool needs_pin_pages;

    /// <summary>
    /// unmap(data, iova, length): the IOAS wants [iova, iova + length) back; the driver must
    /// unpin everything it pinned there (iommufd_access_unpin_pages) before returning.
    /// </summary>
    public Action<object?, ulong, ulong>? unmap;
}

/// <summary>struct iommufd_access: one in-kernel user (e.g. an emulated device) of an IOAS.</summary>
public sealed class iommufd_access
{
    public IoPagetable ioas = null!;
    public iommufd_access_ops ops = null!;
    public object? data;
    public ulong iova_alignment;
    /// <summary>Index in the IOAS's access_list (xa_alloc, 16 bits).</summary>
    public uint iopt_access_list_id;
    /// <summary>The object is being destroyed: iommufd_lock_obj() fails from then on.</summary>
    internal bool destroying;
}

public sealed partial class IoPagetable
{
    /// <summary>xa_limit_16b: the largest access_list id.</summary>
    private const uint ACCESS_LIST_MAX_ID = 0xffff;

    /// <summary>iopt-&gt;access_list (an XA_FLAGS_ALLOC xarray in v6.2), guarded by its xa_lock.</summary>
    private readonly SortedDictionary<uint, iommufd_access> access_list = [];
    private readonly spinlock_t access_list_lock;

    private int access_list_count()
    {
        Kernel.Exec.Acquire(access_list_lock, LockMode.Exclusive);
        int n = access_list.Count;
        Kernel.Exec.Release(access_list_lock, LockMode.Exclusive);
        return n;
    }

    private List<iommufd_access> access_list_snapshot()
    {
        Kernel.Exec.Acquire(access_list_lock, LockMode.Exclusive);
        var list = access_list.Values.ToList();
        Kernel.Exec.Release(access_list_lock, LockMode.Exclusive);
        return list;
    }

    /// <summary>xa_alloc(&amp;iopt-&gt;access_list, &amp;id, access, xa_limit_16b): the lowest free id, -EBUSY when full.</summary>
    private int access_list_alloc(iommufd_access access)
    {
        Kernel.Exec.Acquire(access_list_lock, LockMode.Exclusive);
        try
        {
            uint id = 0;
            foreach (var used in access_list.Keys)
            {
                if (used != id)
                    break;
                id++;
            }
            if (id > ACCESS_LIST_MAX_ID)
                return -EBUSY;
            access.iopt_access_list_id = id;
            access_list.Add(id, access);
            return 0;
        }
        finally
        {
            Kernel.Exec.Release(access_list_lock, LockMode.Exclusive);
        }
    }

    /// <summary>xa_erase(&amp;iopt-&gt;access_list, id): the removed entry or NULL.</summary>
    private iommufd_access? access_list_erase(uint id)
    {
        Kernel.Exec.Acquire(access_list_lock, LockMode.Exclusive);
        access_list.Remove(id, out var old);
        Kernel.Exec.Release(access_list_lock, LockMode.Exclusive);
        return old;
    }

    /// <summary>
    /// The next access at an index &gt; <paramref name="after"/> (or &gt;= 0 when null) that is not
    /// being destroyed (iommufd_lock_obj), read under the list's lock like xa_for_each does.
    /// </summary>
    private iommufd_access? access_list_next_live(uint? after)
    {
        Kernel.Exec.Acquire(access_list_lock, LockMode.Exclusive);
        try
        {
            foreach (var (id, access) in access_list)
            {
                if (after is not null && id <= after.Value)
                    continue;
                if (!access.destroying)
                    return access;
            }
            return null;
        }
        finally
        {
            Kernel.Exec.Release(access_list_lock, LockMode.Exclusive);
        }
    }

    /// <summary>iopt_add_access(): enter the access list and recompute the alignment (undone on failure).</summary>
    private int iopt_add_access(iommufd_access access)
    {
        down_write(iopt.domains_rwsem);
        down_write(iopt.iova_rwsem);
        int rc = access_list_alloc(access);
        if (rc != 0)
            goto out_unlock;

        rc = iopt_calculate_iova_alignment();
        if (rc != 0)
            access_list_erase(access.iopt_access_list_id);
    out_unlock:
        up_write(iopt.iova_rwsem);
        up_write(iopt.domains_rwsem);
        return rc;
    }

    /// <summary>iopt_remove_access(): leave the access list and recompute the alignment (WARNs).</summary>
    private void iopt_remove_access(iommufd_access access)
    {
        down_write(iopt.domains_rwsem);
        down_write(iopt.iova_rwsem);
        WARN_ON(!ReferenceEquals(access_list_erase(access.iopt_access_list_id), access));
        WARN_ON(iopt_calculate_iova_alignment() != 0);
        up_write(iopt.iova_rwsem);
        up_write(iopt.domains_rwsem);
    }

    /// <summary>
    /// iommufd_access_create(): a new access on this IOAS. Pinning drivers get iova_alignment
    /// PAGE_SIZE, others 1. -ENOMEM if the object cannot be allocated; -EADDRINUSE if an existing
    /// area breaks the raised alignment; -EBUSY if the access list is full.
    /// </summary>
    public ErrPtr<iommufd_access> iommufd_access_create(iommufd_access_ops ops, object? data)
    {
        var access = kzalloc(() => new iommufd_access(), GFP_KERNEL_ACCOUNT);
        if (access is null)
            return ERR_PTR<iommufd_access>(-ENOMEM);

        // No IOVA smaller than PAGE_SIZE can be read yet, but keep the alignment checked.
        access.iova_alignment = ops.needs_pin_pages ? PAGE_SIZE : 1;
        access.data = data;
        access.ops = ops;
        access.ioas = this;

        int rc = iopt_add_access(access);
        if (rc != 0)
        {
            kfree(access);
            return ERR_PTR<iommufd_access>(rc);
        }
        return access;
    }

    /// <summary>iommufd_access_destroy(): the object dies (no more unmap callbacks), leaves the list, is freed.</summary>
    public void iommufd_access_destroy(iommufd_access access)
    {
        WARN_ON(access.destroying);
        access.destroying = true;
        iopt_remove_access(access);
        kfree(access);
    }

    /// <summary>
    /// iommufd_access_notify_unmap(): call every live access's unmap callback for
    /// [iova, iova + length) with no IOAS lock held (the list's lock is dropped around each call).
    /// </summary>
    private void iommufd_access_notify_unmap(ulong iova, ulong length)
    {
        uint? last = null;
        for (var access = access_list_next_live(null); access is not null; access = access_list_next_live(last))
        {
            last = access.iopt_access_list_id;
            access.ops.unmap?.Invoke(access.data, iova, length);
        }
    }

    /// <summary>check_area_prot(): writing needs IOMMU_WRITE, reading IOMMU_READ.</summary>
    private static bool check_area_prot(iopt_area area, uint flags)
    {
        if ((flags & IOMMUFD_ACCESS_RW_WRITE) != 0)
            return (area.iommu_prot & IOMMU_WRITE) != 0;
        return (area.iommu_prot & IOMMU_READ) != 0;
    }

    /// <summary>iopt_area_contig_is_aligned(): the pinned span of each area must be whole pages.</summary>
    private bool iopt_area_contig_is_aligned(iopt_area_contig_iter iter)
    {
        if (iopt_area_start_byte(iter.area!, iter.cur_iova) % PAGE_SIZE != 0)
            return false;

        if (!iopt_area_contig_done(iter) &&
            iopt_area_start_byte(iter.area!, iopt_area_last_iova(iter.area!)) % PAGE_SIZE != PAGE_SIZE - 1)
            return false;
        return true;
    }

    /// <summary>
    /// iommufd_access_pin_pages(): pin the pages behind [iova, iova + length) for the access and
    /// write them to out_pages (one per page, starting with the page holding iova). Under
    /// iova_rwsem read, per area of a contiguous walk: -EINVAL if prevent_access or not
    /// page-aligned, -EPERM if the area lacks the needed protection, then iopt_area_add_access.
    /// -ENOENT for a gap. On failure the areas already done are released. -EINVAL (WARN) for an
    /// access that is not a pinning one; -EINVAL for length 0; -EOVERFLOW on wrap.
    /// </summary>
    public int iommufd_access_pin_pages(iommufd_access access, ulong iova, ulong length,
                                        Ptr<PagePtr> out_pages, uint flags)
    {
        var iopt = access.ioas.iopt;
        var ioas = access.ioas;
        var iter = new iopt_area_contig_iter();
        int rc = 0;

        // The driver's ops must support pinning.
        if (IS_ENABLED(CONFIG_IOMMUFD_TEST) &&
            WARN_ON(access.iova_alignment != PAGE_SIZE || access.ops.unmap is null))
            return -EINVAL;

        if (length == 0)
            return -EINVAL;
        if (check_add_overflow(iova, length - 1, out ulong last_iova))
            return -EOVERFLOW;

        down_read(iopt.iova_rwsem);
        for (var area = ioas.iopt_area_contig_init(iter, iova, last_iova); area is not null; area = iopt_area_contig_next(iter))
        {
            ulong last = min(last_iova, iopt_area_last_iova(area));
            ulong last_index = iopt_area_iova_to_index(area, last);
            ulong index = iopt_area_iova_to_index(area, iter.cur_iova);

            if (area.prevent_access || !iopt_area_contig_is_aligned(iter))
            {
                rc = -EINVAL;
                goto err_remove;
            }

            if (!check_area_prot(area, flags))
            {
                rc = -EPERM;
                goto err_remove;
            }

            rc = Port.iopt_area_add_access(area, index, last_index, out_pages, flags);
            if (rc != 0)
                goto err_remove;
            out_pages += last_index - index + 1;
        }
        if (!iopt_area_contig_done(iter))
        {
            rc = -ENOENT;
            goto err_remove;
        }

        up_read(iopt.iova_rwsem);
        return 0;

    err_remove:
        if (iova < iter.cur_iova)
        {
            last_iova = iter.cur_iova - 1;
            for (var area = ioas.iopt_area_contig_init(iter, iova, last_iova); area is not null; area = iopt_area_contig_next(iter))
                Port.iopt_area_remove_access(area,
                    iopt_area_iova_to_index(area, iter.cur_iova),
                    iopt_area_iova_to_index(area, min(last_iova, iopt_area_last_iova(area))));
        }
        up_read(iopt.iova_rwsem);
        return rc;
    }

    /// <summary>
    /// iommufd_access_unpin_pages(): undo a pin of exactly [iova, iova + length). WARNs on length 0,
    /// on wrap, and if the range is not covered contiguously.
    /// </summary>
    public void iommufd_access_unpin_pages(iommufd_access access, ulong iova, ulong length)
    {
        var iopt = access.ioas.iopt;
        var ioas = access.ioas;
        var iter = new iopt_area_contig_iter();

        if (WARN_ON(length == 0) || WARN_ON(check_add_overflow(iova, length - 1, out ulong last_iova)))
            return;

        down_read(iopt.iova_rwsem);
        for (var area = ioas.iopt_area_contig_init(iter, iova, last_iova); area is not null; area = iopt_area_contig_next(iter))
            Port.iopt_area_remove_access(area,
                iopt_area_iova_to_index(area, iter.cur_iova),
                iopt_area_iova_to_index(area, min(last_iova, iopt_area_last_iova(area))));
        up_read(iopt.iova_rwsem);
        WARN_ON(!iopt_area_contig_done(iter));
    }

    /// <summary>
    /// iommufd_access_rw(): copy between <paramref name="data"/> and [iova, iova + length) of the
    /// IOAS, area by area through iopt_pages_rw_access, under iova_rwsem read. Flags:
    /// IOMMUFD_ACCESS_RW_WRITE, IOMMUFD_ACCESS_RW_KTHREAD, __IOMMUFD_ACCESS_RW_SLOW_PATH.
    /// -EINVAL for length 0 or prevent_access; -EOVERFLOW on wrap; -EPERM without the needed
    /// protection; -ENOENT for a gap (or no area at iova).
    /// </summary>
    public int iommufd_access_rw(iommufd_access access, ulong iova, Ptr<byte> data, ulong length, uint flags)
    {
        var iopt = access.ioas.iopt;
        var ioas = access.ioas;
        var iter = new iopt_area_contig_iter();
        int rc = 0;

        if (length == 0)
            return -EINVAL;
        if (check_add_overflow(iova, length - 1, out ulong last_iova))
            return -EOVERFLOW;

        down_read(iopt.iova_rwsem);
        for (var area = ioas.iopt_area_contig_init(iter, iova, last_iova); area is not null; area = iopt_area_contig_next(iter))
        {
            ulong last = min(last_iova, iopt_area_last_iova(area));
            ulong bytes = last - iter.cur_iova + 1;

            if (area.prevent_access)
            {
                rc = -EINVAL;
                break;
            }

            if (!check_area_prot(area, flags))
            {
                rc = -EPERM;
                break;
            }

            rc = Port.iopt_pages_rw_access(area.pages!, iopt_area_start_byte(area, iter.cur_iova), data, bytes, flags);
            if (rc != 0)
                break;
            data += bytes;
        }
        if (rc == 0 && !iopt_area_contig_done(iter))
            rc = -ENOENT;
        up_read(iopt.iova_rwsem);
        return rc;
    }
}
