// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Model.Port;

/// <summary>
/// The named patches that can be switched on in the port. Each one is a proposed fix for a
/// finding in the seed (docs/findings/); with none switched on the port is pages.c as released.
/// </summary>
public static class ModelPatches
{
    /// <summary>Name -> one-line description.</summary>
    public static IReadOnlyDictionary<string, string> All { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
    };

    public static bool IsKnown(string name) => All.ContainsKey(name);
}
