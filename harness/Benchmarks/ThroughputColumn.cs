// SPDX-License-Identifier: GPL-2.0-only
using System.Globalization;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Iommufd.Benchmarks;

/// <summary>Adds sequences/s and operations/s to the summary, from the mean time per sequence.</summary>
public sealed class ThroughputConfig : ManualConfig
{
    public ThroughputConfig()
    {
        AddColumn(new ThroughputColumn(perOperation: false));
        AddColumn(new ThroughputColumn(perOperation: true));
    }
}

/// <summary>
/// A summary column: sequences per second (1 / mean time per sequence) or operations per second
/// (that times the operations per sequence of the workload, counted by running it once in the
/// host process with the same oracle setting; the workload is deterministic).
/// </summary>
public sealed class ThroughputColumn(bool perOperation) : IColumn
{
    public string Id => perOperation ? "OpsPerSecond" : "SequencesPerSecond";
    public string ColumnName => perOperation ? "ops/s" : "seq/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => perOperation ? 1 : 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => perOperation
        ? "Operations per second: sequences per second times the workload's operations per sequence"
        : "Sequences per second: each sequence runs from a fresh world, teardown included";

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) =>
        GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var stats = summary[benchmarkCase]?.ResultStatistics;
        if (stats is null || stats.Mean <= 0)
            return "NA";
        double sequencesPerSecond = 1e9 / stats.Mean;
        if (!perOperation)
            return sequencesPerSecond.ToString("F1", CultureInfo.InvariantCulture);
        bool oracleOn = benchmarkCase.Parameters.Items.Any(p => p.Name == nameof(HarnessBenchmarks.Oracle) && p.Value is true);
        double opsPerSequence = (double)Workload.Operations(oracleOn) / Workload.Sequences;
        return (sequencesPerSecond * opsPerSequence).ToString("F0", CultureInfo.InvariantCulture);
    }

    public override string ToString() => ColumnName;
}
