// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Execution;
using Iommufd.Harness.Oracle;

namespace Iommufd.Cli;

/// <summary>
/// What the commands run on: the oracle a run is checked with (tests substitute their own), and
/// the code under test, by the id a reproducer records. The commands use the harness's own
/// explorers, sweeps and interleaving engines directly; this is the only thing they are given.
/// </summary>
public sealed record CliServices(Func<IOracle> Oracle, Func<string?, ISystemUnderTest?> SystemById)
{
    /// <summary>The spec oracle, and the C# port as the only code under test.</summary>
    public static CliServices Default { get; } = new(() => new SpecOracle(),
        id => id is null or PortSystem.PortId ? PortSystem.Instance : null);

    /// <summary>The oracle when on; none when off (only crashes are then reported).</summary>
    public Func<IOracle> OracleWhen(bool on) => on ? Oracle : () => new NullOracle();

    /// <summary>The code under test a reproducer names; a usage error if it is not at hand.</summary>
    public ISystemUnderTest System(string? id) =>
        SystemById(id) ?? throw new UsageException($"the reproducer ran on '{id}', which is not at hand here");
}
