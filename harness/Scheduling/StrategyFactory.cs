// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Harness.Scheduling;

/// <summary>The exploring strategies by name, with their parameters: PCT's depth d, the delay
/// bound, the preemption bound.</summary>
public sealed record StrategySpec(string Name, int Depth = 2, int Bound = 2)
{
    public static readonly IReadOnlyList<string> Names = ["random", "pct", "delay", "delay-dfs", "pb-dfs"];

    public static bool IsKnown(string name) => Names.Contains(name);

    /// <summary>A fresh strategy of this kind seeded with <paramref name="seed"/>.</summary>
    public ISchedulingStrategy Create(ulong seed) => Name switch
    {
        "random" => new RandomWalkStrategy(seed),
        "pct" => new PctStrategy(seed, Depth),
        "delay" => new DelayBoundingStrategy(seed, Bound),
        "delay-dfs" => new DelayBoundingStrategy(seed, Bound, exhaustive: true),
        "pb-dfs" => new PreemptionBoundedDfsStrategy(Bound),
        _ => throw new ArgumentException($"unknown strategy '{Name}' (known: {string.Join(", ", Names)})", nameof(Name)),
    };

    /// <summary>The spec a <see cref="ToString"/> text (or a bare name) stands for.</summary>
    public static StrategySpec Parse(string text)
    {
        var m = System.Text.RegularExpressions.Regex.Match(text, @"^([a-z-]+)(?: \((?:d|c)(?:=|<=)(\d+)\))?$");
        if (!m.Success || !IsKnown(m.Groups[1].Value))
            throw new FormatException($"'{text}' names no strategy (known: {string.Join(", ", Names)})");
        string name = m.Groups[1].Value;
        if (!m.Groups[2].Success)
            return new StrategySpec(name);
        int n = int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
        return name == "pct" ? new StrategySpec(name, Depth: n) : new StrategySpec(name, Bound: n);
    }

    public override string ToString() => Name switch
    {
        "pct" => $"pct (d={Depth})",
        "delay" => $"delay (d={Bound})",
        "delay-dfs" => $"delay-dfs (d<={Bound})",
        "pb-dfs" => $"pb-dfs (c<={Bound})",
        _ => Name,
    };
}
