// SPDX-License-Identifier: GPL-2.0-only
using FsCheck;
using FsCheck.Fluent;
using FsCheckGen = FsCheck.Fluent.Gen;

namespace Iommufd.Harness.Generation;

/// <summary>
/// Generates valid operation sequences. Each step asks <see cref="OpGenerators"/> for an FsCheck
/// generator of the next operation given the state built so far, samples it with a random state
/// derived from (seed, step), and updates the state. The result is a pure function of
/// (seed, size, options): no clock, no shared state. <see cref="Gen"/> and
/// <see cref="Arbitrary"/> wrap it for FsCheck properties (the seed drawn by FsCheck, the size
/// FsCheck's); shrinking candidates come from <see cref="ScenarioShrinks"/>.
/// </summary>
public static class ScenarioGenerator
{
    /// <summary>A fixed, seed-determined series of <paramref name="count"/> scenarios of sizes 1 ..
    /// <paramref name="maxSize"/> (benchmarks and generated sweeps use it), generated as it is read.</summary>
    public static IEnumerable<Scenario> Workload(ulong seed, int count, int maxSize) =>
        Enumerable.Range(0, count)
            .Select(i => Generate(SeedMix.Derive(seed, (ulong)i), 1 + i % Math.Clamp(maxSize, 1, GenerationOptions.MaxSize)));

    public static Scenario Generate(ulong seed, int size, GenerationOptions? options = null,
        IReadOnlyList<string>? patches = null, string faultPlan = "none") =>
        new(patches ?? [], faultPlan, GenerateOps(seed, size, options ?? GenerationOptions.Default));

    public static IReadOnlyList<Op> GenerateOps(ulong seed, int size, GenerationOptions options)
    {
        size = Math.Clamp(size, 1, GenerationOptions.MaxSize);
        int longest = Math.Max(4, options.MaxOps * size / GenerationOptions.MaxSize);
        int count = Sample(FsCheckGen.Choose(Math.Max(3, longest / 3), longest), size, seed, 0);
        var model = new GenModel();
        var ops = new List<Op>(count + 1);
        // A third of the runs start with a small temporary-memory limit, so that batches hold
        // one or two entries for the whole run.
        if (Sample(FsCheckGen.Choose(0, 2), size, seed, 1) == 0)
            ops.Add(Sample(OpGenerators.SetTempMemoryLimit(), size, seed, 2));
        // Three scenarios in ten also use sub-page offsets and lengths.
        bool unaligned = Sample(FsCheckGen.Choose(0, 9), size, seed, 3) < 3;
        for (int step = 0; ops.Count < count; step++)
        {
            var op = Sample(new OpGenerators(model, size, options, unaligned).Next(), size, seed, 16 + (ulong)step);
            ops.Add(op);
            model.Apply(op);
        }
        return ops;
    }

    // Gen.Sample(generator, number of samples, random state, size).
    private static T Sample<T>(Gen<T> gen, int size, ulong seed, ulong stream) =>
        FsCheckGen.Sample(gen, 1, SeedMix.Rnd(SeedMix.Derive(seed, stream)), size)[0];

    /// <summary>An FsCheck generator of scenarios (64-bit seed drawn by FsCheck, size from FsCheck).</summary>
    public static Gen<Scenario> Gen(GenerationOptions? options = null, IReadOnlyList<string>? patches = null) =>
        FsCheckGen.Sized(size =>
            from hi in FsCheckGen.Choose(int.MinValue, int.MaxValue)
            from lo in FsCheckGen.Choose(int.MinValue, int.MaxValue)
            select Generate(((ulong)(uint)hi << 32) | (uint)lo, Math.Max(1, size), options, patches));

    /// <summary>Scenarios with structural shrinking (fewer operations, smaller sizes).</summary>
    public static Arbitrary<Scenario> Arbitrary(GenerationOptions? options = null, IReadOnlyList<string>? patches = null) =>
        Arb.From(Gen(options, patches), ScenarioShrinks.Candidates);
}
