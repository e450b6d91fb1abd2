// SPDX-License-Identifier: GPL-2.0-only
using FsCheck;
using FsCheck.Fluent;
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;
using Iommufd.Harness.Repro;
using Iommufd.Harness.Scheduling;
using Iommufd.Model.Port;
using Iommufd.Tests.Harness;
using Iommufd.Model.Patches;

namespace Iommufd.Tests.Scheduling;

/// <summary>Concurrent scenarios on the model: generation, the runner, the shrinker, reproducers.</summary>
public class InterleaveTests
{
    private const ulong Page = 4096;

    private static IReadOnlyList<string> AllPatches => ModelPatches.AllFindings.ToArray();

    private static readonly Op[] MappedWithAccess =
    [
        new MapUserMemory(0, [new Segment(SegmentKind.Run, 8)]),
        new CreatePages(0, 0, 8 * Page, true, 0),
        new CreateIopt(),
        new AttachDomain(0, DomainKind.Mock),
        new MapArea(0, 0, 0, 8 * Page, null, true),
        new CreateAccess(0),
    ];

    /// <summary>A reproducer of our engine with a schedule of thread ids and no sites.</summary>
    private static InterleaveReproducer Repro(ConcurrentScenario s, string strategy, params int[] choices) =>
        new(s, ControlledEngine.EngineName, strategy, new ControlledTrace(choices, null).Encode());

    private static List<InterleaveReport> AllSchedules(ConcurrentScenario s, int bound, int max = 400)
    {
        var strategy = new PreemptionBoundedDfsStrategy(bound);
        var reports = new List<InterleaveReport>();
        while (reports.Count < max && strategy.PrepareNextIteration())
            reports.Add(InterleaveRunner.Run(s, strategy));
        Assert.True(strategy.IsExhausted, $"more than {max} schedules");
        return reports;
    }

    // ---- generation ----------------------------------------------------------------------------

    [Fact]
    public void Generator_IsAPureFunctionOfTheSeed_AndKeepsToTheConcurrencyKinds()
    {
        var allowed = new[] { typeof(MapArea), typeof(CopyArea), typeof(UnmapArea), typeof(UnmapRange), typeof(AttachDomain),
            typeof(DetachDomain), typeof(CreateAccess), typeof(DestroyAccess), typeof(AccessPin), typeof(AccessUnpin), typeof(AccessRw),
            typeof(ProcessExit), typeof(SplitArea) };
        var seen = new HashSet<Type>();
        for (ulong seed = 0; seed < 60; seed++)
        {
            var a = ConcurrentScenarioGenerator.Generate(seed);
            var b = ConcurrentScenarioGenerator.Generate(seed);
            Assert.Equal(InterleaveReproducerCodec.Encode(Repro(a, "pct")), InterleaveReproducerCodec.Encode(Repro(b, "pct")));
            Assert.InRange(a.Threads.Count, 2, 3);
            Assert.All(a.Threads, t => Assert.InRange(t.Count, 1, 3));
            foreach (var op in a.Threads.SelectMany(t => t))
            {
                Assert.Contains(op.GetType(), allowed);
                seen.Add(op.GetType());
            }
        }
        Assert.Equal(allowed.Length, seen.Count);
        Assert.NotEqual(InterleaveReproducerCodec.Encode(Repro(ConcurrentScenarioGenerator.Generate(1), "pct")),
            InterleaveReproducerCodec.Encode(Repro(ConcurrentScenarioGenerator.Generate(2), "pct")));
    }

    [Fact]
    public void GeneratedSetups_RunCleanSequentially_OnThePatchedModel()
    {
        for (ulong seed = 0; seed < 25; seed++)
        {
            var s = ConcurrentScenarioGenerator.Generate(seed);
            var report = Iommufd.Harness.Execution.Runner.Run(new Scenario(AllPatches, "none", s.Setup), () => new SpecOracle());
            Assert.True(report.Violation is null, $"seed {seed}: {report.Violation}");
            Assert.DoesNotContain(report.Steps, st => st.Result.Skipped || st.Result.Rc != 0);
        }
    }

