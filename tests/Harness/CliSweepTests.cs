// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Generation;
using Iommufd.Harness.Repro;
using static Iommufd.Tests.Harness.CliTestSupport;

namespace Iommufd.Tests.Harness;

public class CliSweepTests
{
    private static readonly Op[] TwoDomainMap =
    [
        new MapUserMemory(0, [new Segment(SegmentKind.Run, 1)]),
        new CreatePages(0, 0, 4096, true, 0),
        new CreateIopt(),
        new AttachDomain(0, DomainKind.Mock),
        new AttachDomain(0, DomainKind.PageTable),
        new MapArea(0, 0, 0, 4096, null, true),
    ];

    [Fact]
    public void Sweeping_a_reproducer_finds_finding_0003_as_released_and_nothing_with_its_patch()
    {
        var dir = Scratch();
        string repro = ReproducerCodec.Encode(Scenario.AsReleased(TwoDomainMap));
        var released = Run("sweep", repro, "--repro-file", Path.Combine(dir.FullName, "a.txt"));
        Assert.Equal(1, released.Code);
        Assert.Contains("invariant c broken", released.Out);
        // The failing run's reproducer (its fault plan included) replays to the same violation.
        var replay = Run("replay", Path.Combine(dir.FullName, "a.txt"));
        Assert.Equal(1, replay.Code);
        Assert.Contains("invariant c broken", replay.Out);
        Assert.Contains("| iommu_map@pagetable", released.Out);
        var patched = Run("sweep", repro, "--patch", "fill-domains-unmap-before-unpin", "--repro-file", Path.Combine(dir.FullName, "b.txt"));
        Assert.Equal(0, patched.Code);
        Assert.Contains("0 failing runs", patched.Out);
    }

    [Fact]
    public void Consecutive_failures_reach_the_fallback_of_a_failed_first_try()
    {
        var dir = Scratch();
        Op[] ops =
        [
            new SetTempMemoryLimit(16),
            new MapUserMemory(0, [new Segment(SegmentKind.Run, 2)]),
            new CreatePages(0, 0, 8192, true, 0),
            new CreateIopt(),
            new MapArea(0, 0, 0, 8192, null, true),
            new CreateAccess(0),
            new AccessPin(0, 0, 0, 8192, false, Raw: false),
        ];
        string repro = ReproducerCodec.Encode(Scenario.AsReleased(ops));
        var one = Run("sweep", repro, "--consecutive", "1", "--repro-file", Path.Combine(dir.FullName, "one.txt"));
        var two = Run("sweep", repro, "--consecutive", "2", "--repro-file", Path.Combine(dir.FullName, "two.txt"));
        static long Failed(string output, string site) =>
            long.Parse(output.Split('\n').Single(l => l.StartsWith("| " + site + " ", StringComparison.Ordinal)).Split('|')[3].Trim());
        Assert.Equal(0, Failed(one.Out, "alloc@xas_nomem"));
        Assert.True(Failed(two.Out, "alloc@xas_nomem") > 0, two.Out);
    }

    [Fact]
    public void An_unknown_patch_is_bad_usage()
    {
        var r = Run("sweep", "--patch", "no-such-patch");
        Assert.Equal(2, r.Code);
        Assert.Contains("unknown patch 'no-such-patch'", r.Err);
        Assert.Single(r.Err.Trim().Split('\n'));
    }
}
