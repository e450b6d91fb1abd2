// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.Error.WriteLine("iommufd-verify: not yet implemented");
        return 2;
    }
}
