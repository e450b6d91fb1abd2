// SPDX-License-Identifier: GPL-2.0-only
// Prints the line and branch coverage of the port (model/Port/*.cs) from a cobertura file written
// by coverlet. Run as a .NET file-based program: dotnet run ci/CoverageSummary.cs -- FILE
// A line that appears under several classes (partial classes, compiler-generated closures) is
// counted once, with its best hit count and its best branch coverage.
#:property PublishAot=false
using System.Globalization;
using System.Text.RegularExpressions;
using System.Xml.Linq;

bool listUncovered = args.Length == 2 && args[1] == "--uncovered";
if (args.Length is < 1 or > 2 || (args.Length == 2 && !listUncovered) || !File.Exists(args[0]))
{
    Console.Error.WriteLine("usage: dotnet run ci/CoverageSummary.cs -- coverage.cobertura.xml [--uncovered]");
    return 2;
}

var doc = XDocument.Load(args[0]);
var lines = new Dictionary<(string File, int Line), (long Hits, int Covered, int Total)>();
foreach (var cls in doc.Descendants("class"))
{
    string file = ((string?)cls.Attribute("filename") ?? "").Replace('\\', '/');
    if (!IsPort(file))
        continue;
    foreach (var line in cls.Elements("lines").Elements("line"))
    {
        int number = int.Parse((string)line.Attribute("number")!, CultureInfo.InvariantCulture);
        long hits = long.Parse((string)line.Attribute("hits")!, CultureInfo.InvariantCulture);
        int covered = 0, total = 0;
        if ((string?)line.Attribute("branch") == "True" &&
            Regex.Match((string?)line.Attribute("condition-coverage") ?? "", @"\((\d+)/(\d+)\)") is { Success: true } m)
        {
            covered = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            total = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
        }
        var key = (file, number);
        lines[key] = lines.TryGetValue(key, out var old)
            ? (Math.Max(old.Hits, hits), Math.Max(old.Covered, covered), Math.Max(old.Total, total))
            : (hits, covered, total);
    }
}
if (lines.Count == 0)
{
    Console.Error.WriteLine($"no line of model/Port/*.cs in {args[0]}");
    return 1;
}

int lineTotal = lines.Count;
int lineHit = lines.Values.Count(l => l.Hits > 0);
int branchTotal = lines.Values.Sum(l => l.Total);
int branchHit = lines.Values.Sum(l => l.Covered);
Console.WriteLine(
    $"port line coverage: {Percent(lineHit, lineTotal)} ({lineHit}/{lineTotal} lines), " +
    $"branch coverage: {Percent(branchHit, branchTotal)} ({branchHit}/{branchTotal} branches)");
foreach (var group in lines.GroupBy(kv => Path.GetFileName(kv.Key.File)).OrderBy(g => g.Key, StringComparer.Ordinal))
{
    int t = group.Count(), h = group.Count(kv => kv.Value.Hits > 0);
    int bt = group.Sum(kv => kv.Value.Total), bh = group.Sum(kv => kv.Value.Covered);
    Console.WriteLine($"  {group.Key,-28} lines {Percent(h, t),7} ({h}/{t})  branches {Percent(bh, bt),7} ({bh}/{bt})");
}
if (listUncovered)
{
    Console.WriteLine("not reached (file:line), or with a branch not taken (file:line covered/total):");
    foreach (var ((file, number), l) in lines.OrderBy(kv => kv.Key.File, StringComparer.Ordinal).ThenBy(kv => kv.Key.Line))
        if (l.Hits == 0)
            Console.WriteLine($"  {Path.GetFileName(file)}:{number}");
        else if (l.Covered < l.Total)
            Console.WriteLine($"  {Path.GetFileName(file)}:{number} {l.Covered}/{l.Total}");
}
return 0;

static bool IsPort(string file) =>
    file.Contains("model/Port/", StringComparison.Ordinal) && file.EndsWith(".cs", StringComparison.Ordinal)
    || file.StartsWith("Port/", StringComparison.Ordinal) && file.EndsWith(".cs", StringComparison.Ordinal);

static string Percent(int part, int whole) =>
    whole == 0 ? "n/a" : (100.0 * part / whole).ToString("F1", CultureInfo.InvariantCulture) + "%";
