// SPDX-License-Identifier: GPL-2.0-only
using System.Collections;

namespace Iommufd.Model.Kernel;

/// <summary>
/// Structural misuse of an interval tree: inserting a node that is already in a tree, removing a
/// node from a tree it is not in, an interval with start &gt; last, a node whose key was changed
/// while it sat in a tree, or two threads changing (or reading while another changes) one tree at
/// the same time. The kernel would corrupt the rb-tree (or hit a list/rb debugging BUG); the model
/// stops with this exception.
/// </summary>
public sealed class KernelListCorruption(string message) : Exception(message);

/// <summary>
/// struct interval_tree_node: an inclusive interval [start, last] embedded in a container object
/// (the object <c>container_of</c> yields). The tree's bookkeeping (links, height, subtree maximum,
/// a copy of the key taken at insertion, the owning tree) lives in internal fields.
/// </summary>
public sealed partial class interval_tree_node(object? container)
{
    public ulong start;
    public ulong last;
    public object? Container { get; } = container;

    internal interval_tree_node? left, right, parent;
    internal rb_root_cached? owner;
    internal int height;
    /// <summary>Largest <see cref="keyLast"/> in the subtree rooted here (the augmentation).</summary>
    internal ulong subtreeLast;
    /// <summary>The interval as it was at insertion; the tree orders and searches by these.</summary>
    internal ulong keyStart, keyLast;
    /// <summary>Insertion sequence number: orders nodes with equal start (first inserted first).</summary>
    internal ulong seq;

    /// <summary>The tree this node is currently in, or null.</summary>
    public rb_root_cached? Owner => owner;

    public override string ToString() => $"[{start:x}, {last:x}]" + (owner is null ? " (detached)" : "");

    /// <summary>Throws if the node's public interval no longer matches the key it was inserted with.</summary>
    internal void CheckKey(string operation)
    {
        if (start != keyStart || last != keyLast)
            throw new KernelListCorruption(
                $"{operation}: node inserted as [{keyStart:x}, {keyLast:x}] was changed to [{start:x}, {last:x}] while in a tree");
    }
}

/// <summary>
/// struct rb_root_cached holding interval_tree_nodes: the kernel's augmented rb-tree interval tree
/// (lib/interval_tree.c). Models: insert/remove of nodes with inclusive unsigned long intervals,
/// duplicates and overlaps allowed; <c>iter_first</c> returning the overlapping node with the
/// smallest start and <c>iter_next</c> the following overlapping node in start order (equal starts
/// in insertion order); emptiness. It is an AVL tree keyed by (start, insertion number), augmented
/// with the subtree maximum of <c>last</c>, with parent links so that iter_next walks like the
/// kernel's (O(log n) updates, O(log n + k) queries), and fully deterministic.
/// Checks (throwing <see cref="KernelListCorruption"/>): double insert, removal from the wrong tree
/// or of a detached node, start &gt; last (nodes and queries), iter_next from a detached node, keys
/// changed while in the tree, and concurrent writer/writer or writer/reader use of one tree.
/// Instrumentation: counters of inserts, removes, iter_first and iter_next calls; <see cref="Count"/>;
/// <see cref="Nodes"/> in start order; <see cref="CheckInvariants"/>.
/// Does not model: the rb-tree's actual shape or colours, the cached leftmost pointer, RCU-safe
/// lockless readers (there are none around pages.c).
/// </summary>
public sealed partial class rb_root_cached
{
    private interval_tree_node? root;
    private int count;
    private ulong nextSeq;
    private long version;
    /// <summary>Use detector: 0 idle, &gt;0 number of readers inside, -1 a writer inside.</summary>
    private int inUse;
    private long inserts, removes, iterFirstCalls, iterNextCalls;

    public int Count => count;
    public bool IsEmpty => root is null;
    public long Inserts => inserts;
    public long Removes => removes;
    public long IterFirstCalls => Interlocked.Read(ref iterFirstCalls);
    public long IterNextCalls => Interlocked.Read(ref iterNextCalls);

    /// <summary>The nodes in start order (equal starts in insertion order). Changing the tree while
    /// enumerating throws <see cref="InvalidOperationException"/>.</summary>
    public IEnumerable<interval_tree_node> Nodes => new NodeEnumerable(this);

    // ---- use detector ----------------------------------------------------------------------
    internal void EnterWrite(string operation)
    {
        int was = Interlocked.CompareExchange(ref inUse, -1, 0);
        if (was != 0)
            throw new KernelListCorruption($"{operation}: tree changed while another thread " +
                (was < 0 ? "was changing it" : "was reading it"));
    }

    internal void ExitWrite() => Volatile.Write(ref inUse, 0);

    internal void EnterRead(string operation)
    {
        while (true)
        {
            int was = Volatile.Read(ref inUse);
            if (was < 0)
                throw new KernelListCorruption($"{operation}: tree read while another thread was changing it");
            if (Interlocked.CompareExchange(ref inUse, was + 1, was) == was)
                return;
        }
    }

    internal void ExitRead() => Interlocked.Decrement(ref inUse);

