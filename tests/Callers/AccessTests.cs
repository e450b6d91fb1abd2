// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Model.Callers;
using Iommufd.Model.Kernel;
using Iommufd.Model.Selftest;

namespace Iommufd.Tests.Callers;

/// <summary>In-kernel accesses: pin, unpin, rw, and unmap through the drivers' callbacks (reference §4).</summary>
public sealed class AccessTests
{
    private const int RW = MapUnmapTests.RW;
    private const int RO = MapUnmapTests.RO;
    private const ulong P = CallersEnv.PAGE_SIZE;
    private const ulong U = CallersEnv.UserBase;

    private static (CallersEnv env, MockAccess access) WithAccess(bool needsPinPages = true)
    {
        var env = new CallersEnv();
        var access = MockAccess.Create(env.Kernel, env.Ioas, out int rc, needsPinPages);
        Assert.Equal(0, rc);
        return (env, access);
    }

    [Fact]
    public void Pinning_access_raises_the_alignment_and_pins_each_page_once()
    {
        var (env, access) = WithAccess();
        Assert.Equal(P, env.Ioas.iopt.iova_alignment);
        env.MapUser(U, 4);
        ulong iova = 0x1100000;
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref iova, U, 4 * P, RW, 0));

        Assert.Equal(0, access.Pin(iova + P, 2 * P, 0, out uint id));
        Assert.Equal([0, 1, 1, 0], Enumerable.Range(0, 4).Select(i => env.PinCount(U + (ulong)i * P)));
        var item = Assert.Single(access.PinnedPages());
        Assert.Equal([env.PfnAt(U + P), env.PfnAt(U + 2 * P)], item.Pages.Select(p => p.Pfn));

        // A domain reuses the access's pins: still exactly one pin per page.
        var mock = env.NewMockDomain();
        Assert.Equal(0, env.Ioas.iopt_table_add_domain(mock));
        Assert.Equal([1, 1, 1, 1], Enumerable.Range(0, 4).Select(i => env.PinCount(U + (ulong)i * P)));

        // Unpin while the domain holds the pages: the access's pins are not dropped twice.
        Assert.Equal(0, access.Unpin(id));
        Assert.Equal(-KernelApi.ENOENT, access.Unpin(id));
        Assert.Equal(4L, env.TotalPins);
        Assert.Equal(0U, Assert.Single(env.Ioas.Areas()).num_accesses);
        env.Ioas.iopt_table_remove_domain(mock);
        Assert.Equal(0L, env.TotalPins);
        env.TearDownAndAssertClean(mock);
    }

    [Fact]
    public void Pin_and_rw_over_16_MiB_are_refused_before_anything_is_allocated_or_pinned()
    {
        var (env, access) = WithAccess();
        env.MapUser(U, 4);
        ulong iova = 0x1100000;
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref iova, U, 4 * P, RW, 0));
        long allocationsBefore = env.Kernel.Allocator.Live.Count;

        Assert.Equal(-KernelApi.ENOMEM, access.Pin(iova, MockAccess.SELFTEST_MAX_LENGTH + 1, 0, out _));
        Assert.Equal(-KernelApi.ENOMEM, access.Rw(iova, new byte[MockAccess.SELFTEST_MAX_LENGTH + 1], 0));
        Assert.Empty(access.PinnedPages());
        Assert.Equal(0L, env.TotalPins);
        Assert.Equal(allocationsBefore, env.Kernel.Allocator.Live.Count);
        Assert.Empty(env.Kernel.Checks.Violations);
        // 16 MiB itself passes the guard (and fails later: the IOAS covers only 4 pages).
        Assert.NotEqual(-KernelApi.ENOMEM, access.Pin(iova, MockAccess.SELFTEST_MAX_LENGTH, 0, out _));
        env.TearDownAndAssertClean();
    }

    /// <summary>
    /// A known v6.2 defect, reproduced by the faithful port: detaching the last domain while an
    /// access holds pages in the middle of a PFN-contiguous area unpins the wrong page.
    /// batch_clear_carry() writes npfns[0] before reading npfns[end - 1], so with a one-run batch
    /// the carry restarts at the run's first PFN instead of after the unpinned part; the page
    /// after the access stays pinned and the access's last page loses its pin. This test pins
    /// the v6.2 observable so that a change of the port's behaviour is noticed.
    /// </summary>
    [Fact]
    public void V6_2_defect_detach_with_an_access_mid_area_unpins_the_wrong_page()
    {
        var (env, access) = WithAccess();
        env.MapUser(U, 4);
        ulong iova = 0x1100000;
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref iova, U, 4 * P, RW, 0));
        Assert.Equal(0, access.Pin(iova + P, 2 * P, 0, out uint id));
        var mock = env.NewMockDomain();
        Assert.Equal(0, env.Ioas.iopt_table_add_domain(mock));

        env.Ioas.iopt_table_remove_domain(mock);
        // Correct would be 0,1,1,0.
        Assert.Equal([0, 1, 0, 1], Enumerable.Range(0, 4).Select(i => env.PinCount(U + (ulong)i * P)));
        Assert.Equal(0, env.Kernel.Checks.Count);

        // The access's unpin then drops a pin the page no longer has.
        Assert.Equal(0, access.Unpin(id));
        var misuse = Assert.Single(env.Kernel.Checks.Violations);
        Assert.Equal(CheckKind.FakeMisuse, misuse.Kind);
        Assert.Equal(1L, env.TotalPins);
    }

    [Fact]
    public void Unmap_with_an_access_calls_its_unmap_callback_which_unpins()
    {
        var (env, access) = WithAccess();
        var mock = env.NewMockDomain();
        Assert.Equal(0, env.Ioas.iopt_table_add_domain(mock));
        env.MapUser(U, 4);
        ulong iova = 0x1100000;
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref iova, U, 4 * P, RW, 0));
        Assert.Equal(0, access.Pin(iova, P, KernelApi.IOMMUFD_ACCESS_RW_WRITE, out _));
        Assert.Equal(0, access.Pin(iova, P, 0, out _));

        Assert.Equal(0, env.Ioas.iopt_unmap_iova(iova, 4 * P, out ulong unmapped));
        Assert.Equal(4 * P, unmapped);
        Assert.Equal([(iova, 4 * P)], access.UnmapCalls);
        Assert.Empty(access.PinnedPages());
        Assert.Equal(0L, env.TotalPins);
        Assert.Equal(0UL, CallersEnv.MappedBytes(mock));
        env.TearDownAndAssertClean(mock);
    }

    [Fact]
    public void Unmap_returns_edeadlock_when_a_driver_keeps_its_pins()
    {
        var env = new CallersEnv();
        int callbacks = 0;
        var ops = new iommufd_access_ops { needs_pin_pages = true, unmap = (_, _, _) => callbacks++ };
        var created = env.Ioas.iommufd_access_create(ops, null);
        Assert.False(created.IsErr);
        var access = created.Value!;
        env.MapUser(U, 2);
        ulong iova = 0x1100000;
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref iova, U, 2 * P, RW, 0));
        var outPages = new Ptr<PagePtr>(KMem.Stack(16), 0);
        Assert.Equal(0, env.Ioas.iommufd_access_pin_pages(access, iova, 2 * P, outPages, 0));

        Assert.Equal(-KernelApi.EDEADLOCK, env.Ioas.iopt_unmap_iova(iova, 2 * P, out ulong unmapped));
        Assert.Equal(0UL, unmapped);
        Assert.Equal(1, callbacks);
        Assert.Equal(CheckKind.Warn, Assert.Single(env.Kernel.Checks.Violations).Kind);
        env.Kernel.Checks.Clear();
        var area = Assert.Single(env.Ioas.Areas());
        Assert.True(area.prevent_access);

        // While the unmap is pending, no new pin or rw is allowed.
        Assert.Equal(-KernelApi.EINVAL, env.Ioas.iommufd_access_pin_pages(access, iova, P, outPages, 0));
        var buf = new Ptr<byte>(KMem.Stack(8), 0);
        Assert.Equal(-KernelApi.EINVAL, env.Ioas.iommufd_access_rw(access, iova, buf, 8, 0));

        env.Ioas.iommufd_access_unpin_pages(access, iova, 2 * P);
        Assert.Equal(0, env.Ioas.iopt_unmap_iova(iova, 2 * P, out unmapped));
        Assert.Equal(2 * P, unmapped);
        env.Ioas.iommufd_access_destroy(access);
        env.TearDownAndAssertClean();
    }

    [Fact]
    public void Pin_checks_gaps_protection_alignment_and_unwinds_earlier_areas()
    {
        var (env, access) = WithAccess();
        env.MapUser(U, 12);
        ulong a = 0x1100000, b = 0x1104000, c = 0x110a000;
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref a, U, 4 * P, RW, 0));
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref b, U + 4 * P, 4 * P, RO, 0));
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref c, U + 8 * P, 4 * P, RW, 0));
        var areas = env.Ioas.Areas();

        // Across two adjacent areas.
        Assert.Equal(0, access.Pin(a + 2 * P, 4 * P, 0, out uint id));
        Assert.Equal(1U, areas[0].num_accesses);
        Assert.Equal(1U, areas[1].num_accesses);
        Assert.Equal(0, access.Unpin(id));

        // Writing into the read-only second area: -EPERM, the first area is released again.
        Assert.Equal(-KernelApi.EPERM, access.Pin(a + 2 * P, 4 * P, KernelApi.IOMMUFD_ACCESS_RW_WRITE, out _));
        Assert.Equal(0U, areas[0].num_accesses);
        Assert.Equal(0L, env.TotalPins);

        // A gap between b and c: -ENOENT, nothing left pinned.
        Assert.Equal(-KernelApi.ENOENT, access.Pin(b, 8 * P, 0, out _));
        Assert.Equal(0U, areas[1].num_accesses);
        Assert.Equal(-KernelApi.ENOENT, access.Pin(0x50000, P, 0, out _));

        // Not page aligned inside the area.
        Assert.Equal(-KernelApi.EINVAL, access.Pin(a + 2048, P, 0, out _));
        Assert.Equal(0L, env.TotalPins);
        Assert.Equal(0, env.Kernel.Checks.Count);
        env.TearDownAndAssertClean();
    }

    [Fact]
    public void Pin_by_an_access_that_does_not_pin_warns()
    {
        var (env, access) = WithAccess(needsPinPages: false);
        Assert.Equal(1UL, env.Ioas.iopt.iova_alignment);
        env.MapUser(U, 1);
        ulong iova = 0x1100000;
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref iova, U, P, RW, 0));
        Assert.Equal(-KernelApi.EINVAL, access.Pin(iova, P, 0, out _));
        Assert.Equal(CheckKind.Warn, Assert.Single(env.Kernel.Checks.Violations).Kind);
        env.Kernel.Checks.Clear();
        env.TearDownAndAssertClean();
    }

    [Fact]
    public void Rw_is_byte_exact_on_the_fast_slow_and_kthread_paths()
    {
        var (env, access) = WithAccess(needsPinPages: false);
        env.MapUser(U, 4);
        ulong a = 0x1100000, b = 0x1102000;
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref a, U, 2 * P, RW, 0));
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref b, U + 2 * P, 2 * P, RO, 0));

        var data = Enumerable.Range(0, 300).Select(i => (byte)(i * 7 + 3)).ToArray();
        ulong at = a + P - 100; // crosses a page boundary inside the first area
        Assert.Equal(0, access.Rw(at, data, KernelApi.IOMMUFD_ACCESS_RW_WRITE));
        Assert.Equal(data, env.ReadUser(U + P - 100, data.Length));

        var fast = new byte[300];
        Assert.Equal(0, access.Rw(at, fast, 0));
        Assert.Equal(data, fast);
        var slow = new byte[300];
        Assert.Equal(0, access.Rw(at, slow, KernelApi.__IOMMUFD_ACCESS_RW_SLOW_PATH));
        Assert.Equal(data, slow);

        // Reading across both areas; from a kernel thread with the KTHREAD flag.
        var expected = env.ReadUser(U + P, (int)(2 * P));
        env.Kernel.Exec.SetCurrent(env.NewKthread());
        var across = new byte[2 * P];
        Assert.Equal(0, access.Rw(a + P, across, KernelApi.IOMMUFD_ACCESS_RW_KTHREAD));
        env.Kernel.Exec.SetCurrent(env.Task);
        Assert.Equal(expected, across);

        Assert.Equal(-KernelApi.EPERM, access.Rw(b, new byte[8], KernelApi.IOMMUFD_ACCESS_RW_WRITE));
        Assert.Equal(-KernelApi.ENOENT, access.Rw(b + 2 * P - 4, new byte[8], 0));
        Assert.Equal(-KernelApi.ENOENT, access.Rw(0x50000, new byte[8], 0));
        Assert.Equal(-KernelApi.EINVAL, access.Rw(a, [], 0));
        Assert.Equal(0L, env.TotalPins);
        env.TearDownAndAssertClean();
    }

    [Fact]
    public void Destroyed_access_leaves_the_list_and_the_alignment_drops()
    {
        var (env, access) = WithAccess();
        Assert.Equal(P, env.Ioas.iopt.iova_alignment);
        access.Close();
        Assert.Null(access.Access);
        Assert.Equal(1UL, env.Ioas.iopt.iova_alignment);
        env.TearDownAndAssertClean();
    }
}
