// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Model.Kernel;
using Iommufd.Tests.Kernel;
using Iommufd.Model.Selftest;

namespace Iommufd.Tests.Harness;

/// <summary>The test-only hooks of the fakes (used by the oracle tests) do what their documentation
/// says, and nothing when unset; the domain's incremental event log reads what Events holds.</summary>
public class OracleFakeHookTests
{
    private const int RW = KernelApi.IOMMU_READ | KernelApi.IOMMU_WRITE;

    private static FakeKernel NewKernel() => new(new FaultInjector(new NoFaults()));

    [Fact]
    public void PhysMem_IgnoreUnpin_drops_the_unpin_without_an_event()
    {
        var k = NewKernel();
        ulong a = k.Phys.AllocRun(2);
        var events = new List<PinEvent>();
        k.Phys.Unpinned += events.Add;
        k.Phys.Pin(a);
        k.Phys.Pin(a + 1);
        k.Phys.TestHooks.IgnoreUnpin = pfn => pfn == a;
        k.Phys.Unpin(a);
        k.Phys.Unpin(a + 1);
        Assert.Equal(1, k.Phys.PinCount(a));
        Assert.Equal(0, k.Phys.PinCount(a + 1));
        Assert.Equal([new PinEvent(a + 1, 0)], events);
        k.Phys.TestHooks.IgnoreUnpin = null;
        k.Phys.Unpin(a);
        Assert.Equal(0, k.Phys.PinCount(a));
    }

