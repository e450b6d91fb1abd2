// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;

namespace Iommufd.Harness.Oracle;

/// <summary>
/// The specification-level oracle (issue 3, item 3). It keeps its own model of what must be true
/// (which page indexes of which iopt_pages are held and at which frame, what every domain must
/// map, what user memory contains, what the accounting must be) from the operations, their
/// results, the callers' area layout and the user memory, never from the port's internal state,
/// and compares the actual state with it after every step and at the events where that is
/// stronger (every WARN/lockdep/misuse report, every unpin that drops a frame's last pin).
/// <list type="bullet">
/// <item>a: with pages-&gt;mutex free, npinned == last_npinned.</item>
/// <item>b: npinned == number of held indexes (areas of an io_pagetable with a domain, access
/// pins); each frame's pin count == the held indexes that map it; no pin held by nobody.</item>
/// <item>c: at the unpin that drops a frame's last pin, no domain maps it (domain ledgers); after
/// the step, no access pin that lived through it held that frame.</item>
/// <item>d: each attached domain maps exactly its areas' IOVA, to the frame pinned for each index
/// plus the page offset, with the area's prot; detached domains map nothing; every unmap pairs
/// with earlier maps and no map lands on a live one (event logs).</item>
/// <item>e: pinned_pfns holds exactly the access-held indexes, each with its pinned frame.</item>
/// <item>f: user/mm locked_vm and mm pinned_vm equal the held counts of the pages accounted to
/// them; each pages' account mode is the one its creation implies.</item>
/// <item>g: pages returned to an access are the pinned frames of the user memory; rw reads the
/// shadow's bytes and writes exactly its data; a write through read-only pages gives -EPERM.</item>
/// <item>h: no WARN, lockdep or fake-misuse report (found at the event).</item>
/// <item>i: the return code is allowed (<see cref="ReturnCodeRules"/>).</item>
/// <item>j: after teardown nothing is pinned, allocated, stored, mapped, accounted or referenced.</item>
/// </list>
/// <para>Construct one per run: <c>Runner.Run(scenario, () =&gt; new SpecOracle())</c>. Violations
/// found at an event in a step that then crashed are in <see cref="Reported"/>.</para>
/// </summary>
public sealed class SpecOracle : IOracle
{
    private const ulong PageSize = KernelApi.PAGE_SIZE;
    private const int MaxPerInvariant = 4;

    private IObservation world = null!;
    private FakeKernel kernel = null!;
    private ReturnCodeRules rules = null!;
    private readonly Dictionary<int, PagesSpec> specs = [];
    private readonly List<PagesSpec> specList = [];
    private readonly Dictionary<iommu_domain, DomainLedger> ledgers = new(ReferenceEqualityComparer.Instance);
    private readonly ShadowMemory shadow = new();
    private readonly List<Violation> pending = [];
    private readonly List<Violation> reported = [];
    private readonly List<string> pairing = [];
    private readonly List<ulong> zeroUnpins = [];
    private Snapshot before = null!;
    private int step;
    /// <summary>Bumped whenever a held index gains or loses its frame.</summary>
    private long framesVersion;
    private readonly Dictionary<iommu_domain, (long Events, IReadOnlyList<AreaView> Areas, long Frames)> checkedDomains = new(ReferenceEqualityComparer.Instance);

    /// <summary>Every violation found so far, including those found at events of a step that then
    /// crashed (the runner reports the crash; the cause is here).</summary>
    public IReadOnlyList<Violation> Reported => [.. reported, .. pending];

    public void Attach(IObservation w)
    {
        world = w;
        kernel = w.Kernel;
        rules = new ReturnCodeRules(kernel, p => specs.GetValueOrDefault(p));
        kernel.Checks.Fired += OnCheckFired;
        kernel.Phys.Unpinned += OnUnpinned;
        kernel.Phys.Migrated += e => shadow.Migrate(e.OldPfn, e.NewPfn);
        before = Snapshot.Take(world, ledgers.Values);
    }

