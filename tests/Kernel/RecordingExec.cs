// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Model.Kernel;

namespace Iommufd.Tests.Kernel;

/// <summary>The plain execution context, recording the scheduling points it is shown.</summary>
internal sealed class RecordingExec(Checks checks) : IExecutionContext
{
    private readonly PlainExecutionContext inner = new(checks);
    public List<string> Points { get; } = [];
    public task_struct Current => inner.Current;
    public void SetCurrent(task_struct task) => inner.SetCurrent(task);
    public void Acquire(KLock l, LockMode mode) => inner.Acquire(l, mode);
    public void Release(KLock l, LockMode mode) => inner.Release(l, mode);
    public bool HeldByCurrent(KLock l) => inner.HeldByCurrent(l);
    public bool HeldByCurrent(KLock l, LockMode mode) => inner.HeldByCurrent(l, mode);
    public void RcuReadLock() => inner.RcuReadLock();
    public void RcuReadUnlock() => inner.RcuReadUnlock();
    public bool InRcuReadSection => inner.InRcuReadSection;
    public void SchedulePoint(string what) { lock (Points) Points.Add(what); }
    public int ThreadId => inner.ThreadId;
}
