// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Harness.Generation;
using Iommufd.Model.Callers;
using Iommufd.Model.Kernel;
using Iommufd.Model.Patches;
using Iommufd.Model.Port;

namespace Iommufd.Harness.Execution;

/// <summary>How a world is made: the fault injector, the named patches switched on, and the
/// execution context (null: real threads; an interleaving engine gives its own).</summary>
public sealed record WorldOptions(IFaultInjector Faults, IReadOnlyList<string> Patches, Func<Checks, IExecutionContext>? Exec = null);

/// <summary>One simulated system, as the runners drive it and the checks see it: apply an
/// operation, tear everything down, and read it all through <see cref="IObservation"/>.</summary>
public interface IWorld : IObservation
{
    StepResult Apply(Op op);
    void TearDown();
}

/// <summary>
/// The code under test: which pages.c the callers drive. The C# port is the first implementation;
/// the kernel's own pages.c, compiled behind a shim, is the second. Both run on the same fakes,
/// the same callers, the same driver (<see cref="World"/>) and the same checks.
/// </summary>
public interface ISystemUnderTest
{
    /// <summary>What reproducers record: "port", or a C build's id. Stable across runs.</summary>
    string Id { get; }

    /// <summary>A line for summaries and reports (which code, which kernel, which patch).</summary>
    string Description { get; }

    /// <summary>The kernel release whose services the fakes behave like for this code.</summary>
    KernelVersion Version { get; }

    /// <summary>Null if every named patch in <paramref name="patches"/> can be applied to this code,
    /// else why not (one sentence).</summary>
    string? CheckPatches(IReadOnlyList<string> patches);

    IWorld CreateWorld(WorldOptions options);
}

/// <summary>The C# port of pages.c (Linux v6.2) on the fakes: every named patch applies.</summary>
public sealed class PortSystem : ISystemUnderTest
{
    public static PortSystem Instance { get; } = new();

    private PortSystem() { }

    public const string PortId = "port";

    public string Id => PortId;
    public string Description => "the C# port of pages.c (Linux v6.2)";
    public KernelVersion Version => KernelVersion.V6_2;

    public string? CheckPatches(IReadOnlyList<string> patches) =>
        patches.FirstOrDefault(p => !ModelPatches.IsKnown(p)) is { } unknown
            ? $"unknown model patch '{unknown}' (known: {string.Join(", ", ModelPatches.All.Keys)})"
            : null;

    public IWorld CreateWorld(WorldOptions options) =>
        new World(new FakeKernel(options.Faults, options.Exec, options.Patches, Version), kernel => new Pages(kernel));
}
