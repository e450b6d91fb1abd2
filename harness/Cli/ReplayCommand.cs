// SPDX-License-Identifier: GPL-2.0-only
using System.CommandLine;
using Iommufd.Faults;
using Iommufd.Harness.Exploration;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Repro;
using Iommufd.Harness.Scheduling;
using Iommufd.Model.Port;
using Iommufd.Model.Patches;

namespace Iommufd.Cli;

/// <summary>
/// <c>replay</c>: runs one reproducer exactly and prints the run as text. The output holds no
/// timings, so two replays of the same reproducer print the same bytes.
/// </summary>
public static class ReplayCommand
{
    public static Command Create(CliContext context)
    {
        var input = new Argument<string>("reproducer")
        {
            Description = $"Either a reproducer string, which starts with '{ReproducerCodec.Prefix}' (a sequence) or '{InterleaveReproducerCodec.Prefix}' (a concurrent run from interleave), or the path of a file that holds one " +
                          "(as explore writes them: lines starting with '#' are comments, the first other line is the reproducer).",
        };
        var command = new Command("replay",
            "Replays a reproducer exactly: the same model variant, fault plan and operations. It prints every operation with its result, " +
            "the invariant that broke and at which step, the relevant state and the reproducer. Exit code 0 means the replay is clean, " +
            "1 that it shows a violation, 2 that the input is not a valid reproducer.")
        {
            input,
        };
        command.SetAction(parse =>
        {
            string argument = parse.GetValue(input) ?? "";
            if (IsInterleave(argument))
            {
                var r = LoadInterleave(argument);
                var (report, text) = InterleaveExplorer.Replay(r, context.Services.System(r.Scenario.Backend));
                context.Out.Write(text);
                return report.Failed ? Program.ExitViolation : Program.ExitClean;
            }
            var scenario = Load(argument);
            var replay = new Explorer(context.Services.Oracle).Replay(scenario, context.Services.System(scenario.Backend));
            context.Out.Write(replay.Text);
            return replay.Report.Failed ? Program.ExitViolation : Program.ExitClean;
        });
        return command;
    }

    /// <summary>Whether the argument is (or is a file holding) an <c>iommufd-sched1:</c> reproducer.</summary>
    private static bool IsInterleave(string argument)
    {
        string text = argument.Trim();
        if (InterleaveReproducerCodec.Recognises(text))
            return true;
        return !text.StartsWith(ReproducerCodec.Prefix, StringComparison.Ordinal) && File.Exists(argument)
               && InterleaveReproducerCodec.Recognises(ReadFile(argument));
    }

    /// <summary>Reads a concurrent reproducer from a string or a file and checks its patches and
    /// fault plan; anything wrong is a <see cref="UsageException"/>.</summary>
    public static InterleaveReproducer LoadInterleave(string argument)
    {
        string text = argument.Trim();
        var r = Decode(InterleaveReproducerCodec.Recognises(text) ? text : ReadFile(argument), InterleaveReproducerCodec.Recognises,
            InterleaveReproducerCodec.Decode);
        CheckModelAndPlan(r.Scenario.Patches, r.Scenario.FaultPlan);
        return r;
    }

    /// <summary>Reads a reproducer from a string or a file and checks it names only known patches
    /// and a valid fault plan; anything wrong is a <see cref="UsageException"/>.</summary>
    public static Scenario Load(string argument)
    {
        var scenario = Decode(argument, t => t.StartsWith(ReproducerCodec.Prefix, StringComparison.Ordinal), ReproducerCodec.Decode);
        if (scenario.Ops is null || scenario.Patches is null || scenario.FaultPlan is null)
            throw new UsageException("malformed reproducer: the scenario lacks its operations, patches or fault plan");
        if (scenario.Ops.Any(op => op is null))
            throw new UsageException("malformed reproducer: the scenario holds an empty operation");
        CheckModelAndPlan(scenario.Patches, scenario.FaultPlan);
        return scenario;
    }

    /// <summary>Decodes the argument, or the file it names when it is not itself a reproducer of
    /// the kind <paramref name="isReproducer"/> recognises; a decoding error is a <see cref="UsageException"/>.</summary>
    private static T Decode<T>(string argument, Func<string, bool> isReproducer, Func<string, T> decode)
    {
        string text = argument.Trim();
        if (!isReproducer(text))
            text = ReadFile(argument);
        try
        {
            return decode(text);
        }
        catch (FormatException e)
        {
            throw new UsageException($"malformed reproducer: {e.Message}");
        }
    }

    /// <summary>A reproducer may name only known patches and a fault plan that parses.</summary>
    private static void CheckModelAndPlan(IEnumerable<string> patches, string faultPlan)
    {
        foreach (string patch in patches)
            if (!ModelPatches.IsKnown(patch))
                throw new UsageException($"the reproducer names the unknown patch '{patch}' (the patches command lists the known ones)");
        try
        {
            FaultPlanParser.Parse(faultPlan);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            throw new UsageException($"the reproducer's fault plan is invalid: {e.Message}");
        }
    }

    private static string ReadFile(string path)
    {
        if (path.Length == 0)
            throw new UsageException("replay needs a reproducer string or a file that holds one");
        if (!File.Exists(path))
            throw new UsageException(Directory.Exists(path)
                ? $"'{path}' is a directory, not a reproducer file"
                : $"'{path}' is neither a reproducer string (which starts with '{ReproducerCodec.Prefix}') nor an existing file");
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"cannot read '{path}': {e.Message}");
        }
        var content = lines.Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToArray();
        if (content.Length == 0)
            throw new UsageException($"'{path}' holds no reproducer (it is empty or only comments)");
        return content[0];
    }
}
