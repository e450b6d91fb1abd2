// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Execution;
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;

namespace Iommufd.Harness.Oracle;

/// <summary>
/// The world between two steps as the oracle needs it: copies of the handle lists (so the
/// operation of the next step can be resolved against the state it ran in), each io_pagetable's
/// areas, alignment and domain count, the fault count, and a stamp that changes whenever anything
/// the pin/mapping invariants depend on may have changed.
/// </summary>
public sealed class Snapshot
{
    public required IReadOnlyList<RegionHandle> Regions { get; init; }
    public required IReadOnlyList<PagesHandle> PagesWithReference { get; init; }
    public required IReadOnlyList<IoptHandle> Iopts { get; init; }
    public required IReadOnlyList<AreaHandle> Areas { get; init; }
    public required IReadOnlyList<DomainHandle> Domains { get; init; }
    public required IReadOnlyList<AccessHandle> Accesses { get; init; }
    public required IReadOnlyList<PinHandle> Pins { get; init; }
    public required IReadOnlyDictionary<IoptHandle, IoptView> Views { get; init; }
    public required int Injected { get; init; }
    /// <summary>Everything the pin and mapping invariants depend on, as plain numbers: two
    /// snapshots with equal stamps need no recomputation (compared exactly, not hashed, so a run
    /// never depends on hash seeds).</summary>
    public required IReadOnlyList<long> Stamp { get; init; }

    public bool SameStamp(Snapshot other) => Stamp.SequenceEqual(other.Stamp);

    public IoptView View(IoptHandle iopt) => Views[iopt];

    public static Snapshot Take(World world, IEnumerable<DomainLedger> ledgers, Func<iopt_pages, long> pagesId)
    {
        var views = new Dictionary<IoptHandle, IoptView>();
        var stamp = new List<long>();
        foreach (var iopt in world.Iopts)
        {
            var areas = new List<AreaView>();
            foreach (var a in iopt.Ioas.Areas())
            {
                if (a.pages is null)
                    continue;
                areas.Add(new AreaView(iopt, a.pages, a.node.start, a.node.last, a.pages_node.start, a.pages_node.last,
                    a.page_offset, a.iommu_prot));
                stamp.Add((long)a.node.start);
                stamp.Add((long)a.node.last);
                stamp.Add((long)a.pages_node.start);
                stamp.Add(pagesId(a.pages));
            }
            var attached = world.Domains.Where(d => d.Iopt == iopt).ToList();
            int domains = attached.Count;
            var reserved = attached.SelectMany(d => IoptView.ReservedBy(d.Kind)).ToArray();
            views[iopt] = new IoptView(areas, iopt.Ioas.iopt.iova_alignment, iopt.Ioas.iopt.disable_large_pages, domains, reserved);
            stamp.Add(iopt.Id);
            stamp.Add(domains);
        }
        stamp.Add(-1);
        foreach (var p in world.Pins)
            stamp.Add(p.Id);
        stamp.Add(-1);
        foreach (var d in world.Domains)
            stamp.Add(d.Id);
        stamp.Add(-1);
        foreach (var l in ledgers)
            stamp.Add(l.Domain.EventCount);
        var phys = world.Kernel.Phys;
        stamp.Add(phys.PinOperations);
        stamp.Add(phys.UnpinOperations);
        stamp.Add(phys.Migrations);
        stamp.Add(world.PagesList.Count);
        return new Snapshot
        {
            Regions = world.Regions.ToArray(),
            PagesWithReference = world.PagesList.Where(p => p.CreatorReferenceHeld).ToArray(),
            Iopts = world.Iopts.ToArray(),
            Areas = world.Areas.ToArray(),
            Domains = world.Domains.ToArray(),
            Accesses = world.Accesses.ToArray(),
            Pins = world.Pins.ToArray(),
            Views = views,
            Injected = world.Faults.Injected.Count,
            Stamp = stamp,
        };
    }

    /// <summary>The areas of <paramref name="view"/> that cover [first, last] contiguously from
    /// <paramref name="first"/>, each with the sub-range it covers; Covered is false if a gap
    /// (or the end of the areas) comes before <paramref name="last"/>.</summary>
    public static (List<(AreaView Area, ulong First, ulong Last)> Pieces, bool Covered) Walk(IoptView view, ulong first, ulong last)
    {
        var pieces = new List<(AreaView, ulong, ulong)>();
        ulong cur = first;
        foreach (var a in view.Areas)
        {
            if (a.LastIova < cur)
                continue;
            if (a.Iova > cur)
                break;
            ulong end = Math.Min(a.LastIova, last);
            pieces.Add((a, cur, end));
            if (end == last)
                return (pieces, true);
            cur = end + 1;
        }
        return (pieces, false);
    }
}


