using System.Diagnostics;
using System.Text;
using SharpBox.Main.Api;
using SharpBox.Main.Impl;
using SharpBox.Main.Settings;
using SharpBox.Runtime;

namespace SharpBox.Main.Tests;

/// <summary>
/// Malformed files are refused naming file, line and problem and are never overwritten; saves are
/// atomic with a -prev copy; locks exclude other processes; the configuration directory rules.
/// </summary>
public class SettingsSafetyTests
{
    private const string Head = "<?xml version=\"1.0\"?>\n<VirtualBox xmlns=\"http://www.virtualbox.org/\" version=\"1.19-linux\">\n";

    private static string Machine(string hardware) =>
        Head + "  <Machine uuid=\"{12345678-1234-4123-8123-123456789abc}\" name=\"m\" OSType=\"Other\">\n    <Hardware>\n" + hardware + "\n    </Hardware>\n  </Machine>\n</VirtualBox>\n";

    public static IEnumerable<object[]> BadMachineFiles() => new[]
    {
        new object[] { Head + "  <Machine uuid=\"{12345678-1234-4123-8123-123456789abc}\" name=\"m\">\n    <Hardware>\n  </Machine>\n</VirtualBox>\n", 5, "Hardware" },
        new object[] { "<?xml version=\"1.0\"?>\n<Settings version=\"1.19-linux\"/>\n", 2, "Root element" },
        new object[] { "<?xml version=\"1.0\"?>\n<VirtualBox xmlns=\"http://www.virtualbox.org/\">\n</VirtualBox>\n", 2, "version" },
        new object[] { "<?xml version=\"1.0\"?>\n<VirtualBox xmlns=\"http://www.virtualbox.org/\" version=\"1.99-linux\">\n</VirtualBox>\n", 2, "newer" },
        new object[] { "<?xml version=\"1.0\"?>\n<VirtualBox xmlns=\"http://www.virtualbox.org/\" version=\"1.4-linux\">\n</VirtualBox>\n", 2, "before 3.1" },
        new object[] { "<?xml version=\"1.0\"?>\n<VirtualBox xmlns=\"http://www.virtualbox.org/\" version=\"banana\">\n</VirtualBox>\n", 2, "banana" },
        new object[] { Head + "</VirtualBox>\n", 2, "Machine" },
        new object[] { Machine("      <Memory RAMSize=\"lots\"/>"), 5, "RAMSize" },
        new object[] { Machine("      <CPU count=\"-1\"/>\n      <Memory RAMSize=\"64\"/>"), 5, "count" },
        new object[] { Machine("      <Memory RAMSize=\"64\"/>\n      <Network>\n        <Adapter slot=\"0\" enabled=\"true\"/>\n        <Adapter slot=\"0\" enabled=\"true\"/>\n      </Network>"), 8, "not unique" },
        new object[] { Machine("      <Memory RAMSize=\"64\"/>\n      <UART>\n        <Port slot=\"7\" enabled=\"true\" IOBase=\"0x3f8\" IRQ=\"4\" hostMode=\"Disconnected\"/>\n      </UART>"), 7, "slot" },
        new object[] { Machine("      <Memory RAMSize=\"64\"/>\n      <Firmware type=\"Coreboot\"/>"), 6, "Coreboot" },
        new object[] { Machine("      <Memory RAMSize=\"64\"/>\n      <StorageControllers>\n        <StorageController name=\"S\" type=\"AHCI\" PortCount=\"1\">\n          <AttachedDevice type=\"DVD\" port=\"x\" device=\"0\"/>\n        </StorageController>\n      </StorageControllers>"), 8, "port" },
    };

