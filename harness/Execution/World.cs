// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Harness.Generation;
using Iommufd.Model.Callers;
using Iommufd.Model.Kernel;
using Iommufd.Model.Port;

using static Iommufd.Harness.Execution.Picking;
using Iommufd.Model.Patches;
using Iommufd.Model.Selftest;

namespace Iommufd.Harness.Execution;

/// <summary>What one operation did: its kernel return code (0 or -errno), whether it was skipped
/// because a handle it names does not exist, and a short note for reports.</summary>
public sealed record StepResult(int Rc, bool Skipped = false, string Note = "")
{
    public static readonly StepResult Skip = new(0, true, "skipped: no such object");
    public override string ToString() => Skipped ? Note : Rc == 0 ? (Note.Length > 0 ? $"ok ({Note})" : "ok") : $"rc={Rc}{(Note.Length > 0 ? $" ({Note})" : "")}";
}

/// <summary>
/// One simulated system: a fake kernel with the port and its callers, and the objects the
/// operations created. <see cref="Apply"/> performs one operation the way the kernel's callers
/// would, as the task that would perform it (process 0 issues the ioctls; a region's own process
/// creates its pages; rw runs in the context the operation names). Nothing is static, nothing is
/// random: the same operations on the same plan give the same run.
/// </summary>
public sealed class World : IWorld
{
    public const ulong PAGE_SIZE = KernelApi.PAGE_SIZE;
    private const ulong UserBase = 0x10_0000_0000UL;
    private const ulong HugeAlign = 512 * PAGE_SIZE;

    private readonly Dictionary<int, ulong> nextVa = [];
    private int nextId;

    /// <summary>A world on the C# port (what most tests want).</summary>
    public World(IFaultInjector faults, IEnumerable<string>? patches = null, Func<Checks, IExecutionContext>? exec = null)
        : this(new FakeKernel(faults, exec, patches), kernel => new Pages(kernel))
    {
    }

    /// <summary>A world on <paramref name="kernel"/>, whose operations drive the pages.c that
    /// <paramref name="bind"/> gives for it (the port, or the kernel's own C).</summary>
    public World(FakeKernel kernel, Func<FakeKernel, IPagesC> bind)
    {
        Faults = kernel.Faults;
        Kernel = kernel;
        Code = bind(kernel);
        var p0 = Kernel.CreateProcess("p0", memlockLimit: 1UL << 30);
        Processes.Add(new ProcessHandle(0, p0));
        Kernel.SetCurrent(p0);
        Kthread = Kernel.CreateKthread("iommufd-kthread");
        kthreads[Kernel.Exec.ThreadId] = Kthread;
    }

    public FakeKernel Kernel { get; }
    /// <summary>The pages.c the callers drive.</summary>
    public IPagesC Code { get; }
    public IFaultInjector Faults { get; }
    public task_struct Kthread { get; }

    /// <summary>The kthread each calling thread runs kthread-context work as: <see cref="Kthread"/>
    /// for the thread that built the world; under a controlled scheduler, concurrent operations are
    /// different kernel threads, so each other thread gets a kthread of its own.</summary>
    private readonly Dictionary<int, task_struct> kthreads = [];

    private task_struct KthreadOfCaller()
    {
        int id = Kernel.Exec.ThreadId;
        if (!kthreads.TryGetValue(id, out var k))
            kthreads[id] = k = Kernel.CreateKthread($"iommufd-kthread-{id}");
        return k;
    }

    // The structures behind the handles stay here: the checks read them only through IObservation.
    private readonly Dictionary<int, iopt_pages> pagesOf = [];
    private readonly Dictionary<iopt_pages, int> pagesIdOf = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<int, IoPagetable> ioasOf = [];
    private readonly Dictionary<int, MockAccess> driverOf = [];

    private iopt_pages PagesOf(PagesHandle h) => pagesOf[h.Id];
    private IoPagetable Ioas(IoptHandle h) => ioasOf[h.Id];

    /// <summary>The port's iopt_pages behind a handle, for tests that reach into the port (its
    /// fakes' test hooks); the checks read <see cref="Pages(int)"/> instead.</summary>
    public iopt_pages PortPagesOf(PagesHandle h) => PagesOf(h);
    private MockAccess Driver(AccessHandle h) => driverOf[h.Id];

