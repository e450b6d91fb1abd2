// SPDX-License-Identifier: GPL-2.0-only
using FsCheck;
using FsCheck.Fluent;
using Iommufd.Model.Kernel;

namespace Iommufd.Tests.Kernel;

/// <summary>Generators of intervals that stress the interesting cases: many duplicates, touching
/// and nested intervals in small windows at 0, in the middle and at ULONG_MAX, huge intervals
/// spanning windows, and fully random ones.</summary>
internal static class IntervalGen
{
    public const ulong Max = ulong.MaxValue;
    private const int Window = 40;
    private static readonly ulong[] Bases = [0UL, 1UL << 40, Max - Window];

    public static readonly Gen<ulong> Value = Gen.Frequency(
        (8, Gen.Elements(Bases).SelectMany(b => Gen.Choose(0, Window).Select(o => b + (ulong)o))),
        (1, Gen.Choose(int.MinValue, int.MaxValue).SelectMany(hi => Gen.Choose(int.MinValue, int.MaxValue)
            .Select(lo => ((ulong)(uint)hi << 32) | (uint)lo))));

    private static readonly Gen<(ulong, ulong)> Local =
        Gen.Elements(Bases).SelectMany(b => Gen.Choose(0, Window).SelectMany(x => Gen.Choose(0, Window)
            .Select(y => (b + (ulong)Math.Min(x, y), b + (ulong)Math.Max(x, y)))));

    private static readonly Gen<(ulong, ulong)> Spanning =
        Gen.Choose(0, Window).SelectMany(x => Gen.Choose(0, Window)
            .Select(y => ((ulong)x, Max - (ulong)y)));

    private static readonly Gen<(ulong, ulong)> Anywhere =
        Value.SelectMany(x => Value.Select(y => (Math.Min(x, y), Math.Max(x, y))));

    /// <summary>An interval [start, last] with start &lt;= last.</summary>
    public static readonly Gen<(ulong Start, ulong Last)> Interval =
        Gen.Frequency((8, Local), (1, Spanning), (1, Anywhere));

    public static IEnumerable<(ulong, ulong)> Shrink((ulong Start, ulong Last) iv)
    {
        if (iv.Start > 0)
            yield return (iv.Start / 2, iv.Last);
        if (iv.Last > iv.Start)
            yield return (iv.Start, iv.Start + (iv.Last - iv.Start) / 2);
    }

    public static bool Overlaps(ulong s, ulong l, ulong qs, ulong ql) => s <= ql && l >= qs;
}

/// <summary>Exposes the protected KernelApi interval tree services to the tests.</summary>
internal sealed class TreeApi() : KernelApi(new FakeKernel())
{
    public static void Insert(interval_tree_node n, rb_root_cached r) => interval_tree_insert(n, r);
    public static void Remove(interval_tree_node n, rb_root_cached r) => interval_tree_remove(n, r);
    public static interval_tree_node? First(rb_root_cached r, ulong s, ulong l) => interval_tree_iter_first(r, s, l);
    public static interval_tree_node? Next(interval_tree_node n, ulong s, ulong l) => interval_tree_iter_next(n, s, l);
    public static bool Empty(rb_root_cached r) => RB_EMPTY_ROOT(r);
    public static T Container<T>(interval_tree_node n) where T : class => container_of<T>(n);
    public static void SpanFirst(interval_tree_span_iter i, rb_root_cached r, ulong f, ulong l) => interval_tree_span_iter_first(i, r, f, l);
    public static void SpanNext(interval_tree_span_iter i) => interval_tree_span_iter_next(i);
    public static void SpanAdvance(interval_tree_span_iter i, rb_root_cached r, ulong n) => interval_tree_span_iter_advance(i, r, n);
    public static bool SpanDone(interval_tree_span_iter i) => interval_tree_span_iter_done(i);
}

public class IntervalTreeTests
{
    private const ulong Max = ulong.MaxValue;

    private static interval_tree_node Node(ulong start, ulong last, object? container = null) =>
        new(container) { start = start, last = last };

    private static interval_tree_node Add(rb_root_cached tree, ulong start, ulong last)
    {
        var n = Node(start, last);
        TreeApi.Insert(n, tree);
        return n;
    }

