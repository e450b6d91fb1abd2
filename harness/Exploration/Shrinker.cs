// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;

namespace Iommufd.Harness.Exploration;

/// <summary>The smallest failing scenario found, the violation it shows, and how many runs it took.</summary>
public sealed record ShrinkResult(Scenario Scenario, Violation Violation, int Runs);

/// <summary>
/// Greedy, deterministic shrinking of a failing scenario. A candidate is kept when running it
/// shows the same failure as the original (<see cref="Violation.SameFailure"/>). Passes, repeated until none makes
/// progress or the run budget is spent: cut everything after the failing step; remove chunks of
/// operations (halves down to single operations); simplify single operations (smaller handles,
/// lengths, offsets, segment page counts; see <see cref="ScenarioShrinks.Simplify"/>).
/// </summary>
public sealed class Shrinker(Func<Scenario, Violation?> run, int budget = 2000)
{
    public ShrinkResult Shrink(Scenario failing, Violation violation)
    {
        var state = new State(run, budget, failing, violation);
        state.Truncate();
        bool progress = true;
        while (progress && state.HasBudget)
        {
            progress = RemoveChunks(state);
            progress |= SimplifyOps(state);
        }
        return new ShrinkResult(state.Best, state.BestViolation, state.Runs);
    }

    private static bool RemoveChunks(State s)
    {
        bool any = false;
        for (int n = Math.Max(1, s.Best.Ops.Count / 2); n >= 1 && s.HasBudget; n = n == 1 ? 0 : n / 2)
        {
            int i = 0;
            while (i + n <= s.Best.Ops.Count && s.HasBudget)
            {
                if (s.TryAccept(s.Best with { Ops = ScenarioShrinks.Remove(s.Best.Ops, i, n) }))
                    any = true;
                else
                    i += n;
            }
        }
        return any;
    }

    private static bool SimplifyOps(State s)
    {
        bool any = false;
        for (int i = 0; i < s.Best.Ops.Count && s.HasBudget; i++)
        {
            bool changed = true;
            while (changed && i < s.Best.Ops.Count && s.HasBudget)
            {
                changed = false;
                foreach (var op in ScenarioShrinks.Simplify(s.Best.Ops[i]))
                {
                    if (!s.HasBudget)
                        break;
                    if (s.TryAccept(s.Best with { Ops = ScenarioShrinks.Replace(s.Best.Ops, i, op) }))
                    {
                        any = changed = true;
                        break;
                    }
                }
            }
        }
        return any;
    }

    private sealed class State(Func<Scenario, Violation?> run, int budget, Scenario best, Violation violation)
    {
        private readonly Violation original = violation;
        public Scenario Best { get; private set; } = best;
        public Violation BestViolation { get; private set; } = violation;
        public int Runs { get; private set; }
        public bool HasBudget => Runs < budget;

        public bool TryAccept(Scenario candidate)
        {
            Runs++;
            var v = run(candidate);
            if (v is null || !original.SameFailure(v))
                return false;
            Best = candidate;
            BestViolation = v;
            Truncate();
            return true;
        }

        /// <summary>Operations after the failing step cannot matter (the run stopped there).</summary>
        public void Truncate()
        {
            if (BestViolation.Step >= 0 && BestViolation.Step + 1 < Best.Ops.Count)
                Best = Best with { Ops = Best.Ops.Take(BestViolation.Step + 1).ToArray() };
        }
    }
}