    // ---- events --------------------------------------------------------------------------------

    private void OnCheckFired(CheckViolation v) =>
        pending.Add(new Violation("h", step, $"{v.Kind} in {v.Function}: {v.Message}"));

    /// <summary>Invariant c at the event: a frame whose last pin goes must be mapped in no domain.
    /// (Whether an access still holds it is settled after the step, when it is known which pins
    /// the step legitimately released.)</summary>
    private void OnUnpinned(PinEvent e)
    {
        if (e.PinCount != 0)
            return;
        zeroUnpins.Add(e.Pfn);
        RefreshLedgers();
        foreach (var ledger in ledgers.Values)
        {
            if (ledger.References(e.Pfn) == 0)
                continue;
            pending.Add(new Violation("c", step,
                $"pfn {e.Pfn:x} lost its last pin while {ledger.Domain} still maps it at iova {ledger.IovaOf(e.Pfn):x}",
                HolderOf(e.Pfn)));
        }
    }

    private void RefreshLedgers()
    {
        foreach (var d in world.Domains)
            Ledger(d.Domain);
        foreach (var iopt in world.Iopts)
            foreach (var d in world.StoredDomains(iopt.Id))
                Ledger(d);
        foreach (var ledger in ledgers.Values)
            pairing.AddRange(ledger.Consume());
    }

    private DomainLedger Ledger(iommu_domain d)
    {
        if (!ledgers.TryGetValue(d, out var l))
            ledgers[d] = l = new DomainLedger(d);
        return l;
    }

    // ---- after a step --------------------------------------------------------------------------

    public IReadOnlyList<Violation> AfterStep(int stepIndex, Op op, StepResult result)
    {
        step = stepIndex;
        var found = new List<Violation>(pending);
        pending.Clear();
        bool faulted = world.Faults.Injected.Count > before.Injected;

        // i is judged against the state the operation ran in, before the model moves on.
        string? rc = rules.Check(op, result, before, faulted);

        bool newPages = RegisterPages(op, found);
        RefreshLedgers();
        var after = Snapshot.Take(world, ledgers.Values);
        bool changed = newPages || !after.SameStamp(before);
        if (changed)
            UpdateHolds(after, found);

        CheckPersistingAccessPins(after, found);
        CheckNpinnedSettled(found);
        if (changed)
            CheckPins(found);
        CheckPairing(found);
        if (changed)
            CheckDomains(after, found);
        if (changed)
            CheckXarrays(found);
        if (changed)
            CheckAccounting(found);
        CheckAccessData(op, result, after, found);
        if (rc is not null)
            found.Add(new Violation("i", step, rc, $"{op}\n-> {result}"));

        before = after;
        zeroUnpins.Clear();
        step = stepIndex + 1;
        reported.AddRange(found);
        return found;
    }

    /// <summary>Creates the specification of a new iopt_pages from the operation that made it.</summary>
    private bool RegisterPages(Op op, List<Violation> found)
    {
        bool any = false;
        foreach (var h in world.PagesList)
        {
            if (specs.ContainsKey(h.Id))
                continue;
            var state = world.Pages(h.Id);
            var creator = h.Region.Owner.Task;
            byte mode = creator.CapIpcLock ? IoptPagesAccount.IOPT_PAGES_ACCOUNT_NONE : IoptPagesAccount.IOPT_PAGES_ACCOUNT_USER;
            if (op is CreatePages { AccountMode: IoptPagesAccount.IOPT_PAGES_ACCOUNT_MM } && mode == IoptPagesAccount.IOPT_PAGES_ACCOUNT_USER)
                mode = IoptPagesAccount.IOPT_PAGES_ACCOUNT_MM;
            bool writable = op is CreatePages c ? c.Writable : state.Writable;
            var spec = new PagesSpec(world, h, creator, mode, writable);
            specs[h.Id] = spec;
            specList.Add(spec);
            any = true;
            if (state.AccountMode != mode)
                found.Add(new Violation("f", step, $"pages#{h.Id} has account mode {state.AccountMode}, expected {mode}", spec.ToString()));
            if (state.NPages != spec.NPages || state.Uptr != spec.Uptr || state.Writable != spec.Writable)
                found.Add(new Violation("b", step,
                    $"pages#{h.Id} covers {state.NPages} pages at {state.Uptr:x} (writable {state.Writable}), " +
                    $"expected {spec.NPages} at {spec.Uptr:x} (writable {spec.Writable})"));
        }
        return any;
    }

