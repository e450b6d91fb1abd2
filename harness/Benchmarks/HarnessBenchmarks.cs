// SPDX-License-Identifier: GPL-2.0-only
using BenchmarkDotNet.Attributes;
using Iommufd.Cli;
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;

namespace Iommufd.Benchmarks;

/// <summary>
/// Throughput of the harness: a fixed workload of generated sequences (the same engine and seed
/// as <c>iommufd-verify bench</c>), each run from a fresh world with the oracle on and off. One
/// invocation runs the whole workload; <see cref="Workload.Sequences"/> operations per invoke makes
/// BenchmarkDotNet's per-operation time the time per sequence, and <see cref="ThroughputColumn"/>
/// turns it into sequences/s and operations/s.
/// </summary>
[Config(typeof(ThroughputConfig))]
public class HarnessBenchmarks
{
    [Params(true, false)]
    public bool Oracle { get; set; }

    private IReadOnlyList<Scenario> workload = [];
    private Func<IOracle> oracle = () => new NullOracle();

    [GlobalSetup]
    public void Setup()
    {
        workload = Workload.Scenarios();
        oracle = CliServices.Default.OracleWhen(Oracle);
    }

    /// <summary>Returns the number of failing sequences so the work cannot be optimised away.</summary>
    [Benchmark(OperationsPerInvoke = Workload.Sequences)]
    public int RunWorkload()
    {
        int failed = 0;
        foreach (var scenario in workload)
            if (Runner.Run(scenario, oracle).Failed)
                failed++;
        return failed;
    }
}

/// <summary>The fixed workload, a pure function of the seed and the size.</summary>
public static class Workload
{
    public const int Sequences = 32;
    public const ulong Seed = 1;
    public const int MaxSize = 100;

    public static IReadOnlyList<Scenario> Scenarios() => ScenarioGenerator.Workload(Seed, Sequences, MaxSize).ToArray();

    /// <summary>Operations the world performs (skipped ones excluded) when the workload runs
    /// once with or without the oracle: runs stop at their first violation, so this depends on it.</summary>
    public static long Operations(bool oracleOn)
    {
        var oracle = CliServices.Default.OracleWhen(oracleOn);
        return Scenarios().Sum(s => (long)Runner.Run(s, oracle).Steps.Count(step => !step.Result.Skipped));
    }
}
