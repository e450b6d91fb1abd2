// SPDX-License-Identifier: GPL-2.0-only
using System.Text.Json.Serialization;

namespace Iommufd.Harness.Generation;

/// <summary>
/// The operation language: everything the callers of pages.c can do, as plain records. Handles
/// (process, region, pages, iopt, area, domain, access, pin) are small integers that refer, modulo
/// the number that exist at that point of the run, to the objects created by earlier operations.
/// An operation whose handle kind has no object yet is skipped; so any subsequence of a valid
/// sequence is still runnable, which keeps shrinking sound.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "op")]
[JsonDerivedType(typeof(NewProcess), "proc")]
[JsonDerivedType(typeof(MapUserMemory), "mem")]
[JsonDerivedType(typeof(UserWrite), "uwrite")]
[JsonDerivedType(typeof(CreatePages), "pages")]
[JsonDerivedType(typeof(PutPages), "put")]
[JsonDerivedType(typeof(CreateIopt), "iopt")]
[JsonDerivedType(typeof(MapArea), "map")]
[JsonDerivedType(typeof(CopyArea), "copy")]
[JsonDerivedType(typeof(UnmapArea), "unmap")]
[JsonDerivedType(typeof(UnmapRange), "unmapr")]
[JsonDerivedType(typeof(AttachDomain), "attach")]
[JsonDerivedType(typeof(DetachDomain), "detach")]
[JsonDerivedType(typeof(SetLargePages), "large")]
[JsonDerivedType(typeof(SplitArea), "split")]
[JsonDerivedType(typeof(CreateAccess), "access")]
[JsonDerivedType(typeof(DestroyAccess), "unaccess")]
[JsonDerivedType(typeof(AccessPin), "pin")]
[JsonDerivedType(typeof(AccessUnpin), "unpin")]
[JsonDerivedType(typeof(AccessRw), "rw")]
[JsonDerivedType(typeof(ProcessExit), "exit")]
[JsonDerivedType(typeof(SetRlimit), "rlimit")]
[JsonDerivedType(typeof(SetCapIpcLock), "cap")]
[JsonDerivedType(typeof(SetTempMemoryLimit), "tmplimit")]
public abstract record Op;

/// <summary>A new process; <paramref name="SameUser"/> shares process 0's user_struct.</summary>
public sealed record NewProcess(bool SameUser, ulong RlimitMemlockBytes, bool CapIpcLock) : Op;

/// <summary>One piece of a user memory layout.</summary>
public enum SegmentKind { Run, HugeRun, Scattered, Hole, Alias }

/// <summary>A layout segment of <paramref name="Pages"/> pages. Alias re-maps the frames of the
/// region's first segment; ReadOnly maps without write permission; Movable lets a long-term pin
/// migrate the pages first.</summary>
public sealed record Segment(SegmentKind Kind, ulong Pages, bool ReadOnly = false, bool Movable = false)
{
    /// <summary>Compact form for reproducers: <c>Run*8 ro movable</c>.</summary>
    public override string ToString() => $"{Kind}*{Pages}{(ReadOnly ? " ro" : "")}{(Movable ? " movable" : "")}";
}

/// <summary>Builds a user memory region in a process from segments, at the next free user VA.</summary>
public sealed record MapUserMemory(int Process, IReadOnlyList<Segment> Segments) : Op
{
    public override string ToString() => $"MapUserMemory {{ Process = {Process}, Segments = [{string.Join(", ", Segments)}] }}";
}

/// <summary>The process writes bytes derived from <paramref name="Seed"/> into its own memory.</summary>
public sealed record UserWrite(int Region, ulong Offset, ulong Length, int Seed) : Op;

/// <summary>
/// iopt_alloc_pages over a region (by the region's process, so current->mm is the source mm).
/// <paramref name="Offset"/>/<paramref name="Length"/> are bytes relative to the region; with
/// <paramref name="RawUptr"/> set they are taken as an absolute user pointer and length instead
/// (bad input at and past the edges).
/// </summary>
public sealed record CreatePages(int Region, ulong Offset, ulong Length, bool Writable, byte AccountMode, bool RawUptr = false) : Op;

/// <summary>Drops the creating caller's reference on an iopt_pages.</summary>
public sealed record PutPages(int Pages) : Op;

public sealed record CreateIopt : Op;

/// <summary>Maps [StartByte, StartByte+Length) of a pages object at an IOVA (null: allocated).</summary>
public sealed record MapArea(int Iopt, int Pages, ulong StartByte, ulong Length, ulong? Iova, bool Write) : Op;

/// <summary>IOAS_COPY: maps the same pages slice as an existing area into another io_pagetable.</summary>
public sealed record CopyArea(int Area, int DstIopt, ulong? Iova) : Op;

public sealed record UnmapArea(int Area) : Op;

/// <summary>Unmap of an arbitrary IOVA range (bad input, partial areas).</summary>
public sealed record UnmapRange(int Iopt, ulong Iova, ulong Length) : Op;

public enum DomainKind { Mock, PageTable }

public sealed record AttachDomain(int Iopt, DomainKind Kind) : Op;
public sealed record DetachDomain(int Domain) : Op;
public sealed record SetLargePages(int Iopt, bool Disable) : Op;

/// <summary>Splits an area at Offset bytes from its start (VFIO type1 compatibility).</summary>
public sealed record SplitArea(int Area, ulong Offset) : Op;

public sealed record CreateAccess(int Iopt) : Op;
public sealed record DestroyAccess(int Access) : Op;

/// <summary>Pins [Iova, Iova+Length) for an access; Iova is relative to an area's start unless Raw.</summary>
public sealed record AccessPin(int Access, int Area, ulong Offset, ulong Length, bool Write, bool Raw = false) : Op;
public sealed record AccessUnpin(int Pin) : Op;

/// <summary>Who performs an rw: the pages' own process, another process, or a kthread.</summary>
public enum RwContext { SameMm, OtherMm, Kthread }

public sealed record AccessRw(int Access, int Area, ulong Offset, ulong Length, bool Write, RwContext Context, bool SlowPath, int Seed) : Op;

public sealed record ProcessExit(int Process) : Op;
public sealed record SetRlimit(int Process, ulong Bytes) : Op;
public sealed record SetCapIpcLock(int Process, bool Capable) : Op;
public sealed record SetTempMemoryLimit(ulong Bytes) : Op;
