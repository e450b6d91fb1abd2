// SPDX-License-Identifier: GPL-2.0-only
using System.Globalization;

namespace Iommufd.Faults;

/// <summary>
/// Parses the canonical text of a plan (what <see cref="IFaultPlan.Describe"/> prints):
/// <c>none</c>, <c>nth:N</c>, <c>nth:N@T</c>, <c>step:K:nth:N@T</c>, <c>step:K:nth:N+C@T</c>, <c>list:site#hit,site#hit</c>,
/// <c>prob:SEED:P[,site=P...]</c>. Throws <see cref="FormatException"/> with one clear sentence.
/// </summary>
public static class FaultPlanParser
{
    public static IFaultPlan Parse(string text)
    {
        text = text.Trim();
        if (text == "none")
            return new NoFaults();
        int colon = text.IndexOf(':');
        if (colon < 0)
            throw new FormatException($"fault plan '{text}' is not one of none, nth:N, list:..., prob:...");
        string kind = text[..colon], rest = text[(colon + 1)..];
        switch (kind)
        {
            case "step":
            {
                // step:K:nth:N@T
                string[] parts = rest.Split(':');
                if (parts.Length != 3 || parts[1] != "nth" ||
                    !int.TryParse(parts[0], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int stepIndex) || stepIndex < -1)
                    throw new FormatException($"fault plan 'step:{rest}' is not step:K:nth:N@T or step:K:nth:N+C@T");
                string[] nt = parts[2].Split('@');
                string[] nc = nt[0].Split('+');
                if (nt.Length != 2 || nc.Length > 2 ||
                    !long.TryParse(nc[0], NumberStyles.None, CultureInfo.InvariantCulture, out long sn) || sn < 1 ||
                    !int.TryParse(nt[1], NumberStyles.None, CultureInfo.InvariantCulture, out int st))
                    throw new FormatException($"fault plan 'step:{rest}' needs a positive hit number and a thread id");
                if (nc.Length == 1)
                    return new FailNthInStep(stepIndex, sn, st);
                // step:K:nth:N+C@T fails C consecutive hits from the N-th on.
                if (!long.TryParse(nc[1], NumberStyles.None, CultureInfo.InvariantCulture, out long count) || count < 1 ||
                    count > long.MaxValue - sn)
                    throw new FormatException($"fault plan 'step:{rest}' needs a positive count of consecutive hits after '+'");
                return new FailNthRunInStep(stepIndex, sn, count, st);
            }
            case "nth":
            {
                string[] parts = rest.Split('@');
                if (parts.Length > 2 || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long n) || n < 1)
                    throw new FormatException($"fault plan 'nth:{rest}' needs a positive hit number");
                int? thread = null;
                if (parts.Length == 2)
                {
                    if (!int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int t))
                        throw new FormatException($"fault plan 'nth:{rest}' has a bad thread id");
                    thread = t;
                }
                return new FailNth(n, thread);
            }
            case "list":
            {
                var items = new List<(string, long)>();
                foreach (string item in rest.Split(',', StringSplitOptions.RemoveEmptyEntries))
                {
                    int hash = item.LastIndexOf('#');
                    if (hash <= 0 || !long.TryParse(item[(hash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out long hit) || hit < 1)
                        throw new FormatException($"fault list item '{item}' is not site#hit");
                    items.Add((item[..hash], hit));
                }
                return new ExplicitFaults(items);
            }
            case "prob":
            {
                string[] parts = rest.Split(',');
                string[] head = parts[0].Split(':');
                if (head.Length != 2 || !ulong.TryParse(head[0], NumberStyles.None, CultureInfo.InvariantCulture, out ulong seed) ||
                    !TryProbability(head[1], out double otherwise))
                    throw new FormatException($"fault plan 'prob:{rest}' needs prob:SEED:P");
                var perSite = new Dictionary<string, double>(StringComparer.Ordinal);
                foreach (string item in parts.Skip(1))
                {
                    int eq = item.LastIndexOf('=');
                    if (eq <= 0 || !TryProbability(item[(eq + 1)..], out double p))
                        throw new FormatException($"fault probability '{item}' is not site=P with 0 <= P <= 1");
                    perSite[item[..eq]] = p;
                }
                return new ProbabilisticFaults(seed, perSite, otherwise);
            }
            default:
                throw new FormatException($"fault plan kind '{kind}' is not one of none, nth, list, prob");
        }
    }

    private static bool TryProbability(string s, out double p) =>
        double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out p) && p >= 0 && p <= 1;
}
