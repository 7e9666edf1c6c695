namespace SharpBox.Main.Tests;

/// <summary>Global options, help and the exit codes of the command dispatcher (built CLI as a process).</summary>
public class CliBasicsTests
{
    [Fact]
    public void VersionPrintsVirtualBoxStyleVersion()
    {
        using var h = new VBoxManageHome(setMachineFolder: false);
        CliResult r = h.Ok("--version");
        Assert.Matches(@"^7\.0\.\d+r\d+\n$", r.Stdout);
        Assert.Equal(r.Stdout, h.Ok("-V").Stdout);
    }

    [Fact]
    public void HelpListsEveryCommand()
    {
        using var h = new VBoxManageHome(setMachineFolder: false);
        CliResult r = h.Ok("help");
        foreach (string cmd in new[] { "list", "showvminfo", "registervm", "unregistervm", "createvm", "modifyvm", "clonevm", "createmedium",
                     "modifymedium", "clonemedium", "showmediuminfo", "closemedium", "convertfromraw", "storagectl", "storageattach",
                     "getextradata", "setextradata", "setproperty" })
            Assert.Contains($"VBoxManage {cmd}", r.Stdout);
        // No arguments at all prints the same overview.
        Assert.Contains("VBoxManage createvm", h.Ok().Stdout);
    }

    [Theory]
    [InlineData("modifyvm", "--nic-type")]
    [InlineData("createvm", "--register")]
    [InlineData("storageattach", "--storagectl")]
    [InlineData("list", "runningvms")]
    public void HelpPerCommandBothSpellings(string command, string mentions)
    {
        using var h = new VBoxManageHome(setMachineFolder: false);
        CliResult viaHelp = h.Run("help", command);
        Assert.Equal(1, viaHelp.ExitCode); // VBoxManage exits 1 after "help <command>"
        Assert.Contains(mentions, viaHelp.Stdout);
        CliResult viaOption = h.Ok(command, "--help");
        Assert.Equal(viaHelp.Stdout, viaOption.Stdout);
    }

    [Fact]
    public void UnknownCommandIsSyntaxError()
    {
        using var h = new VBoxManageHome(setMachineFolder: false);
        CliResult r = h.Fails(2, "frobnicate");
        Assert.Contains("Invalid command 'frobnicate'", r.Stderr);
    }

    [Fact]
    public void CommandWithoutArgumentsPrintsUsage()
    {
        using var h = new VBoxManageHome(setMachineFolder: false);
        CliResult r = h.Run("modifyvm");
        Assert.Equal(1, r.ExitCode);
        Assert.StartsWith("Usage - ", r.Stdout);
    }

    [Fact]
    public void UnknownOptionIsSyntaxErrorWithUsage()
    {
        using var h = new VBoxManageHome();
        h.CreateVm("vm");
        CliResult r = h.Fails(2, "modifyvm", "vm", "--no-such-option", "1");
        Assert.Contains("Unknown option: --no-such-option", r.Stderr);
        Assert.Contains("Usage - ", r.Stderr);
    }

    [Fact]
    public void FirstUseCreatesConfigDirectoryAndVirtualBoxXml()
    {
        using var h = new VBoxManageHome(setMachineFolder: false);
        Directory.Delete(h.Home);
        h.Ok("list", "vms");
        string xml = File.ReadAllText(Path.Combine(h.Home, "VirtualBox.xml"));
        Assert.Contains("xmlns=\"http://www.virtualbox.org/\"", xml);
        Assert.Contains("version=\"1.19-linux\"", xml);
        Assert.Contains("<MachineRegistry", xml);
        // 0700: the directory holds the user's registry.
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(h.Home));
    }
}
