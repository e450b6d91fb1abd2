// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Harness.Generation;

/// <summary>
/// Smaller variants of scenarios and of single operations, most aggressive first. Purely
/// structural (nothing is run here): the shrinker and FsCheck's <c>Arbitrary</c> decide which
/// variants still fail. Handles are resolved modulo the live objects, so every variant runs.
/// </summary>
public static class ScenarioShrinks
{
    private const ulong Page = 4096;

    /// <summary>Scenarios with a chunk of operations removed (halves down to single operations),
    /// then with one operation simplified.</summary>
    public static IEnumerable<Scenario> Candidates(Scenario s)
    {
        foreach (var ops in RemoveChunks(s.Ops))
            yield return s with { Ops = ops };
        for (int i = 0; i < s.Ops.Count; i++)
            foreach (var op in Simplify(s.Ops[i]))
                yield return s with { Ops = Replace(s.Ops, i, op) };
    }

    /// <summary>The list without [i, i + n), for n = half the length down to 1.</summary>
    public static IEnumerable<IReadOnlyList<Op>> RemoveChunks(IReadOnlyList<Op> ops)
    {
        for (int n = Math.Max(1, ops.Count / 2); ; n /= 2)
        {
            for (int i = 0; i + n <= ops.Count; i += n)
                yield return Remove(ops, i, n);
            if (n == 1)
                yield break;
        }
    }

    public static IReadOnlyList<Op> Remove(IReadOnlyList<Op> ops, int at, int count) =>
        [.. ops.Take(at), .. ops.Skip(at + count)];

    public static IReadOnlyList<Op> Replace(IReadOnlyList<Op> ops, int at, Op op) =>
        [.. ops.Take(at), op, .. ops.Skip(at + 1)];

    /// <summary>Smaller values than <paramref name="v"/>: 0, a page, half (page-rounded when
    /// <paramref name="v"/> is page aligned), one page less, one less.</summary>
    public static IEnumerable<ulong> Smaller(ulong v, ulong min = 0)
    {
        if (v <= min)
            yield break;
        var seen = new HashSet<ulong>();
        ulong half = v / 2;
        if (v % Page == 0)
            half &= ~(Page - 1);
        foreach (ulong c in new[] { min, Math.Max(min, Page), half, v >= Page ? v - Page : min, v - 1 })
            if (c >= min && c < v && seen.Add(c))
                yield return c;
    }

    private static IEnumerable<int> SmallerHandle(int h) =>
        h <= 0 ? [] : new[] { 0, h / 2, h - 1 }.Where(c => c < h).Distinct();

