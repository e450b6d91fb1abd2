// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Exploration;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;
using Iommufd.Harness.Repro;
using Iommufd.Model.Patches;

namespace Iommufd.Tests.Harness;

public class ExplorerTests
{
    private static ExploreOptions Quick(ulong seed, int iterations) => new()
    {
        Seed = seed, Iterations = iterations, Generation = new GenerationOptions(MaxPages: 64), ShrinkBudget = 3000,
    };

    [Fact]
    public void The_shrinker_reaches_the_minimal_scenario_of_a_synthetic_failure()
    {
        Op[] ops =
        [
            new NewProcess(false, 1 << 20, true),
            new MapUserMemory(0, [new Segment(SegmentKind.Run, 40)]),
            new CreatePages(0, 4096, 40960, true, 2),
            new CreateIopt(),
            new AccessPin(3, 1, 8192, 40960, true),
            new MapArea(0, 0, 0, 8192, null, true),
            new AccessPin(1, 2, 4096, 4096, false),
            new AttachDomain(0, DomainKind.Mock),
            new AccessPin(2, 0, 12288, 20480, true, Raw: true),
            new UnmapArea(0),
            new AccessPin(0, 0, 0, 65536, false),
        ];
        var explorer = new Explorer(() => new SyntheticOracle(2));
        var original = Scenario.AsReleased(ops);
        var v = explorer.Check(original);
        Assert.NotNull(v);
        var result = new Shrinker(explorer.Check).Shrink(original, v);
        // Two long pins are needed; each shrinks to handles 0, offset 0, read, two pages.
        Assert.Equal([new AccessPin(0, 0, 0, 8192, false), new AccessPin(0, 0, 0, 8192, false, Raw: true)], result.Scenario.Ops);
        Assert.Equal("x", result.Violation.Invariant);
        Assert.Equal(1, result.Violation.Step);
    }

    [Fact]
    public void The_shrinker_keeps_the_same_kind_of_failure()
    {
        var warn = new Violation("h", 3, "Warn in iopt_insert_area: WARN_ON");
        Assert.True(warn.SameFailure(warn with { Step = 1 }));
        Assert.False(warn.SameFailure(new Violation("h", 3, "FakeMisuse in unpin_user_page_range_dirty_lock: unpin")));
        Assert.False(warn.SameFailure(new Violation("j", 3, "Warn in iopt_insert_area: WARN_ON")));
        Assert.True(new Violation("b", 1, "npinned 3").SameFailure(new Violation("b", 2, "npinned 4")));
        // The concurrency kinds are identified like the reports: by what and where.
        var deadlock = new Violation("deadlock", 4, "Deadlock in hung_task: T1 waits for iopt_pages.mutex held by T2");
        Assert.True(deadlock.SameFailure(deadlock with { Message = "Deadlock in hung_task: T2 waits for io_pagetable.iova_rwsem held by T1" }));
        Assert.False(deadlock.SameFailure(new Violation("crash", 4, "KernelDeadlock: task would wait forever")));
        Assert.Equal("h: Warn in iopt_insert_area", warn.Signature);
    }

    [Fact]
    public void Exploration_with_an_iteration_budget_is_deterministic()
    {
        var a = new Explorer(() => new NullOracle()).Explore(Quick(5, 60));
        var b = new Explorer(() => new NullOracle()).Explore(Quick(5, 60));
        Assert.Equal(a.Stats.Render(includeTiming: false), b.Stats.Render(includeTiming: false));
        Assert.Equal(a.Finding?.Reproducer, b.Finding?.Reproducer);
        Assert.True(a.Stats.Operations > 60);
        Assert.NotEmpty(a.Stats.ErrorPaths);
        Assert.NotEmpty(a.Stats.FaultSiteHits);
        var c = new Explorer(() => new NullOracle()).Explore(Quick(6, 60));
        Assert.NotEqual(a.Stats.Render(includeTiming: false), c.Stats.Render(includeTiming: false));
    }

