// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;

namespace Iommufd.Model.Kernel;

/// <summary>
/// The root of one simulated kernel: its checks log, allocator, fault injector, execution
/// context, physical memory and processes. Nothing is static: two kernels never share state,
/// so runs are independent and reproducible.
/// </summary>
public sealed partial class FakeKernel
{
    public FakeKernel(IFaultInjector? faults = null, Func<Checks, IExecutionContext>? exec = null)
    {
        Checks = new Checks();
        Faults = faults ?? new FaultInjector(new NoFaults());
        Exec = exec is null ? new PlainExecutionContext(Checks) : exec(Checks);
        Allocator = new Allocator(Checks, ShouldFail);
        Phys = new PhysMem(this);
    }

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
