// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Model.Kernel;

/// <summary>
/// One VMA of a user address space: a page-aligned range [Start, End) with a protection, a
/// "movable" flag and a backing that gives the PFN of each page. The backing is a PFN-contiguous
/// run, or an explicit PFN list (the same PFN may appear more than once), plus sparse per-page
/// overrides recording pages that migration moved to a new frame. Migration updates the overrides
/// under the address space's lock: while other threads may pin, read PFNs through
/// <see cref="AddressSpace.TryTranslate(ulong, out ulong, out bool)"/> rather than <see cref="PfnAt"/>.
/// </summary>
public sealed class Vma
{
    private readonly ulong runStart;
    private readonly ulong[]? frames;
    private readonly long frameOffset;
    private readonly Dictionary<ulong, ulong> overrides;

    internal Vma(ulong start, ulong npages, bool writable, bool movable, ulong runStart, ulong[]? frames, long frameOffset,
        Dictionary<ulong, ulong> overrides)
    {
        Start = start;
        NPages = npages;
        Writable = writable;
        Movable = movable;
        this.runStart = runStart;
        this.frames = frames;
        this.frameOffset = frameOffset;
        this.overrides = overrides;
    }

    public ulong Start { get; }
    public ulong NPages { get; }
    /// <summary>One past the last byte.</summary>
    public ulong End => Start + NPages * KernelApi.PAGE_SIZE;
    public bool Writable { get; }
    /// <summary>FOLL_LONGTERM pins of unpinned pages here migrate the page first.</summary>
    public bool Movable { get; }
    /// <summary>True for a PFN-contiguous run backing (before any migration).</summary>
    public bool IsRun => frames is null;
    /// <summary>Pages whose frame was replaced by migration.</summary>
    public int MigratedPages => overrides.Count;

    /// <summary>The PFN backing page <paramref name="index"/> of this VMA.</summary>
    public ulong PfnAt(ulong index)
    {
        if (overrides.TryGetValue(index, out ulong pfn))
            return pfn;
        return frames is null ? runStart + index : frames[frameOffset + (long)index];
    }

    public bool Contains(ulong va) => va >= Start && va < End;

    /// <summary>Pages [from, from + count) as a VMA of their own starting at the matching address.</summary>
    internal Vma Slice(ulong from, ulong count, bool? writable = null)
    {
        var o = new Dictionary<ulong, ulong>();
        foreach (var (index, pfn) in overrides)
            if (index >= from && index - from < count)
                o[index - from] = pfn;
        return new Vma(Start + from * KernelApi.PAGE_SIZE, count, writable ?? Writable, Movable,
            frames is null ? runStart + from : 0, frames, frameOffset + (long)from, o);
    }

    /// <summary>Moves every page mapping <paramref name="oldPfn"/> to <paramref name="newPfn"/>.</summary>
    internal void RemapPfn(ulong oldPfn, ulong newPfn)
    {
        foreach (var (index, pfn) in overrides.ToArray())
            if (pfn == oldPfn)
                overrides[index] = newPfn;
        if (frames is null)
        {
            if (oldPfn >= runStart && oldPfn - runStart < NPages && !overrides.ContainsKey(oldPfn - runStart))
                overrides[oldPfn - runStart] = newPfn;
            return;
        }
        for (ulong i = 0; i < NPages; i++)
            if (frames[frameOffset + (long)i] == oldPfn && !overrides.ContainsKey(i))
                overrides[i] = newPfn;
    }

    public override string ToString() =>
        $"[{Start:x}, {End:x}) {(Writable ? "rw" : "ro")}{(Movable ? " movable" : "")}";
}

/// <summary>
/// A user address space (the VMAs of one <see cref="mm_struct"/>). Models: page-aligned mappings
/// with read-only or read-write protection, backed by PFN-contiguous runs (one frame, 512-frame
/// huge runs, longer runs) or by explicit PFN lists (scattered frames, aliases), holes, the
/// per-VMA movable flag and per-page remapping by migration; translation va -> (pfn, writable);
/// teardown at process exit (every later translation fails). Mapping over an existing range
/// replaces it (MAP_FIXED). Does not model: page faults or lazily populated memory (every mapped
/// page is present), copy-on-write, file mappings, page-table levels or huge PTEs, VMA merging
/// (adjacent VMAs stay separate, which is not observable here).
/// </summary>
public sealed class AddressSpace
{
    private readonly object gate = new();
    private readonly List<Vma> vmas = [];

