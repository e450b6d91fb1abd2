// SPDX-License-Identifier: GPL-2.0-only
using Spectre.Console;

namespace Iommufd.Cli;

/// <summary>
/// Plain-text tables through Spectre.Console, rendered to any writer with no colours, no ANSI
/// codes, ASCII borders and a fixed width, so that the output is the same on a terminal, in a
/// pipe and in a test, whatever the environment variables say.
/// </summary>
public static class Tables
{
    public const int Width = 100;

    public static void Write(TextWriter output, string[] headers, IEnumerable<string[]> rows, int rightAlignedFrom = 1)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(output),
            Enrichment = new ProfileEnrichment { UseDefaultEnrichers = false },
            EnvironmentVariables = new Dictionary<string, string>(),
        });
        console.Profile.Width = Width;
        console.Profile.Capabilities.Unicode = false;
        var table = new Table().Border(TableBorder.Ascii);
        for (int i = 0; i < headers.Length; i++)
        {
            var column = new TableColumn(new Text(headers[i]));
            table.AddColumn(i >= rightAlignedFrom ? column.RightAligned() : column);
        }
        foreach (var row in rows)
            table.AddRow(row.Select(cell => (Spectre.Console.Rendering.IRenderable)new Text(cell)).ToArray());
        console.Write(table);
    }
}
