// SPDX-License-Identifier: GPL-2.0-only
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Iommufd.Model.Kernel;

/// <summary>
/// One block of kernel memory: a kmalloc allocation, an on-stack array, or a physical frame's
/// contents seen through kmap. Models: byte-addressed contents, the block's bounds, and its
/// lifetime (use after kfree and overruns are detected and throw <see cref="KernelMemoryFault"/>,
/// the model's equivalent of KASAN). Does not model: alignment, uninitialised-read detection
/// (kmalloc contents start as zero bytes, which is one of the contents the kernel may return).
/// </summary>
public sealed class KMem
{
    internal KMem(byte[] data, KMemKind kind, string site)
    {
        Data = data;
        Kind = kind;
        Site = site;
    }

    public byte[] Data { get; }
    public KMemKind Kind { get; }
    /// <summary>Allocation site (for kmalloc) or owner description.</summary>
    public string Site { get; }
    public bool Freed { get; internal set; }
    public long Length => Data.LongLength;

    /// <summary>An on-stack buffer such as <c>u64 backup[BATCH_BACKUP_SIZE]</c>; never kfree'd.</summary>
    public static KMem Stack(long bytes, [CallerMemberName] string owner = "") =>
        new(new byte[bytes], KMemKind.Stack, "stack@" + owner);

    /// <summary>Checks an access of <paramref name="bytes"/> bytes at <paramref name="offset"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Check(long offset, long bytes)
    {
        if (Freed)
            throw new KernelMemoryFault($"use after free of {Site} at offset {offset}");
        if (offset < 0 || bytes < 0 || offset > Data.LongLength - bytes)
            throw new KernelMemoryFault($"out-of-bounds access of {Site}: [{offset}, {offset + bytes}) of {Data.LongLength} bytes");
    }
}

public enum KMemKind { Heap, Stack, Frame, ZeroSize }

/// <summary>A memory-safety error of the model (what KASAN would report in the kernel).</summary>
public sealed class KernelMemoryFault(string message) : Exception(message);

/// <summary>
/// A typed C pointer: a block plus a byte offset. Pointer arithmetic scales by sizeof(T),
/// casts keep the byte address, NULL is the default value. Carries <c>T *</c>, <c>void *</c>
/// (as <c>Ptr&lt;byte&gt;</c>) and <c>struct page **</c> (as <c>Ptr&lt;PagePtr&gt;</c>).
/// </summary>
public readonly struct Ptr<T> : IEquatable<Ptr<T>> where T : unmanaged
{
    public Ptr(KMem? mem, long byteOffset)
    {
        Mem = mem;
        ByteOffset = byteOffset;
    }

    public KMem? Mem { get; }
    public long ByteOffset { get; }
    public bool IsNull => Mem is null;
    public static Ptr<T> NULL => default;

    public static int ElementSize => Unsafe.SizeOf<T>();

    public ref T this[long index]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            if (Mem is null)
                throw new KernelMemoryFault("NULL pointer dereference");
            long off = ByteOffset + index * Unsafe.SizeOf<T>();
            Mem.Check(off, Unsafe.SizeOf<T>());
            return ref Unsafe.As<byte, T>(ref Mem.Data[off]);
        }
    }

    /// <summary>A span over <paramref name="count"/> elements starting here (bounds and lifetime checked).</summary>
    public Span<T> AsSpan(long count)
    {
        if (count == 0) return Span<T>.Empty;
        if (Mem is null)
            throw new KernelMemoryFault("NULL pointer dereference");
        Mem.Check(ByteOffset, count * Unsafe.SizeOf<T>());
        return MemoryMarshal.Cast<byte, T>(Mem.Data.AsSpan((int)ByteOffset, checked((int)(count * Unsafe.SizeOf<T>()))));
    }

    public static Ptr<T> operator +(Ptr<T> p, long n) => new(p.Mem, p.ByteOffset + n * Unsafe.SizeOf<T>());
    public static Ptr<T> operator +(Ptr<T> p, ulong n) => p + unchecked((long)n);
    public static Ptr<T> operator -(Ptr<T> p, long n) => new(p.Mem, p.ByteOffset - n * Unsafe.SizeOf<T>());
    public static Ptr<T> operator ++(Ptr<T> p) => p + 1L;

    /// <summary>C pointer difference in elements; both must point into the same block.</summary>
    public static long operator -(Ptr<T> a, Ptr<T> b)
    {
        if (!ReferenceEquals(a.Mem, b.Mem))
            throw new KernelMemoryFault("pointer difference across different objects");
        return (a.ByteOffset - b.ByteOffset) / Unsafe.SizeOf<T>();
    }

    /// <summary><c>(U *)p</c>.</summary>
    public Ptr<U> Cast<U>() where U : unmanaged => new(Mem, ByteOffset);
    /// <summary><c>(void *)p</c>.</summary>
    public Ptr<byte> AsVoid() => new(Mem, ByteOffset);

    public bool Equals(Ptr<T> other) => ReferenceEquals(Mem, other.Mem) && ByteOffset == other.ByteOffset;
    public override bool Equals(object? obj) => obj is Ptr<T> p && Equals(p);
    public override int GetHashCode() => HashCode.Combine(Mem is null ? 0 : RuntimeHelpers.GetHashCode(Mem), ByteOffset);
    public static bool operator ==(Ptr<T> a, Ptr<T> b) => a.Equals(b);
    public static bool operator !=(Ptr<T> a, Ptr<T> b) => !a.Equals(b);
    public override string ToString() => Mem is null ? "NULL" : $"{Mem.Site}+{ByteOffset}";
}

/// <summary>
/// <c>struct page *</c>. With a vmemmap the pointer and the PFN determine each other, so the
/// pointer is carried as its PFN (stored +1 so that the default value is NULL). Eight bytes,
/// like the kernel pointer, so arrays of it in kmalloc memory have the kernel's sizes.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public readonly struct PagePtr : IEquatable<PagePtr>
{
    private readonly ulong pfnPlusOne;
    private PagePtr(ulong pfnPlusOne) => this.pfnPlusOne = pfnPlusOne;

    public static PagePtr FromPfn(ulong pfn) => new(pfn + 1);
    public static PagePtr NULL => default;
    public bool IsNull => pfnPlusOne == 0;
    public ulong Pfn => pfnPlusOne != 0 ? pfnPlusOne - 1 : throw new KernelMemoryFault("NULL struct page dereference");

    public bool Equals(PagePtr other) => pfnPlusOne == other.pfnPlusOne;
    public override bool Equals(object? obj) => obj is PagePtr p && Equals(p);
    public override int GetHashCode() => pfnPlusOne.GetHashCode();
    public static bool operator ==(PagePtr a, PagePtr b) => a.Equals(b);
    public static bool operator !=(PagePtr a, PagePtr b) => !a.Equals(b);
    public override string ToString() => IsNull ? "NULL" : $"page(pfn {Pfn:x})";
}
