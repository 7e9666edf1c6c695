using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using SharpBox.Devices;
using SharpBox.Main.Api;
using SharpBox.Main.Impl;
using SharpBox.Runtime;
using SharpBox.Vmm.Em;
using SharpBox.Vmm.Hm;

namespace SharpBox.Frontends.VBoxHeadless;

/// <summary>
/// VBoxHeadless: runs one configured VM in this process until the guest powers off (exit 0), the VM
/// is powered off from outside (SIGINT/SIGTERM, the control socket), the guest triple-faults (exit 1)
/// or the debug-exit port sets a status. A reset restarts the machine. The log goes to
/// &lt;machine folder&gt;/Logs/VBox.log, rotated to VBox.log.1..3. A VM that cannot start prints one line
/// on stderr and exits 1.
/// </summary>
public static class Program
{
    private const string Usage = """
        Usage:
           VBoxHeadless --startvm <name|uuid> [--control-socket <path>] [--gdb-port <port>]

        Options:
           -s, --startvm <name|uuid>     Start the given VM
           --control-socket <path>       Serve control commands (status, pause, resume, reset,
                                         poweroff, acpipowerbutton, savestate, debugvm, ...) on this
                                         Unix socket (default: a private one registered with VBoxSVC)
           --gdb-port <port>             Serve gdb's remote protocol on 127.0.0.1:<port>
                                         (default: extra data SharpBox/GdbPort, else none)
           -h, --help                    Show this help
        """;

