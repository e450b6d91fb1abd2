// SPDX-License-Identifier: GPL-2.0-only
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Iommufd.Harness.Generation;

namespace Iommufd.Harness.Repro;

/// <summary>
/// Reproducer strings: <c>iommufd1:</c> followed by the scenario as compact JSON, deflated and
/// base64url-encoded. The encoding is canonical (same scenario, same string), so a string can be
/// compared, pasted into a bug report, or stored in a file.
/// </summary>
public static class ReproducerCodec
{
    public const string Prefix = "iommufd1:";

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = false,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Converters = { new JsonStringEnumConverter() },
    };

    public static string Encode(Scenario scenario)
    {
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(scenario, Json);
        using var buffer = new MemoryStream();
        using (var deflate = new DeflateStream(buffer, CompressionLevel.SmallestSize, leaveOpen: true))
            deflate.Write(json);
        return Prefix + Convert.ToBase64String(buffer.ToArray()).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    /// <summary>Decodes a reproducer string; throws <see cref="FormatException"/> with one clear
    /// sentence on anything malformed.</summary>
    public static Scenario Decode(string text)
    {
        text = text.Trim();
        if (!text.StartsWith(Prefix, StringComparison.Ordinal))
            throw new FormatException($"a reproducer string starts with '{Prefix}'");
        string b64 = text[Prefix.Length..].Replace('-', '+').Replace('_', '/');
        b64 = b64.PadRight(b64.Length + (4 - b64.Length % 4) % 4, '=');
        byte[] packed;
        try { packed = Convert.FromBase64String(b64); }
        catch (FormatException) { throw new FormatException("the reproducer string is not valid base64url after its prefix"); }
        try
        {
            using var input = new DeflateStream(new MemoryStream(packed), CompressionMode.Decompress);
            using var json = new MemoryStream();
            input.CopyTo(json);
            return JsonSerializer.Deserialize<Scenario>(json.ToArray(), Json)
                   ?? throw new FormatException("the reproducer string holds no scenario");
        }
        catch (Exception e) when (e is InvalidDataException or JsonException or NotSupportedException)
        {
            throw new FormatException($"the reproducer string is corrupt ({e.GetType().Name})");
        }
    }

    /// <summary>The scenario as readable text, one operation per line.</summary>
    public static string Describe(Scenario scenario)
    {
        var sb = new StringBuilder();
        sb.Append("patches: ").AppendLine(scenario.Patches.Count == 0 ? "(as released)" : string.Join(",", scenario.Patches));
        sb.Append("faults:  ").AppendLine(scenario.FaultPlan);
        for (int i = 0; i < scenario.Ops.Count; i++)
            sb.Append($"{i,4}: ").AppendLine(scenario.Ops[i].ToString());
        return sb.ToString();
    }
}
