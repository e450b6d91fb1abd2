// SPDX-License-Identifier: GPL-2.0-only
using FsCheck;
using FsCheck.Fluent;

namespace Iommufd.Harness.Generation;

/// <summary>
/// FsCheck generators of single operations, given what the generator believes the world holds.
/// Preconditions follow the real callers (memory before pages, pages before maps, accesses pin
/// inside mapped areas of their own IOAS, ...); a small share of each operation is bad input at
/// and past the edges. <see cref="Weights"/> lists the relative weight of each operation kind.
/// Offsets and lengths are page aligned unless the scenario is an <c>unaligned</c> one (a share of
/// the scenarios, chosen per scenario), where sub-page offsets and lengths appear too: mixing them
/// everywhere would make most areas refuse domains and accesses (-EADDRINUSE) and keep runs shallow.
/// </summary>
internal sealed class OpGenerators(GenModel model, int size, GenerationOptions options, bool unaligned)
{
    private const ulong Page = GenModel.Page;
    private const ulong ULongMax = ulong.MaxValue;

    /// <summary>Pages of the largest segment at this size.</summary>
    private int Scale => Math.Max(1, (int)((long)options.MaxPages * Math.Clamp(size, 1, GenerationOptions.MaxSize) / GenerationOptions.MaxSize));

    /// <summary>The base weight of each operation kind (before the state-dependent boosts of <see cref="Next"/>).</summary>
    public static readonly IReadOnlyDictionary<string, int> Weights = new Dictionary<string, int>
    {
        [nameof(NewProcess)] = 3, [nameof(MapUserMemory)] = 6, [nameof(UserWrite)] = 3,
        [nameof(CreatePages)] = 8, [nameof(PutPages)] = 2, [nameof(CreateIopt)] = 3,
        [nameof(MapArea)] = 14, [nameof(CopyArea)] = 4, [nameof(UnmapArea)] = 5, [nameof(UnmapRange)] = 3,
        [nameof(AttachDomain)] = 6, [nameof(DetachDomain)] = 6, [nameof(SetLargePages)] = 3,
        [nameof(SplitArea)] = 4, [nameof(CreateAccess)] = 5, [nameof(DestroyAccess)] = 2,
        [nameof(AccessPin)] = 16, [nameof(AccessUnpin)] = 6, [nameof(AccessRw)] = 10,
        [nameof(ProcessExit)] = 1, [nameof(SetRlimit)] = 2, [nameof(SetCapIpcLock)] = 2,
        [nameof(SetTempMemoryLimit)] = 1,
    };

