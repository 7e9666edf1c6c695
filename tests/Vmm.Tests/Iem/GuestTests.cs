namespace SharpBox.Vmm.Tests.Iem;

/// <summary>Every guest program in Guests/*.asm, on IEM: exit code 0 and exactly the expected output.</summary>
public class GuestTests
{
    public static IEnumerable<object[]> Guests() => GuestAssembler.Sources().Select(n => new object[] { n });

    [Theory]
    [MemberData(nameof(Guests))]
    public void RunsOnIem(string name)
    {
        var image = new GuestImage(name, GuestAssembler.Assemble(name));
        var run = new IemGuestEngine().Run(image);
        string expected = GuestAssembler.Expected(name);
        Assert.True(run.Failure == null, $"{name}: {run.Failure}\noutput so far:\n{run.Output}");
        Assert.True(expected == run.Output && run.ExitCode == 0,
            $"{name}: exit code {run.ExitCode}\nexpected:\n{expected}\nactual:\n{run.Output}\nlast events: {run.Events}");
    }
}
