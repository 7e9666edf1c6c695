using SharpBox.Vmm.Tests.Iem;
using Xunit.Abstractions;

namespace SharpBox.Vmm.Tests.Hm;

/// <summary>The IEM guest programs on the KVM engine: the same output as on the software CPU.</summary>
public class KvmGuestTests(ITestOutputHelper output)
{
    public static IEnumerable<object[]> Guests() => GuestAssembler.Sources().Select(n => new object[] { n });

    /// <summary>
    /// kvm-pvm runs guest ring 0 and real mode in the host kernel's instruction emulator, which cannot
    /// execute protected-mode IRET, task switches, virtual-8086 mode, SYSCALL/SYSRET or IRETQ to ring 3
    /// ("emulation failure" exits). Only these guests stay within what it can emulate; on VT-x/AMD-V
    /// every guest runs.
    /// </summary>
    private static readonly HashSet<string> PvmRunnable = new() { "realmode", "modes" };

    [Theory]
    [MemberData(nameof(Guests))]
    public void SameOutputAsIem(string name)
    {
        if (!KvmTestEnv.Usable(output, $"KVM guest {name}")) return;
        if (KvmTestEnv.Info.Backend == "kvm_pvm" && !PvmRunnable.Contains(name))
        {
            output.WriteLine($"SKIPPED KVM guest {name}: kvm-pvm's ring-0 emulator cannot run it (protected-mode IRET, task switch, v86 or SYSRET)");
            return;
        }
        var image = new GuestImage(name, GuestAssembler.Assemble(name));
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var run = new KvmGuestEngine { Timeout = TimeSpan.FromSeconds(30) }.Run(image);
        output.WriteLine($"{name}: {sw.ElapsedMilliseconds} ms on KVM ({KvmTestEnv.Info.Backend})");
        string expected = GuestAssembler.Expected(name);
        Assert.True(run.Failure == null, $"{name}: {run.Failure}\noutput so far:\n{run.Output}");
        Assert.True(expected == run.Output && run.ExitCode == 0,
            $"{name}: exit code {run.ExitCode}\nexpected:\n{expected}\nactual:\n{run.Output}");
    }
}
