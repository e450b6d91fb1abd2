// SPDX-License-Identifier: GPL-2.0-only
using System.Text;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;

using Iommufd.Harness.Exploration;

namespace Iommufd.Harness.Scheduling;

/// <summary>
/// Renders a concurrent run as text: the model variant and fault plan, the setup with results,
/// each thread's operations with results, the interleaving (every decision: the thread that
/// stopped, where, the thread chosen, the runnable ones), the violation and the reproducer. The
/// text depends only on the report, so replaying a reproducer twice prints the same bytes.
/// </summary>
public static class InterleaveRenderer
{
    public static string DescribeScenario(ConcurrentScenario s)
    {
        var sb = new StringBuilder();
        if (s.Backend is { } code)
            sb.Append("code:    ").AppendLine(code);
        sb.Append("model:   ").AppendLine(s.Patches.Count == 0 ? "as released" : "patched: " + string.Join(",", s.Patches));
        sb.Append("faults:  ").AppendLine(s.FaultPlan);
        sb.AppendLine($"setup ({s.Setup.Count} operations, on the driver thread):");
        for (int i = 0; i < s.Setup.Count; i++)
            sb.AppendLine($"  {i,3}: {s.Setup[i]}");
        for (int t = 0; t < s.Threads.Count; t++)
        {
            sb.AppendLine($"thread T{t + 1}:");
            for (int j = 0; j < s.Threads[t].Count; j++)
                sb.AppendLine($"  {j,3}: {s.Threads[t][j]}");
        }
        return sb.ToString();
    }

    /// <summary>A violation with where it happened: at a setup step, in the concurrent phase
    /// (step <c>Setup.Count</c>) or at teardown (step -1).</summary>
    public static string Describe(Violation v, ConcurrentScenario s) =>
        $"{v.Invariant} {(v.Step < 0 ? "at teardown" : v.Step < s.Setup.Count ? $"at setup step {v.Step}" : "in the concurrent phase")}: {v.Message}";

    public static string Render(InterleaveReport report)
    {
        var s = report.Scenario;
        var sb = new StringBuilder();
        if (s.Backend is { } code)
            sb.Append("code:    ").AppendLine(code);
        sb.Append("model:   ").AppendLine(s.Patches.Count == 0 ? "as released" : "patched: " + string.Join(",", s.Patches));
        sb.Append("faults:  ").AppendLine(s.FaultPlan);
        sb.AppendLine($"setup ({s.Setup.Count} operations, on the driver thread):");
        for (int i = 0; i < s.Setup.Count; i++)
        {
            string outcome = i < report.SetupSteps.Count ? report.SetupSteps[i].Result.ToString() : "(not run)";
            bool failed = report.Violation?.Step == i && report.Threads is null;
            sb.Append(failed ? " >" : "  ").AppendLine($"{i,3}: {s.Setup[i]}  ->  {outcome}");
        }
        for (int t = 0; t < s.Threads.Count; t++)
        {
            sb.AppendLine($"thread T{t + 1}:");
            for (int j = 0; j < s.Threads[t].Count; j++)
            {
                var r = t < report.ThreadResults.Count ? report.ThreadResults[t][j] : null;
                string outcome = r?.ToString() ?? (report.Threads is null ? "(not run)" : "(did not finish)");
                sb.AppendLine($"  {j,3}: {s.Threads[t][j]}  ->  {outcome}");
            }
        }
        if (report.Threads is { } run)
        {
            sb.AppendLine($"interleaving ({run.Decisions} decisions, schedule from the {report.Engine} engine, {report.Strategy}; step, thread that stopped, where, thread chosen, runnable threads):");
            foreach (var entry in run.Trace)
                sb.Append("  ").AppendLine(entry.ToString());
            sb.AppendLine($"run:     {run.Outcome}{(run.Message.Length > 0 ? ": " + run.Message : "")}");
        }
        ReportRenderer.AppendOutcome(sb, report.Injected, report.Violation, v => Describe(v, s));
        sb.Append("reproducer: ").AppendLine(InterleaveReproducerCodec.Encode(report.Reproducer));
        return sb.ToString();
    }
}
