// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;
using Iommufd.Harness.Scheduling;
using Iommufd.Model.Kernel;

namespace Iommufd.Tests.Harness;

/// <summary>
/// The seams are real, not drawn: a second, trivial implementation of each plugs in where the
/// real ones do and the harness's one driver, oracle and reports work on it. A code under test
/// that lies about one return code is caught by the oracle; an engine that replays one fixed
/// schedule runs concurrent scenarios, finds a failure and replays it from its reproducer.
/// </summary>
public class SeamTests
{
    private const ulong Page = KernelApi.PAGE_SIZE;

    private static readonly Op[] MapOnePage =
    [
        new MapUserMemory(0, [new Segment(SegmentKind.Run, 1)]),
        new CreatePages(0, 0, Page, true, 0),
        new CreateIopt(),
        new AttachDomain(0, DomainKind.Mock),
        new MapArea(0, 0, 0, Page, null, true),
    ];

    [Fact]
    public void A_code_under_test_that_reports_a_failed_map_it_did_is_caught_by_the_oracle()
    {
        var scenario = new Scenario([], "none", MapOnePage);
        Assert.Null(Runner.Run(PortSystem.Instance, scenario, () => new SpecOracle()).Violation);

        var lying = new MisreportingSystem(PortSystem.Instance, op => op is MapArea, -KernelApi.ENOMEM);
        var report = Runner.Run(lying, scenario, () => new SpecOracle());
        var v = ExpectedFailure.Replays(report, system: lying);
        Assert.Equal(4, v.Step);
    }

    [Fact]
    public void The_misreporting_system_is_caught_on_generated_sequences_too()
    {
        var lying = new MisreportingSystem(PortSystem.Instance, op => op is CreateAccess, -KernelApi.EINVAL);
        int caught = 0;
        foreach (var scenario in ScenarioGenerator.Workload(7, 40, 60))
        {
            bool creates = scenario.Ops.Any(o => o is CreateAccess);
            var honest = Runner.Run(PortSystem.Instance, scenario, () => new SpecOracle());
            if (honest.Failed || !creates)
                continue;
            if (Runner.Run(lying, scenario, () => new SpecOracle()).Failed)
                caught++;
        }
        Assert.True(caught > 0, "no generated sequence with an access caught the lie");
    }

    [Fact]
    public void An_engine_that_replays_one_fixed_schedule_runs_scenarios_through_the_one_runner()
    {
        var s = KnownDefectInAThread();
        var engine = new FixedScheduleEngine([3, 2, 1]);
        var found = engine.Explore(1, 10, run => InterleaveRunner.Run(PortSystem.Instance, s, engine, run));
        Assert.Equal(1, found.Schedules);
        var report = Assert.IsType<InterleaveReport>(found.Failure);
        Assert.Equal(FixedScheduleEngine.EngineName, report.Engine);
        Assert.Equal(FixedScheduleEngine.EngineName, report.Reproducer.Engine);

        // Replayed from its trace by the same engine, the run fails the same way.
        var again = engine.Replay(report.Reproducer.Trace, strict: true, run => InterleaveRunner.Run(PortSystem.Instance, s, engine, run));
        Assert.True(report.Violation!.SameFailure(again.Violation!));
    }

    [Fact]
    public void The_fixed_engine_sees_a_clean_scenario_as_clean()
    {
        var s = new ConcurrentScenario([], "none", [.. MapOnePage],
            [[new AccessRw(0, 0, 0, 100, false, RwContext.Kthread, false, 1)], [new MapArea(0, 0, 0, Page, 4 * Page, false)]]);
        var engine = new FixedScheduleEngine([2, 1]);
        var found = engine.Explore(1, 10, run => InterleaveRunner.Run(PortSystem.Instance, s, engine, run));
        Assert.Null(found.Failure);
        Assert.Equal(1, found.Schedules);
    }

    /// <summary>The batch_clear_carry defect of <see cref="CliTestSupport.KnownDefect"/>, its last
    /// step in a thread, with two threads of noise.</summary>
    private static ConcurrentScenario KnownDefectInAThread()
    {
        var ops = CliTestSupport.KnownDefect().Ops;
        return new ConcurrentScenario([], "none", ops.Take(ops.Count - 1).Prepend(new CreateIopt()).ToArray(),
            [[new AccessRw(0, 0, 0, 100, false, RwContext.Kthread, false, 1)], [ops[^1]], [new MapArea(1, 0, 0, Page, null, false)]]);
    }
}

