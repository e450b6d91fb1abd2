// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Repro;

namespace Iommufd.Harness.Scheduling;

/// <summary>A concurrent failure, exactly: the scenario (patches, fault plan, setup, threads),
/// the strategy that found the schedule and the schedule itself (the chosen thread at every
/// decision).</summary>
public sealed record InterleaveReproducer(ConcurrentScenario Scenario, string Strategy, IReadOnlyList<int> Schedule);

/// <summary>
/// Reproducer strings for concurrent failures: <c>iommufd-sched1:</c> (the version is in the
/// prefix) followed by the reproducer as compact JSON, deflated and base64url-encoded, like
/// <c>ReproducerCodec</c>'s <c>iommufd1:</c> strings. Canonical: the same reproducer gives the same string.
/// </summary>
public static class InterleaveReproducerCodec
{
    public const string Prefix = "iommufd-sched1:";

    public static string Encode(InterleaveReproducer reproducer) => ReproducerPacking.Pack(Prefix, reproducer);

    /// <summary>Decodes a reproducer; throws <see cref="FormatException"/> with one clear sentence
    /// on anything malformed (wrong prefix, bad base64url, corrupt data, missing parts).</summary>
    public static InterleaveReproducer Decode(string text)
    {
        var r = ReproducerPacking.Unpack<InterleaveReproducer>(Prefix, text, "a concurrent reproducer string");
        if (r?.Scenario is not { } s || r.Strategy is null || r.Schedule is null || s.Setup is null || s.Threads is null
            || s.Patches is null || s.FaultPlan is null || s.Setup.Any(o => o is null) || s.Threads.Any(t => t is null || t.Any(o => o is null)))
            throw new FormatException("the reproducer string lacks its scenario, strategy or schedule");
        if (s.Threads.Count == 0 || r.Schedule.Any(t => t < 1 || t > s.Threads.Count))
            throw new FormatException("the reproducer's schedule names threads the scenario does not have");
        return r;
    }
}