    public List<ProcessHandle> Processes { get; } = [];
    public List<RegionHandle> Regions { get; } = [];
    public List<PagesHandle> PagesList { get; } = [];
    public List<IoptHandle> Iopts { get; } = [];
    public List<AreaHandle> Areas { get; } = [];
    public List<DomainHandle> Domains { get; } = [];
    public List<AccessHandle> Accesses { get; } = [];
    public List<PinHandle> Pins { get; } = [];

    /// <summary>The control process (issues the ioctls).</summary>
    public ProcessHandle Control => Processes[0];

    private int NewId() => ++nextId;

    private void RunAs(task_struct task) => Kernel.SetCurrent(task);

    // A task exits only by itself, on its way back to user space: a process exit requested while
    // one of its tasks is inside an operation on another (scheduled) thread takes effect when the
    // last such operation returns. Sequential runs never defer.
    private readonly Dictionary<task_struct, int> groupsInUse = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<task_struct> exitsPending = new(ReferenceEqualityComparer.Instance);

    /// <summary>Runs <paramref name="body"/> as <paramref name="task"/> (current = task), then
    /// back as the control task; performs an exit of the task's process deferred meanwhile.</summary>
    private T RunningAs<T>(task_struct task, Func<T> body)
    {
        var group = task.group_leader;
        groupsInUse[group] = groupsInUse.GetValueOrDefault(group) + 1;
        try
        {
            RunAs(task);
            return body();
        }
        finally
        {
            RunAs(Control.Task);
            if (--groupsInUse[group] == 0)
            {
                groupsInUse.Remove(group);
                if (exitsPending.Remove(group))
                    Kernel.ExitProcess(group);
            }
        }
    }

    /// <summary>Performs one operation and returns what it did.</summary>
    public StepResult Apply(Op op)
    {
        RunAs(Control.Task);
        return op switch
        {
            NewProcess o => DoNewProcess(o),
            MapUserMemory o => DoMapUserMemory(o),
            UserWrite o => DoUserWrite(o),
            CreatePages o => DoCreatePages(o),
            PutPages o => DoPutPages(o),
            CreateIopt => DoCreateIopt(),
            MapArea o => DoMapArea(o),
            CopyArea o => DoCopyArea(o),
            UnmapArea o => DoUnmapArea(o),
            UnmapRange o => DoUnmapRange(o),
            AttachDomain o => DoAttach(o),
            DetachDomain o => DoDetach(o),
            SetLargePages o => DoSetLargePages(o),
            SplitArea o => DoSplit(o),
            CreateAccess o => DoCreateAccess(o),
            DestroyAccess o => DoDestroyAccess(o),
            AccessPin o => DoPin(o),
            AccessUnpin o => DoUnpin(o),
            AccessRw o => DoRw(o),
            ProcessExit o => DoExit(o),
            SetRlimit o => DoSetRlimit(o),
            SetCapIpcLock o => DoSetCap(o),
            SetTempMemoryLimit o => DoSetTempLimit(o),
            _ => throw new ArgumentOutOfRangeException(nameof(op), op, "unknown operation"),
        };
    }

    // ---- processes and memory ----------------------------------------------------------------

    private StepResult DoNewProcess(NewProcess o)
    {
        var t = Kernel.CreateProcess($"p{Processes.Count}", o.SameUser ? Control.Task.User : null,
            o.RlimitMemlockBytes, o.CapIpcLock);
        Processes.Add(new ProcessHandle(Processes.Count, t));
        return new StepResult(0, Note: $"process {Processes.Count - 1}");
    }

