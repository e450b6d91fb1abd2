// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Generation;
using Iommufd.Model.Kernel;

namespace Iommufd.Harness.Execution;

/// <summary>A process of the run; process 0 is the control process that issues the ioctls.</summary>
public sealed record ProcessHandle(int Id, task_struct Task)
{
    public bool Exited => Task.Exited;
}

/// <summary>A user memory region: [BaseVa, BaseVa + Length) of a process, built from segments.
/// <paramref name="PageKinds"/> gives, per page of the region, the segment it came from.</summary>
public sealed record RegionHandle(int Id, ProcessHandle Owner, ulong BaseVa, ulong Length, IReadOnlyList<Segment> Segments)
{
    public ulong Pages => Length / KernelApi.PAGE_SIZE;
}

/// <summary>An iopt_pages created by a region's process; the run holds one reference until PutPages.
/// The structure itself stays with the world (read it through <see cref="IObservation.Pages"/>).</summary>
public sealed class PagesHandle(int id, RegionHandle region, ulong uptr, ulong length)
{
    public int Id { get; } = id;
    public RegionHandle Region { get; } = region;
    /// <summary>The user pointer passed to iopt_alloc_pages (not page aligned in general).</summary>
    public ulong Uptr { get; } = uptr;
    public ulong Length { get; } = length;
    public bool CreatorReferenceHeld { get; internal set; } = true;
}

/// <summary>One io_pagetable (IOAS); read it through <see cref="IObservation.Iopt"/>.</summary>
public sealed record IoptHandle(int Id);

/// <summary>An area mapped by the run: its IOVA range and the pages slice it maps.</summary>
public sealed record AreaHandle(int Id, IoptHandle Iopt, PagesHandle Pages, ulong Iova, ulong Length, ulong StartByte, bool Write)
{
    public ulong LastIova => Iova + Length - 1;
}

public sealed record DomainHandle(int Id, IoptHandle Iopt, iommu_domain Domain, DomainKind Kind);

/// <summary>An access of the selftest's access driver on an IOAS.</summary>
public sealed record AccessHandle(int Id, IoptHandle Iopt);

/// <summary>A successful pin of an access: the IOVA range and the pages returned.</summary>
public sealed record PinHandle(int Id, AccessHandle Access, uint PinId, ulong Iova, ulong Length, bool Write, IReadOnlyList<ulong> Pfns);
