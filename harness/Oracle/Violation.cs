// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Harness.Oracle;

/// <summary>
/// One broken invariant: which one (a..j, or "crash" for an exception the kernel would have
/// turned into an oops), the step it was found at (-1: at teardown), a message, and the relevant
/// state rendered as text.
/// </summary>
public sealed record Violation(string Invariant, int Step, string Message, string State = "")
{
    public override string ToString() =>
        $"invariant {Invariant} broken at {(Step < 0 ? "teardown" : $"step {Step}")}: {Message}";
}
