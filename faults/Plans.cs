// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Faults;

/// <summary>
/// One hit of a fault site: the site, the how-many-th hit of that site this is, the thread, the
/// thread's overall hit number (what fail-nth counts), the step of the run (operation index, -1
/// outside any step) and the thread's hit number within that step.
/// </summary>
public readonly record struct FaultHit(string Site, long SiteHit, int ThreadId, long ThreadHit, int Step, long StepThreadHit);

/// <summary>Decides, for one hit, whether it fails. Plans are pure functions of their inputs and
/// their own seed so that the same run injects the same faults.</summary>
public interface IFaultPlan
{
    bool Decide(in FaultHit hit);
    /// <summary>Canonical text form, part of a reproducer string.</summary>
    string Describe();
}

/// <summary>Never fails.</summary>
public sealed class NoFaults : IFaultPlan
{
    public bool Decide(in FaultHit hit) => false;
    public string Describe() => "none";
}

/// <summary>Fail the N-th hit counted per thread, over every site (like
/// /proc/self/task/&lt;tid&gt;/fail-nth). Optionally restricted to one thread.</summary>
public sealed class FailNth(long n, int? threadId = null) : IFaultPlan
{
    public long N { get; } = n >= 1 ? n : throw new ArgumentOutOfRangeException(nameof(n));
    public bool Decide(in FaultHit hit) =>
        (threadId is null || threadId == hit.ThreadId) && hit.ThreadHit == N;
    public string Describe() => threadId is null ? $"nth:{N}" : $"nth:{N}@{threadId}";
}

/// <summary>
/// Fail the N-th hit of one thread within one step (operation) of a run: the unit of a fail-nth
/// sweep over a sequence, which fails each operation's N-th site for N = 1, 2, ... in turn.
/// </summary>
public sealed class FailNthInStep(int step, long n, int threadId) : IFaultPlan
{
    /// <summary>The operation index, or -1 for the teardown that follows the last operation.</summary>
    public int Step { get; } = step >= -1 ? step : throw new ArgumentOutOfRangeException(nameof(step));
    public long N { get; } = n >= 1 ? n : throw new ArgumentOutOfRangeException(nameof(n));
    public int ThreadId { get; } = threadId;
    public bool Decide(in FaultHit hit) => hit.Step == Step && hit.ThreadId == ThreadId && hit.StepThreadHit == N;
    public string Describe() => $"step:{Step}:nth:{N}@{ThreadId}";
}

/// <summary>
/// Fail a run of <c>Count</c> consecutive hits of one thread within one step: hits N .. N+Count-1.
/// The kernel's fail-nth fails one hit; failing two in a row reaches the fallbacks that are tried
/// only after a first attempt failed (temp_kmalloc's PAGE_SIZE retries). Text: <c>step:K:nth:N+C@T</c>.
/// </summary>
public sealed class FailNthRunInStep(int step, long n, long count, int threadId) : IFaultPlan
{
    /// <summary>The operation index, or -1 for the teardown that follows the last operation.</summary>
    public int Step { get; } = step >= -1 ? step : throw new ArgumentOutOfRangeException(nameof(step));
    public long N { get; } = n >= 1 ? n : throw new ArgumentOutOfRangeException(nameof(n));
    public long Count { get; } = count >= 1 && count <= long.MaxValue - n ? count : throw new ArgumentOutOfRangeException(nameof(count));
    public int ThreadId { get; } = threadId;
    public bool Decide(in FaultHit hit) =>
        hit.Step == Step && hit.ThreadId == ThreadId && hit.StepThreadHit >= N && hit.StepThreadHit - N < Count;
    public string Describe() => $"step:{Step}:nth:{N}+{Count}@{ThreadId}";
}

/// <summary>Fail exactly the listed (site, hit) pairs.</summary>
public sealed class ExplicitFaults(IEnumerable<(string Site, long Hit)> list) : IFaultPlan
{
    private readonly HashSet<(string, long)> set = [.. list];
    public bool Decide(in FaultHit hit) => set.Contains((hit.Site, hit.SiteHit));
    public string Describe() =>
        "list:" + string.Join(',', set.OrderBy(p => p.Item1, StringComparer.Ordinal).ThenBy(p => p.Item2)
                                     .Select(p => $"{p.Item1}#{p.Item2}"));
}

/// <summary>Each hit of a site fails with the site's probability; the decision is a hash of
/// (seed, site, hit), so it does not depend on the order threads reach sites.</summary>
public sealed class ProbabilisticFaults(ulong seed, IReadOnlyDictionary<string, double> perSite, double otherwise = 0) : IFaultPlan
{
    public bool Decide(in FaultHit hit)
    {
        double p = perSite.TryGetValue(hit.Site, out var v) ? v : otherwise;
        if (p <= 0) return false;
        ulong h = Mix(seed ^ Fnv(hit.Site) ^ Mix((ulong)hit.SiteHit));
        return (h >> 11) * (1.0 / (1UL << 53)) < p;
    }

    public string Describe() =>
        $"prob:{seed}:{otherwise.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}" +
        string.Concat(perSite.OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => $",{kv.Key}={kv.Value.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}"));

    private static ulong Fnv(string s)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in s) { h ^= c; h *= 1099511628211UL; }
        return h;
    }

    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}

/// <summary>The injector: counts hits per site and per thread and asks the plan.</summary>
public sealed class FaultInjector(IFaultPlan plan) : IFaultInjector
{
    private readonly object gate = new();
    private readonly Dictionary<string, long> hits = new(StringComparer.Ordinal);
    private readonly Dictionary<int, long> threadHits = [];
    private readonly Dictionary<int, long> stepThreadHits = [];
    private readonly List<InjectedFault> injected = [];
    private int step = -1;

    public IFaultPlan Plan { get; } = plan;
    public IReadOnlyList<InjectedFault> Injected { get { lock (gate) return injected.ToArray(); } }
    public IReadOnlyDictionary<string, long> Hits { get { lock (gate) return new Dictionary<string, long>(hits); } }

    /// <summary>Hits counted so far on one thread (fail-nth's counter).</summary>
    public long ThreadHits(int threadId) { lock (gate) return threadHits.GetValueOrDefault(threadId); }

    /// <summary>Hits counted so far in the current step on one thread.</summary>
    public long StepThreadHits(int threadId) { lock (gate) return stepThreadHits.GetValueOrDefault(threadId); }

    /// <summary>The run moves to step (operation) <paramref name="index"/>; -1 for teardown.</summary>
    public void BeginStep(int index)
    {
        lock (gate)
        {
            step = index;
            stepThreadHits.Clear();
        }
    }

    public bool ShouldFail(string site, int threadId)
    {
        lock (gate)
        {
            long siteHit = hits[site] = hits.GetValueOrDefault(site) + 1;
            long threadHit = threadHits[threadId] = threadHits.GetValueOrDefault(threadId) + 1;
            long stepHit = stepThreadHits[threadId] = stepThreadHits.GetValueOrDefault(threadId) + 1;
            if (!Plan.Decide(new FaultHit(site, siteHit, threadId, threadHit, step, stepHit))) return false;
            injected.Add(new InjectedFault(site, siteHit, threadId, threadHit, step));
            return true;
        }
    }
}
