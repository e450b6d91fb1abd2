// SPDX-License-Identifier: GPL-2.0-only
using System.Numerics;

namespace Iommufd.Model.Kernel;

/// <summary>
/// The IOMMU core as v6.2 drivers/iommu/iommu.c behaves for a paging domain: alignment checks
/// against the smallest page size, splitting a range into the largest page sizes the alignment of
/// IOVA and physical address allows, unwinding a failed map, and unmapping chunk by chunk until a
/// chunk unmaps nothing. Every call is a scheduling point and is recorded in the domain's event log.
/// Not modelled: identity/blocked domains, IOTLB gather and sync, tracepoints.
/// </summary>
public abstract partial class KernelApi
{
    /// <summary>v6.2 iommu_map (no gfp argument): 0 or -errno; on failure nothing of this call stays mapped.</summary>
    protected int iommu_map(iommu_domain domain, ulong iova, ulong paddr, ulong size, int prot)
    {
        Kernel.Exec.SchedulePoint("iommu_map");
        CheckSameKernel(domain, "iommu_map");
        // iommu_map() may sleep: calling it in an RCU read section is a bug lockdep reports.
        if (Kernel.Exec.InRcuReadSection)
            Kernel.Checks.Report(CheckKind.LockdepOrder, "might_sleep", "iommu_map called inside an RCU read section");

        int rc = iommu_map_chunks(domain, iova, paddr, size, prot, out ulong left);
        domain.Record(IommuEventKind.Map, iova, size, paddr, prot, rc, left);
        return rc;
    }

    private int iommu_map_chunks(iommu_domain domain, ulong iova, ulong paddr, ulong size, int prot, out ulong left)
    {
        const int ENODEV = 19;
        left = 0;
        ulong bitmap = domain.pgsize_bitmap;
        if (bitmap == 0)
            return -ENODEV;
        ulong minPageSize = 1UL << BitOperations.TrailingZeroCount(bitmap);
        // v6.2 checks alignment only: a size of 0 maps nothing and succeeds, and there is no
        // wrap-around check (the domain's own limits, such as an aperture, refuse what they must).
        if (((iova | paddr | size) & (minPageSize - 1)) != 0)
            return -EINVAL;

        ulong remaining = size, curIova = iova, curPaddr = paddr;
        int rc = 0;
        while (remaining != 0)
        {
            ulong pgsize = iommu_pgsize(bitmap, curIova, curPaddr, remaining, out ulong count);
            rc = domain.map_pages(curIova, curPaddr, pgsize, count, prot, out ulong mapped);
            domain.Record(IommuEventKind.MapPages, curIova, pgsize * count, curPaddr, prot, rc, mapped, pgsize, count);
            if (mapped > remaining)
            {
                Kernel.Checks.Report(CheckKind.FakeMisuse, "iommu_map", $"{domain} map_pages mapped {mapped:x} of {remaining:x}");
                mapped = remaining;
            }
            remaining -= mapped;
            if (rc != 0)
                break;
            if (mapped == 0)
            {
                // The kernel would spin forever here; the model stops and reports the driver.
                Kernel.Checks.Report(CheckKind.FakeMisuse, "iommu_map", $"{domain} map_pages succeeded but mapped nothing");
                rc = -EINVAL;
                break;
            }
            curIova += mapped;
            curPaddr += mapped;
        }

        if (rc != 0)
        {
            // Some pages may be mapped even by the failing call; take back all this call mapped.
            iommu_unmap(domain, iova, size - remaining);
            return rc;
        }
        left = size;
        return 0;
    }

    /// <summary>Returns the number of bytes unmapped.</summary>
    protected ulong iommu_unmap(iommu_domain domain, ulong iova, ulong size)
    {
        Kernel.Exec.SchedulePoint("iommu_unmap");
        CheckSameKernel(domain, "iommu_unmap");
        ulong unmapped = iommu_unmap_chunks(domain, iova, size);
        domain.Record(IommuEventKind.Unmap, iova, size, 0, 0, 0, unmapped);
        return unmapped;
    }

    private static ulong iommu_unmap_chunks(iommu_domain domain, ulong iova, ulong size)
    {
        ulong bitmap = domain.pgsize_bitmap;
        if (bitmap == 0)
            return 0;
        ulong minPageSize = 1UL << BitOperations.TrailingZeroCount(bitmap);
        if (((iova | size) & (minPageSize - 1)) != 0)
            return 0;

        ulong unmapped = 0;
        while (unmapped < size)
        {
            ulong pgsize = iommu_pgsize(bitmap, iova, iova, size - unmapped, out ulong count);
            ulong chunk = domain.unmap_pages(iova, pgsize, count);
            domain.Record(IommuEventKind.UnmapPages, iova, pgsize * count, 0, 0, 0, chunk, pgsize, count);
            if (chunk == 0)
                break;
            iova += chunk;
            unmapped += chunk;
        }
        return unmapped;
    }

    protected ulong iommu_iova_to_phys(iommu_domain domain, ulong iova)
    {
        Kernel.Exec.SchedulePoint("iommu_iova_to_phys");
        CheckSameKernel(domain, "iommu_iova_to_phys");
        return domain.iova_to_phys(iova);
    }

    /// <summary>iommu_domain_free(): hands the domain back to its driver (see <see cref="iommu_domain.Free"/>).</summary>
    protected void iommu_domain_free(iommu_domain domain)
    {
        CheckSameKernel(domain, "iommu_domain_free");
        domain.Free();
    }

    /// <summary>
    /// iommu_pgsize(): the page size for the next driver call and how many pages of it. Picks the
    /// largest supported size that fits in <paramref name="size"/> and to which both addresses are
    /// aligned; when the next larger supported size could be used after reaching its alignment
    /// boundary, the count stops at that boundary so the following call can use the larger size.
    /// </summary>
    protected static ulong iommu_pgsize(ulong pgsize_bitmap, ulong iova, ulong paddr, ulong size, out ulong count)
    {
        ulong addrMerge = iova | paddr;
        ulong pgsizes = pgsize_bitmap & LowMask(HighestBit(size));
        if (addrMerge != 0)
            pgsizes &= LowMask(BitOperations.TrailingZeroCount(addrMerge));
        if (pgsizes == 0)
            throw new InvalidOperationException($"BUG in iommu_pgsize: no page size for iova {iova:x} paddr {paddr:x} size {size:x}");

        int index = HighestBit(pgsizes);
        ulong pgsize = 1UL << index;
        ulong larger = pgsize_bitmap & ~LowMask(index);
        if (larger != 0)
        {
            ulong next = 1UL << BitOperations.TrailingZeroCount(larger);
            // Only worth stopping early if both addresses sit at the same offset inside a larger page.
            if (((iova ^ paddr) & (next - 1)) == 0)
            {
                ulong offset = next - (addrMerge & (next - 1));
                if (offset <= size && next <= size - offset)
                    size = offset;
            }
        }
        count = size >> index;
        return pgsize;
    }

    /// <summary>Bits 0..<paramref name="high"/> set (GENMASK(high, 0)).</summary>
    private static ulong LowMask(int high) => high >= 63 ? ulong.MaxValue : (1UL << (high + 1)) - 1;

    private static int HighestBit(ulong x) => 63 - BitOperations.LeadingZeroCount(x);

    private void CheckSameKernel(iommu_domain domain, string function)
    {
        if (!ReferenceEquals(domain.Kernel, Kernel))
            Kernel.Checks.Report(CheckKind.FakeMisuse, function, $"{domain} belongs to another kernel");
    }
}