    [Fact]
    public void PhysMem_RedirectUnpin_unpins_another_frame()
    {
        var k = NewKernel();
        ulong a = k.Phys.AllocRun(2);
        k.Phys.Pin(a);
        k.Phys.Pin(a + 1);
        k.Phys.TestHooks.RedirectUnpin = pfn => pfn == a ? a + 1 : pfn;
        k.Phys.Unpin(a);
        Assert.Equal(1, k.Phys.PinCount(a));
        Assert.Equal(0, k.Phys.PinCount(a + 1));
        Assert.Empty(k.Checks.Violations);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Domain_RewritePaddr_installs_another_address_while_the_log_keeps_the_request(bool mock)
    {
        var k = NewKernel();
        var api = new IommuTestApi(k);
        iommu_domain d = mock ? new MockDomain(k) : new PageTableDomain(k);
        d.TestHooks.RewritePaddr = (iova, paddr) => paddr + 0x10_0000;
        Assert.Equal(0, api.iommu_map(d, 0x100_0000, 0x200_0000, 0x2000, RW));
        Assert.Equal(0x210_0000UL, d.Mappings[0].Paddr);
        Assert.Equal(0x200_0000UL, d.Events.Last(e => e.Kind == IommuEventKind.Map).Paddr);
        d.TestHooks.RewritePaddr = null;
        Assert.Equal(0, api.iommu_map(d, 0x110_0000, 0x200_0000, 0x1000, RW));
        Assert.Equal(0x200_0000UL, d.Mappings.Single(m => m.Iova == 0x110_0000).Paddr);
    }

    [Theory]
    [InlineData(true, -2)]
    [InlineData(false, -12)]
    public void Domain_FailMaps_fails_that_many_map_calls_with_the_drivers_error(bool mock, int error)
    {
        var k = NewKernel();
        var api = new IommuTestApi(k);
        iommu_domain d = mock ? new MockDomain(k) : new PageTableDomain(k);
        d.TestHooks.FailMaps = 1;
        Assert.Equal(error, api.iommu_map(d, 0x100_0000, 0x200_0000, 0x1000, RW));
        Assert.True(d.IsEmpty);
        Assert.Equal(0, d.TestHooks.FailMaps);
        Assert.Equal(0, api.iommu_map(d, 0x100_0000, 0x200_0000, 0x1000, RW));
        Assert.Empty(k.Faults.Injected);
    }

    [Fact]
    public void Domain_EventsSince_returns_the_tail_of_Events()
    {
        var k = NewKernel();
        var api = new IommuTestApi(k);
        var d = new PageTableDomain(k);
        api.iommu_map(d, 0x100_0000, 0x200_0000, 0x3000, RW);
        long n = d.EventCount;
        api.iommu_unmap(d, 0x100_0000, 0x3000);
        var all = d.Events;
        Assert.Equal(all.Count, d.EventCount);
        Assert.Equal(all.Skip((int)n), d.EventsSince(n));
        Assert.Equal(all, d.EventsSince(0));
        Assert.Empty(d.EventsSince(d.EventCount));
        Assert.Empty(d.EventsSince(d.EventCount + 5));
    }

    [Fact]
    public void Mm_FailLockedVmDecreases_refuses_decreases_only()
    {
        var k = NewKernel();
        var api = new MmKernelApi(k);
        var t = k.CreateProcess("p", memlockLimit: 1UL << 30);
        var mm = t.mm!;
        k.SetCurrent(t);
        api.mmap_write_lock(mm);
        Assert.Equal(0, api.__account_locked_vm(mm, 5, true, t, false));
        mm.TestHooks.FailLockedVmDecreases = true;
        Assert.Equal(-KernelApi.ENOMEM, api.__account_locked_vm(mm, 2, false, t, false));
        Assert.Equal(5UL, mm.locked_vm);
        Assert.Equal(0, api.__account_locked_vm(mm, 1, true, t, false));
        mm.TestHooks.FailLockedVmDecreases = false;
        Assert.Equal(0, api.__account_locked_vm(mm, 6, false, t, false));
        api.mmap_write_unlock(mm);
        Assert.Equal(0UL, mm.locked_vm);
    }

    [Fact]
    public void Mm_LockedVmSkew_adds_to_every_increase()
    {
        var k = NewKernel();
        var api = new MmKernelApi(k);
        var t = k.CreateProcess("p", memlockLimit: 1UL << 30);
        k.SetCurrent(t);
        t.mm!.TestHooks.LockedVmSkew = 3;
        api.mmap_write_lock(t.mm);
        Assert.Equal(0, api.__account_locked_vm(t.mm, 2, true, t, false));
        Assert.Equal(0, api.__account_locked_vm(t.mm, 1, false, t, false));
        api.mmap_write_unlock(t.mm);
        Assert.Equal(4UL, t.mm.locked_vm);
    }

    [Fact]
    public void Mm_CorruptUserReads_flips_the_first_byte_copy_from_user_returns()
    {
        var k = NewKernel();
        var t = k.CreateProcess("p");
        k.SetCurrent(t);
        var space = t.mm!.Space;
        space.MapNewRun(0x10_0000, 1);
        ulong pfn = space.Translate(0x10_0000)!.Value;
        var buffer = new Ptr<byte>(KMem.Stack(16), 0);
        t.mm.TestHooks.CorruptUserReads = true;
        Assert.Equal(0UL, k.UserCopy.CopyFromUser(buffer, 0x10_0000, 16));
        var bytes = buffer.AsSpan(16).ToArray();
        Assert.Equal((byte)(PhysMem.InitialByte(pfn, 0) ^ 0xff), bytes[0]);
        for (int i = 1; i < 16; i++)
            Assert.Equal(PhysMem.InitialByte(pfn, i), bytes[i]);
        t.mm.TestHooks.CorruptUserReads = false;
        k.UserCopy.CopyFromUser(buffer, 0x10_0000, 16);
        Assert.Equal(PhysMem.InitialByte(pfn, 0), buffer.AsSpan(1)[0]);
    }

    [Fact]
    public void XArray_RewriteValue_changes_stored_values_only()
    {
        var k = NewKernel();
        var api = new XaApi(k);
        var xa = new xarray("test");
        api.xa_init_flags(xa, 0);
        xa.TestHooks.RewriteValue = (index, v) => v + index;
        api.xa_store(xa, 3, XaApi.xa_mk_value(10), gfp_t.GFP_KERNEL);
        Assert.Equal(13UL, XaApi.xa_to_value(api.xa_load(xa, 3)));
        var other = new object();
        api.xa_store(xa, 4, other, gfp_t.GFP_KERNEL);
        Assert.Same(other, api.xa_load(xa, 4));
        xa.TestHooks.RewriteValue = null;
        api.xa_store(xa, 5, XaApi.xa_mk_value(10), gfp_t.GFP_KERNEL);
        Assert.Equal(10UL, XaApi.xa_to_value(api.xa_load(xa, 5)));
        api.xa_destroy(xa);
    }

    [Fact]
    public void PhysMem_InitialBytes_agrees_with_InitialByte_at_any_offset()
    {
        foreach (int offset in new[] { 0, 1, 7, 8, 13, 4000 })
        {
            var bytes = new byte[PhysMem.FrameSize - offset];
            PhysMem.InitialBytes(0x4321, offset, bytes);
            for (int i = 0; i < bytes.Length; i++)
                Assert.Equal(PhysMem.InitialByte(0x4321, offset + i), bytes[i]);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => PhysMem.InitialBytes(1, 4090, new byte[10]));
    }
}