    private static bool IsLive(PagesSpec s) => s.State.Live;

    /// <summary>Recomputes which indexes are held (areas of io_pagetables with a domain, access
    /// pins) and records the frame of every newly held index as the user memory maps it now.</summary>
    private void UpdateHolds(Snapshot after, List<Violation> found)
    {
        var held = new Dictionary<PagesSpec, CoverageMap>();
        var access = new Dictionary<PagesSpec, CoverageMap>();
        CoverageMap Map(Dictionary<PagesSpec, CoverageMap> d, PagesSpec s) =>
            d.TryGetValue(s, out var m) ? m : d[s] = new CoverageMap();

        foreach (var iopt in after.Iopts)
        {
            var view = after.View(iopt);
            if (view.Domains == 0)
                continue;
            foreach (var a in view.Areas)
                if (specs.TryGetValue(a.Pages, out var s))
                    Map(held, s).Add(new Range(a.FirstIndex, a.LastIndex), 1);
        }
        foreach (var pin in after.Pins)
        {
            if (pin.Length == 0)
                continue;
            var (pieces, _) = Snapshot.Walk(after.View(pin.Access.Iopt), pin.Iova, pin.Iova + pin.Length - 1);
            foreach (var (a, first, last) in pieces)
            {
                if (!specs.TryGetValue(a.Pages, out var s))
                    continue;
                var r = new Range(a.IndexOf(first), a.IndexOf(last));
                Map(held, s).Add(r, 1);
                Map(access, s).Add(r, 1);
            }
        }
        foreach (var s in specList)
        {
            s.Held = held.TryGetValue(s, out var h) ? RangeList.From(h) : RangeList.Empty;
            s.AccessHeld = access.TryGetValue(s, out var ac) ? RangeList.From(ac) : RangeList.Empty;
            foreach (ulong index in s.Frames.Keys.Where(i => !s.Held.Contains(i)).ToList())
            {
                s.Frames.Remove(index);
                framesVersion++;
            }
            int missing = 0;
            foreach (ulong index in s.Held.Points())
            {
                if (s.Frames.ContainsKey(index))
                    continue;
                if (s.Mm.Space.Translate(s.VaOf(index)) is ulong pfn)
                {
                    s.Frames[index] = pfn;
                    framesVersion++;
                }
                else if (missing++ < MaxPerInvariant)
                    found.Add(new Violation("b", step,
                        $"pages#{s.Id} index {index} is held but its user address {s.VaOf(index):x} maps no frame", s.ToString()));
            }
        }
    }

    /// <summary>c, settled after the step: no frame of an access pin that lived through the whole
    /// step may have lost its last pin during it.</summary>
    private void CheckPersistingAccessPins(Snapshot after, List<Violation> found)
    {
        if (zeroUnpins.Count == 0)
            return;
        var persisting = before.Pins.Intersect(after.Pins, ReferenceEqualityComparer.Instance).Cast<PinHandle>().ToList();
        int n = 0;
        foreach (ulong pfn in zeroUnpins.Distinct())
        {
            var pin = persisting.FirstOrDefault(p => p.Pfns.Contains(pfn));
            if (pin is null || n++ >= MaxPerInvariant)
                continue;
            found.Add(new Violation("c", step,
                $"pfn {pfn:x} lost its last pin while access pin {pin.Id} ([{pin.Iova:x}, +{pin.Length:x}]) still holds it",
                HolderOf(pfn)));
        }
    }

