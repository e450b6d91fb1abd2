// SPDX-License-Identifier: GPL-2.0-only
using FsCheck;
using FsCheck.Fluent;
using Iommufd.Model.Kernel;

namespace Iommufd.Tests.Kernel;

public class SpanIterTests
{
    private const ulong Max = ulong.MaxValue;

    /// <summary>One span of a walk: Hole is 1 for a hole, 0 for a used span (as is_hole).</summary>
    public readonly record struct Span(int Hole, ulong Start, ulong Last)
    {
        public override string ToString() => $"{(Hole == 1 ? "hole" : "used")}[{Start:x},{Last:x}]";
    }

    private static Span H(ulong s, ulong l) => new(1, s, l);
    private static Span U(ulong s, ulong l) => new(0, s, l);

    private static rb_root_cached Tree(params (ulong Start, ulong Last)[] intervals)
    {
        var tree = new rb_root_cached();
        foreach (var (s, l) in intervals)
            TreeApi.Insert(new interval_tree_node(null) { start = s, last = l }, tree);
        return tree;
    }

    private static Span Current(interval_tree_span_iter it) => new(it.is_hole, it.start_hole, it.last_hole);

    /// <summary>The whole first/done/next loop (interval_tree_for_each_span).</summary>
    private static List<Span> Walk(rb_root_cached tree, ulong first, ulong last)
    {
        var spans = new List<Span>();
        var it = new interval_tree_span_iter();
        for (TreeApi.SpanFirst(it, tree, first, last); !TreeApi.SpanDone(it); TreeApi.SpanNext(it))
        {
            Assert.Equal(first, it.first_index);
            Assert.Equal(last, it.last_index);
            Assert.True(it.is_hole is 0 or 1);
            spans.Add(it.is_hole == 0 ? new Span(0, it.start_used, it.last_used) : Current(it));
        }
        Assert.Equal(-1, it.is_hole);
        return spans;
    }

    /// <summary>The naive reference: the maximal runs of covered and uncovered indexes of
    /// [first, last], computed with 128-bit arithmetic so nothing wraps.</summary>
    internal static List<Span> ReferenceWalk(IEnumerable<(ulong Start, ulong Last)> intervals, ulong first, ulong last)
    {
        var clipped = intervals.Where(iv => IntervalGen.Overlaps(iv.Start, iv.Last, first, last))
            .Select(iv => ((UInt128)Math.Max(iv.Start, first), (UInt128)Math.Min(iv.Last, last)))
            .OrderBy(iv => iv.Item1).ToList();
        var spans = new List<Span>();
        UInt128 pos = first;
        int i = 0;
        while (i < clipped.Count)
        {
            var (a, b) = clipped[i++];
            while (i < clipped.Count && clipped[i].Item1 <= b + 1)
                b = UInt128.Max(b, clipped[i++].Item2);
            if (a > pos)
                spans.Add(H((ulong)pos, (ulong)(a - 1)));
            spans.Add(U((ulong)a, (ulong)b));
            pos = b + 1;
        }
        if (pos <= last)
            spans.Add(H((ulong)pos, last));
        return spans;
    }

    // ---- first / next ------------------------------------------------------------------------

    [Fact]
    public void EmptyTreeIsOneHoleThenDone() =>
        Assert.Equal([H(3, 9)], Walk(new rb_root_cached(), 3, 9));

    [Fact]
    public void HolesAndUsedSpansAlternate() =>
        Assert.Equal([H(0, 9), U(10, 19), H(20, 29), U(30, 39), H(40, 50)],
            Walk(Tree((10, 19), (30, 39)), 0, 50));

    [Fact]
    public void TouchingNodesMergeAndAOneIndexGapIsAHole()
    {
        Assert.Equal([U(0, 9), H(10, 20)], Walk(Tree((0, 4), (5, 9)), 0, 20));
        Assert.Equal([U(0, 4), H(5, 5), U(6, 9)], Walk(Tree((0, 4), (6, 9)), 0, 9));
    }