    private StepResult DoMapUserMemory(MapUserMemory o)
    {
        var proc = Pick(Processes, o.Process);
        if (proc is null || proc.Exited || o.Segments.Count == 0)
            return StepResult.Skip;
        var space = proc.Task.mm!.Space;
        ulong va = nextVa.TryGetValue(proc.Id, out var v) ? v : UserBase;
        if (o.Segments.Any(s => s.Kind == SegmentKind.HugeRun))
            va = (va + HugeAlign - 1) & ~(HugeAlign - 1);
        ulong baseVa = va;
        foreach (var seg in o.Segments)
        {
            ulong n = Math.Max(1, seg.Pages);
            switch (seg.Kind)
            {
                case SegmentKind.Run:
                    space.MapNewRun(va, n, 1, !seg.ReadOnly, seg.Movable);
                    break;
                case SegmentKind.HugeRun:
                    if (va % HugeAlign != 0)
                        va = (va + HugeAlign - 1) & ~(HugeAlign - 1);
                    space.MapNewRun(va, n, 512, !seg.ReadOnly, seg.Movable);
                    break;
                case SegmentKind.Scattered:
                    space.MapNewScattered(va, (int)n, (ulong)NewId(), !seg.ReadOnly, seg.Movable);
                    break;
                case SegmentKind.Hole:
                    break;
                case SegmentKind.Alias:
                    // Re-map the frames at the start of the region (one frame at two addresses).
                    ulong src = baseVa;
                    ulong count = Math.Min(n, (va - baseVa) / PAGE_SIZE);
                    if (count == 0)
                        break;
                    space.MapAlias(va, src, count, !seg.ReadOnly);
                    n = count;
                    break;
            }
            va += n * PAGE_SIZE;
        }
        nextVa[proc.Id] = va + 16 * PAGE_SIZE; // a guard gap between regions
        var region = new RegionHandle(NewId(), proc, baseVa, va - baseVa, o.Segments);
        Regions.Add(region);
        return new StepResult(0, Note: $"region {region.Id} at {baseVa:x}+{va - baseVa:x}");
    }

    private StepResult DoUserWrite(UserWrite o)
    {
        var region = Pick(Regions, o.Region);
        if (region is null || region.Owner.Exited || region.Length == 0)
            return StepResult.Skip;
        ulong off = o.Offset % region.Length;
        ulong len = Math.Min(Math.Max(1, o.Length), region.Length - off);
        var data = PatternBytes(o.Seed, (int)len);
        var buffer = new Ptr<byte>(KMem.Stack((long)len, "user_write"), 0);
        data.CopyTo(buffer.AsSpan((long)len));
        ulong notCopied = RunningAs(region.Owner.Task, () => Kernel.UserCopy.CopyToUser(region.BaseVa + off, buffer, len));
        return new StepResult(notCopied == 0 ? 0 : -KernelApi.EFAULT, Note: $"{len - notCopied} bytes");
    }

    /// <summary>Deterministic bytes for writes, from a seed.</summary>
    public static byte[] PatternBytes(int seed, int length)
    {
        var bytes = new byte[length];
        ulong x = (ulong)(uint)seed * 0x9E3779B97F4A7C15UL + 1;
        for (int i = 0; i < length; i++)
        {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            bytes[i] = (byte)x;
        }
        return bytes;
    }

    // ---- pages and areas ---------------------------------------------------------------------

    private StepResult DoCreatePages(CreatePages o)
    {
        var region = Pick(Regions, o.Region);
        if (region is null || region.Owner.Exited)
            return StepResult.Skip;
        var (uptr, length) = PagesRange(region, o.Offset, o.Length, o.RawUptr);
        var pages = RunningAs(region.Owner.Task, () => Code.iopt_alloc_pages(uptr, length, o.Writable));
        if (KernelApi.IS_ERR(pages))
            return new StepResult(KernelApi.PTR_ERR(pages));
        // The ioctl layer switches to MM accounting when the context asks for it.
        if (o.AccountMode == IoptPagesAccount.IOPT_PAGES_ACCOUNT_MM &&
            pages.Value!.account_mode == IoptPagesAccount.IOPT_PAGES_ACCOUNT_USER)
            pages.Value.account_mode = IoptPagesAccount.IOPT_PAGES_ACCOUNT_MM;
        var h = new PagesHandle(NewId(), region, uptr, length);
        pagesOf[h.Id] = pages.Value!;
        pagesIdOf[pages.Value!] = h.Id;
        PagesList.Add(h);
        return new StepResult(0, Note: $"pages {h.Id}: {pages.Value!.npages} pages");
    }

    private StepResult DoPutPages(PutPages o)
    {
        var h = PickWhere(PagesList, o.Pages, p => p.CreatorReferenceHeld);
        if (h is null)
            return StepResult.Skip;
        h.CreatorReferenceHeld = false;
        IoctlIoas().iopt_put_pages(PagesOf(h));
        return new StepResult(0);
    }

    private IoPagetable? spareIoas;
    /// <summary>An IOAS used only to reach the callers' helpers that need none in particular.</summary>
    private IoPagetable IoctlIoas() => spareIoas ??= new IoPagetable(Kernel, Code);

