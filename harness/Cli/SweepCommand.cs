// SPDX-License-Identifier: GPL-2.0-only
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Iommufd.Harness.Execution;
using Iommufd.Harness.Exploration;
using Iommufd.Harness.FaultInjection;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Repro;

namespace Iommufd.Cli;

/// <summary>
/// <c>sweep</c>: fail-nth over one sequence. For every operation (and the teardown) and
/// N = 1, 2, ... the sequence is run again with only the N-th fault-site hit of that operation
/// failing, until the operation reaches no N-th site; every run is checked after every step, with
/// the all-or-nothing and destroy-never-fails checks, and for leaks after teardown.
/// </summary>
public static class SweepCommand
{
    public static Command Create(CliContext context)
    {
        var input = new Argument<string?>("reproducer")
        {
            Description = "The sequence to sweep: a reproducer string or a file that holds one. Without it, sequences are generated from --seed.",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var seed = new Option<ulong?>("--seed", "-s")
        {
            Description = "Generate the sequences to sweep from this seed (used when no reproducer is given; default 1).",
            HelpName = "number",
            CustomParser = r => OptionParsers.Seed(r, "--seed"),
        };
        var count = new Option<long>("--sequences")
        {
            Description = "How many generated sequences to sweep (without a reproducer). Default 60.",
            DefaultValueFactory = _ => 60,
            CustomParser = r => OptionParsers.Integer(r, "--sequences", 1, 1_000_000, "a positive number of sequences"),
            HelpName = "count",
        };
        var maxSize = new Option<int>("--max-size")
        {
            Description = "The largest size of a generated sequence (without a reproducer). Default 60.",
            DefaultValueFactory = _ => 60,
            CustomParser = r => (int)OptionParsers.Integer(r, "--max-size", 1, 100_000, "a whole number between 1 and 100000"),
            HelpName = "size",
        };
        var maxN = new Option<long>("--max-n")
        {
            Description = "The largest N tried per operation (the kernel's fail-nth stops below 400). Default 400.",
            DefaultValueFactory = _ => 400,
            CustomParser = r => OptionParsers.Integer(r, "--max-n", 1, 1_000_000, "a positive number"),
            HelpName = "n",
        };
        var consecutive = new Option<long>("--consecutive", "-c")
        {
            Description = "Fail this many consecutive hits from each N instead of one. By default every sequence is swept twice: once failing single hits (the kernel's fail-nth) and once failing two in a row, which reaches the fallbacks that run only after a first failure (temp_kmalloc's page retries, xas_nomem).",
            DefaultValueFactory = _ => 0,
            CustomParser = r => OptionParsers.Integer(r, "--consecutive", 1, 64, "a number of hits from 1 to 64"),
            HelpName = "count",
        };
        var patch = OptionParsers.PatchOption(
            "Switches on a named model patch for the sequences swept (repeatable); a reproducer keeps its own patches and gets these added.");
        var noOracle = new Option<bool>("--no-oracle")
        {
            Description = "Check only crashes, all-or-nothing and destroy-never-fails, not the specification's invariants.",
        };
        var reproFile = new Option<string?>("--repro-file")
        {
            Description = "Where to write the reproducer of the first failing run (default repro/sweep-<seed>.txt).",
            HelpName = "path",
        };
        var heapEvery = OptionParsers.HeapEveryOption("fault-injected runs");
        var quiet = new Option<bool>("--quiet", "-q")
        {
            Description = "Suppresses the progress lines printed to the standard error stream.",
        };
        var command = new Command("sweep",
            "Runs fail-nth over a sequence: every fault site every operation reaches is failed in turn, one run each, and every run " +
            "is checked. Prints, per fault site, how often it was reached, failed and recovered from, and the first failing run's " +
            "reproducer. Exit code 0 when every failure was recovered from, 1 when a run broke an invariant, 2 for bad input.")
        {
            input, seed, count, maxSize, maxN, consecutive, patch, noOracle, reproFile, heapEvery, quiet,
        };
        command.SetAction(parse =>
        {
            string? repro = parse.GetValue(input);
            ulong s = parse.GetValue(seed) ?? 1;
            var patches = parse.GetValue(patch) ?? [];
            var loaded = repro is null ? null : ReplayCommand.Load(repro);
            var system = context.Services.System(loaded?.Backend);
            IEnumerable<Scenario> sequences = loaded is null
                ? ScenarioGenerator.Workload(s, (int)parse.GetValue(count), parse.GetValue(maxSize))
                : [loaded with { FaultPlan = "none" }];
            var oracle = context.Services.OracleWhen(!parse.GetValue(noOracle));
            string path = parse.GetValue(reproFile) ?? Path.Combine("repro", $"sweep-{s}.txt");
            var observer = new CliObserver(context, "fault-injected runs", "sequences swept", path, parse.GetValue(quiet), parse.GetValue(heapEvery));
            var started = Stopwatch.StartNew();
            var tally = new SweepTally();
            long c = parse.GetValue(consecutive);
            long[] runsOf = c == 0 ? [1, 2] : [c];
            foreach (var sequence in sequences)
            {
                var scenario = sequence with { Patches = sequence.Patches.Union(patches, StringComparer.Ordinal).ToArray() };
                foreach (long k in runsOf)
                {
                    if (context.Cancel.IsCancellationRequested)
                        break;
                    tally.Add(FailNthSweep.Run(scenario, oracle, (int)parse.GetValue(maxN), consecutive: k, system: system));
                    observer.OnRun(new ExplorationProgress(tally.Runs, tally.Sequences, started.Elapsed));
                }
            }
            Print(context.Out, tally, started.Elapsed);
            if (tally.FirstFailure is not { } firstFailure)
                return Program.ExitClean;
            string text = ReproducerCodec.Encode(firstFailure.Report.Scenario);
            observer.Save(text, firstFailure.Report.Violation!.ToString());
            context.Out.WriteLine();
            context.Out.WriteLine($"first failing run: operation {firstFailure.Step}, hit {firstFailure.N} ({firstFailure.Injected?.Site})");
            context.Out.WriteLine(firstFailure.Report.Violation!.ToString());
            context.Out.WriteLine($"reproducer (also in {path}):");
            context.Out.WriteLine(text);
            return Program.ExitViolation;
        });
        return command;
    }

    private static void Print(TextWriter output, SweepTally tally, TimeSpan elapsed)
    {
        var sites = tally.Sites.ToList();
        var known = Iommufd.Faults.FaultSites.Catalog.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var site in known.Where(k => sites.All(s => s.Site != k)).Order(StringComparer.Ordinal))
            sites.Add(new SiteStats(site, 0, 0, 0));
        sites.Sort((a, b) => string.CompareOrdinal(a.Site, b.Site));
        output.WriteLine($"sweep: {tally.Sequences} sequence(s), {tally.Runs} runs, " +
                         $"{tally.FaultsInjected} faults injected, {tally.FailingRuns} failing runs, " +
                         $"{elapsed.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture)} s");
        Tables.Write(output, ["site", "reached", "failed", "recovered", "known"],
            sites.Select(s => new[]
            {
                s.Site, s.Reached.ToString(CultureInfo.InvariantCulture), s.Failed.ToString(CultureInfo.InvariantCulture),
                s.Recovered.ToString(CultureInfo.InvariantCulture), known.Contains(s.Site) ? "yes" : "NEW",
            }));

        // Destroy paths: every site a destroying operation (or the teardown) reached was failed
        // in turn by the sweep; a failure it did not recover from is a destroy path that depends
        // on a fallible allocation without a fallback.
        output.WriteLine();
        output.WriteLine("destroy paths (every site they reach, failed in turn; recovered = the destroy completed and left a correct state):");
        Tables.Write(output, ["destroy path", "site", "failed", "recovered"],
            tally.DestroyPaths.Select(d => new[]
            {
                d.Path, d.Site, d.Failed.ToString(CultureInfo.InvariantCulture), d.Recovered.ToString(CultureInfo.InvariantCulture),
            }).ToList(), rightAlignedFrom: 2);
    }
}
