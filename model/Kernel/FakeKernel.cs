// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Model.Patches;

namespace Iommufd.Model.Kernel;

/// <summary>
/// The root of one simulated kernel: its checks log, allocator, fault injector, execution
/// context, physical memory and processes. Nothing is static: two kernels never share state,
/// so runs are independent and reproducible.
/// </summary>
public sealed partial class FakeKernel
{
    public FakeKernel(IFaultInjector? faults = null, Func<Checks, IExecutionContext>? exec = null,
        IEnumerable<string>? patches = null, KernelVersion version = KernelVersion.V6_2)
    {
        Version = version;
        Patches = new SortedSet<string>(patches ?? [], StringComparer.Ordinal);
        foreach (var p in Patches)
            if (!Iommufd.Model.Patches.ModelPatches.IsKnown(p))
                throw new ArgumentException($"unknown model patch '{p}' (known: {string.Join(", ", Iommufd.Model.Patches.ModelPatches.All.Keys)})");
        Checks = new Checks();
        Faults = faults ?? new FaultInjector(new NoFaults());
        Exec = exec is null ? new PlainExecutionContext(Checks) : exec(Checks);
        Allocator = new Allocator(Checks, ShouldFail);
        Phys = new PhysMem(this);
    }

    /// <summary>The kernel release whose services the fakes behave like (v6.2 unless the code under
    /// test is a later kernel's C).</summary>
    public KernelVersion Version { get; }

    /// <summary>The named model patches switched on for this kernel (none: the seed as released).</summary>
    public IReadOnlySet<string> Patches { get; }

    public Checks Checks { get; }
    public IFaultInjector Faults { get; }
    public IExecutionContext Exec { get; }
    public Allocator Allocator { get; }
    public PhysMem Phys { get; }

    /// <summary>TEMP_MEMORY_LIMIT under CONFIG_IOMMUFD_TEST (bytes, default 65536).</summary>
    public ulong iommufd_test_memory_limit { get; set; } = 65536;

    /// <summary>Asks the fault injector about one hit of <paramref name="site"/> on this thread.</summary>
    public bool ShouldFail(string site)
    {
        Exec.SchedulePoint(site);
        return Faults.ShouldFail(site, Exec.ThreadId);
    }
}