    private StepResult DoCreateIopt()
    {
        var h = new IoptHandle(NewId());
        ioasOf[h.Id] = new IoPagetable(Kernel, Code);
        Iopts.Add(h);
        return new StepResult(0, Note: $"iopt {h.Id}");
    }

    private StepResult DoMapArea(MapArea o)
    {
        var iopt = Pick(Iopts, o.Iopt);
        var pages = PickWhere(PagesList, o.Pages, p => p.CreatorReferenceHeld);
        if (iopt is null || pages is null)
            return StepResult.Skip;
        var (startByte, length) = MapSlice(pages, o.StartByte, o.Length);
        ulong iova = o.Iova ?? 0;
        uint flags = o.Iova is null ? IoPagetable.IOPT_ALLOC_IOVA : 0;
        int prot = KernelApi.IOMMU_READ | (o.Write ? KernelApi.IOMMU_WRITE : 0);
        int rc = Ioas(iopt).MapPages(PagesOf(pages), startByte, length, ref iova, prot, flags);
        if (rc != 0)
            return new StepResult(rc);
        var area = new AreaHandle(NewId(), iopt, pages, iova, length, startByte, o.Write);
        Areas.Add(area);
        return new StepResult(0, Note: $"area {area.Id} at iova {iova:x}");
    }

    private StepResult DoCopyArea(CopyArea o)
    {
        var src = Pick(Areas, o.Area);
        var dst = Pick(Iopts, o.DstIopt);
        if (src is null || dst is null)
            return StepResult.Skip;
        ulong iova = o.Iova ?? 0;
        uint flags = o.Iova is null ? IoPagetable.IOPT_ALLOC_IOVA : 0;
        int prot = KernelApi.IOMMU_READ | (src.Write ? KernelApi.IOMMU_WRITE : 0);
        int rc = Ioas(dst).iopt_copy_iova(Ioas(src.Iopt), src.Iova, src.Length, ref iova, prot, flags);
        if (rc != 0)
            return new StepResult(rc);
        var area = new AreaHandle(NewId(), dst, src.Pages, iova, src.Length, src.StartByte, src.Write);
        Areas.Add(area);
        return new StepResult(0, Note: $"area {area.Id} at iova {iova:x}");
    }

    private StepResult DoUnmapArea(UnmapArea o)
    {
        var area = Pick(Areas, o.Area);
        if (area is null)
            return StepResult.Skip;
        int rc = Ioas(area.Iopt).iopt_unmap_iova(area.Iova, area.Length, out ulong unmapped);
        SyncAfterUnmap(area.Iopt);
        return new StepResult(rc, Note: $"unmapped {unmapped:x}");
    }

    private StepResult DoUnmapRange(UnmapRange o)
    {
        var iopt = Pick(Iopts, o.Iopt);
        if (iopt is null)
            return StepResult.Skip;
        int rc = Ioas(iopt).iopt_unmap_iova(o.Iova, o.Length, out ulong unmapped);
        SyncAfterUnmap(iopt);
        return new StepResult(rc, Note: $"unmapped {unmapped:x}");
    }

    /// <summary>Drops the handles of areas an unmap removed and the pins the access drivers gave up.</summary>
    private void SyncAfterUnmap(IoptHandle iopt)
    {
        var live = Ioas(iopt).Areas().Select(a => (a.node.start, a.node.last)).ToHashSet();
        Areas.RemoveAll(a => a.Iopt == iopt && !live.Contains((a.Iova, a.LastIova)));
        SyncPins();
    }

    private void SyncPins()
    {
        // Ask the drivers first (PinnedPages takes a lock, where a controlled scheduler may run
        // another thread that changes Pins), then drop handles in a pass that stays out of the kernel.
        var live = new Dictionary<AccessHandle, HashSet<uint>>();
        foreach (var a in Pins.Select(p => p.Access).Distinct().ToList())
            live[a] = Driver(a).Access is null ? [] : Driver(a).PinnedPages().Select(i => i.Id).ToHashSet();
        Pins.RemoveAll(p => live.TryGetValue(p.Access, out var ids) && !ids.Contains(p.PinId));
    }

    // ---- domains -----------------------------------------------------------------------------