    /// <summary>a: with pages->mutex free, every pin change has been accounted.</summary>
    private void CheckNpinnedSettled(List<Violation> found)
    {
        foreach (var s in specList)
        {
            var state = s.State;
            if (!state.Live || state.MutexHeld)
                continue;
            if (state.NPinned != state.LastNPinned)
                found.Add(new Violation("a", step,
                    $"pages#{s.Id}: npinned {state.NPinned} != last_npinned {state.LastNPinned} with the mutex free", s.ToString()));
        }
    }

    /// <summary>b: npinned is the number of held indexes; every frame carries one pin per held
    /// index that maps it; no other pins exist.</summary>
    private void CheckPins(List<Violation> found)
    {
        var expected = new Dictionary<ulong, int>();
        long total = 0;
        foreach (var s in specList)
        {
            var state = s.State;
            if (!state.Live)
            {
                if (s.Held.Count != 0)
                    found.Add(new Violation("b", step, $"pages#{s.Id} was freed while indexes {s.Held} are held", s.ToString()));
                continue;
            }
            if (state.NPinned != s.Held.Count)
                found.Add(new Violation("b", step,
                    $"pages#{s.Id}: npinned {state.NPinned}, but {s.Held.Count} indexes are held ({s.Held})", s.ToString()));
            foreach (ulong pfn in s.Frames.Values)
            {
                expected[pfn] = expected.GetValueOrDefault(pfn) + 1;
                total++;
            }
        }
        int n = 0;
        var phys = kernel.Phys;
        foreach (var (pfn, count) in expected)
        {
            int actual = phys.PinCount(pfn);
            if (actual != count && n++ < MaxPerInvariant)
                found.Add(new Violation("b", step, $"pfn {pfn:x} has {actual} pins, expected {count}", HolderOf(pfn)));
        }
        if (phys.TotalPins != total)
        {
            foreach (var p in phys.PinnedFrames().Where(p => !expected.ContainsKey(p.Pfn)).Take(MaxPerInvariant))
                found.Add(new Violation("b", step, $"pfn {p.Pfn:x} has {p.PinCount} pins held by nobody", HolderOf(p.Pfn)));
            if (n == 0 && !found.Any(v => v.Invariant == "b"))
                found.Add(new Violation("b", step, $"{phys.TotalPins} pins exist, expected {total}"));
        }
    }

    private void CheckPairing(List<Violation> found)
    {
        foreach (string p in pairing.Take(MaxPerInvariant))
            found.Add(new Violation("d", step, p));
        pairing.Clear();
    }

    /// <summary>d: every attached domain maps exactly its io_pagetable's areas, each IOVA to the
    /// frame (and offset) its index was pinned at, with the area's protection; a detached domain
    /// maps nothing.</summary>
    private void CheckDomains(Snapshot after, List<Violation> found)
    {
        var attached = new HashSet<iommu_domain>(ReferenceEqualityComparer.Instance);
        foreach (var d in after.Domains)
        {
            attached.Add(d.Domain);
            // Only what changed: the domain's own calls, its io_pagetable's areas, or held frames.
            var view = after.View(d.Iopt);
            if (checkedDomains.TryGetValue(d.Domain, out var last) && last.Events == d.Domain.EventCount &&
                last.Frames == framesVersion && last.Areas.SequenceEqual(view.Areas))
                continue;
            checkedDomains[d.Domain] = (d.Domain.EventCount, view.Areas, framesVersion);
            var expected = ExpectedRuns(after.View(d.Iopt), out string? unknown);
            if (unknown is not null)
            {
                found.Add(new Violation("d", step, $"{d.Domain}: {unknown}"));
                continue;
            }
            var actual = Merge(d.Domain.Mappings.Select(m => new Run(m.Iova, m.Size, m.Paddr, m.Prot)));
            string? diff = Diff(expected, actual);
            if (diff is not null)
                found.Add(new Violation("d", step, $"{d.Domain} (io_pagetable {d.Iopt.Id}): {diff}",
                    $"expected {Show(expected)}\nactual   {Show(actual)}"));
        }
        foreach (var ledger in ledgers.Values)
            if (!attached.Contains(ledger.Domain) && !ledger.Domain.IsEmpty)
                found.Add(new Violation("d", step, $"{ledger.Domain} is not attached but maps {ledger.Domain.MappedBytes:#,0} bytes"));
    }

