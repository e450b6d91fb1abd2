// SPDX-License-Identifier: GPL-2.0-only
using System.CommandLine;
using Iommufd.Model.Port;

namespace Iommufd.Cli;

/// <summary><c>patches</c>: lists the named model patches that explore --patch accepts.</summary>
public static class PatchesCommand
{
    public static Command Create(CliContext context)
    {
        var command = new Command("patches",
            "Lists the named model patches. Each one is a proposed change to pages.c that explore --patch switches on, " +
            "so a fix can be checked against the same sequences before it goes upstream.");
        command.SetAction(_ =>
        {
            if (ModelPatches.All.Count == 0)
            {
                context.Out.WriteLine("no named patches yet: the as-released model is the only variant");
                return Program.ExitClean;
            }
            Tables.Write(context.Out, ["patch", "what it changes"],
                ModelPatches.All.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => new[] { kv.Key, kv.Value }),
                rightAlignedFrom: 2);
            return Program.ExitClean;
        });
        return command;
    }
}
