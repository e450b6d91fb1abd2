// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;

namespace Iommufd.Model.Kernel;

/// <summary>
/// A page-table iommu_domain in the style of the Intel VT-d and AMD-Vi drivers: leaf IOPTEs of
/// 4K, 2M or 1G (pgsize_bitmap 4K|2M|1G) under a three-level table, aperture [0, 2^48 - 1].
/// Leaves are stored sparsely (one object per leaf, whatever its size); tables are tracked only
/// as "exists" per 2M region (holding 4K leaves) and per 1G region (holding 2M leaves).
/// Models: map_pages installs leaves of exactly the given size; installing over an existing leaf
/// WARNs and fails with -EEXIST (the leaves installed before it by that call stay and are counted
/// in <c>mapped</c>); a missing table is allocated on demand and each allocation is a fault point
/// (<see cref="FaultSites.IommuMapPageTable"/>, -ENOMEM, again leaving the earlier leaves of the call);
/// an empty lower table is replaced when a large leaf is installed over it; maps beyond the aperture
/// fail with -EINVAL. unmap_pages removes whole leaves only: a request covering part of a large leaf
/// removes all of it and counts its full size, and the walk stops at the first IOVA that has no leaf
/// (returning what it removed so far, 0 if the first IOVA is a hole). iova_to_phys returns the leaf's
/// physical address plus the offset inside the leaf, 0 when unmapped (counted in UnmappedLookups). Freeing a non-empty domain WARNs.
/// Does not model: freeing of tables on unmap, IOTLB flushes, access/dirty bits, prot enforcement
/// (prot is stored for the oracle), interleaving inside one unmap_pages call.
/// </summary>
public sealed class PageTableDomain : iommu_domain
{
    public const ulong SZ_4K = 1UL << 12, SZ_2M = 1UL << 21, SZ_1G = 1UL << 30;
    public const ulong PAGE_SIZES = SZ_4K | SZ_2M | SZ_1G;
    public const ulong APERTURE_LAST = (1UL << 48) - 1;
    private const int ENOMEM = 12, EINVAL = 22, EEXIST = 17;
    private static readonly ulong[] LeafSizes = [SZ_1G, SZ_2M, SZ_4K];

    private readonly object gate = new();
    /// <summary>Leaves keyed by their first IOVA.</summary>
    private readonly Dictionary<ulong, IommuMapping> leaves = [];
    /// <summary>Number of 4K leaves per 2M region.</summary>
    private readonly Dictionary<ulong, int> smallLeavesIn2M = [];
    /// <summary>Number of 4K and 2M leaves per 1G region.</summary>
    private readonly Dictionary<ulong, int> leavesIn1G = [];
    /// <summary>2M regions with a table of 4K entries.</summary>
    private readonly HashSet<ulong> tables4K = [];
    /// <summary>1G regions with a table of 2M entries.</summary>
    private readonly HashSet<ulong> tables2M = [];
    private ulong mappedBytes;

    public PageTableDomain(FakeKernel kernel, string name = "pagetable")
        : base(kernel, name, PAGE_SIZES, new iommu_domain_geometry(0, APERTURE_LAST, true))
    {
    }

    protected override string FreeFunction => "pagetable_domain_free";

    /// <summary>Page-table pages currently allocated below the top level.</summary>
    public int TableCount { get { lock (gate) return tables4K.Count + tables2M.Count; } }

    public override int map_pages(ulong iova, ulong paddr, ulong pgsize, ulong pgcount, int prot, out ulong mapped)
    {
        const string fn = "pagetable_map_pages";
        mapped = 0;
        CheckAlive(fn);
        if (Array.IndexOf(LeafSizes, pgsize) < 0 || iova % pgsize != 0 || paddr % pgsize != 0)
        {
            Kernel.Checks.Report(CheckKind.FakeMisuse, fn, $"{Name}: bad leaf iova {iova:x} paddr {paddr:x} size {pgsize:x}");
            return -EINVAL;
        }
        if (pgcount == 0)
            return 0;
        if (TestHooks.TakeMapFailure())
            return -ENOMEM;
        if (iova > APERTURE_LAST || pgcount - 1 > (APERTURE_LAST - iova) / pgsize)
            return -EINVAL;

        for (ulong i = 0; i < pgcount; i++)
        {
            var leaf = new IommuMapping(iova + i * pgsize, pgsize, TestHooks.Paddr(iova + i * pgsize, paddr + i * pgsize), prot);
            while (true)
            {
                IommuMapping? clash;
                (ulong Region, bool Is4K)? missing;
                lock (gate)
                {
                    clash = FindOverlap(leaf);
                    missing = clash is null ? MissingTable(leaf) : null;
                    if (clash is null && missing is null)
                    {
                        Install(leaf);
                        break;
                    }
                }
                if (clash is { } c)
                {
                    Kernel.Checks.Report(CheckKind.Warn, fn, $"{Name}: leaf {leaf} overlaps existing leaf {c}");
                    return -EEXIST;
                }
                // Allocate the missing table outside the lock: the fault point is a scheduling point.
                if (Kernel.ShouldFail(FaultSites.IommuMapPageTable))
                    return -ENOMEM;
                lock (gate)
                    (missing!.Value.Is4K ? tables4K : tables2M).Add(missing.Value.Region);
            }
            mapped += pgsize;
        }
        return 0;
    }

