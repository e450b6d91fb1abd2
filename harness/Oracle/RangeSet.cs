// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Harness.Oracle;

/// <summary>An inclusive range [First, Last] of page indexes or addresses.</summary>
public readonly record struct Range(ulong First, ulong Last)
{
    public ulong Count => Last - First + 1;
    public bool Contains(ulong x) => x >= First && x <= Last;
    public override string ToString() => First == Last ? $"[{First}]" : $"[{First}..{Last}]";
}

/// <summary>
/// A multiset of inclusive ranges kept as a coverage count per maximal piece, so that the
/// specification can say "index i is held by k things" without one entry per index (areas of
/// 2^20 pages stay cheap). Used by the oracle's specification model only.
/// </summary>
public sealed class CoverageMap
{
    // Boundary -> coverage count from this boundary up to the next one (exclusive).
    private readonly SortedDictionary<ulong, int> steps = [];

    public void Add(Range r, int delta)
    {
        if (delta == 0) return;
        Split(r.First);
        bool endsAtTop = r.Last == ulong.MaxValue;
        if (!endsAtTop) Split(r.Last + 1);
        foreach (var key in steps.Keys.Where(k => k >= r.First && (endsAtTop || k <= r.Last)).ToArray())
            steps[key] += delta;
        Normalize();
    }

    /// <summary>Coverage count at <paramref name="x"/>.</summary>
    public int At(ulong x)
    {
        int c = 0;
        foreach (var (k, v) in steps)
        {
            if (k > x) break;
            c = v;
        }
        return c;
    }

    /// <summary>The maximal ranges whose coverage is at least one, with their counts.</summary>
    public IEnumerable<(Range Range, int Count)> Pieces()
    {
        ulong? start = null;
        int count = 0;
        foreach (var (k, v) in steps)
        {
            if (start is not null && count > 0)
                yield return (new Range(start.Value, k - 1), count);
            start = k;
            count = v;
        }
        if (start is not null && count > 0)
            yield return (new Range(start.Value, ulong.MaxValue), count);
    }

    /// <summary>Number of points covered at least once.</summary>
    public ulong CoveredCount() => Pieces().Aggregate(0UL, (acc, p) => acc + p.Range.Count);

    public bool IsEmpty => steps.Count == 0;

    private void Split(ulong at)
    {
        if (steps.ContainsKey(at)) return;
        steps[at] = At(at);
    }

    private void Normalize()
    {
        int prev = 0;
        foreach (var key in steps.Keys.ToArray())
        {
            int v = steps[key];
            if (v == prev) steps.Remove(key);
            prev = v;
        }
    }
}
