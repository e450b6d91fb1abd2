// SPDX-License-Identifier: GPL-2.0-only
using System.CommandLine;
using System.Globalization;
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;

namespace Iommufd.Cli;

/// <summary><c>bench</c>: the quick throughput measurement, oracle on and off.</summary>
public static class BenchCommand
{
    public const double DefaultSeconds = 10;
    public const ulong DefaultSeed = 1;
    public const int DefaultSequences = 64;

    public static Command Create(CliContext context)
    {
        var seconds = new Option<double>("--seconds")
        {
            Description = $"The total measuring time in seconds, split evenly between the run with the oracle and the run without it.",
            DefaultValueFactory = _ => DefaultSeconds,
            CustomParser = r => OptionParsers.Seconds(r, "--seconds", 0, allowMin: false, "a positive number of seconds"),
            HelpName = "seconds",
        };
        var seed = new Option<ulong>("--seed")
        {
            Description = $"The seed the fixed workload is generated from, so that measurements on different days compare.",
            DefaultValueFactory = _ => DefaultSeed,
            HelpName = "number",
            CustomParser = r => OptionParsers.Seed(r, "--seed") ?? DefaultSeed,
        };
        var sequences = new Option<int>("--sequences")
        {
            Description = $"The number of distinct sequences in the workload, which is run round-robin.",
            DefaultValueFactory = _ => DefaultSequences,
            CustomParser = r => (int)OptionParsers.Integer(r, "--sequences", 1, 1_000_000, "a whole number between 1 and 1000000"),
            HelpName = "count",
        };
        var maxSize = new Option<int>("--max-size")
        {
            Description = $"The largest size of a generated sequence, as for explore.",
            DefaultValueFactory = _ => ExploreCommand.DefaultMaxSize,
            CustomParser = r => (int)OptionParsers.Integer(r, "--max-size", 1, 100_000, "a whole number between 1 and 100000"),
            HelpName = "size",
        };
        var command = new Command("bench",
            "Measures throughput without BenchmarkDotNet: runs a fixed workload of generated sequences for a time budget, first with the " +
            "oracle and then without it, and prints operations per second and sequences per second for both. It reports and never fails " +
            "on a number; the BenchmarkDotNet suite in harness/Benchmarks gives the careful measurement.")
        {
            seconds, seed, sequences, maxSize,
        };
        command.SetAction(parse =>
        {
            var services = context.Services;
            var workload = ScenarioGenerator.Workload(parse.GetValue(seed), parse.GetValue(sequences), parse.GetValue(maxSize)).ToArray();
            var half = TimeSpan.FromSeconds(parse.GetValue(seconds) / 2);
            var results = QuickBench.Measure([("oracle on", services.OracleWhen(true)), ("oracle off", services.OracleWhen(false))],
                workload, half, context.Cancel);
            context.Out.WriteLine($"{Program.Name} bench: {workload.Length} sequences (seed {parse.GetValue(seed)}, max size {parse.GetValue(maxSize)}), " +
                                  $"{half.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s per mode, code {PortSystem.PortId}");
            Tables.Write(context.Out, ["mode", "sequences", "operations", "seconds", "sequences/s", "operations/s", "failed sequences"],
                results.Select(r => new[]
                {
                    r.Mode,
                    r.Sequences.ToString(CultureInfo.InvariantCulture),
                    r.Operations.ToString(CultureInfo.InvariantCulture),
                    r.Elapsed.TotalSeconds.ToString("F2", CultureInfo.InvariantCulture),
                    r.SequencesPerSecond.ToString("F1", CultureInfo.InvariantCulture),
                    r.OperationsPerSecond.ToString("F0", CultureInfo.InvariantCulture),
                    r.Failed.ToString(CultureInfo.InvariantCulture),
                }));
            double overhead = results[1].OperationsPerSecond / Math.Max(results[0].OperationsPerSecond, 1e-9);
            context.Out.WriteLine($"oracle cost: the run without the oracle is {overhead.ToString("F2", CultureInfo.InvariantCulture)}x as fast");
            return Program.ExitClean;
        });
        return command;
    }
}