    /// <summary>The iter_first/iter_next enumeration of [s, l].</summary>
    internal static List<interval_tree_node> Query(rb_root_cached tree, ulong s, ulong l)
    {
        var result = new List<interval_tree_node>();
        for (var n = TreeApi.First(tree, s, l); n is not null; n = TreeApi.Next(n, s, l))
            result.Add(n);
        return result;
    }

    // ---- basic behaviour -----------------------------------------------------------------------

    [Fact]
    public void EmptyTreeHasNothing()
    {
        var tree = new rb_root_cached();
        Assert.True(TreeApi.Empty(tree));
        Assert.True(tree.IsEmpty);
        Assert.Equal(0, tree.Count);
        Assert.Empty(tree.Nodes);
        Assert.Null(TreeApi.First(tree, 0, Max));
    }

    [Fact]
    public void InsertAndRemoveTrackOwnerCountAndEmptiness()
    {
        var tree = new rb_root_cached();
        var a = Node(3, 7);
        Assert.Null(a.Owner);
        TreeApi.Insert(a, tree);
        Assert.Same(tree, a.Owner);
        Assert.False(TreeApi.Empty(tree));
        Assert.Equal(1, tree.Count);
        TreeApi.Remove(a, tree);
        Assert.Null(a.Owner);
        Assert.True(TreeApi.Empty(tree));
        Assert.Equal(0, tree.Count);
        // A removed node may be inserted again, also with a new interval.
        a.start = 10;
        a.last = 20;
        TreeApi.Insert(a, tree);
        Assert.Same(a, TreeApi.First(tree, 15, 15));
    }

    [Fact]
    public void ContainerOfYieldsTheEmbeddingObject()
    {
        var owner = new object();
        var n = Node(1, 2, owner);
        Assert.Same(owner, TreeApi.Container<object>(n));
        Assert.Same(owner, n.Container);
    }

    [Fact]
    public void OverlapIsInclusiveAtBothEnds()
    {
        var tree = new rb_root_cached();
        var before = Add(tree, 0, 4);
        var endsAt5 = Add(tree, 0, 5);
        var startsAt5 = Add(tree, 5, 9);
        var after = Add(tree, 6, 9);
        var hits = Query(tree, 5, 5);
        Assert.Equal([endsAt5, startsAt5], hits);
        Assert.DoesNotContain(before, hits);
        Assert.DoesNotContain(after, hits);
    }

    [Fact]
    public void IterationIsInStartOrderWithDuplicatesInInsertionOrder()
    {
        var tree = new rb_root_cached();
        var c = Add(tree, 20, 30);
        var a1 = Add(tree, 10, 15);
        var b = Add(tree, 12, 40);
        var a2 = Add(tree, 10, 15);
        var a3 = Add(tree, 10, 11);
        Assert.Equal([a1, a2, a3, b, c], Query(tree, 0, Max));
        Assert.Equal([a1, a2, a3, b, c], tree.Nodes.ToList());
        Assert.Equal([a1, a2, b], Query(tree, 13, 14));
        Assert.Equal([b, c], Query(tree, 16, 100));
        Assert.Same(a1, TreeApi.First(tree, 11, 11));
    }

    [Fact]
    public void IterNextSkipsNodesOutsideTheQuery()
    {
        var tree = new rb_root_cached();
        var wide = Add(tree, 0, 100);
        Add(tree, 1, 2);
        Add(tree, 3, 4);
        var hit = Add(tree, 50, 60);
        Add(tree, 101, 200);
        Assert.Equal([wide, hit], Query(tree, 55, 100));
        Assert.Null(TreeApi.Next(hit, 55, 100));
    }

    [Fact]
    public void IntervalsAtZeroAndUlongMaxWork()
    {
        var tree = new rb_root_cached();
        var all = Add(tree, 0, Max);
        var top = Add(tree, Max, Max);
        var bottom = Add(tree, 0, 0);
        Assert.Equal([all, bottom], Query(tree, 0, 0));
        Assert.Equal([all, top], Query(tree, Max, Max));
        Assert.Equal([all, bottom, top], Query(tree, 0, Max));
        Assert.Equal([all], Query(tree, 1, Max - 1));
    }

