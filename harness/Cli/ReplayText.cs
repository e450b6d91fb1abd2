// SPDX-License-Identifier: GPL-2.0-only
using System.Text;
using Iommufd.Harness.Execution;
using Iommufd.Harness.Repro;

namespace Iommufd.Cli;

/// <summary>
/// Renders one run as readable text: the model variant and fault plan, every operation with what
/// it did, the verdict (the invariant and the step), the relevant state, the faults injected and
/// the reproducer string. Nothing in it depends on time or machine, so replaying the same
/// scenario twice gives the same bytes.
/// </summary>
public static class ReplayText
{
    public static string Render(RunReport report)
    {
        var scenario = report.Scenario;
        var sb = new StringBuilder();
        sb.Append("scenario: ").Append(scenario.Ops.Count).AppendLine(scenario.Ops.Count == 1 ? " operation" : " operations");
        sb.Append("patches:  ").AppendLine(scenario.Patches.Count == 0 ? "(as released)" : string.Join(",", scenario.Patches));
        sb.Append("faults:   ").AppendLine(scenario.FaultPlan);
        var results = report.Steps.ToDictionary(s => s.Index);
        for (int i = 0; i < scenario.Ops.Count; i++)
        {
            sb.Append($"{i,4}: ").AppendLine(scenario.Ops[i].ToString());
            sb.Append("      -> ").AppendLine(results.TryGetValue(i, out var step) ? step.Result.ToString() : "not run");
        }
        if (report.Violation is { } v)
        {
            sb.Append("result:   ").AppendLine(v.ToString());
            if (v.Step >= 0 && v.Step < scenario.Ops.Count)
                sb.Append("at:       ").AppendLine(scenario.Ops[v.Step].ToString());
            if (v.State.Length > 0)
            {
                sb.AppendLine("state:");
                foreach (string line in v.State.Split('\n'))
                    sb.Append("  ").AppendLine(line.TrimEnd('\r'));
            }
        }
        else
        {
            sb.AppendLine("result:   no violation (every step checked, teardown clean)");
        }
        sb.Append("injected: ").AppendLine(report.Injected.Count == 0
            ? "none"
            : string.Join(", ", report.Injected.Select(f => $"{f.Site}#{f.SiteHit}")));
        sb.AppendLine("reproducer:");
        sb.AppendLine(ReproducerCodec.Encode(scenario));
        return sb.ToString();
    }
}
