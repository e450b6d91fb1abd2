// SPDX-License-Identifier: GPL-2.0-only
using System.CommandLine;
using System.CommandLine.Invocation;

namespace Iommufd.Cli;

/// <summary>Bad command-line input, a bad reproducer or a bad file: one line on stderr, exit 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>What every command needs: where to write, when to stop, what to check with and run on.</summary>
public sealed record CliContext(TextWriter Out, TextWriter Err, CancellationToken Cancel, CliServices Services);

/// <summary>
/// iommufd-verify: explores operation sequences against the pages.c model, replays reproducers,
/// lists the named model patches and measures throughput. Exit codes: 0 nothing found,
/// 1 a violation found, 2 bad usage or input.
/// </summary>
public static class Program
{
    public const int ExitClean = 0;
    public const int ExitViolation = 1;
    public const int ExitUsage = 2;
    public const string Name = "iommufd-verify";

    public static int Main(string[] args)
    {
        using var interrupt = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            // The first Ctrl+C stops the run cleanly so whatever was found is still reported;
            // a second one is left to the default handler.
            if (interrupt.IsCancellationRequested) return;
            e.Cancel = true;
            interrupt.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            return Run(args, Console.Out, Console.Error, interrupt.Token);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>The whole program, in-process: parses <paramref name="args"/>, runs the command,
    /// writes to the given writers and returns the exit code.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error, CancellationToken cancel = default,
        CliServices? services = null)
    {
        var context = new CliContext(output, error, cancel, services ?? CliServices.Default);
        var root = BuildCommand(context);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0 && parse.Action is ParseErrorAction or null)
            return Usage(error, FirstError(parse));
        try
        {
            return parse.Invoke(new InvocationConfiguration
            {
                Output = output,
                Error = error,
                EnableDefaultExceptionHandler = false,
            });
        }
        catch (UsageException e)
        {
            return Usage(error, e.Message);
        }
    }

    public static RootCommand BuildCommand(CliContext context)
    {
        var root = new RootCommand(
            "Verification harness for the iommufd PFN storage of Linux v6.2 (drivers/iommu/iommufd/pages.c). " +
            "It runs generated operation sequences against a faithful C# model of pages.c, checks every invariant " +
            "after every step, and prints the smallest failing sequence with a reproducer string that replays it exactly. " +
            "Exit codes: 0 when nothing was found, 1 when a violation was found, 2 for bad usage or input.");
        root.Subcommands.Add(ExploreCommand.Create(context));
        root.Subcommands.Add(ReplayCommand.Create(context));
        root.Subcommands.Add(BenchCommand.Create(context));
        root.Subcommands.Add(SweepCommand.Create(context));
        root.Subcommands.Add(PatchesCommand.Create(context));
        root.Subcommands.Add(InterleaveCommand.Create(context));
        return root;
    }

    /// <summary>The one error worth showing: an unknown word first (the likeliest typo), then a
    /// missing command, then whatever the parser found first.</summary>
    private static string FirstError(ParseResult parse)
    {
        if (parse.UnmatchedTokens.Count > 0)
            return $"unrecognized argument '{parse.UnmatchedTokens[0]}' (see {Name} --help)";
        if (parse.CommandResult.Command is RootCommand)
            return $"a command is needed: explore, replay, sweep, interleave, bench or patches (see {Name} --help)";
        return parse.Errors[0].Message;
    }

    private static int Usage(TextWriter error, string message)
    {
        // Exactly one line, whatever the message holds.
        error.WriteLine($"{Name}: {message.ReplaceLineEndings(" ").Trim()}");
        return ExitUsage;
    }
}
