// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;

namespace Iommufd.Tests.Faults;

/// <summary>The fault plans, their canonical text and its parser.</summary>
public class PlanTests
{
    private static FaultHit Hit(string site = "s", long siteHit = 1, int thread = 1, long threadHit = 1, int step = -1, long stepHit = 1) =>
        new(site, siteHit, thread, threadHit, step, stepHit);

    [Fact]
    public void NoFaults_NeverFails()
    {
        var p = new NoFaults();
        for (long i = 1; i <= 50; i++)
            Assert.False(p.Decide(Hit(siteHit: i, threadHit: i, stepHit: i)));
        Assert.Equal("none", p.Describe());
    }

    [Fact]
    public void FailNth_FailsExactlyTheNthHitOfAnyThread()
    {
        var p = new FailNth(3);
        Assert.Equal(3, p.N);
        Assert.False(p.Decide(Hit(threadHit: 2)));
        Assert.True(p.Decide(Hit(threadHit: 3)));
        Assert.True(p.Decide(Hit(site: "other", siteHit: 1, thread: 7, threadHit: 3)));
        Assert.False(p.Decide(Hit(threadHit: 4)));
        // The site's own hit count does not matter: fail-nth counts per thread.
        Assert.False(p.Decide(Hit(siteHit: 3, threadHit: 1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FailNth(0));
    }

    [Fact]
    public void FailNth_RestrictedToAThread_IgnoresOtherThreads()
    {
        var p = new FailNth(2, threadId: 5);
        Assert.True(p.Decide(Hit(thread: 5, threadHit: 2)));
        Assert.False(p.Decide(Hit(thread: 6, threadHit: 2)));
        Assert.False(p.Decide(Hit(thread: 5, threadHit: 1)));
        Assert.Equal("nth:2@5", p.Describe());
        Assert.Equal("nth:2", new FailNth(2).Describe());
    }

    [Fact]
    public void FailNthInStep_FailsTheNthHitOfOneThreadInOneStep()
    {
        var p = new FailNthInStep(step: 4, n: 2, threadId: 1);
        Assert.True(p.Decide(Hit(thread: 1, step: 4, stepHit: 2, threadHit: 40)));
        Assert.False(p.Decide(Hit(thread: 1, step: 3, stepHit: 2)));
        Assert.False(p.Decide(Hit(thread: 2, step: 4, stepHit: 2)));
        Assert.False(p.Decide(Hit(thread: 1, step: 4, stepHit: 1, threadHit: 2)));
        Assert.Equal((4, 2L, 1), (p.Step, p.N, p.ThreadId));
        Assert.Equal("step:4:nth:2@1", p.Describe());
        // Step -1 is the teardown after the last operation; anything below is refused.
        Assert.True(new FailNthInStep(-1, 1, 1).Decide(new FaultHit("s", 1, 1, 1, -1, 1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FailNthInStep(-2, 1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FailNthInStep(0, 0, 1));
    }

    [Fact]
    public void FailNthRunInStep_FailsCountConsecutiveHitsOfOneThreadInOneStep()
    {
        var p = new FailNthRunInStep(step: 3, n: 2, count: 2, threadId: 1);
        Assert.False(p.Decide(Hit(thread: 1, step: 3, stepHit: 1)));
        Assert.True(p.Decide(Hit(thread: 1, step: 3, stepHit: 2, threadHit: 30)));
        Assert.True(p.Decide(Hit(thread: 1, step: 3, stepHit: 3, threadHit: 31)));
        Assert.False(p.Decide(Hit(thread: 1, step: 3, stepHit: 4)));
        Assert.False(p.Decide(Hit(thread: 2, step: 3, stepHit: 2)));
        Assert.False(p.Decide(Hit(thread: 1, step: 2, stepHit: 2)));
        Assert.Equal((3, 2L, 2L, 1), (p.Step, p.N, p.Count, p.ThreadId));
        Assert.Equal("step:3:nth:2+2@1", p.Describe());
        // A run of one fails exactly what FailNthInStep fails.
        var one = new FailNthRunInStep(0, 4, 1, 1);
        var single = new FailNthInStep(0, 4, 1);
        for (long i = 1; i <= 8; i++)
            Assert.Equal(single.Decide(Hit(step: 0, stepHit: i)), one.Decide(Hit(step: 0, stepHit: i)));
        Assert.True(new FailNthRunInStep(-1, 1, 3, 1).Decide(Hit(step: -1, stepHit: 3)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FailNthRunInStep(-2, 1, 1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FailNthRunInStep(0, 0, 1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FailNthRunInStep(0, 1, 0, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FailNthRunInStep(0, 2, long.MaxValue, 1));
    }

    [Fact]
    public void Parse_StepWithACount_GivesARun_AndWithoutOne_TheSingleHitPlan()
    {
        var run = Assert.IsType<FailNthRunInStep>(FaultPlanParser.Parse("step:-1:nth:7+3@2"));
        Assert.Equal((-1, 7L, 3L, 2), (run.Step, run.N, run.Count, run.ThreadId));
        var single = Assert.IsType<FailNthInStep>(FaultPlanParser.Parse("step:5:nth:7@2"));
        Assert.Equal((5, 7L, 2), (single.Step, single.N, single.ThreadId));
    }

    [Fact]
    public void ExplicitFaults_FailsExactlyTheListedSiteHits()
    {
        var p = new ExplicitFaults([("b", 2), ("a", 1), ("a", 3)]);
        Assert.True(p.Decide(Hit(site: "a", siteHit: 1)));
        Assert.False(p.Decide(Hit(site: "a", siteHit: 2)));
        Assert.True(p.Decide(Hit(site: "a", siteHit: 3)));
        Assert.False(p.Decide(Hit(site: "b", siteHit: 1, threadHit: 2)));
        Assert.True(p.Decide(Hit(site: "b", siteHit: 2, thread: 9)));
        Assert.False(p.Decide(Hit(site: "c", siteHit: 1)));
        // Canonical: sorted by site then hit, whatever the given order.
        Assert.Equal("list:a#1,a#3,b#2", p.Describe());
        Assert.Equal("list:", new ExplicitFaults([]).Describe());
    }

    [Fact]
    public void Probabilistic_ZeroNeverFails_OneAlwaysFails_PerSiteOverridesDefault()
    {
        var never = new ProbabilisticFaults(1, new Dictionary<string, double>(), 0);
        var always = new ProbabilisticFaults(1, new Dictionary<string, double>(), 1);
        var mixed = new ProbabilisticFaults(1, new Dictionary<string, double> { ["hot"] = 1, ["cold"] = 0 }, 0.5);
        for (long i = 1; i <= 500; i++)
        {
            Assert.False(never.Decide(Hit(siteHit: i)));
            Assert.True(always.Decide(Hit(siteHit: i)));
            Assert.True(mixed.Decide(Hit(site: "hot", siteHit: i)));
            Assert.False(mixed.Decide(Hit(site: "cold", siteHit: i)));
        }
    }

    [Fact]
    public void Probabilistic_IsAFunctionOfSeedSiteAndHit()
    {
        var empty = new Dictionary<string, double>();
        var a = new ProbabilisticFaults(42, empty, 0.5);
        var b = new ProbabilisticFaults(42, empty, 0.5);
        var c = new ProbabilisticFaults(43, empty, 0.5);
        bool differs = false, siteMatters = false;
        for (long i = 1; i <= 200; i++)
        {
            // Thread, thread hit and step do not enter the decision.
            bool da = a.Decide(Hit(site: "x", siteHit: i, thread: 1, threadHit: i));
            Assert.Equal(da, b.Decide(Hit(site: "x", siteHit: i, thread: 2, threadHit: 1000 + i, step: 3)));
            differs |= da != c.Decide(Hit(site: "x", siteHit: i));
            siteMatters |= da != a.Decide(Hit(site: "y", siteHit: i));
        }
        Assert.True(differs, "a different seed made the same 200 decisions");
        Assert.True(siteMatters, "two sites got the same 200 decisions");
    }

    public static TheoryData<string> PlanTexts() =>
    [
        "none", "nth:1", "nth:17@3", "step:0:nth:1@1", "step:12:nth:5@2",
        "step:0:nth:1+2@1", "step:-1:nth:4+1@3", "step:12:nth:5+10@2",
        "list:", "list:alloc@x#1", "list:alloc@x#1,should_fail@y#4,z#2",
        "prob:0:0", "prob:7:0.25", "prob:18446744073709551615:1,alloc@a=0.5,b=1E-05",
    ];

    [Theory]
    [MemberData(nameof(PlanTexts))]
    public void Describe_RoundTripsThroughTheParser(string text)
    {
        var plan = FaultPlanParser.Parse(text);
        Assert.Equal(text, plan.Describe());
        Assert.Equal(text, FaultPlanParser.Parse(plan.Describe()).Describe());
        Assert.Equal(plan.GetType(), FaultPlanParser.Parse(" " + text + " ").GetType());
    }

    [Fact]
    public void Describe_RoundTrips_ForConstructedPlans_WithTheSameDecisions()
    {
        IFaultPlan[] plans =
        [
            new NoFaults(), new FailNth(4), new FailNth(2, 3), new FailNthInStep(2, 3, 1), new FailNthRunInStep(1, 2, 3, 1),
            new ExplicitFaults([("q", 2), ("p", 5)]),
            new ProbabilisticFaults(99, new Dictionary<string, double> { ["s"] = 0.3, ["t"] = 0.1 }, 0.7),
        ];
        foreach (var plan in plans)
        {
            var parsed = FaultPlanParser.Parse(plan.Describe());
            Assert.IsType(plan.GetType(), parsed);
            Assert.Equal(plan.Describe(), parsed.Describe());
            foreach (string site in new[] { "p", "q", "s", "t", "u" })
                for (long i = 1; i <= 8; i++)
                    for (int step = -1; step <= 2; step++)
                    {
                        var h = Hit(site: site, siteHit: i, thread: (int)(i % 4), threadHit: i, step: step, stepHit: i);
                        Assert.Equal(plan.Decide(h), parsed.Decide(h));
                    }
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("bogus")]
    [InlineData("what:1")]
    [InlineData("nth:")]
    [InlineData("nth:0")]
    [InlineData("nth:-1")]
    [InlineData("nth:x")]
    [InlineData("nth:1@")]
    [InlineData("nth:1@x")]
    [InlineData("nth:1@2@3")]
    [InlineData("step:1:nth:2")]
    [InlineData("step:1:nth:0@1")]
    [InlineData("step:x:nth:1@1")]
    [InlineData("step:1:fail:1@1")]
    [InlineData("step:1:nth:1@x")]
    [InlineData("step:-2:nth:1@1")]
    [InlineData("step:1:nth:1+0@1")]
    [InlineData("step:1:nth:1+@1")]
    [InlineData("step:1:nth:+2@1")]
    [InlineData("step:1:nth:1+x@1")]
    [InlineData("step:1:nth:1+-2@1")]
    [InlineData("step:1:nth:1+2+3@1")]
    [InlineData("step:1:nth:1+2")]
    [InlineData("step:1:nth:2+9223372036854775807@1")]
    [InlineData("list:site")]
    [InlineData("list:#1")]
    [InlineData("list:a#0")]
    [InlineData("list:a#x")]
    [InlineData("prob:1")]
    [InlineData("prob:x:0.5")]
    [InlineData("prob:1:1.5")]
    [InlineData("prob:1:-0.1")]
    [InlineData("prob:1:0.5,site")]
    [InlineData("prob:1:0.5,=0.5")]
    [InlineData("prob:1:0.5,a=2")]
    public void Parse_RejectsMalformedText_WithAFormatExceptionMessage(string text)
    {
        var ex = Assert.Throws<FormatException>(() => FaultPlanParser.Parse(text));
        Assert.False(string.IsNullOrWhiteSpace(ex.Message));
        Assert.DoesNotContain("was not in a correct format", ex.Message); // ours, not a framework parse message
    }
}
