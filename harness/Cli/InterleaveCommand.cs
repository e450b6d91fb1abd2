// SPDX-License-Identifier: GPL-2.0-only
using System.CommandLine;
using System.Globalization;
using Iommufd.Harness.Execution;
using Iommufd.Harness.Scheduling;

namespace Iommufd.Cli;

/// <summary>
/// <c>interleave</c>: generates concurrent scenarios (a sequential setup, then 2..3 threads of
/// operations on one world) and runs each under many schedules of a controlled scheduler
/// (random walk, PCT, delay bounding or preemption-bounded DFS). On the first WARN/lockdep report,
/// crash, deadlock, step-budget exhaustion or teardown leak it shrinks the scenario, prints it with
/// the interleaving and the violation, and writes an <c>iommufd-sched1:</c> reproducer to a file.
/// </summary>
public static class InterleaveCommand
{
    public const long DefaultIterations = 200;
    public const int DefaultSchedules = 50;
    public const double DefaultSeconds = 60;

    public static Command Create(CliContext context)
    {
        var strategy = new Option<string>("--strategy")
        {
            Description = "The scheduling strategy: random (a uniformly random runnable thread at every decision), pct (probabilistic concurrency testing with depth --depth), " +
                          "delay (round robin with at most --bound delays at random decisions), delay-dfs (every placement of at most --bound delays, depth first) or pb-dfs (every schedule with at most --bound preemptions, depth first, c = 0, 1, ...).",
            DefaultValueFactory = _ => "pct",
            HelpName = "name",
            CustomParser = r =>
            {
                string name = r.Tokens.Count == 0 ? "" : r.Tokens[0].Value;
                if (!StrategySpec.IsKnown(name))
                    r.AddError($"--strategy must be one of {string.Join(", ", StrategySpec.Names)}, not '{name}'");
                return name;
            },
        };
        var seed = new Option<ulong?>("--seed", "-s")
        {
            Description = "The master seed (unsigned 64-bit). Scenarios and strategy seeds derive from it, so the same seed and budgets give the same run. Without it a seed is taken from the clock and printed.",
            HelpName = "number",
            CustomParser = r => OptionParsers.Seed(r, "--seed"),
        };
        var iterations = new Option<long>("--iterations", "-n")
        {
            Description = "The largest number of concurrent scenarios to generate. 0 removes this limit.",
            DefaultValueFactory = _ => DefaultIterations,
            CustomParser = r => OptionParsers.Integer(r, "--iterations", 0, long.MaxValue, "0 (no limit) or a positive number of scenarios"),
            HelpName = "count",
        };
        var schedules = new Option<int>("--schedules")
        {
            Description = "The largest number of schedules run per scenario (pb-dfs stops earlier when it has enumerated every schedule within its bound).",
            DefaultValueFactory = _ => DefaultSchedules,
            CustomParser = r => (int)OptionParsers.Integer(r, "--schedules", 1, 1_000_000, "a whole number between 1 and 1000000"),
            HelpName = "count",
        };
        var depth = new Option<int>("--depth", "-d")
        {
            Description = "PCT's bug depth d: d-1 priority change points per schedule.",
            DefaultValueFactory = _ => 2,
            CustomParser = r => (int)OptionParsers.Integer(r, "--depth", 1, 100, "a whole number between 1 and 100"),
            HelpName = "d",
        };
        var bound = new Option<int>("--bound", "-b")
        {
            Description = "The delay bound (delay, delay-dfs) or preemption bound (pb-dfs).",
            DefaultValueFactory = _ => 2,
            CustomParser = r => (int)OptionParsers.Integer(r, "--bound", 0, 100, "a whole number between 0 and 100"),
            HelpName = "n",
        };
        var patch = OptionParsers.PatchOption(
            "Switches on a named model patch. Repeat the option to switch on several. The patches command lists the names.");
        var time = new Option<double>("--time", "-t")
        {
            Description = "The time budget in seconds; no new scenario starts after it is spent. 0 removes this limit.",
            DefaultValueFactory = _ => DefaultSeconds,
            CustomParser = r => OptionParsers.Seconds(r, "--time", 0, allowMin: true, "0 (no limit) or a positive number of seconds"),
            HelpName = "seconds",
        };
        var reproFile = new Option<string?>("--repro-file", "-o")
        {
            Description = "The file the reproducer of a failure is written to (default repro/interleave-<seed>.txt).",
            HelpName = "path",
        };
        var quiet = new Option<bool>("--quiet", "-q")
        {
            Description = "Suppresses the progress lines printed to the standard error stream.",
        };
        var heapEvery = OptionParsers.HeapEveryOption("scenarios");
        var command = new Command("interleave",
            "Explores thread interleavings: generates concurrent scenarios (a setup, then 2 or 3 threads of operations on the same objects) and runs each under " +
            "many schedules of a controlled scheduler that serialises the threads and chooses who runs at every lock operation and scheduling point. " +
            "A WARN or lockdep report, a crash, a deadlock, an exhausted step budget or a leak after teardown is a violation: it is shrunk and printed with " +
            "the interleaving, and its reproducer (which replay accepts) is written to a file. Exit code 0 means nothing was found, 1 a violation, 2 bad usage.")
        {
            strategy, seed, iterations, schedules, depth, bound, patch, time, reproFile, quiet, heapEvery,
        };
        command.SetAction(parse =>
        {
            long n = parse.GetValue(iterations);
            double seconds = parse.GetValue(time);
            if (n == 0 && seconds == 0)
                throw new UsageException("--iterations 0 and --time 0 together leave no budget; give at least one of them");
            ulong masterSeed = parse.GetValue(seed) ?? (ulong)DateTime.UtcNow.Ticks;
            var settings = new InterleaveSettings(
                new StrategySpec(parse.GetValue(strategy)!, parse.GetValue(depth), parse.GetValue(bound)),
                masterSeed, n, parse.GetValue(schedules), seconds == 0 ? null : TimeSpan.FromSeconds(seconds),
                (parse.GetValue(patch) ?? []).ToArray(),
                parse.GetValue(reproFile) ?? Path.Combine("repro", $"interleave-{masterSeed.ToString(CultureInfo.InvariantCulture)}.txt"),
                parse.GetValue(quiet),
                parse.GetValue(heapEvery));
            return Execute(context, settings);
        });
        return command;
    }

