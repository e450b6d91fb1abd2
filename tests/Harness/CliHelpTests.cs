// SPDX-License-Identifier: GPL-2.0-only
using System.CommandLine;
using Iommufd.Cli;
using static Iommufd.Tests.Harness.CliTestSupport;

namespace Iommufd.Tests.Harness;

/// <summary>--help explains every command and option, in full sentences.</summary>
public class CliHelpTests
{
    [Fact]
    public void Root_help_lists_every_command_and_the_exit_codes()
    {
        var run = Run("--help");
        Assert.Equal(0, run.Code);
        Assert.Equal("", run.Err);
        foreach (string command in new[] { "explore", "replay", "bench", "patches", "interleave" })
            Assert.Contains(command, run.Out);
        Assert.Contains("Exit codes: 0 when nothing was found, 1 when a violation was found, 2 for bad usage or input.", run.Out);
    }

    [Theory]
    [InlineData("explore", new[] { "--iterations", "--time", "--seed", "--max-size", "--patch", "--no-oracle", "--repro-file", "--quiet" })]
    [InlineData("replay", new[] { "<reproducer>" })]
    [InlineData("bench", new[] { "--seconds", "--seed", "--sequences", "--max-size" })]
    [InlineData("patches", new string[0])]
    [InlineData("interleave", new[] { "--strategy", "--seed", "--iterations", "--schedules", "--depth", "--bound", "--patch", "--time", "--repro-file", "--quiet" })]
    public void Command_help_mentions_every_option(string command, string[] options)
    {
        var run = Run(command, "--help");
        Assert.Equal(0, run.Code);
        Assert.Equal("", run.Err);
        foreach (string option in options)
            Assert.Contains(option, run.Out);
    }

    [Fact]
    public void Every_description_is_made_of_full_sentences()
    {
        var root = Program.BuildCommand(new CliContext(TextWriter.Null, TextWriter.Null, default, CliServices.Default));
        var described = new List<(string Name, string? Text)> { (root.Name, root.Description) };
        foreach (var command in root.Subcommands)
        {
            described.Add((command.Name, command.Description));
            described.AddRange(command.Options.Where(o => o.Name is not "--help" and not "-h" and not "-?")
                .Select(o => (command.Name + " " + o.Name, o.Description)));
            described.AddRange(command.Arguments.Select(a => (command.Name + " " + a.Name, a.Description)));
        }
        foreach (var (name, text) in described)
        {
            Assert.False(string.IsNullOrWhiteSpace(text), $"{name} has no description");
            Assert.True(char.IsUpper(text![0]), $"{name}: '{text}' does not start a sentence");
            Assert.True(text.TrimEnd().EndsWith('.'), $"{name}: '{text}' does not end a sentence");
            Assert.True(text.Split(' ').Length >= 8, $"{name}: '{text}' is too short to explain anything");
        }
    }
}
