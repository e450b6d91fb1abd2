// SPDX-License-Identifier: GPL-2.0-only
// Port of pages.c lines 259-515 and 623-690: struct pfn_batch and its operations, moving PFNs
// between a batch and an iommu_domain, unpinning a batch, and copying data through a batch.
using Iommufd.Model.Kernel;
using Iommufd.Model.Patches;

namespace Iommufd.Model.Port;

public sealed partial class Pages
{
    /// <summary>Empties the batch; slot 0 is zeroed so it is a valid empty run.</summary>
    // pages.c:275
    internal void batch_clear(pfn_batch batch)
    {
        batch.total_pfns = 0;
        batch.end = 0;
        batch.pfns[0] = 0;
        batch.npfns[0] = 0;
    }

    /// <summary>
    /// Empties the batch except for the last <paramref name="keep_pfns"/> PFNs of its last run,
    /// which are meant to move to slot 0 (ported as in v6.2; see PORTING.md, Surprises S1, and docs/findings/0001 for why the
    /// result is not that).
    /// </summary>
    // pages.c:287
    internal void batch_clear_carry(pfn_batch batch, uint keep_pfns)
    {
        if (keep_pfns == 0)
        {
            batch_clear(batch);
            return;
        }

        if (IS_ENABLED(CONFIG_IOMMUFD_TEST))
            WARN_ON(batch.end == 0 ||
                    batch.npfns[batch.end - 1] < keep_pfns);

        batch.total_pfns = keep_pfns;
        if (!PATCHED(ModelPatches.BatchCarryOrder))
        {
            // As released: npfns[0] is written before npfns[end - 1] is read below, so with a
            // single run the carry starts at the run's first PFN (docs/findings/0001).
            batch.npfns[0] = keep_pfns;
            batch.pfns[0] = batch.pfns[batch.end - 1] +
                            (batch.npfns[batch.end - 1] - keep_pfns);
        }
        else
        {
            batch.pfns[0] = batch.pfns[batch.end - 1] +
                            (batch.npfns[batch.end - 1] - keep_pfns);
            batch.npfns[0] = keep_pfns;
        }
        // As released the carried run is left outside [0, end), so the next batch_add_pfn
        // overwrites it (docs/findings/0001); the patch keeps it as run 0.
        batch.end = PATCHED(ModelPatches.BatchCarryEnd) ? 1u : 0u;
    }

    /// <summary>Drops up to <paramref name="skip_pfns"/> PFNs from the front of a carried (single run) batch.</summary>
    // pages.c:303
    internal void batch_skip_carry(pfn_batch batch, uint skip_pfns)
    {
        if (batch.total_pfns == 0)
            return;
        if (IS_ENABLED(CONFIG_IOMMUFD_TEST))
            WARN_ON(batch.total_pfns != batch.npfns[0]);
        skip_pfns = min(batch.total_pfns, skip_pfns);
        batch.pfns[0] += skip_pfns;
        batch.npfns[0] -= skip_pfns;
        batch.total_pfns -= skip_pfns;
        // With batch-carry-end the carry is run 0 of [0, end); skipped to nothing it would stay
        // there as an empty run that a one-run batch cannot add to (docs/findings/0001, follow-up).
        if (PATCHED(ModelPatches.BatchSkipCarryEmpty) && batch.total_pfns == 0)
            batch_clear(batch);
    }

    /// <summary>
    /// Allocates the batch arrays for up to <paramref name="max_pages"/> runs (fewer if memory is
    /// short): one block holding the pfns array followed by the npfns array.
    /// </summary>
    // pages.c:315
    internal int __batch_init(pfn_batch batch, ulong max_pages, Ptr<byte> backup, ulong backup_len)
    {
        // sizeof(*batch->pfns) + sizeof(*batch->npfns) = 8 + 4.
        const ulong elmsz = sizeof(ulong) + sizeof(uint);
        ulong size = max_pages * elmsz;

        batch.pfns = temp_kmalloc(ref size, backup, backup_len).Cast<ulong>();
        if (batch.pfns.IsNull)
            return -ENOMEM;
        if (IS_ENABLED(CONFIG_IOMMUFD_TEST) && WARN_ON(size < elmsz))
            return -EINVAL;
        // size_t quotient stored in the unsigned int array_size: C truncates, so does the cast.
        batch.array_size = (uint)(size / elmsz);
        batch.npfns = (batch.pfns + batch.array_size).Cast<uint>();
        batch_clear(batch);
        return 0;
    }

    /// <summary>Allocates a batch without a backup buffer; may fail with -ENOMEM.</summary>
    // pages.c:332
    internal int batch_init(pfn_batch batch, ulong max_pages)
    {
        return __batch_init(batch, max_pages, Ptr<byte>.NULL, 0);
    }

