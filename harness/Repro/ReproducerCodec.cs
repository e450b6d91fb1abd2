// SPDX-License-Identifier: GPL-2.0-only
using System.Text;
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

    public static string Encode(Scenario scenario) => ReproducerPacking.Pack(Prefix, scenario);

    /// <summary>Decodes a reproducer string; throws <see cref="FormatException"/> with one clear
    /// sentence on anything malformed.</summary>
    public static Scenario Decode(string text) =>
        ReproducerPacking.Unpack<Scenario>(Prefix, text, "a reproducer string")
        ?? throw new FormatException("the reproducer string holds no scenario");

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
