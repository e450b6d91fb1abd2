// SPDX-License-Identifier: GPL-2.0-only
using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Iommufd.Harness.Repro;

/// <summary>
/// The wire form shared by every reproducer string: a versioned prefix, then the value as compact
/// JSON (enums by name), deflated and base64url-encoded without padding. Canonical: the same value
/// gives the same string. Decoding errors are one-sentence <see cref="FormatException"/>s.
/// </summary>
public static class ReproducerPacking
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = false,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Converters = { new JsonStringEnumConverter() },
    };

    public static string Pack<T>(string prefix, T value)
    {
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(value, Json);
        using var buffer = new MemoryStream();
        using (var deflate = new DeflateStream(buffer, CompressionLevel.SmallestSize, leaveOpen: true))
            deflate.Write(json);
        return prefix + Convert.ToBase64String(buffer.ToArray()).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    /// <summary>The value in <paramref name="text"/>, or null if the JSON holds none;
    /// <paramref name="what"/> names the kind of string in the error for a wrong prefix.</summary>
    public static T? Unpack<T>(string prefix, string text, string what) where T : class
    {
        text = text.Trim();
        if (!text.StartsWith(prefix, StringComparison.Ordinal))
            throw new FormatException($"{what} starts with '{prefix}'");
        string b64 = text[prefix.Length..].Replace('-', '+').Replace('_', '/');
        b64 = b64.PadRight(b64.Length + (4 - b64.Length % 4) % 4, '=');
        byte[] packed;
        try { packed = Convert.FromBase64String(b64); }
        catch (FormatException) { throw new FormatException("the reproducer string is not valid base64url after its prefix"); }
        try
        {
            using var input = new DeflateStream(new MemoryStream(packed), CompressionMode.Decompress);
            using var json = new MemoryStream();
            input.CopyTo(json);
            return JsonSerializer.Deserialize<T>(json.ToArray(), Json);
        }
        catch (Exception e) when (e is InvalidDataException or JsonException or NotSupportedException)
        {
            throw new FormatException($"the reproducer string is corrupt ({e.GetType().Name})");
        }
    }
}