    /// <summary>Allocates a batch that falls back to the caller's backup buffer; the result is ignored, as in C.</summary>
    // pages.c:337
    internal void batch_init_backup(pfn_batch batch, ulong max_pages, Ptr<byte> backup, ulong backup_len)
    {
        __batch_init(batch, max_pages, backup, backup_len);
    }

    /// <summary>Frees the batch memory unless it is the caller's backup buffer.</summary>
    // pages.c:343
    internal void batch_destroy(pfn_batch batch, Ptr<byte> backup)
    {
        if (batch.pfns.AsVoid() != backup)
            kfree(batch.pfns);
    }

    /// <summary>
    /// Appends one PFN, extending the last run when contiguous (and the u32 run length has room)
    /// or starting a new run; false when a new run is needed and the array is full.
    /// </summary>
    // pages.c:350
    internal bool batch_add_pfn(pfn_batch batch, ulong pfn)
    {
        // type_max(typeof(*batch->npfns)) = type_max(u32).
        uint MAX_NPFNS = type_max_u32;

        if (batch.end != 0 &&
            pfn == batch.pfns[batch.end - 1] + batch.npfns[batch.end - 1] &&
            batch.npfns[batch.end - 1] != MAX_NPFNS)
        {
            batch.npfns[batch.end - 1]++;
            batch.total_pfns++;
            return true;
        }
        if (batch.end == batch.array_size)
            return false;
        batch.total_pfns++;
        batch.pfns[batch.end] = pfn;
        batch.npfns[batch.end] = 1;
        batch.end++;
        return true;
    }

    /// <summary>
    /// Reads the PFNs of pages [start_index, last_index] back from the domain (one
    /// iova_to_phys per page) into the batch, stopping early when the batch is full; the caller
    /// learns how far it got from total_pfns.
    /// </summary>
    // pages.c:375
    internal void batch_from_domain(pfn_batch batch, iommu_domain domain, iopt_area area, ulong start_index, ulong last_index)
    {
        uint page_offset = 0;
        ulong iova;
        ulong phys;

        iova = iopt_area_index_to_iova(area, start_index);
        if (start_index == iopt_area_index(area))
            page_offset = area.page_offset;
        while (start_index <= last_index)
        {
            // phys_addr_t - unsigned int: the uint widens to ulong.
            phys = iommu_iova_to_phys(domain, iova) - page_offset;
            if (!batch_add_pfn(batch, PHYS_PFN(phys)))
                return;
            iova += PAGE_SIZE - page_offset;
            page_offset = 0;
            start_index++;
        }
    }

    /// <summary>
    /// Reads the pages [start_index, last_index] back from the domain into the page array
    /// <paramref name="out_pages"/>; returns the position after the last page written.
    /// </summary>
    // pages.c:402
    internal Ptr<PagePtr> raw_pages_from_domain(iommu_domain domain, iopt_area area, ulong start_index, ulong last_index, Ptr<PagePtr> out_pages)
    {
        uint page_offset = 0;
        ulong iova;
        ulong phys;

        iova = iopt_area_index_to_iova(area, start_index);
        if (start_index == iopt_area_index(area))
            page_offset = area.page_offset;
        while (start_index <= last_index)
        {
            phys = iommu_iova_to_phys(domain, iova) - page_offset;
            // *(out_pages++) = ...: store through the old pointer, then advance.
            out_pages[0] = pfn_to_page(PHYS_PFN(phys));
            out_pages += 1;
            iova += PAGE_SIZE - page_offset;
            page_offset = 0;
            start_index++;
        }
        return out_pages;
    }

    /// <summary>
    /// Like batch_from_domain but only extends the runs already in the batch: it stops at the
    /// first PFN that would need a new run (array_size is temporarily clamped to end).
    /// </summary>
    // pages.c:426
    internal void batch_from_domain_continue(pfn_batch batch, iommu_domain domain, iopt_area area, ulong start_index, ulong last_index)
    {
        uint array_size = batch.array_size;

        batch.array_size = batch.end;
        batch_from_domain(batch, domain, area, start_index, last_index);
        batch.array_size = array_size;
    }

    /// <summary>
    /// Maps a range one PAGE_SIZE at a time (VFIO type1 compatibility, so that any later unmap
    /// of a split area lands on a map boundary); on failure unmaps what this call mapped.
    /// </summary>
    // pages.c:447
    internal int batch_iommu_map_small(iommu_domain domain, ulong iova, ulong paddr, ulong size, int prot)
    {
        ulong start_iova = iova;
        int rc;

        if (IS_ENABLED(CONFIG_IOMMUFD_TEST))
            WARN_ON(paddr % PAGE_SIZE != 0 || iova % PAGE_SIZE != 0 ||
                    size % PAGE_SIZE != 0);

        while (size != 0)
        {
            rc = iommu_map(domain, iova, paddr, PAGE_SIZE, prot);
            if (rc != 0)
                goto err_unmap;
            iova += PAGE_SIZE;
            paddr += PAGE_SIZE;
            size -= PAGE_SIZE;
        }
        return 0;

    err_unmap:
        if (start_iova != iova)
            iommu_unmap_nofail(domain, start_iova, iova - start_iova);
        return rc;
    }

