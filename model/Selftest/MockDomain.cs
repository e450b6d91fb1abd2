// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;

using Iommufd.Model.Kernel;

namespace Iommufd.Model.Selftest;

/// <summary>The map-call boundary tags a mock IO page carries.</summary>
[Flags]
public enum MockTags
{
    None = 0,
    /// <summary>The first IO page of a map_pages call.</summary>
    Start = 1,
    /// <summary>The last IO page of a map_pages call.</summary>
    Last = 2,
}

/// <summary>One 2K IO page of a mock domain: its IOVA, physical base and tags.</summary>
public readonly record struct MockIoPage(ulong Iova, ulong Paddr, MockTags Tags);

/// <summary>
/// The iommufd selftest's mock iommu_domain (v6.2 selftest.c). One page size, MOCK_IO_PAGE_SIZE =
/// 2048 (half a CPU page, so areas may begin half-way into a page); aperture [2^24, 2^31 - 1].
/// Storage per 2K IO page: the 2K frame number (paddr / 2048) and the tags START/LAST marking the
/// first and last IO page of each map_pages call.
/// Models: the fault point at the top of map_pages (-ENOENT, nothing of the call mapped); WARNs on
/// a misaligned IOVA or page size, on mapping an IOVA twice, on unmapping a missing IO page, on an
/// unmap whose first IO page lacks START or whose last lacks LAST (unmaps must start and end on
/// earlier map boundaries), on iova_to_phys of a misaligned or unmapped IOVA, and on freeing a
/// non-empty domain. iova_to_phys returns the 2K page's base without the offset inside it. As in
/// v6.2, a map of a single IO page tags it LAST only (the LAST assignment replaces START) unless
/// <c>tagSingleEntryStart</c> is set, and unmap_pages counts every IO page it visits, present or not.
/// Does not model: the xarray's own allocation failures (the mock in v6.2 adds its fault point
/// because of them), interleaving inside one map_pages/unmap_pages call (each is atomic here), prot
/// (recorded for the oracle only; the mock ignores it), the aperture (not enforced by the mock).
/// </summary>
public sealed class MockDomain : iommu_domain
{
    public const ulong MOCK_IO_PAGE_SIZE = 2048;
    public const ulong MOCK_APERTURE_START = 1UL << 24;
    public const ulong MOCK_APERTURE_LAST = (1UL << 31) - 1;
    private const int ENOENT = 2;

    private readonly object gate = new();
    private readonly Dictionary<ulong, Entry> pfns = [];
    private readonly bool tagSingleEntryStart;

    private readonly record struct Entry(ulong Pfn, MockTags Tags, int Prot);

    /// <param name="kernel">The kernel whose checks and fault injector the domain uses.</param>
    /// <param name="name">A readable name for reports.</param>
    /// <param name="tagSingleEntryStart">Tag a single-IO-page map both START and LAST (v6.2 tags it
    /// LAST only, so unmapping it alone WARNs).</param>
    public MockDomain(FakeKernel kernel, string name = "mock", bool tagSingleEntryStart = false)
        : base(kernel, name, MOCK_IO_PAGE_SIZE, new iommu_domain_geometry(MOCK_APERTURE_START, MOCK_APERTURE_LAST, true))
    {
        this.tagSingleEntryStart = tagSingleEntryStart;
    }

    protected override string FreeFunction => "mock_domain_free";

    public override int map_pages(ulong iova, ulong paddr, ulong pgsize, ulong pgcount, int prot, out ulong mapped)
    {
        const string fn = "mock_domain_map_pages";
        mapped = 0;
        CheckAlive(fn);
        if (Kernel.ShouldFail(FaultSites.IommuMapMock) || TestHooks.TakeMapFailure())
            return -ENOENT;

        var warnings = new List<string>();
        if (iova % MOCK_IO_PAGE_SIZE != 0)
            warnings.Add($"iova {iova:x} not aligned to {MOCK_IO_PAGE_SIZE}");
        if (pgsize % MOCK_IO_PAGE_SIZE != 0)
            warnings.Add($"pgsize {pgsize:x} not a multiple of {MOCK_IO_PAGE_SIZE}");

        lock (gate)
        {
            MockTags tags = MockTags.Start;
            for (ulong page = 0; page < pgcount; page++)
            {
                for (ulong cur = 0; cur < pgsize; cur += MOCK_IO_PAGE_SIZE)
                {
                    if (page == pgcount - 1 && cur + MOCK_IO_PAGE_SIZE >= pgsize)
                        tags = tagSingleEntryStart ? tags | MockTags.Last : MockTags.Last;
                    ulong index = iova / MOCK_IO_PAGE_SIZE;
                    if (pfns.ContainsKey(index))
                        warnings.Add($"iova {iova:x} mapped twice");
                    pfns[index] = new Entry(TestHooks.Paddr(iova, paddr) / MOCK_IO_PAGE_SIZE, tags, prot);
                    iova += MOCK_IO_PAGE_SIZE;
                    paddr += MOCK_IO_PAGE_SIZE;
                    mapped += MOCK_IO_PAGE_SIZE;
                    tags = MockTags.None;
                }
            }
        }
        Warn(fn, warnings);
        return 0;
    }

