// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Model.Patches;
using Xunit;

namespace Iommufd.Tests.Harness;

/// <summary>The patch catalogue tells kernel fixes from fixes around the code under test.</summary>
public sealed class PatchCatalogTests
{
    [Fact]
    public void Every_patch_has_a_unique_name_and_a_kind_its_name_agrees_with()
    {
        Assert.Equal(ModelPatches.Catalog.Count, ModelPatches.Catalog.Select(p => p.Name).Distinct().Count());
        foreach (var p in ModelPatches.Catalog)
        {
            // Fixes outside pages.c say where they are in their names.
            bool callers = p.Name.StartsWith("callers-", StringComparison.Ordinal);
            bool selftest = p.Name.StartsWith("selftest-", StringComparison.Ordinal);
            Assert.Equal(callers ? PatchKind.Callers : selftest ? PatchKind.TestDriver : PatchKind.Kernel, p.Kind);
        }
    }

    [Fact]
    public void A_kernel_patch_names_its_finding()
    {
        foreach (var p in ModelPatches.Catalog.Where(p => p.Kind == PatchKind.Kernel))
            Assert.Matches(@"\(finding \d{4}\)$", p.Description);
    }
}