    [Fact]
    public void OverlappingAndNestedNodesMerge()
    {
        Assert.Equal([U(0, 150), H(151, 200)], Walk(Tree((10, 20), (0, 100), (50, 150)), 0, 200));
        // A nested node ending early must not end the run that an outer node still covers.
        Assert.Equal([U(0, 110), H(111, 120)], Walk(Tree((0, 100), (10, 20), (101, 110)), 0, 120));
        Assert.Equal([U(0, 5)], Walk(Tree((0, 5), (0, 5), (0, 5)), 0, 5));
    }

    [Fact]
    public void UsedSpanStartsAtFirstAndIsCutAtLast()
    {
        Assert.Equal([U(10, 20)], Walk(Tree((0, 100)), 10, 20));
        Assert.Equal([H(0, 4), U(5, 10)], Walk(Tree((5, 10)), 0, 10)); // no empty trailing hole
        Assert.Equal([U(7, 7)], Walk(Tree((5, 10)), 7, 7));
    }

    [Fact]
    public void NodesOutsideTheRangeAreIgnored() =>
        Assert.Equal([U(10, 12), H(13, 19), U(20, 25)],
            Walk(Tree((0, 5), (8, 12), (20, 30), (40, 50)), 10, 25));

    [Fact]
    public void RangesAtTheEndsOfTheIndexSpaceWork()
    {
        Assert.Equal([H(Max - 10, Max - 6), U(Max - 5, Max)], Walk(Tree((Max - 5, Max)), Max - 10, Max));
        Assert.Equal([U(0, Max)], Walk(Tree((0, Max)), 0, Max));
        Assert.Equal([U(0, Max - 1), H(Max, Max)], Walk(Tree((0, Max - 1)), 0, Max));
        Assert.Equal([H(0, 0), U(1, Max)], Walk(Tree((1, 3), (2, Max)), 0, Max));
        Assert.Equal([H(0, Max)], Walk(new rb_root_cached(), 0, Max));
    }

    [Fact]
    public void HoleAndUsedFieldsShareStorage()
    {
        var it = new interval_tree_span_iter { start_used = 5, last_used = 9 };
        Assert.Equal(5UL, it.start_hole);
        Assert.Equal(9UL, it.last_hole);
        it.start_hole = 7;
        it.last_hole = 8;
        Assert.Equal(7UL, it.start_used);
        Assert.Equal(8UL, it.last_used);
    }

    [Fact]
    public void NextAfterDoneStaysDone()
    {
        var it = new interval_tree_span_iter();
        TreeApi.SpanFirst(it, Tree((0, 9)), 0, 9);
        TreeApi.SpanNext(it);
        Assert.True(TreeApi.SpanDone(it));
        TreeApi.SpanNext(it);
        Assert.True(TreeApi.SpanDone(it));
        Assert.Equal(-1, it.is_hole);
    }

    [Fact]
    public void NextAfterARememberedNodeWasRemovedIsCorruption()
    {
        var tree = new rb_root_cached();
        var a = new interval_tree_node(null) { start = 10, last = 19 };
        var b = new interval_tree_node(null) { start = 30, last = 39 };
        TreeApi.Insert(a, tree);
        TreeApi.Insert(b, tree);
        var it = new interval_tree_span_iter();
        TreeApi.SpanFirst(it, tree, 0, 50);
        TreeApi.SpanNext(it);
        Assert.Equal(U(10, 19), Current(it));
        TreeApi.Remove(b, tree);
        Assert.Throws<KernelListCorruption>(() => TreeApi.SpanNext(it));
    }

    [Fact]
    public void NextAfterAdvancingPastTheEndResumesAfterTheRememberedHole()
    {
        // Not used by pages.c, kept as v6.2 does it: advancing past last_index only marks the
        // walk done and keeps the remembered nodes, so a later next() treats the state like a
        // hole and yields the used span that followed it.
        var (it, tree) = Started(0, 31, (10, 15));
        TreeApi.SpanAdvance(it, tree, 40);
        Assert.True(TreeApi.SpanDone(it));
        TreeApi.SpanNext(it);
        Assert.Equal(U(10, 15), Current(it));
    }

