// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Harness.Generation;

/// <summary>
/// Derives independent 64-bit seeds from a parent seed and a stream number (SplitMix64 finaliser).
/// Every random choice of generation and exploration comes from a seed derived this way, so a run
/// is a pure function of its master seed.
/// </summary>
public static class SeedMix
{
    public static ulong Derive(ulong seed, ulong stream)
    {
        ulong z = seed + (stream + 1) * 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>An FsCheck random state from a seed (the gamma must be odd).</summary>
    public static FsCheck.Rnd Rnd(ulong seed) => new(Derive(seed, 0x5EED), Derive(seed, 0x6A33A) | 1);
}
