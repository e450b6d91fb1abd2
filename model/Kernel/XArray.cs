// SPDX-License-Identifier: GPL-2.0-only
using System.Numerics;

namespace Iommufd.Model.Kernel;

public enum xa_mark_t { XA_MARK_0 = 0, XA_MARK_1 = 1, XA_MARK_2 = 2, XA_PRESENT = 8 }

/// <summary>
/// A value entry made by <c>xa_mk_value(v)</c>. The kernel tags the integer into the pointer
/// as <c>(v &lt;&lt; 1) | 1</c>, so only 63 bits survive: <see cref="Value"/> holds what
/// <c>xa_to_value</c> gives back, and <see cref="Overflowed"/> remembers that the kernel's
/// WARN_ON((long)v &lt; 0) would have fired (reported when the entry is stored, because
/// <c>xa_mk_value</c> is static and has no kernel to report to). Two value entries of the same
/// integer are equal, like the identical tagged pointers of the kernel.
/// </summary>
public sealed record XaValue(ulong Value)
{
    public bool Overflowed { get; init; }
    public override string ToString() => $"value({Value:x})";
}

/// <summary>An error entry (<c>XA_ERROR(errno)</c>) as returned by <c>xa_store</c> on failure;
/// <see cref="Errno"/> is negative, as <c>xa_err</c> returns it.</summary>
public sealed record XaError(int Errno)
{
    public override string ToString() => $"xa_error({Errno})";
}

/// <summary>
/// One 64-slot node (XA_CHUNK_SIZE) of the fake xarray, holding the entries of the indexes
/// <c>chunk * 64 ... chunk * 64 + 63</c>. It is a kzalloc'ed object of the model's allocator so
/// that the kernel's node allocations fail, leak and are freed visibly. One such node stands for
/// the real tree's whole chain of nodes from the root down to that leaf.
/// </summary>
public sealed class xa_node
{
    public const int XA_CHUNK_SHIFT = 6;
    public const int XA_CHUNK_SIZE = 1 << XA_CHUNK_SHIFT;
    public const ulong XA_CHUNK_MASK = XA_CHUNK_SIZE - 1;

    internal readonly object?[] slots = new object?[XA_CHUNK_SIZE];
    /// <summary>Bit i set iff slot i holds an entry.</summary>
    internal ulong present;

    public int count => BitOperations.PopCount(present);
}

/// <summary>
/// The fake <c>struct xarray</c>: a sparse map from unsigned long indexes to entries.
/// Models (v6.2): NULL means absent and storing NULL erases; value entries (<see cref="XaValue"/>);
/// the <c>xa_lock</c> spinlock (lock class <c>lockClass + ".xa_lock"</c>) through which writers
/// serialise and the RCU-or-lock rule for readers; node memory, i.e. a store into an index with
/// no node needs an allocation that can fail (GFP_NOWAIT under the lock, site
/// <c>xa_node_atomic</c>, unless the cursor holds a node preallocated by <c>xas_nomem</c>, which
/// is used first as in the kernel's <c>xas_alloc</c>), a node is freed when its last entry is
/// erased, so an empty xarray holds no allocation and leaked nodes are visible; ordered search
/// (<c>xa_find</c> and the cursor's <c>xas_find</c>).
/// Does not model: the real tree's shape (one 64-slot node per 64 indexes stands for the whole
/// node chain, so a store needs at most one node where the kernel may need several, and index 0
/// alone is kept in a node where the kernel keeps it in <c>xa_head</c> without one); marks other
/// than XA_PRESENT; multi-index entries; reserved (zero) entries; internal retry entries, which a
/// reader racing with a writer may see in the kernel (this fake never returns them, so
/// <c>xas_retry</c> is always false); XA_FLAGS_ALLOC; memcg charging of XA_FLAGS_ACCOUNT (the flag
/// is recorded and added to the gfp of node allocations, which the allocator ignores).
/// Storage: a dictionary of nodes keyed by <c>index &gt;&gt; 6</c> plus a sorted set of those keys,
/// so loads and stores are O(1) and searches O(log n).
/// </summary>
public sealed partial class xarray
{
    /// <summary>Allocation site (and fault site <c>alloc@xa_node_atomic</c>) of a node allocated under the lock.</summary>
    public const string AtomicNodeSite = "xa_node_atomic";
    /// <summary>Allocation site (and fault site <c>alloc@xas_nomem</c>) of a node allocated by xas_nomem.</summary>
    public const string NomemNodeSite = "xas_nomem";
    private const uint XA_FLAGS_ACCOUNT = 1u << 5;

