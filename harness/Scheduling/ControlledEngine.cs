// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Model.Kernel;

namespace Iommufd.Harness.Scheduling;

/// <summary>
/// Our controlled scheduler as an interleaving engine: one <see cref="ControlledExecutionContext"/>
/// per run, schedules chosen by one of our strategies (random walk, PCT, delay bounding, delay
/// bounding enumerated, preemption-bounded DFS), runs recorded as a <see cref="ControlledTrace"/>
/// and replayed with <see cref="ReplayStrategy"/>.
/// </summary>
public sealed class ControlledEngine(StrategySpec strategy) : IInterleavingEngine
{
    public const string EngineName = "controlled";

    public string Name => EngineName;
    public string Strategy => strategy.ToString();
    public StrategySpec Spec => strategy;

    public EngineExploration Explore(ulong seed, int maxSchedules, Func<IScheduledRun, InterleaveReport> runOne, CancellationToken cancel = default)
    {
        var s = strategy.Create(seed);
        int schedules = 0;
        long decisions = 0;
        while (schedules < maxSchedules && !cancel.IsCancellationRequested)
        {
            if (!s.PrepareNextIteration())
                return new EngineExploration(schedules, decisions, true, null);
            var report = runOne(new Run(s, null));
            schedules++;
            decisions += report.Threads?.Decisions ?? 0;
            if (report.Failed)
                return new EngineExploration(schedules, decisions, false, report);
        }
        return new EngineExploration(schedules, decisions, false, null);
    }

    public InterleaveReport Replay(string trace, bool strict, Func<IScheduledRun, InterleaveReport> runOne)
    {
        var recorded = ControlledTrace.Decode(trace);
        var replay = new ReplayStrategy(recorded.Choices, strategy.Name, strict ? recorded.Sites : null);
        replay.PrepareNextIteration();
        return runOne(new Run(replay, strict ? recorded.Choices.Count : null));
    }

    /// <summary>One schedule of <paramref name="prepared"/>, a strategy already prepared for the run.</summary>
    public IScheduledRun Schedule(ISchedulingStrategy prepared) => new Run(prepared, null);

    /// <summary>One schedule: the context is made with the world; the threads run under the strategy.</summary>
    private sealed class Run(ISchedulingStrategy s, int? exactDecisions) : IScheduledRun
    {
        private ControlledExecutionContext? context;

        public IExecutionContext CreateContext(Checks checks) => context = new ControlledExecutionContext(checks);

        public ThreadsOutcome RunThreads(IReadOnlyList<Action> bodies, int stepBudget)
        {
            var ctx = context ?? throw new InvalidOperationException("the run's world was not made on its execution context");
            var r = ctx.Run(bodies, s, stepBudget);
            string? unused = r.Outcome == ScheduleOutcome.Completed && exactDecisions is int n && r.Schedule.Count < n
                ? $"the run ended after {r.Schedule.Count} of the {n} recorded decisions"
                : null;
            return new ThreadsOutcome(r.Outcome, r.Message, r.Failure, r.CrashedThread, r.Trace, ControlledTrace.From(r.Trace).Encode(), unused);
        }
    }
}
