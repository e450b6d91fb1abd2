// SPDX-License-Identifier: GPL-2.0-only
namespace Iommufd.Model.Kernel;

/// <summary>
/// The kernel release whose services the fakes behave like. The code under test decides it: the
/// port (and the v6.2 C) runs on v6.2 services, the 6.12 C on 6.12 services. Where the two
/// releases differ in a service pages.c or its callers call (an error code of GUP on a bad range,
/// an accounting helper, an argument), the fake branches on <see cref="FakeKernel.Version"/>;
/// everywhere else they are the same. The version is part of every reproducer.
/// </summary>
public enum KernelVersion
{
    /// <summary>Linux v6.2, the release the port follows.</summary>
    V6_2,
    /// <summary>Linux 6.12 LTS (Debian's linux-source-6.12).</summary>
    V6_12,
}

public static class KernelVersions
{
    /// <summary>The name used on command lines and in reproducers.</summary>
    public static string Name(this KernelVersion v) => v switch
    {
        KernelVersion.V6_2 => "v6.2",
        KernelVersion.V6_12 => "6.12",
        _ => throw new ArgumentOutOfRangeException(nameof(v), v, null),
    };

    public static bool TryParse(string s, out KernelVersion v)
    {
        switch (s)
        {
            case "v6.2" or "6.2": v = KernelVersion.V6_2; return true;
            case "v6.12" or "6.12": v = KernelVersion.V6_12; return true;
            default: v = KernelVersion.V6_2; return false;
        }
    }
}
