// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Model.Kernel;

/// <summary><c>atomic64_t</c>: a signed 64-bit counter. Every operation is a scheduling point of
/// the execution context (an atomic is where another CPU's effect becomes visible).</summary>
public sealed class atomic64_t
{
    internal long counter;
    public long Value => Interlocked.Read(ref counter);
}

/// <summary><c>atomic_long_t</c> (64-bit <c>long</c>).</summary>
public sealed class atomic_long_t
{
    internal long counter;
    public long Value => Interlocked.Read(ref counter);
}

/// <summary><c>struct kref</c>: a reference count whose last put calls a release function.</summary>
public sealed class kref(object? container = null)
{
    /// <summary>The structure this kref is embedded in (for container_of).</summary>
    public object? Container { get; } = container;
    internal int refcount;
    public int Value => Volatile.Read(ref refcount);
}
