// SPDX-License-Identifier: GPL-2.0-only
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Iommufd.Harness.Execution;
using Iommufd.Harness.Exploration;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;
using Iommufd.Harness.Repro;
using Iommufd.Model.Port;

namespace Iommufd.Cli;

/// <summary>
/// <c>explore</c>: runs generated sequences until a budget is spent or a violation is found; on a
/// violation prints the shrunk sequence, the invariant, the step, the state and the reproducer,
/// and writes the reproducer to a file (first the unshrunk one at once, then the shrunk one).
/// </summary>
public static class ExploreCommand
{
    public const long DefaultIterations = 2000;
    public const double DefaultSeconds = 60;
    public const int DefaultMaxSize = 100;

    public static Command Create(CliContext context)
    {
        var iterations = new Option<long>("--iterations", "-n")
        {
            Description = $"The largest number of sequences to generate and run. The run stops at this count, at the time budget or at the first violation, whichever comes first. 0 removes this limit.",
            DefaultValueFactory = _ => DefaultIterations,
            CustomParser = r => OptionParsers.Integer(r, "--iterations", 0, long.MaxValue, "0 (no limit) or a positive number of sequences"),
            HelpName = "count",
        };
        var time = new Option<double>("--time", "-t")
        {
            Description = $"The time budget in seconds. No new sequence starts after it is spent. 0 removes this limit.",
            DefaultValueFactory = _ => DefaultSeconds,
            CustomParser = r => OptionParsers.Seconds(r, "--time", 0, allowMin: true, "0 (no limit) or a positive number of seconds"),
            HelpName = "seconds",
        };
        var seed = new Option<ulong?>("--seed", "-s")
        {
            Description = "The master seed, an unsigned 64-bit number. Every sequence is derived from it, so the same seed and iteration budget give the same run. Without it a seed is taken from the clock and printed so the run can be repeated.",
            HelpName = "number",
            CustomParser = r => OptionParsers.Seed(r, "--seed"),
        };
        var maxSize = new Option<int>("--max-size")
        {
            Description = $"The largest size of a generated sequence: it scales the number of operations and the lengths of memory regions and mappings. It must be between 1 and 100000.",
            DefaultValueFactory = _ => DefaultMaxSize,
            CustomParser = r => (int)OptionParsers.Integer(r, "--max-size", 1, 100_000, "a whole number between 1 and 100000"),
            HelpName = "size",
        };
        var patch = OptionParsers.PatchOption(
            "Switches on a named model patch, so the run checks a proposed fix instead of the code as released. Repeat the option to switch on several. The patches command lists the names.");
        var noOracle = new Option<bool>("--no-oracle")
        {
            Description = "Runs the sequences without checking invariants after each step. Only crashes of the model are still reported. This measures the cost of the oracle; it is not a way to test.",
        };
        var reproFile = new Option<string?>("--repro-file", "-o")
        {
            Description = "The file the reproducer string of a violation is written to; its directory is created if needed. The default is repro/<seed>.txt under the current directory.",
            HelpName = "path",
        };
        var faults = new Option<bool>("--faults", "-f")
        {
            Description = "Mixes fault injection into the run: a third of the sequences get a seeded probabilistic fault plan over every fault site (the plan is part of each reproducer). Without it no fault is injected.",
        };
        var quiet = new Option<bool>("--quiet", "-q")
        {
            Description = "Suppresses the progress lines that long runs print to the standard error stream every few seconds. The summary and any violation are still printed.",
        };

        var heapEvery = OptionParsers.HeapEveryOption("sequences");
        var command = new Command("explore",
            "Generates operation sequences from a seed, runs each against the model with the invariant oracle, and stops at the first violation, " +
            "which it shrinks to a minimal sequence, prints with its reproducer string and writes to a file. At the end it prints a summary. " +
            "Exit code 0 means nothing was found, 1 a violation, 2 bad usage.")
        {
            iterations, time, seed, maxSize, patch, noOracle, faults, reproFile, quiet, heapEvery,
        };
        command.SetAction(parse =>
        {
            long n = parse.GetValue(iterations);
            double seconds = parse.GetValue(time);
            if (n == 0 && seconds == 0)
                throw new UsageException("--iterations 0 and --time 0 together leave no budget; give at least one of them");
            ulong masterSeed = parse.GetValue(seed) ?? ClockSeed();
            var settings = new ExploreSettings(
                n == 0 ? null : n,
                seconds == 0 ? null : TimeSpan.FromSeconds(seconds),
                masterSeed,
                parse.GetValue(maxSize),
                (parse.GetValue(patch) ?? []).Distinct(StringComparer.Ordinal).ToArray(),
                !parse.GetValue(noOracle),
                parse.GetValue(reproFile) ?? Path.Combine("repro", masterSeed.ToString(CultureInfo.InvariantCulture) + ".txt"),
                parse.GetValue(quiet),
                parse.GetValue(faults),
                parse.GetValue(heapEvery));
            return Execute(context, settings);
        });
        return command;
    }