    /// <summary>The next operation: every kind whose objects exist, weighted; missing
    /// prerequisites (memory, pages, an IOAS, an area, an access) are strongly boosted.</summary>
    public Gen<Op> Next()
    {
        var m = model;
        bool regions = m.LiveRegions.Any(), pages = m.HeldPages.Count > 0, iopts = m.Iopts.Count > 0;
        bool areas = m.Areas.Count > 0, accesses = m.Accesses.Count > 0;
        // Choose the kind first, then build only that kind's generator.
        var builders = new List<Func<Gen<Op>>>();
        var choices = new List<(int, Gen<int>)>();
        void Add(string kind, bool when, Func<Gen<Op>> gen, int boost = 0)
        {
            if (!when)
                return;
            choices.Add((Weights[kind] + boost, Gen.Constant(builders.Count)));
            builders.Add(gen);
        }
        Add(nameof(NewProcess), m.Procs.Count < 4, NewProcess);
        Add(nameof(MapUserMemory), m.Regions.Count < 8, MapUserMemory, regions ? 0 : 60);
        Add(nameof(UserWrite), regions, UserWrite);
        Add(nameof(CreatePages), regions, CreatePages, pages ? 0 : 40);
        Add(nameof(PutPages), pages, () => Handle(m.HeldPages.Count).Select(i => (Op)new PutPages(i)));
        Add(nameof(CreateIopt), m.Iopts.Count < 3, () => Gen.Constant((Op)new CreateIopt()), iopts ? 0 : 40);
        Add(nameof(MapArea), iopts && pages, MapArea, areas ? 0 : 30);
        Add(nameof(CopyArea), areas && m.Iopts.Count > 1, CopyArea);
        Add(nameof(UnmapArea), areas, () => Handle(m.Areas.Count).Select(i => (Op)new UnmapArea(i)));
        Add(nameof(UnmapRange), iopts, UnmapRange);
        // A domain attached before the first map keeps allocated IOVAs inside its aperture.
        bool bareIopt = Enumerable.Range(0, m.Iopts.Count).Any(i => m.AreasOf(i).Count == 0 && !m.Domains.Any(d => d.Iopt == i));
        Add(nameof(AttachDomain), iopts && m.Domains.Count < 4, AttachDomain, bareIopt ? 6 : 0);
        Add(nameof(DetachDomain), m.Domains.Count > 0, () => Handle(m.Domains.Count).Select(i => (Op)new DetachDomain(i)));
        Add(nameof(SetLargePages), iopts, SetLargePages);
        Add(nameof(SplitArea), areas, SplitArea, m.Iopts.Any(i => i.LargeDisabled) ? 4 : 0);
        Add(nameof(CreateAccess), iopts && m.Accesses.Count < 4, CreateAccess, areas && !accesses ? 10 : 0);
        Add(nameof(DestroyAccess), accesses, () => Handle(m.Accesses.Count).Select(i => (Op)new DestroyAccess(i)));
        Add(nameof(AccessPin), accesses && areas, AccessPin);
        Add(nameof(AccessUnpin), m.Pins.Count > 0, () => Handle(m.Pins.Count).Select(i => (Op)new AccessUnpin(i)));
        Add(nameof(AccessRw), accesses && areas, AccessRw);
        // An exit matters most while that process's memory backs pages: later unpins, unmaps and
        // rw then run against a dead mm (the mmget_not_zero failure paths of pages.c).
        bool exitMatters = m.HeldPages.Any(p => m.Regions[p.Region].Proc > 0 && !m.Procs[m.Regions[p.Region].Proc].Exited);
        Add(nameof(ProcessExit), m.Procs.Count > 1, () => Handle(m.Procs.Count - 1).Select(i => (Op)new ProcessExit(i)), exitMatters ? 3 : 0);
        Add(nameof(SetRlimit), true, SetRlimit);
        Add(nameof(SetCapIpcLock), true, SetCapIpcLock);
        Add(nameof(SetTempMemoryLimit), true, SetTempMemoryLimit);
        return Gen.Frequency(choices.ToArray()).SelectMany(k => builders[k]());
    }

    // ---- building blocks -------------------------------------------------------------------

    private static Gen<int> Handle(int count) => Gen.Choose(0, Math.Max(0, count - 1));

    private static Gen<bool> Chance(int percent) => Gen.Choose(0, 99).Select(x => x < percent);

    private static Gen<ulong> Between(ulong lo, ulong hi) =>
        hi - lo <= int.MaxValue
            ? Gen.Choose(0, (int)(hi - lo)).Select(x => lo + (ulong)x)
            : Gen.Choose(0, int.MaxValue).Select(x => lo + (ulong)x * ((hi - lo) / int.MaxValue));

    /// <summary>A page count: mostly a few pages, sometimes up to the scale of this size.</summary>
    private Gen<ulong> PageCount()
    {
        int s = Scale;
        return Gen.Frequency(
            (6, Gen.Choose(1, Math.Min(4, s))),
            (4, Gen.Choose(1, Math.Min(16, s))),
            (2, Gen.Choose(1, Math.Min(128, s))),
            (1, Gen.Choose(1, s))).Select(x => (ulong)x);
    }

    /// <summary>A byte offset inside [0, length): mostly page aligned, sometimes anywhere.</summary>
    private Gen<ulong> OffsetIn(ulong length)
    {
        if (length <= 1)
            return Gen.Constant(0UL);
        ulong pages = Math.Max(1, length / Page);
        return Gen.Frequency(
            (4, Gen.Constant(0UL)),
            (6, Between(0, pages - 1).Select(p => p * Page)),
            (2, Gen.Constant(Math.Min(Page, (pages - 1) * Page))),
            (unaligned ? 3 : 0, Between(0, length - 1)));
    }

