// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Execution;
using Iommufd.Model.Kernel;

using Iommufd.Harness.Generation;
using Iommufd.Model.Selftest;

namespace Iommufd.Harness.Oracle;

/// <summary>
/// One area as the oracle sees it: its IOVA range, the pages it maps (the id of the PagesHandle
/// that made them, -1 if none did), the page indexes of those
/// pages it covers, the byte offset into its first page and its IOMMU protection. Read from the
/// callers' area tree (the layout of areas is the callers' business, an input to pages.c).
/// </summary>
public sealed record AreaView(IoptHandle Iopt, int Pages, ulong Iova, ulong LastIova, ulong FirstIndex,
    ulong LastIndex, uint PageOffset, int Prot)
{
    public const ulong PageSize = KernelApi.PAGE_SIZE;

    public ulong Length => LastIova - Iova + 1;

    /// <summary>The byte of the pages that <paramref name="iova"/> (inside the area) reaches.</summary>
    public ulong ByteOf(ulong iova) => iova - Iova + PageOffset + FirstIndex * PageSize;

    public ulong IndexOf(ulong iova) => ByteOf(iova) / PageSize;

    public bool Writable => (Prot & KernelApi.IOMMU_WRITE) != 0;

    public override string ToString() =>
        $"area [{Iova:x}, {LastIova:x}] -> index [{FirstIndex}, {LastIndex}] offset {PageOffset} prot {Prot}";
}

/// <summary>What the oracle knows of one io_pagetable before a step.</summary>
/// <summary>What the oracle sees of one IOAS: its areas, alignment, large-page setting, the number
/// of domains attached, and the IOVA those domains reserve (outside each one's aperture).</summary>
public sealed record IoptView(IReadOnlyList<AreaView> Areas, ulong Alignment, bool DisableLargePages, int Domains,
    IReadOnlyList<(ulong Start, ulong Last)> Reserved)
{
    /// <summary>The IOVA a domain of this kind reserves on attach: what lies outside its aperture
    /// (the selftest mock: [16 MiB, 2 GiB); the page-table domain: 48 bits).</summary>
    public static IReadOnlyList<(ulong Start, ulong Last)> ReservedBy(DomainKind kind) =>
        kind == DomainKind.Mock ? MockReserved : PageTableReserved;

    // Built once: the snapshot asks for them after every step.
    private static readonly (ulong, ulong)[] MockReserved =
        [(0, MockDomain.MOCK_APERTURE_START - 1), (MockDomain.MOCK_APERTURE_LAST + 1, ulong.MaxValue)];
    private static readonly (ulong, ulong)[] PageTableReserved = [(PageTableDomain.APERTURE_LAST + 1, ulong.MaxValue)];

    public bool IsReserved(ulong start, ulong last) => Reserved.Any(r => r.Start <= last && r.Last >= start);
}

/// <summary>
/// The specification of one iopt_pages: what it was created over (computed by the oracle from
/// the operation, not read from the port), the page indexes something holds (areas filled in some
/// domain, access pins) as coverage maps, and the frame each held index was pinned at.
/// </summary>
public sealed class PagesSpec
{
    public PagesSpec(IObservation world, PagesHandle handle, task_struct creator, byte mode, bool writable)
    {
        Id = handle.Id;
        this.world = world;
        Handle = handle;
        Uptr = handle.Uptr & ~(AreaView.PageSize - 1);
        NPages = (handle.Length + (handle.Uptr - Uptr) + AreaView.PageSize - 1) / AreaView.PageSize;
        Mm = creator.mm!;
        Task = creator.group_leader;
        User = creator.User;
        Mode = mode;
        Writable = writable;
    }

    private readonly IObservation world;

    /// <summary>The id of the PagesHandle (and of the iopt_pages it made).</summary>
    public int Id { get; }
    public PagesHandle Handle { get; }
    /// <summary>The iopt_pages as it is now.</summary>
    public PagesState State => world.Pages(Id);
    /// <summary>The page-aligned user address of index 0.</summary>
    public ulong Uptr { get; }
    public ulong NPages { get; }
    public mm_struct Mm { get; }
    public task_struct Task { get; }
    public user_struct User { get; }
    /// <summary>The account mode the specification expects (CAP_IPC_LOCK: NONE, else USER, MM if asked).</summary>
    public byte Mode { get; }
    public bool Writable { get; }

    /// <summary>Indexes held by anything (areas filled in some domain, access pins).</summary>
    public RangeList Held { get; set; } = RangeList.Empty;
    /// <summary>Indexes held by access pins.</summary>
    public RangeList AccessHeld { get; set; } = RangeList.Empty;
    /// <summary>Held index -> the frame it was pinned at.</summary>
    public Dictionary<ulong, ulong> Frames { get; } = [];

    /// <summary>The user address of index <paramref name="index"/>.</summary>
    public ulong VaOf(ulong index) => Uptr + index * AreaView.PageSize;

    /// <summary>The frame index <paramref name="index"/> reaches now: its pinned frame if held,
    /// else what the user address maps to (null for a hole or an exited process).</summary>
    public ulong? FrameOf(ulong index) => Frames.TryGetValue(index, out ulong pfn) ? pfn : Mm.Space.Translate(VaOf(index));

    public override string ToString()
    {
        var state = State;
        return $"pages#{Id} (uptr {Uptr:x}, {NPages} pages, mode {Mode}{(Writable ? ", writable" : "")}): " +
               $"npinned {state.NPinned}, last_npinned {state.LastNPinned}, held {Held} ({Held.Count}), access {AccessHeld}";
    }
}

/// <summary>An immutable sorted list of disjoint inclusive ranges with O(log n) lookups, built
/// from a <see cref="CoverageMap"/> (the union of what it covers).</summary>
public sealed class RangeList
{
    public static readonly RangeList Empty = new([]);

    private readonly Range[] ranges;

    private RangeList(Range[] ranges)
    {
        this.ranges = ranges;
        Count = ranges.Aggregate(0UL, (acc, r) => acc + r.Count);
    }

    public static RangeList From(CoverageMap map)
    {
        var merged = new List<Range>();
        foreach (var (r, _) in map.Pieces())
        {
            if (merged.Count > 0 && merged[^1].Last != ulong.MaxValue && merged[^1].Last + 1 == r.First)
                merged[^1] = merged[^1] with { Last = r.Last };
            else
                merged.Add(r);
        }
        return new(merged.ToArray());
    }

    public IReadOnlyList<Range> Ranges => ranges;

    /// <summary>Number of points covered.</summary>
    public ulong Count { get; }

    public bool Contains(ulong x)
    {
        int lo = 0, hi = ranges.Length - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (x < ranges[mid].First) hi = mid - 1;
            else if (x > ranges[mid].Last) lo = mid + 1;
            else return true;
        }
        return false;
    }

    public IEnumerable<ulong> Points()
    {
        foreach (var r in ranges)
            for (ulong x = r.First; ; x++)
            {
                yield return x;
                if (x == r.Last) break;
            }
    }

    public bool SameAs(RangeList other) => ranges.AsSpan().SequenceEqual(other.ranges);

    public override string ToString() =>
        ranges.Length == 0 ? "{}" : string.Join(" ", ranges.Take(6)) + (ranges.Length > 6 ? $" ... ({ranges.Length} ranges)" : "");
}