    // ---- advance -----------------------------------------------------------------------------

    private static (interval_tree_span_iter It, rb_root_cached Tree) Started(ulong first, ulong last, params (ulong, ulong)[] intervals)
    {
        var tree = Tree(intervals);
        var it = new interval_tree_span_iter();
        TreeApi.SpanFirst(it, tree, first, last);
        return (it, tree);
    }

    [Fact]
    public void AdvanceInsideTheCurrentSpanOnlyMovesItsStart()
    {
        var (it, tree) = Started(0, 50, (10, 19), (30, 39));
        long firsts = tree.IterFirstCalls, nexts = tree.IterNextCalls;
        TreeApi.SpanAdvance(it, tree, 5);
        Assert.Equal(H(5, 9), Current(it));
        Assert.Equal(5UL, it.first_index);
        Assert.Equal((firsts, nexts), (tree.IterFirstCalls, tree.IterNextCalls));
        TreeApi.SpanNext(it);
        TreeApi.SpanAdvance(it, tree, 19);
        Assert.Equal(U(19, 19), Current(it));
        TreeApi.SpanNext(it);
        Assert.Equal(H(20, 29), Current(it));
    }

    [Fact]
    public void AdvanceToOnePastTheSpanIsNext()
    {
        var (it, tree) = Started(0, 50, (10, 19), (30, 39));
        long firsts = tree.IterFirstCalls;
        TreeApi.SpanAdvance(it, tree, 10);
        Assert.Equal(U(10, 19), Current(it));
        TreeApi.SpanAdvance(it, tree, 20);
        Assert.Equal(H(20, 29), Current(it));
        Assert.Equal(firsts, tree.IterFirstCalls);
        Assert.Equal(20UL, it.first_index);
    }

    [Fact]
    public void AdvanceElsewhereRestartsTheWalk()
    {
        var (it, tree) = Started(0, 50, (10, 19), (30, 39));
        long firsts = tree.IterFirstCalls;
        TreeApi.SpanAdvance(it, tree, 25); // forward, past the next span
        Assert.Equal(H(25, 29), Current(it));
        Assert.Equal(firsts + 1, tree.IterFirstCalls);
        TreeApi.SpanAdvance(it, tree, 12); // backward
        Assert.Equal(U(12, 19), Current(it));
        Assert.Equal(firsts + 2, tree.IterFirstCalls);
        Assert.Equal(12UL, it.first_index);
        Assert.Equal(50UL, it.last_index);
        TreeApi.SpanNext(it);
        Assert.Equal(H(20, 29), Current(it));
    }

    [Fact]
    public void AdvanceBeyondLastIndexIsDone()
    {
        var (it, tree) = Started(0, 50, (10, 19));
        TreeApi.SpanAdvance(it, tree, 51);
        Assert.True(TreeApi.SpanDone(it));
        Assert.Equal(51UL, it.first_index);
    }

    [Fact]
    public void AdvanceWhenDoneStaysDone()
    {
        var (it, tree) = Started(0, 50, (10, 19));
        TreeApi.SpanAdvance(it, tree, 60);
        TreeApi.SpanAdvance(it, tree, 3);
        Assert.True(TreeApi.SpanDone(it));
        Assert.Equal(60UL, it.first_index);
    }

    [Fact]
    public void AdvanceToZeroFromAFinalSpanEndingAtUlongMaxWrapsIntoNextAndIsDone()
    {
        // last_hole + 1 wraps to 0, so the "one past the span" rule applies and ends the walk.
        var (it, tree) = Started(0, Max, (Max - 5, Max));
        TreeApi.SpanNext(it);
        Assert.Equal(U(Max - 5, Max), Current(it));
        TreeApi.SpanAdvance(it, tree, 0);
        Assert.True(TreeApi.SpanDone(it));
        Assert.Equal(0UL, it.first_index);
    }

    // ---- properties against the naive reference ---------------------------------------------