    /// <summary>
    /// Maps every run of the batch into the domain at the area's IOVA for pages from
    /// <paramref name="start_index"/> on (the first page may be partial, the last is clipped to
    /// the area end); on failure unmaps what this call mapped.
    /// </summary>
    // pages.c:474
    internal int batch_to_domain(pfn_batch batch, iommu_domain domain, iopt_area area, ulong start_index)
    {
        bool disable_large_pages = area.iopt.disable_large_pages;
        ulong last_iova = iopt_area_last_iova(area);
        uint page_offset = 0;
        ulong start_iova;
        ulong next_iova;
        uint cur = 0;
        ulong iova;
        int rc;

        // Only the area's first page can start part-way into the page.
        if (start_index == iopt_area_index(area))
            page_offset = area.page_offset;
        next_iova = iova = start_iova =
            iopt_area_index_to_iova(area, start_index);
        while (cur < batch.end)
        {
            // u32 * unsigned long is unsigned long in both languages; last_iova + 1 wraps to 0
            // if the area ends at ULONG_MAX, as in C.
            next_iova = min(last_iova + 1,
                            next_iova + batch.npfns[cur] * PAGE_SIZE -
                                page_offset);
            if (disable_large_pages)
                rc = batch_iommu_map_small(
                    domain, iova,
                    PFN_PHYS(batch.pfns[cur]) + page_offset,
                    next_iova - iova, area.iommu_prot);
            else
                rc = iommu_map(domain, iova,
                               PFN_PHYS(batch.pfns[cur]) + page_offset,
                               next_iova - iova, area.iommu_prot);
            if (rc != 0)
                goto err_unmap;
            iova = next_iova;
            page_offset = 0;
            cur++;
        }
        return 0;
    err_unmap:
        if (start_iova != iova)
            iommu_unmap_nofail(domain, start_iova, iova - start_iova);
        return rc;
    }

    /// <summary>
    /// Unpins <paramref name="npages"/> pages of the batch starting <paramref name="first_page_off"/>
    /// PFNs into it, one PFN-contiguous range at a time (dirtying them if the pages are writable).
    /// </summary>
    // pages.c:623
    internal void batch_unpin(pfn_batch batch, iopt_pages pages, uint first_page_off, ulong npages)
    {
        uint cur = 0;

        while (first_page_off != 0)
        {
            if (batch.npfns[cur] > first_page_off)
                break;
            first_page_off -= batch.npfns[cur];
            cur++;
        }

        while (npages != 0)
        {
            // min_t(size_t, npages, npfns[cur] - first_page_off): the subtraction is done in
            // unsigned int and only then widened to size_t.
            ulong to_unpin = min<ulong>(npages,
                                        (ulong)(batch.npfns[cur] - first_page_off));

            unpin_user_page_range_dirty_lock(
                pfn_to_page(batch.pfns[cur] + first_page_off),
                to_unpin, pages.writable);
            iopt_pages_sub_npinned(pages, to_unpin);
            cur++;
            first_page_off = 0;
            npages -= to_unpin;
        }
    }

    /// <summary>
    /// Copies <paramref name="length"/> bytes between <paramref name="data"/> and the page at
    /// <paramref name="offset"/>: into the page (and dirties it) for a write, out of it otherwise.
    /// </summary>
    // pages.c:649
    internal void copy_data_page(PagePtr page, Ptr<byte> data, ulong offset, ulong length, uint flags)
    {
        Ptr<byte> mem;

        mem = kmap_local_page(page);
        if ((flags & IOMMUFD_ACCESS_RW_WRITE) != 0)
        {
            memcpy(mem + offset, data, length);
            set_page_dirty_lock(page);
        }
        else
        {
            memcpy(data, mem + offset, length);
        }
        kunmap_local(mem);
    }

    /// <summary>
    /// Copies up to <paramref name="length"/> bytes between <paramref name="data"/> and the pages of
    /// the batch, starting <paramref name="offset"/> bytes into its first page; returns the bytes copied.
    /// </summary>
    // pages.c:664
    internal ulong batch_rw(pfn_batch batch, Ptr<byte> data, ulong offset, ulong length, uint flags)
    {
        ulong copied = 0;
        uint npage = 0;
        uint cur = 0;

        while (cur < batch.end)
        {
            ulong bytes = min(length, PAGE_SIZE - offset);

            copy_data_page(pfn_to_page(batch.pfns[cur] + npage), data,
                           offset, bytes, flags);
            offset = 0;
            length -= bytes;
            data += bytes;
            copied += bytes;
            npage++;
            if (npage == batch.npfns[cur])
            {
                npage = 0;
                cur++;
            }
            if (length == 0)
                break;
        }
        return copied;
    }
}