    private readonly record struct Run(ulong Iova, ulong Size, ulong Paddr, int Prot)
    {
        public override string ToString() => $"[{Iova:x}, +{Size:x}) -> {Paddr:x} prot {Prot}";
    }

    private List<Run> ExpectedRuns(IoptView view, out string? unknown)
    {
        unknown = null;
        var runs = new List<Run>();
        foreach (var a in view.Areas)
        {
            if (!specs.TryGetValue(a.Pages, out var s))
            {
                unknown = $"{a} maps pages the oracle did not see created";
                return runs;
            }
            ulong iova = a.Iova;
            while (true)
            {
                ulong b = a.ByteOf(iova), index = b / PageSize, off = b % PageSize;
                ulong chunk = Math.Min(PageSize - off, a.LastIova - iova + 1);
                if (!s.Frames.TryGetValue(index, out ulong pfn))
                {
                    unknown = $"pages#{s.Id} index {index} of {a} is not held by the specification";
                    return runs;
                }
                runs.Add(new Run(iova, chunk, pfn * PageSize + off, a.Prot));
                if (iova + chunk - 1 == a.LastIova)
                    break;
                iova += chunk;
            }
        }
        return Merge(runs);
    }

    private static List<Run> Merge(IEnumerable<Run> runs)
    {
        var merged = new List<Run>();
        foreach (var r in runs)
        {
            if (merged.Count > 0 && merged[^1] is var p && p.Iova + p.Size == r.Iova && p.Paddr + p.Size == r.Paddr && p.Prot == r.Prot)
                merged[^1] = p with { Size = p.Size + r.Size };
            else
                merged.Add(r);
        }
        return merged;
    }

    private static string? Diff(List<Run> expected, List<Run> actual)
    {
        for (int i = 0; i < Math.Max(expected.Count, actual.Count); i++)
        {
            Run? e = i < expected.Count ? expected[i] : null, a = i < actual.Count ? actual[i] : null;
            if (e == a)
                continue;
            return (e, a) switch
            {
                (null, { } x) => $"maps {x}, which no area explains",
                ({ } x, null) => $"does not map {x}",
                ({ } x, { } y) => $"expected {x}, actual {y}",
                _ => null,
            };
        }
        return null;
    }

    private static string Show(List<Run> runs) =>
        string.Join(" ", runs.Take(6)) + (runs.Count > 6 ? $" ... ({runs.Count} runs)" : "");

    /// <summary>e: pinned_pfns holds exactly the indexes held by access pins, each with its frame.</summary>
    private void CheckXarrays(List<Violation> found)
    {
        foreach (var s in specList)
        {
            if (!IsLive(s))
                continue;
            var entries = world.PinnedPfns(s.Id);
            string? problem = null;
            foreach (var entry in entries)
            {
                ulong index = entry.Index;
                if (!s.AccessHeld.Contains(index))
                    problem = $"index {index} has entry {entry} but no access holds it";
                else if (entry.Value is not ulong v)
                    problem = $"index {index} holds {entry}, not a PFN value";
                else if (s.Frames.TryGetValue(index, out ulong pfn) && v != pfn)
                    problem = $"index {index} holds pfn {v:x}, expected {pfn:x}";
                if (problem is not null)
                    break;
            }
            if (problem is null && (ulong)entries.Count != s.AccessHeld.Count)
            {
                var present = entries.Select(e => e.Index).ToHashSet();
                ulong missing = s.AccessHeld.Points().First(i => !present.Contains(i));
                problem = $"index {missing} is held by an access but has no entry ({entries.Count} entries, {s.AccessHeld.Count} expected)";
            }
            if (problem is not null)
                found.Add(new Violation("e", step, $"pages#{s.Id} pinned_pfns: {problem}", s.ToString()));
        }
    }

