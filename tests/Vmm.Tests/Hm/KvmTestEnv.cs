using SharpBox.Vmm.Hm;
using Xunit.Abstractions;

namespace SharpBox.Vmm.Tests.Hm;

/// <summary>
/// Whether the KVM tests can run here: decided once by <see cref="KvmProbe"/>, which creates a VM and
/// runs a one-instruction guest. When KVM is not usable a test prints why and returns (it is not a
/// pass of the engine: the message says SKIPPED and the reason).
/// </summary>
public static class KvmTestEnv
{
    public static KvmHostInfo Info => KvmProbe.Probe();

    /// <summary>True when KVM is usable; otherwise prints "SKIPPED (no usable KVM): reason" and returns false.</summary>
    public static bool Usable(ITestOutputHelper? output, string test)
    {
        var info = Info;
        if (info.Usable) return true;
        string msg = $"SKIPPED {test}: no usable KVM here: {info.Reason}";
        output?.WriteLine(msg);
        Console.Error.WriteLine(msg);
        return false;
    }
}