    public override ulong unmap_pages(ulong iova, ulong pgsize, ulong pgcount)
    {
        const string fn = "mock_domain_unmap_pages";
        CheckAlive(fn);
        var warnings = new List<string>();
        if (iova % MOCK_IO_PAGE_SIZE != 0)
            warnings.Add($"iova {iova:x} not aligned to {MOCK_IO_PAGE_SIZE}");
        if (pgsize % MOCK_IO_PAGE_SIZE != 0)
            warnings.Add($"pgsize {pgsize:x} not a multiple of {MOCK_IO_PAGE_SIZE}");

        ulong unmapped = 0;
        bool first = true;
        lock (gate)
        {
            for (ulong page = 0; page < pgcount; page++)
            {
                for (ulong cur = 0; cur < pgsize; cur += MOCK_IO_PAGE_SIZE)
                {
                    // A missing entry reads as zero: no tags either, as in the kernel.
                    if (!pfns.Remove(iova / MOCK_IO_PAGE_SIZE, out Entry entry))
                        warnings.Add($"iova {iova:x} is not mapped");
                    if (first)
                    {
                        if ((entry.Tags & MockTags.Start) == 0)
                            warnings.Add($"unmap starts at iova {iova:x}, which did not start a map");
                        first = false;
                    }
                    if (page == pgcount - 1 && cur + MOCK_IO_PAGE_SIZE >= pgsize && (entry.Tags & MockTags.Last) == 0)
                        warnings.Add($"unmap ends at iova {iova:x}, which did not end a map");
                    iova += MOCK_IO_PAGE_SIZE;
                    unmapped += MOCK_IO_PAGE_SIZE;
                }
            }
        }
        Warn(fn, warnings);
        return unmapped;
    }

    public override ulong iova_to_phys(ulong iova)
    {
        const string fn = "mock_domain_iova_to_phys";
        CheckAlive(fn);
        var warnings = new List<string>();
        if (iova % MOCK_IO_PAGE_SIZE != 0)
            warnings.Add($"iova {iova:x} not aligned to {MOCK_IO_PAGE_SIZE}");
        Entry entry;
        lock (gate)
        {
            if (!pfns.TryGetValue(iova / MOCK_IO_PAGE_SIZE, out entry))
                warnings.Add($"iova {iova:x} is not mapped");
        }
        Warn(fn, warnings);
        return entry.Pfn * MOCK_IO_PAGE_SIZE;
    }

    /// <summary>The IO pages with their tags, in IOVA order.</summary>
    public IReadOnlyList<MockIoPage> IoPages
    {
        get
        {
            lock (gate)
                return pfns.OrderBy(kv => kv.Key)
                    .Select(kv => new MockIoPage(kv.Key * MOCK_IO_PAGE_SIZE, kv.Value.Pfn * MOCK_IO_PAGE_SIZE, kv.Value.Tags))
                    .ToArray();
        }
    }

    /// <summary>One mapping per 2K IO page, in IOVA order.</summary>
    public override IReadOnlyList<IommuMapping> Mappings
    {
        get
        {
            lock (gate)
                return pfns.OrderBy(kv => kv.Key)
                    .Select(kv => new IommuMapping(kv.Key * MOCK_IO_PAGE_SIZE, MOCK_IO_PAGE_SIZE, kv.Value.Pfn * MOCK_IO_PAGE_SIZE, kv.Value.Prot))
                    .ToArray();
        }
    }

    public override ulong MappedBytes { get { lock (gate) return (ulong)pfns.Count * MOCK_IO_PAGE_SIZE; } }

    private void Warn(string function, List<string> warnings)
    {
        foreach (string w in warnings)
            Kernel.Checks.Report(CheckKind.Warn, function, $"{Name}: {w}");
    }
}
