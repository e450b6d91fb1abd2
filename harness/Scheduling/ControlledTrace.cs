// SPDX-License-Identifier: GPL-2.0-only
using System.Text.Json;

namespace Iommufd.Harness.Scheduling;

/// <summary>
/// The controlled engine's record of a run: the thread chosen at every decision and the site the
/// decision was taken at, so that a replay that reaches another site fails naming both. Rendered
/// as compact JSON (a table of distinct sites, then per decision the chosen thread and the site's
/// index in the table). A trace from an <c>iommufd-sched1:</c> reproducer has no sites (null).
/// </summary>
public sealed record ControlledTrace(IReadOnlyList<int> Choices, IReadOnlyList<string>? Sites)
{
    private sealed record Wire(IReadOnlyList<string> Sites, IReadOnlyList<int> Choices, IReadOnlyList<int> At);

    public static ControlledTrace From(IReadOnlyList<TraceEntry> trace) =>
        new(trace.Select(t => t.Chosen).ToArray(), trace.Select(t => t.Site).ToArray());

    public string Encode()
    {
        if (Sites is null)
            return JsonSerializer.Serialize(new Wire([], Choices, []));
        var table = new List<string>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        var at = new int[Sites.Count];
        for (int i = 0; i < Sites.Count; i++)
        {
            if (!index.TryGetValue(Sites[i], out int k))
            {
                index[Sites[i]] = k = table.Count;
                table.Add(Sites[i]);
            }
            at[i] = k;
        }
        return JsonSerializer.Serialize(new Wire(table, Choices, at));
    }

    /// <summary>Decodes a trace; a <see cref="FormatException"/> with one sentence if it is malformed.</summary>
    public static ControlledTrace Decode(string text)
    {
        Wire? w;
        try
        {
            w = JsonSerializer.Deserialize<Wire>(text);
        }
        catch (JsonException)
        {
            throw new FormatException("the controlled engine's trace is not valid JSON");
        }
        if (w?.Choices is null || w.Sites is null || w.At is null)
            throw new FormatException("the controlled engine's trace lacks its choices or sites");
        if (w.At.Count == 0 && w.Sites.Count == 0)
            return new ControlledTrace(w.Choices, null);
        if (w.At.Count != w.Choices.Count || w.At.Any(k => k < 0 || k >= w.Sites.Count))
            throw new FormatException("the controlled engine's trace has a site for each decision out of range");
        return new ControlledTrace(w.Choices, w.At.Select(k => w.Sites[k]).ToArray());
    }
}
