// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Model.Kernel;

/// <summary>
/// struct task_struct, reduced to what pages.c and its callers read: pid, comm, mm, group
/// leader, the credentials' user, RLIMIT_MEMLOCK (kept on the group leader, as the kernel keeps
/// rlimits in the thread group's shared signal_struct), CAP_IPC_LOCK, the PF_KTHREAD flag and
/// the usage reference count. Does not model: other capabilities or rlimits, scheduling state,
/// credentials other than the user, active_mm lazy-TLB switching.
/// </summary>
public sealed partial class task_struct
{
    /// <summary>RLIM_INFINITY.</summary>
    public const ulong RLIM_INFINITY = ulong.MaxValue;
    /// <summary>Linux's default RLIMIT_MEMLOCK (8 MiB).</summary>
    public const ulong DefaultMemlockLimit = 8UL << 20;

    public mm_struct? mm;
    public task_struct group_leader;
    public int pid;
    public string comm = "";

    private ulong rlimitMemlock = DefaultMemlockLimit;
    internal int usage = 1;

    /// <summary>A standalone task (pid 0, its own user uid 0, no mm, not registered with a kernel).</summary>
    public task_struct() : this(0, "task", new user_struct(0), false) { }

    internal task_struct(int pid, string comm, user_struct user, bool kthread, task_struct? leader = null)
    {
        this.pid = pid;
        this.comm = comm;
        User = user;
        IsKthread = kthread;
        group_leader = leader ?? this;
    }

    /// <summary>The user of the task's credentials (what current_user() returns).</summary>
    public user_struct User { get; }
    /// <summary>PF_KTHREAD.</summary>
    public bool IsKthread { get; }
    /// <summary>Holds CAP_IPC_LOCK.</summary>
    public bool CapIpcLock { get; set; }
    /// <summary>The task has exited (its own references dropped).</summary>
    public bool Exited { get; internal set; }
    /// <summary>usage went to zero: the task_struct is gone.</summary>
    public bool Freed { get; internal set; }

    /// <summary>RLIMIT_MEMLOCK in bytes, shared by the thread group.</summary>
    public ulong RlimitMemlock
    {
        get => ReferenceEquals(group_leader, this) ? Volatile.Read(ref rlimitMemlock) : group_leader.RlimitMemlock;
        set
        {
            if (ReferenceEquals(group_leader, this)) Volatile.Write(ref rlimitMemlock, value);
            else group_leader.RlimitMemlock = value;
        }
    }

    /// <summary>The usage reference count (get_task_struct / put_task_struct).</summary>
    public int Usage => Volatile.Read(ref usage);

    public override string ToString() => $"{comm}[{pid}]";
}

/// <summary>
/// struct mm_struct. Models: <c>mm_users</c> (users of the address space; the last mmput tears the
/// address space down), <c>mm_count</c> (references to the structure; the users together hold
/// one), <c>mmap_lock</c>, <c>pinned_vm</c>, <c>locked_vm</c>, and the user address space.
/// Does not model: page tables, the mm's VMA tree beyond <see cref="AddressSpace"/>, mmu notifiers.
/// </summary>
public sealed partial class mm_struct
{
    public readonly atomic64_t pinned_vm = new();
    public ulong locked_vm;
    public readonly rw_semaphore mmap_lock = new("mm.mmap_lock");

    internal int users = 1;
    internal int count = 1;

    /// <summary>A detached mm (its address space is not bound to physical memory).</summary>
    public mm_struct() : this(null, 0) { }

    internal mm_struct(PhysMem? phys, int id)
    {
        Id = id;
        Space = new AddressSpace(phys);
    }

    public int Id { get; }
    /// <summary>Test-only hooks that make the mm's services misbehave on purpose (oracle tests).
    /// Unset (the default) they change nothing; production paths never set them.</summary>
    public MmTestHooks TestHooks { get; } = new();
    /// <summary>The user address space.</summary>
    public AddressSpace Space { get; }
    /// <summary>atomic_read(&amp;mm->mm_users).</summary>
    public int mm_users => Volatile.Read(ref users);
    /// <summary>atomic_read(&amp;mm->mm_count).</summary>
    public int mm_count => Volatile.Read(ref count);
    /// <summary>The last mm_users reference went: the address space is torn down.</summary>
    public bool Exited { get; internal set; }
    /// <summary>The last mm_count reference went: the structure is gone.</summary>
    public bool Freed { get; internal set; }

    public override string ToString() => $"mm#{Id}";
}

/// <summary>
/// struct user_struct. Models: uid, <c>locked_vm</c> (the USER accounting mode's counter), the
/// reference count (get_uid / free_uid; the last free_uid frees it). Does not model: the uid hash,
/// other per-user counters.
/// </summary>
public sealed partial class user_struct
{
    public readonly atomic_long_t locked_vm = new();
    internal int refcount;

    /// <summary>A standalone user (uid 0, not registered with a kernel).</summary>
    public user_struct() : this(0) { }

    internal user_struct(uint uid) => Uid = uid;

    public uint Uid { get; }
    /// <summary>The reference count (__count).</summary>
    public int RefCount => Volatile.Read(ref refcount);
    /// <summary>free_uid dropped the last reference.</summary>
    public bool Freed { get; internal set; }

    public override string ToString() => $"user({Uid})";
}

/// <summary>
/// Test-only hooks of one mm's services (<c>__account_locked_vm</c> and <c>copy_from_user</c>):
/// each, when set, breaks one documented behaviour so that a test can check that the oracle
/// notices. Never set outside tests.
/// </summary>
public sealed class MmTestHooks
{
    /// <summary>Every decrease of <c>locked_vm</c> fails with -ENOMEM and changes nothing.</summary>
    public bool FailLockedVmDecreases { get; set; }

    /// <summary>Pages added to <c>locked_vm</c> on top of every successful increase.</summary>
    public ulong LockedVmSkew { get; set; }

    /// <summary>copy_from_user out of this mm flips every bit of the first byte it copies.</summary>
    public bool CorruptUserReads { get; set; }
}