    /// <summary>A byte length for a range starting <paramref name="offset"/> into [0, length):
    /// the rest, a few pages, a sub-page length, or anything.</summary>
    private Gen<ulong> LengthIn(ulong length, ulong offset)
    {
        ulong rest = Math.Max(1, length - Math.Min(offset, length - 1));
        ulong restPages = Math.Max(1, rest / Page);
        return Gen.Frequency(
            (5, Gen.Constant(rest)),
            (5, Between(1, Math.Min(restPages, 8)).Select(p => Math.Min(rest, p * Page))),
            (unaligned ? 1 : 0, Between(1, Math.Min(rest, Page))),
            (unaligned ? 2 : 0, Between(1, rest)));
    }

    /// <summary>Bad (IOVA or user address, length) pairs at and past the edges.</summary>
    private static Gen<(ulong Addr, ulong Length)> EdgeRange() => Gen.Elements(
        (0UL, 0UL), (0UL, Page), (Page, 0UL), (ULongMax, 1UL), (ULongMax - Page + 1, Page),
        (ULongMax - Page + 1, 2 * Page), (ULongMax - 10, 100UL), (1UL << 63, 1UL << 63), (Page, ULongMax),
        (Page, ULongMax - Page + 1), (0x800UL, 0x800UL), (1UL, Page), (0x10_0000_0000UL, ULongMax / 2),
        (0x7fff_ffff_f000UL, 2 * Page), (0x20_0000_0000UL, Page),
        // The longest length iopt_alloc_pages accepts, from a pointer 2 bytes into its page: the
        // page count wraps (finding 0002).
        (Page + 2, ULongMax - Page));

    /// <summary>Bad IOVA ranges for an access pin. The selftest driver refuses lengths above
    /// 16 MiB before it reaches the core, so longer ones are not generated.</summary>
    private static Gen<(ulong Addr, ulong Length)> PinEdgeRange() => Gen.Elements(
        (0UL, 0UL), (Page, 0UL), (0UL, Page), (1UL, Page), (0x800UL, 0x800UL), (ULongMax - Page + 1, 2 * Page),
        (ULongMax - 10, 100UL), (ULongMax - Page + 1, Page), (0x20_0000_0000UL, 4 * Page), (0x7fff_ffff_f000UL, 2 * Page));

    // ---- one generator per operation ---------------------------------------------------------

    private Gen<Op> NewProcess() =>
        from sameUser in Chance(50)
        from rlimit in Gen.Elements(ulong.MaxValue, 1UL << 30, 64 * Page, 4 * Page, Page, 0UL)
        from cap in Chance(20)
        select (Op)new NewProcess(sameUser, rlimit, cap);

    private Gen<Segment> Segment(bool first)
    {
        var kinds = new List<(int, Gen<SegmentKind>)>
        {
            (6, Gen.Constant(SegmentKind.Run)), (2, Gen.Constant(SegmentKind.HugeRun)), (3, Gen.Constant(SegmentKind.Scattered)),
        };
        if (!first)
            kinds.AddRange([(1, Gen.Constant(SegmentKind.Hole)), (2, Gen.Constant(SegmentKind.Alias))]);
        return from kind in Gen.Frequency(kinds.ToArray())
               from pages in kind == SegmentKind.HugeRun && Scale >= 512
                   ? Gen.Elements(512UL, 1024UL, 513UL, 700UL).Select(p => Math.Min(p, (ulong)Math.Max(512, Scale)))
                   : PageCount()
               from ro in Chance(12)
               from movable in Chance(12)
               select new Segment(kind, pages, ro, movable);
    }

