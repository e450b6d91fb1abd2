// SPDX-License-Identifier: GPL-2.0-only
// STUB: to be replaced by the mm / task fakes.
namespace Iommufd.Model.Kernel;

/// <summary>struct task_struct (the fields pages.c and its callers read).</summary>
public sealed partial class task_struct
{
    public mm_struct? mm;
    public task_struct group_leader;
    public task_struct() { group_leader = this; }
}

/// <summary>struct mm_struct.</summary>
public sealed partial class mm_struct
{
    public readonly atomic64_t pinned_vm = new();
    public ulong locked_vm;
}

/// <summary>struct user_struct.</summary>
public sealed partial class user_struct
{
    public readonly atomic_long_t locked_vm = new();
}
