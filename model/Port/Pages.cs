// SPDX-License-Identifier: GPL-2.0-only
// The port of drivers/iommu/iommufd/pages.c (Linux v6.2), split into files that follow the
// sections of pages.c. This file holds the class and the structures pages.c defines locally.
using Iommufd.Model.Callers;
using Iommufd.Model.Kernel;

namespace Iommufd.Model.Port;

/// <summary>
/// pages.c. Every C function is a method with the C name and C parameter order; non-static C
/// functions are public, static ones internal (tests call them directly). The kernel services
/// come from <see cref="KernelApi"/>; the io_pagetable.h inlines from <see cref="IoPagetableH"/>.
/// </summary>
public sealed partial class Pages(FakeKernel kernel) : IoPagetableH(kernel), IPagesC
{
    /// <summary>#define BATCH_BACKUP_SIZE 32 (u64 entries).</summary>
    internal const int BATCH_BACKUP_SIZE = 32;

    /// <summary>TEMP_MEMORY_LIMIT with CONFIG_IOMMUFD_TEST: the run-time tunable.</summary>
    internal ulong TEMP_MEMORY_LIMIT => iommufd_test_memory_limit;

    /// <summary>sizeof(struct page *).</summary>
    internal const ulong SIZEOF_PAGE_PTR = 8;
}

/// <summary>
/// struct pfn_batch: runs of contiguous PFNs. <c>pfns</c> and <c>npfns</c> point into one
/// temp_kmalloc block (npfns follows the pfns array), exactly as in C.
/// </summary>
internal sealed class pfn_batch
{
    public Ptr<ulong> pfns;
    public Ptr<uint> npfns;
    public uint array_size;
    public uint end;
    public uint total_pfns;
}

/// <summary>struct pfn_reader_user: the pin_user_pages() path.</summary>
internal sealed class pfn_reader_user
{
    public Ptr<PagePtr> upages;
    public ulong upages_len;
    public ulong upages_start;
    public ulong upages_end;
    public uint gup_flags;
    /// <summary>1 means mmget() and mmap_read_lock(), 0 means only mmget(), -1 is neither.</summary>
    public int locked;
}

/// <summary>struct pfn_reader: reads PFNs from the xarray, a domain or the mm, in that order of preference.</summary>
internal sealed class pfn_reader
{
    public iopt_pages pages = null!;
    public readonly interval_tree_double_span_iter span = new();
    public readonly pfn_batch batch = new();
    public ulong batch_start_index;
    public ulong batch_end_index;
    public ulong last_index;
    public readonly pfn_reader_user user = new();
}
