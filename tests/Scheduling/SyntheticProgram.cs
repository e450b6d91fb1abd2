// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Harness.Scheduling;
using Iommufd.Model.Kernel;

namespace Iommufd.Tests.Scheduling;

/// <summary>A tiny program for the controlled scheduler: a fake kernel whose execution context is
/// a <see cref="ControlledExecutionContext"/>, and thread bodies that use its locks.</summary>
internal sealed class SyntheticProgram
{
    public SyntheticProgram()
    {
        Kernel = new FakeKernel(exec: c => new ControlledExecutionContext(c));
        Context = (ControlledExecutionContext)Kernel.Exec;
    }

    public FakeKernel Kernel { get; }
    public ControlledExecutionContext Context { get; }
    public IExecutionContext Exec => Kernel.Exec;

    public void Lock(KLock l) => Exec.Acquire(l, LockMode.Exclusive);
    public void Unlock(KLock l) => Exec.Release(l, LockMode.Exclusive);
    public void Point(string what) => Exec.SchedulePoint(what);

    /// <summary>Runs the bodies (made fresh for every schedule) under <paramref name="strategy"/>
    /// until it is exhausted or <paramref name="max"/> schedules ran; <paramref name="after"/> sees each run.</summary>
    public static List<ScheduleRun> Explore(ISchedulingStrategy strategy, int max, Func<SyntheticProgram, Action[]> bodies,
        Func<SyntheticProgram, ScheduleRun, bool>? stopWhen = null, int budget = 1000)
    {
        var runs = new List<ScheduleRun>();
        while (runs.Count < max && strategy.PrepareNextIteration())
        {
            var p = new SyntheticProgram();
            var run = p.Context.Run(bodies(p), strategy, budget);
            runs.Add(run);
            if (stopWhen?.Invoke(p, run) == true)
                break;
        }
        return runs;
    }

    public static string Key(ScheduleRun run) => string.Concat(run.Schedule);
    public static string Render(ScheduleRun run) =>
        $"{run.Outcome}: {run.Message}\n" + string.Join("\n", run.Trace.Select(t => t.ToString()));
}
