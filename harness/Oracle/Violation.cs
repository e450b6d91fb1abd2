// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Harness.Oracle;

/// <summary>
/// One broken invariant: which one (a..j, or a report kind: "crash" for an exception the kernel
/// would have turned into an oops, "deadlock", "step-budget", "divergence"), the step it was found
/// at (-1: at teardown), a message, and the relevant state rendered as text.
/// </summary>
public sealed record Violation(string Invariant, int Step, string Message, string State = "")
{
    /// <summary>The kinds whose invariant alone does not say what failed: a WARN, lockdep or misuse
    /// report (h), an exception, a deadlock, an exhausted step budget, a replay that left its record.</summary>
    private static readonly HashSet<string> CatchAll = new(StringComparer.Ordinal) { "h", "crash", "deadlock", "step-budget", "divergence" };

    /// <summary>
    /// What identifies the failure across runs, shrinking and nights: the invariant letter and,
    /// for the catch-all kinds, the head of the message (the text before its first ':': the check
    /// kind and function of a report, the exception type of a crash), so that shrinking does not
    /// slide from one WARN to an unrelated one, and a night counts one bug once.
    /// </summary>
    public string Signature => CatchAll.Contains(Invariant) ? $"{Invariant}: {Head(Message)}" : Invariant;

    /// <summary>Whether <paramref name="other"/> is the same failure (the same <see cref="Signature"/>).</summary>
    public bool SameFailure(Violation other) => Signature == other.Signature;

    private static string Head(string message)
    {
        int colon = message.IndexOf(':', StringComparison.Ordinal);
        return colon < 0 ? message : message[..colon];
    }

    public override string ToString() =>
        $"invariant {Invariant} broken at {(Step < 0 ? "teardown" : $"step {Step}")}: {Message}";
}