    /// <summary>f: user->locked_vm, mm->locked_vm and mm->pinned_vm equal the held page counts of
    /// the pages accounted to them (USER: user, MM: mm locked_vm; pinned_vm always).</summary>
    private void CheckAccounting(List<Violation> found)
    {
        var live = specList.Where(IsLive).ToList();
        foreach (var u in kernel.Users)
        {
            ulong expected = Sum(live.Where(s => s.Mode == IoptPagesAccount.IOPT_PAGES_ACCOUNT_USER && ReferenceEquals(s.User, u)));
            if ((ulong)u.locked_vm.Value != expected)
                found.Add(new Violation("f", step, $"{u}: locked_vm {u.locked_vm.Value}, expected {expected}", Describe(live)));
        }
        foreach (var mm in kernel.Mms)
        {
            ulong locked = Sum(live.Where(s => s.Mode == IoptPagesAccount.IOPT_PAGES_ACCOUNT_MM && ReferenceEquals(s.Mm, mm)));
            ulong pinned = Sum(live.Where(s => ReferenceEquals(s.Mm, mm)));
            if (mm.locked_vm != locked)
                found.Add(new Violation("f", step, $"{mm}: locked_vm {mm.locked_vm}, expected {locked}", Describe(live)));
            if ((ulong)mm.pinned_vm.Value != pinned)
                found.Add(new Violation("f", step, $"{mm}: pinned_vm {mm.pinned_vm.Value}, expected {pinned}", Describe(live)));
        }
    }

    private static ulong Sum(IEnumerable<PagesSpec> specs) => specs.Aggregate(0UL, (acc, s) => acc + s.Held.Count);

    // ---- g: data seen through an access ---------------------------------------------------------

    private void CheckAccessData(Op op, StepResult result, Snapshot after, List<Violation> found)
    {
        if (result.Skipped)
            return;
        switch (op)
        {
            case UserWrite o:
                ApplyUserWrite(o);
                break;
            case AccessPin:
                foreach (var pin in after.Pins.Except(before.Pins, ReferenceEqualityComparer.Instance).Cast<PinHandle>())
                    CheckPinnedPages(pin, after, found);
                break;
            case AccessRw o:
                CheckRw(o, result, found);
                break;
        }
    }

    private void ApplyUserWrite(UserWrite o)
    {
        var region = Picking.Pick(before.Regions, o.Region);
        if (region is null || region.Length == 0 || region.Owner.Task.mm is not { } mm)
            return;
        ulong off = o.Offset % region.Length;
        ulong len = Math.Min(Math.Max(1, o.Length), region.Length - off);
        var data = World.PatternBytes(o.Seed, (int)len);
        ulong va = region.BaseVa + off;
        for (ulong done = 0; done < len;)
        {
            ulong cur = va + done;
            if (!mm.Space.TryTranslate(cur & ~(PageSize - 1), out ulong pfn, out bool writable) || !writable)
                break;
            ulong chunk = Math.Min(len - done, PageSize - cur % PageSize);
            for (ulong k = 0; k < chunk; k++)
                shadow.Set(pfn, (int)(cur % PageSize + k), data[done + k]);
            done += chunk;
        }
    }

