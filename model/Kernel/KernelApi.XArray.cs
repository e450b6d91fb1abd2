// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Model.Kernel;

/// <summary>
/// The xarray services (see <see cref="xarray"/> for what the fake models). The cursor
/// operations follow the v6.2 state rules of <see cref="xa_state"/>; the lock and RCU rules are
/// checked: a write through a cursor needs <c>xa_lock</c>, a read through a cursor needs
/// <c>xa_lock</c> or an RCU read section (the kernel's rcu_dereference_check), and the
/// <c>xa_*</c> helpers take what they need themselves.
/// </summary>
public abstract partial class KernelApi
{
    public const uint XA_FLAGS_ACCOUNT = 1u << 5;
    public static readonly xa_mark_t XA_PRESENT = xa_mark_t.XA_PRESENT;

    // ---- whole-array helpers (take the lock or RCU themselves) -----------------------------

    protected void xa_init_flags(xarray xa, uint flags) => xa.Init(Kernel, flags);

    protected bool xa_empty(xarray xa)
    {
        xa.Bind(Kernel);
        return xa.Count == 0;
    }

    protected object? xa_load(xarray xa, ulong index)
    {
        xa.Bind(Kernel);
        Kernel.Exec.RcuReadLock();
        var entry = xa.Load(index);
        Kernel.Exec.RcuReadUnlock();
        return entry;
    }

    /// <summary>First present entry at index &gt;= *indexp and &lt;= max; sets *indexp on success only.</summary>
    protected object? xa_find(xarray xa, ref ulong indexp, ulong max, xa_mark_t filter)
    {
        xa.Bind(Kernel);
        RequirePresentFilter(filter);
        return FindUnderRcu(xa, ref indexp, indexp, max);
    }

    /// <summary>First present entry at index &gt; *indexp and &lt;= max; sets *indexp on success only.</summary>
    protected object? xa_find_after(xarray xa, ref ulong indexp, ulong max, xa_mark_t filter)
    {
        xa.Bind(Kernel);
        RequirePresentFilter(filter);
        ulong from = unchecked(indexp + 1);
        if (from == 0)
            return null;
        return FindUnderRcu(xa, ref indexp, from, max);
    }

    private object? FindUnderRcu(xarray xa, ref ulong indexp, ulong from, ulong max)
    {
        Kernel.Exec.RcuReadLock();
        var entry = xa.Find(from, max, out ulong found);
        Kernel.Exec.RcuReadUnlock();
        if (entry is not null)
            indexp = found;
        return entry;
    }

    private static void RequirePresentFilter(xa_mark_t filter)
    {
        if (filter != xa_mark_t.XA_PRESENT)
            throw new NotSupportedException($"the fake xarray models no marks; {filter} was asked for");
    }

    /// <summary>Callers' helpers (not used by pages.c): store/erase taking the lock.</summary>
    protected object? xa_store(xarray xa, ulong index, object? entry, gfp_t gfp)
    {
        xa.Bind(Kernel);
        if (entry is XaError)
        {
            WARN_ON(true, nameof(xa_store));
            return new XaError(-EINVAL);
        }
        var xas = XA_STATE(xa, index);
        Kernel.Exec.Acquire(xa.xa_lock, LockMode.Exclusive);
        object? curr;
        do
            curr = xas_store(xas, entry);
        while (xas_nomem_locked(xas, gfp));
        Kernel.Exec.Release(xa.xa_lock, LockMode.Exclusive);
        return xas.Error != 0 ? new XaError(xas.Error) : curr;
    }

    protected object? xa_erase(xarray xa, ulong index)
    {
        xa.Bind(Kernel);
        var xas = XA_STATE(xa, index);
        Kernel.Exec.Acquire(xa.xa_lock, LockMode.Exclusive);
        var old = xas_store(xas, null);
        Kernel.Exec.Release(xa.xa_lock, LockMode.Exclusive);
        return old;
    }

    /// <summary>xa_destroy: removes every entry and frees every node, under the lock.</summary>
    protected void xa_destroy(xarray xa)
    {
        xa.Bind(Kernel);
        Kernel.Exec.Acquire(xa.xa_lock, LockMode.Exclusive);
        xa.Destroy(Kernel);
        Kernel.Exec.Release(xa.xa_lock, LockMode.Exclusive);
    }

    protected static bool xa_is_err(object? entry) => entry is XaError;
    protected static int xa_err(object? entry) => entry is XaError e ? e.Errno : 0;

    // ---- value entries ---------------------------------------------------------------------

