// SPDX-License-Identifier: GPL-2.0-only
using System.Diagnostics;
using System.Globalization;
using Iommufd.Harness.Exploration;

namespace Iommufd.Cli;

/// <summary>
/// The program's observer of a running exploration: a progress line on stderr every two seconds
/// (unless quiet), the reproducer of a failure saved to its file as soon as it is found (so an
/// interrupt while shrinking loses nothing), and, with <c>--heap-every N</c>, the managed heap after
/// a full collection every N runs (runs: sequences, fault-injected runs or concurrent scenarios).
/// </summary>
public sealed class CliObserver(CliContext context, string runs, string work, string reproFile, bool quiet, long heapEvery = 0)
    : IExplorationObserver
{
    private static readonly TimeSpan ProgressEvery = TimeSpan.FromSeconds(2);
    private readonly Stopwatch sinceProgress = Stopwatch.StartNew();
    private readonly List<HeapSample> heap = [];
    private readonly long every = heapEvery;
    private long nextHeapSample = heapEvery;

    /// <summary>The first failure found, as found (before shrinking).</summary>
    public FoundFailure? First { get; private set; }

    /// <summary>The last error writing the reproducer file (null: it was written, or nothing was).</summary>
    public string? WriteError { get; private set; }

    public IReadOnlyList<HeapSample> HeapSamples => heap;

    public void OnRun(ExplorationProgress p)
    {
        if (every > 0 && p.Runs >= nextHeapSample)
        {
            nextHeapSample = p.Runs + every;
            var sample = MemoryProbe.Sample(p.Runs);
            heap.Add(sample);
            context.Err.WriteLine($"{Program.Name}: heap after {sample.Runs} {runs}: {MemoryProbe.Megabytes(sample.HeapBytes)} MB after a full collection, " +
                                  $"peak working set {MemoryProbe.Megabytes(sample.PeakWorkingSetBytes)} MB");
        }
        if (quiet || sinceProgress.Elapsed < ProgressEvery)
            return;
        sinceProgress.Restart();
        context.Err.WriteLine($"{Program.Name}: {p.Runs} {runs}, {p.Work} {work}, {p.Elapsed.TotalSeconds.ToString("F0", CultureInfo.InvariantCulture)} s");
    }

    public void OnFound(FoundFailure found)
    {
        First ??= found;
        Save(found.Reproducer, $"{found.Description} (not yet shrunk)");
        if (!quiet)
            context.Err.WriteLine($"{Program.Name}: found {found.Description}; shrinking (unshrunk reproducer saved to {reproFile})");
    }

    /// <summary>Writes <paramref name="reproducer"/> to the reproducer file with a comment line.</summary>
    public void Save(string reproducer, string note)
    {
        try
        {
            string? dir = Path.GetDirectoryName(Path.GetFullPath(reproFile));
            if (dir is not null) Directory.CreateDirectory(dir);
            File.WriteAllText(reproFile, $"# {note}\n{reproducer}\n");
            WriteError = null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            WriteError = e.Message;
        }
    }

    /// <summary>The closing line about the saved reproducer (or why it could not be written).</summary>
    public void ReportSaved()
    {
        if (WriteError is null)
            context.Out.WriteLine($"reproducer written to {reproFile}; replay it with: {Program.Name} replay {reproFile}");
        else
            context.Err.WriteLine($"{Program.Name}: could not write the reproducer to {reproFile}: {WriteError}");
    }
}
