// SPDX-License-Identifier: GPL-2.0-only
// STUB: signatures fixed; bodies to be implemented by the interval tree fake (IntervalTree.cs, SpanIter.cs).
namespace Iommufd.Model.Kernel;

public abstract partial class KernelApi
{
    protected static void interval_tree_insert(interval_tree_node node, rb_root_cached root) => throw new NotImplementedException();
    protected static void interval_tree_remove(interval_tree_node node, rb_root_cached root) => throw new NotImplementedException();
    protected static interval_tree_node? interval_tree_iter_first(rb_root_cached root, ulong start, ulong last) => throw new NotImplementedException();
    protected static interval_tree_node? interval_tree_iter_next(interval_tree_node node, ulong start, ulong last) => throw new NotImplementedException();
    /// <summary>RB_EMPTY_ROOT(&amp;root-&gt;rb_root).</summary>
    protected static bool RB_EMPTY_ROOT(rb_root_cached root) => throw new NotImplementedException();
    /// <summary>container_of(node, T, member): the object the node is embedded in.</summary>
    protected static T container_of<T>(interval_tree_node node) where T : class => (T)node.Container!;

    protected static void interval_tree_span_iter_first(interval_tree_span_iter iter, rb_root_cached itree, ulong first_index, ulong last_index) => throw new NotImplementedException();
    protected static void interval_tree_span_iter_next(interval_tree_span_iter iter) => throw new NotImplementedException();
    protected static void interval_tree_span_iter_advance(interval_tree_span_iter iter, rb_root_cached itree, ulong new_index) => throw new NotImplementedException();
    protected static bool interval_tree_span_iter_done(interval_tree_span_iter iter) => throw new NotImplementedException();
}
