// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Faults;
using Iommufd.Harness.Execution;
using Iommufd.Harness.Generation;
using Iommufd.Harness.Oracle;
using Iommufd.Model.Kernel;

namespace Iommufd.Tests.Harness;

/// <summary>
/// For each invariant a..j: a clean prefix, then a test-only hook in one fake breaks that one
/// invariant, and the oracle reports it, first, at the step that broke it.
/// </summary>
public class OracleInvariantTests
{
    private const ulong Page = 4096;

    /// <summary>A world with the oracle attached, driven step by step so hooks can be set between steps.</summary>
    private sealed class Driven
    {
        public World World { get; } = new(new FaultInjector(new NoFaults()));
        public SpecOracle Oracle { get; } = new();
        public int Step { get; private set; }

        public Driven() => Oracle.Attach(World);

        public IReadOnlyList<Violation> Apply(Op op)
        {
            var r = World.Apply(op);
            Assert.False(r.Skipped, $"{op} was skipped");
            return Oracle.AfterStep(Step++, op, r);
        }

        /// <summary>Applies operations that must all be clean.</summary>
        public void Clean(params Op[] ops)
        {
            foreach (var op in ops)
            {
                var v = Apply(op);
                Assert.True(v.Count == 0, $"step {Step - 1} {op}: {string.Join("; ", v)}\n{v.FirstOrDefault()?.State}");
            }
        }

        public IReadOnlyList<Violation> TearDown()
        {
            World.TearDown();
            return Oracle.AfterTeardown();
        }
    }

    private static void AssertFirst(string invariant, int step, IReadOnlyList<Violation> found)
    {
        Assert.True(found.Count > 0, $"no violation reported; expected {invariant}");
        Assert.True(found[0].Invariant == invariant && found[0].Step == step,
            $"expected {invariant} at step {step} first, got:\n{string.Join("\n", found)}");
        Assert.False(string.IsNullOrWhiteSpace(found[0].Message));
    }

    /// <summary>Process 0's memory: a PFN-contiguous run, pages over it, one io_pagetable.</summary>
    private static Driven Setup(int pages, byte accountMode = 0, bool scattered = false)
    {
        var d = new Driven();
        d.Clean(
            new MapUserMemory(0, [new Segment(scattered ? SegmentKind.Scattered : SegmentKind.Run, (ulong)pages)]),
            new CreatePages(0, 0, (ulong)pages * Page, true, accountMode),
            new CreateIopt());
        return d;
    }

    private static ulong PfnOf(Driven d, ulong index) =>
        d.World.Control.Task.mm!.Space.Translate(d.World.Regions[0].BaseVa + index * Page)!.Value;

    [Fact]
    public void A_npinned_not_settled_when_the_mm_refuses_a_locked_vm_decrease()
    {
        var d = Setup(8, accountMode: 2);
        d.Clean(new AttachDomain(0, DomainKind.PageTable), new MapArea(0, 0, 0, 8 * Page, null, true));
        d.World.Control.Task.mm!.TestHooks.FailLockedVmDecreases = true;
        AssertFirst("a", 5, d.Apply(new UnmapArea(0)));
    }

    [Fact]
    public void B_a_leaked_pin_is_held_by_nobody()
    {
        var d = Setup(8);
        d.Clean(new AttachDomain(0, DomainKind.PageTable), new MapArea(0, 0, 0, 8 * Page, null, true));
        ulong victim = PfnOf(d, 3);
        d.World.Kernel.Phys.TestHooks.IgnoreUnpin = pfn => pfn == victim;
        var found = d.Apply(new UnmapArea(0));
        AssertFirst("b", 5, found);
        Assert.Contains($"{victim:x}", found[0].Message);
    }

    [Fact]
    public void C_an_unpin_of_a_frame_an_access_still_holds()
    {
        var d = Setup(8);
        d.Clean(new CreateAccess(0));
        d.Clean(new MapArea(0, 0, 0, 8 * Page, null, true),
            new AccessPin(0, 0, 0, Page, false),
            new AccessPin(0, 0, Page, Page, false));
        ulong p0 = PfnOf(d, 0), p1 = PfnOf(d, 1);
        d.World.Kernel.Phys.TestHooks.RedirectUnpin = pfn => pfn == p1 ? p0 : pfn;
        var found = d.Apply(new AccessUnpin(1));
        AssertFirst("c", 7, found);
        Assert.Contains($"{p0:x}", found[0].Message);
    }

    [Fact]
    public void C_at_the_event_an_unpin_of_a_frame_a_domain_still_maps()
    {
        var d = Setup(8);
        d.Clean(new AttachDomain(0, DomainKind.PageTable), new MapArea(0, 0, 0, 4 * Page, null, true),
            new MapArea(0, 0, 4 * Page, 4 * Page, null, true));
        ulong p0 = PfnOf(d, 0), p5 = PfnOf(d, 5);
        // Unmapping the second area unpins index 5; the hook unpins index 0, mapped by the first area.
        d.World.Kernel.Phys.TestHooks.RedirectUnpin = pfn => pfn == p5 ? p0 : pfn;
        var found = d.Apply(new UnmapArea(1));
        AssertFirst("c", 6, found);
        Assert.Contains("still maps", found[0].Message);
    }

    [Fact]
    public void D_a_domain_that_maps_the_wrong_frame()
    {
        var d = Setup(8);
        d.Clean(new AttachDomain(0, DomainKind.PageTable));
        d.World.Domains[0].Domain.TestHooks.RewritePaddr = (iova, paddr) => paddr + 0x100_0000;
        AssertFirst("d", 4, d.Apply(new MapArea(0, 0, 0, 8 * Page, null, true)));
    }

