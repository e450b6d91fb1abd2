// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Model.Kernel;

/// <summary>What kind of check fired.</summary>
public enum CheckKind
{
    /// <summary>WARN_ON(cond) with cond true.</summary>
    Warn,
    /// <summary>lockdep_assert_held() on a lock the current task does not hold.</summary>
    LockdepNotHeld,
    /// <summary>A lock taken against the recorded lock order (lockdep's inversion report).</summary>
    LockdepOrder,
    /// <summary>A fake detected misuse of the service it models (double map, bad unpin, ...).</summary>
    FakeMisuse,
    /// <summary>Tasks waiting for each other's locks: the kernel would hang (a controlled
    /// scheduler finds no runnable thread while some have not finished).</summary>
    Deadlock,
}

/// <summary>One fired check: what, where (the ported or fake function), and a message.</summary>
public sealed record CheckViolation(CheckKind Kind, string Function, string Message, long Sequence)
{
    public override string ToString() => $"{Kind} in {Function}: {Message}";
}

/// <summary>
/// The record of WARN_ONs, lockdep assertions and fake-detected misuse. Models: WARN_ON evaluating
/// to its condition and reporting (the kernel tests run with panic_on_warn, so any entry is a
/// failure for the oracle). Does not model: WARN_ON_ONCE suppression (every hit is recorded),
/// taint flags, stack traces.
/// </summary>
public sealed class Checks
{
    private readonly object gate = new();
    private readonly List<CheckViolation> violations = [];
    private long sequence;

    /// <summary>Raised synchronously when a check fires (the oracle can stop at the event).</summary>
    public event Action<CheckViolation>? Fired;

    public IReadOnlyList<CheckViolation> Violations { get { lock (gate) return violations.ToArray(); } }
    public int Count { get { lock (gate) return violations.Count; } }

    public void Report(CheckKind kind, string function, string message)
    {
        CheckViolation v;
        lock (gate)
        {
            v = new CheckViolation(kind, function, message, ++sequence);
            violations.Add(v);
        }
        Fired?.Invoke(v);
    }

    public void Clear() { lock (gate) violations.Clear(); }
}
