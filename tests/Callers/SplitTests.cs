// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Model.Callers;
using Iommufd.Model.Kernel;
using Iommufd.Model.Selftest;

namespace Iommufd.Tests.Callers;

/// <summary>iopt_cut_iova / iopt_area_split rules (VFIO type1 compatibility, reference §4).</summary>
public sealed class SplitTests
{
    private const int RW = MapUnmapTests.RW;
    private const ulong P = CallersEnv.PAGE_SIZE;
    private const ulong U = CallersEnv.UserBase;
    private const ulong Iova = 0x100000;

    private static CallersEnv Mapped(bool disableLargePages)
    {
        var env = new CallersEnv();
        if (disableLargePages)
            Assert.Equal(0, env.Ioas.iopt_disable_large_pages());
        env.MapUser(U, 4);
        ulong iova = Iova;
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref iova, U, 4 * P, RW, 0));
        return env;
    }

    [Fact]
    public void Split_without_domain_makes_two_areas_sharing_the_pages()
    {
        var env = Mapped(disableLargePages: true);
        var pages = Assert.Single(env.Ioas.Areas()).pages!;
        Assert.Equal(0, env.Ioas.iopt_cut_iova([Iova + 2 * P - 1]));
        var areas = env.Ioas.Areas();
        Assert.Equal(2, areas.Count);
        Assert.Equal((Iova, Iova + 2 * P - 1), (areas[0].node.start, areas[0].node.last));
        Assert.Equal((Iova + 2 * P, Iova + 4 * P - 1), (areas[1].node.start, areas[1].node.last));
        Assert.Equal((0UL, 1UL), (areas[0].pages_node.start, areas[0].pages_node.last));
        Assert.Equal((2UL, 3UL), (areas[1].pages_node.start, areas[1].pages_node.last));
        Assert.Same(pages, areas[0].pages);
        Assert.Same(pages, areas[1].pages);
        Assert.Equal(2, pages.kref.Value);

        // Each half can now be unmapped alone.
        Assert.Equal(0, env.Ioas.iopt_unmap_iova(Iova, 2 * P, out ulong unmapped));
        Assert.Equal(2 * P, unmapped);
        Assert.Equal(1, pages.kref.Value);
        env.TearDownAndAssertClean();
    }

    [Fact]
    public void Cuts_at_area_edges_or_outside_areas_change_nothing()
    {
        var env = Mapped(disableLargePages: false);
        Assert.Equal(0, env.Ioas.iopt_cut_iova([Iova, Iova + 4 * P - 1, 0x50000]));
        Assert.Single(env.Ioas.Areas());
        env.TearDownAndAssertClean();
    }

    [Fact]
    public void Split_refuses_misaligned_cuts_accesses_and_areas_being_unmapped()
    {
        var env = Mapped(disableLargePages: true);
        Assert.Equal(-KernelApi.EINVAL, env.Ioas.iopt_cut_iova([Iova + 2048 - 1]));

        var access = MockAccess.Create(env.Kernel, env.Ioas, out int rc);
        Assert.Equal(0, rc);
        Assert.Equal(0, access.Pin(Iova, P, 0, out uint id));
        Assert.Equal(-KernelApi.EINVAL, env.Ioas.iopt_cut_iova([Iova + 2 * P - 1]));
        Assert.Equal(0, access.Unpin(id));

        var area = Assert.Single(env.Ioas.Areas());
        area.prevent_access = true; // the state an unmap waiting for access drivers leaves
        Assert.Equal(-KernelApi.EBUSY, env.Ioas.iopt_cut_iova([Iova + 2 * P - 1]));
        area.prevent_access = false;
        Assert.Single(env.Ioas.Areas());
        env.TearDownAndAssertClean();
    }

    [Fact]
    public void Split_refuses_an_area_in_a_domain_while_large_pages_are_allowed()
    {
        var env = Mapped(disableLargePages: false);
        var pt = env.NewPageTableDomain();
        Assert.Equal(0, env.Ioas.iopt_table_add_domain(pt));
        Assert.Equal(-KernelApi.EINVAL, env.Ioas.iopt_cut_iova([Iova + 2 * P - 1]));
        Assert.Single(env.Ioas.Areas());
        env.TearDownAndAssertClean(pt);
    }

    [Fact]
    public void Split_in_a_domain_leaves_domains_itree_untouched_as_v6_2_does()
    {
        var env = Mapped(disableLargePages: true);
        var pt = env.NewPageTableDomain();
        Assert.Equal(0, env.Ioas.iopt_table_add_domain(pt));
        var old = Assert.Single(env.Ioas.Areas());
        var pages = old.pages!;

        Assert.Equal(0, env.Ioas.iopt_cut_iova([Iova + 2 * P - 1]));
        var areas = env.Ioas.Areas();
        Assert.Equal(2, areas.Count);
        Assert.All(areas, a => Assert.Same(pt, a.storage_domain));
        // The freed area's pages_node is still the only node of domains_itree.
        var node = Assert.Single(CallersEnv.Nodes(pages.domains_itree));
        Assert.Same(old, node.Container);
        Assert.DoesNotContain(old, areas);
        Assert.False(env.Kernel.Allocator.IsLive(old));

        // Unmapping a half then removes a pages_node that was never inserted: the interval tree
        // fake stops it as list corruption (the real kernel corrupts its rb-tree).
        var ex = Assert.ThrowsAny<Exception>(() => env.Ioas.iopt_unmap_iova(Iova, 2 * P, out _));
        Assert.Equal("KernelListCorruption", ex.GetType().Name);
    }
}
