// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Harness.Generation;

/// <summary>
/// One complete run: the model variant (which named patches are on), the fault plan in its
/// canonical text form, and the operations. Everything a replay needs; nothing else.
/// </summary>
public sealed record Scenario(IReadOnlyList<string> Patches, string FaultPlan, IReadOnlyList<Op> Ops)
{
    public static Scenario AsReleased(IReadOnlyList<Op> ops) => new([], "none", ops);
}
