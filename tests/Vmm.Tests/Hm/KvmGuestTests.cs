using SharpBox.Vmm.Tests.Iem;
using Xunit.Abstractions;

namespace SharpBox.Vmm.Tests.Hm;

/// <summary>The IEM guest programs on the KVM engine: the same output as on the software CPU.</summary>
public class KvmGuestTests(ITestOutputHelper output)
{
    public static IEnumerable<object[]> Guests() => GuestAssembler.Sources().Select(n => new object[] { n });

    [Theory]
    [MemberData(nameof(Guests))]
    public void SameOutputAsIem(string name)
    {
        if (!KvmTestEnv.Usable(output, $"KVM guest {name}")) return;
        var image = new GuestImage(name, GuestAssembler.Assemble(name));
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var run = new KvmGuestEngine().Run(image);
        output.WriteLine($"{name}: {sw.ElapsedMilliseconds} ms on KVM ({KvmTestEnv.Info.Backend})");
        string expected = GuestAssembler.Expected(name);
        Assert.True(run.Failure == null, $"{name}: {run.Failure}\noutput so far:\n{run.Output}");
        Assert.True(expected == run.Output && run.ExitCode == 0,
            $"{name}: exit code {run.ExitCode}\nexpected:\n{expected}\nactual:\n{run.Output}");
    }
}