    public static int Main(string[] args)
    {
        string? vmName = null, controlSocket = null;
        int? gdbPort = null;
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string? Value()
            {
                if (i + 1 >= args.Length) return null;
                return args[++i];
            }
            switch (a)
            {
                case "-s": case "--startvm": case "-startvm":
                    vmName = Value() ?? Fail(2, $"{a} needs a VM name or UUID");
                    break;
                case "--control-socket":
                    controlSocket = Value() ?? Fail(2, $"{a} needs a path");
                    break;
                case "--gdb-port":
                    {
                        string pv = Value() ?? Fail(2, $"{a} needs a port number");
                        if (!int.TryParse(pv, out int port) || port < 1 || port > 65535) return Error(2, $"{a} '{pv}' is not a TCP port (1-65535)");
                        gdbPort = port;
                        break;
                    }
                case "-h": case "--help": case "-help":
                    Console.Out.WriteLine(Usage);
                    return 0;
                case "--vrde": case "-vrde": case "-v":
                    // The remote display is not part of this build; "off" is what it is.
                    string? v = Value();
                    if (v is not ("off" or "config")) Fail(2, $"--vrde {v}: the remote display server is not available");
                    break;
                default:
                    return Error(2, $"unknown option '{a}'\n{Usage}");
            }
        }
        if (vmName is null) return Error(2, $"--startvm is required\n{Usage}");
        Console.Out.WriteLine($"SharpBox Headless Interface {Version}");
        Console.Out.Flush();
        return Run(vmName, controlSocket, gdbPort);
    }

    /// <summary>Extra data that forces the KVM engine where the host runs only user-mode guest code natively (VBoxManage setextradata VM SharpBox/HwVirtForce 1).</summary>
    public const string HmForceKey = "SharpBox/HwVirtForce";
    /// <summary>Extra data naming another KVM device node than /dev/kvm (tests use a missing one to check the fallback).</summary>
    public const string KvmDeviceKey = "SharpBox/KvmDevice";

    private static string Version => typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "1.0";

    private static int Error(int code, string message)
    {
        Console.Error.WriteLine($"VBoxHeadless: error: {message}");
        return code;
    }

    private static string Fail(int code, string message) { Environment.Exit(Error(code, message)); return ""; }

    /// <summary>Extra data giving the gdb port when --gdb-port is not on the command line (VBoxManage setextradata VM SharpBox/GdbPort 1234).</summary>
    public const string GdbPortKey = "SharpBox/GdbPort";

    private static int Run(string vmName, string? controlSocket, int? gdbPort)
    {
        // The VM runs under VBoxSVC: it holds the machine's VM session and reports to it (SvcLink).
        SvcLink link;
        try
        {
            link = SvcLink.Open(vmName);
        }
        catch (VBoxException e) { return Error(1, e.Message); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return Error(1, e.Message); }
        using (link)
        {
            int rc = RunLinked(link, controlSocket, gdbPort);
            return rc;
        }
    }

    private static MachineState ToMachineState(VmState s) => s switch
    {
        VmState.Running or VmState.Resetting => MachineState.Running,
        VmState.Suspended => MachineState.Paused,
        VmState.Saving => MachineState.Saving,
        VmState.Restoring => MachineState.Restoring,
        VmState.PoweredOff => MachineState.Stopping,
        _ => MachineState.Starting,
    };

    private static int RunLinked(SvcLink link, string? controlSocket, int? gdbPort)
    {
        IMachine machine = link.Machine;
        string vmName = machine.Name;
        ReleaseLog log;
        try { log = ReleaseLog.Open(Path.Combine(machine.LogFolder, "VBox.log"), 3, $"SharpBox VM {Version}"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            link.Finish(MachineState.PoweredOff);
            return Error(1, $"cannot open the log in '{machine.LogFolder}': {e.Message}");
        }

        using (log)
        {
            link.SetLog(log.Write);
            var vmlog = VmLog.ForMessages(log.Write);
            WriteHeader(log, machine);
            VirtualMachine vm;
            string? restore;
            IReadOnlyList<KeyValuePair<string, string>> engineFacts;
            try
            {
                // The machine's saved state (stateFile in the .vbox, kept by VBoxSVC) is where a start resumes.
                string stateFile = machine.StateFilePath;
                if (stateFile.Length > 0 && !File.Exists(stateFile))
                    throw new IOException($"the saved state file '{stateFile}' of the machine is missing (VBoxManage discardstate drops it)");
                restore = stateFile.Length > 0 ? stateFile : null;
                var config = MachineSettings.Read(machine, log.Write);
                log.Write($"Machine: {MachineSettings.Describe(config)}");
                foreach (var line in MachineSettings.DescribeStorage(config)) log.Write(line);
                var engine = EngineSelection.Choose(new HmSettings(
                    machine.GetHWVirtExProperty(HWVirtExPropertyType.Enabled), machine.GetHWVirtExProperty(HWVirtExPropertyType.NestedPaging),
                    machine.GetHWVirtExProperty(HWVirtExPropertyType.VPID), machine.GetHWVirtExProperty(HWVirtExPropertyType.LargePages),
                    machine.GetHWVirtExProperty(HWVirtExPropertyType.Force) || machine.GetExtraData(HmForceKey) == "1"),
                    machine.GetExtraData(KvmDeviceKey) is { Length: > 0 } dev ? dev : KvmSystem.DefaultPath);
                foreach (var line in engine.Report) log.Write(line);
                engineFacts = engine.Facts;
                var root = PcConfig.Build(config);
                log.Write("CFGM dump:");
                foreach (var line in root.ToString().Split('\n')) if (line.Length > 0) log.Write("  " + line);
                vm = new VirtualMachine(root, Builtins.Create(), engine.Factory, engine.Reason, vmlog);
            }
            catch (Exception e) when (e is not OutOfMemoryException || e.Message.Contains("guest memory"))
            {
                string msg = Flatten(e);
                log.Write($"Failed to start the VM: {msg}");
                link.Finish(MachineState.PoweredOff);
                return Error(1, $"failed to start VM '{vmName}': {msg}");
            }

            using (vm)
            {
                if (gdbPort is null && machine.GetExtraData(GdbPortKey) is { Length: > 0 } gp)
                {
                    if (!int.TryParse(gp, out int p) || p < 1 || p > 65535)
                    {
                        link.Finish(MachineState.PoweredOff);
                        return Error(1, $"extra data {GdbPortKey} = '{gp}' is not a TCP port");
                    }
                    gdbPort = p;
                }
                SharpBox.Vmm.Dbgf.VmDebugger debugger;
                try { debugger = new SharpBox.Vmm.Dbgf.VmDebugger(vm, gdbPort) { EngineFacts = engineFacts }; }
                catch (IOException e)
                {
                    log.Write($"Failed to start the VM: {e.Message}");
                    link.Finish(MachineState.PoweredOff);
                    return Error(1, e.Message);
                }
                using var _ = debugger;
                if (restore is not null)
                {
                    log.Write($"Restoring the saved state {restore}");
                    // As VirtualBox does, the saved state is consumed once the VM runs from it.
                    vm.Restored += _ => link.StateRestored();
                }
                vm.StateChanged += s => link.Report(ToMachineState(s));
                ControlServer? control = null;
                using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; vm.RequestPowerOff("SIGINT received"); });
                using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; vm.RequestPowerOff("SIGTERM received"); });
                try
                {
                    string socket = controlSocket ?? link.DefaultControlSocket();
                    control = new ControlServer(socket, vm, link.ComposeSavedStateFilename)
                    {
                        DebugCommand = debugger.Command,
                        DiskLuns = () => DiskLuns(machine),
                    };
                    log.Write($"Control socket: {socket}");
                    link.Register(socket, restore is not null ? MachineState.Restoring : MachineState.Starting);
                    var end = vm.Run(restore);
                    log.Write($"VBoxHeadless: exiting with status {end.ExitCode} ({end.Reason})");
                    if (end.ExitCode != 0) Console.Error.WriteLine($"VBoxHeadless: {end.Reason}");
                    control.Dispose();
                    control = null;
                    // A save that stopped the VM: VBoxSVC records the state file, the machine ends Saved.
                    if (vm.SavedStateOnExit is string saved)
                    {
                        try { link.StateSaved(saved); }
                        catch (VBoxException e) { log.Write($"VBoxSVC did not take the saved state {saved}: {e.Message}"); }
                    }
                    link.Finish(vm.SavedStateOnExit != null ? MachineState.Saved : MachineState.PoweredOff);
                    return end.ExitCode;
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    string msg = Flatten(e);
                    log.Write($"Failed to start the VM: {msg}");
                    link.Finish(MachineState.PoweredOff);
                    return Error(1, $"failed to start VM '{vmName}': {msg}");
                }
                finally
                {
                    control?.Dispose();
                }
            }
        }
    }

    /// <summary>The LUN configurations of the machine's IDE disks as its settings say now (for disks-open).</summary>
    private static IReadOnlyList<SharpBox.Vmm.Cfgm.CfgmNode?> DiskLuns(IMachine machine)
    {
        var luns = new SharpBox.Vmm.Cfgm.CfgmNode?[4];
        if (MachineSettings.ReadStorage(machine, _ => { }) is { } ide)
            foreach (var d in ide.Disks) luns[d.Channel * 2 + d.Device] = PcConfig.IdeLunConfig(d);
        return luns;
    }

    private static string Flatten(Exception e)
    {
        var sb = new StringBuilder(e.Message);
        for (var x = e.InnerException; x is not null; x = x.InnerException)
            if (!e.Message.Contains(x.Message, StringComparison.Ordinal)) sb.Append(": ").Append(x.Message);
        return sb.ToString().Replace('\n', ' ');
    }

    private static void WriteHeader(ReleaseLog log, IMachine m)
    {
        log.Write($"Executable: {Environment.ProcessPath}");
        log.Write($"Process ID: {Environment.ProcessId}");
        log.Write($"Host: {RuntimeInformation.OSDescription} {RuntimeInformation.OSArchitecture}, {Environment.ProcessorCount} CPU(s), .NET {Environment.Version}");
        log.Write($"Host RAM: {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes >> 20} MiB");
        log.Write($"Machine '{m.Name}' {{{m.Id}}} settings {m.SettingsFilePath}");
    }
}