    private StepResult DoAttach(AttachDomain o)
    {
        var iopt = Pick(Iopts, o.Iopt);
        if (iopt is null)
            return StepResult.Skip;
        iommu_domain domain = o.Kind == DomainKind.Mock
            ? new MockDomain(Kernel, $"mock{nextId + 1}", tagSingleEntryStart: Kernel.Patches.Contains(ModelPatches.MockSinglePageTags))
            : new PageTableDomain(Kernel, $"pt{nextId + 1}");
        int rc = Ioas(iopt).iopt_table_add_domain(domain);
        if (rc != 0)
        {
            domain.Free();
            return new StepResult(rc);
        }
        var h = new DomainHandle(NewId(), iopt, domain, o.Kind);
        Domains.Add(h);
        return new StepResult(0, Note: $"domain {h.Id} ({domain.Name})");
    }

    private StepResult DoDetach(DetachDomain o)
    {
        var h = Pick(Domains, o.Domain);
        if (h is null)
            return StepResult.Skip;
        Domains.Remove(h); // first: a concurrent operation must not pick a domain being detached
        Ioas(h.Iopt).iopt_table_remove_domain(h.Domain);
        h.Domain.Free();
        return new StepResult(0);
    }

    private StepResult DoSetLargePages(SetLargePages o)
    {
        var iopt = Pick(Iopts, o.Iopt);
        if (iopt is null)
            return StepResult.Skip;
        if (o.Disable)
            return new StepResult(Ioas(iopt).iopt_disable_large_pages());
        Ioas(iopt).iopt_enable_large_pages();
        return new StepResult(0);
    }

    private StepResult DoSplit(SplitArea o)
    {
        var area = Pick(Areas, o.Area);
        if (area is null)
            return StepResult.Skip;
        ulong cut = area.Iova + (area.Length <= 1 ? 0 : o.Offset % area.Length);
        // iopt_cut_iova splits so that the IOVA it is given ENDS the left piece: pass cut - 1 so
        // the left piece is [Iova, cut) as the handles below record (cut == Iova: no split).
        int rc = Ioas(area.Iopt).iopt_cut_iova([cut == area.Iova ? cut : cut - 1]);
        // iopt_area_split does nothing for a cut at the area's first byte (a cut one byte in).
        // Under the interleaving scheduler another thread may have unmapped the area meanwhile
        // (its handle is gone, and both pieces with it): then there is nothing to record.
        int i = Areas.IndexOf(area);
        if (rc == 0 && cut != area.Iova && cut - 1 != area.Iova && i >= 0)
        {
            ulong leftLen = cut - area.Iova;
            Areas[i] = area with { Id = NewId(), Length = leftLen };
            Areas.Insert(i + 1, area with { Id = NewId(), Iova = cut, Length = area.Length - leftLen, StartByte = area.StartByte + leftLen });
        }
        return new StepResult(rc, Note: $"cut at {cut:x}");
    }

    // ---- accesses ----------------------------------------------------------------------------

    private StepResult DoCreateAccess(CreateAccess o)
    {
        var iopt = Pick(Iopts, o.Iopt);
        if (iopt is null)
            return StepResult.Skip;
        var driver = MockAccess.Create(Kernel, Ioas(iopt), out int rc);
        if (rc != 0)
            return new StepResult(rc);
        var h = new AccessHandle(NewId(), iopt);
        driverOf[h.Id] = driver;
        Accesses.Add(h);
        return new StepResult(0, Note: $"access {h.Id}");
    }

    /// <summary>How many operations are using each access now. Only a controlled scheduler runs
    /// operations concurrently; then, as for an iommufd object or the selftest's access file, an
    /// access cannot be destroyed while another operation is using it.</summary>
    private readonly Dictionary<AccessHandle, int> accessUsers = new(ReferenceEqualityComparer.Instance);

    private T Using<T>(AccessHandle access, Func<T> body)
    {
        accessUsers[access] = accessUsers.GetValueOrDefault(access) + 1;
        try
        {
            return body();
        }
        finally
        {
            if (--accessUsers[access] == 0)
                accessUsers.Remove(access);
        }
    }

    private StepResult DoDestroyAccess(DestroyAccess o)
    {
        var h = Pick(Accesses, o.Access);
        if (h is null)
            return StepResult.Skip;
        if (accessUsers.ContainsKey(h))
            return new StepResult(-KernelApi.EBUSY, Note: "access in use by another thread");
        Accesses.Remove(h); // first: a concurrent operation must not pick an access being destroyed
        Driver(h).Close();
        SyncPins();
        return new StepResult(0);
    }

