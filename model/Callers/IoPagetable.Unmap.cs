// SPDX-License-Identifier: GPL-2.0-only
// Unmapping areas: iopt_unmap_iova_range / iopt_unmap_iova / iopt_unmap_all of io_pagetable.c,
// Linux v6.2, including the retry through the access drivers' unmap callbacks.
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;

namespace Iommufd.Model.Callers;

public sealed partial class IoPagetable
{
    /// <summary>
    /// iopt_unmap_iova_range(): unmap every area inside [start, last]. Only whole areas may go
    /// (-ENOENT if one sticks out, or if nothing was unmapped); an area still being set up gives
    /// -EBUSY. An area with accesses is marked prevent_access, both locks are dropped, every access
    /// driver is asked to unpin the area's range, and the walk restarts; if the accesses remain,
    /// WARN and -EDEADLOCK (then <paramref name="unmapped"/> is 0, as v6.2 leaves it untouched).
    /// </summary>
    public int iopt_unmap_iova_range(ulong start, ulong last, out ulong unmapped)
    {
        iopt_area? area;
        ulong unmapped_bytes = 0;
        int rc = -ENOENT;
        unmapped = 0;

    again:
        // domains_rwsem read is held whenever some area->pages is NULL, so attach/detach cannot
        // run while an area is being cleaned up.
        down_read(iopt.domains_rwsem);
        down_write(iopt.iova_rwsem);
        while ((area = iopt_area_iter_first(start, last)) is not null)
        {
            ulong area_last = iopt_area_last_iova(area);
            ulong area_first = iopt_area_iova(area);

            // User space racing map and unmap of the same area.
            if (area.pages is null)
            {
                rc = -EBUSY;
                goto out_unlock_iova;
            }

            if (area_first < start || area_last > last)
            {
                rc = -ENOENT;
                goto out_unlock_iova;
            }

            // Writers of num_accesses also hold iova_rwsem, so reading it under the write side is safe.
            if (area.num_accesses != 0)
            {
                start = area_first;
                area.prevent_access = true;
                up_write(iopt.iova_rwsem);
                up_read(iopt.domains_rwsem);
                iommufd_access_notify_unmap(area_first, iopt_area_length(area));
                if (WARN_ON(Volatile.Read(ref area.num_accesses) != 0))
                    return -EDEADLOCK;
                goto again;
            }

            var pages = area.pages;
            area.pages = null;
            up_write(iopt.iova_rwsem);

            Port.iopt_area_unfill_domains(area, pages);
            iopt_abort_area(area);
            iopt_put_pages(pages);

            unmapped_bytes += area_last - area_first + 1;

            down_write(iopt.iova_rwsem);
        }
        if (unmapped_bytes != 0)
            rc = 0;

    out_unlock_iova:
        up_write(iopt.iova_rwsem);
        up_read(iopt.domains_rwsem);
        unmapped = unmapped_bytes;
        return rc;
    }

    /// <summary>iopt_unmap_iova() (IOAS_UNMAP of a range): -EINVAL for length 0, -EOVERFLOW on wrap.</summary>
    public int iopt_unmap_iova(ulong iova, ulong length, out ulong unmapped)
    {
        unmapped = 0;
        if (length == 0)
            return -EINVAL;

        if (check_add_overflow(iova, length - 1, out ulong iova_last))
            return -EOVERFLOW;

        return iopt_unmap_iova_range(iova, iova_last, out unmapped);
    }

    /// <summary>iopt_unmap_all(): unmap everything; an empty IOAS is a success.</summary>
    public int iopt_unmap_all(out ulong unmapped)
    {
        int rc = iopt_unmap_iova_range(0, ULONG_MAX, out unmapped);
        if (rc == -ENOENT)
            return 0;
        return rc;
    }
}
