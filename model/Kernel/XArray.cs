// SPDX-License-Identifier: GPL-2.0-only
// STUB: to be replaced by the xarray fake.
namespace Iommufd.Model.Kernel;

public enum xa_mark_t { XA_MARK_0 = 0, XA_MARK_1 = 1, XA_MARK_2 = 2, XA_PRESENT = 8 }

/// <summary>struct xarray.</summary>
public sealed partial class xarray
{
    public xarray(string lockClass) { }
}

/// <summary>XA_STATE cursor.</summary>
public sealed partial class xa_state
{
    public ulong xa_index;
}