    [Fact]
    public void CountersCountEachOperation()
    {
        var tree = new rb_root_cached();
        var a = Add(tree, 1, 5);
        Add(tree, 3, 9);
        TreeApi.Remove(a, tree);
        Assert.Equal(2, tree.Inserts);
        Assert.Equal(1, tree.Removes);
        var list = Query(tree, 0, 10); // one first, one next (which returns null)
        Assert.Single(list);
        Assert.Equal(1, tree.IterFirstCalls);
        Assert.Equal(1, tree.IterNextCalls);
        Assert.Null(TreeApi.First(tree, 20, 30));
        Assert.Equal(2, tree.IterFirstCalls);
    }

    [Fact]
    public void NodesEnumerationRejectsChangesDuringEnumeration()
    {
        var tree = new rb_root_cached();
        Add(tree, 1, 2);
        Add(tree, 3, 4);
        Assert.Throws<InvalidOperationException>(() =>
        {
            foreach (var _ in tree.Nodes)
                Add(tree, 5, 6);
        });
    }

    [Fact]
    public void LargeTreeStaysBalancedAndAnswersLikeAScan()
    {
        var rng = new Random(20260101);
        var tree = new rb_root_cached();
        var live = new List<interval_tree_node>();
        for (int i = 0; i < 5000; i++)
        {
            ulong s = (ulong)rng.Next(0, 100_000);
            live.Add(Add(tree, s, s + (ulong)rng.Next(0, 300)));
        }
        for (int i = 0; i < 2000; i++)
        {
            int k = rng.Next(live.Count);
            TreeApi.Remove(live[k], tree);
            live.RemoveAt(k);
        }
        tree.CheckInvariants();
        Assert.Equal(live.Count, tree.Count);
        for (int q = 0; q < 200; q++)
        {
            ulong s = (ulong)rng.Next(0, 100_500), l = s + (ulong)rng.Next(0, 2000);
            var expected = tree.Nodes.Where(n => IntervalGen.Overlaps(n.start, n.last, s, l)).ToList();
            Assert.Equal(expected, Query(tree, s, l));
            Assert.Equal(live.Count(n => IntervalGen.Overlaps(n.start, n.last, s, l)), expected.Count);
        }
    }

    // ---- misuse checks -----------------------------------------------------------------------

    [Fact]
    public void InsertingANodeTwiceIsCorruption()
    {
        var tree = new rb_root_cached();
        var a = Add(tree, 1, 2);
        Assert.Throws<KernelListCorruption>(() => TreeApi.Insert(a, tree));
        Assert.Equal(1, tree.Count);
        tree.CheckInvariants();
    }

    [Fact]
    public void InsertingANodeThatIsInAnotherTreeIsCorruption()
    {
        var t1 = new rb_root_cached();
        var t2 = new rb_root_cached();
        var a = Add(t1, 1, 2);
        Assert.Throws<KernelListCorruption>(() => TreeApi.Insert(a, t2));
        Assert.Same(t1, a.Owner);
        Assert.Equal(0, t2.Count);
    }

    [Fact]
    public void RemovingADetachedNodeIsCorruption()
    {
        var tree = new rb_root_cached();
        Add(tree, 1, 2);
        Assert.Throws<KernelListCorruption>(() => TreeApi.Remove(Node(1, 2), tree));
        Assert.Equal(1, tree.Count);
    }

    [Fact]
    public void RemovingANodeFromTheWrongTreeIsCorruption()
    {
        var t1 = new rb_root_cached();
        var t2 = new rb_root_cached();
        var a = Add(t1, 1, 2);
        Add(t2, 1, 2);
        Assert.Throws<KernelListCorruption>(() => TreeApi.Remove(a, t2));
        Assert.Equal(1, t1.Count);
        Assert.Equal(1, t2.Count);
    }

    [Fact]
    public void InsertingAnInvertedIntervalIsCorruption()
    {
        var tree = new rb_root_cached();
        var bad = Node(5, 4);
        Assert.Throws<KernelListCorruption>(() => TreeApi.Insert(bad, tree));
        Assert.Null(bad.Owner);
        Assert.True(tree.IsEmpty);
    }

