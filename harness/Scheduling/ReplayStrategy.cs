// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Harness.Scheduling;

/// <summary>
/// Follows a recorded schedule exactly, decision for decision (forced decisions included). A
/// recorded choice that is not runnable, a run that needs more decisions than were recorded, or,
/// when the record has the site of every decision, a decision taken at another site than
/// recorded, is a divergence (<see cref="ScheduleDivergenceException"/>, naming both sites): the
/// program or the model no longer behaves as when the schedule was recorded. A run that takes
/// fewer decisions than recorded is reported by the engine, which compares the schedules. One
/// schedule only; then exhausted.
/// </summary>
public sealed class ReplayStrategy(IReadOnlyList<int> recorded, string recordedBy = "replay", IReadOnlyList<string>? sites = null)
    : SchedulingStrategyBase
{
    public override string Name => "replay";
    /// <summary>The strategy that produced the recorded schedule.</summary>
    public string RecordedBy { get; } = recordedBy;
    public IReadOnlyList<int> Recorded { get; } = recorded;

    public override bool IsExhausted => Iteration > 0;

    protected override bool ForcedChoicesNeedNoPick => false;

    protected override bool Advance() => false;

    protected override void Prepare(int iteration) { }

    protected override int Pick(Decision decision)
    {
        if (decision.Step >= Recorded.Count)
            throw new ScheduleDivergenceException(
                $"the run reached decision {decision.Step} at {decision.Site}, past the {Recorded.Count} recorded decisions");
        if (sites is not null && decision.Step < sites.Count && !string.Equals(sites[decision.Step], decision.Site, StringComparison.Ordinal))
            throw new ScheduleDivergenceException(
                $"decision {decision.Step} is taken at {decision.Site}, but the record took it at {sites[decision.Step]}");
        int t = Recorded[decision.Step];
        if (!decision.Runnable.Contains(t))
            throw new ScheduleDivergenceException(
                $"decision {decision.Step} at {decision.Site}: recorded T{t} is not runnable (runnable: {string.Join(" ", decision.Runnable.Select(x => $"T{x}"))})");
        return t;
    }
}