    private static readonly Gen<List<(ulong Start, ulong Last)>> Intervals =
        Gen.Choose(0, 30).SelectMany(n => Gen.ListOf(IntervalGen.Interval, n));

    private static IEnumerable<List<(ulong, ulong)>> ShrinkIntervals(List<(ulong Start, ulong Last)> ivs) =>
        Enumerable.Range(0, ivs.Count).Select(i => ivs.Where((_, j) => j != i).ToList())
            .Concat(Enumerable.Range(0, ivs.Count).SelectMany(i => IntervalGen.Shrink(ivs[i])
                .Select(s => { var c = ivs.ToList(); c[i] = s; return c; })));

    private static Arbitrary<(ulong Start, ulong Last)> RangeArb => Arb.From(IntervalGen.Interval, IntervalGen.Shrink);

    [Fact]
    public void FirstNextWalksMatchTheReference()
    {
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(2000).WithReplay(0x5a17_0001UL, 0x6a09_e667UL),
            Prop.ForAll(Arb.From(Intervals, ShrinkIntervals), RangeArb, (ivs, range) =>
            {
                var tree = Tree([.. ivs]);
                Assert.Equal(ReferenceWalk(ivs, range.Start, range.Last), Walk(tree, range.Start, range.Last));
            }));
    }

    [Fact]
    public void WalksOverRangesNearTheNodesMatchTheReference()
    {
        // Query ranges built from the nodes' own ends (and their neighbours), so the range
        // boundaries fall exactly on, just before and just after node boundaries.
        var gen = Intervals.Where(ivs => ivs.Count > 0).SelectMany(ivs =>
        {
            var points = ivs.SelectMany(iv => new[] { iv.Start, iv.Last, unchecked(iv.Start - 1), unchecked(iv.Last + 1) }).ToArray();
            return Gen.Elements(points).SelectMany(a => Gen.Elements(points)
                .Select(b => (ivs, Math.Min(a, b), Math.Max(a, b))));
        });
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(2000).WithReplay(0x5a17_0002UL, 0xbb67_ae85UL),
            Prop.ForAll(Arb.From(gen), t =>
            {
                var (ivs, first, last) = t;
                Assert.Equal(ReferenceWalk(ivs, first, last), Walk(Tree([.. ivs]), first, last));
            }));
    }

    public enum StepKind { Next, Inside, OnePast, Beyond, Backward, Anywhere, Zero, LastIndex }

    public readonly record struct Step(StepKind Kind, ulong R)
    {
        public override string ToString() => $"{Kind}({R:x})";
    }

    private static readonly Gen<Step> StepGen =
        Gen.Elements(Enum.GetValues<StepKind>()).SelectMany(k => IntervalGen.Value.Select(r => new Step(k, r)));

    /// <summary>The index a step advances to, chosen from the reference state.</summary>
    private static ulong Target(Step step, Span? current, ulong last)
    {
        if (current is not { } cur)
            return step.R;
        return step.Kind switch
        {
            StepKind.Inside => (ulong)(cur.Start + (UInt128)step.R % ((UInt128)cur.Last - cur.Start + 1)),
            StepKind.OnePast => unchecked(cur.Last + 1),
            StepKind.Beyond => last < Max ? last + 1 + step.R % (Max - last) : step.R,
            StepKind.Backward => cur.Start > 0 ? step.R % cur.Start : 0,
            StepKind.Zero => 0,
            StepKind.LastIndex => last,
            _ => step.R,
        };
    }

    private static void RunAdvances(List<(ulong Start, ulong Last)> ivs, (ulong Start, ulong Last) range, List<Step> steps)
    {
        var tree = Tree([.. ivs]);
        var (first, last) = range;
        var it = new interval_tree_span_iter();
        TreeApi.SpanFirst(it, tree, first, last);
        // Reference state: the remaining walk (current span first), done, first_index.
        var rest = ReferenceWalk(ivs, first, last);
        bool done = false;
        ulong firstIndex = first;
        foreach (var step in steps)
        {
            Span? current = done ? null : rest[0];
            if (step.Kind == StepKind.Next)
            {
                // next() on a finished walk is outside the semantics (see NextAfterAdvancingPastTheEnd...).
                if (done)
                    continue;
                TreeApi.SpanNext(it);
                rest.RemoveAt(0);
                done = rest.Count == 0;
            }
            else
            {
                ulong target = Target(step, current, last);
                TreeApi.SpanAdvance(it, tree, target);
                if (current is { } cur)
                {
                    firstIndex = target;
                    if (target > last)
                        done = true;
                    else if (cur.Start <= target && target <= cur.Last)
                        rest[0] = cur with { Start = target };
                    else if (target == unchecked(cur.Last + 1))
                    {
                        rest.RemoveAt(0);
                        done = rest.Count == 0;
                    }
                    else
                        rest = ReferenceWalk(ivs, target, last);
                    // Whatever rule applied, the walk now goes on like a fresh walk from the
                    // target, except when last_hole + 1 wrapped around to 0.
                    if (target <= last && !(cur.Last == Max && target == 0 && cur.Start > 0))
                        Assert.Equal(ReferenceWalk(ivs, target, last), done ? [] : rest);
                }
            }
            Assert.Equal(done, TreeApi.SpanDone(it));
            Assert.Equal(last, it.last_index);
            Assert.Equal(firstIndex, it.first_index);
            if (!done)
                Assert.Equal(rest[0], Current(it));
        }
    }

    [Fact]
    public void RandomAdvanceSequencesMatchTheReference()
    {
        var steps = ArbMap.Default.MergeArb(Arb.From(StepGen)).ArbFor<List<Step>>();
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(2000).WithReplay(0x5a17_0003UL, 0x3c6e_f373UL),
            Prop.ForAll(Arb.From(Intervals, ShrinkIntervals), RangeArb, steps, RunAdvances));
    }

    public enum Cut { Whole, Half, Single }

    [Fact]
    public void ForwardAdvancesLikeTheDoubleSpanIteratorMatchTheReference()
    {
        // The pattern pages.c uses: take a piece of the current span that may be shorter than the
        // span (the other tree's span ended earlier), then advance to the piece's end + 1, until
        // last_index. The pieces cycle through the generated cuts; a Half in every cycle bounds
        // the number of steps even for spans of 2^64 indexes.
        var cuts = Gen.ListOf(Gen.Elements(Enum.GetValues<Cut>())).Select(c => c.Append(Cut.Half).ToList());
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(1000).WithReplay(0x5a17_0004UL, 0xa54f_f53bUL),
            Prop.ForAll(Arb.From(Intervals, ShrinkIntervals), RangeArb, Arb.From(cuts), (ivs, range, cycle) =>
            {
                var tree = Tree([.. ivs]);
                var it = new interval_tree_span_iter();
                TreeApi.SpanFirst(it, tree, range.Start, range.Last);
                var pieces = new List<Span>();
                for (int step = 0; !TreeApi.SpanDone(it); step++)
                {
                    Assert.True(step < 100_000, "walk does not progress");
                    ulong start = it.start_hole, end = it.last_hole;
                    ulong cut = cycle[step % cycle.Count] switch
                    {
                        Cut.Whole => end,
                        Cut.Single => start,
                        _ => start + (end - start) / 2,
                    };
                    pieces.Add(new Span(it.is_hole, start, cut));
                    if (cut == range.Last)
                        break;
                    TreeApi.SpanAdvance(it, tree, cut + 1);
                }
                // Glue the pieces back into maximal spans and compare.
                var glued = new List<Span>();
                foreach (var piece in pieces)
                {
                    if (glued.Count > 0 && glued[^1].Hole == piece.Hole && glued[^1].Last + 1 == piece.Start)
                        glued[^1] = glued[^1] with { Last = piece.Last };
                    else
                        glued.Add(piece);
                }
                Assert.Equal(ReferenceWalk(ivs, range.Start, range.Last), glued);
            }));
    }
}