/// <summary>
/// A code under test that wraps another and misreports one return code: every operation
/// <paramref name="lieAbout"/> picks that succeeded is reported as failed with <paramref name="rc"/>,
/// while what it did stays done. The oracle must notice, since it reads the state, not the word
/// of the code.
/// </summary>
internal sealed class MisreportingSystem(ISystemUnderTest inner, Func<Op, bool> lieAbout, int rc) : ISystemUnderTest
{
    public string Id => inner.Id;
    public string Description => $"{inner.Description}, misreporting one return code";
    public KernelVersion Version => inner.Version;
    public string? CheckPatches(IReadOnlyList<string> patches) => inner.CheckPatches(patches);
    public IWorld CreateWorld(WorldOptions options) => new MisreportingWorld(inner.CreateWorld(options), lieAbout, rc);

    private sealed class MisreportingWorld(IWorld world, Func<Op, bool> lieAbout, int rc) : IWorld
    {
        public StepResult Apply(Op op)
        {
            var result = world.Apply(op);
            return result.Rc == 0 && !result.Skipped && lieAbout(op) ? result with { Rc = rc } : result;
        }

        public void TearDown() => world.TearDown();
        public FakeKernel Kernel => world.Kernel;
        public IFaultInjector Faults => world.Faults;
        public IReadOnlyList<ProcessHandle> Processes => world.Processes;
        public IReadOnlyList<RegionHandle> Regions => world.Regions;
        public IReadOnlyList<PagesHandle> PagesList => world.PagesList;
        public IReadOnlyList<IoptHandle> Iopts => world.Iopts;
        public IReadOnlyList<AreaHandle> Areas => world.Areas;
        public IReadOnlyList<DomainHandle> Domains => world.Domains;
        public IReadOnlyList<AccessHandle> Accesses => world.Accesses;
        public IReadOnlyList<PinHandle> Pins => world.Pins;
        public byte[] LastRwData => world.LastRwData;
        public PagesState Pages(int pagesId) => world.Pages(pagesId);
        public IReadOnlyList<XaEntryState> PinnedPfns(int pagesId) => world.PinnedPfns(pagesId);
        public IReadOnlyList<NodeRange> AccessNodes(int pagesId) => world.AccessNodes(pagesId);
        public IReadOnlyList<NodeRange> DomainNodes(int pagesId) => world.DomainNodes(pagesId);
        public IoptState Iopt(int ioptId) => world.Iopt(ioptId);
        public IReadOnlyList<iommu_domain> StoredDomains(int ioptId) => world.StoredDomains(ioptId);
    }
}

/// <summary>
/// An interleaving engine that knows one schedule: at decision k it runs thread
/// <c>order[k % n]</c> if that thread can run, else the lowest runnable one. It explores one
/// schedule, and its trace is the choices it made, which it replays exactly. It runs on our
/// controlled execution context; a different engine only decides differently.
/// </summary>
internal sealed class FixedScheduleEngine(IReadOnlyList<int> order) : IInterleavingEngine
{
    public const string EngineName = "fixed";

    public string Name => EngineName;
    public string Strategy => $"fixed {string.Join(",", order)}";

    public EngineExploration Explore(ulong seed, int maxSchedules, Func<IScheduledRun, InterleaveReport> runOne, CancellationToken cancel = default)
    {
        var report = runOne(new Run(new Fixed(order)));
        return new EngineExploration(1, report.Threads?.Decisions ?? 0, true, report.Failed ? report : null);
    }

    public InterleaveReport Replay(string trace, bool strict, Func<IScheduledRun, InterleaveReport> runOne)
    {
        var choices = trace.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();
        var replay = new ReplayStrategy(choices, EngineName, null);
        replay.PrepareNextIteration();
        return runOne(new Run(replay));
    }

    private sealed class Fixed(IReadOnlyList<int> order) : SchedulingStrategyBase
    {
        public override string Name => EngineName;
        protected override void Prepare(int iteration) { }
        protected override int Pick(Decision d) =>
            d.Runnable.Contains(order[d.Step % order.Count]) ? order[d.Step % order.Count] : d.Runnable[0];
        public override string Describe() => EngineName;
    }

    private sealed class Run(ISchedulingStrategy strategy) : IScheduledRun
    {
        private ControlledExecutionContext? context;

        public IExecutionContext CreateContext(Checks checks) => context = new ControlledExecutionContext(checks);

        public ThreadsOutcome RunThreads(IReadOnlyList<Action> bodies, int stepBudget)
        {
            var r = context!.Run(bodies, strategy, stepBudget);
            return new ThreadsOutcome(r.Outcome, r.Message, r.Failure, r.CrashedThread, r.Trace, string.Join(",", r.Schedule));
        }
    }
}