    private void CheckPinnedPages(PinHandle pin, Snapshot after, List<Violation> found)
    {
        var (pieces, _) = Snapshot.Walk(after.View(pin.Access.Iopt), pin.Iova, pin.Iova + pin.Length - 1);
        var expected = new List<ulong>();
        foreach (var (a, first, last) in pieces)
        {
            if (!specs.TryGetValue(a.Pages, out var s))
                return;
            for (ulong i = a.IndexOf(first); i <= a.IndexOf(last); i++)
                expected.Add(s.Frames.TryGetValue(i, out ulong pfn) ? pfn : ulong.MaxValue);
        }
        if (expected.Count != pin.Pfns.Count)
        {
            found.Add(new Violation("g", step, $"pin {pin.Id} returned {pin.Pfns.Count} pages, expected {expected.Count}"));
            return;
        }
        for (int k = 0; k < expected.Count; k++)
        {
            if (expected[k] == pin.Pfns[k])
                continue;
            found.Add(new Violation("g", step,
                $"pin {pin.Id} page {k} (iova {(pin.Iova & ~(PageSize - 1)) + (ulong)k * PageSize:x}) is pfn {pin.Pfns[k]:x}, " +
                $"but the user memory there is pfn {expected[k]:x}", HolderOf(pin.Pfns[k])));
            return;
        }
    }

    private void CheckRw(AccessRw o, StepResult result, List<Violation> found)
    {
        if (Picking.ResolveAccess(before.Accesses, before.Areas, o.Access, o.Area, o.Offset, o.Length, raw: false) is not { Length: > 0 } target)
            return;
        var (access, _, iova, length) = target;
        var (pieces, covered) = Snapshot.Walk(before.View(access.Iopt), iova, iova + length - 1);
        // An injected fault met before the permission check (the driver's bounce buffer, say) is a
        // cause of its own: then the write may fail with that error instead of -EPERM.
        bool faulted = world!.Faults.Injected.Count > before.Injected;
        if (o.Write && pieces.Any(p => !p.Area.Writable || specs.GetValueOrDefault(p.Area.Pages)?.Writable == false)
            && result.Rc != -ReturnCodeRules.EPERM && !(faulted && result.Rc != 0))
        {
            found.Add(new Violation("g", step, $"a write through read-only pages returned {ReturnCodeRules.Errno(result.Rc)}, expected -EPERM"));
            return;
        }
        if (!covered)
            return;
        // Where each byte lives: (pfn, offset) per page-sized chunk, in buffer order.
        var chunks = new List<(ulong Pfn, int Offset, int Length, int BufferOffset)>();
        int pos = 0;
        bool reachedNoFrame = false;
        foreach (var (a, first, last) in pieces)
        {
            if (reachedNoFrame || !specs.TryGetValue(a.Pages, out var s))
                break;
            ulong cur = first;
            while (true)
            {
                ulong b = a.ByteOf(cur), off = b % PageSize;
                ulong n = Math.Min(PageSize - off, last - cur + 1);
                if (s.FrameOf(b / PageSize) is not ulong pfn)
                {
                    if (result.Rc == 0)
                    {
                        found.Add(new Violation("g", step, $"rw succeeded at iova {cur:x}, where pages#{s.Id} index {b / PageSize} has no frame"));
                        return;
                    }
                    // The rw failed here; what it wrote before this page must still be taken
                    // into the shadow (below), so stop collecting without returning.
                    reachedNoFrame = true;
                    break;
                }
                chunks.Add((pfn, (int)off, (int)n, pos));
                pos += (int)n;
                if (cur + n - 1 == last)
                    break;
                cur += n;
            }
        }
        var data = world.LastRwData;
        if (!o.Write)
        {
            if (result.Rc != 0)
                return;
            var expected = new byte[PageSize];
            foreach (var (pfn, off, n, at) in chunks)
            {
                var want = expected.AsSpan(0, n);
                shadow.Read(pfn, off, want);
                int same = want.CommonPrefixLength(data.AsSpan(at, n));
                if (same == n)
                    continue;
                found.Add(new Violation("g", step,
                    $"rw read byte {at + same} (pfn {pfn:x} offset {off + same}) as {data[at + same]:x2}, user memory holds {want[same]:x2}"));
                return;
            }
            return;
        }
        if (result.Rc != 0)
        {
            foreach (var c in chunks)
                shadow.Resync(kernel.Phys, c.Pfn);
            return;
        }
        foreach (var (pfn, off, n, at) in chunks)
            shadow.Write(pfn, off, data.AsSpan(at, n));
        foreach (ulong pfn in chunks.Select(c => c.Pfn).Distinct())
        {
            int d = shadow.FirstDifference(kernel.Phys, pfn, out byte e, out byte actual);
            if (d < 0)
                continue;
            found.Add(new Violation("g", step, $"after an rw write, pfn {pfn:x} offset {d} holds {actual:x2}, expected {e:x2}"));
            return;
        }
    }

