// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;

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
/// Runs one scenario from a fresh world of the code under test: every operation, the oracle after
/// each, then the teardown and the oracle's final check (<see cref="StepLoop"/>). Stops at the
/// first violation. An exception escaping the model is a violation ("crash"): in the kernel it
/// would be an oops or a hang.
/// </summary>
public static class Runner
{
    /// <summary>Runs <paramref name="scenario"/> on the C# port.</summary>
    public static RunReport Run(Scenario scenario, Func<IOracle> oracleFactory) => Run(PortSystem.Instance, scenario, oracleFactory);

    public static RunReport Run(ISystemUnderTest system, Scenario scenario, Func<IOracle> oracleFactory)
    {
        var loop = new StepLoop(system, scenario.FaultPlan, scenario.Patches, oracleFactory());
        var violation = loop.RunAll(scenario.Ops) ?? loop.TearDown();
        return new RunReport(scenario, loop.Steps, violation, loop.Injector.Injected, loop.Injector.Hits);
    }
}