    /// <summary>Tags <paramref name="v"/> as a value entry; only 63 bits survive, as in the kernel.</summary>
    protected static object xa_mk_value(ulong v) =>
        new XaValue(v & long.MaxValue) { Overflowed = (long)v < 0 };

    protected static bool xa_is_value(object? entry) => entry is XaValue;

    /// <summary>The integer of a value entry; NULL gives 0 like the kernel's shift of a NULL
    /// pointer. Any other entry is a pointer whose bits the model does not have.</summary>
    protected static ulong xa_to_value(object? entry) => entry switch
    {
        XaValue v => v.Value,
        null => 0,
        _ => throw new InvalidOperationException($"xa_to_value of a pointer entry ({entry.GetType().Name}) has no meaning in the model"),
    };

    // ---- the cursor ------------------------------------------------------------------------

    protected static xa_state XA_STATE(xarray xa, ulong index) => new(xa, index);

    /// <summary>xas_set: moves the cursor to <paramref name="index"/> in the restart state (clears an error).</summary>
    protected static void xas_set(xa_state xas, ulong index)
    {
        xas.xa_index = index;
        xas.Restart();
    }

    /// <summary>xas_reset: the restart state at the same index (clears an error).</summary>
    protected static void xas_reset(xa_state xas) => xas.Restart();

    protected void xas_lock(xa_state xas)
    {
        xas.xa.Bind(Kernel);
        Kernel.Exec.Acquire(xas.xa.xa_lock, LockMode.Exclusive);
    }

    protected void xas_unlock(xa_state xas) => Kernel.Exec.Release(xas.xa.xa_lock, LockMode.Exclusive);

    /// <summary>Loads the entry at the cursor's index; the cursor is walked afterwards.</summary>
    protected object? xas_load(xa_state xas)
    {
        CheckReader(xas, nameof(xas_load));
        if (xas.State == xa_state.Position.Error)
            return null;
        xas.State = xa_state.Position.Walked;
        return xas.xa.Load(xas.xa_index);
    }

    /// <summary>In the restart state loads the current index; otherwise moves to index + 1 and
    /// loads. In the error state returns NULL without moving.</summary>
    protected object? xas_next(xa_state xas)
    {
        CheckReader(xas, nameof(xas_next));
        switch (xas.State)
        {
            case xa_state.Position.Error:
                return null;
            case xa_state.Position.Restart:
                break;
            default:
                xas.xa_index = unchecked(xas.xa_index + 1);
                break;
        }
        xas.State = xa_state.Position.Walked;
        return xas.xa.Load(xas.xa_index);
    }

    /// <summary>Always false: the fake never hands out internal (retry) entries.</summary>
    protected static bool xas_retry(xa_state xas, object? entry) => false;

    /// <summary>Stores at the cursor's index and returns the old entry; NULL erases. Needs
    /// xa_lock. A store that needs a node and cannot get one records -ENOMEM in the cursor;
    /// in the error state nothing is stored and NULL is returned.</summary>
    protected object? xas_store(xa_state xas, object? entry)
    {
        var xa = xas.xa;
        xa.Bind(Kernel);
        if (!Kernel.Exec.HeldByCurrent(xa.xa_lock))
            Kernel.Checks.Report(CheckKind.LockdepNotHeld, nameof(xas_store), $"{xa.xa_lock.LockClass} not held");
        if (xas.State == xa_state.Position.Error)
            return null;
        if (entry is XaError)
        {
            Kernel.Checks.Report(CheckKind.FakeMisuse, nameof(xas_store), $"storing the internal entry {entry}");
            return null;
        }
        if (entry is XaValue { Overflowed: true })
            Kernel.Checks.Report(CheckKind.Warn, nameof(xa_mk_value), $"xa_mk_value of a value above LONG_MAX stored at {xas.xa_index}");
        var old = entry is null ? xa.Erase(Kernel, xas.xa_index) : xa.Store(Kernel, xas, entry);
        if (xas.State != xa_state.Position.Error)
            xas.State = xa_state.Position.Walked;
        return old;
    }

    protected static int xas_error(xa_state xas) => xas.State == xa_state.Position.Error ? xas.Error : 0;

    protected static void xas_set_err(xa_state xas, int err) => xas.SetError(err);

