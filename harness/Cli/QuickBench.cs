// SPDX-License-Identifier: GPL-2.0-only
using System.Diagnostics;
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;

namespace Iommufd.Cli;

/// <summary>One throughput measurement: how many sequences and operations ran in how long, and
/// how many of the sequences reported a violation.</summary>
public sealed record BenchResult(string Mode, long Sequences, long Operations, long Failed, TimeSpan Elapsed)
{
    public double SequencesPerSecond => Sequences / Math.Max(Elapsed.TotalSeconds, 1e-9);
    public double OperationsPerSecond => Operations / Math.Max(Elapsed.TotalSeconds, 1e-9);
}

/// <summary>
/// A quick throughput measurement without BenchmarkDotNet, for CI and nightly logs: runs a fixed
/// workload round-robin and counts sequences and operations. Several modes (oracle on, oracle
/// off) are measured in alternating slices so that JIT tiering and machine noise fall on all of
/// them alike. It reports; it asserts nothing.
/// </summary>
public static class QuickBench
{
    public static readonly TimeSpan Slice = TimeSpan.FromMilliseconds(200);

    /// <summary>Gives each mode <paramref name="budgetPerMode"/> of running time (at least one
    /// sequence each), in alternating slices. Operations count the steps the world performed
    /// (skipped ones excluded).</summary>
    public static IReadOnlyList<BenchResult> Measure(IReadOnlyList<(string Mode, Func<IOracle> Oracle)> modes,
        IReadOnlyList<Scenario> workload, TimeSpan budgetPerMode, CancellationToken cancel = default)
    {
        if (workload.Count == 0) throw new ArgumentException("the workload is empty", nameof(workload));
        var tallies = modes.Select(m => new Tally(m.Mode, m.Oracle)).ToArray();
        // Warm up: one pass over a few sequences in every mode so the first slice is not mostly JIT.
        foreach (var t in tallies)
            foreach (var s in workload.Take(4)) Runner.Run(s, t.Oracle);
        bool first = true;
        while (first || (tallies.Any(t => t.Elapsed < budgetPerMode) && !cancel.IsCancellationRequested))
        {
            foreach (var t in tallies.Where(t => first || t.Elapsed < budgetPerMode))
            {
                var slice = Min(Slice, budgetPerMode - t.Elapsed);
                t.RunFor(workload, slice);
            }
            first = false;
        }
        return tallies.Select(t => new BenchResult(t.Mode, t.Sequences, t.Operations, t.Failed, t.Elapsed)).ToArray();
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private sealed class Tally(string mode, Func<IOracle> oracle)
    {
        public string Mode { get; } = mode;
        public Func<IOracle> Oracle { get; } = oracle;
        public long Sequences { get; private set; }
        public long Operations { get; private set; }
        public long Failed { get; private set; }
        public TimeSpan Elapsed { get; private set; }

        /// <summary>Runs whole sequences for about <paramref name="slice"/> (at least one).</summary>
        public void RunFor(IReadOnlyList<Scenario> workload, TimeSpan slice)
        {
            var clock = Stopwatch.StartNew();
            do
            {
                var report = Runner.Run(workload[(int)(Sequences % workload.Count)], Oracle);
                Sequences++;
                Operations += report.Steps.Count(s => !s.Result.Skipped);
                if (report.Failed) Failed++;
            }
            while (clock.Elapsed < slice);
            Elapsed += clock.Elapsed;
        }
    }
}
