// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;
using Iommufd.Model.Selftest;

namespace Iommufd.Harness.Execution;

/// <summary>
/// How an operation's handles and ranges resolve to objects: an index modulo the live candidates
/// of that kind (null when there are none), area-relative ranges clipped to the area, region-relative
/// ranges clipped to the region. The world acts by these rules and the oracle resolves an operation
/// to the objects it acted on by the same ones.
/// </summary>
public static class Picking
{
    public static T? Pick<T>(IReadOnlyList<T> list, int index) where T : class =>
        list.Count == 0 ? null : list[(int)((uint)index % (uint)list.Count)];

    public static T? PickWhere<T>(IReadOnlyList<T> list, int index, Func<T, bool> where) where T : class =>
        Pick(list.Where(where).ToList(), index);

    /// <summary>What an AccessPin or AccessRw acts on: the access, the area picked among those of
    /// the access's IOAS, and the IOVA range.</summary>
    public sealed record AccessTarget(AccessHandle Access, AreaHandle? Area, ulong Iova, ulong Length);

    /// <summary>Resolves an AccessPin's or AccessRw's handles and range; null when the access or
    /// the range does not resolve.</summary>
    public static AccessTarget? ResolveAccess(IReadOnlyList<AccessHandle> accesses, IReadOnlyList<AreaHandle> areas,
        int access, int area, ulong offset, ulong length, bool raw)
    {
        var x = Pick(accesses, access);
        var a = PickWhere(areas, area, c => x is not null && c.Iopt == x.Iopt);
        return x is not null && AccessRange(a, offset, length, raw) is { } r ? new AccessTarget(x, a, r.Iova, r.Length) : null;
    }

    /// <summary>An area-relative (or raw) IOVA range.</summary>
    public static (ulong Iova, ulong Length)? AccessRange(AreaHandle? area, ulong offset, ulong length, bool raw)
    {
        if (raw)
            return (offset, length);
        if (area is null)
            return null;
        ulong off = offset % area.Length;
        ulong len = length == 0 ? 0 : Math.Min(length, area.Length - off);
        return (area.Iova + off, len);
    }

    /// <summary>
    /// The slice of a pages object a MapArea maps: [startByte, startByte + length) kept inside the
    /// bytes the pages were created for (as every kernel caller does: IOAS_MAP creates pages of
    /// exactly its length, IOAS_COPY copies slices of existing areas). A length of 0 is kept (bad
    /// input the callers refuse).
    /// </summary>
    public static (ulong StartByte, ulong Length) MapSlice(PagesHandle pages, ulong startByte, ulong length)
    {
        ulong span = pages.Uptr % KernelApi.PAGE_SIZE + pages.Length;
        if (span == 0 || length == 0)
            return (startByte, length);
        if (startByte >= span)
            startByte %= span;
        return (startByte, Math.Min(length, span - startByte));
    }

    /// <summary>A user region's [offset, length) for CreatePages (or a raw pointer and length).</summary>
    public static (ulong Uptr, ulong Length) PagesRange(RegionHandle region, ulong offset, ulong length, bool raw)
    {
        if (raw)
            return (offset, length);
        ulong off = region.Length == 0 ? 0 : offset % region.Length;
        return (region.BaseVa + off, length == 0 ? 0 : Math.Min(length, region.Length - off));
    }

    public static bool IsMock(iommu_domain d) => d is MockDomain;
}
