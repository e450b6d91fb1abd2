// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;

namespace Iommufd.Harness.Scheduling;

/// <summary>The smallest failing concurrent scenario found, the engine trace that shows it, the
/// violation, and the runs spent.</summary>
public sealed record InterleaveShrinkResult(ConcurrentScenario Scenario, string Trace, Violation Violation, int Runs);

/// <summary>
/// Greedy, deterministic shrinking of a failing concurrent scenario: drop a whole thread, then
/// single operations of the threads, then single setup operations, repeated until nothing more
/// goes. A candidate is kept when it shows the same failure (<see cref="Violation.SameFailure"/>):
/// first under a loose replay of the current trace (the engine follows it while it fits),
/// otherwise under a fresh search of up to <paramref name="searchSchedules"/> schedules of the engine.
/// </summary>
public sealed class InterleaveShrinker(ISystemUnderTest system, IInterleavingEngine engine, ulong seed, int budget = 1000,
    int searchSchedules = 25, int stepBudget = InterleaveRunner.DefaultStepBudget, CancellationToken cancel = default)
{
    private int runs;

    public InterleaveShrinkResult Shrink(ConcurrentScenario scenario, string trace, Violation violation)
    {
        var best = (Scenario: scenario, Trace: trace, Violation: violation);
        bool progress = true;
        while (progress && runs < budget && !cancel.IsCancellationRequested)
        {
            progress = false;
            foreach (var candidate in Candidates(best.Scenario))
            {
                if (runs >= budget || cancel.IsCancellationRequested)
                    break;
                if (Try(candidate, best.Trace, violation) is { } found)
                {
                    best = (candidate, found.Reproducer.Trace, found.Violation!);
                    progress = true;
                    break;
                }
            }
        }
        return new InterleaveShrinkResult(best.Scenario, best.Trace, best.Violation, runs);
    }

    private InterleaveReport Run(ConcurrentScenario candidate, IScheduledRun run) =>
        InterleaveRunner.Run(system, candidate, engine, run, stepBudget);

    private InterleaveReport? Try(ConcurrentScenario candidate, string trace, Violation original)
    {
        runs++;
        var report = engine.Replay(trace, strict: false, run => Run(candidate, run));
        if (report.Violation is { } v && original.SameFailure(v))
            return report;
        int left = Math.Min(searchSchedules, budget - runs);
        if (left <= 0 || cancel.IsCancellationRequested)
            return null;
        var search = engine.Explore(SeedMix.Derive(seed, (ulong)runs), left,
            run =>
            {
                var r = Run(candidate, run);
                return r.Violation is { } w && original.SameFailure(w) ? r : r with { Violation = null };
            }, cancel);
        runs += search.Schedules;
        return search.Failure;
    }

    /// <summary>Smaller scenarios: without one thread, without one thread operation, without one setup operation.</summary>
    public static IEnumerable<ConcurrentScenario> Candidates(ConcurrentScenario s)
    {
        if (s.Threads.Count > 1)
            for (int t = s.Threads.Count - 1; t >= 0; t--)
                yield return s with { Threads = s.Threads.Where((_, i) => i != t).ToArray() };
        for (int t = 0; t < s.Threads.Count; t++)
            for (int j = s.Threads[t].Count - 1; j >= 0 && s.Threads[t].Count > 1; j--)
                yield return s with { Threads = s.Threads.Select((ops, i) => i == t ? Without(ops, j) : ops).ToArray() };
        for (int k = s.Setup.Count - 1; k >= 0; k--)
            yield return s with { Setup = Without(s.Setup, k) };
    }

    private static IReadOnlyList<Op> Without(IReadOnlyList<Op> ops, int index) => ops.Where((_, i) => i != index).ToArray();
}
