// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Exploration;
using Iommufd.Harness.Oracle;
using Iommufd.Model.Port;
using Iommufd.Model.Patches;

namespace Iommufd.Tests.Findings;

/// <summary>
/// The findings' patches together: the budget of exploration that finds a violation in the model
/// as released (on every seed below) runs clean with every patch switched on. This is what a
/// kernel developer checks before sending the fixes: nothing else breaks within the same budget.
/// `bash ci/coverage.sh --filter FullyQualifiedName~PatchedExploration` reports the port coverage
/// that this exploration alone reaches.
/// </summary>
public class PatchedExplorationTests
{
    private const int Budget = 600;

    private static ExploreResult Explore(ulong seed, bool faults, IReadOnlyList<string> patches) =>
        new Explorer(() => new SpecOracle()).Explore(new ExploreOptions
        {
            Seed = seed,
            Iterations = Budget,
            MixFaultPlans = faults,
            Patches = patches,
            ShrinkBudget = 0,
        });

    [Theory]
    [InlineData(1UL, false)]
    [InlineData(2UL, false)]
    [InlineData(3UL, true)]
    [InlineData(4UL, true)]
    public void The_budget_that_finds_a_violation_as_released_is_clean_with_every_patch(ulong seed, bool faults)
    {
        var released = Explore(seed, faults, []);
        Assert.True(released.Found, $"seed {seed}: the model as released ran {Budget} sequences clean; the budget no longer shows the findings");

        var patched = Explore(seed, faults, ModelPatches.AllFindings);
        Assert.True(patched.Finding is null,
            $"seed {seed}: with every patch: {patched.Finding?.OriginalViolation} (reproducer {patched.Finding?.Reproducer})");
        Assert.Equal(Budget, patched.Stats.Sequences);
    }
}
