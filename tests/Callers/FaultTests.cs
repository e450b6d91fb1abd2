// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Model.Callers;
using Iommufd.Model.Kernel;
using Iommufd.Model.Selftest;

namespace Iommufd.Tests.Callers;

/// <summary>Failures inside the callers' operations unwind completely (iommufd_fail_nth style).</summary>
public sealed class FaultTests
{
    private const int RW = MapUnmapTests.RW;
    private const ulong P = CallersEnv.PAGE_SIZE;
    private const ulong U = CallersEnv.UserBase;

    /// <summary>Fails the N-th fault-site hit counted only while armed (the test body), like fail-nth.</summary>
    private sealed class ArmedNth(long n) : IFaultPlan
    {
        private long hits;
        public bool Armed { get; set; }
        public bool Fired { get; private set; }

        public bool Decide(in FaultHit hit)
        {
            if (!Armed)
                return false;
            if (++hits != n)
                return false;
            Fired = true;
            return true;
        }

        public string Describe() => $"armed-nth:{n}";
    }

    [Fact]
    public void Attach_failing_in_the_second_area_unwinds_the_first()
    {
        var env = new CallersEnv(new ExplicitFaults([(FaultSites.IommuMapMock, 2)]));
        env.MapUser(U, 8);
        ulong a = 0x1100000, b = 0x1200000;
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref a, U, 4 * P, RW, 0));
        Assert.Equal(0, env.Ioas.iopt_map_user_pages(ref b, U + 4 * P, 4 * P, RW, 0));
        var mock = env.NewMockDomain();

        Assert.Equal(-KernelApi.ENOENT, env.Ioas.iopt_table_add_domain(mock));
        Assert.Single(env.Injector.Injected);
        Assert.Empty(env.Ioas.Domains());
        Assert.Equal(0U, env.Ioas.iopt.next_domain_id);
        Assert.Equal(1UL, env.Ioas.iopt.iova_alignment);
        Assert.All(env.Ioas.Areas(), area => Assert.Null(area.storage_domain));
        Assert.Equal(0L, env.TotalPins);
        Assert.Equal(0UL, CallersEnv.MappedBytes(mock));

        Assert.Equal(0, env.Ioas.iopt_table_add_domain(mock));
        Assert.Equal(8 * P, CallersEnv.MappedBytes(mock));
        env.TearDownAndAssertClean(mock);
    }

    [Fact]
    public void Map_failing_in_the_domain_leaves_no_area_and_no_pin()
    {
        var env = new CallersEnv(new ExplicitFaults([(FaultSites.IommuMapMock, 1)]));
        var mock = env.NewMockDomain();
        Assert.Equal(0, env.Ioas.iopt_table_add_domain(mock));
        env.MapUser(U, 4);
        ulong iova = 0;
        Assert.Equal(-KernelApi.ENOENT, env.Ioas.iopt_map_user_pages(ref iova, U, 4 * P, RW, IoPagetable.IOPT_ALLOC_IOVA));
        Assert.Empty(env.Ioas.Areas());
        Assert.Equal(0L, env.TotalPins);
        env.TearDownAndAssertClean(mock);
    }

    /// <summary>
    /// The fail-nth sweep: a body that maps, attaches two domains, pins, reads and writes through
    /// an access, copies to another IOAS, splits and unmaps. Each run fails the N-th fault-site hit
    /// of the body; whatever the body returns, teardown must leave no pin, no allocation, no
    /// check; the sweep ends with a run that injects nothing and succeeds.
    /// </summary>
    [Fact]
    public void Fail_nth_sweep_of_a_full_body_leaves_nothing_behind()
    {
        for (long n = 1; ; n++)
        {
            Assert.True(n < 400, "the body did not finish within 400 fault points");
            var plan = new ArmedNth(n);
            var env = new CallersEnv(plan);
            var dst = env.NewIoas();
            env.MapUser(U, 16);
            var mock = env.NewMockDomain();
            var pt = env.NewPageTableDomain();
            var pt2 = env.NewPageTableDomain("pt2");

            plan.Armed = true;
            int rc = Body(env, dst, mock, pt, pt2);
            plan.Armed = false;

            Assert.Equal(0, dst.TearDown());
            env.TearDownAndAssertClean(mock, pt, pt2);
            if (!plan.Fired)
            {
                Assert.Equal(0, rc);
                // The body crosses many fault sites (allocations, GUP, accounting, iommu_map...).
                Assert.True(n > 20, $"only {n - 1} fault points were reached");
                return;
            }
        }
    }

    private static int Body(CallersEnv env, IoPagetable dst, iommu_domain mock, iommu_domain pt, iommu_domain pt2)
    {
        int rc;
        if ((rc = env.Ioas.iopt_table_add_domain(mock)) != 0) return rc;
        ulong a = 0;
        if ((rc = env.Ioas.iopt_map_user_pages(ref a, U, 8 * P, RW, IoPagetable.IOPT_ALLOC_IOVA)) != 0) return rc;
        ulong b = 0;
        if ((rc = env.Ioas.iopt_map_user_pages(ref b, U + 8 * P, 4 * P, RW, IoPagetable.IOPT_ALLOC_IOVA)) != 0) return rc;
        if ((rc = env.Ioas.iopt_table_add_domain(pt)) != 0) return rc;
        if ((rc = dst.iopt_table_add_domain(pt2)) != 0) return rc;

        var access = MockAccess.Create(env.Kernel, env.Ioas, out rc);
        if (rc != 0) return rc;
        if ((rc = access.Pin(a + P, 3 * P, KernelApi.IOMMUFD_ACCESS_RW_WRITE, out _)) != 0) return rc;
        var data = new byte[5000];
        new Random(1).NextBytes(data);
        if ((rc = access.Rw(a + 100, data, KernelApi.IOMMUFD_ACCESS_RW_WRITE | KernelApi.__IOMMUFD_ACCESS_RW_SLOW_PATH)) != 0) return rc;
        var back = new byte[5000];
        if ((rc = access.Rw(a + 100, back, 0)) != 0) return rc;
        if (!back.AsSpan().SequenceEqual(data)) return -1;

        ulong copy = 0;
        if ((rc = dst.iopt_copy_iova(env.Ioas, a, 8 * P, ref copy, RW, IoPagetable.IOPT_ALLOC_IOVA)) != 0) return rc;
        if ((rc = dst.iopt_disable_large_pages()) != -KernelApi.EINVAL) return rc == 0 ? -1 : rc;
        if ((rc = env.Ioas.iopt_unmap_iova(a, 8 * P, out _)) != 0) return rc;
        if ((rc = dst.iopt_unmap_all(out _)) != 0) return rc;
        return 0;
    }
}
