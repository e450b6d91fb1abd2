// SPDX-License-Identifier: GPL-2.0-only
using System.Runtime.ExceptionServices;
using Iommufd.Faults;
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;

namespace Iommufd.Harness.Scheduling;

/// <summary>What one concurrent run did: the setup steps, each thread's results (null: the
/// operation did not finish), how the threads ended (null if the setup already failed), the first
/// violation, the faults injected, and which engine and strategy chose the schedule.</summary>
public sealed record InterleaveReport(
    ConcurrentScenario Scenario,
    string Engine,
    string Strategy,
    IReadOnlyList<StepRecord> SetupSteps,
    IReadOnlyList<IReadOnlyList<StepResult?>> ThreadResults,
    ThreadsOutcome? Threads,
    Violation? Violation,
    IReadOnlyList<InjectedFault> Injected)
{
    public bool Failed => Violation is not null;

    /// <summary>The reproducer of exactly this run.</summary>
    public InterleaveReproducer Reproducer => new(Scenario, Engine, Strategy, Threads?.EngineTrace ?? "");
}

/// <summary>
/// Runs one concurrent scenario under one schedule of an engine: a fresh world of the code under
/// test on the engine's execution context; the setup through the <see cref="StepLoop"/> (the
/// oracle after every step; a sequential violation there is reported as such); the threads under
/// the engine; then, in this order, a crash of a thread, a deadlock, the step budget, a replay
/// divergence, or any WARN/lockdep/misuse report of the concurrent phase is the violation. If the
/// threads ran cleanly the world is torn down and the oracle's teardown check (invariant j:
/// nothing pinned, allocated, stored, mapped or accounted; plus d) decides. The concurrent phase is
/// reported as step <c>Setup.Count</c>, teardown as step -1.
/// </summary>
public static class InterleaveRunner
{
    public const int DefaultStepBudget = 20_000;

    /// <summary>Runs <paramref name="scenario"/> on the C# port under one schedule of
    /// <paramref name="prepared"/>, one of our strategies already prepared for this run
    /// (<see cref="ISchedulingStrategy.PrepareNextIteration"/>).</summary>
    public static InterleaveReport Run(ConcurrentScenario scenario, ISchedulingStrategy prepared, int stepBudget = DefaultStepBudget)
    {
        var engine = new ControlledEngine(StrategySpec.Parse(prepared is ReplayStrategy r ? r.RecordedBy : prepared.Name));
        return Run(PortSystem.Instance, scenario, engine, engine.Schedule(prepared), stepBudget);
    }

    /// <summary>Runs <paramref name="scenario"/> on <paramref name="system"/> under the schedule
    /// <paramref name="run"/> stands for.</summary>
    public static InterleaveReport Run(ISystemUnderTest system, ConcurrentScenario scenario, IInterleavingEngine engine, IScheduledRun run,
        int stepBudget = DefaultStepBudget, Func<IOracle>? oracleFactory = null)
    {
        var loop = new StepLoop(system, scenario.FaultPlan, scenario.Patches, oracleFactory?.Invoke() ?? new SpecOracle(), run.CreateContext);
        var world = loop.World;
        var results = scenario.Threads.Select(t => new StepResult?[t.Count]).ToArray();
        InterleaveReport Report(ThreadsOutcome? threads, Violation? v) =>
            new(scenario, engine.Name, engine.Strategy, loop.Steps, results, threads, v, loop.Injector.Injected);

        for (int i = 0; i < scenario.Setup.Count; i++)
            if (loop.Step(i, scenario.Setup[i]) is { } v)
                return Report(null, v);

        int phase = scenario.Setup.Count;
        loop.Injector.BeginStep(phase);
        int checksBefore = world.Kernel.Checks.Count;
        var bodies = scenario.Threads.Select((ops, t) => (Action)(() =>
        {
            for (int j = 0; j < ops.Count; j++)
            {
                world.Kernel.Exec.SchedulePoint($"begin {ops[j].GetType().Name}");
                results[t][j] = world.Apply(ops[j]);
            }
        })).ToArray();
        var threads = run.RunThreads(bodies, stepBudget);
        var fired = world.Kernel.Checks.Violations.Skip(checksBefore).ToList();

        Violation? found = threads.Outcome switch
        {
            ScheduleOutcome.Crash when !StepLoop.IsModelFailure(threads.Failure!) => Rethrow(threads.Failure!),
            ScheduleOutcome.Crash => StepLoop.Crash(phase, threads.Failure!, $" (thread T{threads.CrashedThread})"),
            ScheduleOutcome.Deadlock => new Violation("deadlock", phase, $"Deadlock in hung_task: {threads.Message}"),
            ScheduleOutcome.StepBudget => new Violation("step-budget", phase, threads.Message),
            ScheduleOutcome.Divergence => new Violation("divergence", phase, threads.Message),
            _ when fired.FirstOrDefault() is { } c => new Violation("h", phase, $"{c.Kind} in {c.Function}: {c.Message}"),
            _ when threads.RecordUnused is { } unused => new Violation("divergence", phase, unused),
            _ => null,
        };
        return Report(threads, found ?? loop.TearDown());
    }

    private static Violation Rethrow(Exception e)
    {
        ExceptionDispatchInfo.Capture(e).Throw();
        throw e; // not reached
    }
}
