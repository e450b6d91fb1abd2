// SPDX-License-Identifier: GPL-2.0-only
using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Iommufd.Model.Kernel;

/// <summary>A pin count change of one frame: the PFN and its pin count after the change.</summary>
public readonly record struct PinEvent(ulong Pfn, int PinCount);

/// <summary>A FOLL_LONGTERM migration: the frame at <paramref name="OldPfn"/> was copied to
/// <paramref name="NewPfn"/>, every mapping was moved, and the old frame was freed.</summary>
public readonly record struct MigrationEvent(ulong OldPfn, ulong NewPfn);

/// <summary>A snapshot of one frame's state (<c>struct page</c> as far as the model tracks it).</summary>
public readonly record struct Frame(ulong Pfn, bool Allocated, int PinCount, bool Dirty, bool Freed, bool Materialised);

/// <summary>
/// Physical memory: frames by PFN. Models: deterministic PFN allocation (bump allocation of runs
/// of any length with any power-of-two alignment, single frames, scattered non-contiguous frames
/// in a seed-determined order); per-frame FOLL_PIN pin count, dirty flag and freed flag; frame
/// contents, created lazily on first access as a 4096-byte <see cref="KMem"/> of kind
/// <see cref="KMemKind.Frame"/> filled with a pattern derived from the PFN; kmap balance;
/// migration of a frame to a new one. Storage is sparse: an untouched frame costs nothing, a
/// touched one a dictionary entry, and only frames whose contents were read or written through a
/// pointer carry 4 KiB. Instrumentation: total pins, pin/unpin operation counts, migrations,
/// pin/unpin/migration events raised outside the internal lock. Misuse reported as
/// <see cref="CheckKind.FakeMisuse"/>: unpinning a frame whose pin count is 0, pinning a frame that
/// was never allocated or was freed, kunmap without a matching kmap.
/// Does not model: frame reuse after free (PFNs are never handed out twice, so a stale PFN is
/// always detectable), compound pages/folios (a huge run is just 512 aligned frames), zones,
/// page reference counts other than pins, freeing of frames when their last mapping goes away
/// (frames are freed only by migration).
/// </summary>
public sealed partial class PhysMem(FakeKernel kernel)
{
    /// <summary>Frames below this PFN are never allocated (so PFN 0 and low memory stay unused).</summary>
    public const ulong FirstPfn = 0x1000;
    public const int FrameSize = (int)KernelApi.PAGE_SIZE;
    /// <summary>Frames in a huge-page run (2 MiB / 4 KiB).</summary>
    public const ulong HugeRunPages = 512;

    internal FakeKernel Kernel { get; } = kernel;

    /// <summary>The one lock of the memory state: frames, and (taken inside it, never around it)
    /// the address spaces' own locks during migration.</summary>
    internal readonly object Gate = new();

    private struct FrameState
    {
        public int Pins;
        public bool Dirty;
        public bool Freed;
        public KMem? Contents;
    }

    private readonly Dictionary<ulong, FrameState> frames = [];
    private readonly List<(ulong Start, ulong Count)> extents = [];
    private readonly List<AddressSpace> spaces = [];
    private readonly Dictionary<KMem, int> kmaps = new(ReferenceEqualityComparer.Instance);
    private ulong nextPfn = FirstPfn;
    private long totalPins, pinOps, unpinOps, migrations, materialised;

    /// <summary>Test-only hooks that make this fake misbehave on purpose (oracle tests). Unset
    /// (the default) they change nothing; production paths never set them.</summary>
    public PhysMemTestHooks TestHooks { get; } = new();

    /// <summary>Raised after a frame's pin count went up (PFN, count after).</summary>
    public event Action<PinEvent>? Pinned;
    /// <summary>Raised after a frame's pin count went down (PFN, count after).</summary>
    public event Action<PinEvent>? Unpinned;
    /// <summary>Raised after a migration completed.</summary>
    public event Action<MigrationEvent>? Migrated;

    // ---- allocation ----------------------------------------------------------------------

