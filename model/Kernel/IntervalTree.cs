// SPDX-License-Identifier: GPL-2.0-only
// STUB: to be replaced by the interval tree fake.
namespace Iommufd.Model.Kernel;

/// <summary>struct interval_tree_node, embedded in a container object (container_of).</summary>
public sealed partial class interval_tree_node(object? container)
{
    public ulong start;
    public ulong last;
    public object? Container { get; } = container;
}

/// <summary>struct rb_root_cached holding interval_tree_nodes.</summary>
public sealed partial class rb_root_cached
{
}

/// <summary>struct interval_tree_span_iter.</summary>
public sealed partial class interval_tree_span_iter
{
    public ulong start_hole { get; set; }
    public ulong start_used { get => start_hole; set => start_hole = value; }
    public ulong last_hole { get; set; }
    public ulong last_used { get => last_hole; set => last_hole = value; }
    public int is_hole;
    public ulong first_index;
    public ulong last_index;
}