    [Fact]
    public void AnInvertedQueryIsAnsweredByTheOverlapRuleLikeTheKernel()
    {
        // The kernel's search returns nodes with node.start <= last && start <= node.last for any
        // start/last; an inverted query is not refused.
        var tree = new rb_root_cached();
        var a = Add(tree, 0, 10);
        var b = Add(tree, 2, 9);
        Add(tree, 4, 20);
        Assert.Same(a, TreeApi.First(tree, 8, 3));
        Assert.Same(b, TreeApi.Next(a, 8, 3));
        Assert.Null(TreeApi.First(tree, 11, 3));
    }

    [Fact]
    public void IterNextFromADetachedNodeIsCorruption()
    {
        var tree = new rb_root_cached();
        var a = Add(tree, 0, 10);
        TreeApi.Remove(a, tree);
        Assert.Throws<KernelListCorruption>(() => TreeApi.Next(a, 0, 10));
    }

    [Fact]
    public void ChangingAKeyWhileInTheTreeIsCorruption()
    {
        var tree = new rb_root_cached();
        var a = Add(tree, 0, 10);
        var b = Add(tree, 20, 30);
        a.last = 15;
        Assert.Throws<KernelListCorruption>(() => TreeApi.First(tree, 5, 5));
        Assert.Throws<KernelListCorruption>(() => TreeApi.Next(a, 0, 100));
        Assert.Throws<KernelListCorruption>(() => TreeApi.Remove(a, tree));
        Assert.Throws<KernelListCorruption>(tree.CheckInvariants);
        a.last = 10;
        Assert.Equal([a, b], Query(tree, 0, 100));
        TreeApi.Remove(a, tree);
        tree.CheckInvariants();
    }

    [Fact]
    public void ChangingATreeWhileAnotherThreadChangesOrReadsItIsCorruption()
    {
        var tree = new rb_root_cached();
        var a = Add(tree, 0, 10);

        tree.EnterWrite("other thread");
        Assert.Throws<KernelListCorruption>(() => Add(tree, 1, 2));
        Assert.Throws<KernelListCorruption>(() => TreeApi.First(tree, 0, 5));
        Assert.Throws<KernelListCorruption>(() => TreeApi.Next(a, 0, 5));
        tree.ExitWrite();

        tree.EnterRead("other thread");
        Assert.Throws<KernelListCorruption>(() => TreeApi.Remove(a, tree));
        // Concurrent readers are fine.
        Assert.Same(a, TreeApi.First(tree, 0, 5));
        tree.ExitRead();

        Add(tree, 1, 2);
        Assert.Equal(2, tree.Count);
    }

    // ---- property: random insert/remove/query sequences against a naive list model ----------

    public enum OpKind { Insert, Remove, Query }

    public sealed record TreeOp(OpKind Kind, ulong Start, ulong Last, int Pick)
    {
        public override string ToString() => $"{Kind}({Start:x},{Last:x},{Pick})";
    }

    private static readonly Gen<TreeOp> OpGen = Gen.Frequency(
        (5, IntervalGen.Interval.Select(iv => new TreeOp(OpKind.Insert, iv.Start, iv.Last, 0))),
        (2, Gen.Choose(0, 1000).Select(p => new TreeOp(OpKind.Remove, 0, 0, p))),
        (3, IntervalGen.Interval.Select(iv => new TreeOp(OpKind.Query, iv.Start, iv.Last, 0))));

    private static IEnumerable<TreeOp> ShrinkOp(TreeOp op) =>
        op.Kind == OpKind.Remove
            ? (op.Pick > 0 ? [op with { Pick = op.Pick / 2 }] : [])
            : IntervalGen.Shrink((op.Start, op.Last)).Select(iv => op with { Start = iv.Item1, Last = iv.Item2 });

