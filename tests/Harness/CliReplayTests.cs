// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Repro;
using static Iommufd.Tests.Harness.CliTestSupport;

namespace Iommufd.Tests.Harness;

/// <summary>replay: exact, deterministic, and the same from a string or a file.</summary>
public class CliReplayTests
{
    [Fact]
    public void Replaying_the_known_defect_twice_gives_the_same_bytes_and_exit_1()
    {
        string repro = ReproducerCodec.Encode(KnownDefect());
        var first = Run("replay", repro);
        var second = Run("replay", repro);
        Assert.Equal(1, first.Code);
        Assert.Equal(first.Code, second.Code);
        Assert.Equal(first.Out, second.Out);
        Assert.Equal("", first.Err);
        // The report names the invariant and the step, and ends with the reproducer itself.
        Assert.Contains("result:  invariant ", first.Out);
        Assert.Contains(" broken at ", first.Out);
        Assert.EndsWith(repro + "\n", first.Out);
    }

    [Fact]
    public void A_clean_scenario_replays_to_exit_0_and_says_so()
    {
        var run = Run("replay", ReproducerCodec.Encode(Clean()));
        Assert.Equal(0, run.Code);
        Assert.Contains("no violation", run.Out);
        Assert.DoesNotContain("not run", run.Out);
    }

    [Fact]
    public void A_file_and_the_string_it_holds_replay_identically()
    {
        string repro = ReproducerCodec.Encode(KnownDefect());
        string path = Path.Combine(Scratch().FullName, "known.txt");
        File.WriteAllText(path, "# a comment line as explore writes it\n\n" + repro + "\n");
        var fromString = Run("replay", repro);
        var fromFile = Run("replay", path);
        Assert.Equal(fromString.Code, fromFile.Code);
        Assert.Equal(fromString.Out, fromFile.Out);
    }

    [Fact]
    public void Replay_output_holds_no_timing()
    {
        var run = Run("replay", ReproducerCodec.Encode(Clean()));
        Assert.DoesNotContain("elapsed", run.Out);
        Assert.DoesNotContain("/s", run.Out);
    }
}