    // Guards the containers against torn reads by RCU readers running beside a writer, the
    // guarantee rcu_dereference gives in the kernel. Allocation, freeing and reporting happen
    // outside it, because they may reach a scheduling point or call out.
    private readonly object gate = new();
    private readonly Dictionary<ulong, xa_node> nodes = [];
    private readonly SortedSet<ulong> chunks = [];
    private FakeKernel? kernel;
    private long count, stores, erases, nodesAllocated, nodesFreed;

    public xarray(string lockClass)
    {
        xa_lock = new spinlock_t(lockClass + ".xa_lock");
    }

    /// <summary>The array's spinlock; taken only through the execution context.</summary>
    public spinlock_t xa_lock { get; }

    /// <summary>Test-only hooks that make this xarray misbehave on purpose (oracle tests). Unset
    /// (the default) they change nothing; production paths never set them.</summary>
    public XArrayTestHooks TestHooks { get; } = new();
    /// <summary>Flags recorded by xa_init_flags (XA_FLAGS_ACCOUNT).</summary>
    public uint xa_flags { get; private set; }

    // ---- instrumentation ------------------------------------------------------------------
    /// <summary>Number of present entries.</summary>
    public long Count { get { lock (gate) return count; } }
    /// <summary>Nodes currently in the array (excludes nodes held by cursors).</summary>
    public int NodeCount { get { lock (gate) return nodes.Count; } }
    /// <summary>Successful stores of a non-NULL entry.</summary>
    public long Stores { get { lock (gate) return stores; } }
    /// <summary>Stores of NULL that removed a present entry.</summary>
    public long Erases { get { lock (gate) return erases; } }
    /// <summary>Nodes obtained from the allocator (under the lock or by xas_nomem).</summary>
    public long NodesAllocated { get { lock (gate) return nodesAllocated; } }
    /// <summary>Nodes given back to the allocator (emptied, destroyed preallocations, xa_destroy).</summary>
    public long NodesFreed { get { lock (gate) return nodesFreed; } }

    /// <summary>A snapshot of the present entries in ascending index order (for the oracle).</summary>
    public IReadOnlyList<(ulong Index, object Entry)> Entries
    {
        get
        {
            lock (gate)
            {
                var list = new List<(ulong, object)>((int)Math.Min(count, int.MaxValue));
                foreach (ulong chunk in chunks)
                {
                    var node = nodes[chunk];
                    for (ulong bits = node.present; bits != 0; bits &= bits - 1)
                    {
                        int slot = BitOperations.TrailingZeroCount(bits);
                        list.Add(((chunk << xa_node.XA_CHUNK_SHIFT) | (uint)slot, node.slots[slot]!));
                    }
                }
                return list;
            }
        }
    }

    public override string ToString() => $"xarray({xa_lock.LockClass}, {Count} entries)";

    // ---- operations used by KernelApi -----------------------------------------------------

    /// <summary>Ties the array to one kernel: its nodes belong to that kernel's allocator.</summary>
    internal void Bind(FakeKernel k)
    {
        var bound = Interlocked.CompareExchange(ref kernel, k, null);
        if (bound is not null && !ReferenceEquals(bound, k))
            throw new InvalidOperationException($"{this} is used by two different FakeKernels");
    }

