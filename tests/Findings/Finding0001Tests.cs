// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;
using Iommufd.Tests.Harness;
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;
using Iommufd.Model.Patches;

namespace Iommufd.Tests.Findings;

/// <summary>
/// Finding 0001 (docs/findings/0001-batch-carry.md): removing the last domain of an area whose
/// PFNs are contiguous across an access corrupts the carried PFNs. The as-released model must
/// still fail on the reproducer; with the finding's patches the same run must be correct.
/// </summary>
public class Finding0001Tests
{
    /// <summary>8 PFN-contiguous pages mapped in one domain; an access pins page 1; the domain goes.</summary>
    private static readonly Op[] Reproducer =
    [
        new MapUserMemory(0, [new Segment(SegmentKind.Run, 8)]),
        new CreatePages(0, 0, 8 * 4096, true, 0),
        new CreateIopt(),
        new AttachDomain(0, DomainKind.PageTable),
        new MapArea(0, 0, 0, 8 * 4096, null, true),
        new CreateAccess(0),
        new AccessPin(0, 0, 4096, 4096, false),
        new DetachDomain(0),
    ];

    private static (World World, Exception? Crash) Run(IEnumerable<string> patches)
    {
        var w = new World(new FaultInjector(new NoFaults()), patches);
        try
        {
            foreach (var op in Reproducer)
                Assert.Equal(0, w.Apply(op).Rc);
            return (w, null);
        }
        catch (KernelMemoryFault e)
        {
            return (w, e);
        }
    }

    [Fact]
    public void As_released_the_reproducer_still_fails()
    {
        var (w, crash) = Run([]);
        // Either the model faults on the corrupted batch or the pins are wrong; both are failures.
        bool pinsWrong = crash is null && w.Pins.Single().Pfns.Any(pfn => w.Kernel.Phys.PinCount(pfn) != 1);
        Assert.True(crash is not null || pinsWrong || w.Kernel.Checks.Count > 0,
            "the v6.2 carry defect no longer reproduces: did the port change?");
    }

    [Fact]
    public void As_released_the_oracle_reports_it_and_the_reproducer_replays_to_the_same_failure()
    {
        var report = Runner.Run(new Scenario([], "none", Reproducer), () => new SpecOracle());
        ExpectedFailure.Replays(report);
        Assert.Null(Runner.Run(new Scenario(ModelPatches.Finding0001, "none", Reproducer), () => new SpecOracle()).Violation);
    }

    [Fact]
    public void With_the_patches_the_access_keeps_exactly_its_page_pinned()
    {
        var (w, crash) = Run(ModelPatches.Finding0001);
        Assert.Null(crash);
        Assert.Empty(w.Kernel.Checks.Violations);
        var pin = w.Pins.Single();
        ulong held = pin.Pfns.Single();
        Assert.Equal(1, w.Kernel.Phys.PinCount(held));
        Assert.Equal(new[] { held }, w.Kernel.Phys.PinnedFrames().Select(e => e.Pfn).ToArray());
        w.TearDown();
        Assert.Empty(w.Kernel.Checks.Violations);
        Assert.Empty(w.Kernel.Phys.PinnedFrames());
        Assert.Empty(w.Kernel.Allocator.Live);
    }

    [Theory]
    [InlineData(ModelPatches.BatchCarryOrder)]
    [InlineData(ModelPatches.BatchCarryEnd)]
    [InlineData(ModelPatches.UnpinDomainLastIndex)]
    [InlineData(ModelPatches.BatchSkipCarryEmpty)]
    public void Each_patch_alone_is_not_enough_or_is_needed(string left_out)
    {
        // Leaving any one of the four patches out must not give a fully correct run on at least
        // one of the carry shapes; this shows each change in the finding is needed.
        var patches = ModelPatches.Finding0001.Where(p => p != left_out).ToArray();
        bool anyWrong = false;
        foreach (var shape in CarryShapes())
        {
            var w = new World(new FaultInjector(new NoFaults()), patches);
            try
            {
                foreach (var op in shape)
                    w.Apply(op);
                w.TearDown();
                anyWrong |= w.Kernel.Checks.Count > 0 || w.Kernel.Phys.PinnedFrames().Count > 0;
            }
            catch (KernelMemoryFault)
            {
                anyWrong = true;
            }
        }
        Assert.True(anyWrong, $"every carry shape is correct without {left_out}");
    }

