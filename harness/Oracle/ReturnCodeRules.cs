// SPDX-License-Identifier: GPL-2.0-only
using System.Numerics;
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Model.Callers;
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;
using Iommufd.Model.Patches;
using Iommufd.Model.Selftest;

namespace Iommufd.Harness.Oracle;

/// <summary>
/// Invariant i: which return codes the v6.2 specification allows for an operation in the state it
/// ran in. Every error needs a cause present before the step: bad input (length 0, wrap-around,
/// misalignment against the io_pagetable's IOVA alignment, overlap, a range not covered by areas,
/// a write to read-only memory), a limit (RLIMIT_MEMLOCK under the pages' account mode), user
/// memory that cannot be pinned or copied (a hole, a read-only mapping, an exited process), or a
/// fault injected during the step. A cause that always fails (bad input) makes success a violation
/// too. The rules follow model/Callers/NOTES.md and pages.c; they are a little generous where the
/// order of the kernel's checks decides between two errors that both have causes.
/// </summary>
public sealed class ReturnCodeRules(FakeKernel kernel, Func<int, PagesSpec?> specOf)
{
    public const int EPERM = 1, ENOENT = 2, ENOMEM = 12, EFAULT = 14, EBUSY = 16, EEXIST = 17, EINVAL = 22,
        ENOSPC = 28, EOVERFLOW = 75, EADDRINUSE = 98;
    private const ulong PageSize = KernelApi.PAGE_SIZE;

    /// <summary>What may happen: the errors with a cause, and whether some cause always fails.</summary>
    private sealed class Allowed
    {
        public readonly HashSet<int> Errors = [];
        public readonly List<string> Causes = [];
        /// <summary>Pages this operation may newly account, per accounting target (user or mm):
        /// one operation can pin several areas, and the limit applies to their sum.</summary>
        public readonly Dictionary<object, ulong> Planned = new(ReferenceEqualityComparer.Instance);
        public bool MustFail;

        public void Cause(bool present, string why, bool mustFail, params int[] errnos)
        {
            if (!present)
                return;
            Causes.Add(why);
            MustFail |= mustFail;
            foreach (int e in errnos)
                Errors.Add(e);
        }
    }

    /// <summary>The violation message, or null if <paramref name="result"/> is allowed.</summary>
    public string? Check(Op op, StepResult result, Snapshot before, bool faulted)
    {
        if (result.Skipped)
            return null;
        var allowed = new Allowed();
        allowed.Cause(faulted, "a fault was injected", false, ENOMEM, EFAULT, ENOENT, EINVAL);
        switch (op)
        {
            case UserWrite o: UserWrite(o, before, allowed); break;
            case CreatePages o: CreatePages(o, before, allowed); break;
            case MapArea o: MapArea(o, before, allowed); break;
            case CopyArea o: CopyArea(o, before, allowed); break;
            case UnmapArea o:
                if (Picking.Pick(before.Areas, o.Area) is { } ua)
                    Unmap(before.View(ua.Iopt), ua.Iova, ua.Length, allowed);
                break;
            case UnmapRange o:
                if (Picking.Pick(before.Iopts, o.Iopt) is { } ui)
                    Unmap(before.View(ui), o.Iova, o.Length, allowed);
                break;
            case AttachDomain o: Attach(o, before, allowed); break;
            case SetLargePages o: LargePages(o, before, allowed); break;
            case SplitArea o: Split(o, before, allowed); break;
            case CreateAccess o: CreateAccess(o, before, allowed); break;
            case AccessPin o: Pin(o, before, allowed); break;
            case AccessRw o: Rw(o, before, allowed); break;
            default: break; // everything else always succeeds
        }
        int rc = result.Rc;
        string causes = allowed.Causes.Count == 0 ? "no cause" : string.Join("; ", allowed.Causes);
        if (rc == 0 && allowed.MustFail)
            return $"{OpName(op)} succeeded although it must fail ({causes})";
        if (rc > 0)
            return $"{OpName(op)} returned positive {rc}";
        if (rc < 0 && !allowed.Errors.Contains(-rc))
            return $"{OpName(op)} returned {Errno(rc)} without a cause for it (causes present: {causes}; allowed: " +
                   $"{(allowed.Errors.Count == 0 ? "only 0" : string.Join(", ", allowed.Errors.Order().Select(e => Errno(-e))))})";
        return null;
    }

