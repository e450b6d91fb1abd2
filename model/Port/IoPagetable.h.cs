// SPDX-License-Identifier: GPL-2.0-only
// The structures and inline helpers of drivers/iommu/iommufd/io_pagetable.h and double_span.h
// (Linux v6.2) that pages.c uses. Field names and widths are the C ones.
using Iommufd.Model.Kernel;

namespace Iommufd.Model.Port;

/// <summary>enum { IOPT_PAGES_ACCOUNT_NONE, _USER, _MM } stored in a u8.</summary>
public static class IoptPagesAccount
{
    public const byte IOPT_PAGES_ACCOUNT_NONE = 0;
    public const byte IOPT_PAGES_ACCOUNT_USER = 1;
    public const byte IOPT_PAGES_ACCOUNT_MM = 2;
}

/// <summary>struct iopt_area: one IOVA range of one io_pagetable backed by a slice of an iopt_pages.</summary>
public sealed class iopt_area
{
    public iopt_area()
    {
        node = new interval_tree_node(this);
        pages_node = new interval_tree_node(this);
    }

    /// <summary>In iopt-&gt;area_itree, IOVA bytes, inclusive. Protected by iova_rwsem.</summary>
    public readonly interval_tree_node node;
    /// <summary>In pages-&gt;domains_itree, page indexes, inclusive. Protected by pages-&gt;mutex.</summary>
    public readonly interval_tree_node pages_node;
    public io_pagetable iopt = null!;
    public iopt_pages? pages;
    public iommu_domain? storage_domain;
    /// <summary>Bytes into the first page where the area starts.</summary>
    public uint page_offset;
    public int iommu_prot;
    /// <summary>bool prevent_access : 1.</summary>
    public bool prevent_access;
    public uint num_accesses;
}

/// <summary>struct iopt_pages: the pinned-page list of one linear chunk of user VA.</summary>
public sealed class iopt_pages
{
    public iopt_pages() => kref = new kref(this);
    public readonly kref kref;
    public readonly mutex mutex = new("iopt_pages.mutex");
    public ulong npages;
    public ulong npinned;
    public ulong last_npinned;
    public task_struct? source_task;
    public mm_struct? source_mm;
    public user_struct? source_user;
    /// <summary>void __user *uptr (page aligned).</summary>
    public ulong uptr;
    /// <summary>bool writable : 1.</summary>
    public bool writable;
    public byte account_mode;
    public readonly xarray pinned_pfns = new("iopt_pages.pinned_pfns");
    public rb_root_cached access_itree = new();
    public rb_root_cached domains_itree = new();
}

/// <summary>struct iopt_pages_access: one in-kernel access; exact duplicates share it and count users.</summary>
public sealed class iopt_pages_access
{
    public iopt_pages_access() => node = new interval_tree_node(this);
    public readonly interval_tree_node node;
    public uint users;
}

/// <summary>struct iopt_reserved: an IOVA range no area may use, owned by whoever reserved it
/// (here: a domain, for the IOVA outside its aperture).</summary>
public sealed class iopt_reserved
{
    public iopt_reserved() => node = new interval_tree_node(this);
    public readonly interval_tree_node node;
    public object? owner;
}

/// <summary>struct io_pagetable (the fields pages.c and its callers use).</summary>
public sealed class io_pagetable
{
    public readonly rw_semaphore domains_rwsem = new("io_pagetable.domains_rwsem");
    public readonly xarray domains = new("io_pagetable.domains");
    public uint next_domain_id;
    public readonly rw_semaphore iova_rwsem = new("io_pagetable.iova_rwsem");
    public rb_root_cached area_itree = new();
    public rb_root_cached allowed_itree = new();
    public rb_root_cached reserved_itree = new();
    /// <summary>u8 disable_large_pages : 1.</summary>
    public bool disable_large_pages;
    public ulong iova_alignment = 1;
}

/// <summary>struct interval_tree_double_span_iter (double_span.h).</summary>
public sealed class interval_tree_double_span_iter
{
    public readonly rb_root_cached?[] itrees = new rb_root_cached?[2];
    public readonly interval_tree_span_iter[] spans = [new(), new()];
    private ulong start; // union { start_hole; start_used; }
    private ulong last;  // union { last_hole; last_used; }
    public ulong start_hole { get => start; set => start = value; }
    public ulong start_used { get => start; set => start = value; }
    public ulong last_hole { get => last; set => last = value; }
    public ulong last_used { get => last; set => last = value; }
    /// <summary>0 = hole, 1 = used span[0], 2 = used span[1], -1 done iteration.</summary>
    public int is_used;
}

/// <summary>
/// The inline helpers of io_pagetable.h and double_span.h, shared by the port and its callers.
/// </summary>
public abstract class IoPagetableH(FakeKernel kernel) : KernelApi(kernel)
{
    protected static ulong iopt_area_index(iopt_area area) => area.pages_node.start;
    protected static ulong iopt_area_last_index(iopt_area area) => area.pages_node.last;
    protected static ulong iopt_area_iova(iopt_area area) => area.node.start;
    protected static ulong iopt_area_last_iova(iopt_area area) => area.node.last;
    protected static ulong iopt_area_length(iopt_area area) => unchecked(area.node.last - area.node.start + 1);

    protected ulong iopt_area_start_byte(iopt_area area, ulong iova)
    {
        if (IS_ENABLED(CONFIG_IOMMUFD_TEST))
            WARN_ON(iova < iopt_area_iova(area) || iova > iopt_area_last_iova(area));
        return unchecked(iova - iopt_area_iova(area) + area.page_offset + iopt_area_index(area) * PAGE_SIZE);
    }

    protected ulong iopt_area_iova_to_index(iopt_area area, ulong iova) =>
        iopt_area_start_byte(area, iova) / PAGE_SIZE;

    protected static bool interval_tree_double_span_iter_done(interval_tree_double_span_iter state) =>
        state.is_used == -1;
}
