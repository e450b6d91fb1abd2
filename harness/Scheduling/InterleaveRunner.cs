// SPDX-License-Identifier: GPL-2.0-only
using System.Runtime.ExceptionServices;
using Iommufd.Faults;
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;
using Iommufd.Model.Kernel;

namespace Iommufd.Harness.Scheduling;

/// <summary>What one concurrent run did: the setup steps, each thread's results (null: the
/// operation did not finish), the controlled run (null if the setup already failed), the first
/// violation, and the faults injected.</summary>
public sealed record InterleaveReport(
    ConcurrentScenario Scenario,
    string Strategy,
    IReadOnlyList<StepRecord> SetupSteps,
    IReadOnlyList<IReadOnlyList<StepResult?>> ThreadResults,
    ScheduleRun? Schedule,
    Violation? Violation,
    IReadOnlyList<InjectedFault> Injected)
{
    public bool Failed => Violation is not null;
    public IReadOnlyList<int> ScheduleChoices => Schedule?.Schedule ?? [];
}

/// <summary>
/// Runs one concurrent scenario under one schedule: a fresh world on a
/// <see cref="ControlledExecutionContext"/>; the setup on the driver thread with the
/// <see cref="SpecOracle"/> after every step (a sequential violation there is reported as such);
/// the threads under the strategy; then, in this order, a crash of a thread, a deadlock, the step
/// budget, a replay divergence, or any WARN/lockdep/misuse report of the concurrent phase is the
/// violation. If the threads ran cleanly the world is torn down and the oracle's teardown check
/// (invariant j: nothing pinned, allocated, stored, mapped or accounted; plus d) decides.
/// The concurrent phase is reported as step <c>Setup.Count</c>, teardown as step -1.
/// </summary>
public static class InterleaveRunner
{
    public const int DefaultStepBudget = 20_000;

    /// <summary>Runs <paramref name="scenario"/> under <paramref name="strategy"/>, which must have
    /// been prepared for this run (<see cref="ISchedulingStrategy.PrepareNextIteration"/>).</summary>
    /// <remarks>Under a <see cref="ReplayStrategy"/> a run that ends before using every recorded
    /// decision is a divergence when <paramref name="strictReplay"/> (the shrinker, which replays a
    /// schedule on a smaller scenario, turns it off and keeps the prefix that was used).</remarks>
    public static InterleaveReport Run(ConcurrentScenario scenario, ISchedulingStrategy strategy, int stepBudget = DefaultStepBudget,
        bool strictReplay = true, Func<IOracle>? oracleFactory = null)
    {
        var injector = new FaultInjector(FaultPlanParser.Parse(scenario.FaultPlan));
        var world = new World(injector, scenario.Patches, c => new ControlledExecutionContext(c));
        var context = (ControlledExecutionContext)world.Kernel.Exec;
        var oracle = oracleFactory?.Invoke() ?? new SpecOracle();
        oracle.Attach(world);
        var setup = new List<StepRecord>(scenario.Setup.Count);
        var results = scenario.Threads.Select(t => new StepResult?[t.Count]).ToArray();
        InterleaveReport Report(ScheduleRun? run, Violation? v) =>
            new(scenario, StrategyName(strategy), setup, results, run, v, injector.Injected);

        for (int i = 0; i < scenario.Setup.Count; i++)
        {
            injector.BeginStep(i);
            StepResult result;
            try
            {
                result = world.Apply(scenario.Setup[i]);
            }
            catch (Exception e) when (Runner.IsModelFailure(e))
            {
                setup.Add(new StepRecord(i, scenario.Setup[i], new StepResult(0, Note: "crashed")));
                return Report(null, new Violation("crash", i, $"{e.GetType().Name}: {e.Message}", Runner.Describe(e)));
            }
            setup.Add(new StepRecord(i, scenario.Setup[i], result));
            if (oracle.AfterStep(i, scenario.Setup[i], result).FirstOrDefault() is { } v)
                return Report(null, v);
        }

        int phase = scenario.Setup.Count;
        injector.BeginStep(phase);
        int checksBefore = world.Kernel.Checks.Count;
        var bodies = scenario.Threads.Select((ops, t) => (Action)(() =>
        {
            for (int j = 0; j < ops.Count; j++)
            {
                world.Kernel.Exec.SchedulePoint($"begin {ops[j].GetType().Name}");
                results[t][j] = world.Apply(ops[j]);
            }
        })).ToArray();
        var run = context.Run(bodies, strategy, stepBudget);
        var fired = world.Kernel.Checks.Violations.Skip(checksBefore).ToList();

        Violation? found = run.Outcome switch
        {
            ScheduleOutcome.Crash when !Runner.IsModelFailure(run.Failure!) => Rethrow(run.Failure!),
            ScheduleOutcome.Crash => new Violation("crash", phase,
                $"{run.Failure!.GetType().Name}: {run.Failure.Message} (thread T{run.CrashedThread})", Runner.Describe(run.Failure)),
            ScheduleOutcome.Deadlock => new Violation("deadlock", phase, $"Deadlock in hung_task: {run.Message}"),
            ScheduleOutcome.StepBudget => new Violation("step-budget", phase, run.Message),
            ScheduleOutcome.Divergence => new Violation("divergence", phase, run.Message),
            _ when fired.FirstOrDefault() is { } c => new Violation("h", phase, $"{c.Kind} in {c.Function}: {c.Message}"),
            _ when strictReplay && strategy is ReplayStrategy r && run.Schedule.Count < r.Recorded.Count => new Violation("divergence", phase,
                $"the run ended after {run.Schedule.Count} of the {r.Recorded.Count} recorded decisions"),
            _ => null,
        };
        if (found is not null)
            return Report(run, found);

        try
        {
            injector.BeginStep(-1);
            world.TearDown();
            found = oracle.AfterTeardown().FirstOrDefault();
        }
        catch (Exception e) when (Runner.IsModelFailure(e))
        {
            found = new Violation("crash", -1, $"{e.GetType().Name}: {e.Message}", Runner.Describe(e));
        }
        return Report(run, found);
    }

    private static Violation Rethrow(Exception e)
    {
        ExceptionDispatchInfo.Capture(e).Throw();
        throw e; // not reached
    }

    /// <summary>The strategy a schedule came from (a replay names the strategy that recorded it).</summary>
    public static string StrategyName(ISchedulingStrategy s) => s is ReplayStrategy r ? r.RecordedBy : s.Name;

}