    /// <summary>The parsed options of one interleave run.</summary>
    public sealed record InterleaveSettings(StrategySpec Strategy, ulong Seed, long Iterations, int Schedules, TimeSpan? Time,
        IReadOnlyList<string> Patches, string ReproFile, bool Quiet, long HeapEvery = 0);

    public static int Execute(CliContext context, InterleaveSettings s)
    {
        var output = context.Out;
        var ci = CultureInfo.InvariantCulture;
        IInterleavingEngine engine = new ControlledEngine(s.Strategy);
        var system = PortSystem.Instance;
        output.WriteLine($"{Program.Name} interleave: seed {s.Seed}, engine {engine.Name}, strategy {engine.Strategy}, " +
                         $"budget {(s.Iterations > 0 ? $"{s.Iterations} scenarios" : "no scenario limit")} x {s.Schedules} schedules" +
                         $"{(s.Time is { } t ? $" or {t.TotalSeconds.ToString(ci)} s" : "")}, " +
                         $"model {(s.Patches.Count == 0 ? "as released" : "with " + string.Join(",", s.Patches))}, code {system.Id}");
        var observer = new CliObserver(context, "scenarios", "schedules", s.ReproFile, s.Quiet, s.HeapEvery);
        var result = InterleaveExplorer.Explore(new InterleaveOptions
        {
            Engine = engine,
            System = system,
            Seed = s.Seed,
            Iterations = s.Iterations,
            Schedules = s.Schedules,
            TimeBudget = s.Time,
            Patches = s.Patches,
            Oracle = context.Services.Oracle,
            Observer = observer,
            Cancel = context.Cancel,
        });
        var st = result.Stats;
        double seconds = Math.Max(st.Elapsed.TotalSeconds, 1e-9);
        output.WriteLine();
        output.WriteLine(result.Interrupted ? "summary (interrupted):" : "summary:");
        output.WriteLine($"  scenarios:           {st.Scenarios}");
        output.WriteLine($"  schedules:           {st.Schedules}");
        output.WriteLine($"  decision points:     {st.Decisions}");
        output.WriteLine($"  exhausted scenarios: {st.ExhaustedScenarios} (every schedule within the bound was run)");
        output.WriteLine($"  elapsed:             {st.Elapsed.TotalSeconds.ToString("F2", ci)} s");
        output.WriteLine($"  schedules/s:         {(st.Schedules / seconds).ToString("F1", ci)}");
        output.WriteLine($"  decisions/s:         {(st.Decisions / seconds).ToString("F0", ci)}");
        if (result.Finding is not { } f)
        {
            output.WriteLine("  found:               nothing");
            return Program.ExitClean;
        }
        string shrunkViolation = InterleaveRenderer.Describe(f.Shrunk.Violation, f.Shrunk.Scenario);
        observer.Save(f.Reproducer, $"interleave --seed {s.Seed}: {shrunkViolation}");
        output.WriteLine($"  found:               {InterleaveRenderer.Describe(f.Original.Violation!, f.Original.Scenario)} (scenario {f.Iteration})");
        output.WriteLine();
        output.WriteLine($"VIOLATION: {shrunkViolation}");
        output.WriteLine($"minimal scenario ({f.Shrunk.Scenario.OperationCount} of {f.Original.Scenario.OperationCount} operations, {f.Shrunk.Runs} shrink runs), as replayed:");
        output.Write(InterleaveRenderer.Render(f.ShrunkReport));
        observer.ReportSaved();
        return Program.ExitViolation;
    }
}