    private static void RunAgainstModel(List<TreeOp> ops)
    {
        var tree = new rb_root_cached();
        var model = new List<interval_tree_node>(); // insertion order
        long firstCalls = 0;
        foreach (var op in ops)
        {
            switch (op.Kind)
            {
                case OpKind.Insert:
                    model.Add(Add(tree, op.Start, op.Last));
                    break;
                case OpKind.Remove when model.Count > 0:
                    var victim = model[op.Pick % model.Count];
                    TreeApi.Remove(victim, tree);
                    model.Remove(victim);
                    Assert.Null(victim.Owner);
                    break;
                case OpKind.Query:
                    var got = Query(tree, op.Start, op.Last);
                    firstCalls++;
                    var expected = model.Where(n => IntervalGen.Overlaps(n.start, n.last, op.Start, op.Last));
                    Assert.Equal(got.Count, got.Distinct().Count());
                    Assert.True(expected.ToHashSet(ReferenceEqualityComparer.Instance).SetEquals(got), "query hits differ from the model");
                    // Consistent order: iteration is the start-ordered node list filtered to the query.
                    Assert.Equal(tree.Nodes.Where(n => IntervalGen.Overlaps(n.start, n.last, op.Start, op.Last)), got);
                    break;
            }
            tree.CheckInvariants();
            Assert.Equal(model.Count, tree.Count);
            Assert.Equal(model.Count == 0, TreeApi.Empty(tree));
            var nodes = tree.Nodes.ToList();
            Assert.Equal(model.Count, nodes.Count);
            Assert.True(model.ToHashSet(ReferenceEqualityComparer.Instance).SetEquals(nodes), "Nodes differ from the model");
            for (int i = 1; i < nodes.Count; i++)
                Assert.True(nodes[i - 1].start <= nodes[i].start, "Nodes out of start order");
            // Equal starts keep insertion order (the consistent tie order this fake chooses).
            Assert.Equal(model.OrderBy(n => n.start).ToList(), nodes); // OrderBy is stable
            Assert.All(model, n => Assert.Same(tree, n.Owner));
        }
        Assert.Equal(ops.Count(o => o.Kind == OpKind.Insert), tree.Inserts);
        Assert.Equal(firstCalls, tree.IterFirstCalls);
    }

    [Fact]
    public void RandomOperationSequencesMatchANaiveModel()
    {
        var arb = ArbMap.Default.MergeArb(Arb.From(OpGen, ShrinkOp)).ArbFor<List<TreeOp>>();
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(400).WithEndSize(200).WithReplay(0x1d5e_2026UL, 0x9e37_79b9UL),
            Prop.ForAll(arb, ops => RunAgainstModel(ops)));
    }

    [Fact]
    public void RandomBigTreesMatchANaiveModel()
    {
        // Long sequences: a few thousand nodes so that rotations and deep climbs in iter_next happen.
        var inserts = IntervalGen.Interval.Select(iv => new TreeOp(OpKind.Insert, iv.Start, iv.Last, 0));
        var gen = Gen.ListOf(inserts, 1500).SelectMany(grow =>
            Gen.ListOf(OpGen, 3000).Select(mixed => grow.Concat(mixed).ToList()));
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(3).WithReplay(0x5eed_b16UL, 0x1234_5679UL),
            Prop.ForAll(Arb.From(gen), ops => RunBigAgainstModel(ops)));
    }

    private static void RunBigAgainstModel(List<TreeOp> ops)
    {
        // Like RunAgainstModel, but checks the whole structure only now and then to stay fast.
        var tree = new rb_root_cached();
        var model = new List<interval_tree_node>();
        int step = 0;
        foreach (var op in ops)
        {
            switch (op.Kind)
            {
                case OpKind.Insert:
                    model.Add(Add(tree, op.Start, op.Last));
                    break;
                case OpKind.Remove when model.Count > 0:
                    var victim = model[op.Pick % model.Count];
                    TreeApi.Remove(victim, tree);
                    model.Remove(victim);
                    break;
                case OpKind.Query:
                    var got = Query(tree, op.Start, op.Last);
                    var expected = model.Where(n => IntervalGen.Overlaps(n.start, n.last, op.Start, op.Last))
                        .OrderBy(n => n.start).ToList();
                    Assert.Equal(expected, got);
                    break;
            }
            if (++step % 500 == 0)
            {
                tree.CheckInvariants();
                Assert.Equal(model.OrderBy(n => n.start).ToList(), tree.Nodes.ToList());
            }
        }
        tree.CheckInvariants();
        Assert.Equal(model.Count, tree.Count);
    }
}