    internal AddressSpace(PhysMem? phys)
    {
        Phys = phys;
        phys?.Register(this);
    }

    /// <summary>The physical memory this space maps frames of (null for a detached space).</summary>
    public PhysMem? Phys { get; }
    public bool TornDown { get; private set; }

    public const ulong PAGE_SIZE = KernelApi.PAGE_SIZE;

    /// <summary>A snapshot of the VMAs, ascending by address.</summary>
    public IReadOnlyList<Vma> Vmas { get { lock (gate) return vmas.ToArray(); } }

    // ---- builders --------------------------------------------------------------------------

    /// <summary>Maps <paramref name="npages"/> pages at <paramref name="va"/> onto the PFN-contiguous
    /// frames starting at <paramref name="firstPfn"/>.</summary>
    public Vma MapRun(ulong va, ulong npages, ulong firstPfn, bool writable = true, bool movable = false) =>
        Insert(va, npages, (start, n) => new Vma(start, n, writable, movable, firstPfn, null, 0, []));

    /// <summary>Allocates <paramref name="npages"/> contiguous frames aligned to
    /// <paramref name="alignment"/> frames and maps them at <paramref name="va"/>.</summary>
    public Vma MapNewRun(ulong va, ulong npages, ulong alignment = 1, bool writable = true, bool movable = false)
    {
        var phys = Phys ?? throw new InvalidOperationException("a detached address space cannot allocate frames");
        CheckRange(va, npages);
        return MapRun(va, npages, phys.AllocRun(npages, alignment), writable, movable);
    }

    /// <summary>Maps one page per entry of <paramref name="pfns"/>, in order, at <paramref name="va"/>.</summary>
    public Vma MapFrames(ulong va, IReadOnlyList<ulong> pfns, bool writable = true, bool movable = false)
    {
        var copy = pfns.ToArray();
        return Insert(va, (ulong)copy.LongLength, (start, n) => new Vma(start, n, writable, movable, 0, copy, 0, []));
    }

    /// <summary>Allocates scattered frames (order from <paramref name="seed"/>) and maps them at <paramref name="va"/>.</summary>
    public Vma MapNewScattered(ulong va, int npages, ulong seed = 0, bool writable = true, bool movable = false)
    {
        var phys = Phys ?? throw new InvalidOperationException("a detached address space cannot allocate frames");
        CheckRange(va, (ulong)npages);
        return MapFrames(va, phys.AllocScattered(npages, seed), writable, movable);
    }

    /// <summary>Maps at <paramref name="va"/> the frames currently mapped at
    /// [<paramref name="sourceVa"/>, +npages) of <paramref name="source"/> (this space if null),
    /// so each PFN appears at two addresses. Holes in the source are holes in the alias.</summary>
    public void MapAlias(ulong va, ulong sourceVa, ulong npages, bool writable = true, AddressSpace? source = null)
    {
        CheckRange(va, npages);
        CheckRange(sourceVa, npages);
        source ??= this;
        var pfns = new List<ulong>();
        ulong runVa = va;
        for (ulong i = 0; i < npages; i++)
        {
            if (source.TryTranslate(sourceVa + i * PAGE_SIZE, out ulong pfn, out _))
            {
                if (pfns.Count == 0) runVa = va + i * PAGE_SIZE;
                pfns.Add(pfn);
                continue;
            }
            if (pfns.Count > 0) MapFrames(runVa, pfns, writable);
            pfns.Clear();
            Unmap(va + i * PAGE_SIZE, 1);
        }
        if (pfns.Count > 0) MapFrames(runVa, pfns, writable);
    }

    /// <summary>Removes every mapping in [va, va + npages pages), splitting VMAs at the edges.</summary>
    public void Unmap(ulong va, ulong npages)
    {
        CheckRange(va, npages);
        lock (gate)
        {
            ThrowIfTornDown();
            Carve(va, va + npages * PAGE_SIZE, null);
        }
    }

    /// <summary>Changes the protection of the mapped pages in the range (holes stay holes).</summary>
    public void Protect(ulong va, ulong npages, bool writable)
    {
        CheckRange(va, npages);
        lock (gate)
        {
            ThrowIfTornDown();
            Carve(va, va + npages * PAGE_SIZE, writable);
        }
    }

