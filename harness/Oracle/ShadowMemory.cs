// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Model.Kernel;

namespace Iommufd.Harness.Oracle;

/// <summary>
/// The oracle's copy of the contents of user memory, kept per frame so that aliases (one frame at
/// two addresses) share bytes. A frame the shadow never touched holds its initial pattern
/// (<see cref="PhysMem.InitialByte"/>): frames are never reused, and nothing but the user's own
/// writes, rw writes and migration changes their contents. Only frames that were written cost
/// 4 KiB here.
/// </summary>
public sealed class ShadowMemory
{
    private const int PageSize = PhysMem.FrameSize;
    private readonly Dictionary<ulong, byte[]> frames = [];

    public byte Get(ulong pfn, int offset) =>
        frames.TryGetValue(pfn, out var data) ? data[offset] : PhysMem.InitialByte(pfn, offset);

    public void Set(ulong pfn, int offset, byte value) => Page(pfn)[offset] = value;

    /// <summary>Copies <paramref name="destination"/>.Length bytes of the frame from <paramref name="offset"/>.</summary>
    public void Read(ulong pfn, int offset, Span<byte> destination)
    {
        if (frames.TryGetValue(pfn, out var data))
            data.AsSpan(offset, destination.Length).CopyTo(destination);
        else
            Initial(pfn, offset, destination);
    }

    /// <summary>Writes bytes into the frame.</summary>
    public void Write(ulong pfn, int offset, ReadOnlySpan<byte> source) => source.CopyTo(Page(pfn).AsSpan(offset));

    /// <summary>A migration copied <paramref name="oldPfn"/> into <paramref name="newPfn"/>.</summary>
    public void Migrate(ulong oldPfn, ulong newPfn) => frames[newPfn] = (byte[])Page(oldPfn).Clone();

    /// <summary>Takes the frame's actual contents as the truth (after a failed write, whose partial
    /// effect the specification does not pin down).</summary>
    public void Resync(PhysMem phys, ulong pfn)
    {
        var data = new byte[PageSize];
        phys.Read(pfn, 0, data);
        frames[pfn] = data;
    }

    /// <summary>The first offset where the frame's actual contents differ from the shadow, or -1.</summary>
    public int FirstDifference(PhysMem phys, ulong pfn, out byte expected, out byte actual)
    {
        var data = new byte[PageSize];
        phys.Read(pfn, 0, data);
        var mine = new byte[PageSize];
        Read(pfn, 0, mine);
        int i = mine.AsSpan().CommonPrefixLength(data);
        if (i < PageSize)
        {
            expected = mine[i];
            actual = data[i];
            return i;
        }
        expected = actual = 0;
        return -1;
    }

    private byte[] Page(ulong pfn)
    {
        if (!frames.TryGetValue(pfn, out var data))
        {
            data = new byte[PageSize];
            Initial(pfn, 0, data);
            frames[pfn] = data;
        }
        return data;
    }

    /// <summary>The initial pattern of a frame (what <see cref="PhysMem.InitialByte"/> gives per byte).</summary>
    private static void Initial(ulong pfn, int offset, Span<byte> destination)
    {
        PhysMem.InitialBytes(pfn, offset, destination);
    }
}
