// SPDX-License-Identifier: GPL-2.0-only
using System.Globalization;
using Iommufd.Harness.Exploration;

namespace Iommufd.Cli;

/// <summary>The end-of-run summary of <c>explore</c>: totals, rates and what was reached.</summary>
public static class Summary
{
    public static void Write(TextWriter output, ExploreStats o, bool interrupted)
    {
        double seconds = Math.Max(o.Elapsed.TotalSeconds, 1e-9);
        var errorPaths = o.OpsByKindAndRc.Where(kv => o.ErrorPaths.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        output.WriteLine();
        output.WriteLine(interrupted ? "summary (interrupted):" : "summary:");
        output.WriteLine($"  sequences:      {o.Sequences}");
        output.WriteLine($"  operations:     {o.Operations}");
        output.WriteLine($"  elapsed:        {o.Elapsed.TotalSeconds.ToString("F2", CultureInfo.InvariantCulture)} s");
        output.WriteLine($"  operations/s:   {(o.Operations / seconds).ToString("F0", CultureInfo.InvariantCulture)}");
        output.WriteLine($"  sequences/s:    {(o.Sequences / seconds).ToString("F1", CultureInfo.InvariantCulture)}");
        output.WriteLine($"  faults injected: {o.FaultsInjected}");
        output.WriteLine($"  operation kinds reached: {o.OpsByKind.Count}; error paths reached: {errorPaths.Count}; fault sites reached: {o.FaultSiteHits.Count}");
        Section(output, "operations reached", "operation", o.OpsByKind);
        Section(output, "error paths reached (operation and return code)", "path", errorPaths);
        Section(output, "fault sites reached (hits; no faults are injected unless the plan says so)", "site", o.FaultSiteHits);
    }

    private static void Section(TextWriter output, string title, string what, IReadOnlyDictionary<string, long> counts)
    {
        output.WriteLine();
        output.WriteLine(title + ":");
        if (counts.Count == 0)
        {
            output.WriteLine("  (none)");
            return;
        }
        Tables.Write(output, [what, "count"],
            counts.OrderBy(kv => kv.Key, StringComparer.Ordinal)
                .Select(kv => new[] { kv.Key, kv.Value.ToString(CultureInfo.InvariantCulture) }));
    }
}
