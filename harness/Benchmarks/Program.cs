// SPDX-License-Identifier: GPL-2.0-only
using BenchmarkDotNet.Running;

namespace Iommufd.Benchmarks;

/// <summary>
/// The BenchmarkDotNet suite: <c>dotnet run --project harness/Benchmarks -c Release</c> runs it
/// (arguments go to BenchmarkDotNet, e.g. <c>--job short</c> for a quick pass).
/// </summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