    /// <summary>
    /// Areas with accesses at several places of a contiguous run, then the domain goes. The
    /// second layout breaks PFN contiguity after page 3, so a carry taken over an access is still
    /// in the batch when the next hole reads past the break (what the third patch is about).
    /// </summary>
    private static IEnumerable<Op[]> CarryShapes()
    {
        Segment[][] layouts =
        [
            [new Segment(SegmentKind.Run, 8)],
            [new Segment(SegmentKind.Run, 4), new Segment(SegmentKind.Scattered, 4)],
        ];
        foreach (var layout in layouts)
        foreach (var (off, len) in new[] { (1UL, 1UL), (1UL, 2UL), (3UL, 2UL), (2UL, 5UL) })
        {
            yield return
            [
                new MapUserMemory(0, layout),
                new CreatePages(0, 0, 8 * 4096, true, 0),
                new CreateIopt(),
                new AttachDomain(0, DomainKind.PageTable),
                new MapArea(0, 0, 0, 8 * 4096, null, true),
                new CreateAccess(0),
                new AccessPin(0, 0, off * 4096, len * 4096, false),
                new DetachDomain(0),
            ];
        }
        yield return OneRunBatchShape;
    }

    /// <summary>
    /// A one-run batch and a carry that the next used span swallows whole. The temporary memory is
    /// limited to 16 bytes (as the selftests set it) and the area has 22 pages, so the unfill's
    /// batch outgrows its stack backup and holds one run. Pages P0..P19, then P0 P1 again (an
    /// alias); area A maps all 22 in a mock domain (maps [0, 19] and [20, 21]), area B maps [19, 20]
    /// at a higher IOVA; the domain goes. The read-ahead from hole [0, 18] stops at index 20, B
    /// skips the whole carry [19], and with batch-carry-end alone the empty run left in slot 0
    /// refuses index 21's PFN: the unmap then cuts A's map [20, 21] in two (the mock WARNs).
    /// Found by explore --patch all --seed 3 (an attach that failed on RLIMIT_MEMLOCK).
    /// </summary>
    private static readonly Op[] OneRunBatchShape =
    [
        new SetTempMemoryLimit(16),
        new MapUserMemory(0, [new Segment(SegmentKind.Run, 20), new Segment(SegmentKind.Alias, 2)]),
        new CreatePages(0, 0, 22 * 4096, true, 0),
        new CreateIopt(),
        new AttachDomain(0, DomainKind.Mock),
        new MapArea(0, 0, 0, 22 * 4096, 0x1100000, true),
        new MapArea(0, 0, 19 * 4096, 2 * 4096, 0x1200000, true),
        new DetachDomain(0),
    ];

    [Fact]
    public void A_carry_skipped_to_nothing_must_not_block_a_one_run_batch()
    {
        string[] withoutFollowUp = [.. ModelPatches.Finding0001.Where(p => p != ModelPatches.BatchSkipCarryEmpty)];
        foreach (var (patches, clean) in new[] { (withoutFollowUp, false), ([.. ModelPatches.Finding0001], true), (Array.Empty<string>(), true) })
        {
            var w = new World(new FaultInjector(new NoFaults()), patches);
            foreach (var op in OneRunBatchShape)
                Assert.Equal(0, w.Apply(op).Rc);
            var warns = w.Kernel.Checks.Violations;
            if (clean)
                Assert.Empty(warns);
            else
                Assert.Contains(warns, v => v.Function == "mock_domain_unmap_pages" && v.Message.Contains("did not end a map"));
        }
    }
}