    /// <summary>Allocates <paramref name="count"/> PFN-contiguous frames whose first PFN is a
    /// multiple of <paramref name="alignment"/> (a power of two). Returns the first PFN.</summary>
    public ulong AllocRun(ulong count, ulong alignment = 1)
    {
        if (count == 0)
            throw new ArgumentOutOfRangeException(nameof(count), "a run has at least one frame");
        if (alignment == 0 || (alignment & (alignment - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(alignment), "alignment must be a power of two");
        lock (Gate)
        {
            ulong start = checked(nextPfn + alignment - 1) & ~(alignment - 1);
            nextPfn = checked(start + count);
            extents.Add((start, count));
            return start;
        }
    }

    /// <summary>Allocates one 512-frame run aligned to 512 (a 2 MiB huge page's frames).</summary>
    public ulong AllocHugeRun() => AllocRun(HugeRunPages, HugeRunPages);

    /// <summary>Allocates a single frame.</summary>
    public ulong AllocFrame() => AllocRun(1);

    /// <summary>Allocates <paramref name="count"/> frames of which no two are PFN-adjacent, returned
    /// in an order shuffled by <paramref name="seed"/> (so consecutive entries are never consecutive PFNs).</summary>
    public ulong[] AllocScattered(int count, ulong seed = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        var result = new ulong[count];
        lock (Gate)
        {
            for (int i = 0; i < count; i++)
            {
                // A gap frame before every frame keeps them apart, also from earlier runs.
                ulong pfn = checked(nextPfn + 1);
                nextPfn = pfn + 1;
                extents.Add((pfn, 1));
                result[i] = pfn;
            }
        }
        var rng = new PhysMemMix(seed);
        for (int i = count - 1; i > 0; i--)
        {
            int j = (int)(rng.Next() % (ulong)(i + 1));
            (result[i], result[j]) = (result[j], result[i]);
        }
        return result;
    }

    /// <summary>True if <paramref name="pfn"/> was handed out by an allocation (freed or not).</summary>
    public bool IsAllocated(ulong pfn)
    {
        lock (Gate) return IsAllocatedLocked(pfn);
    }

    private bool IsAllocatedLocked(ulong pfn)
    {
        int lo = 0, hi = extents.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            var (start, count) = extents[mid];
            if (pfn < start) hi = mid - 1;
            else if (pfn - start >= count) lo = mid + 1;
            else return true;
        }
        return false;
    }

    // ---- frame state ---------------------------------------------------------------------

    /// <summary>The state of one frame.</summary>
    public Frame this[ulong pfn]
    {
        get
        {
            lock (Gate)
            {
                frames.TryGetValue(pfn, out var s);
                return new Frame(pfn, IsAllocatedLocked(pfn), s.Pins, s.Dirty, s.Freed, s.Contents is not null);
            }
        }
    }

    public int PinCount(ulong pfn) { lock (Gate) return PinCountLocked(pfn); }
    internal int PinCountLocked(ulong pfn) => frames.TryGetValue(pfn, out var s) ? s.Pins : 0;
    public bool IsDirty(ulong pfn) { lock (Gate) return frames.TryGetValue(pfn, out var s) && s.Dirty; }
    public bool IsFreed(ulong pfn) { lock (Gate) return frames.TryGetValue(pfn, out var s) && s.Freed; }

    /// <summary>Clears a frame's dirty flag (the harness does so before an operation it observes).</summary>
    public void ClearDirty(ulong pfn)
    {
        lock (Gate)
        {
            if (frames.TryGetValue(pfn, out var s) && s.Dirty)
            {
                s.Dirty = false;
                frames[pfn] = s;
            }
        }
    }

    /// <summary>Sum of the pin counts of all frames.</summary>
    public long TotalPins { get { lock (Gate) return totalPins; } }
    /// <summary>Number of single-frame pin operations so far.</summary>
    public long PinOperations { get { lock (Gate) return pinOps; } }
    /// <summary>Number of single-frame unpin operations so far (misuses included).</summary>
    public long UnpinOperations { get { lock (Gate) return unpinOps; } }
    public long Migrations { get { lock (Gate) return migrations; } }
    /// <summary>Frames with per-frame state (pinned, dirtied, freed or materialised at some point).</summary>
    public int TrackedFrames { get { lock (Gate) return frames.Count; } }
    /// <summary>Frames whose 4 KiB contents exist.</summary>
    public long MaterialisedFrames { get { lock (Gate) return materialised; } }
    /// <summary>kmap_local_page mappings not yet kunmap'ed.</summary>
    public int OutstandingKmaps { get { lock (Gate) return kmaps.Values.Sum(); } }

    /// <summary>Every frame with a non-zero pin count, ascending by PFN.</summary>
    public IReadOnlyList<PinEvent> PinnedFrames()
    {
        lock (Gate)
            return frames.Where(kv => kv.Value.Pins > 0).Select(kv => new PinEvent(kv.Key, kv.Value.Pins))
                         .OrderBy(p => p.Pfn).ToArray();
    }

    /// <summary>Raises the pin count of <paramref name="pfn"/> by one (a FOLL_PIN reference).</summary>
    public void Pin(ulong pfn, string function = "pin_user_pages")
    {
        int after;
        lock (Gate) after = PinLocked(pfn, function);
        if (after > 0)
            RaisePinned(new PinEvent(pfn, after));
    }

    /// <summary>Pins with <see cref="Gate"/> held; returns the count after, or 0 on misuse. The
    /// caller raises <see cref="Pinned"/> after releasing the lock.</summary>
    internal int PinLocked(ulong pfn, string function)
    {
        if (!CheckLive(pfn, function, "pin"))
            return 0;
        ref var s = ref CollectionsMarshal.GetValueRefOrAddDefault(frames, pfn, out _);
        totalPins++;
        pinOps++;
        return ++s.Pins;
    }

    internal void RaisePinned(PinEvent e) => Pinned?.Invoke(e);

    /// <summary>Drops one FOLL_PIN reference of <paramref name="pfn"/>; with <paramref name="makeDirty"/>
    /// marks the frame dirty first. Reports misuse if the frame is not pinned.</summary>
    public void Unpin(ulong pfn, bool makeDirty = false, string function = "unpin_user_page")
    {
        if (TestHooks.IgnoreUnpin?.Invoke(pfn) == true)
            return;
        if (TestHooks.RedirectUnpin is { } redirect)
            pfn = redirect(pfn);
        int after;
        lock (Gate)
        {
            unpinOps++;
            ref var s = ref CollectionsMarshal.GetValueRefOrNullRef(frames, pfn);
            if (System.Runtime.CompilerServices.Unsafe.IsNullRef(ref s) || s.Pins == 0)
            {
                Kernel.Checks.Report(CheckKind.FakeMisuse, function, $"unpin of pfn {pfn:x} whose pin count is 0");
                return;
            }
            if (makeDirty)
                s.Dirty = true;
            after = --s.Pins;
            totalPins--;
        }
        Unpinned?.Invoke(new PinEvent(pfn, after));
    }

    /// <summary>Marks a frame dirty (set_page_dirty_lock).</summary>
    public void SetDirty(ulong pfn, string function = "set_page_dirty_lock")
    {
        lock (Gate)
        {
            if (!CheckLive(pfn, function, "dirty"))
                return;
            ref var s = ref CollectionsMarshal.GetValueRefOrAddDefault(frames, pfn, out _);
            s.Dirty = true;
        }
    }

    private bool CheckLive(ulong pfn, string function, string what)
    {
        if (!IsAllocatedLocked(pfn))
        {
            Kernel.Checks.Report(CheckKind.FakeMisuse, function, $"{what} of pfn {pfn:x} that was never allocated");
            return false;
        }
        if (frames.TryGetValue(pfn, out var s) && s.Freed)
        {
            Kernel.Checks.Report(CheckKind.FakeMisuse, function, $"{what} of freed pfn {pfn:x}");
            return false;
        }
        return true;
    }

    // ---- contents ------------------------------------------------------------------------

    /// <summary>The byte a never-written frame holds at <paramref name="offset"/>.</summary>
    public static byte InitialByte(ulong pfn, int offset)
    {
        ulong word = PhysMemMix.Mix(pfn * (ulong)(FrameSize / 8) + (ulong)(offset >> 3));
        return (byte)(word >> ((offset & 7) * 8));
    }

    /// <summary>The bytes a never-written frame holds from <paramref name="offset"/>: what
    /// <see cref="InitialByte"/> gives, a 64-bit word at a time (for observers comparing memory).</summary>
    public static void InitialBytes(ulong pfn, int offset, Span<byte> destination)
    {
        if (offset < 0 || offset + destination.Length > FrameSize)
            throw new ArgumentOutOfRangeException(nameof(offset));
        Span<byte> word = stackalloc byte[8];
        int done = 0;
        while (done < destination.Length)
        {
            int at = offset + done;
            BinaryPrimitives.WriteUInt64LittleEndian(word, PhysMemMix.Mix(pfn * (ulong)(FrameSize / 8) + (ulong)(at >> 3)));
            int n = Math.Min(8 - (at & 7), destination.Length - done);
            word.Slice(at & 7, n).CopyTo(destination.Slice(done, n));
            done += n;
        }
    }

    /// <summary>The contents block of a frame (created on first use). A freed frame's block is
    /// marked freed, so any access through it faults like a use after free.</summary>
    public KMem Contents(ulong pfn)
    {
        lock (Gate)
        {
            if (!IsAllocatedLocked(pfn))
                throw new KernelMemoryFault($"access to pfn {pfn:x} that is not memory");
            return ContentsLocked(pfn);
        }
    }

    private KMem ContentsLocked(ulong pfn)
    {
        ref var s = ref CollectionsMarshal.GetValueRefOrAddDefault(frames, pfn, out _);
        if (s.Contents is null)
        {
            var data = new byte[FrameSize];
            for (int i = 0; i < FrameSize; i += 8)
                BinaryPrimitives.WriteUInt64LittleEndian(data.AsSpan(i), PhysMemMix.Mix(pfn * (ulong)(FrameSize / 8) + (ulong)(i >> 3)));
            s.Contents = new KMem(data, KMemKind.Frame, $"pfn {pfn:x}") { Freed = s.Freed };
            materialised++;
        }
        return s.Contents;
    }

    /// <summary>Reads bytes of a frame without materialising an untouched one.</summary>
    public void Read(ulong pfn, int offset, Span<byte> destination)
    {
        if (offset < 0 || offset + destination.Length > FrameSize)
            throw new ArgumentOutOfRangeException(nameof(offset));
        lock (Gate)
        {
            if (frames.TryGetValue(pfn, out var s) && s.Freed)
                throw new KernelMemoryFault($"read of freed pfn {pfn:x}");
            if (s.Contents is not null)
            {
                s.Contents.Data.AsSpan(offset, destination.Length).CopyTo(destination);
                return;
            }
        }
        for (int i = 0; i < destination.Length; i++)
            destination[i] = InitialByte(pfn, offset + i);
    }

    /// <summary>Writes bytes into a frame (the harness's view of a CPU store).</summary>
    public void Write(ulong pfn, int offset, ReadOnlySpan<byte> source)
    {
        if (offset < 0 || offset + source.Length > FrameSize)
            throw new ArgumentOutOfRangeException(nameof(offset));
        var mem = Contents(pfn);
        lock (Gate)
        {
            mem.Check(offset, source.Length);
            source.CopyTo(mem.Data.AsSpan(offset, source.Length));
        }
    }

    /// <summary>kmap_local_page: a pointer to the frame's contents.</summary>
    internal Ptr<byte> Kmap(ulong pfn)
    {
        lock (Gate)
        {
            if (!IsAllocatedLocked(pfn))
                throw new KernelMemoryFault($"kmap of pfn {pfn:x} that is not memory");
            var mem = ContentsLocked(pfn);
            kmaps[mem] = kmaps.GetValueOrDefault(mem) + 1;
            return new Ptr<byte>(mem, 0);
        }
    }

    /// <summary>kunmap_local: accepts any address inside a kmapped frame.</summary>
    internal void Kunmap(Ptr<byte> addr)
    {
        lock (Gate)
        {
            if (addr.Mem is not { Kind: KMemKind.Frame } mem || !kmaps.TryGetValue(mem, out int n))
            {
                Kernel.Checks.Report(CheckKind.FakeMisuse, "kunmap_local", $"kunmap_local of {addr} that is not kmapped");
                return;
            }
            if (n == 1) kmaps.Remove(mem); else kmaps[mem] = n - 1;
        }
    }

    // ---- address spaces and migration -----------------------------------------------------

    internal void Register(AddressSpace space) { lock (Gate) spaces.Add(space); }
    internal void Unregister(AddressSpace space) { lock (Gate) spaces.Remove(space); }

    /// <summary>Frees a frame (its contents become inaccessible). Called by migration; the
    /// harness may also free frames it knows to be unmapped and unpinned.</summary>
    public void Free(ulong pfn, string function = "free_page")
    {
        lock (Gate) FreeLocked(pfn, function);
    }

    private void FreeLocked(ulong pfn, string function)
    {
        if (!CheckLive(pfn, function, "free"))
            return;
        ref var s = ref CollectionsMarshal.GetValueRefOrAddDefault(frames, pfn, out _);
        if (s.Pins != 0)
            Kernel.Checks.Report(CheckKind.FakeMisuse, function, $"free of pfn {pfn:x} with {s.Pins} pins");
        s.Freed = true;
        if (s.Contents is not null)
            s.Contents.Freed = true;
    }

    /// <summary>
    /// Migrates an unpinned frame: allocates a new frame, copies the contents, moves every mapping
    /// of the old PFN in every registered address space to the new one (the rmap walk), frees the
    /// old frame. <paramref name="requester"/>, the space GUP walked, is remapped even if it is
    /// not registered (a detached mm). Must be called with <see cref="Gate"/> held. Returns the new PFN.
    /// </summary>
    internal ulong MigrateLocked(ulong oldPfn, AddressSpace requester)
    {
        ulong newPfn = checked(nextPfn);
        nextPfn = newPfn + 1;
        extents.Add((newPfn, 1));
        if (frames.TryGetValue(oldPfn, out var old) && old.Contents is not null)
        {
            var copy = ContentsLocked(newPfn);
            old.Contents.Data.CopyTo(copy.Data, 0);
        }
        else
        {
            // Copy the untouched pattern of the old frame.
            var copy = ContentsLocked(newPfn);
            for (int i = 0; i < FrameSize; i++) copy.Data[i] = InitialByte(oldPfn, i);
        }
        if (old.Dirty)
        {
            ref var n = ref CollectionsMarshal.GetValueRefOrAddDefault(frames, newPfn, out _);
            n.Dirty = true;
        }
        foreach (var space in spaces)
            space.RemapPfn(oldPfn, newPfn);
        if (!spaces.Contains(requester))
            requester.RemapPfn(oldPfn, newPfn);
        FreeLocked(oldPfn, "migrate_pages");
        migrations++;
        return newPfn;
    }

    internal void RaiseMigrated(MigrationEvent e) => Migrated?.Invoke(e);
}

/// <summary>
/// Test-only hooks of <see cref="PhysMem"/>: each, when set, breaks one documented behaviour so
/// that a test can check that the oracle notices. Never set outside tests.
/// </summary>
public sealed class PhysMemTestHooks
{
    /// <summary>When it returns true for a PFN, an unpin of that PFN is silently dropped (the pin leaks).</summary>
    public Func<ulong, bool>? IgnoreUnpin { get; set; }

    /// <summary>Maps the PFN an unpin names to the PFN actually unpinned (a wrong-page unpin).</summary>
    public Func<ulong, ulong>? RedirectUnpin { get; set; }
}

/// <summary>SplitMix64: the deterministic generator of the memory fakes (seeded, no global state).</summary>
internal struct PhysMemMix(ulong seed)
{
    private ulong state = seed;

    public ulong Next()
    {
        state += 0x9E3779B97F4A7C15UL;
        return Finish(state);
    }

    /// <summary>A stateless hash of <paramref name="x"/>.</summary>
    public static ulong Mix(ulong x) => Finish(x + 0x9E3779B97F4A7C15UL);

    private static ulong Finish(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
