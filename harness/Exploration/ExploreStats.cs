// SPDX-License-Identifier: GPL-2.0-only
using System.Globalization;
using System.Text;
using Iommufd.Harness.Execution;

namespace Iommufd.Harness.Exploration;

/// <summary>
/// The counters of an exploration: sequences and operations run, operations by kind and by
/// return code, the error paths reached (distinct (kind, rc != 0) pairs), and how often each fault
/// site was reached. Everything but <see cref="Elapsed"/> is deterministic; dictionaries are
/// sorted so that renderings are stable.
/// </summary>
public sealed record ExploreStats(
    int Sequences,
    long Operations,
    long Skipped,
    TimeSpan Elapsed,
    IReadOnlyDictionary<string, long> OpsByKind,
    IReadOnlyDictionary<int, long> OpsByRc,
    IReadOnlyDictionary<string, long> OpsByKindAndRc,
    IReadOnlyList<string> ErrorPaths,
    IReadOnlyDictionary<string, long> FaultSiteHits,
    long FaultsInjected = 0)
{
    public double OpsPerSecond => Elapsed.TotalSeconds > 0 ? Operations / Elapsed.TotalSeconds : 0;
    public double SequencesPerSecond => Elapsed.TotalSeconds > 0 ? Sequences / Elapsed.TotalSeconds : 0;

    /// <summary>A text summary; without timing it is byte-identical for identical runs.</summary>
    public string Render(bool includeTiming)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(ci, $"sequences: {Sequences}, operations: {Operations} (skipped: {Skipped})").AppendLine();
        if (includeTiming)
            sb.Append(ci, $"elapsed: {Elapsed.TotalSeconds:F1} s, {OpsPerSecond:F0} ops/s, {SequencesPerSecond:F1} sequences/s").AppendLine();
        sb.AppendLine("operations by kind:");
        foreach (var (k, v) in OpsByKind)
            sb.Append(ci, $"  {k,-20} {v,8}").AppendLine();
        sb.AppendLine("operations by return code:");
        foreach (var (k, v) in OpsByRc)
            sb.Append(ci, $"  {k,6} {v,8}").AppendLine();
        sb.Append(ci, $"error paths reached ({ErrorPaths.Count}): ").AppendLine(string.Join(", ", ErrorPaths));
        sb.Append(ci, $"faults injected: {FaultsInjected}").AppendLine();
        sb.Append(ci, $"fault sites reached ({FaultSiteHits.Count}):").AppendLine();
        foreach (var (k, v) in FaultSiteHits)
            sb.Append(ci, $"  {k,-44} {v,10}").AppendLine();
        return sb.ToString();
    }

    /// <summary>Accumulates counters over runs (one exploration only).</summary>
    internal sealed class Builder
    {
        private readonly SortedDictionary<string, long> byKind = new(StringComparer.Ordinal);
        private readonly SortedDictionary<int, long> byRc = [];
        private readonly SortedDictionary<string, long> byKindAndRc = new(StringComparer.Ordinal);
        private readonly SortedDictionary<string, long> sites = new(StringComparer.Ordinal);
        private int sequences;
        private long operations, skipped, injected;

        public long Operations => operations;
        public int Sequences => sequences;

        public void Add(RunReport report)
        {
            sequences++;
            foreach (var step in report.Steps)
            {
                operations++;
                string kind = step.Op.GetType().Name;
                if (step.Result.Skipped)
                {
                    skipped++;
                    Bump(byKindAndRc, $"{kind} skipped");
                    continue;
                }
                Bump(byKind, kind);
                Bump(byRc, step.Result.Rc);
                Bump(byKindAndRc, $"{kind} rc={step.Result.Rc}");
            }
            injected += report.Injected.Count;
            foreach (var (site, hits) in report.SiteHits)
                sites[site] = sites.GetValueOrDefault(site) + hits;
        }

        private static void Bump<TKey>(SortedDictionary<TKey, long> d, TKey key) where TKey : notnull =>
            d[key] = d.GetValueOrDefault(key) + 1;

        public ExploreStats Build(TimeSpan elapsed) => new(
            sequences, operations, skipped, elapsed,
            new SortedDictionary<string, long>(byKind, StringComparer.Ordinal),
            new SortedDictionary<int, long>(byRc),
            new SortedDictionary<string, long>(byKindAndRc, StringComparer.Ordinal),
            byKindAndRc.Keys.Where(k => k.Contains(" rc=", StringComparison.Ordinal) && !k.EndsWith(" rc=0", StringComparison.Ordinal)).ToArray(),
            new SortedDictionary<string, long>(sites, StringComparer.Ordinal),
            injected);
    }
}