    [Fact]
    public void The_explorer_finds_a_known_v6_2_defect_shrinks_it_and_replays_it()
    {
        var explorer = new Explorer(() => new NullOracle());
        // From seed 4 the first crash met is one of the known v6.2 defects: the carry corruption
        // when the last domain goes (docs/findings/0001: the unpin walks off the batch), or the
        // stale domains_itree left by iopt_area_split in the callers (interval_tree_remove).
        var result = explorer.Explore(Quick(4, 200));
        var f = Assert.IsType<Finding>(result.Finding);
        Assert.Equal("crash", f.Violation.Invariant);
        bool carry = f.Violation.Message.Contains("KernelMemoryFault") &&
                     (f.Violation.State.Contains("batch_unpin") || f.Violation.State.Contains("batch_clear_carry"));
        bool split = f.Violation.Message.Contains("KernelListCorruption") && f.Violation.Message.Contains("interval_tree_remove");
        Assert.True(carry || split, f.Violation + "\n" + f.Violation.State);
        Assert.True(f.Shrunk.Ops.Count < f.Original.Ops.Count);
        Assert.True(f.Shrunk.Ops.Count <= 8, ReproducerCodec.Describe(f.Shrunk));
        Assert.Contains(f.Shrunk.Ops, o => o is AttachDomain);
        if (split)
            Assert.Contains(f.Shrunk.Ops, o => o is SplitArea);

        var decoded = ReproducerCodec.Decode(f.Reproducer);
        var first = explorer.Replay(decoded);
        var second = explorer.Replay(ReproducerCodec.Decode(f.Reproducer));
        Assert.Equal(first.Text, second.Text);
        Assert.Equal(f.Violation, first.Report.Violation);
        Assert.True(first.Text.Contains(f.Reproducer, StringComparison.Ordinal), first.Text + "\n" + f.Reproducer);
        Assert.Contains("invariant crash broken at ", first.Text);
    }

    [Fact]
    public void A_time_budget_stops_the_exploration_and_progress_is_reported()
    {
        var observer = new RecordingObserver();
        var result = new Explorer(() => new NullOracle()).Explore(Quick(9, 0) with
        {
            TimeBudget = TimeSpan.FromMilliseconds(300), Observer = observer,
        });
        Assert.True(result.Stats.Sequences > 0);
        Assert.Equal(result.Stats.Sequences, observer.Runs.Count);
        Assert.Equal(Enumerable.Range(1, result.Stats.Sequences).Select(i => (long)i), observer.Runs.Select(p => p.Runs));
        Assert.Empty(observer.Found);
    }

    [Fact]
    public void The_observer_hears_of_a_failure_before_it_is_shrunk()
    {
        var observer = new RecordingObserver();
        var result = new Explorer(() => new SyntheticOracle(3)).Explore(Quick(4, 400) with { Observer = observer });
        var finding = Assert.IsType<Finding>(result.Finding);
        var found = Assert.Single(observer.Found);
        Assert.Equal(ReproducerCodec.Encode(finding.Original), found.Reproducer);
        Assert.Equal(finding.OriginalViolation, found.Violation);
    }

    [Fact]
    public void An_exploration_without_a_budget_is_refused()
    {
        Assert.Throws<ArgumentException>(() => new Explorer(() => new NullOracle()).Explore(Quick(1, 0)));
    }

    [Fact]
    public void Mixing_fault_plans_gives_some_scenarios_a_seeded_plan()
    {
        // Every patch on, so that no known crash of the as-released model ends the runs early.
        var options = Quick(3, 200) with { Patches = Iommufd.Model.Patches.ModelPatches.AllFindings };
        var result = new Explorer(() => new NullOracle()).Explore(options with { MixFaultPlans = true });
        var plain = new Explorer(() => new NullOracle()).Explore(options);
        Assert.Equal(200, result.Stats.Sequences);
        Assert.True(result.Stats.FaultsInjected > 0);
        Assert.Equal(0, plain.Stats.FaultsInjected);
        Assert.Contains($"faults injected: {result.Stats.FaultsInjected}", result.Stats.Render(false));
    }
}
