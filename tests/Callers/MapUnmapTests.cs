// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Model.Callers;
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;

namespace Iommufd.Tests.Callers;

/// <summary>IOAS_MAP / IOAS_UNMAP / IOAS_COPY through the callers layer (reference §4).</summary>
public sealed class MapUnmapTests
{
    internal const int RW = KernelApi.IOMMU_READ | KernelApi.IOMMU_WRITE | KernelApi.IOMMU_CACHE;
    internal const int RO = KernelApi.IOMMU_READ | KernelApi.IOMMU_CACHE;
    private const ulong P = CallersEnv.PAGE_SIZE;
    private const ulong U = CallersEnv.UserBase;

    [Fact]
    public void Map_with_no_domain_pins_nothing_and_uses_the_first_fitting_aligned_iova()
    {
        var env = new CallersEnv();
        env.MapUser(U, 4);
        ulong iova = 0;
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref iova, U, 4 * P, RW, IoPagetable.IOPT_ALLOC_IOVA));
        // v6.2 first fit: holes start at PAGE_SIZE, aligned to roundup_pow_of_two(16K).
        Assert.Equal(0x4000UL, iova);
        Assert.Equal(0L, env.TotalPins);
        var area = Assert.Single(env.Ioas.Areas());
        Assert.NotNull(area.pages);
        Assert.Null(area.storage_domain);
        Assert.Equal(0UL, area.pages!.npinned);
        Assert.Equal(iova + 4 * P - 1, area.node.last);

        ulong iova2 = 0;
        env.MapUser(U + 4 * P, 4);
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref iova2, U + 4 * P, 4 * P, RW, IoPagetable.IOPT_ALLOC_IOVA));
        Assert.Equal(0x8000UL, iova2);
        env.TearDownAndAssertClean();
    }

    [Fact]
    public void Allocated_iova_keeps_the_alignment_of_the_user_address()
    {
        var env = new CallersEnv();
        env.MapUser(U, 512, alignmentPages: 512);
        ulong iova = 0;
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref iova, U, 512 * P, RW, IoPagetable.IOPT_ALLOC_IOVA));
        Assert.Equal(0x200000UL, iova);

        // A uptr 2K into a page keeps its page offset in the IOVA.
        env.MapUser(U + 512 * P, 1);
        ulong iova2 = 0;
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref iova2, U + 512 * P + 2048, 2048, RW, IoPagetable.IOPT_ALLOC_IOVA));
        Assert.Equal(2048UL, iova2 % P);
        Assert.Equal(2048U, env.Ioas.Areas().Single(a => a.node.start == iova2).page_offset);
        env.TearDownAndAssertClean();
    }

    [Fact]
    public void Unmap_only_whole_areas()
    {
        var env = new CallersEnv();
        env.MapUser(U, 8);
        ulong a = 0x100000, b = 0x104000;
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref a, U, 4 * P, RW, 0));
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref b, U + 4 * P, 4 * P, RW, 0));

        Assert.Equal(-KernelApi.ENOENT, env.Ioas.iopt_unmap_iova(a, 2 * P, out ulong unmapped));
        Assert.Equal(0UL, unmapped);
        Assert.Equal(-KernelApi.ENOENT, env.Ioas.iopt_unmap_iova(0x10000, P, out _));
        Assert.Equal(2, env.Ioas.Areas().Count);

        // A range covering both areas (and space around them) unmaps both.
        Assert.Equal(0, env.Ioas.iopt_unmap_iova(a - P, 10 * P, out unmapped));
        Assert.Equal(8 * P, unmapped);
        Assert.Empty(env.Ioas.Areas());
        Assert.Equal(-KernelApi.ENOENT, env.Ioas.iopt_unmap_iova(a, 4 * P, out _));
        Assert.Equal(0, env.Ioas.iopt_unmap_all(out unmapped));
        Assert.Equal(0UL, unmapped);
        env.TearDownAndAssertClean();
    }

    [Fact]
    public void Unmap_of_an_area_being_set_up_is_busy()
    {
        var env = new CallersEnv();
        env.MapUser(U, 4);
        ulong iova = 0x100000;
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref iova, U, 4 * P, RW, 0));
        var area = Assert.Single(env.Ioas.Areas());
        var pages = area.pages;
        area.pages = null; // what a concurrent map looks like before it sets area->pages
        Assert.Equal(-KernelApi.EBUSY, env.Ioas.iopt_unmap_iova(iova, 4 * P, out _));
        area.pages = pages;
        env.TearDownAndAssertClean();
    }

    [Fact]
    public void Bad_input_gets_the_v6_2_error_codes()
    {
        var env = new CallersEnv();
        env.MapUser(U, 8);
        ulong iova = 0x100000;
        Assert.Equal(-KernelApi.EINVAL, env.Ioas.iopt_map_user_pages(ref iova, U, 0, RW, 0));
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref iova, U, 4 * P, RW, 0));

        ulong overlap = 0x102000;
        Assert.Equal(-IoPagetable.EEXIST, env.Ioas.iopt_map_user_pages(ref overlap, U + 4 * P, 4 * P, RW, 0));

        ulong wrap = ulong.MaxValue - P + 1;
        Assert.Equal(-KernelApi.EOVERFLOW, env.Ioas.iopt_map_user_pages(ref wrap, U + 4 * P, 2 * P, RW, 0));

        Assert.Equal(-KernelApi.EINVAL, env.Ioas.iopt_unmap_iova(iova, 0, out _));
        Assert.Equal(-KernelApi.EOVERFLOW, env.Ioas.iopt_unmap_iova(ulong.MaxValue, 2, out _));

        // IOMMU_WRITE needs writable pages.
        var ro = env.Ioas.CreatePages(U + 4 * P, 4 * P, writable: false);
        Assert.False(ro.IsErr);
        ulong at = 0x200000;
        Assert.Equal(-KernelApi.EPERM, env.Ioas.MapPages(ro.Value!, 0, 4 * P, ref at, RW, 0));
        Assert.Equal(0, env.Ioas.MapPages(ro.Value!, 0, 4 * P, ref at, RO, 0));

        // The slice must lie inside the pages: WARN and -EOVERFLOW otherwise.
        ulong beyond = 0x300000;
        Assert.Equal(-KernelApi.EOVERFLOW, env.Ioas.MapPages(ro.Value!, 2 * P, 4 * P, ref beyond, RO, 0));
        var warn = Assert.Single(env.Kernel.Checks.Violations);
        Assert.Equal(CheckKind.Warn, warn.Kind);
        env.Kernel.Checks.Clear();
        env.Ioas.iopt_put_pages(ro.Value!);
        Assert.Equal(2, env.Ioas.Areas().Count);
        env.TearDownAndAssertClean();
    }

    [Fact]
    public void Fixed_iova_and_page_offset_must_meet_the_iova_alignment()
    {
        var env = new CallersEnv();
        var pt = env.NewPageTableDomain();
        Assert.Equal(0, env.Ioas.iopt_table_add_domain(pt));
        Assert.Equal(P, env.Ioas.iopt.iova_alignment);
        env.MapUser(U, 4);

        ulong misaligned = 0x100800;
        Assert.Equal(-KernelApi.EINVAL, env.Ioas.iopt_map_user_pages(ref misaligned, U, 2 * P, RW, 0));
        ulong fixedIova = 0x100000;
        Assert.Equal(-KernelApi.EINVAL, env.Ioas.iopt_map_user_pages(ref fixedIova, U + 2048, 2 * P, RW, 0));
        // The length must be a multiple of the alignment too.
        Assert.Equal(-KernelApi.EINVAL, env.Ioas.iopt_map_user_pages(ref fixedIova, U, 2048, RW, 0));
        Assert.Empty(env.Ioas.Areas());
        Assert.Equal(0L, env.TotalPins);
        env.TearDownAndAssertClean(pt);
    }

    [Fact]
    public void Account_mode_mm_of_the_ioas_switches_user_accounted_pages()
    {
        var env = new CallersEnv();
        env.MapUser(U, 1);
        var user = env.Ioas.CreatePages(U, P, true);
        Assert.Equal(IoptPagesAccount.IOPT_PAGES_ACCOUNT_USER, user.Value!.account_mode);
        env.Ioas.account_mode = IoptPagesAccount.IOPT_PAGES_ACCOUNT_MM;
        var mm = env.Ioas.CreatePages(U, P, true);
        Assert.Equal(IoptPagesAccount.IOPT_PAGES_ACCOUNT_MM, mm.Value!.account_mode);
        env.Ioas.iopt_put_pages(user.Value);
        env.Ioas.iopt_put_pages(mm.Value);
        env.TearDownAndAssertClean();
    }

    [Fact]
    public void Copy_shares_the_pages_between_two_ioas_with_one_pin_per_page()
    {
        var env = new CallersEnv();
        var dst = env.NewIoas();
        var mock = env.NewMockDomain();
        var pt = env.NewPageTableDomain();
        Assert.Equal(0, env.Ioas.iopt_table_add_domain(mock));
        Assert.Equal(0, dst.iopt_table_add_domain(pt));
        env.MapUser(U, 4);
        ulong src = 0x1100000;
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref src, U, 4 * P, RW, 0));

        ulong copy = 0;
        Assert.Equal(0, dst.iopt_copy_iova(env.Ioas, src, 2 * P, ref copy, RW, IoPagetable.IOPT_ALLOC_IOVA));
        var srcArea = Assert.Single(env.Ioas.Areas());
        var dstArea = Assert.Single(dst.Areas());
        Assert.Same(srcArea.pages, dstArea.pages);
        Assert.Equal(2, srcArea.pages!.kref.Value);
        for (ulong i = 0; i < 4; i++)
            Assert.Equal(1, env.PinCount(U + i * P));
        Assert.Equal(2 * P, CallersEnv.MappedBytes(pt));
        Assert.Equal(KernelApi.PAGE_SIZE * env.PfnAt(U + P), CallersEnv.IovaToPhys(pt, copy + P));

        // A gap in the source range: -ENOENT and nothing left behind.
        ulong none = 0;
        Assert.Equal(-KernelApi.ENOENT, dst.iopt_copy_iova(env.Ioas, src, 8 * P, ref none, RW, IoPagetable.IOPT_ALLOC_IOVA));
        Assert.Single(dst.Areas());

        // The source goes away; the copy keeps its two pages pinned. (A copy of the middle pages
        // would hit the v6.2 carry defect, see AccessTests.V6_2_defect_*.)
        Assert.Equal(0, env.Ioas.iopt_unmap_all(out _));
        Assert.Equal([1, 1, 0, 0], Enumerable.Range(0, 4).Select(i => env.PinCount(U + (ulong)i * P)));
        Assert.Equal(0UL, CallersEnv.MappedBytes(mock));
        Assert.Equal(0, dst.TearDown());
        env.TearDownAndAssertClean(mock, pt);
    }
}
