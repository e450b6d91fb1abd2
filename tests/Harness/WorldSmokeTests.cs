// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;

namespace Iommufd.Tests.Harness;

public class WorldSmokeTests
{
    [Fact]
    public void A_full_lifecycle_runs_and_tears_down_clean()
    {
        var w = new World(new FaultInjector(new NoFaults()));
        Op[] ops =
        [
            new MapUserMemory(0, [new Segment(SegmentKind.Run, 8), new Segment(SegmentKind.Scattered, 4)]),
            new CreatePages(0, 0, 12 * 4096, true, 0),
            new CreateIopt(),
            new AttachDomain(0, DomainKind.PageTable),
            new MapArea(0, 0, 0, 12 * 4096, null, true),
            new CreateAccess(0),
            new AccessPin(0, 0, 0, 3 * 4096, true),
            new AccessRw(0, 0, 100, 5000, true, RwContext.OtherMm, false, 7),
            new AccessRw(0, 0, 100, 5000, false, RwContext.Kthread, true, 0),
            new DetachDomain(0),
            new AccessUnpin(0),
            new UnmapArea(0),
        ];
        foreach (var op in ops)
        {
            var r = w.Apply(op);
            Assert.False(r.Skipped, $"{op} skipped");
            Assert.True(r.Rc == 0, $"{op}: {r}");
        }
        Assert.Equal(World.PatternBytes(7, 5000), w.LastRwData);
        w.TearDown();
        Assert.Empty(w.Kernel.Checks.Violations);
        Assert.Empty(w.Kernel.Phys.PinnedFrames());
        Assert.Empty(w.Kernel.Allocator.Live);
        Assert.Empty(w.Kernel.ReferenceImbalances());
    }
}