    private StepResult DoPin(AccessPin o)
    {
        if (ResolveAccess(Accesses, Areas, o.Access, o.Area, o.Offset, o.Length, o.Raw) is not { } target)
            return StepResult.Skip;
        var (access, _, iova, length) = target;
        uint flags = o.Write ? KernelApi.IOMMUFD_ACCESS_RW_WRITE : 0;
        uint id = 0;
        int rc = Using(access, () => Driver(access).Pin(iova, length, flags, out id));
        if (rc != 0)
            return new StepResult(rc);
        // Under a controlled scheduler an unmap or a destroy on another thread may already have
        // taken the pin back; then there is nothing left to track.
        var item = Driver(access).PinnedPages().FirstOrDefault(i => i.Id == id);
        if (item is null)
            return new StepResult(0, Note: "pinned, then released by another thread");
        var pin = new PinHandle(NewId(), access, id, iova, length, o.Write, item.Pages.Select(p => p.Pfn).ToArray());
        Pins.Add(pin);
        return new StepResult(0, Note: $"pin {pin.Id}: {pin.Pfns.Count} pages");
    }

    private StepResult DoUnpin(AccessUnpin o)
    {
        var pin = Pick(Pins, o.Pin);
        if (pin is null)
            return StepResult.Skip;
        Pins.Remove(pin); // first: a concurrent operation must not pick a pin being released
        int rc = Using(pin.Access, () => Driver(pin.Access).Unpin(pin.PinId));
        return new StepResult(rc);
    }

    /// <summary>The last rw's buffer (read result or written data), for the oracle.</summary>
    public byte[] LastRwData { get; private set; } = [];

    private StepResult DoRw(AccessRw o)
    {
        if (ResolveAccess(Accesses, Areas, o.Access, o.Area, o.Offset, o.Length, raw: false) is not { Length: > 0 } target)
            return StepResult.Skip;
        var (access, area, iova, length) = target;
        uint flags = (o.Write ? KernelApi.IOMMUFD_ACCESS_RW_WRITE : 0) |
                     (o.Context == RwContext.Kthread ? KernelApi.IOMMUFD_ACCESS_RW_KTHREAD : 0) |
                     (o.SlowPath ? KernelApi.__IOMMUFD_ACCESS_RW_SLOW_PATH : 0);
        var buffer = o.Write ? PatternBytes(o.Seed, (int)length) : new byte[length];
        task_struct actor = o.Context switch
        {
            RwContext.Kthread => KthreadOfCaller(),
            RwContext.SameMm => area!.Pages.Region.Owner.Exited ? Control.Task : area.Pages.Region.Owner.Task,
            _ => OtherThan(area!.Pages.Region.Owner),
        };
        int rc = RunningAs(actor, () => Using(access, () => Driver(access).Rw(iova, buffer, flags)));
        LastRwData = buffer;
        return new StepResult(rc, Note: $"{length} bytes at {iova:x}");
    }

    private task_struct OtherThan(ProcessHandle owner)
    {
        var other = Processes.FirstOrDefault(p => p != owner && !p.Exited && p.Task.mm != owner.Task.mm);
        return other?.Task ?? KthreadOfCaller();
    }

    // ---- process state -----------------------------------------------------------------------

    private StepResult DoExit(ProcessExit o)
    {
        // Process 0 issues the ioctls and lives to the end; only others exit.
        if (Processes.Count < 2)
            return StepResult.Skip;
        var p = Processes[1 + (int)((uint)o.Process % (uint)(Processes.Count - 1))];
        if (p.Exited || exitsPending.Contains(p.Task.group_leader))
            return StepResult.Skip;
        if (groupsInUse.ContainsKey(p.Task.group_leader))
        {
            exitsPending.Add(p.Task.group_leader);
            return new StepResult(0, Note: $"process {p.Id} exits when its operation in the kernel returns");
        }
        Kernel.ExitProcess(p.Task);
        RunAs(Control.Task);
        return new StepResult(0, Note: $"process {p.Id} exited");
    }

    private StepResult DoSetRlimit(SetRlimit o) => OnLiveProcess(o.Process, t => t.RlimitMemlock = o.Bytes);

