using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using SharpBox.Main.Api;
using SharpBox.Main.Remote;

namespace SharpBox.Service.Tests;

/// <summary>
/// A VM's life through VBoxSVC with a small guest (Guests/ticker.asm: "TICK n" on the serial port
/// every 0.1 s of guest time, "KEY xx" for keyboard input): startvm, pause, resume, keyboard input,
/// savestate and restore (the ticks go on where they stopped), power-off, online snapshots, a VM
/// process killed (Aborted), VBoxSVC killed (the VM goes on and registers again), VBoxHeadless started
/// by hand. States are checked from a second client each step.
/// </summary>
public class VmLifecycleTests
{
    private static readonly Lazy<string> Ticker = new(() =>
    {
        string asm = Path.Combine(AppContext.BaseDirectory, "Guests", "ticker.asm");
        string bin = Path.Combine(Path.GetTempPath(), $"sbx-ticker-{Environment.ProcessId}.bin");
        CliResult r = Tool.Run("nasm", "-f", "bin", "-w-zeroing", asm, "-o", bin);
        Assert.True(r.ExitCode == 0, $"nasm ticker.asm:\n{r}");
        return bin;
    });

    private sealed class Vm
    {
        public required SvcHome H { get; init; }
        public required string Name { get; init; }
        public required string Serial { get; init; }
        public required Guid Id { get; init; }

        public string[] Lines() => File.Exists(Serial) ? File.ReadAllLines(Serial) : Array.Empty<string>();

        /// <summary>The tick numbers printed so far (a line still being written is not counted).</summary>
        private IEnumerable<int> Ticks()
        {
            foreach (string l in Lines())
                if (l.StartsWith("TICK ", StringComparison.Ordinal) && int.TryParse(l.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out int n))
                    yield return n;
        }

        public int LastTick() => Ticks().LastOrDefault();
        public int FirstTick() => Ticks().FirstOrDefault();

        public void WaitTick(int atLeast, int timeoutMs = 60_000)
            => Assert.True(SvcHome.WaitFor(() => LastTick() >= atLeast, timeoutMs), $"the guest did not reach TICK {atLeast}: {string.Join(" | ", Lines().TakeLast(3))}");

        public Dictionary<string, string> Info()
        {
            var d = new Dictionary<string, string>();
            foreach (string line in H.Ok("showvminfo", Name, "--machinereadable").Stdout.Split('\n'))
            {
                int eq = line.IndexOf('=');
                if (eq > 0)
                    d[line[..eq].Trim('"')] = line[(eq + 1)..].Trim('"');
            }
            return d;
        }

        public int VmPid()
        {
            Match m = Regex.Matches(H.Log, "Started VM process pid ([0-9]+) for '" + Regex.Escape(Name) + "'").LastOrDefault()
                ?? throw new InvalidOperationException("no VM process in VBoxSVC.log");
            return int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        }
    }

    private static Vm Create(SvcHome h, string name)
    {
        string serial = Path.Combine(h.Root, name + ".serial");
        string uuid = h.CreateVm(name);
        h.Ok("modifyvm", name, "--memory", "32", "--hwvirtex", "off", "--boot-kernel", Ticker.Value,
            "--uart1", "0x3f8", "4", "--uart-mode1", "file", serial);
        return new Vm { H = h, Name = name, Serial = serial, Id = Guid.Parse(uuid) };
    }

