// SPDX-License-Identifier: GPL-2.0-only
// STUB for port part 2: the fixed C# signatures of these pages.c functions.
// The helper porting part 2 deletes this file and writes the real functions.
using Iommufd.Model.Kernel;

namespace Iommufd.Model.Port;

public sealed partial class Pages
{
    internal void pfn_reader_user_init(pfn_reader_user user, iopt_pages pages) => throw new NotImplementedException();
    internal void pfn_reader_user_destroy(pfn_reader_user user, iopt_pages pages) => throw new NotImplementedException();
    internal int pfn_reader_user_pin(pfn_reader_user user, iopt_pages pages, ulong start_index, ulong last_index) => throw new NotImplementedException();
    internal int incr_user_locked_vm(iopt_pages pages, ulong npages) => throw new NotImplementedException();
    internal void decr_user_locked_vm(iopt_pages pages, ulong npages) => throw new NotImplementedException();
    internal int update_mm_locked_vm(iopt_pages pages, ulong npages, bool inc, pfn_reader_user? user) => throw new NotImplementedException();
    internal int do_update_pinned(iopt_pages pages, ulong npages, bool inc, pfn_reader_user? user) => throw new NotImplementedException();
    internal void update_unpinned(iopt_pages pages) => throw new NotImplementedException();
    internal int pfn_reader_user_update_pinned(pfn_reader_user user, iopt_pages pages) => throw new NotImplementedException();
    internal int pfn_reader_update_pinned(pfn_reader pfns) => throw new NotImplementedException();
    internal void pfn_reader_unpin(pfn_reader pfns) => throw new NotImplementedException();
    internal int pfn_reader_fill_span(pfn_reader pfns) => throw new NotImplementedException();
    internal bool pfn_reader_done(pfn_reader pfns) => throw new NotImplementedException();
    internal int pfn_reader_next(pfn_reader pfns) => throw new NotImplementedException();
    internal int pfn_reader_init(pfn_reader pfns, iopt_pages pages, ulong start_index, ulong last_index) => throw new NotImplementedException();
    internal void pfn_reader_release_pins(pfn_reader pfns) => throw new NotImplementedException();
    internal void pfn_reader_destroy(pfn_reader pfns) => throw new NotImplementedException();
    internal int pfn_reader_first(pfn_reader pfns, iopt_pages pages, ulong start_index, ulong last_index) => throw new NotImplementedException();
    public ErrPtr<iopt_pages> iopt_alloc_pages(ulong uptr, ulong length, bool writable) => throw new NotImplementedException();
    public void iopt_release_pages(kref kref) => throw new NotImplementedException();
}