    [Fact]
    public void E_an_xarray_that_stores_the_wrong_pfn()
    {
        var d = Setup(8);
        d.Clean(new MapArea(0, 0, 0, 8 * Page, null, true), new CreateAccess(0));
        d.World.PortPagesOf(d.World.PagesList[0]).pinned_pfns.TestHooks.RewriteValue = (index, pfn) => pfn + 1;
        var found = d.Apply(new AccessPin(0, 0, 2 * Page, 3 * Page, false));
        AssertFirst("e", 5, found);
        Assert.Equal(3, d.World.PinnedPfns(d.World.PagesList[0].Id).Count);
    }

    [Fact]
    public void F_locked_vm_skewed_by_the_accounting_service()
    {
        var d = Setup(8, accountMode: 2);
        d.Clean(new AttachDomain(0, DomainKind.PageTable));
        d.World.Control.Task.mm!.TestHooks.LockedVmSkew = 1;
        var found = d.Apply(new MapArea(0, 0, 0, 8 * Page, null, true));
        AssertFirst("f", 4, found);
        Assert.Contains("locked_vm 9, expected 8", found[0].Message);
    }

    [Fact]
    public void G_rw_reads_bytes_user_memory_does_not_hold()
    {
        var d = Setup(8);
        d.Clean(new MapArea(0, 0, 0, 8 * Page, null, true), new CreateAccess(0),
            new UserWrite(0, 100, 300, 42),
            new AccessRw(0, 0, 50, 500, false, RwContext.SameMm, false, 0));
        d.World.Control.Task.mm!.TestHooks.CorruptUserReads = true;
        AssertFirst("g", 7, d.Apply(new AccessRw(0, 0, 50, 500, false, RwContext.SameMm, false, 0)));
    }

    [Fact]
    public void G_pinned_pages_that_are_not_the_users_frames()
    {
        // An identical second pin is served from pinned_pfns; the hook corrupts what the first
        // stored for index 2 (e at that step), so the second returns a frame the user never had (g).
        var d = Setup(8);
        d.Clean(new MapArea(0, 0, 0, 8 * Page, null, true), new CreateAccess(0),
            new AccessPin(0, 0, 0, 2 * Page, false));
        d.World.PortPagesOf(d.World.PagesList[0]).pinned_pfns.TestHooks.RewriteValue = (index, pfn) => pfn + 1;
        var found = d.Apply(new AccessPin(0, 0, Page, 2 * Page, false));
        Assert.Contains(found, v => v.Invariant == "e");
        var again = d.Apply(new AccessPin(0, 0, Page, 2 * Page, false));
        AssertFirst("g", 7, again.Where(v => v.Invariant != "e").ToList());
    }

    [Fact]
    public void H_a_fake_reports_misuse_at_the_event()
    {
        var d = Setup(8);
        d.Clean(new CreateAccess(0), new MapArea(0, 0, 0, 8 * Page, null, true), new AccessPin(0, 0, 0, Page, false));
        ulong p0 = PfnOf(d, 0), p7 = PfnOf(d, 7);
        // Redirect to a frame nobody pinned: PhysMem reports the unpin of a zero pin count.
        d.World.Kernel.Phys.TestHooks.RedirectUnpin = pfn => pfn == p0 ? p7 : pfn;
        var found = d.Apply(new AccessUnpin(0));
        AssertFirst("h", 6, found);
        Assert.Contains("FakeMisuse", found[0].Message);
    }

    [Fact]
    public void I_an_error_without_a_cause()
    {
        var d = Setup(8);
        d.Clean(new AttachDomain(0, DomainKind.PageTable));
        d.World.Domains[0].Domain.TestHooks.FailMaps = 1;
        var found = d.Apply(new MapArea(0, 0, 0, 8 * Page, null, true));
        AssertFirst("i", 4, found);
        Assert.Single(found);
        Assert.Contains("-ENOMEM", found[0].Message);
    }

    [Fact]
    public void I_a_success_that_must_have_failed_is_reported_too()
    {
        // Bad input the rules know always fails, succeeding: length 0 pages. The port refuses it, so
        // the oracle is checked directly with a forged result.
        var d = Setup(2);
        var oracle = d.Oracle;
        var found = oracle.AfterStep(d.Step, new CreatePages(0, 0, 0, true, 0), new StepResult(0));
        Assert.Contains(found, v => v.Invariant == "i" && v.Message.Contains("must fail"));
    }

    [Fact]
    public void J_pins_left_after_teardown()
    {
        var d = Setup(8);
        d.Clean(new AttachDomain(0, DomainKind.PageTable), new MapArea(0, 0, 0, 8 * Page, null, true));
        d.World.Kernel.Phys.TestHooks.IgnoreUnpin = _ => true;
        var found = d.TearDown();
        AssertFirst("j", -1, found);
        Assert.Contains("still has 1 pins", found[0].Message);
    }

    [Fact]
    public void J_a_clean_teardown_reports_nothing()
    {
        var d = Setup(8);
        d.Clean(new AttachDomain(0, DomainKind.Mock), new MapArea(0, 0, 0, 8 * Page, null, true), new CreateAccess(0),
            new AccessPin(0, 0, 0, Page, false));
        Assert.Empty(d.TearDown());
    }
}
