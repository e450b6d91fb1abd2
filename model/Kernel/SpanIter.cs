// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Model.Kernel;

/// <summary>
/// struct interval_tree_span_iter: walks [first_index, last_index] of one interval tree as an
/// alternation of maximal used spans (indexes covered by the union of the nodes; nodes that
/// overlap or touch, one ending at x and the next starting at x+1, form one span) and holes.
/// Models the v6.2 first/next/advance/done semantics, including the aliasing of
/// <c>start_hole</c>/<c>start_used</c> and <c>last_hole</c>/<c>last_used</c> (one slot each, like
/// the C union), unsigned wrap-around of <c>last_hole + 1</c>, and the two remembered nodes:
/// <c>nodes[0]</c> is the node that ends the current (or coming) used span, <c>nodes[1]</c> the
/// first node after that span; both null once the walk is in its final span. Like the kernel it
/// keeps pointers to tree nodes and reads them again in next(); it does not notice a tree that
/// changed between calls (a removed remembered node does make the next tree query throw
/// <see cref="KernelListCorruption"/>). Kept as v6.2 behaves although pages.c never relies on it:
/// advance() past last_index only sets is_hole = -1 and keeps the remembered nodes, so a next()
/// after it resumes with the used span that followed the last hole; next() after the walk ended
/// on its own stays done. Does not model: anything beyond these fields.
/// </summary>
public sealed partial class interval_tree_span_iter
{
    public ulong start_hole { get; set; }
    public ulong start_used { get => start_hole; set => start_hole = value; }
    public ulong last_hole { get; set; }
    public ulong last_used { get => last_hole; set => last_hole = value; }
    /// <summary>1 in a hole, 0 in a used span, -1 done.</summary>
    public int is_hole;
    public ulong first_index;
    public ulong last_index;

    private readonly interval_tree_node?[] nodes = new interval_tree_node?[2];

    /// <summary>interval_tree_span_iter_done(): the walk has finished.</summary>
    public bool Done => is_hole == -1;

    /// <summary>interval_tree_span_iter_first(this, tree, first, last): the first span of the walk.</summary>
    public void First(rb_root_cached tree, ulong first, ulong last)
    {
        first_index = first;
        last_index = last;
        nodes[0] = null;
        nodes[1] = tree.IterFirst(first, last);
        var head = nodes[1];
        if (head is null)
        {
            // Nothing in range: one hole covers it all, and it is the final span.
            SetHole(first, last);
            return;
        }
        if (head.start > first)
        {
            SetHole(first, head.start - 1);
            FindRunEnd();
            return;
        }
        FindRunEnd();
        EnterUsed(first);
    }

    /// <summary>interval_tree_span_iter_next(): the span after the current one, or done.</summary>
    public void Next()
    {
        if (nodes[0] is null && nodes[1] is null)
        {
            is_hole = -1;
            return;
        }
        if (is_hole != 0)
        {
            // A hole is always followed by the used span whose end nodes[0] remembers.
            EnterUsed(last_hole + 1);
            return;
        }
        var runEnd = nodes[0]!;
        var following = nodes[1];
        if (following is null)
        {
            // Nothing after the used span inside the range: the trailing hole is the final span.
            SetHole(runEnd.last + 1, last_index);
            nodes[0] = null;
            return;
        }
        SetHole(runEnd.last + 1, following.start - 1);
        FindRunEnd();
    }

    /// <summary>interval_tree_span_iter_advance(this, tree, new_index): make the current span start
    /// at <paramref name="new_index"/>.</summary>
    public void Advance(rb_root_cached tree, ulong new_index)
    {
        if (is_hole == -1)
            return;
        first_index = new_index;
        if (new_index > last_index)
        {
            is_hole = -1;
            return;
        }
        // start_hole/last_hole also name the used span (shared slots).
        if (start_hole <= new_index && new_index <= last_hole)
        {
            start_hole = new_index;
            return;
        }
        if (new_index == unchecked(last_hole + 1))
            Next();
        else
            First(tree, new_index, last_index);
    }

    private void SetHole(ulong start, ulong last)
    {
        start_hole = start;
        last_hole = last;
        is_hole = 1;
    }

    /// <summary>Enters the used span starting at <paramref name="start"/> and ending where the run
    /// remembered in nodes[0] ends, cut at last_index (which makes it the final span).</summary>
    private void EnterUsed(ulong start)
    {
        start_used = start;
        is_hole = 0;
        ulong end = nodes[0]!.last;
        if (end >= last_index)
        {
            last_used = last_index;
            nodes[0] = nodes[1] = null;
        }
        else
        {
            last_used = end;
        }
    }

    /// <summary>From the run's first node in nodes[1], follows the overlapping nodes in start order
    /// while they overlap or touch the run; leaves the node reaching furthest in nodes[0] and the
    /// first node beyond the run (or null) in nodes[1].</summary>
    private void FindRunEnd()
    {
        var furthest = nodes[1]!;
        var cur = rb_root_cached.IterNext(furthest, first_index, last_index);
        while (cur is not null && (cur.start <= furthest.last || cur.start - 1 == furthest.last))
        {
            if (cur.last > furthest.last)
                furthest = cur;
            cur = rb_root_cached.IterNext(cur, first_index, last_index);
        }
        nodes[0] = furthest;
        nodes[1] = cur;
    }
}
