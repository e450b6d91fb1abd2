// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Generation;
using Iommufd.Harness.Repro;
using static Iommufd.Tests.Harness.CliTestSupport;

namespace Iommufd.Tests.Harness;

/// <summary>Bad usage and bad input: exit code 2, exactly one line on stderr, nothing on stdout.</summary>
public class CliArgumentTests
{
    private static void AssertUsage(CliRun run, string expectedInMessage)
    {
        Assert.Equal(2, run.Code);
        Assert.Single(run.ErrLines);
        Assert.EndsWith("\n", run.Err);
        Assert.StartsWith("iommufd-verify: ", run.Err);
        Assert.Contains(expectedInMessage, run.Err);
        Assert.Equal("", run.Out);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("-1")]
    [InlineData("18446744073709551616")]
    [InlineData("0xZZ")]
    public void A_bad_seed_is_refused(string seed) =>
        AssertUsage(Run("explore", "--seed", seed, "-q"), "--seed must be an unsigned 64-bit number");

    [Fact]
    public void A_seed_may_be_hexadecimal()
    {
        var scratch = Scratch();
        var run = Run("explore", "--seed", "0x10", "--iterations", "1", "--time", "0", "-q", "-o", Path.Combine(scratch.FullName, "r.txt"));
        Assert.InRange(run.Code, 0, 1);
        Assert.Contains("seed 16,", run.Out);
    }

    [Fact]
    public void An_unknown_patch_is_refused() =>
        AssertUsage(Run("explore", "--patch", "no-such-patch", "-q"), "unknown patch 'no-such-patch'");

    [Theory]
    [InlineData("--iterations", "x", "--iterations must be")]
    [InlineData("--iterations", "-5", "--iterations must be")]
    [InlineData("--time", "soon", "--time must be")]
    [InlineData("--time", "-1", "--time must be")]
    [InlineData("--time", "NaN", "--time must be")]
    [InlineData("--max-size", "0", "--max-size must be")]
    [InlineData("--max-size", "100001", "--max-size must be")]
    public void Out_of_range_explore_numbers_are_refused(string option, string value, string message) =>
        AssertUsage(Run("explore", option, value, "-q"), message);

    [Fact]
    public void No_budget_at_all_is_refused() =>
        AssertUsage(Run("explore", "--iterations", "0", "--time", "0", "-q"), "leave no budget");

    [Theory]
    [InlineData("--seconds", "0", "--seconds must be")]
    [InlineData("--sequences", "0", "--sequences must be")]
    [InlineData("--seed", "minus", "--seed must be")]
    public void Bad_bench_numbers_are_refused(string option, string value, string message) =>
        AssertUsage(Run("bench", option, value), message);

    [Fact]
    public void No_command_is_bad_usage() => AssertUsage(Run(), "a command is needed");

    [Fact]
    public void An_unknown_command_is_bad_usage() => AssertUsage(Run("frobnicate"), "unrecognized argument 'frobnicate'");

    [Fact]
    public void An_unknown_option_is_bad_usage() => AssertUsage(Run("explore", "--frob"), "unrecognized argument '--frob'");

    [Fact]
    public void Replay_without_an_argument_is_bad_usage() => AssertUsage(Run("replay"), "replay");

    [Theory]
    [InlineData("iommufd2:abc", "starts with 'iommufd1:'")]
    [InlineData("iommufd1:***", "not valid base64url")]
    [InlineData("iommufd1:AAAA", "corrupt")]
    [InlineData("iommufd1:", "malformed reproducer")]
    public void A_malformed_reproducer_string_is_refused(string text, string message)
    {
        // A string that does not start with the prefix is taken as a file name; either way the
        // answer is one line and exit 2.
        var run = Run("replay", text);
        AssertUsage(run, text.StartsWith(ReproducerCodec.Prefix, StringComparison.Ordinal) ? message : "neither a reproducer string");
    }

    [Fact]
    public void A_reproducer_whose_json_is_not_a_scenario_is_refused()
    {
        // Valid base64url of valid deflate, holding JSON that is not a scenario.
        using var buffer = new MemoryStream();
        using (var deflate = new System.IO.Compression.DeflateStream(buffer, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true))
            deflate.Write("{\"Ops\":[{\"op\":\"nonsense\"}]}"u8);
        string text = ReproducerCodec.Prefix + Convert.ToBase64String(buffer.ToArray()).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        AssertUsage(Run("replay", text), "malformed reproducer");
    }

    [Fact]
    public void A_reproducer_naming_an_unknown_patch_is_refused()
    {
        string text = ReproducerCodec.Encode(new Scenario(["not-a-real-patch"], "none", [new CreateIopt()]));
        AssertUsage(Run("replay", text), "unknown patch 'not-a-real-patch'");
    }

    [Fact]
    public void A_reproducer_with_an_invalid_fault_plan_is_refused()
    {
        string text = ReproducerCodec.Encode(new Scenario([], "sometimes", [new CreateIopt()]));
        AssertUsage(Run("replay", text), "fault plan is invalid");
    }

    [Fact]
    public void A_missing_file_is_refused()
    {
        string path = Path.Combine(Scratch().FullName, "does-not-exist.txt");
        AssertUsage(Run("replay", path), "nor an existing file");
    }

    [Fact]
    public void A_directory_is_refused() => AssertUsage(Run("replay", Scratch().FullName), "is a directory");

    [Theory]
    [InlineData("")]
    [InlineData("\n\n   \n")]
    [InlineData("# only a comment\n")]
    public void An_empty_file_is_refused(string content)
    {
        string path = Path.Combine(Scratch().FullName, "empty.txt");
        File.WriteAllText(path, content);
        AssertUsage(Run("replay", path), "holds no reproducer");
    }

    [Fact]
    public void A_file_with_a_malformed_reproducer_is_refused()
    {
        string path = Path.Combine(Scratch().FullName, "bad.txt");
        File.WriteAllText(path, "# a comment\niommufd1:AAAA\n");
        AssertUsage(Run("replay", path), "malformed reproducer");
    }
}
