// SPDX-License-Identifier: GPL-2.0-only
using System.Diagnostics;
using System.Globalization;

namespace Iommufd.Harness.Exploration;

/// <summary>The managed heap after a full, compacting, finalizing collection, and the process's
/// peak working set, after <see cref="Runs"/> runs.</summary>
public readonly record struct HeapSample(long Runs, long HeapBytes, long PeakWorkingSetBytes);

/// <summary>
/// Memory measurements for long runs (issue 13): what stays alive after a full collection is what
/// a run retains, so a flat series over a run says that nothing a run creates outlives it. A
/// sample costs a full collection: take them every thousand runs or so, not after every one.
/// </summary>
public static class MemoryProbe
{
    public static HeapSample Sample(long runs)
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        long heap = GC.GetTotalMemory(forceFullCollection: false);
        using var self = Process.GetCurrentProcess();
        return new HeapSample(runs, heap, self.PeakWorkingSet64);
    }

    public static string Megabytes(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("F1", CultureInfo.InvariantCulture);
}
