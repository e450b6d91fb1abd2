// SPDX-License-Identifier: GPL-2.0-only
using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Serialization;

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

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = false,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Converters = { new JsonStringEnumConverter() },
    };

    public static string Encode(InterleaveReproducer reproducer)
    {
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(reproducer, Json);
        using var buffer = new MemoryStream();
        using (var deflate = new DeflateStream(buffer, CompressionLevel.SmallestSize, leaveOpen: true))
            deflate.Write(json);
        return Prefix + Convert.ToBase64String(buffer.ToArray()).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    /// <summary>Decodes a reproducer; throws <see cref="FormatException"/> with one clear sentence
    /// on anything malformed (wrong prefix, bad base64url, corrupt data, missing parts).</summary>
    public static InterleaveReproducer Decode(string text)
    {
        text = text.Trim();
        if (!text.StartsWith(Prefix, StringComparison.Ordinal))
            throw new FormatException($"a concurrent reproducer string starts with '{Prefix}'");
        string b64 = text[Prefix.Length..].Replace('-', '+').Replace('_', '/');
        b64 = b64.PadRight(b64.Length + (4 - b64.Length % 4) % 4, '=');
        byte[] packed;
        try { packed = Convert.FromBase64String(b64); }
        catch (FormatException) { throw new FormatException("the reproducer string is not valid base64url after its prefix"); }
        InterleaveReproducer? r;
        try
        {
            using var input = new DeflateStream(new MemoryStream(packed), CompressionMode.Decompress);
            using var json = new MemoryStream();
            input.CopyTo(json);
            r = JsonSerializer.Deserialize<InterleaveReproducer>(json.ToArray(), Json);
        }
        catch (Exception e) when (e is InvalidDataException or JsonException or NotSupportedException)
        {
            throw new FormatException($"the reproducer string is corrupt ({e.GetType().Name})");
        }
        if (r?.Scenario is not { } s || r.Strategy is null || r.Schedule is null || s.Setup is null || s.Threads is null
            || s.Patches is null || s.FaultPlan is null || s.Setup.Any(o => o is null) || s.Threads.Any(t => t is null || t.Any(o => o is null)))
            throw new FormatException("the reproducer string lacks its scenario, strategy or schedule");
        if (s.Threads.Count == 0 || r.Schedule.Any(t => t < 1 || t > s.Threads.Count))
            throw new FormatException("the reproducer's schedule names threads the scenario does not have");
        return r;
    }
}
