// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Harness.Scheduling;

/// <summary>
/// A small seeded PRNG (SplitMix64, Steele, Lea and Flood, OOPSLA 2014) owned by this project, so
/// that a strategy's choices depend on its seed only, never on the runtime's generator.
/// </summary>
public sealed class SplitMix64(ulong seed)
{
    private ulong state = seed;

    public ulong Next()
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A uniform integer in [0, <paramref name="bound"/>) (bound &gt; 0), without modulo bias.</summary>
    public int NextInt(int bound)
    {
        if (bound <= 0)
            throw new ArgumentOutOfRangeException(nameof(bound), bound, "the bound must be positive");
        ulong b = (ulong)bound;
        ulong limit = ulong.MaxValue - ulong.MaxValue % b;
        ulong x;
        do x = Next(); while (x >= limit);
        return (int)(x % b);
    }
}
