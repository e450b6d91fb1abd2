// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Faults;

/// <summary>
/// The one question every fault site of the model asks: "does this hit fail?".
/// A site is a stable name (see <see cref="FaultSites"/>); the injector counts hits and
/// decides from its plan, and records every decision that injected a failure.
/// </summary>
public interface IFaultInjector
{
    /// <summary>Called once per hit of <paramref name="site"/> by thread <paramref name="threadId"/>.</summary>
    bool ShouldFail(string site, int threadId);

    /// <summary>Everything injected so far, in order.</summary>
    IReadOnlyList<InjectedFault> Injected { get; }

    /// <summary>How often each site was reached (hits), whether or not it failed.</summary>
    IReadOnlyDictionary<string, long> Hits { get; }

    /// <summary>The run moves to step (operation) <paramref name="index"/>; -1 for teardown.</summary>
    void BeginStep(int index);
}

/// <summary>One injected failure: which site, which hit of that site (1-based), on which thread,
/// the thread's overall hit number (what fail-nth counts) and the step it happened in.</summary>
public sealed record InjectedFault(string Site, long SiteHit, int ThreadId, long ThreadHit, int Step = -1);
