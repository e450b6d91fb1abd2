// SPDX-License-Identifier: GPL-2.0-only
using FsCheck;
using FsCheck.Fluent;
using Iommufd.Model.Kernel;

namespace Iommufd.Tests.Kernel;

public class PhysMemTests
{
    [Fact]
    public void Runs_AreContiguousAlignedAndDisjoint()
    {
        var phys = new FakeKernel().Phys;
        ulong single = phys.AllocFrame();
        ulong huge = phys.AllocHugeRun();
        ulong odd = phys.AllocRun(3);
        ulong big = phys.AllocRun(1000, 1024);
        Assert.True(single >= PhysMem.FirstPfn);
        Assert.Equal(0UL, huge % 512);
        Assert.Equal(0UL, big % 1024);
        Assert.True(huge > single);
        Assert.True(odd >= huge + 512);
        Assert.True(big >= odd + 3);
        Assert.True(phys.IsAllocated(huge + 511));
        Assert.True(phys.IsAllocated(big + 999));
        Assert.False(phys.IsAllocated(big + 1000));
        Assert.False(phys.IsAllocated(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => phys.AllocRun(4, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => phys.AllocRun(0));
    }

    [Fact]
    public void Allocation_IsDeterministicAcrossKernels()
    {
        static ulong[] Layout(ulong seed)
        {
            var phys = new FakeKernel().Phys;
            return [phys.AllocFrame(), phys.AllocHugeRun(), .. phys.AllocScattered(8, seed), phys.AllocRun(7, 8)];
        }
        Assert.Equal(Layout(3), Layout(3));
        Assert.NotEqual(Layout(3), Layout(4));
    }

    [Fact]
    public void Scattered_FramesAreNeverAdjacent_NorInAscendingOrder()
    {
        var phys = new FakeKernel().Phys;
        ulong before = phys.AllocFrame();
        var pfns = phys.AllocScattered(64, seed: 11);
        Assert.Equal(64, pfns.Distinct().Count());
        var all = pfns.Append(before).Order().ToArray();
        for (int i = 1; i < all.Length; i++)
            Assert.True(all[i] - all[i - 1] >= 2, $"{all[i - 1]:x} and {all[i]:x} are adjacent");
        Assert.NotEqual(pfns.Order(), pfns);
        Assert.All(pfns, p => Assert.True(phys.IsAllocated(p)));
        Assert.All(pfns, p => Assert.False(phys.IsAllocated(p - 1) && phys.IsAllocated(p + 1)));
    }

    [Fact]
    public void Contents_StartWithAPatternOfThePfn_AndMaterialiseLazily()
    {
        var phys = new FakeKernel().Phys;
        ulong pfn = phys.AllocRun(2);
        var head = new byte[64];
        phys.Read(pfn, 100, head);
        Assert.Equal(0L, phys.MaterialisedFrames);
        Assert.Equal(0, phys.TrackedFrames);
        var mem = phys.Contents(pfn);
        Assert.Equal(1L, phys.MaterialisedFrames);
        Assert.Equal(KMemKind.Frame, mem.Kind);
        Assert.Equal(PhysMem.FrameSize, (int)mem.Length);
        Assert.Equal(head, mem.Data.AsSpan(100, 64).ToArray());
        Assert.All(Enumerable.Range(0, PhysMem.FrameSize), i => Assert.Equal(PhysMem.InitialByte(pfn, i), mem.Data[i]));
        Assert.NotEqual(mem.Data, phys.Contents(pfn + 1).Data);
        Assert.Same(mem, phys.Contents(pfn));
        Assert.Throws<KernelMemoryFault>(() => phys.Contents(1));
    }

    [Fact]
    public void Write_IsVisibleToReadAndContents()
    {
        var phys = new FakeKernel().Phys;
        ulong pfn = phys.AllocFrame();
        phys.Write(pfn, 4090, [9, 8, 7, 6, 5, 4]);
        var got = new byte[6];
        phys.Read(pfn, 4090, got);
        Assert.Equal(new byte[] { 9, 8, 7, 6, 5, 4 }, got);
        Assert.Equal(9, phys.Contents(pfn).Data[4090]);
        Assert.Throws<ArgumentOutOfRangeException>(() => phys.Write(pfn, 4095, [1, 2]));
    }

    [Fact]
    public void PinCounts_TotalsAndPinnedFrames()
    {
        var k = new FakeKernel();
        var phys = k.Phys;
        ulong a = phys.AllocRun(3);
        phys.Pin(a);
        phys.Pin(a + 2);
        phys.Pin(a + 2);
        Assert.Equal(3L, phys.TotalPins);
        Assert.Equal(new[] { new PinEvent(a, 1), new PinEvent(a + 2, 2) }, phys.PinnedFrames());
        Assert.Equal(new Frame(a + 2, true, 2, false, false, false), phys[a + 2]);
        phys.Unpin(a + 2, makeDirty: true);
        Assert.Equal(new Frame(a + 2, true, 1, true, false, false), phys[a + 2]);
        phys.ClearDirty(a + 2);
        Assert.False(phys.IsDirty(a + 2));
        Assert.Equal(3L, phys.PinOperations);
        Assert.Equal(1L, phys.UnpinOperations);
        Assert.Empty(k.Checks.Violations);
    }

    [Fact]
    public void Unpin_AtZero_IsMisuse_AndLeavesTheCountAtZero()
    {
        var k = new FakeKernel();
        ulong pfn = k.Phys.AllocFrame();
        var fired = new List<PinEvent>();
        k.Phys.Unpinned += fired.Add;
        k.Phys.Unpin(pfn);
        var v = Assert.Single(k.Checks.Violations);
        Assert.Equal(CheckKind.FakeMisuse, v.Kind);
        Assert.Equal(0, k.Phys.PinCount(pfn));
        Assert.Equal(0L, k.Phys.TotalPins);
        Assert.Empty(fired);
    }

    [Fact]
    public void Pin_OfUnallocatedOrFreedFrames_IsMisuse()
    {
        var k = new FakeKernel();
        ulong pfn = k.Phys.AllocFrame();
        k.Phys.Pin(pfn + 5);
        k.Phys.Free(pfn);
        k.Phys.Pin(pfn);
        k.Phys.Free(pfn);
        Assert.Equal(3, k.Checks.Violations.Count(v => v.Kind == CheckKind.FakeMisuse));
        Assert.Equal(0L, k.Phys.TotalPins);
    }

    [Fact]
    public void FreeOfAPinnedFrame_IsMisuse()
    {
        var k = new FakeKernel();
        ulong pfn = k.Phys.AllocFrame();
        k.Phys.Pin(pfn);
        k.Phys.Free(pfn);
        Assert.Single(k.Checks.Violations, v => v.Message.Contains("with 1 pins"));
    }

    [Fact]
    public void FreedFrames_FaultOnAccess()
    {
        var k = new FakeKernel();
        ulong a = k.Phys.AllocFrame(), b = k.Phys.AllocFrame();
        var mem = k.Phys.Contents(a);
        k.Phys.Free(a);
        k.Phys.Free(b);
        Assert.True(k.Phys.IsFreed(a));
        Assert.Throws<KernelMemoryFault>(() => new Ptr<byte>(mem, 0)[0]);
        Assert.Throws<KernelMemoryFault>(() => new Ptr<byte>(k.Phys.Contents(b), 0)[0]);
        Assert.Throws<KernelMemoryFault>(() => k.Phys.Read(b, 0, new byte[1]));
        Assert.Throws<KernelMemoryFault>(() => k.Phys.Write(a, 0, [1]));
    }

    private enum PinOp { Pin, Unpin }

    [Fact]
    public void PinCounts_FollowAMultisetModel_AndOnlyUnpinAtZeroIsMisuse()
    {
        var ops = Gen.Choose(0, 3).SelectMany(frame => Gen.Elements(PinOp.Pin, PinOp.Unpin).Select(op => (op, frame)));
        var arb = Arb.From(Gen.ListOf(ops), xs => Enumerable.Range(0, xs.Count).Select(i => xs.Where((_, j) => j != i).ToList()));
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(200).WithReplay(20240601UL, 12345UL).WithQuietOnSuccess(true),
            Prop.ForAll(arb, list =>
            {
                var k = new FakeKernel();
                ulong first = k.Phys.AllocRun(4);
                var model = new int[4];
                int misuses = 0;
                var events = new List<PinEvent>();
                k.Phys.Pinned += events.Add;
                k.Phys.Unpinned += events.Add;
                var expectedEvents = new List<PinEvent>();
                foreach (var (op, frame) in list)
                {
                    if (op == PinOp.Pin)
                    {
                        k.Phys.Pin(first + (ulong)frame);
                        expectedEvents.Add(new PinEvent(first + (ulong)frame, ++model[frame]));
                    }
                    else
                    {
                        k.Phys.Unpin(first + (ulong)frame);
                        if (model[frame] == 0) misuses++;
                        else expectedEvents.Add(new PinEvent(first + (ulong)frame, --model[frame]));
                    }
                }
                Assert.Equal(model, Enumerable.Range(0, 4).Select(i => k.Phys.PinCount(first + (ulong)i)));
                Assert.Equal(model.Sum(), k.Phys.TotalPins);
                Assert.Equal(misuses, k.Checks.Count);
                Assert.Equal(expectedEvents, events);
                Assert.Equal(model.Count(c => c > 0), k.Phys.PinnedFrames().Count);
            }));
    }
}
