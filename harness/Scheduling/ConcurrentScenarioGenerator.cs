// SPDX-License-Identifier: GPL-2.0-only
using FsCheck;
using FsCheck.Fluent;
using Iommufd.Harness.Generation;
using Iommufd.Model.Port;
using FsCheckGen = FsCheck.Fluent.Gen;

namespace Iommufd.Harness.Scheduling;

/// <summary>Knobs of the concurrent scenario generator.</summary>
public sealed record ConcurrentGenOptions(int MinThreads = 2, int MaxThreads = 3, int MaxOpsPerThread = 3, int MaxPages = 16)
{
    public static readonly ConcurrentGenOptions Default = new();
}

/// <summary>
/// Generates concurrent scenarios with FsCheck generators: a short valid setup (user memory in
/// process 0, one pages object over it, one or two IOASes, one or two areas mapped from the pages,
/// maybe a domain, maybe an access and a pin) and, for each of 2..3 threads, 1..3 operations of
/// the kinds whose locking matters (map, copy, unmap, attach/detach, access create/destroy,
/// pin/unpin, rw, split, and the exit of the process that owns the memory) with small handles, so that threads meet on the same objects. The result is a
/// pure function of the seed (sampled as <see cref="ScenarioGenerator"/> samples, via
/// <see cref="SeedMix"/>); generators only, running is <see cref="InterleaveRunner"/>'s.
/// </summary>
public static class ConcurrentScenarioGenerator
{
    private const ulong Page = 4096;

    public static ConcurrentScenario Generate(ulong seed, ConcurrentGenOptions? options = null,
        IReadOnlyList<string>? patches = null, string faultPlan = "none") =>
        FsCheckGen.Sample(Gen(options, patches, faultPlan), 1, SeedMix.Rnd(seed), 10)[0];

    /// <summary>The FsCheck generator of concurrent scenarios.</summary>
    public static Gen<ConcurrentScenario> Gen(ConcurrentGenOptions? options = null, IReadOnlyList<string>? patches = null,
        string faultPlan = "none")
    {
        var o = options ?? ConcurrentGenOptions.Default;
        return from pages in FsCheckGen.Choose(2, Math.Max(2, o.MaxPages))
               from setup in Setup(pages)
               from n in FsCheckGen.Choose(o.MinThreads, o.MaxThreads)
               from threads in FsCheckGen.ListOf(ThreadOps(pages, o.MaxOpsPerThread), n)
               select new ConcurrentScenario(patches ?? [], faultPlan, setup, threads.Select(t => (IReadOnlyList<Op>)t).ToArray());
    }

    /// <summary>Concurrent scenarios for FsCheck properties, shrinking by <see cref="InterleaveShrinker.Candidates"/>
    /// (fewer threads, thread operations, setup operations). Schedules are not part of the value: a
    /// property should ask whether any of K seeded schedules fails, so shrinking stays sound.</summary>
    public static Arbitrary<ConcurrentScenario> Arbitrary(ConcurrentGenOptions? options = null, IReadOnlyList<string>? patches = null) =>
        Arb.From(Gen(options, patches), InterleaveShrinker.Candidates);

    private static Gen<bool> Chance(int percent) => FsCheckGen.Choose(1, 100).Select(x => x <= percent);

    /// <summary>Memory, pages, IOAS 0 (and maybe 1), areas, maybe a domain, an access and a pin.</summary>
    public static Gen<IReadOnlyList<Op>> Setup(int pages) =>
        from scattered in Chance(25)
        from secondIoas in Chance(50)
        from split in FsCheckGen.Choose(0, pages - 1)
        from domain in FsCheckGen.Elements<DomainKind?>(null, DomainKind.Mock, DomainKind.PageTable)
        from access in Chance(70)
        from pin in Chance(40)
        from otherOwner in Chance(35)
        from mmAccounting in Chance(50)
        select (IReadOnlyList<Op>)Build(pages, scattered, secondIoas, split, domain, access, pin, otherOwner, mmAccounting);

