// SPDX-License-Identifier: GPL-2.0-only
// STUB: to be replaced by the physical memory fake.
namespace Iommufd.Model.Kernel;

/// <summary>Physical memory: frames by PFN.</summary>
public sealed partial class PhysMem(FakeKernel kernel)
{
    internal FakeKernel Kernel { get; } = kernel;
}