    /// <summary>xa_init_flags: records the flags and starts empty. Nodes of a non-empty array
    /// are dropped without being freed, as the kernel's re-initialisation would leak them.</summary>
    internal void Init(FakeKernel k, uint flags)
    {
        Bind(k);
        long had;
        lock (gate)
        {
            had = count;
            nodes.Clear();
            chunks.Clear();
            count = 0;
            xa_flags = flags;
        }
        if (had != 0)
            k.Checks.Report(CheckKind.FakeMisuse, "xa_init_flags", $"{had} entries dropped by re-initialising a non-empty xarray");
    }

    internal gfp_t AccountGfp(gfp_t gfp) =>
        (xa_flags & XA_FLAGS_ACCOUNT) != 0 ? gfp | gfp_t.__GFP_ACCOUNT : gfp;

    internal object? Load(ulong index)
    {
        lock (gate)
            return nodes.TryGetValue(index >> xa_node.XA_CHUNK_SHIFT, out var node)
                ? node.slots[(int)(index & xa_node.XA_CHUNK_MASK)]
                : null;
    }

    /// <summary>The first present entry with <paramref name="from"/> &lt;= index &lt;= <paramref name="max"/>.</summary>
    internal object? Find(ulong from, ulong max, out ulong found)
    {
        found = 0;
        if (from > max)
            return null;
        lock (gate)
        {
            ulong chunk = from >> xa_node.XA_CHUNK_SHIFT;
            if (nodes.TryGetValue(chunk, out var node))
            {
                ulong bits = node.present & (~0UL << (int)(from & xa_node.XA_CHUNK_MASK));
                if (bits != 0)
                    return Pick(chunk, node, bits, max, out found);
            }
            ulong maxChunk = max >> xa_node.XA_CHUNK_SHIFT;
            if (chunk >= maxChunk)
                return null;
            // Every key in the set has a non-empty node, so the next key holds the answer.
            // The view's minimum is 0 only when the view is empty (its lower bound is >= 1).
            ulong next = chunks.GetViewBetween(chunk + 1, maxChunk).Min;
            if (next == 0)
                return null;
            var n = nodes[next];
            return Pick(next, n, n.present, max, out found);
        }
    }

    private static object? Pick(ulong chunk, xa_node node, ulong bits, ulong max, out ulong found)
    {
        int slot = BitOperations.TrailingZeroCount(bits);
        found = (chunk << xa_node.XA_CHUNK_SHIFT) | (uint)slot;
        return found <= max ? node.slots[slot] : null;
    }

    /// <summary>
    /// Stores <paramref name="entry"/> (non-NULL) at the cursor's index. A missing node comes
    /// from the cursor's preallocation, else from a GFP_NOWAIT allocation; if that fails the
    /// cursor records -ENOMEM and nothing is stored.
    /// </summary>
    internal object? Store(FakeKernel k, xa_state xas, object entry)
    {
        if (entry is XaValue v && TestHooks.RewriteValue is { } rewrite)
            entry = v with { Value = rewrite(xas.xa_index, v.Value) };
        ulong index = xas.xa_index;
        ulong chunk = index >> xa_node.XA_CHUNK_SHIFT;
        int slot = (int)(index & xa_node.XA_CHUNK_MASK);
        bool exists;
        lock (gate) exists = nodes.ContainsKey(chunk);
        xa_node? fresh = null;
        if (!exists)
        {
            fresh = xas.TakePreallocated()
                ?? AllocNode(k, AccountGfp(gfp_t.GFP_NOWAIT | gfp_t.__GFP_NOWARN), AtomicNodeSite);
            if (fresh is null)
            {
                xas.SetError(-KernelApi.ENOMEM);
                return null;
            }
        }
        object? old;
        lock (gate)
        {
            if (!nodes.TryGetValue(chunk, out var node))
            {
                node = fresh!;
                fresh = null;
                nodes.Add(chunk, node);
                chunks.Add(chunk);
            }
            old = node.slots[slot];
            node.slots[slot] = entry;
            if (old is null)
            {
                node.present |= 1UL << slot;
                count++;
            }
            stores++;
        }
        // Only an unlocked (misused) concurrent store can have created the node meanwhile.
        if (fresh is not null)
            FreeNode(k, fresh, "xas_store");
        return old;
    }

