// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Harness.Generation;

/// <summary>
/// What the generator believes the world holds after the operations generated so far: the same
/// lists, in the same order, that <c>World</c> keeps, so that a generated handle names the object
/// the generator had in mind. It assumes that operations it generated as valid succeed; when one
/// fails at run time the handles merely drift (they are resolved modulo the live objects), so a
/// wrong guess never makes a sequence unrunnable. Used by one generation only; never shared.
/// </summary>
internal sealed class GenModel
{
    public const ulong Page = 4096;

    public sealed record Proc(bool SameUser) { public bool Exited { get; set; } }
    public sealed record Region(int Proc, ulong Length);
    public sealed record PagesObj(int Region, ulong Length, bool Writable) { public bool Held { get; set; } = true; }
    public sealed record Iopt { public bool LargeDisabled { get; set; } }
    public sealed record Area(int Iopt, PagesObj Pages, ulong StartByte, ulong Length, bool Write);
    public sealed record Domain(int Iopt);
    public sealed record Access(int Iopt);
    public sealed record Pin(Access Access, Area Area);

    public List<Proc> Procs { get; } = [new(true)];
    public List<Region> Regions { get; } = [];
    public List<PagesObj> Pages { get; } = [];
    public List<Iopt> Iopts { get; } = [];
    public List<Area> Areas { get; } = [];
    public List<Domain> Domains { get; } = [];
    public List<Access> Accesses { get; } = [];
    public List<Pin> Pins { get; } = [];

    public IEnumerable<int> LiveProcs => Enumerable.Range(0, Procs.Count).Where(i => !Procs[i].Exited);
    public IEnumerable<int> LiveRegions => Enumerable.Range(0, Regions.Count).Where(i => !Procs[Regions[i].Proc].Exited);
    public List<PagesObj> HeldPages => Pages.Where(p => p.Held).ToList();
    public List<Area> AreasOf(int iopt) => Areas.Where(a => a.Iopt == iopt).ToList();

    /// <summary>The length of a region built from <paramref name="segments"/>, laid out as World
    /// lays it out (huge runs aligned to 2 MiB relative to a 2 MiB-aligned base).</summary>
    public static ulong RegionLength(IReadOnlyList<Segment> segments)
    {
        const ulong huge = 512 * Page;
        ulong va = 0;
        foreach (var s in segments)
        {
            ulong n = Math.Max(1, s.Pages);
            if (s.Kind == SegmentKind.HugeRun)
                va = (va + huge - 1) & ~(huge - 1);
            if (s.Kind == SegmentKind.Alias)
            {
                n = Math.Min(n, va / Page);
                if (n == 0)
                    continue;
            }
            va += n * Page;
        }
        return va;
    }

    /// <summary>Updates the belief after <paramref name="op"/>, assuming it does what it was generated for.</summary>
    public void Apply(Op op)
    {
        switch (op)
        {
            case NewProcess o:
                Procs.Add(new Proc(o.SameUser));
                break;
            case MapUserMemory o when Pick(Procs, o.Process) is { Exited: false } && o.Segments.Count > 0:
                Regions.Add(new Region((int)((uint)o.Process % (uint)Procs.Count), RegionLength(o.Segments)));
                break;
            // iopt_alloc_pages only refuses a zero length or one within a page of SIZE_MAX.
            case CreatePages o when o.RawUptr && Pick(Regions, o.Region) is { } r && !Procs[r.Proc].Exited
                                    && o.Length > 0 && o.Length <= ulong.MaxValue - Page:
                Pages.Add(new PagesObj((int)((uint)o.Region % (uint)Regions.Count), o.Length, o.Writable));
                break;
            case CreatePages o when !o.RawUptr && Pick(Regions, o.Region) is { } r && !Procs[r.Proc].Exited && r.Length > 0 && o.Length > 0:
            {
                ulong off = o.Offset % r.Length;
                Pages.Add(new PagesObj((int)((uint)o.Region % (uint)Regions.Count), Math.Min(o.Length, r.Length - off), o.Writable));
                break;
            }
            case PutPages o when Pick(HeldPages, o.Pages) is { } p:
                p.Held = false;
                break;
            case CreateIopt:
                Iopts.Add(new Iopt());
                break;
            case MapArea o when Pick(Iopts, o.Iopt) is not null && Pick(HeldPages, o.Pages) is { } p
                                && o.Length > 0 && o.StartByte + o.Length <= p.Length && o.Iova is null
                                && (p.Writable || !o.Write):
                Areas.Add(new Area(Index(Iopts, o.Iopt), p, o.StartByte, o.Length, o.Write));
                break;
            case CopyArea o when Pick(Areas, o.Area) is { } a && Iopts.Count > 0 && o.Iova is null:
                Areas.Add(a with { Iopt = Index(Iopts, o.DstIopt) });
                break;
            case UnmapArea o when Pick(Areas, o.Area) is { } a:
                RemoveArea(a);
                break;
            case AttachDomain o when Iopts.Count > 0:
                Domains.Add(new Domain(Index(Iopts, o.Iopt)));
                break;
            case DetachDomain o when Pick(Domains, o.Domain) is { } d:
                Domains.Remove(d);
                break;
            case SetLargePages o when Pick(Iopts, o.Iopt) is { } i:
                if (!o.Disable || !Domains.Any(d => d.Iopt == Iopts.IndexOf(i)) || !Areas.Any(a => a.Iopt == Iopts.IndexOf(i)))
                    i.LargeDisabled = o.Disable;
                break;
            case SplitArea o when Pick(Areas, o.Area) is { } a && o.Offset % Page == 0 && o.Offset % a.Length != 0
                                  && !Pins.Any(p => p.Area == a):
            {
                ulong cut = o.Offset % a.Length;
                int i = Areas.IndexOf(a);
                Areas[i] = a with { Length = cut };
                Areas.Insert(i + 1, a with { StartByte = a.StartByte + cut, Length = a.Length - cut });
                break;
            }
            case CreateAccess o when Iopts.Count > 0:
                Accesses.Add(new Access(Index(Iopts, o.Iopt)));
                break;
            case DestroyAccess o when Pick(Accesses, o.Access) is { } x:
                Accesses.Remove(x);
                Pins.RemoveAll(p => p.Access == x);
                break;
            case AccessPin o when !o.Raw && o.Length > 0 && Pick(Accesses, o.Access) is { } x && Pick(AreasOf(x.Iopt), o.Area) is { } a
                                  && (a.Write || !o.Write):
                Pins.Add(new Pin(x, a));
                break;
            case AccessUnpin o when Pick(Pins, o.Pin) is { } p:
                Pins.Remove(p);
                break;
            case ProcessExit o when Procs.Count > 1:
                Procs[1 + (int)((uint)o.Process % (uint)(Procs.Count - 1))].Exited = true;
                break;
        }
    }

    private void RemoveArea(Area a)
    {
        Areas.Remove(a);
        Pins.RemoveAll(p => p.Area == a);
    }

    public static T? Pick<T>(List<T> list, int index) where T : class =>
        list.Count == 0 ? null : list[(int)((uint)index % (uint)list.Count)];

    private static int Index<T>(List<T> list, int index) => (int)((uint)index % (uint)list.Count);
}