    private Gen<Op> MapUserMemory() =>
        from proc in Gen.Frequency((3, Gen.Constant(0)), (2, Handle(model.Procs.Count)))
        from count in Gen.Frequency((5, Gen.Constant(1)), (3, Gen.Constant(2)), (2, Gen.Choose(3, 4)))
        from first in Segment(true)
        from rest in Segment(false).ArrayOf(count - 1)
        select (Op)new MapUserMemory(proc, [first, .. rest]);

    private Gen<Op> UserWrite()
    {
        var live = model.LiveRegions.ToList();
        return from r in Gen.Elements(live.ToArray())
               let len = model.Regions[r].Length
               from off in OffsetIn(len)
               from n in LengthIn(len, off).Select(x => Math.Min(x, 64 * Page))
               from seed in Gen.Choose(0, 1 << 20)
               select (Op)new UserWrite(r, off, n, seed);
    }

    private Gen<Op> CreatePages()
    {
        var live = model.LiveRegions.ToList();
        var valid =
            from r in Gen.Elements(live.ToArray())
            let len = model.Regions[r].Length
            from off in OffsetIn(len)
            from n in LengthIn(len, off)
            from writable in Chance(85)
            from mode in Gen.Frequency((7, Gen.Constant((byte)0)), (3, Gen.Constant((byte)2)))
            select (Op)new CreatePages(r, off, n, writable, mode);
        var bad =
            from r in Gen.Elements(live.ToArray())
            from e in EdgeRange()
            select (Op)new CreatePages(r, e.Addr, e.Length, true, 0, RawUptr: true);
        return Gen.Frequency((19, valid), (1, bad));
    }

    /// <summary>An explicit IOVA: page aligned and spread (so it rarely collides), mostly inside the
    /// selftest mock's aperture [16 MiB, 2 GiB) (a mock domain reserves the IOVA outside it, as the
    /// selftests map at MOCK_APERTURE_START), sometimes high (page-table domains only), misaligned
    /// or at the top of the address space.</summary>
    private static Gen<ulong?> Iova() => Gen.Frequency(
        (8, Gen.Constant<ulong?>(null)),
        (8, Gen.Choose(1, 119).Select(k => (ulong?)((ulong)k * 0x100_0000UL))),
        (2, Gen.Choose(1, 4096).Select(k => (ulong?)(0x40_0000_0000UL + (ulong)k * 0x4000_0000UL))),
        (1, Gen.Elements<ulong?>(0x40_0000_0800UL, 0x40_0000_0001UL, ULongMax - Page + 1, ULongMax - 16 * Page + 1, 0UL)));

    private Gen<Op> MapArea()
    {
        var held = model.HeldPages;
        var valid =
            from i in Gen.Choose(0, model.Iopts.Count - 1)
            from p in Handle(held.Count)
            let len = held[p].Length
            from start in OffsetIn(len)
            from n in LengthIn(len, start)
            from iova in Iova()
            from write in Chance(80)
            select (Op)new MapArea(i, p, start, n, iova, write);
        // Bad input as IOAS_MAP can pass it: a zero length, or a whole pages object at an IOVA
        // that is misaligned or runs past the top. (A slice beyond the pages is not bad user
        // input: the callers WARN on it as on their own bug.)
        var bad =
            from i in Gen.Choose(0, model.Iopts.Count - 1)
            from p in Handle(held.Count)
            from zero in Chance(50)
            from iova in Gen.Elements<ulong?>(null, ULongMax - Page + 1, ULongMax - 16 * Page + 1, 0UL, 1UL, 0x40_0000_0800UL)
            select (Op)new MapArea(i, p, 0, zero ? 0 : held[p].Length, iova, true);
        return Gen.Frequency((24, valid), (1, bad));
    }

    private Gen<Op> CopyArea() =>
        from a in Handle(model.Areas.Count)
        from dst in Handle(model.Iopts.Count)
        from iova in Iova()
        select (Op)new CopyArea(a, dst, iova);

