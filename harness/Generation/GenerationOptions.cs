// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Harness.Generation;

/// <summary>
/// Knobs of the scenario generator. <see cref="MaxPages"/> is the largest user memory segment
/// (in pages) at the largest size; sizes scale it down linearly. <see cref="MaxOps"/> is the
/// longest sequence, reached at size 100.
/// </summary>
public sealed record GenerationOptions(int MaxPages = 2048, int MaxOps = 60)
{
    public static readonly GenerationOptions Default = new();

    /// <summary>FsCheck's size range: 1 (tiny) to 100 (largest).</summary>
    public const int MaxSize = 100;
}
