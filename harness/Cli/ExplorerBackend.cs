// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Execution;
using Iommufd.Harness.Exploration;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;
using Harness = Iommufd.Harness.Exploration;

namespace Iommufd.Cli;

/// <summary>
/// The engine behind the program: the FsCheck-based scenario generator, the explorer and
/// shrinker of <c>harness/Exploration</c>, and the oracle (on: the full checks; off: none, so only
/// crashes are reported).
/// </summary>
public sealed class ExplorerBackend(Func<IOracle> checks) : IExplorationBackend
{
    public string Name => "explorer";

    public Func<IOracle> Oracle(bool on) => on ? checks : () => new NullOracle();

    public ExploreOutcome Explore(ExploreRequest request)
    {
        var explorer = new Explorer(Oracle(request.OracleOn));
        var result = explorer.Explore(new ExploreOptions
        {
            Iterations = request.Iterations is { } n ? (int)Math.Min(n, int.MaxValue) : 0,
            TimeBudget = request.TimeBudget,
            Seed = request.Seed,
            MaxSize = Math.Min(request.MaxSize, GenerationOptions.MaxSize),
            Patches = request.Patches,
            Progress = p => request.Progress?.Invoke(new ExploreProgress(p.Sequences, p.Operations, p.Elapsed)),
            ProgressEvery = 1,
            OnFailure = request.OnFailure,
            Cancel = request.Cancel,
            MixFaultPlans = request.MixFaults,
        });
        FoundFailure? failure = null;
        if (result.Finding is { } f)
        {
            var replay = explorer.Replay(f.Shrunk);
            failure = new FoundFailure(f.Original, f.Shrunk, replay.Report.Violation ?? f.Violation, f.Reproducer, replay.Text);
        }
        var s = result.Stats;
        var errorPaths = s.OpsByKindAndRc.Where(kv => s.ErrorPaths.Contains(kv.Key))
            .ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        return new ExploreOutcome(s.Sequences, s.Operations, s.Elapsed, s.OpsByKind, errorPaths, s.FaultSiteHits,
            failure, result.Interrupted, s.FaultsInjected);
    }

    public ReplayOutcome Replay(Scenario scenario)
    {
        var r = new Explorer(checks).Replay(scenario);
        return new ReplayOutcome(r.Report, r.Text);
    }

    public IReadOnlyList<Scenario> Workload(ulong seed, int count, int maxSize) =>
        Enumerable.Range(0, count)
            .Select(i => ScenarioGenerator.Generate(SeedMix.Derive(seed, (ulong)i), 1 + i % Math.Clamp(maxSize, 1, GenerationOptions.MaxSize)))
            .ToArray();
}
