// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;

namespace Iommufd.Model.Kernel;

/// <summary>
/// Locked-memory accounting and the limits it checks. Models v6.2 <c>__account_locked_vm</c>:
/// the caller must hold the mmap lock for writing; an increase, unless
/// <c>bypass_rlim</c>, fails with -ENOMEM when <c>locked_vm + pages</c> exceeds the task's
/// RLIMIT_MEMLOCK in pages, otherwise adds; a decrease WARNs if it exceeds <c>locked_vm</c> and
/// subtracts anyway (wrapping, as the C does). The fault site
/// <see cref="FaultSites.AccountLockedVm"/> makes an increase fail as if at the limit (it is
/// consulted for increases only, bypass or not). Also <c>task_rlimit</c> (RLIMIT_MEMLOCK in
/// bytes; other limits are RLIM_INFINITY) and <c>capable</c> (CAP_IPC_LOCK of the task; no other
/// capability is held). Does not model: the pr_debug trace, other rlimits.
/// </summary>
public sealed class MmAccounting(FakeKernel kernel)
{
    public int AccountLockedVm(mm_struct mm, ulong pages, bool inc, task_struct task, bool bypassRlim)
    {
        const string function = "__account_locked_vm";
        if (!kernel.Exec.HeldByCurrent(mm.mmap_lock, LockMode.Exclusive))
            kernel.Checks.Report(CheckKind.LockdepNotHeld, function, $"mmap_assert_write_locked({mm}) failed");
        ulong lockedVm = mm.locked_vm;
        if (!inc && mm.TestHooks.FailLockedVmDecreases)
            return -KernelApi.ENOMEM;
        if (!inc)
        {
            if (pages > lockedVm)
                kernel.Checks.Report(CheckKind.Warn, function, $"decrease of {pages} pages exceeds locked_vm {lockedVm} of {mm}");
            mm.locked_vm = unchecked(lockedVm - pages);
            return 0;
        }
        if (kernel.ShouldFail(FaultSites.AccountLockedVm))
            return -KernelApi.ENOMEM;
        if (!bypassRlim)
        {
            ulong limit = TaskRlimit(task, KernelApi.RLIMIT_MEMLOCK) >> KernelApi.PAGE_SHIFT;
            if (unchecked(lockedVm + pages) > limit)
                return -KernelApi.ENOMEM;
        }
        mm.locked_vm = unchecked(lockedVm + pages + mm.TestHooks.LockedVmSkew);
        return 0;
    }

    public static ulong TaskRlimit(task_struct task, int limit) =>
        limit == KernelApi.RLIMIT_MEMLOCK ? task.RlimitMemlock : task_struct.RLIM_INFINITY;

    public static bool Capable(task_struct task, int cap) => cap == KernelApi.CAP_IPC_LOCK && task.CapIpcLock;
}
