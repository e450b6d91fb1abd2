// SPDX-License-Identifier: GPL-2.0-only
using FsCheck;
using FsCheck.Fluent;
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;
using Iommufd.Harness.Repro;
using Runner = Iommufd.Harness.Execution.Runner;

namespace Iommufd.Tests.Harness;

public class GenerationTests
{
    private static readonly GenerationOptions Small = new(MaxPages: 64, MaxOps: 40);

    private static IEnumerable<Scenario> Corpus(int count, GenerationOptions options) =>
        Enumerable.Range(0, count).Select(i => ScenarioGenerator.Generate(SeedMix.Derive(77, (ulong)i), 1 + i % 100, options));

    [Fact]
    public void Generated_scenarios_run_to_the_end_without_harness_exceptions()
    {
        foreach (var s in Corpus(80, Small))
        {
            var report = Runner.Run(s, () => new NullOracle());
            // Only a model crash (a kernel oops) may stop a run early; the harness never throws.
            if (report.Violation is { } v)
                Assert.Equal("crash", v.Invariant);
            else
                Assert.Equal(s.Ops.Count, report.Steps.Count);
        }
    }

    [Fact]
    public void Every_operation_kind_and_segment_kind_is_generated()
    {
        var corpus = Corpus(200, GenerationOptions.Default).ToList();
        var kinds = corpus.SelectMany(s => s.Ops).Select(o => o.GetType()).ToHashSet();
        var all = typeof(Op).Assembly.GetTypes().Where(t => t.IsSubclassOf(typeof(Op)) && !t.IsAbstract).ToHashSet();
        Assert.Empty(all.Except(kinds).Select(t => t.Name));
        var segments = corpus.SelectMany(s => s.Ops).OfType<MapUserMemory>().SelectMany(m => m.Segments).ToList();
        Assert.Equal(Enum.GetValues<SegmentKind>().ToHashSet(), segments.Select(g => g.Kind).ToHashSet());
        Assert.Contains(segments, g => g.ReadOnly);
        Assert.Contains(segments, g => g.Movable);
        Assert.Contains(segments, g => g.Kind == SegmentKind.HugeRun && g.Pages >= 512);
        Assert.Contains(segments, g => g.Pages >= 1000);
    }

    [Fact]
    public void Edges_limits_and_modes_are_generated()
    {
        var ops = Corpus(300, Small).SelectMany(s => s.Ops).ToList();
        var limits = ops.OfType<SetTempMemoryLimit>().Select(o => o.Bytes).ToHashSet();
        Assert.Superset(new HashSet<ulong> { 16, 32, 4096, 65536 }, limits);
        Assert.Contains(ops.OfType<CreatePages>(), o => o.AccountMode == 2);
        Assert.Contains(ops.OfType<CreatePages>(), o => o.RawUptr && o.Offset > ulong.MaxValue - 4096);
        Assert.Contains(ops.OfType<CreatePages>(), o => o.RawUptr && o.Length == 0);
        Assert.Contains(ops.OfType<CreatePages>(), o => !o.Writable);
        Assert.Contains(ops.OfType<MapArea>(), o => o.Iova is { } iova && iova % 4096 != 0);
        Assert.Contains(ops.OfType<MapArea>(), o => o.Length == 0);
        Assert.Contains(ops.OfType<AccessPin>(), o => o.Raw && o.Offset + o.Length < o.Offset);
        Assert.Contains(ops.OfType<AccessPin>(), o => !o.Raw && o.Offset % 4096 != 0);
        Assert.Equal(3, ops.OfType<AccessRw>().Select(o => o.Context).Distinct().Count());
        Assert.Contains(ops.OfType<AccessRw>(), o => o.SlowPath && o.Write);
        Assert.Contains(ops.OfType<AttachDomain>(), o => o.Kind == DomainKind.Mock);
        Assert.Contains(ops.OfType<AttachDomain>(), o => o.Kind == DomainKind.PageTable);
        Assert.Contains(ops.OfType<SetRlimit>(), o => o.Bytes == 0);
        Assert.Contains(ops.OfType<NewProcess>(), o => !o.SameUser);
    }

    [Fact]
    public void Generation_is_a_pure_function_of_seed_and_size()
    {
        for (ulong seed = 0; seed < 20; seed++)
        {
            int size = 1 + (int)(seed * 7 % 100);
            Assert.Equal(ReproducerCodec.Encode(ScenarioGenerator.Generate(seed, size)),
                         ReproducerCodec.Encode(ScenarioGenerator.Generate(seed, size)));
        }
        Assert.NotEqual(ReproducerCodec.Encode(ScenarioGenerator.Generate(1, 50)), ReproducerCodec.Encode(ScenarioGenerator.Generate(2, 50)));
    }

    [Fact]
    public void Size_scales_the_length_and_the_page_counts()
    {
        var small = Corpus(100, GenerationOptions.Default).Where((_, i) => 1 + i % 100 <= 10).ToList();
        Assert.All(small, s => Assert.True(s.Ops.Count <= 7, $"{s.Ops.Count} ops at a small size"));
        Assert.All(small.SelectMany(s => s.Ops).OfType<MapUserMemory>().SelectMany(m => m.Segments),
            g => Assert.True(g.Pages <= 204, $"{g.Pages} pages at a small size"));
    }

    [Fact]
    public void The_fscheck_arbitrary_generates_runnable_scenarios_and_shrinks_them()
    {
        var arb = ScenarioGenerator.Arbitrary(Small);
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(25).WithReplay(11UL, 13UL).WithQuietOnSuccess(true),
            Prop.ForAll(arb, s =>
            {
                var report = Runner.Run(s, () => new NullOracle());
                return report.Violation is null ? report.Steps.Count == s.Ops.Count : report.Violation.Invariant == "crash";
            }));
        var sample = ScenarioGenerator.Generate(5, 60, Small);
        var shrinks = arb.Shrinker(sample).ToList();
        Assert.NotEmpty(shrinks);
        Assert.Contains(shrinks, c => c.Ops.Count < sample.Ops.Count);
        Assert.All(shrinks.Take(50), c => Assert.True(c.Ops.Count <= sample.Ops.Count));
    }

    [Fact]
    public void Smaller_values_are_strictly_smaller_and_respect_the_minimum()
    {
        Assert.Equal([0UL, 4096UL, 16384UL, 28672UL, 32767UL], ScenarioShrinks.Smaller(32768));
        Assert.Empty(ScenarioShrinks.Smaller(1, 1));
        Assert.All(ScenarioShrinks.Smaller(5000, 1), v => Assert.InRange(v, 1UL, 4999UL));
        var mem = new MapUserMemory(2, [new Segment(SegmentKind.Scattered, 8, true), new Segment(SegmentKind.Hole, 2)]);
        var simpler = ScenarioShrinks.Simplify(mem).Cast<MapUserMemory>().ToList();
        Assert.Contains(simpler, m => m.Process == 0);
        Assert.Contains(simpler, m => m.Segments.Count == 1);
        Assert.Contains(simpler, m => m.Segments[0].Kind == SegmentKind.Run);
        Assert.Contains(simpler, m => !m.Segments[0].ReadOnly);
        Assert.Equal("MapUserMemory { Process = 2, Segments = [Scattered*8 ro, Hole*2] }", mem.ToString());
    }
}
