// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Model.Callers;
using Iommufd.Model.Kernel;
using Iommufd.Model.Selftest;

namespace Iommufd.Tests.Callers;

/// <summary>Attaching and detaching domains, alignment and large pages (reference §4).</summary>
public sealed class DomainTests
{
    private const int RW = MapUnmapTests.RW;
    private const ulong P = CallersEnv.PAGE_SIZE;
    private const ulong U = CallersEnv.UserBase;

    [Fact]
    public void Attach_pins_and_maps_every_area_and_detach_releases_them()
    {
        var env = new CallersEnv();
        env.MapUser(U, 4);
        ulong iova = 0x1100000;
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref iova, U, 4 * P, RW, 0));
        var mock = env.NewMockDomain();

        Assert.Equal(0, env.Ioas.iopt_table_add_domain(mock));
        Assert.Equal(2048UL, env.Ioas.iopt.iova_alignment);
        Assert.Equal(1U, env.Ioas.iopt.next_domain_id);
        var area = Assert.Single(env.Ioas.Areas());
        Assert.Same(mock, area.storage_domain);
        Assert.Single(CallersEnv.Nodes(area.pages!.domains_itree));
        for (ulong i = 0; i < 4; i++)
        {
            Assert.Equal(1, env.PinCount(U + i * P));
            Assert.Equal(P * env.PfnAt(U + i * P), CallersEnv.IovaToPhys(mock, iova + i * P));
        }
        Assert.Equal(4 * P, CallersEnv.MappedBytes(mock));

        env.Ioas.iopt_table_remove_domain(mock);
        Assert.Equal(0L, env.TotalPins);
        Assert.Equal(0UL, CallersEnv.MappedBytes(mock));
        Assert.Null(area.storage_domain);
        Assert.Empty(CallersEnv.Nodes(area.pages.domains_itree));
        Assert.Equal(1UL, env.Ioas.iopt.iova_alignment);
        Assert.Equal(0U, env.Ioas.iopt.next_domain_id);
        env.TearDownAndAssertClean(mock);
    }

    [Fact]
    public void Map_after_attach_fills_the_domain()
    {
        var env = new CallersEnv();
        var pt = env.NewPageTableDomain();
        Assert.Equal(0, env.Ioas.iopt_table_add_domain(pt));
        env.MapUser(U, 3);
        ulong iova = 0;
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref iova, U, 3 * P, RW, IoPagetable.IOPT_ALLOC_IOVA));
        Assert.Equal(3 * P, CallersEnv.MappedBytes(pt));
        Assert.Equal(1, env.PinCount(U + 2 * P));
        Assert.Same(pt, Assert.Single(env.Ioas.Areas()).storage_domain);
        env.TearDownAndAssertClean(pt);
    }

    [Fact]
    public void Detach_compacts_the_domains_and_moves_the_storage_domain()
    {
        var env = new CallersEnv();
        env.MapUser(U, 4);
        ulong iova = 0x1100000;
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref iova, U, 4 * P, RW, 0));
        var mock = env.NewMockDomain();
        var pt = env.NewPageTableDomain();
        var mock2 = env.NewMockDomain("mock2");
        Assert.Equal(0, env.Ioas.iopt_table_add_domain(mock));
        Assert.Equal(0, env.Ioas.iopt_table_add_domain(pt));
        Assert.Equal(0, env.Ioas.iopt_table_add_domain(mock2));
        Assert.Equal([mock, pt, mock2], env.Ioas.Domains());
        Assert.Equal(P, env.Ioas.iopt.iova_alignment);
        for (ulong i = 0; i < 4; i++)
            Assert.Equal(1, env.PinCount(U + i * P));

        // Removing index 0 moves the last domain (mock2) into slot 0 and makes it the storage.
        env.Ioas.iopt_table_remove_domain(mock);
        Assert.Equal([mock2, pt], env.Ioas.Domains());
        Assert.Equal(2U, env.Ioas.iopt.next_domain_id);
        var area = Assert.Single(env.Ioas.Areas());
        Assert.Same(mock2, area.storage_domain);
        Assert.Equal(0UL, CallersEnv.MappedBytes(mock));
        Assert.Equal(1, env.PinCount(U));

        env.Ioas.iopt_table_remove_domain(pt);
        Assert.Equal(2048UL, env.Ioas.iopt.iova_alignment);
        env.Ioas.iopt_table_remove_domain(mock2);
        Assert.Equal(0L, env.TotalPins);

        // Removing a domain that is not attached WARNs and changes nothing.
        env.Ioas.iopt_table_remove_domain(mock2);
        Assert.Equal(CheckKind.Warn, Assert.Single(env.Kernel.Checks.Violations).Kind);
        env.Kernel.Checks.Clear();
        env.TearDownAndAssertClean(mock, pt, mock2);
    }

    [Fact]
    public void Attach_refuses_duplicates_large_minimum_pages_and_misaligned_areas()
    {
        var env = new CallersEnv();
        var pt = env.NewPageTableDomain();
        Assert.Equal(0, env.Ioas.iopt_table_add_domain(pt));
        Assert.Equal(-IoPagetable.EEXIST, env.Ioas.iopt_table_add_domain(pt));
        Assert.Equal(CheckKind.Warn, Assert.Single(env.Kernel.Checks.Violations).Kind);
        env.Kernel.Checks.Clear();
        env.Ioas.iopt_table_remove_domain(pt);

        var big = env.NewPageTableDomain("2M-only");
        big.pgsize_bitmap = 1UL << 21;
        Assert.Equal(-KernelApi.EINVAL, env.Ioas.iopt_table_add_domain(big));

        // An area 2K into a page cannot live in a 4K-granular domain. (It spans two 2K IO pages:
        // the v6.2 mock tags a one-IO-page map LAST only, so unmapping it alone would WARN.)
        env.MapUser(U, 2);
        // (Inside the mock's aperture, which starts at 16 MiB.)
        ulong iova = MockDomain.MOCK_APERTURE_START + 2048;
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref iova, U + 2048, 4096, RW, 0));
        Assert.Equal(-IoPagetable.EADDRINUSE, env.Ioas.iopt_table_add_domain(pt));
        Assert.Empty(env.Ioas.Domains());
        Assert.Equal(0L, env.TotalPins);

        // The 2K mock domain accepts it.
        var mock = env.NewMockDomain();
        Assert.Equal(0, env.Ioas.iopt_table_add_domain(mock));
        Assert.Equal(4096UL, CallersEnv.MappedBytes(mock));
        env.TearDownAndAssertClean(pt, big, mock);
    }

    [Fact]
    public void Attach_reserves_the_iova_outside_the_domain_aperture_until_detach()
    {
        var env = new CallersEnv();
        env.MapUser(U, 1);
        var mock = env.NewMockDomain();
        ulong low = 0x100000, inside = MockDomain.MOCK_APERTURE_START + 0x100000;

        // An area below the mock's aperture: the reservation, and so the attach, fails.
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref low, U, P, RW, 0));
        Assert.Equal(-IoPagetable.EADDRINUSE, env.Ioas.iopt_table_add_domain(mock));
        Assert.True(env.Ioas.iopt.reserved_itree.IsEmpty);
        Assert.Equal(0, env.Ioas.iopt_unmap_all(out _));

        // With the mock attached, a fixed IOVA outside it is refused and allocation stays inside.
        Assert.Equal(0, env.Ioas.iopt_table_add_domain(mock));
        Assert.Equal(-KernelApi.EINVAL, env.Ioas.iopt_map_user_pages(ref low, U, P, RW, 0));
        ulong top = MockDomain.MOCK_APERTURE_LAST + 1;
        Assert.Equal(-KernelApi.EINVAL, env.Ioas.iopt_map_user_pages(ref top, U, P, RW, 0));
        ulong auto = 0;
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref auto, U, P, RW, IoPagetable.IOPT_ALLOC_IOVA));
        Assert.InRange(auto, MockDomain.MOCK_APERTURE_START, MockDomain.MOCK_APERTURE_LAST);
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref inside, U, P, RW, 0));
        Assert.Equal(0, env.Ioas.iopt_unmap_all(out _));

        // Detach drops the domain's reservations: the low IOVA is usable again.
        env.Ioas.iopt_table_remove_domain(mock);
        Assert.True(env.Ioas.iopt.reserved_itree.IsEmpty);
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref low, U, P, RW, 0));
        env.TearDownAndAssertClean(mock);
    }

    [Fact]
    public void Disable_large_pages_only_without_domains_or_without_areas()
    {
        var env = new CallersEnv();
        var mock = env.NewMockDomain();
        Assert.Equal(0, env.Ioas.iopt_table_add_domain(mock));
        Assert.Equal(0, env.Ioas.iopt_disable_large_pages());
        Assert.True(env.Ioas.iopt.disable_large_pages);
        Assert.Equal(P, env.Ioas.iopt.iova_alignment);
        env.Ioas.iopt_enable_large_pages();
        Assert.False(env.Ioas.iopt.disable_large_pages);
        Assert.Equal(2048UL, env.Ioas.iopt.iova_alignment);

        env.MapUser(U, 2);
        ulong iova = 0x1100000;
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref iova, U, 2 * P, RW, 0));
        Assert.Equal(-KernelApi.EINVAL, env.Ioas.iopt_disable_large_pages());
        Assert.False(env.Ioas.iopt.disable_large_pages);

        // Areas but no domain: allowed if the areas are page aligned.
        env.Ioas.iopt_table_remove_domain(mock);
        Assert.Equal(0, env.Ioas.iopt_disable_large_pages());
        env.Ioas.iopt_enable_large_pages();
        ulong half = 0;
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref half, U + 2048, 2048, RW, IoPagetable.IOPT_ALLOC_IOVA));
        Assert.Equal(-IoPagetable.EADDRINUSE, env.Ioas.iopt_disable_large_pages());
        Assert.False(env.Ioas.iopt.disable_large_pages);
        Assert.Equal(1UL, env.Ioas.iopt.iova_alignment);
        env.TearDownAndAssertClean(mock);
    }
}
