// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Harness.Scheduling;

/// <summary>The interleaving engines by the name reproducers record.</summary>
public static class InterleavingEngines
{
    public static readonly IReadOnlyList<string> Names = [ControlledEngine.EngineName];

    /// <summary>The engine <paramref name="name"/> with the strategy a reproducer or option names;
    /// a <see cref="FormatException"/> with one sentence if either is unknown.</summary>
    public static IInterleavingEngine Create(string name, string strategy) => name switch
    {
        ControlledEngine.EngineName => new ControlledEngine(StrategySpec.Parse(strategy)),
        _ => throw new FormatException($"'{name}' names no interleaving engine (known: {string.Join(", ", Names)})"),
    };
}
