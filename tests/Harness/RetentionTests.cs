// SPDX-License-Identifier: GPL-2.0-only
using System.Runtime.CompilerServices;
using Iommufd.Harness.Exploration;
using Iommufd.Harness.Execution;
using Iommufd.Harness.FaultInjection;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;
using Iommufd.Harness.Scheduling;
using Iommufd.Model.Port;
using Xunit;
using Iommufd.Model.Patches;

namespace Iommufd.Tests.Harness;

/// <summary>
/// Nothing a run creates outlives it (issue 13): every world (and its fake kernel) that explore,
/// sweep and interleave create is collectable once the run is over. Exact, not timed: each run's
/// world is watched through weak references taken when the oracle is attached; after the runs
/// return and a full, finalizing collection, none may be alive.
/// </summary>
public sealed class RetentionTests
{
    /// <summary>Wraps the spec oracle and remembers, weakly, the world it was attached to.</summary>
    private sealed class WatchingOracle(List<WeakReference> watched) : IOracle
    {
        private readonly SpecOracle inner = new();

        public void Attach(IObservation world)
        {
            lock (watched)
            {
                watched.Add(new WeakReference(world));
                watched.Add(new WeakReference(world.Kernel));
            }
            inner.Attach(world);
        }

        public IReadOnlyList<Violation> AfterStep(int step, Op op, StepResult result) => inner.AfterStep(step, op, result);
        public IReadOnlyList<Violation> AfterTeardown() => inner.AfterTeardown();
    }

    private static int Survivors(List<WeakReference> watched)
    {
        for (int i = 0; i < 3; i++)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }
        return watched.Count(w => w.IsAlive);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Explore(List<WeakReference> watched) =>
        new Explorer(() => new WatchingOracle(watched)).Explore(new ExploreOptions
        {
            Iterations = 300,
            Seed = 5,
            MaxSize = 40,
            Patches = ModelPatches.AllFindings,
            MixFaultPlans = true,
        });

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Sweep(List<WeakReference> watched)
    {
        for (ulong i = 0; i < 8; i++)
        {
            var scenario = ScenarioGenerator.Generate(SeedMix.Derive(9, i), 24, GenerationOptions.Default, ModelPatches.AllFindings, "none");
            FailNthSweep.Run(scenario, () => new WatchingOracle(watched), maxNPerStep: 20);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Interleave(List<WeakReference> watched) =>
        InterleaveExplorer.Explore(new InterleaveOptions
        {
            Seed = 3,
            Iterations = 20,
            Schedules = 10,
            Patches = ModelPatches.AllFindings,
            Oracle = () => new WatchingOracle(watched),
        });

    [Fact]
    public void No_world_survives_its_explore_runs()
    {
        var watched = new List<WeakReference>();
        Explore(watched);
        Assert.True(watched.Count >= 600, $"only {watched.Count / 2} runs were watched");
        Assert.Equal(0, Survivors(watched));
    }

    [Fact]
    public void No_world_survives_its_sweep_runs()
    {
        var watched = new List<WeakReference>();
        Sweep(watched);
        Assert.True(watched.Count >= 200, $"only {watched.Count / 2} runs were watched");
        Assert.Equal(0, Survivors(watched));
    }

    [Fact]
    public void No_world_survives_its_interleave_runs()
    {
        var watched = new List<WeakReference>();
        Interleave(watched);
        Assert.True(watched.Count >= 200, $"only {watched.Count / 2} runs were watched");
        Assert.Equal(0, Survivors(watched));
    }
}