    /// <summary>The parsed options of one explore run.</summary>
    public sealed record ExploreSettings(long? Iterations, TimeSpan? Time, ulong Seed, int MaxSize,
        IReadOnlyList<string> Patches, bool OracleOn, string ReproFile, bool Quiet, bool MixFaults = false, long HeapEvery = 0);

    public static int Execute(CliContext context, ExploreSettings s)
    {
        var output = context.Out;
        var system = PortSystem.Instance;
        string budget = string.Join(" or ", new[]
        {
            s.Iterations is { } n ? $"{n} sequences" : null,
            s.Time is { } t ? $"{t.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s" : null,
        }.OfType<string>());
        output.WriteLine($"{Program.Name} explore: seed {s.Seed}, budget {budget}, max size {s.MaxSize}, " +
                         $"model {(s.Patches.Count == 0 ? "as released" : "with " + string.Join(",", s.Patches))}, " +
                         $"oracle {(s.OracleOn ? "on" : "off")}, faults {(s.MixFaults ? "mixed in" : "none")}, code {system.Id}");

        var observer = new CliObserver(context, "sequences", "operations", s.ReproFile, s.Quiet, s.HeapEvery);
        var explorer = new Explorer(context.Services.OracleWhen(s.OracleOn));
        var result = explorer.Explore(new ExploreOptions
        {
            Iterations = s.Iterations is { } iterations ? (int)Math.Min(iterations, int.MaxValue) : 0,
            TimeBudget = s.Time,
            Seed = s.Seed,
            MaxSize = Math.Min(s.MaxSize, GenerationOptions.MaxSize),
            Patches = s.Patches,
            MixFaultPlans = s.MixFaults,
            System = system,
            Observer = observer,
            Cancel = context.Cancel,
        });

        Summary.Write(output, result.Stats, result.Interrupted);
        if (result.Finding is { } f)
        {
            var replay = explorer.Replay(f.Shrunk, system);
            var violation = replay.Report.Violation ?? f.Violation;
            observer.Save(f.Reproducer, $"explore --seed {s.Seed}: {violation}");
            output.WriteLine();
            // An interrupt while shrinking keeps what was found, as far as it was shrunk.
            output.WriteLine(result.Interrupted
                ? $"VIOLATION (shrinking was interrupted, the sequence may not be minimal): {violation}"
                : $"VIOLATION: {violation}");
            output.WriteLine($"{(result.Interrupted ? "sequence" : "minimal sequence")} ({f.Shrunk.Ops.Count} of {f.Original.Ops.Count} operations), as replayed:");
            output.Write(replay.Text);
            observer.ReportSaved();
            return Program.ExitViolation;
        }
        return Program.ExitClean;
    }

    private static ulong ClockSeed() => (ulong)DateTime.UtcNow.Ticks ^ (ulong)Environment.ProcessId << 40;
}
