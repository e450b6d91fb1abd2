// SPDX-License-Identifier: GPL-2.0-only
using FsCheck;
using FsCheck.Fluent;
using Iommufd.Model.Kernel;

namespace Iommufd.Tests.Kernel;

public class AddressSpaceTests
{
    private const ulong P = MmFixture.P, Base = MmFixture.Base;

    private static (FakeKernel K, AddressSpace Space) Make()
    {
        var k = new FakeKernel();
        return (k, k.CreateProcess().mm!.Space);
    }

    [Fact]
    public void Run_TranslatesEveryPage_HolesDoNot()
    {
        var (k, space) = Make();
        var vma = space.MapNewRun(Base + P, 512, alignment: 512);
        ulong first = vma.PfnAt(0);
        Assert.Equal(0UL, first % 512);
        Assert.True(vma.IsRun);
        Assert.Null(space.Translate(Base));
        Assert.Equal(first, space.Translate(Base + P));
        Assert.Equal(first + 511, space.Translate(Base + 512 * P + 4095));
        Assert.Null(space.Translate(Base + 513 * P));
        Assert.True(space.TryTranslate(Base + 2 * P + 17, out ulong pfn, out bool writable));
        Assert.Equal((first + 1, true), (pfn, writable));
        Assert.Same(vma, space.FindVma(Base + 100 * P));
        Assert.Equal(0, k.Phys.TrackedFrames);
    }

    [Fact]
    public void Frames_MapInListOrder_AndAliasesShareFrames()
    {
        var (k, space) = Make();
        var pfns = k.Phys.AllocScattered(4, seed: 9);
        space.MapFrames(Base, [pfns[2], pfns[0], pfns[2]], writable: false);
        Assert.Equal(new ulong?[] { pfns[2], pfns[0], pfns[2] }, [space.Translate(Base), space.Translate(Base + P), space.Translate(Base + 2 * P)]);
        Assert.True(space.TryTranslate(Base, out _, out bool writable));
        Assert.False(writable);
        space.MapAlias(Base + 10 * P, Base, 4);
        Assert.Equal(pfns[2], space.Translate(Base + 10 * P));
        Assert.Equal(pfns[0], space.Translate(Base + 11 * P));
        Assert.Equal(pfns[2], space.Translate(Base + 12 * P));
        Assert.Null(space.Translate(Base + 13 * P));
        Assert.True(space.FindVma(Base + 10 * P)!.Writable);
    }

    [Fact]
    public void AliasAcrossProcesses_MapsTheSameFrames()
    {
        var k = new FakeKernel();
        var a = k.CreateProcess().mm!.Space;
        var b = k.CreateProcess().mm!.Space;
        ulong first = a.MapNewRun(Base, 3).PfnAt(0);
        b.MapAlias(Base + 64 * P, Base, 3, writable: false, source: a);
        Assert.Equal(first + 2, b.Translate(Base + 66 * P));
    }

    [Fact]
    public void Unmap_SplitsAVma_AndLeavesAHole()
    {
        var (_, space) = Make();
        ulong first = space.MapNewRun(Base, 10).PfnAt(0);
        space.Unmap(Base + 3 * P, 2);
        Assert.Equal(2, space.Vmas.Count);
        Assert.Equal(first + 2, space.Translate(Base + 2 * P));
        Assert.Null(space.Translate(Base + 3 * P));
        Assert.Null(space.Translate(Base + 4 * P));
        Assert.Equal(first + 5, space.Translate(Base + 5 * P));
        Assert.Equal(first + 9, space.Translate(Base + 9 * P));
        space.Unmap(Base + 100 * P, 1);
        Assert.Equal(2, space.Vmas.Count);
    }

    [Fact]
    public void Protect_ChangesOnlyTheRange_AndSkipsHoles()
    {
        var (_, space) = Make();
        space.MapNewRun(Base, 4);
        space.MapNewRun(Base + 6 * P, 2);
        space.Protect(Base + 2 * P, 6, writable: false);
        Assert.True(space.FindVma(Base + P)!.Writable);
        Assert.False(space.FindVma(Base + 2 * P)!.Writable);
        Assert.False(space.FindVma(Base + 7 * P)!.Writable);
        Assert.Null(space.FindVma(Base + 5 * P));
        Assert.Equal(3, space.Vmas.Count);
    }

    [Fact]
    public void MappingOverAMapping_ReplacesIt()
    {
        var (k, space) = Make();
        space.MapNewRun(Base, 4);
        ulong single = k.Phys.AllocFrame();
        space.MapRun(Base + P, 1, single, writable: false);
        Assert.Equal(single, space.Translate(Base + P));
        Assert.Equal(3, space.Vmas.Count);
    }

