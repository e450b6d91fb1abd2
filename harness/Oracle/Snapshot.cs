// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Execution;
using Iommufd.Model.Kernel;

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

    public static Snapshot Take(IObservation world, IEnumerable<DomainLedger> ledgers)
    {
        var views = new Dictionary<IoptHandle, IoptView>();
        var stamp = new List<long>();
        foreach (var iopt in world.Iopts)
        {
            var state = world.Iopt(iopt.Id);
            var areas = new List<AreaView>(state.Areas.Count);
            foreach (var a in state.Areas)
            {
                areas.Add(new AreaView(iopt, a.PagesId, a.Iova, a.LastIova, a.FirstIndex, a.LastIndex, a.PageOffset, a.Prot));
                stamp.Add((long)a.Iova);
                stamp.Add((long)a.LastIova);
                stamp.Add((long)a.FirstIndex);
                stamp.Add(a.PagesId);
            }
            var attached = world.Domains.Where(d => d.Iopt == iopt).ToList();
            int domains = attached.Count;
            var reserved = attached.SelectMany(d => IoptView.ReservedBy(d.Kind)).ToArray();
            views[iopt] = new IoptView(areas, state.IovaAlignment, state.DisableLargePages, domains, reserved);
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


