// SPDX-License-Identifier: GPL-2.0-only
using System.Diagnostics;
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;
using Iommufd.Harness.Repro;

namespace Iommufd.Cli;

/// <summary>
/// A stand-in engine so that the program works end to end before the real explorer and the
/// specification oracle are wired in: a small seeded generator (<see cref="FallbackGenerator"/>),
/// a greedy one-operation-at-a-time shrinker, and <see cref="KernelChecksOracle"/>, which only
/// sees what the fake kernel itself reports. It is deliberately simple; it is not the product.
/// </summary>
public sealed class FallbackBackend : IExplorationBackend
{
    /// <summary>Upper bound on the runs one shrink may spend.</summary>
    private const int ShrinkRunBudget = 2000;

    public string Name => "fallback";

    public Func<IOracle> Oracle(bool on) => on ? () => new KernelChecksOracle() : () => new NullOracle();

    public ExploreOutcome Explore(ExploreRequest request)
    {
        var clock = Stopwatch.StartNew();
        var counters = new RunCounters();
        var oracle = Oracle(request.OracleOn);
        FoundFailure? failure = null;
        bool interrupted = false;
        TimeSpan? exploring = null;
        for (long i = 0; request.Iterations is null || i < request.Iterations; i++)
        {
            if (request.Cancel.IsCancellationRequested) { interrupted = true; break; }
            if (request.TimeBudget is { } budget && clock.Elapsed >= budget) break;
            var scenario = FallbackGenerator.Generate(Seeds.Derive(request.Seed, (ulong)i), request.MaxSize, request.Patches);
            var report = Runner.Run(scenario, oracle);
            counters.Add(report);
            request.Progress?.Invoke(new ExploreProgress(counters.Sequences, counters.Operations, clock.Elapsed));
            if (report.Violation is { } violation)
            {
                exploring = clock.Elapsed; // rates cover exploration, not shrinking
                request.OnFailure?.Invoke(scenario, violation);
                var shrunk = Shrink(scenario, violation, oracle, request.Cancel);
                var replay = Replay(shrunk, oracle);
                failure = new FoundFailure(scenario, shrunk, replay.Report.Violation ?? violation,
                    ReproducerCodec.Encode(shrunk), replay.Text);
                interrupted = request.Cancel.IsCancellationRequested;
                break;
            }
        }
        return counters.ToOutcome(exploring ?? clock.Elapsed, failure, interrupted);
    }

    public ReplayOutcome Replay(Scenario scenario) => Replay(scenario, Oracle(true));

    private static ReplayOutcome Replay(Scenario scenario, Func<IOracle> oracle)
    {
        var report = Runner.Run(scenario, oracle);
        return new ReplayOutcome(report, ReplayText.Render(report));
    }

    public IReadOnlyList<Scenario> Workload(ulong seed, int count, int maxSize) =>
        Enumerable.Range(0, count).Select(i => FallbackGenerator.Generate(Seeds.Derive(seed, (ulong)i), maxSize, [])).ToArray();

    /// <summary>Removes operations one at a time, last first, while the same invariant still
    /// breaks; repeats until no single removal keeps the failure (or the budget runs out).</summary>
    private static Scenario Shrink(Scenario scenario, Violation violation, Func<IOracle> oracle, CancellationToken cancel)
    {
        var ops = scenario.Ops.ToList();
        int runs = 0;
        bool progress = true;
        while (progress && runs < ShrinkRunBudget && !cancel.IsCancellationRequested)
        {
            progress = false;
            for (int i = ops.Count - 1; i >= 0 && runs < ShrinkRunBudget && !cancel.IsCancellationRequested; i--)
            {
                var candidate = ops.Where((_, j) => j != i).ToList();
                runs++;
                var report = Runner.Run(scenario with { Ops = candidate }, oracle);
                if (report.Violation?.Invariant == violation.Invariant)
                {
                    ops = candidate;
                    progress = true;
                }
            }
        }
        return scenario with { Ops = ops };
    }
}

/// <summary>Counts what a set of runs did, for the summary.</summary>
public sealed class RunCounters
{
    private readonly SortedDictionary<string, long> byKind = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, long> errorPaths = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, long> faultSites = new(StringComparer.Ordinal);

    public long Sequences { get; private set; }
    public long Operations { get; private set; }

    public void Add(RunReport report)
    {
        Sequences++;
        foreach (var step in report.Steps)
        {
            if (step.Result.Skipped) continue;
            Operations++;
            string kind = step.Op.GetType().Name;
            Bump(byKind, kind);
            if (step.Result.Rc != 0)
                Bump(errorPaths, $"{kind} rc={step.Result.Rc}");
        }
        foreach (var (site, hits) in report.SiteHits)
            if (hits > 0) Bump(faultSites, site, hits);
    }

    public ExploreOutcome ToOutcome(TimeSpan elapsed, FoundFailure? failure, bool interrupted) =>
        new(Sequences, Operations, elapsed, new Dictionary<string, long>(byKind), new Dictionary<string, long>(errorPaths),
            new Dictionary<string, long>(faultSites), failure, interrupted);

