// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Generation;

namespace Iommufd.Harness.FaultInjection;

/// <summary>Per destroy path and site: how often a sweep failed the site on that path and how
/// often the destroy still completed and left a correct state.</summary>
public sealed record DestroyPathStats(string Path, string Site, long Failed, long Recovered);

/// <summary>
/// The totals of a sweep over many sequences, kept as counters while the sweeps run: a sweep's
/// runs are added and dropped, so a sweep over thousands of sequences holds no more than one
/// sequence's runs at a time (issue 13). Only the first failing run is kept whole.
/// </summary>
public sealed class SweepTally
{
    private readonly SortedDictionary<string, (long Reached, long Failed, long Recovered)> sites = new(StringComparer.Ordinal);
    private readonly SortedDictionary<(string Path, string Site), (long Failed, long Recovered)> destroy = new();
    private readonly HashSet<Scenario> bases = [];

    public long Sequences => bases.Count;
    public long Runs { get; private set; }
    public long FaultsInjected { get; private set; }
    public long FailingRuns { get; private set; }
    public SweepRun? FirstFailure { get; private set; }

    public void Add(SweepResult result)
    {
        bases.Add(result.Base);
        Runs += result.Runs.Count;
        FaultsInjected += result.FaultsInjected;
        FailingRuns += result.Failures.Count;
        FirstFailure ??= result.Failures.FirstOrDefault();
        foreach (var s in result.Sites)
        {
            var t = sites.GetValueOrDefault(s.Site);
            sites[s.Site] = (t.Reached + s.Reached, t.Failed + s.Failed, t.Recovered + s.Recovered);
        }
        foreach (var run in result.Runs)
        {
            if (run.Injected is not { } fault || DestroyKind(result.Base, run.Step) is not { } path)
                continue;
            var t = destroy.GetValueOrDefault((path, fault.Site));
            destroy[(path, fault.Site)] = (t.Failed + 1, t.Recovered + (run.Report.Failed ? 0 : 1));
        }
    }

    /// <summary>Every site reached or failed, in name order.</summary>
    public IReadOnlyList<SiteStats> Sites => sites.Select(kv => new SiteStats(kv.Key, kv.Value.Reached, kv.Value.Failed, kv.Value.Recovered)).ToArray();

    /// <summary>Every (destroy path, site) pair failed, in order.</summary>
    public IReadOnlyList<DestroyPathStats> DestroyPaths =>
        destroy.Select(kv => new DestroyPathStats(kv.Key.Path, kv.Key.Site, kv.Value.Failed, kv.Value.Recovered)).ToArray();

    /// <summary>The destroy path a step of <paramref name="scenario"/> is (null: not a destroy).</summary>
    public static string? DestroyKind(Scenario scenario, int step) =>
        step < 0 ? "teardown"
        : step < scenario.Ops.Count && DestroyNeverFailsOracle.IsDestroy(scenario.Ops[step]) ? scenario.Ops[step].GetType().Name
        : null;
}
