// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Model.Kernel;

/// <summary>
/// State that one owner (an execution context) keeps per OS thread, held by the owner and nothing
/// else: when the owner (and the run it belongs to) becomes unreachable, so do its entries, even
/// for a thread that lives on, such as the main thread of a long explore. This is why the contexts
/// do not use <see cref="ThreadLocal{T}"/>: an undisposed ThreadLocal keeps its value reachable
/// from every thread that set it, and a task_struct kept that way reaches the whole fake kernel
/// (issue 13: a long explore kept every run's world alive). Nor a ConditionalWeakTable keyed by
/// the thread: its entry for a live thread keeps its value alive, and the value reaches the table.
/// The owner keeps entries of threads that have ended until it is dropped itself (a run has few).
/// The last thread's entry is cached, so a run on one thread pays one reference compare per lookup.
/// </summary>
public sealed class PerThread<T>(Func<T> create) where T : class
{
    private readonly Dictionary<Thread, T> table = new(ReferenceEqualityComparer.Instance);
    private Entry? last;

    private sealed class Entry(Thread thread, T value)
    {
        public readonly Thread Thread = thread;
        public readonly T Value = value;
    }

    /// <summary>The calling thread's entry, created on first use.</summary>
    public T Value
    {
        get
        {
            var thread = Thread.CurrentThread;
            var cached = Volatile.Read(ref last);
            if (cached is not null && ReferenceEquals(cached.Thread, thread))
                return cached.Value;
            T value;
            lock (table)
            {
                if (!table.TryGetValue(thread, out value!))
                    table[thread] = value = create();
            }
            Volatile.Write(ref last, new Entry(thread, value));
            return value;
        }
    }

    /// <summary>The calling thread's entry, or null if it has none (never creates one).</summary>
    public T? Existing
    {
        get
        {
            var thread = Thread.CurrentThread;
            var cached = Volatile.Read(ref last);
            if (cached is not null && ReferenceEquals(cached.Thread, thread))
                return cached.Value;
            lock (table)
                return table.TryGetValue(thread, out var value) ? value : null;
        }
    }

    /// <summary>Makes <paramref name="value"/> the calling thread's entry.</summary>
    public void Set(T value)
    {
        var thread = Thread.CurrentThread;
        lock (table)
            table[thread] = value;
        Volatile.Write(ref last, new Entry(thread, value));
    }
}
