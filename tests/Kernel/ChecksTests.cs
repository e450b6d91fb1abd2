// SPDX-License-Identifier: GPL-2.0-only
using Iommufd.Model.Kernel;

namespace Iommufd.Tests.Kernel;

/// <summary>The checks log: WARN_ONs, lockdep reports and fake-detected misuse.</summary>
public class ChecksTests
{
    [Fact]
    public void Report_RecordsInOrder_WithIncreasingSequence()
    {
        var c = new Checks();
        Assert.Empty(c.Violations);
        c.Report(CheckKind.Warn, "f1", "m1");
        c.Report(CheckKind.LockdepNotHeld, "f2", "m2");
        c.Report(CheckKind.FakeMisuse, "f3", "m3");
        var v = c.Violations;
        Assert.Equal([(CheckKind.Warn, "f1", "m1"), (CheckKind.LockdepNotHeld, "f2", "m2"), (CheckKind.FakeMisuse, "f3", "m3")],
            v.Select(x => (x.Kind, x.Function, x.Message)));
        Assert.True(v[0].Sequence < v[1].Sequence && v[1].Sequence < v[2].Sequence);
        Assert.Equal("FakeMisuse in f3: m3", v[2].ToString());
    }

    [Fact]
    public void Violations_IsASnapshot()
    {
        var c = new Checks();
        c.Report(CheckKind.Warn, "f", "m");
        var before = c.Violations;
        c.Report(CheckKind.Warn, "g", "m");
        Assert.Single(before);
        Assert.Equal(2, c.Violations.Count);
    }

    [Fact]
    public void Fired_IsRaisedSynchronously_OnTheReportingThread_AfterRecording()
    {
        var c = new Checks();
        var seen = new List<(CheckViolation V, int Thread, int CountThen)>();
        c.Fired += v => seen.Add((v, Environment.CurrentManagedThreadId, c.Count));
        c.Report(CheckKind.LockdepOrder, "f", "m");
        // Observed before Report returned.
        var (v, thread, countThen) = Assert.Single(seen);
        Assert.Equal(Environment.CurrentManagedThreadId, thread);
        Assert.Equal(1, countThen);
        Assert.Same(c.Violations[0], v);
        c.Report(CheckKind.Warn, "g", "n");
        Assert.Equal(2, seen.Count);
        Assert.Equal("g", seen[1].V.Function);
    }

    [Fact]
    public void Fired_ExceptionPropagatesToTheReporter_AfterTheViolationIsRecorded()
    {
        // The oracle stops a run by throwing from the event.
        var c = new Checks();
        c.Fired += v => throw new InvalidOperationException(v.Message);
        Assert.Equal("stop", Assert.Throws<InvalidOperationException>(() => c.Report(CheckKind.Warn, "f", "stop")).Message);
        Assert.Equal(1, c.Count);
    }

    [Fact]
    public void Count_And_Clear()
    {
        var c = new Checks();
        Assert.Equal(0, c.Count);
        c.Report(CheckKind.Warn, "f", "m");
        c.Report(CheckKind.Warn, "f", "m");
        Assert.Equal(2, c.Count);
        long lastSeq = c.Violations[^1].Sequence;
        c.Clear();
        Assert.Equal(0, c.Count);
        Assert.Empty(c.Violations);
        c.Report(CheckKind.FakeMisuse, "g", "n");
        var v = Assert.Single(c.Violations);
        Assert.Equal("g", v.Function);
        // Sequence numbers are never reused, so a violation seen before Clear stays distinguishable.
        Assert.True(v.Sequence > lastSeq);
    }

    [Fact]
    public void Report_FromManyThreads_LosesNothing_AndSequencesAreUnique()
    {
        var c = new Checks();
        const int threads = 4, each = 200;
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            for (int i = 0; i < each; i++)
                c.Report(CheckKind.Warn, $"t{t}", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        })).ToArray();
        foreach (var w in workers) w.Start();
        foreach (var w in workers) w.Join();
        var v = c.Violations;
        Assert.Equal(threads * each, v.Count);
        Assert.Equal(v.Count, v.Select(x => x.Sequence).Distinct().Count());
        Assert.Equal(v.Select(x => x.Sequence).Order(), v.Select(x => x.Sequence));
        // Each thread's own reports keep their order.
        for (int t = 0; t < threads; t++)
            Assert.Equal(Enumerable.Range(0, each).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                v.Where(x => x.Function == $"t{t}").Select(x => x.Message));
    }
}