    [Fact]
    public void Property_NoGeneratedScenario_FailsUnderEightPctSchedules_OnThePatchedModel()
    {
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(12).WithReplay(5UL, 7UL).WithQuietOnSuccess(true),
            Prop.ForAll(ConcurrentScenarioGenerator.Arbitrary(patches: AllPatches), s =>
            {
                var pct = new PctStrategy(1, 3);
                for (int i = 0; i < 8 && pct.PrepareNextIteration(); i++)
                {
                    var report = InterleaveRunner.Run(s, pct);
                    Assert.True(report.Violation is null, InterleaveRenderer.Render(report));
                }
            }));
    }

    // ---- runner and world ----------------------------------------------------------------------

    [Fact]
    public void DestroyWhilePinning_EverySchedule_IsCleanOrBusy_NeverALeak()
    {
        var s = new ConcurrentScenario(AllPatches, "none", MappedWithAccess,
            [[new AccessPin(0, 0, Page, 2 * Page, true)], [new DestroyAccess(0)]]);
        var reports = AllSchedules(s, 2);
        Assert.All(reports, r => Assert.True(r.Violation is null, r.Violation?.ToString()));
        var destroyResults = reports.Select(r => r.ThreadResults[1][0]!.Rc).ToHashSet();
        Assert.Contains(0, destroyResults);
        Assert.Contains(-16, destroyResults); // -EBUSY: the access was in use by the pinning thread
    }

    [Fact]
    public void PinAndUnpin_RacingUnmapAndDetach_EveryScheduleWithOnePreemption_IsClean_OnThePatchedModel()
    {
        var s = new ConcurrentScenario(AllPatches, "none", MappedWithAccess,
            [[new AccessPin(0, 0, 0, 3 * Page, true), new AccessUnpin(0)], [new UnmapArea(0), new DetachDomain(0)]]);
        var reports = AllSchedules(s, 1, 2000);
        Assert.True(reports.Count > 20);
        Assert.All(reports, r => Assert.True(r.Violation is null, r.Violation?.ToString()));
        Assert.All(reports, r => Assert.Equal(ScheduleOutcome.Completed, r.Threads!.Outcome));
        // The threads really interleave inside the operations.
        Assert.Contains(reports, r => r.Threads!.Trace.Any(t => t.Chosen != t.From && t.Runnable.Contains(t.From) && t.From != 0));
    }

    [Fact]
    public void TwoKthreadRws_AreTwoKernelThreads_NotOneKthreadUsingTwoMms()
    {
        // Found by interleave (random, seed 12, --patch all): both threads ran as the world's one
        // kthread, so the second kthread_use_mm WARNed. In the kernel they are two kthreads.
        var s = new ConcurrentScenario(AllPatches, "none", MappedWithAccess,
        [
            [new AccessRw(0, 0, 100, 5000, true, RwContext.Kthread, false, 3)],
            [new AccessRw(0, 0, 6400, 6821, false, RwContext.Kthread, true, 0)],
        ]);
        var reports = AllSchedules(s, 1);
        Assert.All(reports, r => Assert.True(r.Violation is null, r.Violation?.ToString()));
        Assert.All(reports, r => Assert.All(r.ThreadResults, t => Assert.Equal(0, t[0]!.Rc)));
        Assert.Contains(reports, r => r.Threads!.Trace.Any(t => t.Site == "copy_to_user" && t.Chosen != t.From && t.Runnable.Contains(t.From)));
    }

    [Fact]
    public void A_split_whose_area_another_thread_unmapped_meanwhile_records_nothing()
    {
        // Found by interleave (--patch all, seed 7, every strategy): T1 split the area in the
        // port, T2 unmapped it (both pieces) and dropped its handle, and T1's bookkeeping then
        // indexed the vanished handle. The world must simply record nothing.
        Op[] setup =
        [
            new MapUserMemory(0, [new Segment(SegmentKind.Run, 15)]),
            new CreatePages(0, 0, 15 * Page, true, IoptPagesAccount.IOPT_PAGES_ACCOUNT_USER),
            new CreateIopt(),
            new MapArea(0, 0, 0, 9 * Page, null, true),
        ];
        var s = new ConcurrentScenario(AllPatches, "none", setup, [[new SplitArea(0, Page)], [new UnmapArea(0)]]);
        var reports = AllSchedules(s, 1);
        Assert.All(reports, r => Assert.True(r.Violation is null, r.Violation?.ToString()));
        // Among them the schedule that found it: T1 splits in the port and is preempted as it
        // releases iova_rwsem, T2 runs to its end, then T1 does its bookkeeping.
        Assert.Contains(reports, r =>
        {
            var trace = r.Threads!.Trace.ToList();
            int split = trace.FindIndex(t => t.From == 1 && t.Site == "release io_pagetable.iova_rwsem");
            int t2Done = trace.FindIndex(t => t.From == 2 && t.Site == "finish");
            return split >= 0 && split < t2Done && trace[split].Chosen == 2;
        });
    }

    [Fact]
    public void A_process_exit_waits_for_its_task_to_leave_the_kernel()
    {
        // Found by interleave (PCT d=3, seed 11, --patch all): the exit of process 1 took its mm
        // away from the task T1 was running as in the middle of an rw through its own mm, so the
        // reader's cleanup saw current->mm != source_mm and dropped a reference it never took
        // (mmput underflow). A task exits only by itself; the world now defers the exit.
        Op[] setup =
        [
            new NewProcess(true, ulong.MaxValue, false),
            new MapUserMemory(1, [new Segment(SegmentKind.Run, 7)]),
            new CreatePages(0, 0, 7 * Page, true, IoptPagesAccount.IOPT_PAGES_ACCOUNT_USER),
            new CreateIopt(),
            new MapArea(0, 0, 0, 5 * Page, null, true),
            new CreateAccess(0),
        ];
        var s = new ConcurrentScenario(AllPatches, "none", setup,
        [
            [new AccessRw(0, 0, 100, 3 * Page, false, RwContext.SameMm, true, 1)],
            [new ProcessExit(0)],
        ]);
        var reports = AllSchedules(s, 2);
        Assert.All(reports, r => Assert.True(r.Violation is null, r.Violation?.ToString()));
        // In some schedule the exit was asked for while the rw was inside the kernel.
        Assert.Contains(reports, r => r.ThreadResults[1][0]!.Note.Contains("exits when", StringComparison.Ordinal));
    }

    [Fact]
    public void SameStrategySeed_SameRun_ByteForByte()
    {
        var s = ConcurrentScenarioGenerator.Generate(42, patches: AllPatches);
        string[] Runs()
        {
            var pct = new PctStrategy(9, 3);
            var texts = new List<string>();
            for (int i = 0; i < 6 && pct.PrepareNextIteration(); i++)
                texts.Add(InterleaveRenderer.Render(InterleaveRunner.Run(s, pct)));
            return texts.ToArray();
        }
        var first = Runs();
        Assert.Equal(first, Runs());
        Assert.True(first.Distinct().Count() > 1);
    }

    [Fact]
    public void KnownSequentialDefect_InAThread_IsFound_Shrunk_AndReplaysToTheSameText()
    {
        // The batch_clear_carry defect of CliTestSupport.KnownDefect, its last step moved into a
        // thread, with two threads of noise.
        var ops = CliTestSupport.KnownDefect().Ops;
        var s = new ConcurrentScenario([], "none", ops.Take(ops.Count - 1).Prepend(new CreateIopt()).ToArray(),
            [[new AccessRw(0, 0, 0, 100, false, RwContext.Kthread, false, 1)], [ops[^1]], [new MapArea(1, 0, 0, Page, null, false)]]);
        var random = new RandomWalkStrategy(3);
        Assert.True(random.PrepareNextIteration());
        var report = InterleaveRunner.Run(s, random);
        Iommufd.Tests.Harness.ExpectedFailure.Replays(report);

        var shrunk = new InterleaveShrinker(PortSystem.Instance, new ControlledEngine(new StrategySpec("random")), 3)
            .Shrink(s, report.Reproducer.Trace, report.Violation!);
        Assert.True(report.Violation!.SameFailure(shrunk.Violation));
        Assert.True(shrunk.Scenario.OperationCount < s.OperationCount);
        Assert.Single(shrunk.Scenario.Threads);
        Assert.Equal([ops[^1]], shrunk.Scenario.Threads[0]);

        var repro = new InterleaveReproducer(shrunk.Scenario, ControlledEngine.EngineName, "random", shrunk.Trace);
        var (first, text) = InterleaveExplorer.Replay(InterleaveReproducerCodec.Decode(InterleaveReproducerCodec.Encode(repro)));
        Assert.True(shrunk.Violation.SameFailure(first.Violation!));
        Assert.Equal(text, InterleaveExplorer.Replay(repro).Text);
    }

    [Fact]
    public void ReplayingAScheduleThatDoesNotFit_IsADivergence()
    {
        var s = new ConcurrentScenario(AllPatches, "none", MappedWithAccess, [[new UnmapArea(0)], [new DetachDomain(0)]]);
        var random = new RandomWalkStrategy(1);
        random.PrepareNextIteration();
        var recorded = ControlledTrace.Decode(InterleaveRunner.Run(s, random).Reproducer.Trace);
        var schedule = recorded.Choices;
        var sites = recorded.Sites!;
        InterleaveReproducer With(IReadOnlyList<int> choices, IReadOnlyList<string>? at) =>
            new(s, ControlledEngine.EngineName, "random", new ControlledTrace(choices, at).Encode());
        var (longer, _) = InterleaveExplorer.Replay(With([.. schedule, 1, 2], [.. sites, "start", "start"]));
        Assert.Equal("divergence", longer.Violation?.Invariant);
        var (wrong, _) = InterleaveExplorer.Replay(With(schedule.Select(t => 3 - t).ToArray(), sites));
        Assert.Equal("divergence", wrong.Violation?.Invariant);
        var (exact, _) = InterleaveExplorer.Replay(With(schedule, sites));
        Assert.Null(exact.Violation);
        // Without sites (an iommufd-sched1 record) the same choices replay as well.
        Assert.Null(InterleaveExplorer.Replay(With(schedule, null)).Report.Violation);
    }

    [Fact]
    public void A_replay_that_reaches_another_site_fails_naming_both()
    {
        var s = new ConcurrentScenario(AllPatches, "none", MappedWithAccess, [[new UnmapArea(0)], [new DetachDomain(0)]]);
        var random = new RandomWalkStrategy(1);
        random.PrepareNextIteration();
        var recorded = ControlledTrace.Decode(InterleaveRunner.Run(s, random).Reproducer.Trace);
        int k = recorded.Sites!.Count / 2;
        var sites = recorded.Sites.Select((site, i) => i == k ? "acquire some.other_lock" : site).ToArray();
        var (report, text) = InterleaveExplorer.Replay(new InterleaveReproducer(s, ControlledEngine.EngineName, "random",
            new ControlledTrace(recorded.Choices, sites).Encode()));
        var v = Assert.IsType<Violation>(report.Violation);
        Assert.Equal("divergence", v.Invariant);
        Assert.Contains($"decision {k} is taken at {recorded.Sites[k]}, but the record took it at acquire some.other_lock", v.Message);
        Assert.Contains("divergence", text);
    }

    [Fact]
    public void An_iommufd_sched1_reproducer_still_decodes_and_replays()
    {
        // Written by the previous version: scenario, strategy and thread ids, no sites.
        var s = new ConcurrentScenario(AllPatches, "none", MappedWithAccess, [[new UnmapArea(0)], [new DetachDomain(0)]]);
        var random = new RandomWalkStrategy(1);
        random.PrepareNextIteration();
        var recorded = ControlledTrace.Decode(InterleaveRunner.Run(s, random).Reproducer.Trace);
        string sched1 = ReproducerPacking.Pack(InterleaveReproducerCodec.Sched1Prefix, new { Scenario = s, Strategy = "random", Schedule = recorded.Choices });
        var r = InterleaveReproducerCodec.Decode(sched1);
        Assert.Equal(ControlledEngine.EngineName, r.Engine);
        Assert.Equal(recorded.Choices, ControlledTrace.Decode(r.Trace).Choices);
        Assert.Null(ControlledTrace.Decode(r.Trace).Sites);
        Assert.Null(InterleaveExplorer.Replay(r).Report.Violation);
    }

    // ---- reproducers ---------------------------------------------------------------------------

    [Fact]
    public void Reproducer_RoundTrips_AndBadInputIsAClearFormatError()
    {
        var r = Repro(ConcurrentScenarioGenerator.Generate(5), "pct", 1, 2, 2, 1);
        string text = InterleaveReproducerCodec.Encode(r);
        Assert.StartsWith("iommufd-sched2:", text);
        Assert.Equal(text, InterleaveReproducerCodec.Encode(InterleaveReproducerCodec.Decode(text)));

        Assert.Contains("starts with 'iommufd-sched2:'", Assert.Throws<FormatException>(() => InterleaveReproducerCodec.Decode("iommufd1:abc")).Message);
        Assert.Contains("base64url", Assert.Throws<FormatException>(() => InterleaveReproducerCodec.Decode("iommufd-sched2:a!b")).Message);
        Assert.Contains("corrupt", Assert.Throws<FormatException>(() => InterleaveReproducerCodec.Decode("iommufd-sched1:AAAA")).Message);
        string badThread = InterleaveReproducerCodec.Encode(r with { Trace = new ControlledTrace([1, 7], null).Encode() });
        Assert.Contains("threads the scenario does not have", Assert.Throws<FormatException>(() => InterleaveReproducerCodec.Decode(badThread)).Message);
    }
}
