// SPDX-License-Identifier: GPL-2.0-only
// STUB: signatures fixed; bodies to be implemented by the xarray fake (XArray.cs).
namespace Iommufd.Model.Kernel;

public abstract partial class KernelApi
{
    public const uint XA_FLAGS_ACCOUNT = 1u << 5;
    public static readonly xa_mark_t XA_PRESENT = xa_mark_t.XA_PRESENT;

    protected void xa_init_flags(xarray xa, uint flags) => throw new NotImplementedException();
    protected bool xa_empty(xarray xa) => throw new NotImplementedException();
    protected object? xa_load(xarray xa, ulong index) => throw new NotImplementedException();
    /// <summary>First present entry at index &gt;= *indexp and &lt;= max; sets *indexp on success only.</summary>
    protected object? xa_find(xarray xa, ref ulong indexp, ulong max, xa_mark_t filter) => throw new NotImplementedException();
    /// <summary>First present entry at index &gt; *indexp and &lt;= max; sets *indexp on success only.</summary>
    protected object? xa_find_after(xarray xa, ref ulong indexp, ulong max, xa_mark_t filter) => throw new NotImplementedException();
    /// <summary>Callers' helpers (not used by pages.c): store/erase taking the lock.</summary>
    protected object? xa_store(xarray xa, ulong index, object? entry, gfp_t gfp) => throw new NotImplementedException();
    protected object? xa_erase(xarray xa, ulong index) => throw new NotImplementedException();
    protected static bool xa_is_err(object? entry) => throw new NotImplementedException();
    protected static int xa_err(object? entry) => throw new NotImplementedException();

    protected static object xa_mk_value(ulong v) => throw new NotImplementedException();
    protected static bool xa_is_value(object? entry) => throw new NotImplementedException();
    protected static ulong xa_to_value(object? entry) => throw new NotImplementedException();

    protected static xa_state XA_STATE(xarray xa, ulong index) => throw new NotImplementedException();
    protected void xas_lock(xa_state xas) => throw new NotImplementedException();
    protected void xas_unlock(xa_state xas) => throw new NotImplementedException();
    protected object? xas_next(xa_state xas) => throw new NotImplementedException();
    protected static bool xas_retry(xa_state xas, object? entry) => throw new NotImplementedException();
    protected object? xas_store(xa_state xas, object? entry) => throw new NotImplementedException();
    protected static int xas_error(xa_state xas) => throw new NotImplementedException();
    protected static void xas_set_err(xa_state xas, int err) => throw new NotImplementedException();
    protected bool xas_nomem(xa_state xas, gfp_t gfp) => throw new NotImplementedException();
    protected object? xas_find(xa_state xas, ulong max) => throw new NotImplementedException();
    protected object? xas_next_entry(xa_state xas, ulong max) => throw new NotImplementedException();
}
