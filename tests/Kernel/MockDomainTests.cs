// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Model.Kernel;
using Iommufd.Model.Selftest;

namespace Iommufd.Tests.Kernel;

public class MockDomainTests
{
    private const ulong IO = MockDomain.MOCK_IO_PAGE_SIZE;
    private const ulong Base = MockDomain.MOCK_APERTURE_START;
    private const int RW = KernelApi.IOMMU_READ | KernelApi.IOMMU_WRITE;

    private static (FakeKernel Kernel, IommuTestApi Api, MockDomain Domain) Make(FakeKernel? kernel = null, bool tagSingleEntryStart = false)
    {
        kernel ??= new FakeKernel();
        return (kernel, new IommuTestApi(kernel), new MockDomain(kernel, tagSingleEntryStart: tagSingleEntryStart));
    }

    private static CheckViolation SingleWarn(FakeKernel kernel, string function)
    {
        var v = Assert.Single(kernel.Checks.Violations);
        Assert.Equal((CheckKind.Warn, function), (v.Kind, v.Function));
        return v;
    }

    [Fact]
    public void Has_the_selftest_page_size_and_aperture()
    {
        var (_, _, d) = Make();
        Assert.Equal(2048UL, d.pgsize_bitmap);
        Assert.Equal(new iommu_domain_geometry(1UL << 24, (1UL << 31) - 1, true), d.geometry);
        Assert.Equal("mock", d.Name);
        Assert.True(d.IsEmpty);
    }

    [Fact]
    public void Map_tags_the_first_io_page_START_and_the_last_LAST()
    {
        var (kernel, api, d) = Make();
        Assert.Equal(0, api.iommu_map(d, Base, 0x10000, 4 * IO, RW));
        Assert.Equal(
        [
            new MockIoPage(Base, 0x10000, MockTags.Start),
            new MockIoPage(Base + IO, 0x10000 + IO, MockTags.None),
            new MockIoPage(Base + 2 * IO, 0x10000 + 2 * IO, MockTags.None),
            new MockIoPage(Base + 3 * IO, 0x10000 + 3 * IO, MockTags.Last),
        ], d.IoPages);
        Assert.Equal(4 * IO, d.MappedBytes);
        Assert.Equal(4, d.Mappings.Count);
        Assert.Equal(new IommuMapping(Base + IO, IO, 0x10000 + IO, RW), d.Mappings[1]);
        Assert.Equal(0, kernel.Checks.Count);
    }

    [Fact]
    public void Unmap_on_map_boundaries_is_silent_and_returns_the_size()
    {
        var (kernel, api, d) = Make();
        Assert.Equal(0, api.iommu_map(d, Base, 0x10000, 2 * IO, RW));
        Assert.Equal(0, api.iommu_map(d, Base + 2 * IO, 0x40000, 4 * IO, RW));
        Assert.Equal(6 * IO, api.iommu_unmap(d, Base, 6 * IO));
        Assert.True(d.IsEmpty);
        Assert.Equal(0, kernel.Checks.Count);
    }

    [Fact]
    public void Unmap_that_ends_inside_a_map_is_reported()
    {
        var (kernel, api, d) = Make();
        Assert.Equal(0, api.iommu_map(d, Base, 0x10000, 4 * IO, RW));
        Assert.Equal(2 * IO, api.iommu_unmap(d, Base, 2 * IO));
        Assert.Contains("did not end a map", SingleWarn(kernel, "mock_domain_unmap_pages").Message);
        Assert.Equal(2 * IO, d.MappedBytes);
    }

    [Fact]
    public void Unmap_that_starts_inside_a_map_is_reported()
    {
        var (kernel, api, d) = Make();
        Assert.Equal(0, api.iommu_map(d, Base, 0x10000, 4 * IO, RW));
        Assert.Equal(2 * IO, api.iommu_unmap(d, Base + 2 * IO, 2 * IO));
        Assert.Contains("did not start a map", SingleWarn(kernel, "mock_domain_unmap_pages").Message);
    }

    [Fact]
    public void Unmap_of_a_missing_page_is_reported_and_still_counted()
    {
        var (kernel, api, d) = Make();
        Assert.Equal(0, api.iommu_map(d, Base, 0x10000, 2 * IO, RW));
        // [Base, +2 pages) mapped; the third page is missing (and so also lacks LAST).
        Assert.Equal(3 * IO, api.iommu_unmap(d, Base, 3 * IO));
        var messages = kernel.Checks.Violations.Select(v => (v.Kind, v.Function, v.Message)).ToArray();
        Assert.Equal(2, messages.Length);
        Assert.All(messages, m => Assert.Equal((CheckKind.Warn, "mock_domain_unmap_pages"), (m.Kind, m.Function)));
        Assert.Contains("is not mapped", messages[0].Message);
        Assert.Contains("did not end a map", messages[1].Message);
        Assert.True(d.IsEmpty);
    }

    [Fact]
    public void Mapping_an_iova_twice_is_reported_and_the_new_entry_wins()
    {
        var (kernel, api, d) = Make();
        Assert.Equal(0, api.iommu_map(d, Base, 0x10000, 2 * IO, RW));
        Assert.Equal(0, api.iommu_map(d, Base + IO, 0x80000, 2 * IO, RW));
        Assert.Contains("mapped twice", SingleWarn(kernel, "mock_domain_map_pages").Message);
        Assert.Equal(0x80000UL, d.iova_to_phys(Base + IO));
        Assert.Equal(3 * IO, d.MappedBytes);
    }