    // ---- j: after teardown ----------------------------------------------------------------------

    public IReadOnlyList<Violation> AfterTeardown()
    {
        var found = pending.Select(v => v.Step == step ? v with { Step = -1 } : v).ToList();
        pending.Clear();
        RefreshLedgers();
        foreach (string p in pairing.Take(MaxPerInvariant))
            found.Add(new Violation("d", -1, p));
        pairing.Clear();
        zeroUnpins.Clear();

        void J(string message, string state = "") => found.Add(new Violation("j", -1, message, state));

        foreach (var p in kernel.Phys.PinnedFrames().Take(MaxPerInvariant))
            J($"pfn {p.Pfn:x} still has {p.PinCount} pins", HolderOf(p.Pfn));
        foreach (var a in kernel.Allocator.Live.Take(MaxPerInvariant))
            J($"allocation leaked: {a.What} from {a.Site} ({a.Bytes} bytes)");
        foreach (var s in specList)
        {
            var state = s.State;
            if (state.Live)
                J($"pages#{s.Id} was never freed (kref {state.Kref})", s.ToString());
            int entries = world.PinnedPfns(s.Id).Count;
            if (entries != 0)
                J($"pages#{s.Id} pinned_pfns still has {entries} entries");
            int accesses = world.AccessNodes(s.Id).Count, domains = world.DomainNodes(s.Id).Count;
            if (accesses != 0 || domains != 0)
                J($"pages#{s.Id} trees not empty: access_itree {accesses}, domains_itree {domains}");
        }
        foreach (var ledger in ledgers.Values)
            if (!ledger.Domain.IsEmpty)
                J($"{ledger.Domain} still maps {ledger.Domain.MappedBytes:#,0} bytes");
        foreach (var u in kernel.Users)
            if (u.locked_vm.Value != 0)
                J($"{u}: locked_vm {u.locked_vm.Value} after teardown");
        foreach (var mm in kernel.Mms)
        {
            if (mm.locked_vm != 0)
                J($"{mm}: locked_vm {mm.locked_vm} after teardown");
            if (mm.pinned_vm.Value != 0)
                J($"{mm}: pinned_vm {mm.pinned_vm.Value} after teardown");
        }
        foreach (string imbalance in kernel.ReferenceImbalances())
            J($"reference imbalance: {imbalance}");
        reported.AddRange(found);
        return found;
    }

    // ---- rendering --------------------------------------------------------------------------------

    /// <summary>Who the specification says holds <paramref name="pfn"/>, and which pages map it.</summary>
    private string HolderOf(ulong pfn)
    {
        var lines = new List<string> { $"pfn {pfn:x}: {kernel.Phys.PinCount(pfn)} pins" };
        foreach (var s in specList)
        {
            var idx = s.Frames.Where(kv => kv.Value == pfn).Select(kv => kv.Key).Take(4).ToList();
            if (idx.Count > 0)
                lines.Add($"  held by pages#{s.Id} index {string.Join(",", idx)}{(s.AccessHeld.Contains(idx[0]) ? " (access)" : "")}");
        }
        foreach (var s in specList)
            lines.Add("  " + s);
        return string.Join("\n", lines.Take(10));
    }

    private static string Describe(IEnumerable<PagesSpec> specs) => string.Join("\n", specs.Select(s => s.ToString()).Take(8));
}
