// SPDX-License-Identifier: GPL-2.0-only
using System.Text;
using Iommufd.Harness.Execution;
using Iommufd.Model.Kernel;

namespace Iommufd.Harness.FaultInjection;

/// <summary>
/// The observable state an all-or-nothing operation must leave unchanged when it fails: every
/// domain's mappings, every live iopt_pages' counters, xarray and trees, the pin count of every
/// pinned frame, and the accounting counters of every mm and user. Rendered as canonical text so
/// two snapshots compare by string equality and a difference can be shown line by line.
/// </summary>
public sealed class StateSnapshot
{
    private StateSnapshot(IReadOnlyList<string> lines) => Lines = lines;

    public IReadOnlyList<string> Lines { get; }

    public static StateSnapshot Take(IObservation world)
    {
        var lines = new List<string>();
        foreach (var d in world.Domains)
            foreach (var m in d.Domain.Mappings)
                lines.Add($"domain {d.Domain.Name}: {m}");
        foreach (var p in world.PagesList)
        {
            var pages = world.Pages(p.Id);
            lines.Add($"pages {p.Id}: npinned {pages.NPinned} last_npinned {pages.LastNPinned}");
            foreach (var entry in world.PinnedPfns(p.Id))
                lines.Add($"pages {p.Id}: xa[{entry.Index}] = {entry}");
            foreach (var n in world.AccessNodes(p.Id))
                lines.Add($"pages {p.Id}: access [{n.Start}, {n.Last}]");
            foreach (var n in world.DomainNodes(p.Id))
                lines.Add($"pages {p.Id}: domain area [{n.Start}, {n.Last}]");
        }
        foreach (var pin in world.Kernel.Phys.PinnedFrames())
            lines.Add($"frame {pin.Pfn:x}: pins {pin.PinCount}");
        foreach (var mm in world.Kernel.Mms)
            lines.Add($"{mm}: locked_vm {mm.locked_vm} pinned_vm {mm.pinned_vm.Value}");
        foreach (var u in world.Kernel.Users)
            lines.Add($"{u}: locked_vm {u.locked_vm.Value}");
        return new StateSnapshot(lines);
    }

    /// <summary>The lines only in <paramref name="before"/> (-) and only in <paramref name="after"/> (+).</summary>
    public static string Diff(StateSnapshot before, StateSnapshot after)
    {
        var b = new HashSet<string>(before.Lines);
        var a = new HashSet<string>(after.Lines);
        var sb = new StringBuilder();
        foreach (var l in before.Lines.Where(l => !a.Contains(l)))
            sb.Append("- ").AppendLine(l);
        foreach (var l in after.Lines.Where(l => !b.Contains(l)))
            sb.Append("+ ").AppendLine(l);
        return sb.ToString();
    }

    public bool SameAs(StateSnapshot other) => Lines.SequenceEqual(other.Lines);
}