    private Gen<Op> UnmapRange()
    {
        var edge = from i in Handle(model.Iopts.Count)
                   from e in EdgeRange()
                   select (Op)new UnmapRange(i, e.Addr, e.Length);
        var some = from i in Handle(model.Iopts.Count)
                   from k in Gen.Choose(1, 64)
                   from n in Gen.Choose(1, 64)
                   select (Op)new UnmapRange(i, (ulong)k * Page, (ulong)n * Page);
        return Gen.Frequency((1, edge), (1, some));
    }

    private Gen<Op> AttachDomain() =>
        from i in BusyIopt()
        from kind in Gen.Elements(DomainKind.Mock, DomainKind.PageTable)
        select (Op)new AttachDomain(i, kind);

    private Gen<Op> SetLargePages() =>
        from i in Handle(model.Iopts.Count)
        from disable in Chance(70)
        select (Op)new SetLargePages(i, disable);

    private Gen<Op> SplitArea() =>
        from a in Handle(model.Areas.Count)
        from off in OffsetIn(model.Areas[a].Length)
        select (Op)new SplitArea(a, off);

    /// <summary>An IOAS, preferably one with areas (so a domain or access has work to do).</summary>
    private Gen<int> BusyIopt()
    {
        var withAreas = Enumerable.Range(0, model.Iopts.Count).Where(i => model.AreasOf(i).Count > 0).ToArray();
        var any = Handle(model.Iopts.Count);
        return withAreas.Length == 0 ? any : Gen.Frequency((3, Gen.Elements(withAreas)), (1, any));
    }

    private Gen<Op> CreateAccess() => BusyIopt().Select(i => (Op)new CreateAccess(i));

    /// <summary>An access and one area of its IOAS (as World resolves it), or none.</summary>
    private List<(int Access, int Area, ulong Length)> AccessTargets() =>
        [.. model.Accesses.SelectMany((x, ai) => model.AreasOf(x.Iopt).Select((a, i) => (ai, i, a.Length)))];

    private Gen<Op> AccessPin()
    {
        var targets = AccessTargets();
        var bad = from x in Handle(model.Accesses.Count)
                  from e in PinEdgeRange()
                  from write in Chance(50)
                  select (Op)new AccessPin(x, 0, e.Addr, e.Length, write, Raw: true);
        if (targets.Count == 0)
            return bad;
        var valid = from t in Gen.Elements(targets.ToArray())
                    from off in OffsetIn(t.Length)
                    from n in LengthIn(t.Length, off)
                    from write in Chance(50)
                    select (Op)new AccessPin(t.Access, t.Area, off, n, write);
        return Gen.Frequency((19, valid), (1, bad));
    }

    private Gen<Op> AccessRw()
    {
        var targets = AccessTargets();
        if (targets.Count == 0)
            return Gen.Constant((Op)new AccessRw(0, 0, 0, 1, false, RwContext.SameMm, false, 0));
        return from t in Gen.Elements(targets.ToArray())
               from off in Gen.Frequency((3, OffsetIn(t.Length)), (1, Between(0, t.Length - 1)))
               from n in LengthIn(t.Length, off).Select(x => Math.Min(x, 64 * Page))
               from write in Chance(50)
               from ctx in Gen.Elements(RwContext.SameMm, RwContext.OtherMm, RwContext.Kthread)
               from slow in Chance(40)
               from seed in Gen.Choose(0, 1 << 20)
               select (Op)new AccessRw(t.Access, t.Area, off, n, write, ctx, slow, seed);
    }

    private Gen<Op> SetRlimit() =>
        from p in Handle(model.Procs.Count)
        from bytes in Gen.Elements(ulong.MaxValue, 1UL << 30, 256 * Page, 16 * Page, 2 * Page, Page, 0UL)
        select (Op)new SetRlimit(p, bytes);

    private Gen<Op> SetCapIpcLock() =>
        from p in Handle(model.Procs.Count)
        from cap in Chance(50)
        select (Op)new SetCapIpcLock(p, cap);

    public static Gen<Op> SetTempMemoryLimit() =>
        Gen.Elements(16UL, 32UL, 48UL, 256UL, 4096UL, 65536UL).Select(b => (Op)new SetTempMemoryLimit(b));
}