    private Vma Insert(ulong va, ulong npages, Func<ulong, ulong, Vma> make)
    {
        CheckRange(va, npages);
        lock (gate)
        {
            ThrowIfTornDown();
            Carve(va, va + npages * PAGE_SIZE, null);
            var vma = make(va, npages);
            int i = vmas.FindIndex(v => v.Start > va);
            vmas.Insert(i < 0 ? vmas.Count : i, vma);
            return vma;
        }
    }

    /// <summary>For every VMA overlapping [start, end): keep the parts outside; the part inside is
    /// dropped (<paramref name="protect"/> null) or kept with the new protection.</summary>
    private void Carve(ulong start, ulong end, bool? protect)
    {
        var result = new List<Vma>(vmas.Count + 2);
        foreach (var v in vmas)
        {
            if (v.End <= start || v.Start >= end)
            {
                result.Add(v);
                continue;
            }
            ulong cutFrom = (Math.Max(start, v.Start) - v.Start) / PAGE_SIZE;
            ulong cutTo = (Math.Min(end, v.End) - v.Start) / PAGE_SIZE;
            if (cutFrom > 0) result.Add(v.Slice(0, cutFrom));
            if (protect is bool w) result.Add(v.Slice(cutFrom, cutTo - cutFrom, w));
            if (cutTo < v.NPages) result.Add(v.Slice(cutTo, v.NPages - cutTo));
        }
        vmas.Clear();
        vmas.AddRange(result);
    }

    private static void CheckRange(ulong va, ulong npages)
    {
        if (va % PAGE_SIZE != 0)
            throw new ArgumentException($"address {va:x} is not page aligned", nameof(va));
        if (npages == 0)
            throw new ArgumentOutOfRangeException(nameof(npages), "a mapping has at least one page");
        if (npages > ulong.MaxValue / PAGE_SIZE || va > ulong.MaxValue - npages * PAGE_SIZE)
            throw new ArgumentOutOfRangeException(nameof(npages), "range wraps the address space");
    }

    private void ThrowIfTornDown()
    {
        if (TornDown)
            throw new InvalidOperationException("the address space of an exited process cannot change");
    }

    // ---- translation -----------------------------------------------------------------------

    /// <summary>The VMA containing <paramref name="va"/>, or null for a hole.</summary>
    public Vma? FindVma(ulong va)
    {
        lock (gate) return FindLocked(va);
    }

    private Vma? FindLocked(ulong va)
    {
        int lo = 0, hi = vmas.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            var v = vmas[mid];
            if (va < v.Start) hi = mid - 1;
            else if (va >= v.End) lo = mid + 1;
            else return v;
        }
        return null;
    }

    /// <summary>va -> pfn. False for a hole or after teardown.</summary>
    public bool TryTranslate(ulong va, out ulong pfn, out bool writable)
    {
        lock (gate)
        {
            var v = FindLocked(va);
            if (v is null)
            {
                pfn = 0;
                writable = false;
                return false;
            }
            pfn = v.PfnAt((va - v.Start) / PAGE_SIZE);
            writable = v.Writable;
            return true;
        }
    }

    /// <summary>va -> pfn, or null for a hole.</summary>
    public ulong? Translate(ulong va) => TryTranslate(va, out ulong pfn, out _) ? pfn : null;

    /// <summary>Translation plus the VMA's movable flag, for GUP.</summary>
    internal bool TryTranslate(ulong va, out ulong pfn, out bool writable, out bool movable)
    {
        lock (gate)
        {
            var v = FindLocked(va);
            movable = v?.Movable ?? false;
            writable = v?.Writable ?? false;
            pfn = v is null ? 0 : v.PfnAt((va - v.Start) / PAGE_SIZE);
            return v is not null;
        }
    }

    internal void RemapPfn(ulong oldPfn, ulong newPfn)
    {
        lock (gate)
            foreach (var v in vmas)
                v.RemapPfn(oldPfn, newPfn);
    }

    /// <summary>Process exit: every mapping goes away. Pinned frames stay pinned.</summary>
    internal void Teardown()
    {
        lock (gate)
        {
            vmas.Clear();
            TornDown = true;
        }
        Phys?.Unregister(this);
    }
}