    [Fact]
    public void StartPauseResumeSaveRestorePowerOff()
    {
        using var h = new SvcHome();
        Vm vm = Create(h, "life");
        using RemoteConnection watcher = h.Connect("second client");
        var events = new EventCollector(watcher.Root, VBoxEventType.MachineStateChanged);
        IMachine seen = watcher.Root.FindMachine("life");
        Assert.Equal(MachineState.PoweredOff, seen.State);

        CliResult start = h.Ok("startvm", "life", "--type", "headless");
        Assert.Equal("Waiting for VM \"life\" to power on...\nVM \"life\" has been successfully started.\n", start.Stdout);
        Assert.Equal(MachineState.Running, seen.State);
        Assert.Equal(SessionState.Locked, seen.SessionState);
        Assert.Equal("headless", seen.SessionName);
        int pid = vm.VmPid();
        Assert.Equal((uint)pid, seen.SessionPID);
        Assert.True(SvcHome.ProcessAlive(pid));
        Assert.Contains($"\"life\" {{{vm.Id:D}}}", h.Ok("list", "runningvms").Stdout);
        Dictionary<string, string> info = vm.Info();
        Assert.Equal("running", info["VMState"]);
        Assert.Equal("headless", info["SessionName"]);
        vm.WaitTick(5);

        // Settings cannot change under a running VM; the loser is told VirtualBox's way.
        Assert.Contains("is already locked for a session (or being unlocked)", h.Fails(1, "modifyvm", "life", "--memory", "64").Stderr);
        Assert.Contains("is already locked by a session", h.Fails(1, "startvm", "life").Stderr);

        h.Ok("controlvm", "life", "pause");
        Assert.Equal(MachineState.Paused, seen.State);
        Assert.Equal("paused", vm.Info()["VMState"]);
        Thread.Sleep(300);
        int paused = vm.LastTick();
        Thread.Sleep(700);
        Assert.Equal(paused, vm.LastTick()); // guest time stands still
        Assert.Contains("Cannot pause the machine as it is not running (machine state: Paused)", h.Fails(1, "controlvm", "life", "pause").Stderr);
        h.Ok("controlvm", "life", "resume");
        Assert.Equal(MachineState.Running, seen.State);
        vm.WaitTick(paused + 3);

        h.Ok("controlvm", "life", "keyboardputscancode", "1e", "9e");
        Assert.True(SvcHome.WaitFor(() => vm.Lines().Contains("KEY 1e") && vm.Lines().Contains("KEY 9e"), 10_000), "the guest did not get the keys");
        Assert.Contains("Error: 'zz' is not a hex byte!", h.Fails(1, "controlvm", "life", "keyboardputscancode", "zz").Stderr);
        Assert.Contains("the VM has no display", h.Fails(1, "controlvm", "life", "screenshotpng", Path.Combine(h.Root, "s.png")).Stderr);

        // savestate: the state goes to Snapshots/<timestamp>.sav, recorded in the .vbox; the process ends.
        CliResult save = h.Ok("controlvm", "life", "savestate");
        Assert.Contains("100%", save.Stderr);
        Assert.Equal(MachineState.Saved, seen.State);
        Assert.True(SvcHome.WaitFor(() => !SvcHome.ProcessAlive(pid), 10_000), "the VM process did not end after savestate");
        int saved = vm.LastTick();
        info = vm.Info();
        Assert.Equal("saved", info["VMState"]);
        string sav = info["VMStateFile"];
        Assert.StartsWith(Path.Combine(h.MachineFolder, "life", "Snapshots") + "/", sav);
        Assert.Matches("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{9}Z\\.sav$", sav);
        Assert.True(File.Exists(sav));
        XElement machine = XDocument.Load(Path.Combine(h.MachineFolder, "life", "life.vbox")).Root!.Elements().First(e => e.Name.LocalName == "Machine");
        Assert.Equal("Snapshots/" + Path.GetFileName(sav), (string?)machine.Attribute("stateFile"));
        Assert.Equal(SessionState.Unlocked, seen.SessionState);

        // startvm restores it: the guest goes on with the next tick; the state file is consumed.
        h.Ok("startvm", "life");
        Assert.Equal(MachineState.Running, seen.State);
        vm.WaitTick(saved + 3);
        Assert.Equal(saved + 1, vm.FirstTick());
        Assert.DoesNotContain("TICKER READY", vm.Lines());
        Assert.False(File.Exists(sav));
        Assert.False(vm.Info().ContainsKey("VMStateFile"));

        h.Ok("controlvm", "life", "poweroff");
        Assert.Equal(MachineState.PoweredOff, seen.State);
        Assert.Equal("poweroff", vm.Info()["VMState"]);
        Assert.DoesNotContain("\"life\"", h.Ok("list", "runningvms").Stdout);
        Assert.Contains("Machine 'life' is not currently running.", h.Fails(1, "controlvm", "life", "pause").Stderr);

        // The second client heard every transition, in order.
        var order = new[] { MachineState.Running, MachineState.Paused, MachineState.Running, MachineState.Saved, MachineState.Running, MachineState.PoweredOff };
        int at = 0;
        while (at < order.Length && events.WaitFor(e => e.MachineId == vm.Id, 2000) is VBoxEvent e)
            if (e.State == order[at])
                at++;
        Assert.True(at == order.Length, $"missing state events after {string.Join(",", order.Take(at))}");
    }

