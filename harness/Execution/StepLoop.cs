// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;
using Iommufd.Model.Kernel;

namespace Iommufd.Harness.Execution;

/// <summary>
/// The one step loop every runner uses (sequential runs, fail-nth sweeps, the setup and teardown
/// of concurrent runs): each operation on the world with the oracle after it, an exception the
/// kernel would have turned into an oops as a "crash" violation, then the teardown and the
/// oracle's final check. The caller decides what happens between (a concurrent phase).
/// </summary>
public sealed class StepLoop
{
    private readonly IWorld world;
    private readonly IOracle oracle;
    private readonly FaultInjector injector;
    private readonly List<StepRecord> steps = [];

    /// <summary>A fresh world of <paramref name="system"/> with the fault plan, patches and
    /// execution context given, and <paramref name="oracle"/> attached to it.</summary>
    public StepLoop(ISystemUnderTest system, string faultPlan, IReadOnlyList<string> patches, IOracle oracle,
        Func<Checks, IExecutionContext>? exec = null)
    {
        injector = new FaultInjector(FaultPlanParser.Parse(faultPlan));
        world = system.CreateWorld(new WorldOptions(injector, patches, exec));
        this.oracle = oracle;
        oracle.Attach(world);
    }

    public IWorld World => world;
    public FaultInjector Injector => injector;
    public IReadOnlyList<StepRecord> Steps => steps;

    /// <summary>Runs <paramref name="op"/> as step <paramref name="index"/>; the first violation, or null.</summary>
    public Violation? Step(int index, Op op)
    {
        injector.BeginStep(index);
        StepResult result;
        try
        {
            result = world.Apply(op);
        }
        catch (Exception e) when (IsModelFailure(e))
        {
            steps.Add(new StepRecord(index, op, new StepResult(0, Note: "crashed")));
            return Crash(index, e);
        }
        steps.Add(new StepRecord(index, op, result));
        return oracle.AfterStep(index, op, result).FirstOrDefault();
    }

    /// <summary>Runs <paramref name="ops"/> as steps 0, 1, ...; stops at the first violation.</summary>
    public Violation? RunAll(IReadOnlyList<Op> ops)
    {
        for (int i = 0; i < ops.Count; i++)
            if (Step(i, ops[i]) is { } v)
                return v;
        return null;
    }

    /// <summary>Tears the world down (as step -1) and asks the oracle its final question.</summary>
    public Violation? TearDown()
    {
        try
        {
            injector.BeginStep(-1);
            world.TearDown();
            return oracle.AfterTeardown().FirstOrDefault();
        }
        catch (Exception e) when (IsModelFailure(e))
        {
            return Crash(-1, e);
        }
    }

    /// <summary>A crash at <paramref name="step"/>: the exception's type and message, and the model frames it passed.</summary>
    public static Violation Crash(int step, Exception e, string where = "") =>
        new("crash", step, $"{e.GetType().Name}: {e.Message}{where}", Describe(e));

    /// <summary>Exceptions that stand for a kernel failure (oops, BUG, hang) rather than a harness bug.</summary>
    public static bool IsModelFailure(Exception e) =>
        e is KernelMemoryFault or KernelDeadlock or KernelListCorruption or IndexOutOfRangeException
            or NullReferenceException or InvalidOperationException or ArgumentException or OverflowException;

    /// <summary>The model frames an exception passed through, innermost first (at most eight).</summary>
    public static string Describe(Exception e)
    {
        var frames = (e.StackTrace ?? "").Split('\n')
            .Select(l => l.Trim())
            .Where(l => l.StartsWith("at Iommufd.Model", StringComparison.Ordinal))
            .Select(l => l.Split(" in ")[0])
            .Take(8);
        return string.Join("\n", frames);
    }
}
