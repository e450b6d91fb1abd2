// SPDX-License-Identifier: GPL-2.0-only
using System.CommandLine;
using Iommufd.Model.Patches;

namespace Iommufd.Cli;

/// <summary><c>patches</c>: lists the named model patches that explore --patch accepts.</summary>
public static class PatchesCommand
{
    public static Command Create(CliContext context)
    {
        var command = new Command("patches",
            "Lists the named model patches and where each changes the model: the kernel's pages.c (a proposed fix for a finding), " +
            "its callers (io_pagetable.c) or the selftest driver (selftest.c). explore --patch switches one on, " +
            "so a fix can be checked against the same sequences before it goes upstream.");
        command.SetAction(_ =>
        {
            Tables.Write(context.Out, ["patch", "where", "what it changes"],
                ModelPatches.Catalog.OrderBy(p => p.Kind).ThenBy(p => p.Name, StringComparer.Ordinal)
                    .Select(p => new[] { p.Name, Where(p.Kind), p.Description }),
                rightAlignedFrom: 3);
            return Program.ExitClean;
        });
        return command;
    }

    private static string Where(PatchKind kind) => kind switch
    {
        PatchKind.Kernel => "pages.c",
        PatchKind.Callers => "callers",
        PatchKind.TestDriver => "selftest",
        _ => kind.ToString(),
    };
}
