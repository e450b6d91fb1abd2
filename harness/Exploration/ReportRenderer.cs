// SPDX-License-Identifier: GPL-2.0-only
using System.Text;
using Iommufd.Faults;
using Iommufd.Harness.Execution;
using Iommufd.Harness.Oracle;
using Iommufd.Harness.Repro;

namespace Iommufd.Harness.Exploration;

/// <summary>
/// Renders a run report as text: the model variant and fault plan, each operation with what it
/// did, the faults injected, the broken invariant with the step and the relevant state, and the
/// reproducer string. The text depends only on the report, which depends only on the scenario,
/// so replaying a scenario twice renders byte-identical text.
/// </summary>
public static class ReportRenderer
{
    public static string Render(RunReport report)
    {
        var s = report.Scenario;
        var sb = new StringBuilder();
        sb.Append("model:   ").AppendLine(s.Patches.Count == 0 ? "as released" : "patched: " + string.Join(",", s.Patches));
        sb.Append("faults:  ").AppendLine(s.FaultPlan);
        sb.Append("steps:   ").Append(s.Ops.Count).AppendLine(" operations");
        int failedAt = report.Violation?.Step ?? -2;
        for (int i = 0; i < s.Ops.Count; i++)
        {
            string outcome = i < report.Steps.Count ? report.Steps[i].Result.ToString() : "(not run)";
            sb.Append(i == failedAt ? " >" : "  ").Append($"{i,3}: ").Append(s.Ops[i]).Append("  ->  ").AppendLine(outcome);
        }
        AppendOutcome(sb, report.Injected, report.Violation, v => v.ToString());
        sb.Append("reproducer: ").AppendLine(ReproducerCodec.Encode(s));
        return sb.ToString();
    }

    /// <summary>The faults injected, the result line (<paramref name="describe"/> of the violation,
    /// or "no violation") and the violation's state, as every run rendering prints them.</summary>
    public static void AppendOutcome(StringBuilder sb, IEnumerable<InjectedFault> injected, Violation? violation,
        Func<Violation, string> describe)
    {
        foreach (var f in injected)
            sb.AppendLine($"injected: {f.Site} hit {f.SiteHit} (thread {f.ThreadId}, thread hit {f.ThreadHit})");
        if (violation is null)
        {
            sb.AppendLine("result:  no violation");
            return;
        }
        sb.Append("result:  ").AppendLine(describe(violation));
        if (violation.State.Length == 0)
            return;
        sb.AppendLine("state:");
        foreach (var line in violation.State.Split('\n'))
            sb.Append("  ").AppendLine(line.TrimEnd('\r'));
    }
}