    private IommuMapping? FindOverlap(IommuMapping leaf)
    {
        foreach (ulong size in LeafSizes)
        {
            if (leaves.TryGetValue(leaf.Iova & ~(size - 1), out var existing) && existing.Size == size)
                return existing;
        }
        // Smaller leaves inside the new leaf that do not start at its first IOVA.
        bool inside = leaf.Size switch
        {
            SZ_2M => smallLeavesIn2M.GetValueOrDefault(leaf.Iova / SZ_2M) > 0,
            SZ_1G => leavesIn1G.GetValueOrDefault(leaf.Iova / SZ_1G) > 0,
            _ => false,
        };
        if (!inside)
            return null;
        return leaves.Values.Where(l => l.Iova >= leaf.Iova && l.Iova <= leaf.Last).MinBy(l => l.Iova);
    }

    private (ulong Region, bool Is4K)? MissingTable(IommuMapping leaf)
    {
        if (leaf.Size <= SZ_2M && !tables2M.Contains(leaf.Iova / SZ_1G))
            return (leaf.Iova / SZ_1G, false);
        if (leaf.Size == SZ_4K && !tables4K.Contains(leaf.Iova / SZ_2M))
            return (leaf.Iova / SZ_2M, true);
        return null;
    }

    private void Install(IommuMapping leaf)
    {
        leaves.Add(leaf.Iova, leaf);
        mappedBytes += leaf.Size;
        switch (leaf.Size)
        {
            case SZ_4K:
                Bump(smallLeavesIn2M, leaf.Iova / SZ_2M, 1);
                Bump(leavesIn1G, leaf.Iova / SZ_1G, 1);
                break;
            case SZ_2M:
                // A large leaf replaces the (empty) table of small entries below it.
                tables4K.Remove(leaf.Iova / SZ_2M);
                Bump(leavesIn1G, leaf.Iova / SZ_1G, 1);
                break;
            default:
                ulong region = leaf.Iova / SZ_1G;
                tables2M.Remove(region);
                tables4K.RemoveWhere(r => r / (SZ_1G / SZ_2M) == region);
                break;
        }
    }

    private void Remove(IommuMapping leaf)
    {
        leaves.Remove(leaf.Iova);
        mappedBytes -= leaf.Size;
        if (leaf.Size == SZ_4K)
            Bump(smallLeavesIn2M, leaf.Iova / SZ_2M, -1);
        if (leaf.Size != SZ_1G)
            Bump(leavesIn1G, leaf.Iova / SZ_1G, -1);
    }

    private static void Bump(Dictionary<ulong, int> counts, ulong key, int delta)
    {
        int n = counts.GetValueOrDefault(key) + delta;
        if (n == 0)
            counts.Remove(key);
        else
            counts[key] = n;
    }

    private IommuMapping? LeafAt(ulong iova)
    {
        foreach (ulong size in LeafSizes)
        {
            if (leaves.TryGetValue(iova & ~(size - 1), out var leaf) && leaf.Size == size)
                return leaf;
        }
        return null;
    }

    public override ulong unmap_pages(ulong iova, ulong pgsize, ulong pgcount)
    {
        const string fn = "pagetable_unmap_pages";
        CheckAlive(fn);
        if (Array.IndexOf(LeafSizes, pgsize) < 0 || iova % pgsize != 0)
        {
            Kernel.Checks.Report(CheckKind.FakeMisuse, fn, $"{Name}: bad unmap iova {iova:x} size {pgsize:x}");
            return 0;
        }
        ulong size = pgcount > ulong.MaxValue / pgsize ? ulong.MaxValue : pgsize * pgcount;
        ulong unmapped = 0;
        lock (gate)
        {
            while (unmapped < size)
            {
                if (LeafAt(iova) is not { } leaf)
                    break;
                Remove(leaf);
                unmapped += leaf.Size;
                iova = leaf.Iova + leaf.Size;
                if (iova == 0)
                    break; // wrapped past the top of the address space
            }
        }
        return unmapped;
    }

    public override ulong iova_to_phys(ulong iova)
    {
        CheckAlive("pagetable_iova_to_phys");
        lock (gate)
        {
            if (LeafAt(iova) is { } leaf)
                return leaf.Paddr + (iova - leaf.Iova);
            UnmappedLookups++;
            return 0;
        }
    }

    /// <summary>How many iova_to_phys calls found no leaf (and returned 0, as real drivers do).
    /// A statistic for tests; it changes nothing the port sees.</summary>
    public int UnmappedLookups { get; private set; }

    /// <summary>One mapping per leaf IOPTE, in IOVA order.</summary>
    public override IReadOnlyList<IommuMapping> Mappings
    {
        get { lock (gate) return leaves.Values.OrderBy(l => l.Iova).ToArray(); }
    }

    public override ulong MappedBytes { get { lock (gate) return mappedBytes; } }
}