    [Fact]
    public void KilledVmProcessLeavesTheMachineAborted()
    {
        using var h = new SvcHome();
        Vm vm = Create(h, "victim");
        h.Ok("startvm", "victim");
        vm.WaitTick(2);
        int pid = vm.VmPid();
        Process.GetProcessById(pid).Kill();
        Assert.True(SvcHome.WaitFor(() => vm.Info()["VMState"] == "aborted", 10_000), "the machine did not become Aborted");
        XElement machine = XDocument.Load(Path.Combine(h.MachineFolder, "victim", "victim.vbox")).Root!.Elements().First(e => e.Name.LocalName == "Machine");
        Assert.Equal("true", (string?)machine.Attribute("aborted"));
        Assert.Contains("ended without powering off", h.Log);
        // An aborted machine starts again from scratch.
        h.Ok("startvm", "victim");
        Assert.True(SvcHome.WaitFor(() => vm.Lines().Contains("TICKER READY"), 30_000));
        h.Ok("controlvm", "victim", "poweroff");
        Assert.Equal("poweroff", vm.Info()["VMState"]);
    }

    [Fact]
    public void VmOutlivesVBoxSvcAndRegistersWithTheNextOne()
    {
        using var h = new SvcHome();
        Vm vm = Create(h, "survivor");
        h.Ok("startvm", "survivor");
        vm.WaitTick(2);
        int vmPid = vm.VmPid();
        int svc = h.ServicePid();
        Process.GetProcessById(svc).Kill();
        Assert.True(SvcHome.WaitFor(() => !SvcHome.ProcessAlive(svc), 10_000));
        int before = vm.LastTick();
        vm.WaitTick(before + 5);
        Assert.True(SvcHome.ProcessAlive(vmPid));
        // A new VBoxSVC (started by the VM process or by this client) shows it running.
        Assert.True(SvcHome.WaitFor(() => h.Run("showvminfo", "survivor", "--machinereadable").Stdout.Contains("VMState=\"running\""), 20_000),
            "the new VBoxSVC does not show the VM running");
        Assert.NotEqual(svc, h.ServicePid());
        Assert.Contains("\"survivor\"", h.Ok("list", "runningvms").Stdout);
        h.Ok("controlvm", "survivor", "pause");
        Assert.Equal("paused", vm.Info()["VMState"]);
        h.Ok("controlvm", "survivor", "poweroff");
        Assert.True(SvcHome.WaitFor(() => !SvcHome.ProcessAlive(vmPid), 10_000));
        Assert.Equal("poweroff", vm.Info()["VMState"]);
    }

