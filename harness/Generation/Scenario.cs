// SPDX-License-Identifier: GPL-2.0-only
using System.Text.Json.Serialization;

namespace Iommufd.Harness.Generation;

/// <summary>
/// One complete run: the model variant (which named patches are on), the fault plan in its
/// canonical text form, the operations, and the code under test they ran on (null: the C# port;
/// else a C build's id). Everything a replay needs; nothing else. A port scenario's JSON has no
/// backend field, so its reproducer string is the one earlier versions wrote.
/// </summary>
public sealed record Scenario(IReadOnlyList<string> Patches, string FaultPlan, IReadOnlyList<Op> Ops)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Backend { get; init; }

    public static Scenario AsReleased(IReadOnlyList<Op> ops) => new([], "none", ops);
}
