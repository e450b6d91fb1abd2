// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;

namespace Iommufd.Tests.Faults;

/// <summary>The fault injector's counting and its record of injected failures; the site catalog.</summary>
public class InjectorTests
{
    /// <summary>A plan that fails nothing and remembers what it was shown.</summary>
    private sealed class Spy : IFaultPlan
    {
        public List<FaultHit> Seen { get; } = [];
        public bool Decide(in FaultHit hit) { Seen.Add(hit); return false; }
        public string Describe() => "spy";
    }

    [Fact]
    public void Hits_AreCountedPerSite_WhetherOrNotTheyFail()
    {
        var f = new FaultInjector(new ExplicitFaults([("a", 2)]));
        Assert.Empty(f.Hits);
        Assert.False(f.ShouldFail("a", 1));
        Assert.True(f.ShouldFail("a", 1));
        Assert.False(f.ShouldFail("b", 2));
        Assert.False(f.ShouldFail("a", 2));
        Assert.Equal(new Dictionary<string, long> { ["a"] = 3, ["b"] = 1 }, f.Hits);
    }

    [Fact]
    public void ThePlanSeesSiteHit_ThreadHit_Step_AndStepThreadHit()
    {
        var spy = new Spy();
        var f = new FaultInjector(spy);
        Assert.Same(spy, f.Plan);
        f.ShouldFail("a", 1);
        f.ShouldFail("b", 1);
        f.ShouldFail("a", 2);
        f.BeginStep(0);
        f.ShouldFail("a", 1);
        f.ShouldFail("b", 2);
        f.BeginStep(-1);
        f.ShouldFail("a", 1);
        Assert.Equal(
        [
            new FaultHit("a", 1, 1, 1, -1, 1),
            new FaultHit("b", 1, 1, 2, -1, 2),
            new FaultHit("a", 2, 2, 1, -1, 1),
            new FaultHit("a", 3, 1, 3, 0, 1),
            new FaultHit("b", 2, 2, 2, 0, 1),
            new FaultHit("a", 4, 1, 4, -1, 1),
        ], spy.Seen);
        Assert.Empty(f.Injected);
    }

    [Fact]
    public void ThreadHits_CountEverySitePerThread_AndBeginStepResetsOnlyStepThreadHits()
    {
        var f = new FaultInjector(new NoFaults());
        Assert.Equal(0, f.ThreadHits(1));
        f.ShouldFail("a", 1);
        f.ShouldFail("b", 1);
        f.ShouldFail("a", 2);
        Assert.Equal(2, f.ThreadHits(1));
        Assert.Equal(1, f.ThreadHits(2));
        Assert.Equal(2, f.StepThreadHits(1));
        Assert.Equal(1, f.StepThreadHits(2));
        f.BeginStep(5);
        Assert.Equal(0, f.StepThreadHits(1));
        Assert.Equal(0, f.StepThreadHits(2));
        Assert.Equal(2, f.ThreadHits(1));
        f.ShouldFail("c", 1);
        Assert.Equal(1, f.StepThreadHits(1));
        Assert.Equal(3, f.ThreadHits(1));
        Assert.Equal(0, f.ThreadHits(3));
    }

    [Fact]
    public void Injected_RecordsEachFailure_InOrder_WithSiteHitThreadHitAndStep()
    {
        var f = new FaultInjector(new ExplicitFaults([("a", 2), ("b", 1), ("a", 3)]));
        f.ShouldFail("a", 1);            // a#1
        f.BeginStep(1);
        Assert.True(f.ShouldFail("b", 2));  // b#1 -> injected, thread 2's hit 1
        Assert.True(f.ShouldFail("a", 1));  // a#2 -> injected, thread 1's hit 2
        f.BeginStep(2);
        Assert.True(f.ShouldFail("a", 2));  // a#3 -> injected, thread 2's hit 2
        Assert.False(f.ShouldFail("a", 2)); // a#4
        Assert.Equal(
        [
            new InjectedFault("b", 1, 2, 1, 1),
            new InjectedFault("a", 2, 1, 2, 1),
            new InjectedFault("a", 3, 2, 2, 2),
        ], f.Injected);
    }

    [Fact]
    public void FailNth_ThroughTheInjector_FailsTheNthHitOfTheChosenThreadOnly()
    {
        var f = new FaultInjector(new FailNth(2, threadId: 7));
        Assert.False(f.ShouldFail("a", 3));
        Assert.False(f.ShouldFail("b", 3)); // thread 3's 2nd hit: not the chosen thread
        Assert.False(f.ShouldFail("a", 7));
        Assert.True(f.ShouldFail("c", 7));
        Assert.False(f.ShouldFail("c", 7));
        var i = Assert.Single(f.Injected);
        Assert.Equal(new InjectedFault("c", 1, 7, 2, -1), i);
    }

    [Fact]
    public void FailNthInStep_ThroughTheInjector_CountsFromTheStepStart()
    {
        var f = new FaultInjector(new FailNthInStep(1, 2, 1));
        f.BeginStep(0);
        Assert.False(f.ShouldFail("a", 1));
        Assert.False(f.ShouldFail("a", 1)); // 2nd hit but in step 0
        f.BeginStep(1);
        Assert.False(f.ShouldFail("a", 1));
        Assert.True(f.ShouldFail("b", 1));
        Assert.Equal(new InjectedFault("b", 1, 1, 4, 1), Assert.Single(f.Injected));
    }

    [Fact]
    public void SameSeed_SameInjections_AcrossInjectors()
    {
        static string[] Run(ulong seed)
        {
            var f = new FaultInjector(new ProbabilisticFaults(seed, new Dictionary<string, double>(), 0.3));
            for (int i = 0; i < 300; i++)
                f.ShouldFail(i % 3 == 0 ? "x" : "y", 1 + i % 2);
            return [.. f.Injected.Select(j => $"{j.Site}#{j.SiteHit}")];
        }
        Assert.Equal(Run(5), Run(5));
        Assert.NotEqual(Run(5), Run(6));
    }

    [Fact]
    public void Snapshots_DoNotChangeAfterwards()
    {
        var f = new FaultInjector(new FailNth(1));
        f.ShouldFail("a", 1);
        var hits = f.Hits;
        var injected = f.Injected;
        f.ShouldFail("a", 2);
        Assert.Equal(1, hits["a"]);
        Assert.Single(injected);
        Assert.Equal(2, f.Hits["a"]);
        Assert.Equal(2, f.Injected.Count);
    }

    [Fact]
    public void Catalog_HasUniqueNames_AndDescriptions()
    {
        var names = FaultSites.Catalog.Select(s => s.Name).ToArray();
        Assert.NotEmpty(names);
        Assert.Equal(names.Length, names.Distinct(StringComparer.Ordinal).Count());
        Assert.All(FaultSites.Catalog, s =>
        {
            Assert.False(string.IsNullOrWhiteSpace(s.Name));
            Assert.False(string.IsNullOrWhiteSpace(s.Description));
        });
        Assert.Contains(FaultSites.XasNomem, names);
        Assert.Contains(FaultSites.Alloc("iopt_alloc_pages"), names);
    }

    [Fact]
    public void SiteNames_HaveTheirPublishedForm()
    {
        Assert.Equal("should_fail@f", FaultSites.ShouldFail("f"));
        Assert.Equal("alloc@f", FaultSites.Alloc("f"));
    }
}