    [Fact]
    public void OnlineSnapshotKeepsTheRunningStateToRestore()
    {
        using var h = new SvcHome();
        Vm vm = Create(h, "snappy");
        h.Ok("startvm", "snappy");
        vm.WaitTick(3);
        int atTake = vm.LastTick();
        CliResult take = h.Ok("snapshot", "snappy", "take", "online", "--description", "while running");
        Assert.Matches("Snapshot taken. UUID: [0-9a-f-]{36}", take.Stdout);
        Assert.Equal("running", vm.Info()["VMState"]); // it goes on
        vm.WaitTick(atTake + 5);
        h.Ok("snapshot", "snappy", "take", "live", "--live");
        Assert.Contains("Cannot restore a snapshot of the running machine", h.Fails(1, "snapshot", "snappy", "restore", "online").Stderr);
        h.Ok("controlvm", "snappy", "poweroff");
        int atOff = vm.LastTick();

        XElement online = XDocument.Load(Path.Combine(h.MachineFolder, "snappy", "snappy.vbox")).Root!
            .Descendants().First(e => e.Name.LocalName == "Snapshot" && (string?)e.Attribute("name") == "online");
        string stateFile = (string?)online.Attribute("stateFile") ?? "";
        Assert.StartsWith("Snapshots/", stateFile);
        Assert.True(File.Exists(Path.Combine(h.MachineFolder, "snappy", stateFile)));

        h.Ok("snapshot", "snappy", "restore", "online");
        Assert.Equal("saved", vm.Info()["VMState"]);
        h.Ok("startvm", "snappy");
        vm.WaitTick(vm.FirstTick() + 2);
        int first = vm.FirstTick();
        Assert.True(first > atTake && first < atOff, $"restored at TICK {first}: expected between {atTake} and {atOff}");
        h.Ok("controlvm", "snappy", "poweroff");
        h.Ok("snapshot", "snappy", "delete", "live");
        h.Ok("snapshot", "snappy", "delete", "online");
        Assert.Empty(Directory.GetFiles(Path.Combine(h.MachineFolder, "snappy", "Snapshots")));
    }

    [Fact]
    public async Task HandStartedVBoxHeadlessRegistersWithVBoxSvc()
    {
        using var h = new SvcHome();
        Vm vm = Create(h, "byhand");
        var psi = new ProcessStartInfo(SvcHome.VBoxHeadlessExe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("--startvm");
        psi.ArgumentList.Add("byhand");
        h.Environment(psi);
        using Process p = Process.Start(psi)!;
        Task<string> err = p.StandardError.ReadToEndAsync();
        Task<string> output = p.StandardOutput.ReadToEndAsync();
        vm.WaitTick(2);
        Dictionary<string, string> info = vm.Info();
        Assert.Equal("running", info["VMState"]);
        Assert.Equal("headless", info["SessionName"]);
        h.Ok("controlvm", "byhand", "poweroff");
        Assert.True(p.WaitForExit(20_000));
        Assert.Equal(0, p.ExitCode);
        Assert.Equal("poweroff", vm.Info()["VMState"]);
        Assert.Equal("", await err);
        _ = await output;
        // A second VM process for the same machine is refused while one runs.
        h.Ok("startvm", "byhand");
        var psi2 = new ProcessStartInfo(SvcHome.VBoxHeadlessExe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi2.ArgumentList.Add("--startvm");
        psi2.ArgumentList.Add("byhand");
        h.Environment(psi2);
        using Process p2 = Process.Start(psi2)!;
        string err2 = p2.StandardError.ReadToEnd();
        Assert.True(p2.WaitForExit(20_000));
        Assert.Equal(1, p2.ExitCode);
        Assert.Contains("already locked", err2);
        h.Ok("controlvm", "byhand", "poweroff");
    }

    [Fact]
    public void StartFailuresAreReportedAndLeaveNothingRunning()
    {
        using var h = new SvcHome();
        h.CreateVm("broken");
        h.Ok("modifyvm", "broken", "--memory", "32", "--hwvirtex", "off", "--boot-kernel", Path.Combine(h.Root, "no-such-kernel"));
        CliResult r = h.Fails(1, "startvm", "broken");
        Assert.Contains("no-such-kernel", r.Stderr);
        Assert.Contains("VBoxManage: error: ", r.Stderr);
        Assert.Equal("poweroff", h.Ok("showvminfo", "broken", "--machinereadable").Stdout.Split('\n').First(l => l.StartsWith("VMState=", StringComparison.Ordinal))["VMState=".Length..].Trim('"'));
        Assert.Contains("SharpBox runs VMs headless", h.Fails(1, "startvm", "broken", "--type", "gui").Stderr);
        Assert.Contains("Could not find a registered machine named 'nope'", h.Fails(1, "startvm", "nope").Stderr);
        Assert.Contains("Invalid session type 'vnc'", h.Fails(2, "startvm", "broken", "--type", "vnc").Stderr);
    }
}
