// SPDX-License-Identifier: GPL-2.0-only
using System.CommandLine;
using System.CommandLine.Parsing;
using Iommufd.Model.Port;
using System.Globalization;
using Iommufd.Model.Patches;

namespace Iommufd.Cli;

/// <summary>
/// Parsers for numeric options that say in one sentence what is wrong (the parser's own message
/// names CLR types). A failed parse adds an error to the result, which the program prints as its
/// one line on stderr before exiting with 2.
/// </summary>
public static class OptionParsers
{
    /// <summary>An unsigned 64-bit seed, decimal or 0x-prefixed hexadecimal.</summary>
    public static ulong? Seed(ArgumentResult result, string option)
    {
        if (result.Tokens.Count == 0)
            return null;
        string text = result.Tokens[0].Value.Trim();
        bool ok = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.TryParse(text.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong value)
            : ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
        if (ok)
            return value;
        result.AddError($"{option} must be an unsigned 64-bit number (decimal or 0x-hexadecimal), not '{text}'");
        return null;
    }

    /// <summary>A whole number in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public static long Integer(ArgumentResult result, string option, long min, long max, string meaning)
    {
        string text = result.Tokens.Count == 0 ? "" : result.Tokens[0].Value.Trim();
        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value) && value >= min && value <= max)
            return value;
        result.AddError($"{option} must be {meaning}, not '{text}'");
        return min;
    }

    /// <summary>A finite number of seconds, at least <paramref name="min"/> (and above it unless
    /// <paramref name="allowMin"/>).</summary>
    public static double Seconds(ArgumentResult result, string option, double min, bool allowMin, string meaning)
    {
        string text = result.Tokens.Count == 0 ? "" : result.Tokens[0].Value.Trim();
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && double.IsFinite(value) &&
            (value > min || (allowMin && value == min)))
            return value;
        result.AddError($"{option} must be {meaning}, not '{text}'");
        return min;
    }

    /// <summary>The word <c>--patch</c> takes for "every named patch".</summary>
    public const string AllPatches = "all";

    /// <summary>
    /// The repeatable <c>--patch NAME</c> option, refusing names that are not model patches;
    /// <c>--patch all</c> stands for every patch. The value has each name once, in the order given.
    /// </summary>
    public static Option<string[]> PatchOption(string description)
    {
        return new Option<string[]>("--patch", "-p")
        {
            Description = description + $" '{AllPatches}' switches on every patch.",
            HelpName = "name",
            DefaultValueFactory = _ => [],
            CustomParser = r =>
            {
                var names = new List<string>();
                foreach (var token in r.Tokens)
                {
                    string name = token.Value;
                    if (name == AllPatches)
                        names.AddRange(ModelPatches.AllFindings);
                    else if (ModelPatches.IsKnown(name))
                        names.Add(name);
                    else
                    {
                        r.AddError($"unknown patch '{name}' (the patches command lists the known ones, or use '{AllPatches}')");
                        return [];
                    }
                }
                return names.Distinct(StringComparer.Ordinal).ToArray();
            },
        };
    }

    /// <summary><c>--heap-every N</c>: every N runs, a full collection and one stderr line with the
    /// managed heap it leaves and the peak working set (0, the default: never).</summary>
    public static Option<long> HeapEveryOption(string runs) => new("--heap-every")
    {
        Description = $"Every N {runs}, collect garbage fully and print the managed heap that is left and the peak working set to the standard error stream, " +
                      "to see that memory stays flat over a long run. 0 (the default) never does.",
        DefaultValueFactory = _ => 0,
        CustomParser = r => Integer(r, "--heap-every", 0, long.MaxValue, $"0 (never) or a positive number of {runs}"),
        HelpName = "n",
    };
}