    /// <summary>
    /// If the cursor's error is -ENOMEM: allocates a node outside the lock (site xas_nomem) and,
    /// if that worked, keeps it in the cursor, clears the error and restarts the cursor at the
    /// same index, returning true. Otherwise frees any preallocated node and returns false; a
    /// failed allocation leaves the error in place.
    /// </summary>
    protected bool xas_nomem(xa_state xas, gfp_t gfp)
    {
        var xa = xas.xa;
        xa.Bind(Kernel);
        if (xas_error(xas) != -ENOMEM)
        {
            xas_destroy(xas);
            return false;
        }
        gfp = xa.AccountGfp(gfp);
        CheckMaySleep(xa, gfp, nameof(xas_nomem));
        var node = xa.AllocNode(Kernel, gfp, xarray.NomemNodeSite);
        if (node is null)
            return false;
        xas.xa_alloc = node;
        xas.Restart();
        return true;
    }

    /// <summary>__xas_nomem, the retry step of xa_store: called with xa_lock held, it drops the
    /// lock around a blocking allocation.</summary>
    private bool xas_nomem_locked(xa_state xas, gfp_t gfp)
    {
        var xa = xas.xa;
        if (xas_error(xas) != -ENOMEM)
        {
            xas_destroy(xas);
            return false;
        }
        gfp = xa.AccountGfp(gfp);
        bool blocking = GfpMaySleep(gfp);
        if (blocking)
            Kernel.Exec.Release(xa.xa_lock, LockMode.Exclusive);
        var node = xa.AllocNode(Kernel, gfp, xarray.NomemNodeSite);
        if (blocking)
            Kernel.Exec.Acquire(xa.xa_lock, LockMode.Exclusive);
        if (node is null)
            return false;
        xas.xa_alloc = node;
        xas.Restart();
        return true;
    }

    /// <summary>Frees the node a cursor holds from xas_nomem, if any.</summary>
    protected void xas_destroy(xa_state xas)
    {
        var node = xas.TakePreallocated();
        if (node is not null)
            xas.xa.FreeNode(Kernel, node, nameof(xas_destroy));
    }

    /// <summary>
    /// First present entry at index &gt;= the cursor's (restart state) or &gt; it (walked
    /// state) and &lt;= max, moving the cursor there. When there is none the cursor enters the
    /// bounds state (its index is left unchanged) and NULL is returned; in the bounds and error
    /// states NULL is returned at once.
    /// </summary>
    protected object? xas_find(xa_state xas, ulong max)
    {
        CheckReader(xas, nameof(xas_find));
        return Find(xas, max);
    }

    /// <summary>The next present entry after the cursor, &lt;= max. The kernel's inline fast
    /// path and its fallback to xas_find agree on the result, which is xas_find's.</summary>
    protected object? xas_next_entry(xa_state xas, ulong max)
    {
        CheckReader(xas, nameof(xas_next_entry));
        return Find(xas, max);
    }

    private static object? Find(xa_state xas, ulong max)
    {
        ulong from;
        switch (xas.State)
        {
            case xa_state.Position.Error:
            case xa_state.Position.Bounds:
                return null;
            case xa_state.Position.Restart:
                from = xas.xa_index;
                break;
            default:
                if (xas.xa_index == ulong.MaxValue)
                {
                    xas.State = xa_state.Position.Bounds;
                    return null;
                }
                from = xas.xa_index + 1;
                break;
        }
        var entry = xas.xa.Find(from, max, out ulong found);
        if (entry is null)
        {
            xas.State = xa_state.Position.Bounds;
            return null;
        }
        xas.xa_index = found;
        xas.State = xa_state.Position.Walked;
        return entry;
    }

    // ---- checks ----------------------------------------------------------------------------

    private void CheckReader(xa_state xas, string function)
    {
        var xa = xas.xa;
        xa.Bind(Kernel);
        if (!Kernel.Exec.InRcuReadSection && !Kernel.Exec.HeldByCurrent(xa.xa_lock))
            Kernel.Checks.Report(CheckKind.LockdepNotHeld, function,
                $"xarray read without {xa.xa_lock.LockClass} or rcu_read_lock (suspicious rcu_dereference_check)");
    }

    private static bool GfpMaySleep(gfp_t gfp) => (gfp & gfp_t.GFP_KERNEL) != 0;

    /// <summary>might_sleep() of a blocking allocation made under xa_lock or in an RCU read section.</summary>
    private void CheckMaySleep(xarray xa, gfp_t gfp, string function)
    {
        if (GfpMaySleep(gfp) && (Kernel.Exec.HeldByCurrent(xa.xa_lock) || Kernel.Exec.InRcuReadSection))
            Kernel.Checks.Report(CheckKind.LockdepOrder, "might_sleep",
                $"{function}: sleeping allocation with {xa.xa_lock.LockClass} held or in an RCU read section");
    }
}