    private StepResult DoSetCap(SetCapIpcLock o) => OnLiveProcess(o.Process, t => t.CapIpcLock = o.Capable);

    /// <summary>Changes a setting of a live process (skipped when it does not exist or has exited).</summary>
    private StepResult OnLiveProcess(int process, Action<task_struct> change)
    {
        var p = Pick(Processes, process);
        if (p is null || p.Exited)
            return StepResult.Skip;
        change(p.Task);
        return new StepResult(0);
    }

    private StepResult DoSetTempLimit(SetTempMemoryLimit o)
    {
        Kernel.iommufd_test_memory_limit = o.Bytes;
        return new StepResult(0);
    }

    // ---- teardown ----------------------------------------------------------------------------

    /// <summary>
    /// Destroys everything the run created, in the order a closing iommufd file would: accesses,
    /// domains, areas, the creator's pages references, then the processes other than process 0.
    /// </summary>
    public void TearDown()
    {
        RunAs(Control.Task);
        foreach (var a in Accesses.ToArray())
            Driver(a).Close();
        Accesses.Clear();
        Pins.Clear();
        foreach (var d in Domains.ToArray())
        {
            Ioas(d.Iopt).iopt_table_remove_domain(d.Domain);
            d.Domain.Free();
        }
        Domains.Clear();
        foreach (var i in Iopts)
            Ioas(i).iopt_unmap_all(out _);
        Areas.Clear();
        foreach (var p in PagesList.Where(p => p.CreatorReferenceHeld))
        {
            p.CreatorReferenceHeld = false;
            IoctlIoas().iopt_put_pages(PagesOf(p));
        }
        foreach (var i in Iopts)
            Ioas(i).iopt_destroy_table();
        foreach (var p in Processes.Skip(1).Where(p => !p.Exited))
            Kernel.ExitProcess(p.Task);
        RunAs(Control.Task);
    }

    // ---- observation -------------------------------------------------------------------------

    IReadOnlyList<ProcessHandle> IObservation.Processes => Processes;
    IReadOnlyList<RegionHandle> IObservation.Regions => Regions;
    IReadOnlyList<PagesHandle> IObservation.PagesList => PagesList;
    IReadOnlyList<IoptHandle> IObservation.Iopts => Iopts;
    IReadOnlyList<AreaHandle> IObservation.Areas => Areas;
    IReadOnlyList<DomainHandle> IObservation.Domains => Domains;
    IReadOnlyList<AccessHandle> IObservation.Accesses => Accesses;
    IReadOnlyList<PinHandle> IObservation.Pins => Pins;

    public PagesState Pages(int pagesId)
    {
        var p = pagesOf[pagesId];
        return new PagesState(Kernel.Allocator.IsLive(p), p.npages, p.npinned, p.last_npinned, p.mutex.IsLocked, p.uptr,
            p.writable, p.account_mode, p.kref.Value);
    }

    public IReadOnlyList<XaEntryState> PinnedPfns(int pagesId) =>
        pagesOf[pagesId].pinned_pfns.Entries
            .Select(e => new XaEntryState(e.Index, e.Entry is XaValue v ? v.Value : null, e.Entry.ToString() ?? ""))
            .ToArray();

    public IReadOnlyList<NodeRange> AccessNodes(int pagesId) => Ranges(pagesOf[pagesId].access_itree);

    public IReadOnlyList<NodeRange> DomainNodes(int pagesId) => Ranges(pagesOf[pagesId].domains_itree);

    private static NodeRange[] Ranges(rb_root_cached root) => root.Nodes.Select(n => new NodeRange(n.start, n.last)).ToArray();

    public IoptState Iopt(int ioptId)
    {
        var ioas = ioasOf[ioptId];
        var areas = new List<AreaState>();
        foreach (var a in ioas.Areas())
        {
            if (a.pages is null)
                continue;
            areas.Add(new AreaState(a.node.start, a.node.last, a.pages_node.start, a.pages_node.last, a.page_offset, a.iommu_prot,
                pagesIdOf.GetValueOrDefault(a.pages, -1)));
        }
        return new IoptState(areas, ioas.iopt.iova_alignment, ioas.iopt.disable_large_pages);
    }

    public IReadOnlyList<iommu_domain> StoredDomains(int ioptId) =>
        ioasOf[ioptId].iopt.domains.Entries.Select(e => e.Entry).OfType<iommu_domain>().ToArray();
}