    private static void CheckRange(string operation, ulong start, ulong last)
    {
        if (start > last)
            throw new KernelListCorruption($"{operation}: interval start {start:x} > last {last:x}");
    }

    // ---- insert / remove ---------------------------------------------------------------------
    /// <summary>interval_tree_insert(node, this).</summary>
    public void Insert(interval_tree_node node)
    {
        if (node.owner is not null)
            throw new KernelListCorruption(
                $"interval_tree_insert: node {node} is already in " + (node.owner == this ? "this tree" : "another tree"));
        CheckRange("interval_tree_insert", node.start, node.last);
        EnterWrite("interval_tree_insert");
        try
        {
            node.keyStart = node.start;
            node.keyLast = node.last;
            node.seq = nextSeq++;
            node.left = node.right = node.parent = null;
            node.height = 1;
            node.subtreeLast = node.keyLast;
            root = InsertAt(root, node);
            root.parent = null;
            node.owner = this;
            count++;
            inserts++;
            version++;
        }
        finally
        {
            ExitWrite();
        }
    }

    /// <summary>interval_tree_remove(node, this).</summary>
    public void Remove(interval_tree_node node)
    {
        if (node.owner != this)
            throw new KernelListCorruption(
                $"interval_tree_remove: node {node} is " + (node.owner is null ? "not in any tree" : "in another tree"));
        node.CheckKey("interval_tree_remove");
        EnterWrite("interval_tree_remove");
        try
        {
            root = RemoveAt(root, node);
            if (root is not null)
                root.parent = null;
            node.left = node.right = node.parent = null;
            node.owner = null;
            count--;
            removes++;
            version++;
        }
        finally
        {
            ExitWrite();
        }
    }

    private static bool Before(interval_tree_node a, interval_tree_node b) =>
        a.keyStart < b.keyStart || (a.keyStart == b.keyStart && a.seq < b.seq);

    private static interval_tree_node InsertAt(interval_tree_node? t, interval_tree_node n)
    {
        if (t is null)
            return n;
        if (Before(n, t))
            t.left = InsertAt(t.left, n);
        else
            t.right = InsertAt(t.right, n);
        return Rebalance(t);
    }

    private static interval_tree_node? RemoveAt(interval_tree_node? t, interval_tree_node n)
    {
        if (t is null)
            throw new KernelListCorruption($"interval_tree_remove: node {n} claims this tree but is not reachable in it");
        if (t == n)
        {
            if (t.left is null)
                return t.right;
            if (t.right is null)
                return t.left;
            var rest = RemoveLeftmost(t.right, out var successor);
            successor.left = t.left;
            successor.right = rest;
            return Rebalance(successor);
        }
        if (Before(n, t))
            t.left = RemoveAt(t.left, n);
        else
            t.right = RemoveAt(t.right, n);
        return Rebalance(t);
    }

    private static interval_tree_node? RemoveLeftmost(interval_tree_node t, out interval_tree_node leftmost)
    {
        if (t.left is null)
        {
            leftmost = t;
            return t.right;
        }
        t.left = RemoveLeftmost(t.left, out leftmost);
        return Rebalance(t);
    }

    private static int Height(interval_tree_node? n) => n?.height ?? 0;

    /// <summary>Recomputes height and subtree maximum, and re-points the children's parent links.</summary>
    private static void Update(interval_tree_node t)
    {
        ulong max = t.keyLast;
        int h = 0;
        if (t.left is { } l)
        {
            l.parent = t;
            h = l.height;
            if (l.subtreeLast > max) max = l.subtreeLast;
        }
        if (t.right is { } r)
        {
            r.parent = t;
            if (r.height > h) h = r.height;
            if (r.subtreeLast > max) max = r.subtreeLast;
        }
        t.height = h + 1;
        t.subtreeLast = max;
    }

    private static interval_tree_node Rebalance(interval_tree_node t)
    {
        Update(t);
        int balance = Height(t.left) - Height(t.right);
        if (balance > 1)
        {
            var l = t.left!;
            if (Height(l.left) < Height(l.right))
                t.left = RotateLeft(l);
            return RotateRight(t);
        }
        if (balance < -1)
        {
            var r = t.right!;
            if (Height(r.right) < Height(r.left))
                t.right = RotateRight(r);
            return RotateLeft(t);
        }
        return t;
    }

    private static interval_tree_node RotateRight(interval_tree_node y)
    {
        var x = y.left!;
        y.left = x.right;
        x.right = y;
        Update(y);
        Update(x);
        return x;
    }

    private static interval_tree_node RotateLeft(interval_tree_node x)
    {
        var y = x.right!;
        x.right = y.left;
        y.left = x;
        Update(x);
        Update(y);
        return y;
    }

    // ---- queries -------------------------------------------------------------------------
    /// <summary>interval_tree_iter_first(this, start, last).</summary>
    public interval_tree_node? IterFirst(ulong start, ulong last)
    {
        // No range check: like the kernel, an inverted query [start > last] is answered by the
        // same rule (node.start <= last && start <= node.last), not refused.
        EnterRead("interval_tree_iter_first");
        try
        {
            Interlocked.Increment(ref iterFirstCalls);
            var n = root;
            if (n is null || n.subtreeLast < start)
                return null;
            return Checked(SubtreeSearch(n, start, last), "interval_tree_iter_first");
        }
        finally
        {
            ExitRead();
        }
    }