    /// <summary>Simpler variants of one operation: smaller handles, lengths, offsets and page
    /// counts, fewer segments, and flags back to their plain values.</summary>
    public static IEnumerable<Op> Simplify(Op op) => op switch
    {
        NewProcess o => o.CapIpcLock ? [o with { CapIpcLock = false }] : [],
        MapUserMemory o => SimplifyMemory(o),
        UserWrite o => [.. SmallerHandle(o.Region).Select(h => o with { Region = h }),
                        .. Smaller(o.Offset).Select(v => o with { Offset = v }),
                        .. Smaller(o.Length, 1).Select(v => o with { Length = v })],
        CreatePages o => [.. SmallerHandle(o.Region).Select(h => o with { Region = h }),
                          .. Smaller(o.Offset).Select(v => o with { Offset = v }),
                          .. Smaller(o.Length, o.RawUptr ? 0UL : 1UL).Select(v => o with { Length = v }),
                          .. o.AccountMode != 0 ? [o with { AccountMode = 0 }] : Array.Empty<Op>(),
                          .. !o.Writable ? [o with { Writable = true }] : Array.Empty<Op>()],
        PutPages o => SmallerHandle(o.Pages).Select(h => (Op)(o with { Pages = h })),
        MapArea o => [.. SmallerHandle(o.Iopt).Select(h => o with { Iopt = h }),
                      .. SmallerHandle(o.Pages).Select(h => o with { Pages = h }),
                      .. o.Iova is not null ? [o with { Iova = null }] : Array.Empty<Op>(),
                      .. Smaller(o.StartByte).Select(v => o with { StartByte = v }),
                      .. Smaller(o.Length, 1).Select(v => o with { Length = v }),
                      .. !o.Write ? [o with { Write = true }] : Array.Empty<Op>()],
        CopyArea o => [.. SmallerHandle(o.Area).Select(h => o with { Area = h }),
                       .. SmallerHandle(o.DstIopt).Select(h => o with { DstIopt = h }),
                       .. o.Iova is not null ? [o with { Iova = null }] : Array.Empty<Op>()],
        UnmapArea o => SmallerHandle(o.Area).Select(h => (Op)(o with { Area = h })),
        UnmapRange o => [.. SmallerHandle(o.Iopt).Select(h => o with { Iopt = h }),
                         .. Smaller(o.Iova).Select(v => o with { Iova = v }),
                         .. Smaller(o.Length).Select(v => o with { Length = v })],
        AttachDomain o => SmallerHandle(o.Iopt).Select(h => (Op)(o with { Iopt = h })),
        DetachDomain o => SmallerHandle(o.Domain).Select(h => (Op)(o with { Domain = h })),
        SetLargePages o => SmallerHandle(o.Iopt).Select(h => (Op)(o with { Iopt = h })),
        SplitArea o => [.. SmallerHandle(o.Area).Select(h => o with { Area = h }),
                        .. Smaller(o.Offset).Select(v => o with { Offset = v })],
        CreateAccess o => SmallerHandle(o.Iopt).Select(h => (Op)(o with { Iopt = h })),
        DestroyAccess o => SmallerHandle(o.Access).Select(h => (Op)(o with { Access = h })),
        AccessPin o => [.. SmallerHandle(o.Access).Select(h => o with { Access = h }),
                        .. SmallerHandle(o.Area).Select(h => o with { Area = h }),
                        .. Smaller(o.Offset).Select(v => o with { Offset = v }),
                        .. Smaller(o.Length, o.Raw ? 0UL : 1UL).Select(v => o with { Length = v }),
                        .. o.Write ? [o with { Write = false }] : Array.Empty<Op>()],
        AccessUnpin o => SmallerHandle(o.Pin).Select(h => (Op)(o with { Pin = h })),
        AccessRw o => [.. SmallerHandle(o.Access).Select(h => o with { Access = h }),
                       .. SmallerHandle(o.Area).Select(h => o with { Area = h }),
                       .. Smaller(o.Offset).Select(v => o with { Offset = v }),
                       .. Smaller(o.Length, 1).Select(v => o with { Length = v }),
                       .. o.Context != RwContext.SameMm ? [o with { Context = RwContext.SameMm }] : Array.Empty<Op>(),
                       .. o.SlowPath ? [o with { SlowPath = false }] : Array.Empty<Op>(),
                       .. o.Seed != 0 ? [o with { Seed = 0 }] : Array.Empty<Op>()],
        ProcessExit o => SmallerHandle(o.Process).Select(h => (Op)(o with { Process = h })),
        SetRlimit o => SmallerHandle(o.Process).Select(h => (Op)(o with { Process = h })),
        SetCapIpcLock o => SmallerHandle(o.Process).Select(h => (Op)(o with { Process = h })),
        _ => [],
    };

    private static IEnumerable<Op> SimplifyMemory(MapUserMemory o)
    {
        foreach (int h in SmallerHandle(o.Process))
            yield return o with { Process = h };
        if (o.Segments.Count > 1)
            for (int i = 0; i < o.Segments.Count; i++)
                yield return o with { Segments = [.. o.Segments.Take(i), .. o.Segments.Skip(i + 1)] };
        for (int i = 0; i < o.Segments.Count; i++)
        {
            var s = o.Segments[i];
            var variants = new List<Segment>();
            variants.AddRange(Smaller(s.Pages, 1).Select(p => s with { Pages = p }));
            if (s.Kind is SegmentKind.Scattered or SegmentKind.HugeRun)
                variants.Add(s with { Kind = SegmentKind.Run });
            if (s.ReadOnly)
                variants.Add(s with { ReadOnly = false });
            if (s.Movable)
                variants.Add(s with { Movable = false });
            foreach (var v in variants)
                yield return o with { Segments = [.. o.Segments.Take(i), v, .. o.Segments.Skip(i + 1)] };
        }
    }
}
