// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Model.Kernel;

/// <summary>The interval tree and span iterator services (lib/interval_tree.c), forwarding to
/// <see cref="rb_root_cached"/> and <see cref="interval_tree_span_iter"/>.</summary>
public abstract partial class KernelApi
{
    protected static void interval_tree_insert(interval_tree_node node, rb_root_cached root) => root.Insert(node);
    protected static void interval_tree_remove(interval_tree_node node, rb_root_cached root) => root.Remove(node);
    protected static interval_tree_node? interval_tree_iter_first(rb_root_cached root, ulong start, ulong last) =>
        root.IterFirst(start, last);
    protected static interval_tree_node? interval_tree_iter_next(interval_tree_node node, ulong start, ulong last) =>
        rb_root_cached.IterNext(node, start, last);
    /// <summary>RB_EMPTY_ROOT(&amp;root-&gt;rb_root).</summary>
    protected static bool RB_EMPTY_ROOT(rb_root_cached root) => root.IsEmpty;
    /// <summary>container_of(node, T, member): the object the node is embedded in.</summary>
    protected static T container_of<T>(interval_tree_node node) where T : class => (T)node.Container!;

    protected static void interval_tree_span_iter_first(interval_tree_span_iter iter, rb_root_cached itree, ulong first_index, ulong last_index) =>
        iter.First(itree, first_index, last_index);
    protected static void interval_tree_span_iter_next(interval_tree_span_iter iter) => iter.Next();
    protected static void interval_tree_span_iter_advance(interval_tree_span_iter iter, rb_root_cached itree, ulong new_index) =>
        iter.Advance(itree, new_index);
    protected static bool interval_tree_span_iter_done(interval_tree_span_iter iter) => iter.Done;
}
