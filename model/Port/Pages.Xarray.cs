// SPDX-License-Identifier: GPL-2.0-only
// Port of pages.c lines 517-621: moving PFNs between a pfn_batch or a page array and the
// pinned_pfns xarray (entries are xa_mk_value(pfn)).
using Iommufd.Model.Kernel;

namespace Iommufd.Model.Port;

public sealed partial class Pages
{
    /// <summary>
    /// Under RCU, appends the PFNs stored at [start_index, last_index] of the xarray to the batch,
    /// stopping when the batch is full. Every index in the range is expected to hold a value.
    /// </summary>
    // pages.c:517
    internal void batch_from_xarray(pfn_batch batch, xarray xa, ulong start_index, ulong last_index)
    {
        xa_state xas = XA_STATE(xa, start_index);
        object? entry;

        rcu_read_lock();
        while (true)
        {
            entry = xas_next(xas);
            if (xas_retry(xas, entry))
                continue;
            // A missing entry only warns; xa_to_value of it is then added as a PFN, as in C.
            WARN_ON(!xa_is_value(entry));
            if (!batch_add_pfn(batch, xa_to_value(entry)) ||
                start_index == last_index)
                break;
            start_index++;
        }
        rcu_read_unlock();
    }

    /// <summary>
    /// Under the xarray lock, moves the PFNs at [start_index, last_index] into the batch, erasing
    /// each entry once it is in the batch; stops when the batch is full (that entry stays).
    /// </summary>
    // pages.c:538
    internal void batch_from_xarray_clear(pfn_batch batch, xarray xa, ulong start_index, ulong last_index)
    {
        xa_state xas = XA_STATE(xa, start_index);
        object? entry;

        xas_lock(xas);
        while (true)
        {
            entry = xas_next(xas);
            if (xas_retry(xas, entry))
                continue;
            WARN_ON(!xa_is_value(entry));
            if (!batch_add_pfn(batch, xa_to_value(entry)))
                break;
            xas_store(xas, null);
            if (start_index == last_index)
                break;
            start_index++;
        }
        xas_unlock(xas);
    }

    /// <summary>Erases every present entry of the xarray in [start_index, last_index].</summary>
    // pages.c:561
    internal void clear_xarray(xarray xa, ulong start_index, ulong last_index)
    {
        xa_state xas = XA_STATE(xa, start_index);
        object? entry;

        xas_lock(xas);
        // xas_for_each(&xas, entry, last_index)
        for (entry = xas_find(xas, last_index); entry != null; entry = xas_next_entry(xas, last_index))
            xas_store(xas, null);
        xas_unlock(xas);
    }

    /// <summary>
    /// Stores the PFNs of the page array at [start_index, last_index] of the xarray, retrying
    /// after allocating outside the lock when a store runs out of memory. On failure nothing
    /// stored by this call is left and the error is returned. The test build injects a failure
    /// half-way through (the xarray allocations themselves are not fault sites).
    /// </summary>
    // pages.c:573
    internal int pages_to_xarray(xarray xa, ulong start_index, ulong last_index, Ptr<PagePtr> pages)
    {
        Ptr<PagePtr> end_pages = pages + (last_index - start_index) + 1;
        // (end_pages - pages) is a ptrdiff_t (long), halved with signed division as in C.
        Ptr<PagePtr> half_pages = pages + (end_pages - pages) / 2;
        xa_state xas = XA_STATE(xa, start_index);

        do
        {
            object? old;

            xas_lock(xas);
            while (pages != end_pages)
            {
                // The test build's own fault point, since the xarray has none.
                if (pages == half_pages && iommufd_should_fail())
                {
                    xas_set_err(xas, -EINVAL);
                    xas_unlock(xas);
                    // Used only to free any node the cursor preallocated (xas_destroy).
                    xas_nomem(xas, GFP_KERNEL);
                    goto err_clear;
                }

                old = xas_store(xas, xa_mk_value(page_to_pfn(pages[0])));
                if (xas_error(xas) != 0)
                    break;
                WARN_ON(old != null);
                pages++;
                xas_next(xas);
            }
            xas_unlock(xas);
        } while (xas_nomem(xas, GFP_KERNEL));

    err_clear:
        if (xas_error(xas) != 0)
        {
            if (xas.xa_index != start_index)
                clear_xarray(xa, start_index, xas.xa_index - 1);
            return xas_error(xas);
        }
        return 0;
    }

    /// <summary>Appends the PFNs of <paramref name="npages"/> pages of the array to the batch until it is full.</summary>
    // pages.c:613
    internal void batch_from_pages(pfn_batch batch, Ptr<PagePtr> pages, ulong npages)
    {
        Ptr<PagePtr> end = pages + npages;

        for (; pages != end; pages++)
            if (!batch_add_pfn(batch, page_to_pfn(pages[0])))
                break;
    }
}
