// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;
using static Iommufd.Model.Port.IoptPagesAccount;

namespace Iommufd.Tests.Port;

/// <summary>
/// pages.c 1139-1188: iopt_alloc_pages and iopt_release_pages. Expected values are derived from the C.
/// </summary>
public sealed class LifetimeTests
{
    private const ulong P = KernelApi.PAGE_SIZE;
    private const ulong U = PortFixture.UserBase;
    private static readonly string AllocSite = FaultSites.Alloc("iopt_alloc_pages");

    /// <summary>pages.c:1145-1147: a zero length and any length above SIZE_MAX - PAGE_SIZE are -EINVAL
    /// before any allocation.</summary>
    [Theory]
    [InlineData(0UL)]
    [InlineData(ulong.MaxValue - P + 1)]
    [InlineData(ulong.MaxValue)]
    public void Alloc_pages_rejects_bad_lengths(ulong length)
    {
        var f = new PortFixture();
        var r = f.Port.iopt_alloc_pages(U, length, true);
        Assert.Equal(-KernelApi.EINVAL, r.Error);
        Assert.Equal(0, f.Attempts("iopt_alloc_pages"));
        Assert.Empty(f.Kernel.ReferenceImbalances());
    }

    /// <summary>pages.c:1145 boundary: SIZE_MAX - PAGE_SIZE itself is accepted; from an aligned uptr
    /// DIV_ROUND_UP gives (2^64 - 2) / 4096 = 2^52 - 1 pages.</summary>
    [Fact]
    public void Alloc_pages_accepts_the_largest_length()
    {
        var f = new PortFixture();
        var pages = f.NewPages(U, ulong.MaxValue - P, false);
        Assert.Equal((1UL << 52) - 1, pages.npages);
    }

    /// <summary>
    /// pages.c:1158-1159: with length SIZE_MAX - PAGE_SIZE and uptr 2 bytes into a page,
    /// length + 2 + PAGE_SIZE - 1 wraps to 0, so npages is 0 for a huge range: the length check
    /// does not protect DIV_ROUND_UP against the page offset (NOTES.part2 item 5).
    /// </summary>
    [Fact]
    public void V6_2_alloc_pages_npages_wraps_to_zero_with_an_unaligned_uptr()
    {
        var f = new PortFixture();
        var pages = f.NewPages(U + 2, ulong.MaxValue - P, false);
        Assert.Equal(0UL, pages.npages);
        Assert.Equal(U, pages.uptr);
    }

    /// <summary>pages.c:1158-1159: uptr is aligned down; npages covers the offset plus length.</summary>
    [Theory]
    [InlineData(0x123UL, 0x2000UL, 3UL)]
    [InlineData(0UL, 0x2000UL, 2UL)]
    [InlineData(0xfffUL, 1UL, 1UL)]
    [InlineData(0xfffUL, 2UL, 2UL)]
    public void Alloc_pages_aligns_uptr_and_counts_pages(ulong offset, ulong length, ulong npages)
    {
        var f = new PortFixture();
        var pages = f.NewPages(U + offset, length);
        Assert.Equal((U, npages), (pages.uptr, pages.npages));
    }

    /// <summary>pages.c:1149-1172: kref 1, nothing pinned, empty trees and xarray, writable recorded,
    /// USER accounting without CAP_IPC_LOCK, and one reference each on the mm (mmgrab), the group
    /// leader (even when a thread calls) and the user.</summary>
    [Fact]
    public void Alloc_pages_initialises_and_takes_references()
    {
        var f = new PortFixture();
        var thread = f.Kernel.CreateThread(f.Task, "worker");
        f.Kernel.SetCurrent(thread);
        int mmCount = f.Mm.mm_count, usage = f.Task.Usage, threadUsage = thread.Usage, uref = f.Task.User.RefCount;
        var pages = f.NewPages(U, 2 * P, writable: false);
        Assert.Equal(1, pages.kref.Value);
        Assert.Equal((0UL, 0UL, false, IOPT_PAGES_ACCOUNT_USER), (pages.npinned, pages.last_npinned, pages.writable, pages.account_mode));
        Assert.True(pages.access_itree.IsEmpty && pages.domains_itree.IsEmpty);
        Assert.Equal(0L, pages.pinned_pfns.Count);
        Assert.Same(f.Mm, pages.source_mm);
        Assert.Same(f.Task, pages.source_task);
        Assert.Same(f.Task.User, pages.source_user);
        Assert.Equal((mmCount + 1, usage + 1, threadUsage, uref + 1), (f.Mm.mm_count, f.Task.Usage, thread.Usage, f.Task.User.RefCount));
        Assert.True(f.Kernel.Allocator.IsLive(pages));
    }

    /// <summary>pages.c:1168-1171: with CAP_IPC_LOCK the pages are not accounted.</summary>
    [Fact]
    public void Alloc_pages_with_cap_ipc_lock_uses_no_accounting()
    {
        var f = new PortFixture(capIpcLock: true);
        Assert.Equal(IOPT_PAGES_ACCOUNT_NONE, f.NewPages(U, P).account_mode);
    }

    /// <summary>pages.c:1149-1151: a failed kzalloc is -ENOMEM and takes no reference.</summary>
    [Fact]
    public void Alloc_pages_allocation_failure_takes_no_reference()
    {
        var f = PortFixture.Failing((AllocSite, 1));
        int mmCount = f.Mm.mm_count;
        Assert.Equal(-KernelApi.ENOMEM, f.Port.iopt_alloc_pages(U, P, true).Error);
        Assert.Equal(mmCount, f.Mm.mm_count);
        Assert.Empty(f.Kernel.ReferenceImbalances());
    }

    /// <summary>pages.c:1175-1188: releasing empty pages drops the three references, destroys the
    /// mutex and frees the structure, without any WARN.</summary>
    [Fact]
    public void Release_pages_drops_references_and_frees()
    {
        var f = new PortFixture();
        var pages = f.NewPages(U, 2 * P);
        f.Port.iopt_release_pages(pages.kref);
        Assert.Empty(f.Kernel.ReferenceImbalances());
        Assert.False(f.Kernel.Allocator.IsLive(pages));
        Assert.True(pages.mutex.Destroyed);
        f.AssertNoChecks();
    }

    /// <summary>pages.c:1179-1182: an access, a domain area, a pin count and an xarray entry left
    /// behind each WARN once; the references are still dropped.</summary>
    [Fact]
    public void Release_pages_warns_on_each_kind_of_leftover_state()
    {
        var f = new PortFixture();
        var pages = f.NewPages(U, 2 * P);
        f.NewAccess(pages, 0, 0);
        f.NewArea(pages, 1, 1, 0x100000, 0x100000 + P - 1);
        pages.npinned = 1;
        f.StorePfn(pages.pinned_pfns, 0, f.AllocFrames(1));
        f.Port.iopt_release_pages(pages.kref);
        Assert.Equal(Enumerable.Repeat("iopt_release_pages", 4), f.Warns);
        Assert.Empty(f.Kernel.ReferenceImbalances());
    }
}
