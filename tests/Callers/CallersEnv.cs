// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Model.Callers;
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;
using Iommufd.Model.Selftest;

namespace Iommufd.Tests.Callers;

/// <summary>
/// One kernel, one user process (current) and one IOAS for a callers test, plus the few queries
/// the tests make of the mm, physical-memory, iommu and interval-tree fakes.
/// </summary>
internal sealed class CallersEnv
{
    /// <summary>Where the tests' user memory lives (page aligned, 2 MiB aligned).</summary>
    public const ulong UserBase = 0x7f00_0000_0000UL;
    public const ulong PAGE_SIZE = KernelApi.PAGE_SIZE;

    public CallersEnv(IFaultPlan? plan = null)
    {
        Injector = new FaultInjector(plan ?? new NoFaults());
        Kernel = new FakeKernel(Injector);
        Task = Kernel.CreateProcess("callers-test");
        Kernel.Exec.SetCurrent(Task);
        Port = new Pages(Kernel);
        Ioas = new IoPagetable(Kernel, Port);
    }

    public FaultInjector Injector { get; }
    public FakeKernel Kernel { get; }
    public task_struct Task { get; }
    public Pages Port { get; }
    public IoPagetable Ioas { get; }

    /// <summary>A second IOAS on the same kernel and port (for IOAS_COPY).</summary>
    public IoPagetable NewIoas() => new(Kernel, Port);

    /// <summary>Maps npages of fresh PFN-contiguous memory at va in current's mm.</summary>
    public ulong MapUser(ulong va, ulong npages, bool writable = true, ulong alignmentPages = 1)
    {
        Task.mm!.Space.MapNewRun(va, npages, alignmentPages, writable, false);
        return va;
    }

    /// <summary>The PFN behind a user VA of current's mm.</summary>
    public ulong PfnAt(ulong va)
    {
        ulong? pfn = Task.mm!.Space.Translate(va);
        return pfn ?? throw new InvalidOperationException($"va {va:x} not mapped");
    }

    /// <summary>FOLL_PIN count of the frame behind a user VA.</summary>
    public int PinCount(ulong va) => Kernel.Phys.PinCount(PfnAt(va));

    /// <summary>Pins over all frames of the kernel.</summary>
    public long TotalPins => Kernel.Phys.TotalPins;

    /// <summary>Reads bytes of the frame behind a user VA directly (not through the IOAS).</summary>
    public byte[] ReadUser(ulong va, int length)
    {
        var buf = new byte[length];
        for (int done = 0; done < length;)
        {
            ulong cur = va + (ulong)done;
            int off = (int)(cur % PAGE_SIZE);
            int n = Math.Min(length - done, (int)PAGE_SIZE - off);
            var frame = Kernel.Phys.Contents(PfnAt(cur));
            Array.Copy(frame.Data, off, buf, done, n);
            done += n;
        }
        return buf;
    }

    /// <summary>The v6.2 selftest's mock domain (2 KiB IO pages).</summary>
    public iommu_domain NewMockDomain(string name = "mock") => new MockDomain(Kernel, name);

    /// <summary>A 4K/2M/1G page-table domain.</summary>
    public iommu_domain NewPageTableDomain(string name = "pagetable") => new PageTableDomain(Kernel, name);

    /// <summary>Bytes currently mapped in the domain.</summary>
    public static ulong MappedBytes(iommu_domain d) => d.MappedBytes;

    /// <summary>The domain's translation of an IOVA (its iova_to_phys).</summary>
    public static ulong IovaToPhys(iommu_domain d, ulong iova) => d.iova_to_phys(iova);

    /// <summary>Frees the domain (reports if it still has mappings).</summary>
    public static void FreeDomain(iommu_domain d) => d.Free();

    /// <summary>The nodes of an interval tree, in start order.</summary>
    public static IReadOnlyList<interval_tree_node> Nodes(rb_root_cached root)
    {
        return [.. root.Nodes];
    }

    /// <summary>Reference counts of tasks, mms and users that no live object explains.</summary>
    public IReadOnlyList<string> ReferenceImbalances() =>
        Kernel.ReferenceImbalances();

    /// <summary>A kernel thread (no mm), e.g. to run IOMMUFD_ACCESS_RW_KTHREAD.</summary>
    public task_struct NewKthread() => Kernel.CreateKthread("callers-kthread");

    /// <summary>The fired checks, as text, for assertion messages.</summary>
    public string ChecksText => string.Join("; ", Kernel.Checks.Violations);

    /// <summary>
    /// Full teardown (accesses, domains, areas, table), then frees the domains and asserts that
    /// nothing is left: no pins, no live allocations, no check fired, balanced references.
    /// </summary>
    public void TearDownAndAssertClean(params iommu_domain[] domains)
    {
        Assert.Equal(0, Ioas.TearDown());
        foreach (var d in domains)
            FreeDomain(d);
        Assert.Equal(0L, TotalPins);
        Assert.True(Kernel.Allocator.LiveCount == 0,
            "live allocations: " + string.Join(", ", Kernel.Allocator.Live));
        Assert.True(Kernel.Checks.Count == 0, ChecksText);
        Assert.Empty(ReferenceImbalances());
    }
}
