// SPDX-License-Identifier: GPL-2.0-only
using System.Text.Json.Serialization;
using Iommufd.Harness.Generation;

namespace Iommufd.Harness.Scheduling;

/// <summary>
/// A concurrent run: the model variant, the fault plan (canonical text), a sequential setup run
/// first on the driver thread, then two or three threads, each a short list of operations, run
/// concurrently on the same world under a controlled scheduler. Handles resolve as in a
/// sequential run (modulo the objects that exist when the operation starts). The code under test
/// is named as in <see cref="Scenario.Backend"/> (null: the C# port).
/// </summary>
public sealed record ConcurrentScenario(
    IReadOnlyList<string> Patches,
    string FaultPlan,
    IReadOnlyList<Op> Setup,
    IReadOnlyList<IReadOnlyList<Op>> Threads)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Backend { get; init; }

    public int OperationCount => Setup.Count + Threads.Sum(t => t.Count);
}