    /// <param name="otherOwner">The memory belongs to a second process (process 1), which a thread
    /// may make exit while others pin, unmap or read through it; its pages are accounted to its mm
    /// when <paramref name="mmAccounting"/>, else to its user.</param>
    private static List<Op> Build(int pages, bool scattered, bool secondIoas, int split, DomainKind? domain, bool access, bool pin,
        bool otherOwner = false, bool mmAccounting = false)
    {
        ulong n = (ulong)pages;
        var ops = new List<Op>();
        if (otherOwner)
            ops.Add(new NewProcess(true, ulong.MaxValue, false));
        ops.Add(new MapUserMemory(otherOwner ? 1 : 0, [new Segment(scattered ? SegmentKind.Scattered : SegmentKind.Run, n)]));
        ops.Add(new CreatePages(0, 0, n * Page, true,
            otherOwner && mmAccounting ? IoptPagesAccount.IOPT_PAGES_ACCOUNT_MM : IoptPagesAccount.IOPT_PAGES_ACCOUNT_USER));
        ops.Add(new CreateIopt());
        if (secondIoas)
            ops.Add(new CreateIopt());
        if (domain is { } kind)
            ops.Add(new AttachDomain(0, kind));
        // One area over the whole pages, or two that split it.
        if (split == 0)
            ops.Add(new MapArea(0, 0, 0, n * Page, null, true));
        else
        {
            ops.Add(new MapArea(0, 0, 0, (ulong)split * Page, null, true));
            ops.Add(new MapArea(0, 0, (ulong)split * Page, (n - (ulong)split) * Page, null, true));
        }
        if (access)
        {
            ops.Add(new CreateAccess(0));
            if (pin)
                ops.Add(new AccessPin(0, 0, 0, Page, true));
        }
        return ops;
    }

    /// <summary>1..<paramref name="maxOps"/> operations of one thread.</summary>
    public static Gen<List<Op>> ThreadOps(int pages, int maxOps) =>
        from count in FsCheckGen.Choose(1, Math.Max(1, maxOps))
        from ops in FsCheckGen.ListOf(ThreadOp(pages), count)
        select ops.ToList();

    private static Gen<int> Small => FsCheckGen.Choose(0, 2);

    private static Gen<Op> ThreadOp(int pages)
    {
        var pageIndex = FsCheckGen.Choose(0, pages - 1);
        var length = FsCheckGen.Choose(1, Math.Min(4, pages)).Select(k => (ulong)k * Page);
        var map = from iopt in FsCheckGen.Choose(0, 1)
                  from first in pageIndex
                  from count in FsCheckGen.Choose(1, pages - first)
                  select (Op)new MapArea(iopt, 0, (ulong)first * Page, (ulong)count * Page, null, true);
        var copy = from area in Small
                   from dst in FsCheckGen.Choose(0, 1)
                   select (Op)new CopyArea(area, dst, null);
        var unmap = Small.Select(a => (Op)new UnmapArea(a));
        var unmapAll = FsCheckGen.Choose(0, 1).Select(i => (Op)new UnmapRange(i, 0, ulong.MaxValue));
        var attach = from iopt in FsCheckGen.Choose(0, 1)
                     from kind in FsCheckGen.Elements(DomainKind.Mock, DomainKind.PageTable)
                     select (Op)new AttachDomain(iopt, kind);
        var detach = Small.Select(d => (Op)new DetachDomain(d));
        var create = FsCheckGen.Choose(0, 1).Select(i => (Op)new CreateAccess(i));
        var destroy = Small.Select(x => (Op)new DestroyAccess(x));
        var pin = from x in Small
                  from area in Small
                  from off in pageIndex
                  from len in length
                  from write in Chance(70)
                  select (Op)new AccessPin(x, area, (ulong)off * Page, len, write);
        var unpin = Small.Select(p => (Op)new AccessUnpin(p));
        var rw = from x in Small
                 from area in Small
                 from off in FsCheckGen.Choose(0, pages * (int)Page - 1)
                 from len in FsCheckGen.Choose(1, 3 * (int)Page)
                 from write in Chance(50)
                 from context in FsCheckGen.Elements(RwContext.SameMm, RwContext.OtherMm, RwContext.Kthread)
                 from slow in Chance(30)
                 from seed in FsCheckGen.Choose(0, 1000)
                 select (Op)new AccessRw(x, area, (ulong)off, (ulong)len, write, context, slow, seed);
        // Exit makes process 1 (the memory's owner when the setup made one) exit; a split cuts an
        // area at a page boundary (VFIO type1 compatibility).
        var exit = FsCheckGen.Constant((Op)new ProcessExit(0));
        var split = from area in Small
                    from off in FsCheckGen.Choose(1, Math.Max(1, pages - 1))
                    select (Op)new SplitArea(area, (ulong)off * Page);
        return FsCheckGen.Frequency(
            (4, map), (2, copy), (4, unmap), (1, unmapAll), (3, attach), (3, detach),
            (2, create), (2, destroy), (5, pin), (3, unpin), (3, rw), (1, exit), (1, split));
    }
}