    [Fact]
    public void Misaligned_driver_arguments_are_reported()
    {
        var (kernel, _, d) = Make();
        Assert.Equal(0, d.map_pages(Base + 0x400, 0x10000, IO, 1, RW, out ulong mapped));
        Assert.Equal(IO, mapped);
        Assert.Contains("not aligned", SingleWarn(kernel, "mock_domain_map_pages").Message);
        kernel.Checks.Clear();
        Assert.Equal(0, d.map_pages(Base + 8 * IO, 0x10000, 0x1000 + 0x400, 1, RW, out _));
        Assert.Contains("not a multiple", SingleWarn(kernel, "mock_domain_map_pages").Message);
        kernel.Checks.Clear();
        d.unmap_pages(Base + 0x400, IO, 1);
        Assert.Contains(kernel.Checks.Violations, v => v.Function == "mock_domain_unmap_pages" && v.Message.Contains("not aligned"));
    }

    [Fact]
    public void A_single_page_map_is_tagged_LAST_only_as_in_v6_2_so_unmapping_it_warns()
    {
        var (kernel, api, d) = Make();
        Assert.Equal(0, api.iommu_map(d, Base + IO, 0x10800, IO, RW));
        Assert.Equal([new MockIoPage(Base + IO, 0x10800, MockTags.Last)], d.IoPages);
        Assert.Equal(IO, api.iommu_unmap(d, Base + IO, IO));
        Assert.Contains("did not start a map", SingleWarn(kernel, "mock_domain_unmap_pages").Message);
    }

    [Fact]
    public void The_option_tags_a_single_page_map_START_and_LAST()
    {
        var (kernel, api, d) = Make(tagSingleEntryStart: true);
        Assert.Equal(0, api.iommu_map(d, Base + IO, 0x10800, IO, RW));
        Assert.Equal([new MockIoPage(Base + IO, 0x10800, MockTags.Start | MockTags.Last)], d.IoPages);
        Assert.Equal(IO, api.iommu_unmap(d, Base + IO, IO));
        Assert.Equal(0, kernel.Checks.Count);
    }

    [Fact]
    public void Iova_to_phys_at_a_2K_offset_returns_that_io_page_base()
    {
        var (kernel, api, d) = Make();
        // A CPU page at 0x10000 mapped starting half-way in: IOVA Base+2K holds paddr 0x10800.
        Assert.Equal(0, api.iommu_map(d, Base + IO, 0x10800, 3 * IO, RW));
        Assert.Equal(0x10800UL, api.iommu_iova_to_phys(d, Base + IO));
        Assert.Equal(0x11000UL, api.iommu_iova_to_phys(d, Base + 2 * IO));
        Assert.Equal(0, kernel.Checks.Count);
    }

    [Fact]
    public void Iova_to_phys_does_not_add_the_offset_inside_the_io_page_and_warns_on_it()
    {
        var (kernel, api, d) = Make();
        Assert.Equal(0, api.iommu_map(d, Base, 0x10000, 2 * IO, RW));
        Assert.Equal(0x10800UL, api.iommu_iova_to_phys(d, Base + IO + 0x123));
        Assert.Contains("not aligned", SingleWarn(kernel, "mock_domain_iova_to_phys").Message);
    }

    [Fact]
    public void Iova_to_phys_of_an_unmapped_iova_warns_and_returns_0()
    {
        var (kernel, api, d) = Make();
        Assert.Equal(0UL, api.iommu_iova_to_phys(d, Base));
        Assert.Contains("is not mapped", SingleWarn(kernel, "mock_domain_iova_to_phys").Message);
    }

    [Fact]
    public void The_fault_point_fails_map_pages_with_ENOENT_and_maps_nothing()
    {
        var kernel = IommuTestApi.Failing(FaultSites.IommuMapMock, 1);
        var (_, _, d) = Make(kernel);
        Assert.Equal(-KernelApi.ENOENT, d.map_pages(Base, 0x10000, IO, 4, RW, out ulong mapped));
        Assert.Equal(0UL, mapped);
        Assert.True(d.IsEmpty);
        Assert.Equal(FaultSites.IommuMapMock, Assert.Single(kernel.Faults.Injected).Site);
        Assert.Equal(0, d.map_pages(Base, 0x10000, IO, 4, RW, out mapped));
        Assert.Equal(4 * IO, mapped);
    }

    [Fact]
    public void Freeing_a_non_empty_domain_warns_and_an_empty_one_does_not()
    {
        var (kernel, api, d) = Make();
        Assert.Equal(0, api.iommu_map(d, Base, 0x10000, 2 * IO, RW));
        d.Free();
        Assert.Contains("still mapped", SingleWarn(kernel, "mock_domain_free").Message);

        var (kernel2, _, empty) = Make();
        empty.Free();
        Assert.True(empty.IsFreed);
        Assert.Equal(0, kernel2.Checks.Count);
    }

    [Fact]
    public void Double_free_and_use_after_free_are_misuse()
    {
        var (kernel, _, d) = Make();
        d.Free();
        d.Free();
        d.map_pages(Base, 0, IO, 1, RW, out _);
        Assert.Equal([(CheckKind.FakeMisuse, "mock_domain_free"), (CheckKind.FakeMisuse, "mock_domain_map_pages")],
            kernel.Checks.Violations.Select(v => (v.Kind, v.Function)));
    }
}
