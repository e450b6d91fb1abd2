// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Model.Kernel;

/// <summary>Base of the lock objects. A lock has a lockdep class (all
/// <c>iopt_pages::mutex</c> instances share one) and is acquired only through the
/// execution context, so that a controlled scheduler can take over every blocking point.</summary>
public abstract class KLock(string lockClass)
{
    /// <summary>lockdep class name, e.g. "iopt_pages.mutex".</summary>
    public string LockClass { get; } = lockClass;

    // State manipulated only by the execution context under its own discipline.
    internal object? Owner;          // exclusive holder (task), null if none
    internal int Readers;            // shared holders (rw_semaphore read side)
    internal bool Destroyed;

    public bool IsLocked => Owner is not null || Readers > 0;
    public override string ToString() => LockClass;
}

/// <summary><c>struct mutex</c>: sleeping, exclusive, owner-tracked.</summary>
public sealed class mutex(string lockClass) : KLock(lockClass);

/// <summary><c>struct rw_semaphore</c>: sleeping, shared readers or one writer.</summary>
public sealed class rw_semaphore(string lockClass) : KLock(lockClass);

/// <summary><c>spinlock_t</c> (as used for <c>xa_lock</c>): exclusive, no sleeping inside.</summary>
public sealed class spinlock_t(string lockClass) : KLock(lockClass);

public enum LockMode { Exclusive, Shared }
