// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;
using Iommufd.Harness.Repro;
using Iommufd.Harness.Scheduling;

namespace Iommufd.Tests.Harness;

/// <summary>
/// Every failure a test expects is also replayed from its reproducer, as Coyote's tests do for
/// every bug they expect: the report has a violation, its reproducer string encodes, decodes to
/// the same string, and the decoded run fails the same way (<see cref="Violation.SameFailure"/>)
/// at the same step. A failure that cannot be reproduced from its string is a failure nobody can
/// act on.
/// </summary>
internal static class ExpectedFailure
{
    /// <summary>Asserts <paramref name="report"/> failed, and that its scenario replays from an
    /// <c>iommufd1</c> string to the same failure on <paramref name="system"/> (default: the port).
    /// Returns the violation.</summary>
    public static Violation Replays(RunReport report, Func<IOracle>? oracle = null, ISystemUnderTest? system = null)
    {
        var expected = Assert.IsType<Violation>(report.Violation);
        string text = ReproducerCodec.Encode(report.Scenario);
        var decoded = ReproducerCodec.Decode(text);
        Assert.Equal(text, ReproducerCodec.Encode(decoded));
        var again = Runner.Run(system ?? PortSystem.Instance, decoded, oracle ?? (() => new SpecOracle()));
        var replayed = Assert.IsType<Violation>(again.Violation);
        Assert.True(expected.SameFailure(replayed), $"the reproducer replays to another failure: expected {expected}, got {replayed}");
        Assert.Equal(expected.Step, replayed.Step);
        return expected;
    }

    /// <summary>Asserts that an explorer's reproducer string (shrunk) replays to the failure it was
    /// found with.</summary>
    public static Violation Replays(string reproducer, Violation expected, Func<IOracle>? oracle = null, ISystemUnderTest? system = null)
    {
        var again = Runner.Run(system ?? PortSystem.Instance, ReproducerCodec.Decode(reproducer), oracle ?? (() => new SpecOracle()));
        var replayed = Assert.IsType<Violation>(again.Violation);
        Assert.True(expected.SameFailure(replayed), $"the reproducer replays to another failure: expected {expected}, got {replayed}");
        return replayed;
    }

    /// <summary>Asserts <paramref name="report"/> failed, and that its <c>iommufd-sched2</c>
    /// reproducer replays (strictly, every decision at its recorded site) to the same failure.</summary>
    public static Violation Replays(InterleaveReport report, ISystemUnderTest? system = null)
    {
        var expected = Assert.IsType<Violation>(report.Violation);
        string text = InterleaveReproducerCodec.Encode(report.Reproducer);
        var decoded = InterleaveReproducerCodec.Decode(text);
        Assert.Equal(text, InterleaveReproducerCodec.Encode(decoded));
        var (again, _) = InterleaveExplorer.Replay(decoded, system);
        var replayed = Assert.IsType<Violation>(again.Violation);
        Assert.True(expected.SameFailure(replayed), $"the reproducer replays to another failure: expected {expected}, got {replayed}");
        return expected;
    }
}
