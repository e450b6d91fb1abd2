// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Cli;
using Iommufd.Harness.Generation;

namespace Iommufd.Tests.Harness;

/// <summary>One in-process run of the program: its exit code and what it wrote.</summary>
public sealed record CliRun(int Code, string Out, string Err)
{
    public string[] ErrLines => Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
}

/// <summary>Runs the program's entry point in-process and hands out scratch directories.</summary>
public static class CliTestSupport
{
    public static CliRun Run(params string[] args) => Run(default, null, args);

    public static CliRun Run(CancellationToken cancel, CliServices? services, params string[] args)
    {
        var output = new StringWriter { NewLine = "\n" };
        var error = new StringWriter { NewLine = "\n" };
        int code = Program.Run(args, output, error, cancel, services);
        return new CliRun(code, output.ToString(), error.ToString());
    }

    public static DirectoryInfo Scratch() => Directory.CreateTempSubdirectory("iommufd-cli-test-");

    private const ulong Page = 4096;

    /// <summary>The v6.2 batch_clear_carry defect: an access pins a page in the middle of a
    /// PFN-contiguous area, then the last domain is detached and the wrong pages are unpinned.</summary>
    public static Scenario KnownDefect() => Scenario.AsReleased(
    [
        new MapUserMemory(0, [new Segment(SegmentKind.Run, 8)]),
        new CreatePages(0, 0, 8 * Page, true, 0),
        new CreateIopt(),
        new AttachDomain(0, DomainKind.Mock),
        new MapArea(0, 0, 0, 8 * Page, null, true),
        new CreateAccess(0),
        new AccessPin(0, 0, Page, Page, true),
        new DetachDomain(0),
    ]);

    /// <summary>A short clean lifecycle: map, attach, read and write through an access, unmap.</summary>
    public static Scenario Clean() => Scenario.AsReleased(
    [
        new MapUserMemory(0, [new Segment(SegmentKind.Run, 4), new Segment(SegmentKind.Scattered, 2)]),
        new CreatePages(0, 0, 6 * Page, true, 0),
        new CreateIopt(),
        new AttachDomain(0, DomainKind.PageTable),
        new MapArea(0, 0, 0, 6 * Page, null, true),
        new CreateAccess(0),
        new AccessRw(0, 0, 100, 5000, true, RwContext.OtherMm, false, 7),
        new AccessRw(0, 0, 100, 5000, false, RwContext.Kthread, true, 0),
        new DestroyAccess(0),
        new UnmapArea(0),
    ]);
}
