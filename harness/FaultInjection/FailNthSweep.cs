// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;

namespace Iommufd.Harness.FaultInjection;

/// <summary>Per-site counts of a sweep: how often the site was reached, how often it was failed,
/// and how many of those failures the run recovered from (no violation).</summary>
public sealed record SiteStats(string Site, long Reached, long Failed, long Recovered);

/// <summary>One run of a sweep: which step and which hit (and how many consecutive hits from it)
/// were failed, and what happened.</summary>
public sealed record SweepRun(int Step, long N, string Plan, RunReport Report, long Count = 1)
{
    public InjectedFault? Injected => Report.Injected.Count > 0 ? Report.Injected[0] : null;
}

/// <summary>The outcome of a fail-nth sweep over one scenario.</summary>
public sealed record SweepResult(
    Scenario Base,
    RunReport Baseline,
    IReadOnlyList<SweepRun> Runs,
    IReadOnlyList<SiteStats> Sites,
    IReadOnlyList<SweepRun> Failures)
{
    public long FaultsInjected => Runs.Count(r => r.Injected is not null);
}

/// <summary>
/// fail-nth over a sequence, the way the kernel's iommufd_fail_nth does over a test body but per
/// operation: for each operation k and N = 1, 2, ... run the whole scenario again with only the
/// N-th fault-site hit of operation k failing, until operation k no longer reaches an N-th site.
/// The teardown that follows the last operation is swept the same way (step -1). With
/// <c>consecutive</c> = C &gt; 1 each run fails hits N .. N+C-1 of the step instead of one, which
/// reaches the fallbacks tried only after a first failure (temp_kmalloc's PAGE_SIZE retries). Every run is
/// checked by the oracle after every step, wrapped with the all-or-nothing and destroy-never-fails
/// checks, and by the oracle's teardown check for leaks. Deterministic: the runs depend only on the scenario.
/// </summary>
public static class FailNthSweep
{
    /// <summary>The thread the runner executes operations on, as the execution context numbers it.</summary>
    public const int RunnerThread = 1;

    public static SweepResult Run(Scenario scenario, Func<IOracle> oracle, int maxNPerStep = 400,
        Func<int, bool>? stepFilter = null, Action<SweepRun>? progress = null, long consecutive = 1, ISystemUnderTest? system = null)
    {
        var code = system ?? PortSystem.Instance;
        ArgumentOutOfRangeException.ThrowIfLessThan(consecutive, 1);
        var unfaulted = scenario with { FaultPlan = "none" };
        Func<IOracle> checks = () => new DestroyNeverFailsOracle(new AllOrNothingOracle(oracle()));
        var baseline = Runner.Run(code, unfaulted, checks);
        var runs = new List<SweepRun>();
        var reached = new Dictionary<string, long>(StringComparer.Ordinal);
        var failed = new Dictionary<string, long>(StringComparer.Ordinal);
        var recovered = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (site, hits) in baseline.SiteHits)
            reached[site] = hits;
        if (baseline.Failed)
            return new SweepResult(scenario, baseline, runs, Stats(reached, failed, recovered), []);

        int steps = baseline.Steps.Count;
        // Every operation, then the teardown (step -1): its destroy paths must not fail either.
        foreach (int step in Enumerable.Range(0, steps).Append(-1))
        {
            if (stepFilter is not null && !stepFilter(step))
                continue;
            for (long n = 1; n <= maxNPerStep; n++)
            {
                string plan = consecutive == 1
                    ? new FailNthInStep(step, n, RunnerThread).Describe()
                    : new FailNthRunInStep(step, n, consecutive, RunnerThread).Describe();
                var report = Runner.Run(code, unfaulted with { FaultPlan = plan }, checks);
                var run = new SweepRun(step, n, plan, report, consecutive);
                if (run.Injected is null)
                    break; // operation `step` no longer reaches an n-th site
                runs.Add(run);
                progress?.Invoke(run);
                foreach (var fault in report.Injected)
                {
                    failed[fault.Site] = failed.GetValueOrDefault(fault.Site) + 1;
                    if (!report.Failed)
                        recovered[fault.Site] = recovered.GetValueOrDefault(fault.Site) + 1;
                }
                foreach (var (site, hits) in report.SiteHits)
                    reached[site] = reached.GetValueOrDefault(site) + hits;
            }
        }
        return new SweepResult(scenario, baseline, runs, Stats(reached, failed, recovered),
            runs.Where(r => r.Report.Failed).ToArray());
    }

    private static IReadOnlyList<SiteStats> Stats(Dictionary<string, long> reached, Dictionary<string, long> failed,
        Dictionary<string, long> recovered) =>
        reached.Keys.Union(failed.Keys).OrderBy(s => s, StringComparer.Ordinal)
            .Select(s => new SiteStats(s, reached.GetValueOrDefault(s), failed.GetValueOrDefault(s), recovered.GetValueOrDefault(s)))
            .ToArray();
}