    /// <summary>Erases the entry at <paramref name="index"/>; frees its node if it became empty.</summary>
    internal object? Erase(FakeKernel k, ulong index)
    {
        ulong chunk = index >> xa_node.XA_CHUNK_SHIFT;
        int slot = (int)(index & xa_node.XA_CHUNK_MASK);
        object? old;
        xa_node? emptied = null;
        lock (gate)
        {
            if (!nodes.TryGetValue(chunk, out var node))
                return null;
            old = node.slots[slot];
            if (old is null)
                return null;
            node.slots[slot] = null;
            node.present &= ~(1UL << slot);
            count--;
            erases++;
            if (node.present == 0)
            {
                nodes.Remove(chunk);
                chunks.Remove(chunk);
                emptied = node;
            }
        }
        if (emptied is not null)
            FreeNode(k, emptied, "xas_store");
        return old;
    }

    /// <summary>xa_destroy: frees every node; the array is empty afterwards.</summary>
    internal void Destroy(FakeKernel k)
    {
        xa_node[] all;
        lock (gate)
        {
            all = [.. nodes.Values];
            nodes.Clear();
            chunks.Clear();
            count = 0;
        }
        foreach (var node in all)
            FreeNode(k, node, "xa_destroy");
    }

    internal xa_node? AllocNode(FakeKernel k, gfp_t gfp, string site)
    {
        Bind(k);
        var node = k.Allocator.kzalloc(gfp, site, () => new xa_node());
        if (node is not null)
            lock (gate) nodesAllocated++;
        return node;
    }

    internal void FreeNode(FakeKernel k, xa_node node, string caller)
    {
        k.Allocator.kfree(node, caller);
        lock (gate) nodesFreed++;
    }
}

/// <summary>
/// The <c>XA_STATE</c> cursor: an array, an index and a position state. Models the states that
/// decide what the cursor operations do in v6.2: <em>restart</em> (fresh or after a successful
/// xas_nomem: the next read loads the current index without moving), <em>walked</em> (after a
/// load, store or find: xas_next moves on first), <em>bounds</em> (a search ran off its end:
/// further searches find nothing, xas_next moves on) and <em>error</em> (xas_set_err or a failed
/// node allocation: reads return NULL, stores do nothing). Also holds the node preallocated by
/// xas_nomem until a store consumes it or xas_nomem/xas_destroy frees it.
/// Does not model: the kernel's xa_node/xa_offset/xa_shift fields and sibling/multi-index state.
/// </summary>
public sealed partial class xa_state
{
    internal xa_state(xarray xa, ulong index)
    {
        this.xa = xa;
        xa_index = index;
    }

    public enum Position { Restart, Walked, Bounds, Error }

    public readonly xarray xa;
    public ulong xa_index;

    /// <summary>The cursor's state (what the kernel encodes in <c>xa_node</c>).</summary>
    public Position State { get; internal set; } = Position.Restart;
    /// <summary>The errno recorded by the error state (negative), else 0.</summary>
    public int Error { get; private set; }
    /// <summary>The node preallocated by xas_nomem (<c>xa_alloc</c>), if any.</summary>
    public xa_node? xa_alloc { get; internal set; }

    internal void SetError(int err)
    {
        State = Position.Error;
        Error = err;
    }

    /// <summary>Back to the restart state at the same index (what a successful xas_nomem does).</summary>
    internal void Restart()
    {
        State = Position.Restart;
        Error = 0;
    }

    internal xa_node? TakePreallocated()
    {
        var n = xa_alloc;
        xa_alloc = null;
        return n;
    }

    public override string ToString() => $"xas({xa}, index {xa_index}, {State}{(Error != 0 ? " " + Error : "")})";
}

/// <summary>
/// Test-only hooks of an <see cref="xarray"/>: when set, a hook breaks one documented behaviour so
/// that a test can check that the oracle notices. Never set outside tests.
/// </summary>
public sealed class XArrayTestHooks
{
    /// <summary>Rewrites the integer of a value entry being stored (index, value) -> stored value.</summary>
    public Func<ulong, ulong, ulong>? RewriteValue { get; set; }
}