    private static void Bump(SortedDictionary<string, long> map, string key, long by = 1) =>
        map[key] = map.GetValueOrDefault(key) + by;
}

/// <summary>Deterministic per-scenario seeds and random numbers (SplitMix64), independent of the
/// runtime's <see cref="Random"/> implementation so a seed means the same run everywhere.</summary>
public static class Seeds
{
    public static ulong Derive(ulong master, ulong index) => Mix(master ^ Mix(index + 0x9E3779B97F4A7C15UL));

    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}

/// <summary>A SplitMix64 stream of random choices.</summary>
public sealed class SeededRandom(ulong seed)
{
    private ulong state = seed;

    public ulong Next() => Seeds.Mix(state += 0x9E3779B97F4A7C15UL);

    /// <summary>A number in [0, n).</summary>
    public int Below(int n) => n <= 1 ? 0 : (int)(Next() % (ulong)n);

    public bool Chance(int percent) => Below(100) < percent;
}

/// <summary>
/// The stand-in generator: every region has the same length and every iopt_pages covers the same
/// prefix of its region, so maps stay inside the pages they map (as the real callers ensure); a
/// process-0 region, an iopt_pages and an io_pagetable come first, then a seeded mix of the
/// common operations (maps, domains, accesses, pins, rw, copies, splits, temporary-memory limits).
/// Handles are small integers, resolved modulo live objects by the world. It does not aim at every
/// branch; the real generator does.
/// </summary>
public static class FallbackGenerator
{
    private const ulong Page = World.PAGE_SIZE;

    public static Scenario Generate(ulong seed, int maxSize, IReadOnlyList<string> patches)
    {
        var rnd = new SeededRandom(seed);
        int maxPages = Math.Max(1, Math.Min(maxSize, 64));
        var shape = new Shape(Layout(rnd, maxPages), 0);
        shape = shape with { PagesLength = 1 + rnd.Below(shape.RegionPages) };
        var ops = new List<Op>
        {
            new MapUserMemory(0, shape.Segments),
            NewPages(rnd, shape),
            new CreateIopt(),
        };
        int count = 3 + rnd.Below(Math.Max(2, maxSize / 2));
        for (int i = 0; i < count; i++)
            ops.Add(NextOp(rnd, shape));
        return new Scenario(patches, "none", ops);
    }

    /// <summary>The memory layout of every region and the page count of every iopt_pages.</summary>
    private sealed record Shape(IReadOnlyList<Segment> Segments, int PagesLength)
    {
        public int RegionPages => Segments.Sum(s => (int)s.Pages);
    }

    private static List<Segment> Layout(SeededRandom rnd, int maxPages)
    {
        var segments = new List<Segment>();
        int n = 1 + rnd.Below(3);
        for (int i = 0; i < n; i++)
        {
            var kind = rnd.Below(5) switch { 0 => SegmentKind.Scattered, 1 when i > 0 => SegmentKind.Hole, _ => SegmentKind.Run };
            segments.Add(new Segment(kind, (ulong)(1 + rnd.Below(maxPages)), ReadOnly: rnd.Chance(10)));
        }
        return segments;
    }

    private static CreatePages NewPages(SeededRandom rnd, Shape shape) =>
        new(rnd.Below(4), 0, (ulong)shape.PagesLength * Page, rnd.Chance(85), (byte)rnd.Below(3));

    private static Op NextOp(SeededRandom rnd, Shape shape)
    {
        int pages = shape.PagesLength;
        int H() => rnd.Below(4);
        ulong Offset() => (ulong)rnd.Below(pages) * Page;
        switch (rnd.Below(16))
        {
            case 0 or 1:
            {
                int first = rnd.Below(pages);
                int length = 1 + rnd.Below(pages - first);
                return new MapArea(H(), H(), (ulong)first * Page, (ulong)length * Page, null, rnd.Chance(80));
            }
            case 2: return new AttachDomain(H(), rnd.Chance(50) ? DomainKind.Mock : DomainKind.PageTable);
            case 3: return new DetachDomain(H());
            case 4: return new CreateAccess(H());
            case 5 or 6: return new AccessPin(H(), H(), Offset(), (ulong)(1 + rnd.Below(pages)) * Page, rnd.Chance(50));
            case 7: return new AccessUnpin(H());
            case 8:
                return new AccessRw(H(), H(), (ulong)rnd.Below(pages * (int)Page), (ulong)(1 + rnd.Below(3 * (int)Page)),
                    rnd.Chance(50), (RwContext)rnd.Below(3), rnd.Chance(30), rnd.Below(1000));
            case 9: return new UnmapArea(H());
            case 10: return new CopyArea(H(), H(), null);
            case 11: return new CreateIopt();
            case 12: return new SetTempMemoryLimit(rnd.Below(4) switch { 0 => 16, 1 => 32, 2 => 4096, _ => 65536 });
            case 13: return new UserWrite(H(), Offset(), (ulong)(1 + rnd.Below(2 * (int)Page)), rnd.Below(1000));
            case 14: return new MapUserMemory(0, shape.Segments);
            default: return NewPages(rnd, shape);
        }
    }
}

