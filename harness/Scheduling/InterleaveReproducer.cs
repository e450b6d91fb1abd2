// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Repro;

namespace Iommufd.Harness.Scheduling;

/// <summary>A concurrent failure, exactly: the scenario (code under test, patches, fault plan,
/// setup, threads), the engine and strategy that found the schedule, and the engine's record of
/// the run (opaque: for the controlled engine a <see cref="ControlledTrace"/>, for Coyote its
/// reproducible trace).</summary>
public sealed record InterleaveReproducer(ConcurrentScenario Scenario, string Engine, string Strategy, string Trace);

/// <summary>
/// Reproducer strings for concurrent failures: <c>iommufd-sched2:</c> (the version is in the
/// prefix) followed by the reproducer as compact JSON, deflated and base64url-encoded, like
/// <c>ReproducerCodec</c>'s <c>iommufd1:</c> strings. Canonical: the same reproducer gives the same
/// string. The <c>iommufd-sched1:</c> strings of earlier versions (a schedule of thread ids for
/// the controlled engine, without the site of each decision) still decode and replay.
/// </summary>
public static class InterleaveReproducerCodec
{
    public const string Prefix = "iommufd-sched2:";
    public const string Sched1Prefix = "iommufd-sched1:";

    /// <summary>Whether <paramref name="text"/> is a concurrent reproducer of either version.</summary>
    public static bool Recognises(string text) =>
        text.StartsWith(Prefix, StringComparison.Ordinal) || text.StartsWith(Sched1Prefix, StringComparison.Ordinal);

    public static string Encode(InterleaveReproducer reproducer) => ReproducerPacking.Pack(Prefix, reproducer);

    /// <summary>The form of <c>iommufd-sched1:</c> strings.</summary>
    private sealed record Sched1(ConcurrentScenario Scenario, string Strategy, IReadOnlyList<int> Schedule);

    /// <summary>Decodes a reproducer; throws <see cref="FormatException"/> with one clear sentence
    /// on anything malformed (wrong prefix, bad base64url, corrupt data, missing parts).</summary>
    public static InterleaveReproducer Decode(string text)
    {
        text = text.Trim();
        InterleaveReproducer? r;
        if (text.StartsWith(Sched1Prefix, StringComparison.Ordinal))
        {
            var old = ReproducerPacking.Unpack<Sched1>(Sched1Prefix, text, "a concurrent reproducer string");
            if (old?.Schedule is null || old.Strategy is null)
                throw new FormatException("the reproducer string lacks its scenario, strategy or schedule");
            r = new InterleaveReproducer(old.Scenario, ControlledEngine.EngineName, old.Strategy, new ControlledTrace(old.Schedule, null).Encode());
        }
        else
            r = ReproducerPacking.Unpack<InterleaveReproducer>(Prefix, text, "a concurrent reproducer string");
        if (r?.Scenario is not { } s || r.Engine is null || r.Strategy is null || r.Trace is null || s.Setup is null || s.Threads is null
            || s.Patches is null || s.FaultPlan is null || s.Setup.Any(o => o is null) || s.Threads.Any(t => t is null || t.Any(o => o is null)))
            throw new FormatException("the reproducer string lacks its scenario, engine, strategy or trace");
        if (s.Threads.Count == 0)
            throw new FormatException("the reproducer's scenario has no threads");
        if (r.Engine == ControlledEngine.EngineName && ControlledTrace.Decode(r.Trace).Choices.Any(t => t < 1 || t > s.Threads.Count))
            throw new FormatException("the reproducer's schedule names threads the scenario does not have");
        return r;
    }
}