    [Theory]
    [MemberData(nameof(BadMachineFiles))]
    public void MalformedMachineFileIsRefusedWithFileLineAndProblem(string content, int line, string problem)
    {
        using var dir = new TempDir();
        string path = dir["m.vbox"];
        File.WriteAllText(path, content);
        var e = Assert.Throws<SettingsFileException>(() => new MachineConfig(SettingsDocument.Load(path)));
        Assert.Equal(path, e.FilePath);
        Assert.Equal(line, e.Line);
        Assert.Contains(problem, e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.StartsWith($"Error in {path} (line {line}) -- ", e.Message);
    }

    [Fact]
    public void MalformedFilesAreNeverOverwritten()
    {
        using var h = new VBoxManageHome();
        string uuid = h.CreateVm("victim");
        string vbox = h.VboxPath("victim");
        string bad = File.ReadAllText(vbox).Replace("<Hardware>", "<Hardware><Memory RAMSize=\"64\" /><Memory", StringComparison.Ordinal);
        File.WriteAllText(vbox, bad);
        foreach (string[] cmd in new[]
                 {
                     new[] { "modifyvm", uuid, "--memory", "64" },
                     new[] { "setextradata", uuid, "k", "v" },
                     new[] { "storagectl", uuid, "--name", "SATA", "--add", "sata" },
                     new[] { "unregistervm", uuid, "--delete" },
                 })
        {
            CliResult r = h.Run(cmd);
            Assert.NotEqual(0, r.ExitCode);
            Assert.Contains(vbox, r.Stderr);
            Assert.Contains("(line ", r.Stderr);
        }
        Assert.Equal(bad, File.ReadAllText(vbox));
        Assert.False(File.Exists(vbox + "-prev"));

        // A broken VirtualBox.xml stops every command that needs it, and is left as it is.
        string global = Path.Combine(h.Home, "VirtualBox.xml");
        string brokenGlobal = File.ReadAllText(global).Replace("</Global>", "</Globl>", StringComparison.Ordinal);
        File.WriteAllText(global, brokenGlobal);
        CliResult list = h.Fails(1, "list", "vms");
        Assert.Contains(global, list.Stderr);
        Assert.Contains("(line ", list.Stderr);
        h.Fails(1, "setextradata", "global", "k", "v");
        h.Fails(1, "createvm", "--name", "another", "--register");
        Assert.Equal(brokenGlobal, File.ReadAllText(global));
    }

    [Fact]
    public void AtomicSaveKeepsPreviousVersionAndLeavesNoTemp()
    {
        using var dir = new TempDir();
        string path = dir["f.xml"];
        AtomicFile.WriteAllText(path, "one");
        Assert.False(File.Exists(path + "-prev"));
        AtomicFile.WriteAllText(path, "two");
        Assert.Equal("two", File.ReadAllText(path));
        Assert.Equal("one", File.ReadAllText(path + "-prev"));
        // A temp file left by a crash is simply replaced.
        File.WriteAllText(path + "-tmp", "garbage from a crash");
        AtomicFile.WriteAllText(path, "three");
        Assert.Equal("three", File.ReadAllText(path));
        Assert.Equal("two", File.ReadAllText(path + "-prev"));
        Assert.False(File.Exists(path + "-tmp"));
    }

    [Fact]
    public void FileLockExcludesOtherProcesses()
    {
        Assert.True(Tool.Exists("flock"), "flock(1) from util-linux is needed");
        using var dir = new TempDir();
        var psi = new ProcessStartInfo("flock", new[] { "--exclusive", dir.Path, "sleep", "3" }) { UseShellExecute = false };
        using Process holder = Process.Start(psi)!;
        try
        {
            // Wait until the other process really holds it.
            var sw = Stopwatch.StartNew();
            while (Tool.Run("flock", "--nonblock", dir.Path, "true").ExitCode == 0 && sw.ElapsedMilliseconds < 5000)
                Thread.Sleep(20);
            var e = Assert.Throws<TimeoutException>(() => FileLock.Acquire(dir.Path, TimeSpan.FromMilliseconds(300)));
            Assert.Contains(dir.Path, e.Message);
        }
        finally
        {
            holder.WaitForExit();
        }
        using FileLock l = FileLock.Acquire(dir.Path, TimeSpan.FromSeconds(5));
        // Re-entrant for the holder; other processes are excluded while we hold it.
        using (FileLock again = FileLock.Acquire(dir.Path, TimeSpan.FromSeconds(1)))
            Assert.Equal(dir.Path, again.Path);
        Assert.Equal(1, Tool.Run("flock", "--nonblock", dir.Path, "true").ExitCode);
    }

    private sealed class FakeEnv : UserHome.IEnvironment
    {
        public Dictionary<string, string> Vars { get; } = new();
        public HashSet<string> Dirs { get; } = new();
        public uint Uid { get; init; } = 1000;
        public string? AccountHome { get; init; } = "/home/account";
        public string? Get(string name) => Vars.TryGetValue(name, out string? v) ? v : null;
        public string? HomeFromAccountDatabase(uint uid) => AccountHome;
        public bool DirectoryExists(string path) => Dirs.Contains(path);
    }

    [Fact]
    public void ConfigDirectoryRules()
    {
        var env = new FakeEnv();
        env.Vars["HOME"] = "/home/u";
        Assert.Equal("/home/u/.config/VirtualBox", UserHome.ConfigDirectory(env));
        env.Vars["XDG_CONFIG_HOME"] = "/xdg";
        Assert.Equal("/xdg/VirtualBox", UserHome.ConfigDirectory(env));
        env.Dirs.Add("/home/u/.VirtualBox");
        Assert.Equal("/home/u/.VirtualBox", UserHome.ConfigDirectory(env)); // legacy folder wins when it exists
        env.Vars["VBOX_USER_HOME"] = "/custom/vbox";
        Assert.Equal("/custom/vbox", UserHome.ConfigDirectory(env));

        // root: the home directory comes from the account database, not $HOME.
        var root = new FakeEnv { Uid = 0, AccountHome = "/root" };
        root.Vars["HOME"] = "/home/someone-else";
        Assert.Equal("/root", UserHome.HomeDirectory(root));
        Assert.Equal("/root/.config/VirtualBox", UserHome.ConfigDirectory(root));
        // Non-root without $HOME falls back to the account database too.
        Assert.Equal("/home/account", UserHome.HomeDirectory(new FakeEnv()));
        Assert.Throws<InvalidOperationException>(() => UserHome.HomeDirectory(new FakeEnv { Uid = 0, AccountHome = null }));
        // The real process: the account database has an entry for us.
        Assert.False(string.IsNullOrEmpty(UserHome.HomeDirectory(UserHome.Process)));
    }

    [Fact]
    public void ApiMapsSettingsErrorsToXmlError()
    {
        using var dir = new TempDir();
        string home = dir["config"];
        Directory.CreateDirectory(home);
        File.WriteAllText(Path.Combine(home, "VirtualBox.xml"), "<?xml version=\"1.0\"?>\n<VirtualBox xmlns=\"http://www.virtualbox.org/\" version=\"1.19-linux\">\n<Global><MachineRegistry><MachineEntry src=\"x.vbox\"/></MachineRegistry></Global>\n</VirtualBox>\n");
        var e = Assert.Throws<VBoxException>(() => VirtualBox.Open(new StorageMediumBackend(), home));
        Assert.Equal(ResultCode.VBOX_E_XML_ERROR, e.ResultCode);
        Assert.Contains("(line 3)", e.Message);
        Assert.Contains("uuid", e.Message);
        Assert.False(File.Exists(Path.Combine(home, "VirtualBox.xml-prev")));
    }

    [Fact]
    public void SavedFilesAreUtf8WithoutBomAndIndented()
    {
        using var h = new VBoxManageHome();
        h.CreateVm("fmt");
        byte[] bytes = File.ReadAllBytes(h.VboxPath("fmt"));
        Assert.Equal((byte)'<', bytes[0]);
        string text = Encoding.UTF8.GetString(bytes);
        Assert.Contains("\n  <Machine ", text);
        Assert.Contains("\n    <Hardware>", text);
        Assert.DoesNotContain("\r", text);
        Assert.EndsWith("</VirtualBox>\n", text);
    }
}
