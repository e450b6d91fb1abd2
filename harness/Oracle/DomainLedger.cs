// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Model.Kernel;

namespace Iommufd.Harness.Oracle;

/// <summary>
/// The oracle's own account of one iommu_domain, built only from the domain's event log (the core
/// iommu_map / iommu_unmap calls, read incrementally): which map calls are live, and how many
/// live map calls reach each frame (a reverse index PFN -&gt; references, for "is this frame mapped
/// anywhere" at the moment of an unpin). While consuming the log it checks that every map lands
/// on free IOVA and every unmap pairs with earlier maps: it starts where a live map call starts,
/// covers whole live calls without gaps, ends where one ends, and unmaps exactly what it asked.
/// </summary>
public sealed class DomainLedger(iommu_domain domain)
{
    private const ulong PageSize = 4096;

    private readonly record struct MapCall(ulong Size, ulong Paddr);

    private readonly SortedList<ulong, MapCall> live = [];
    private readonly Dictionary<ulong, int> pfnRefs = [];
    private long seen;

    public iommu_domain Domain { get; } = domain;

    /// <summary>Bytes of IOVA the live map calls cover.</summary>
    public ulong LiveBytes { get; private set; }

    /// <summary>Number of live map calls that reach <paramref name="pfn"/>.</summary>
    public int References(ulong pfn) => pfnRefs.GetValueOrDefault(pfn);

    /// <summary>The IOVA of a live map call reaching <paramref name="pfn"/>, for messages.</summary>
    public ulong? IovaOf(ulong pfn)
    {
        foreach (var (iova, call) in live)
        {
            ulong first = call.Paddr / PageSize, last = (call.Paddr + call.Size - 1) / PageSize;
            if (pfn >= first && pfn <= last)
                return iova + (pfn * PageSize > call.Paddr ? pfn * PageSize - call.Paddr : 0);
        }
        return null;
    }

    /// <summary>Consumes the events logged since the last call; returns the pairing problems found.</summary>
    public List<string> Consume()
    {
        var problems = new List<string>();
        var events = Domain.EventsSince(seen);
        seen += events.Count;
        for (int i = 0; i < events.Count; i++)
        {
            var e = events[i];
            if (e.Kind == IommuEventKind.Map)
            {
                if (e.Error == 0)
                    AddMap(e, problems);
                continue;
            }
            if (e.Kind != IommuEventKind.Unmap)
                continue;
            // A failed iommu_map takes back what it mapped before its own Map entry is logged.
            var nextCore = events.Skip(i + 1).FirstOrDefault(x => x.Kind is IommuEventKind.Map or IommuEventKind.Unmap);
            if (nextCore is { Kind: IommuEventKind.Map, Error: not 0 } && nextCore.Iova == e.Iova)
                continue;
            RemoveUnmap(e, problems);
        }
        return problems;
    }

    private void AddMap(IommuEvent e, List<string> problems)
    {
        var clash = Overlapping(e.Iova, e.Iova + e.Size - 1);
        if (clash.Count != 0)
        {
            problems.Add($"{Domain}: map #{e.Sequence} of [{e.Iova:x}, +{e.Size:x}) over the live map at {clash[0].Key:x}");
            foreach (var (iova, call) in clash)
                Drop(iova, call);
        }
        live[e.Iova] = new MapCall(e.Size, e.Paddr);
        LiveBytes += e.Size;
        foreach (ulong pfn in Pfns(e.Paddr, e.Size))
            pfnRefs[pfn] = pfnRefs.GetValueOrDefault(pfn) + 1;
    }

    private void RemoveUnmap(IommuEvent e, List<string> problems)
    {
        if (e.Size == 0)
            return;
        ulong last = e.Iova + e.Size - 1;
        var hit = Overlapping(e.Iova, last);
        string? problem = null;
        if (hit.Count == 0)
            problem = "nothing mapped there";
        else if (hit[0].Key != e.Iova)
            problem = $"it starts inside the map at {hit[0].Key:x}";
        else
        {
            ulong expect = e.Iova;
            foreach (var (iova, call) in hit)
            {
                if (iova != expect) { problem = $"a hole at {expect:x}"; break; }
                expect = iova + call.Size;
            }
            if (problem is null && expect != last + 1)
                problem = expect > last + 1 ? $"it ends inside the map that ends at {expect - 1:x}" : $"a hole at {expect:x}";
        }
        if (problem is null && e.Bytes != e.Size)
            problem = $"it unmapped {e.Bytes:x} bytes";
        if (problem is not null)
            problems.Add($"{Domain}: unmap #{e.Sequence} of [{e.Iova:x}, +{e.Size:x}) does not pair with earlier maps: {problem}");
        foreach (var (iova, call) in hit)
            Drop(iova, call);
    }

    private void Drop(ulong iova, MapCall call)
    {
        live.Remove(iova);
        LiveBytes -= call.Size;
        foreach (ulong pfn in Pfns(call.Paddr, call.Size))
        {
            int n = pfnRefs[pfn] - 1;
            if (n == 0) pfnRefs.Remove(pfn); else pfnRefs[pfn] = n;
        }
    }

    /// <summary>The live map calls overlapping [first, last], in IOVA order (binary search: they
    /// never overlap each other, so at most one starts before <paramref name="first"/>).</summary>
    private List<KeyValuePair<ulong, MapCall>> Overlapping(ulong first, ulong last)
    {
        var keys = live.Keys;
        int lo = 0, hi = keys.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (keys[mid] < first) lo = mid + 1; else hi = mid;
        }
        var result = new List<KeyValuePair<ulong, MapCall>>();
        if (lo > 0)
        {
            var prev = live.GetValueAtIndex(lo - 1);
            if (keys[lo - 1] + prev.Size - 1 >= first)
                result.Add(new(keys[lo - 1], prev));
        }
        for (int i = lo; i < keys.Count && keys[i] <= last; i++)
            result.Add(new(keys[i], live.GetValueAtIndex(i)));
        return result;
    }

    private static IEnumerable<ulong> Pfns(ulong paddr, ulong size)
    {
        for (ulong pfn = paddr / PageSize; pfn <= (paddr + size - 1) / PageSize; pfn++)
            yield return pfn;
    }
}
