// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;
using Iommufd.Model.Kernel;

namespace Iommufd.Harness.Execution;

/// <summary>One executed step: the operation and what it did.</summary>
public sealed record StepRecord(int Index, Op Op, StepResult Result);

/// <summary>The outcome of running a scenario: the steps run, the first violation (if any), the
/// faults injected, and the number of fault-site hits.</summary>
public sealed record RunReport(
    Scenario Scenario,
    IReadOnlyList<StepRecord> Steps,
    Violation? Violation,
    IReadOnlyList<InjectedFault> Injected,
    IReadOnlyDictionary<string, long> SiteHits)
{
    public bool Failed => Violation is not null;
}

/// <summary>
/// Runs one scenario from a fresh world: every operation, the oracle after each, then the
/// teardown and the oracle's final check. Stops at the first violation. An exception escaping
/// the model is a violation ("crash"): in the kernel it would be an oops or a hang.
/// </summary>
public static class Runner
{
    public static RunReport Run(Scenario scenario, Func<IOracle> oracleFactory)
    {
        var injector = new FaultInjector(FaultPlanParser.Parse(scenario.FaultPlan));
        var world = new World(injector, scenario.Patches);
        var oracle = oracleFactory();
        oracle.Attach(world);
        var steps = new List<StepRecord>(scenario.Ops.Count);
        Violation? violation = null;
        for (int i = 0; i < scenario.Ops.Count && violation is null; i++)
        {
            var op = scenario.Ops[i];
            injector.BeginStep(i);
            StepResult result;
            try
            {
                result = world.Apply(op);
            }
            catch (Exception e) when (IsModelFailure(e))
            {
                violation = new Violation("crash", i, $"{e.GetType().Name}: {e.Message}", Describe(e));
                steps.Add(new StepRecord(i, op, new StepResult(0, Note: "crashed")));
                break;
            }
            steps.Add(new StepRecord(i, op, result));
            violation = oracle.AfterStep(i, op, result).FirstOrDefault();
        }
        if (violation is null)
        {
            try
            {
                injector.BeginStep(-1);
                world.TearDown();
                violation = oracle.AfterTeardown().FirstOrDefault();
            }
            catch (Exception e) when (IsModelFailure(e))
            {
                violation = new Violation("crash", -1, $"{e.GetType().Name}: {e.Message}", Describe(e));
            }
        }
        return new RunReport(scenario, steps, violation, injector.Injected, injector.Hits);
    }

    /// <summary>Exceptions that stand for a kernel failure (oops, BUG, hang) rather than a harness bug.</summary>
    internal static bool IsModelFailure(Exception e) =>
        e is KernelMemoryFault or KernelDeadlock or KernelListCorruption or IndexOutOfRangeException
            or NullReferenceException or InvalidOperationException or ArgumentException or OverflowException;

    internal static string Describe(Exception e)
    {
        var frames = (e.StackTrace ?? "").Split('\n')
            .Select(l => l.Trim())
            .Where(l => l.StartsWith("at Iommufd.Model", StringComparison.Ordinal))
            .Select(l => l.Split(" in ")[0])
            .Take(8);
        return string.Join("\n", frames);
    }
}