    /// <summary>interval_tree_iter_next(node, start, last): the next node after
    /// <paramref name="node"/> in start order that overlaps [start, last].</summary>
    public static interval_tree_node? IterNext(interval_tree_node node, ulong start, ulong last)
    {
        var tree = node.owner ?? throw new KernelListCorruption($"interval_tree_iter_next: node {node} is not in any tree");
        return tree.NextOf(node, start, last);
    }

    private interval_tree_node? NextOf(interval_tree_node node, ulong start, ulong last)
    {
        EnterRead("interval_tree_iter_next");
        try
        {
            Interlocked.Increment(ref iterNextCalls);
            node.CheckKey("interval_tree_iter_next");
            var n = node;
            while (true)
            {
                // Everything in the right subtree follows n; search it if something there reaches start.
                if (n.right is { } r && r.subtreeLast >= start)
                    return Checked(SubtreeSearch(r, start, last), "interval_tree_iter_next");
                // Otherwise climb to the first ancestor that we reach from its left side.
                var up = n.parent;
                while (up is not null && up.right == n)
                {
                    n = up;
                    up = up.parent;
                }
                if (up is null)
                    return null;
                n = up;
                if (n.keyStart > last)
                    return null;
                if (n.keyLast >= start)
                    return Checked(n, "interval_tree_iter_next");
            }
        }
        finally
        {
            ExitRead();
        }
    }

    /// <summary>The leftmost node of subtree <paramref name="n"/> overlapping [start, last], given
    /// that n.subtreeLast &gt;= start. Null then also means no later node of the tree overlaps:
    /// the search only fails on reaching a node that starts after <paramref name="last"/>.</summary>
    private static interval_tree_node? SubtreeSearch(interval_tree_node n, ulong start, ulong last)
    {
        while (true)
        {
            if (n.left is { } l && l.subtreeLast >= start)
            {
                n = l;
                continue;
            }
            if (n.keyStart > last)
                return null;
            if (n.keyLast >= start)
                return n;
            if (n.right is { } r && r.subtreeLast >= start)
            {
                n = r;
                continue;
            }
            return null;
        }
    }

    private static interval_tree_node? Checked(interval_tree_node? n, string operation)
    {
        n?.CheckKey(operation);
        return n;
    }

    // ---- oracle support ------------------------------------------------------------------
    /// <summary>Verifies the whole structure (order, balance, augmentation, links, ownership, keys,
    /// count); throws <see cref="KernelListCorruption"/> on the first inconsistency.</summary>
    public void CheckInvariants()
    {
        EnterRead("CheckInvariants");
        try
        {
            if (root is not null && root.parent is not null)
                throw new KernelListCorruption("root has a parent");
            interval_tree_node? previous = null;
            int seen = CheckSubtree(root, ref previous);
            if (seen != count)
                throw new KernelListCorruption($"tree holds {seen} nodes but counts {count}");
        }
        finally
        {
            ExitRead();
        }
    }

    private int CheckSubtree(interval_tree_node? n, ref interval_tree_node? previous)
    {
        if (n is null)
            return 0;
        if (n.left is not null && n.left.parent != n || n.right is not null && n.right.parent != n)
            throw new KernelListCorruption($"broken parent link under {n}");
        int nodes = CheckSubtree(n.left, ref previous);
        if (n.owner != this)
            throw new KernelListCorruption($"node {n} in the tree does not name it as owner");
        n.CheckKey("CheckInvariants");
        if (previous is not null && !Before(previous, n))
            throw new KernelListCorruption($"node {previous} precedes {n} out of order");
        previous = n;
        nodes += 1 + CheckSubtree(n.right, ref previous);
        int lh = Height(n.left), rh = Height(n.right);
        if (n.height != Math.Max(lh, rh) + 1 || Math.Abs(lh - rh) > 1)
            throw new KernelListCorruption($"node {n} is unbalanced or has a stale height");
        ulong max = Math.Max(n.keyLast, Math.Max(n.left?.subtreeLast ?? 0, n.right?.subtreeLast ?? 0));
        if (n.subtreeLast != max)
            throw new KernelListCorruption($"node {n} has subtree last {n.subtreeLast:x}, expected {max:x}");
        return nodes;
    }

    private sealed class NodeEnumerable(rb_root_cached tree) : IEnumerable<interval_tree_node>
    {
        public IEnumerator<interval_tree_node> GetEnumerator()
        {
            long startVersion = tree.version;
            var n = tree.root;
            while (n?.left is not null)
                n = n.left;
            while (n is not null)
            {
                yield return n;
                if (tree.version != startVersion)
                    throw new InvalidOperationException("interval tree changed during enumeration");
                if (n.right is not null)
                {
                    n = n.right;
                    while (n.left is not null)
                        n = n.left;
                }
                else
                {
                    interval_tree_node? prev;
                    do
                    {
                        prev = n;
                        n = n.parent;
                    } while (n is not null && n.right == prev);
                }
            }
        }

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