    public static string OpName(Op op) => op.GetType().Name;

    public static string Errno(int rc) => rc switch
    {
        0 => "0",
        -EPERM => "-EPERM", -ENOENT => "-ENOENT", -ENOMEM => "-ENOMEM", -EFAULT => "-EFAULT", -EBUSY => "-EBUSY",
        -EEXIST => "-EEXIST", -EINVAL => "-EINVAL", -ENOSPC => "-ENOSPC", -EOVERFLOW => "-EOVERFLOW",
        -EADDRINUSE => "-EADDRINUSE",
        _ => rc.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    // ---- per operation -----------------------------------------------------------------------

    private static void UserWrite(UserWrite o, Snapshot before, Allowed allowed)
    {
        var region = Picking.Pick(before.Regions, o.Region);
        if (region is null || region.Length == 0)
            return;
        ulong off = o.Offset % region.Length;
        ulong len = Math.Min(Math.Max(1, o.Length), region.Length - off);
        var space = region.Owner.Task.mm?.Space;
        bool bad = false;
        for (ulong va = (region.BaseVa + off) & ~(PageSize - 1); va < region.BaseVa + off + len; va += PageSize)
        {
            if (space is null || !space.TryTranslate(va, out _, out bool writable) || !writable)
            {
                bad = true;
                break;
            }
        }
        allowed.Cause(bad, "the range has a hole or read-only page", true, EFAULT);
    }

    private void CreatePages(CreatePages o, Snapshot before, Allowed allowed)
    {
        var region = Picking.Pick(before.Regions, o.Region);
        if (region is null)
            return;
        var (uptr, length) = Picking.PagesRange(region, o.Offset, o.Length, o.RawUptr);
        allowed.Cause(length == 0 || length > ulong.MaxValue - PageSize, $"length {length:x} is 0 or too large", true, EINVAL);
        // With finding 0002's patch the bound also leaves room for the pointer's offset in its page.
        allowed.Cause(kernel.Patches.Contains(ModelPatches.AllocPagesNpagesOverflow) &&
                      length > ulong.MaxValue - PageSize - uptr % PageSize,
            $"length {length:x} from {uptr:x} would wrap the page count", true, EINVAL);
    }

    private void MapArea(MapArea o, Snapshot before, Allowed allowed)
    {
        var iopt = Picking.Pick(before.Iopts, o.Iopt);
        var pages = Picking.Pick(before.PagesWithReference, o.Pages);
        if (iopt is null || pages is null || specOf(pages.Id) is not { } spec)
            return;
        var (startByte, length) = Picking.MapSlice(pages, o.StartByte, o.Length);
        MapLike(before.View(iopt), spec, startByte, length, o.Iova, o.Write, allowed);
    }

    private void CopyArea(CopyArea o, Snapshot before, Allowed allowed)
    {
        var src = Picking.Pick(before.Areas, o.Area);
        var dst = Picking.Pick(before.Iopts, o.DstIopt);
        if (src is null || dst is null || specOf(src.Pages.Id) is not { } spec)
            return;
        var (pieces, covered) = Snapshot.Walk(before.View(src.Iopt), src.Iova, src.LastIova);
        allowed.Cause(!covered, "the source range is not covered by areas", true, ENOENT);
        ulong startByte = covered ? pieces[0].Area.ByteOf(src.Iova) : src.StartByte;
        MapLike(before.View(dst), spec, startByte, src.Length, o.Iova, src.Write, allowed);
    }

    private void MapLike(IoptView view, PagesSpec spec, ulong startByte, ulong length, ulong? fixedIova, bool write, Allowed allowed)
    {
        ulong a = view.Alignment;
        allowed.Cause(length == 0, "length 0", true, EINVAL, EOVERFLOW);
        allowed.Cause(length != 0 && (length & (a - 1)) != 0, $"length {length:x} not aligned to {a:x}", true, EINVAL);
        allowed.Cause(((startByte % PageSize) & (a - 1)) != 0, $"page offset of {startByte:x} not aligned to {a:x}", true, EINVAL);
        if (fixedIova is ulong iova)
        {
            allowed.Cause((iova & (a - 1)) != 0, $"iova {iova:x} not aligned to {a:x}", true, EINVAL);
            bool wraps = length != 0 && iova > ulong.MaxValue - (length - 1);
            allowed.Cause(wraps, "the IOVA range wraps", true, EOVERFLOW);
            ulong last = wraps ? ulong.MaxValue : iova + Math.Max(length, 1) - 1;
            allowed.Cause(view.Areas.Any(x => x.Iova <= last && x.LastIova >= iova), $"[{iova:x}, {last:x}] overlaps an area", true, EEXIST);
            allowed.Cause(!wraps && length != 0 && view.IsReserved(iova, last),
                $"[{iova:x}, {last:x}] overlaps IOVA a domain reserved (outside its aperture)", true, EINVAL);
        }
        else
        {
            allowed.Cause(length >= ulong.MaxValue / 2, "length too large to allocate", true, EOVERFLOW);
            ulong uptr = spec.Handle.Uptr - (spec.Handle.Uptr % PageSize) + startByte;
            ulong align = length == 0 || length >= ulong.MaxValue / 2 ? 1 : RoundUpPow2(length);
            if (uptr != 0)
                align = Math.Min(align, 1UL << BitOperations.TrailingZeroCount(uptr));
            allowed.Cause(align < a, $"the allocation alignment {align:x} is below {a:x}", true, EINVAL);
            if (length != 0 && length < ulong.MaxValue / 2)
            {
                // iopt_alloc_iova searches [PAGE_SIZE, ULONG_MAX - PAGE_SIZE] outside every area and
                // every reserved range (this model has no allowed ranges) and places the range at the hole's start
                // rounded up to the alignment, with the page offset set: at most align + PAGE_SIZE - 1
                // past the start. A hole shorter than length never fits; one with that much slack
                // always does; in between it depends on where the hole starts.
                ulong largest = LargestFreeIovaHole(view);
                allowed.Cause(largest < length, $"no free IOVA hole of {length:x} bytes (largest {largest:x})", true, ENOSPC);
                allowed.Cause(largest - (length - 1) <= align + PageSize - 1 && largest >= length,
                    $"the largest free IOVA hole ({largest:x}) may not fit {length:x} bytes aligned to {align:x}", false, ENOSPC);
            }
        }
        allowed.Cause(write && !spec.Writable, "a writable map of read-only pages", true, EPERM);
        bool sliceWraps = length != 0 && startByte > ulong.MaxValue - (length - 1);
        allowed.Cause(sliceWraps || (length != 0 && (startByte + length - 1) / PageSize >= spec.NPages),
            "the slice runs past the pages", true, EOVERFLOW);
        if (view.Domains > 0 && length != 0 && !sliceWraps)
        {
            PinCauses(spec, startByte / PageSize, Math.Min((startByte + length - 1) / PageSize, spec.NPages - 1), allowed);
        }
    }

    /// <summary>The size of the largest IOVA range in [PAGE_SIZE, ULONG_MAX - PAGE_SIZE] that no area
    /// uses and no domain reserved.</summary>
    private static ulong LargestFreeIovaHole(IoptView view)
    {
        const ulong first = PageSize, last = ulong.MaxValue - PageSize;
        ulong largest = 0, next = first;
        bool done = false;
        var used = view.Areas.Select(a => (Start: a.Iova, Last: a.LastIova)).Concat(view.Reserved);
        foreach (var (start, end) in used.OrderBy(x => x.Start))
        {
            if (end < next)
                continue;
            if (start > last)
                break;
            if (start > next)
                largest = Math.Max(largest, start - next);
            if (end >= last)
            {
                done = true;
                break;
            }
            next = end + 1;
        }
        if (!done)
            largest = Math.Max(largest, last - next + 1);
        return largest;
    }

    private static void Unmap(IoptView view, ulong iova, ulong length, Allowed allowed)
    {
        allowed.Cause(length == 0, "length 0", true, EINVAL);
        if (length == 0)
            return;
        bool wraps = iova > ulong.MaxValue - (length - 1);
        allowed.Cause(wraps, "the range wraps", true, EOVERFLOW);
        if (wraps)
            return;
        ulong last = iova + length - 1;
        var hit = view.Areas.Where(a => a.Iova <= last && a.LastIova >= iova).ToList();
        allowed.Cause(hit.Count == 0, "no area in the range", true, ENOENT);
        allowed.Cause(hit.Any(a => a.Iova < iova || a.LastIova > last), "an area crosses the range's edge", true, ENOENT);
    }

    private void Attach(AttachDomain o, Snapshot before, Allowed allowed)
    {
        var iopt = Picking.Pick(before.Iopts, o.Iopt);
        if (iopt is null)
            return;
        var view = before.View(iopt);
        ulong pg = o.Kind == DomainKind.Mock ? MockDomain.MOCK_IO_PAGE_SIZE : PageSize;
        ulong next = Math.Max(pg, view.Alignment);
        allowed.Cause(next != view.Alignment && view.Areas.Any(a => !Aligned(a, next)),
            $"an area is not aligned to the domain's {next:x}", true, EADDRINUSE);
        foreach (var a in view.Areas)
        {
            if (specOf(a.Pages) is { } spec)
                PinCauses(spec, a.FirstIndex, a.LastIndex, allowed);
            allowed.Cause(IoptView.ReservedBy(o.Kind).Any(r => r.Start <= a.LastIova && r.Last >= a.Iova),
                $"area at {a.Iova:x} lies outside the domain's aperture", true, EADDRINUSE);
        }
    }

    private static void LargePages(SetLargePages o, Snapshot before, Allowed allowed)
    {
        var iopt = Picking.Pick(before.Iopts, o.Iopt);
        if (iopt is null || !o.Disable)
            return;
        var view = before.View(iopt);
        if (view.DisableLargePages)
            return;
        allowed.Cause(view.Domains > 0 && view.Areas.Count > 0, "domains and areas exist", true, EINVAL);
        allowed.Cause(view.Alignment < PageSize && view.Areas.Any(a => !Aligned(a, PageSize)),
            "an area is not page aligned", true, EADDRINUSE);
    }

    private static void Split(SplitArea o, Snapshot before, Allowed allowed)
    {
        var area = Picking.Pick(before.Areas, o.Area);
        if (area is null)
            return;
        ulong off = area.Length <= 1 ? 0 : o.Offset % area.Length;
        if (off == 0)
            return;
        var view = before.View(area.Iopt);
        ulong newStart = area.Iova + off;
        var actual = view.Areas.FirstOrDefault(a => a.Iova <= newStart - 1 && a.LastIova >= newStart - 1);
        if (actual is null || actual.LastIova == newStart - 1 || actual.Iova == newStart - 1)
            return; // nothing to cut: iopt_area_split succeeds without a change at either end
        ulong a = view.Alignment;
        allowed.Cause((newStart & (a - 1)) != 0 || ((actual.ByteOf(newStart)) & (a - 1)) != 0,
            $"the cut at {newStart:x} is not aligned to {a:x}", true, EINVAL);
        allowed.Cause(before.Pins.Any(p => p.Access.Iopt == area.Iopt && p.Length != 0 &&
                                           p.Iova <= actual.LastIova && p.Iova + p.Length - 1 >= actual.Iova),
            "the area has accesses", true, EINVAL);
        allowed.Cause(view.Domains > 0 && !view.DisableLargePages, "the area is in a domain with large pages allowed", true, EINVAL);
    }

    private static void CreateAccess(CreateAccess o, Snapshot before, Allowed allowed)
    {
        var iopt = Picking.Pick(before.Iopts, o.Iopt);
        if (iopt is null)
            return;
        var view = before.View(iopt);
        allowed.Cause(view.Alignment < PageSize && view.Areas.Any(a => !Aligned(a, PageSize)),
            "an area is not page aligned", true, EADDRINUSE);
    }

    private void Pin(AccessPin o, Snapshot before, Allowed allowed)
    {
        if (Picking.ResolveAccess(before.Accesses, before.Areas, o.Access, o.Area, o.Offset, o.Length, o.Raw) is not { } target)
            return;
        var (access, _, iova, length) = target;
        if (SelftestRefuses(length, allowed))
            return;
        if (!RangeChecks(before.View(access.Iopt), iova, length, o.Write, allowed, out var pieces))
            return;
        // iopt_area_contig_is_aligned: page-aligned start, and every area but the last ends on a page end.
        for (int i = 0; i < pieces.Count; i++)
        {
            var (a, first, last) = pieces[i];
            bool misaligned = a.ByteOf(first) % PageSize != 0 ||
                              (i < pieces.Count - 1 && a.ByteOf(a.LastIova) % PageSize != PageSize - 1);
            allowed.Cause(misaligned, $"the pin is not page aligned in {a}", true, EINVAL);
            if (specOf(a.Pages) is { } spec)
                PinCauses(spec, a.IndexOf(first), a.IndexOf(last), allowed);
        }
    }

    private void Rw(AccessRw o, Snapshot before, Allowed allowed)
    {
        if (Picking.ResolveAccess(before.Accesses, before.Areas, o.Access, o.Area, o.Offset, o.Length, raw: false) is not { Length: > 0 } target)
            return;
        var (access, _, iova, length) = target;
        if (SelftestRefuses(length, allowed))
            return;
        if (!RangeChecks(before.View(access.Iopt), iova, length, o.Write, allowed, out var pieces))
            return;
        foreach (var (a, first, last) in pieces)
        {
            if (specOf(a.Pages) is not { } spec)
                continue;
            ulong fi = a.IndexOf(first), li = a.IndexOf(last);
            // The fast paths copy through the user mapping; the slow path pins like a domain fill.
            allowed.Cause(!UserRangeUsable(spec, fi, li, o.Write), "the user memory has a hole, a read-only page or is gone", false, EFAULT);
            PinCauses(spec, fi, li, allowed);
        }
    }

    /// <summary>The selftest's access refuses pin and rw over 16 MiB with -ENOMEM before anything else.</summary>
    private static bool SelftestRefuses(ulong length, Allowed allowed)
    {
        bool refused = length > MockAccess.SELFTEST_MAX_LENGTH;
        allowed.Cause(refused, "the selftest refuses more than 16 MiB", true, ENOMEM);
        return refused;
    }

    /// <summary>The checks shared by pin and rw: length, wrap, coverage, write permission.</summary>
    private static bool RangeChecks(IoptView view, ulong iova, ulong length, bool write, Allowed allowed,
        out List<(AreaView Area, ulong First, ulong Last)> pieces)
    {
        pieces = [];
        allowed.Cause(length == 0, "length 0", true, EINVAL);
        if (length == 0)
            return false;
        bool wraps = iova > ulong.MaxValue - (length - 1);
        allowed.Cause(wraps, "the range wraps", true, EOVERFLOW);
        if (wraps)
            return false;
        (pieces, bool covered) = Snapshot.Walk(view, iova, iova + length - 1);
        allowed.Cause(!covered, $"[{iova:x}, +{length:x}) is not covered by areas", true, ENOENT, EINVAL, EPERM);
        allowed.Cause(write && pieces.Any(p => !p.Area.Writable), "a write through a read-only area", true, EPERM);
        return true;
    }

    /// <summary>Why pinning [first, last] of <paramref name="spec"/> could fail.</summary>
    private void PinCauses(PagesSpec spec, ulong first, ulong last, Allowed allowed)
    {
        if (spec.NPages == 0 || first >= spec.NPages || last < first)
            return;
        last = Math.Min(last, spec.NPages - 1);
        // Work by ranges: areas can span 2^51 pages (bad input at the edges) and must cost nothing.
        ulong unheld = last - first + 1 - HeldWithin(spec.Held, first, last);
        bool unusable;
        if (unheld > MappedPages(spec))
            unusable = true; // more pages to pin than the mm maps: some page cannot be pinned
        else
        {
            unusable = false;
            foreach (var (a, b) in Gaps(spec.Held, first, last))
                if (!UserRangeUsable(spec, a, b, spec.Writable))
                {
                    unusable = true;
                    break;
                }
        }
        if (unheld == 0)
            return;
        bool gone = spec.Mm.mm_users == 0;
        allowed.Cause(unusable || gone, $"pages#{spec.Id} has user memory that cannot be pinned", false, EFAULT);
        allowed.Cause(gone && spec.Mode == IoptPagesAccount.IOPT_PAGES_ACCOUNT_MM,
            $"pages#{spec.Id} accounts to an exited mm", false, EINVAL);
        if (spec.Mode == IoptPagesAccount.IOPT_PAGES_ACCOUNT_NONE)
            return;
        ulong limit = spec.Task.RlimitMemlock >> KernelApi.PAGE_SHIFT;
        object target = spec.Mode == IoptPagesAccount.IOPT_PAGES_ACCOUNT_USER ? spec.User : spec.Mm;
        ulong current = spec.Mode == IoptPagesAccount.IOPT_PAGES_ACCOUNT_USER ? (ulong)spec.User.locked_vm.Value : spec.Mm.locked_vm;
        ulong planned = allowed.Planned[target] = allowed.Planned.GetValueOrDefault(target) + unheld;
        allowed.Cause(current + planned > limit,
            $"pages#{spec.Id}: {current} + {planned} pages exceed RLIMIT_MEMLOCK ({limit} pages)", false, ENOMEM);
    }

    /// <summary>How many points of [first, last] the ranges cover.</summary>
    private static ulong HeldWithin(RangeList held, ulong first, ulong last)
    {
        ulong n = 0;
        foreach (var r in held.Ranges)
        {
            ulong a = Math.Max(r.First, first), b = Math.Min(r.Last, last);
            if (a <= b)
                n += b - a + 1;
        }
        return n;
    }

    /// <summary>The parts of [first, last] the ranges do not cover.</summary>
    private static IEnumerable<(ulong First, ulong Last)> Gaps(RangeList held, ulong first, ulong last)
    {
        ulong next = first;
        foreach (var r in held.Ranges)
        {
            if (r.Last < next)
                continue;
            if (r.First > last)
                break;
            if (r.First > next)
                yield return (next, r.First - 1);
            if (r.Last >= last)
                yield break;
            next = r.Last + 1;
        }
        yield return (next, last);
    }

    /// <summary>The number of pages the pages' mm maps at all (an upper bound on what can be pinned).</summary>
    private static ulong MappedPages(PagesSpec spec) =>
        spec.Mm.mm_users == 0 ? 0 : spec.Mm.Space.Vmas.Aggregate(0UL, (n, v) => n + v.NPages);

    /// <summary>Every page of [first, last] is mapped (writable if <paramref name="write"/>) in a live mm.</summary>
    private static bool UserRangeUsable(PagesSpec spec, ulong first, ulong last, bool write)
    {
        if (spec.Mm.mm_users == 0)
            return false;
        for (ulong i = first; i <= last; i++)
            if (!spec.Mm.Space.TryTranslate(spec.VaOf(i), out _, out bool writable) || (write && !writable))
                return false;
        return true;
    }

    private static bool Aligned(AreaView a, ulong alignment) =>
        ((a.Iova | a.Length | a.PageOffset) & (alignment - 1)) == 0;

    private static ulong RoundUpPow2(ulong n) => n <= 1 ? 1 : 1UL << (64 - BitOperations.LeadingZeroCount(n - 1));
}
