// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;

namespace Iommufd.Harness.Scheduling;

/// <summary>The smallest failing concurrent scenario found, the schedule that shows it, the
/// violation, and the runs spent.</summary>
public sealed record InterleaveShrinkResult(ConcurrentScenario Scenario, IReadOnlyList<int> Schedule, Violation Violation, int Runs);

/// <summary>
/// Greedy, deterministic shrinking of a failing concurrent scenario: drop a whole thread, then
/// single operations of the threads, then single setup operations, repeated until nothing more
/// goes. A candidate is kept when it shows the same failure (<see cref="Violation.SameFailure"/>):
/// first under a replay of the current schedule (the prefix it still fits), otherwise under a
/// fresh search of up to <paramref name="searchSchedules"/> schedules of the original strategy.
/// </summary>
public sealed class InterleaveShrinker(StrategySpec strategy, ulong seed, int budget = 1000, int searchSchedules = 25,
    int stepBudget = InterleaveRunner.DefaultStepBudget, CancellationToken cancel = default)
{
    private int runs;

    public InterleaveShrinkResult Shrink(ConcurrentScenario scenario, IReadOnlyList<int> schedule, Violation violation)
    {
        var best = (Scenario: scenario, Schedule: schedule, Violation: violation);
        bool progress = true;
        while (progress && runs < budget && !cancel.IsCancellationRequested)
        {
            progress = false;
            foreach (var candidate in Candidates(best.Scenario))
            {
                if (runs >= budget || cancel.IsCancellationRequested)
                    break;
                if (Try(candidate, best.Schedule, violation) is { } found)
                {
                    best = (candidate, found.ScheduleChoices, found.Violation!);
                    progress = true;
                    break;
                }
            }
        }
        return new InterleaveShrinkResult(best.Scenario, best.Schedule, best.Violation, runs);
    }

    private InterleaveReport? Try(ConcurrentScenario candidate, IReadOnlyList<int> schedule, Violation original)
    {
        var replay = new ReplayStrategy(schedule, strategy.Name);
        replay.PrepareNextIteration();
        runs++;
        var report = InterleaveRunner.Run(candidate, replay, stepBudget, strictReplay: false);
        if (report.Violation is { } v && original.SameFailure(v))
            return report;
        var search = strategy.Create(SeedMix.Derive(seed, (ulong)runs));
        for (int i = 0; i < searchSchedules && runs < budget && !cancel.IsCancellationRequested && search.PrepareNextIteration(); i++)
        {
            runs++;
            report = InterleaveRunner.Run(candidate, search, stepBudget);
            if (report.Violation is { } w && original.SameFailure(w))
                return report;
        }
        return null;
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