    [Fact]
    public void Builders_RejectMisalignedEmptyOrWrappingRanges()
    {
        var (_, space) = Make();
        Assert.Throws<ArgumentException>(() => space.MapNewRun(Base + 1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => space.MapNewRun(Base, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => space.MapRun(ulong.MaxValue - P + 1, 2, PhysMem.FirstPfn));
        Assert.Empty(space.Vmas);
    }

    [Fact]
    public void Exit_TearsDownTranslations_AndForbidsNewMappings()
    {
        var k = new FakeKernel();
        var proc = k.CreateProcess();
        var space = proc.mm!.Space;
        space.MapNewRun(Base, 2);
        k.ExitProcess(proc);
        Assert.True(space.TornDown);
        Assert.Null(space.Translate(Base));
        Assert.Empty(space.Vmas);
        Assert.Throws<InvalidOperationException>(() => space.MapNewRun(Base, 1));
    }

    [Fact]
    public void SparseCost_OfAMillionPageLayout_IsSmall()
    {
        var k = new FakeKernel();
        var proc = k.CreateProcess();
        k.SetCurrent(proc);
        var api = new MmKernelApi(k);
        var space = proc.mm!.Space;
        long before = GC.GetAllocatedBytesForCurrentThread();
        ulong first = space.MapNewRun(Base, 1UL << 20, alignment: 512).PfnAt(0);
        space.MapNewRun(Base + (2UL << 20) * P, 1UL << 20, movable: true);
        for (ulong i = 0; i < 1UL << 20; i += 4099)
            Assert.Equal(first + i, space.Translate(Base + i * P));
        var pages = MmFixture.PageArray(8);
        Assert.Equal(8, api.pin_user_pages_fast(Base + 1000 * P, 8, KernelApi.FOLL_WRITE | KernelApi.FOLL_LONGTERM, pages));
        Assert.Equal(8, api.pin_user_pages_fast(Base + (2UL << 20) * P, 8, KernelApi.FOLL_LONGTERM, pages));
        long cost = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(cost < 512 * 1024, $"a 2^21-page layout cost {cost} bytes");
        // Pinning creates state for the 8 + 8 pinned frames, the 8 migrated-away frames and the
        // 8 new frames' contents only.
        Assert.Equal(24, k.Phys.TrackedFrames);
        Assert.Equal(8L, k.Phys.MaterialisedFrames);
        Assert.Equal(8, space.FindVma(Base + (2UL << 20) * P)!.MigratedPages);
    }

    private enum SpaceOp { MapRun, MapFrames, Unmap, Protect }

    private sealed record Step(SpaceOp Op, int Page, int Count, bool Writable);

    [Fact]
    public void Translations_FollowAPerPageModel()
    {
        const int Pages = 24;
        var step = from op in Gen.Elements(SpaceOp.MapRun, SpaceOp.MapFrames, SpaceOp.Unmap, SpaceOp.Protect)
                   from page in Gen.Choose(0, Pages - 1)
                   from count in Gen.Choose(1, 6)
                   from writable in Gen.Elements(true, false)
                   select new Step(op, page, Math.Min(count, Pages - page), writable);
        var arb = Arb.From(Gen.ListOf(step), xs => Enumerable.Range(0, xs.Count).Select(i => xs.Where((_, j) => j != i).ToList()));
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(300).WithReplay(777UL, 4243UL).WithQuietOnSuccess(true),
            Prop.ForAll(arb, steps =>
            {
                var (k, space) = Make();
                var model = new (ulong Pfn, bool Writable)?[Pages];
                ulong seed = 0;
                foreach (var s in steps)
                {
                    ulong va = Base + (ulong)s.Page * P;
                    switch (s.Op)
                    {
                        case SpaceOp.MapRun:
                            ulong first = space.MapNewRun(va, (ulong)s.Count, writable: s.Writable).PfnAt(0);
                            for (int i = 0; i < s.Count; i++) model[s.Page + i] = (first + (ulong)i, s.Writable);
                            break;
                        case SpaceOp.MapFrames:
                            var pfns = k.Phys.AllocScattered(s.Count, seed++);
                            space.MapFrames(va, pfns, s.Writable);
                            for (int i = 0; i < s.Count; i++) model[s.Page + i] = (pfns[i], s.Writable);
                            break;
                        case SpaceOp.Unmap:
                            space.Unmap(va, (ulong)s.Count);
                            for (int i = 0; i < s.Count; i++) model[s.Page + i] = null;
                            break;
                        case SpaceOp.Protect:
                            space.Protect(va, (ulong)s.Count, s.Writable);
                            for (int i = 0; i < s.Count; i++)
                                if (model[s.Page + i] is { } m) model[s.Page + i] = (m.Pfn, s.Writable);
                            break;
                    }
                }
                for (int i = 0; i < Pages; i++)
                {
                    bool mapped = space.TryTranslate(Base + (ulong)i * P + 5, out ulong pfn, out bool writable);
                    Assert.Equal(model[i], mapped ? (pfn, writable) : null);
                }
                var vmas = space.Vmas;
                for (int i = 1; i < vmas.Count; i++)
                    Assert.True(vmas[i - 1].End <= vmas[i].Start, "VMAs overlap or are unsorted");
            }));
    }
}
