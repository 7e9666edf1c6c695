using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using SharpBox.Main.Api;
using SharpBox.Main.Settings;

namespace SharpBox.Main.Impl;

/// <summary>
/// How a VirtualBox object starts VM processes. VBoxSVC provides it (it knows where VBoxHeadless is
/// and keeps the processes' output); without one, LaunchVMProcess is not available.
/// </summary>
public interface IVmLauncher
{
    /// <summary>Starts the VM process for <paramref name="machineId"/>; returns its pid. Throws with a clear message when it cannot.</summary>
    int Launch(Guid machineId, string machineName, string type, IReadOnlyList<string> environment);
    /// <summary>Whether the process started by <see cref="Launch"/> has ended, and its last error output.</summary>
    bool HasExited(int pid, out string lastError);
}

/// <summary>A VM process VBoxSVC knows: who it is, where it takes commands, which session it holds.</summary>
public sealed class VmProcessInfo
{
    public required int Pid { get; init; }
    public required string ControlSocket { get; init; }
    public required Session Session { get; init; }
    /// <summary>The state file the VM saved to while ending (the machine ends Saved, not Aborted).</summary>
    public string? SavedTo { get; set; }
}

/// <summary>
/// The VM process' control socket as VBoxSVC uses it: one text command per line, one answer line
/// ("ok ..." or "error: ..."). Each command gets its own short connection.
/// </summary>
internal static class VmControlClient
{
    public static string Send(string socketPath, string command, TimeSpan timeout)
        => Exchange(socketPath, command, timeout, multiLine: false);

    /// <summary>
    /// For commands whose answer is "ok N" followed by N lines of text (debugvm): returns "ok" and the
    /// text joined by newlines, or the "error: ..." line.
    /// </summary>
    public static string SendMultiLine(string socketPath, string command, TimeSpan timeout)
        => Exchange(socketPath, command, timeout, multiLine: true);

    private static string Exchange(string socketPath, string command, TimeSpan timeout, bool multiLine)
    {
        using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        s.ReceiveTimeout = (int)timeout.TotalMilliseconds;
        s.SendTimeout = (int)timeout.TotalMilliseconds;
        try
        {
            s.Connect(new UnixDomainSocketEndPoint(socketPath));
            s.Send(Encoding.UTF8.GetBytes(command + "\n"));
            var data = new List<byte>();
            var buf = new byte[65536];
            int wanted = 1;        // lines still to read (the first line may raise it)
            int scanned = 0;
            bool first = true;
            while (wanted > 0)
            {
                int n = s.Receive(buf);
                if (n == 0)
                    break;
                data.AddRange(buf.AsSpan(0, n).ToArray());
                for (; scanned < data.Count && wanted > 0; scanned++)
                {
                    if (data[scanned] != (byte)'\n')
                        continue;
                    wanted--;
                    if (first && multiLine)
                    {
                        first = false;
                        string head = Encoding.UTF8.GetString(data.GetRange(0, scanned).ToArray());
                        if (head.StartsWith("ok ", StringComparison.Ordinal) && int.TryParse(head.AsSpan(3), out int lines) && lines >= 0)
                            wanted = lines;
                    }
                }
            }
            // Without the trailing newline of the last line read.
            int end = scanned > 0 && scanned <= data.Count && data[scanned - 1] == (byte)'\n' ? scanned - 1 : data.Count;
            string text = Encoding.UTF8.GetString(data.GetRange(0, end).ToArray());
            if (!multiLine)
                return text;
            int nl = text.IndexOf('\n');
            if (text.StartsWith("ok ", StringComparison.Ordinal) && nl >= 0)
                return "ok\n" + text[(nl + 1)..];
            return text.StartsWith("ok", StringComparison.Ordinal) ? "ok\n" : text;
        }
        catch (SocketException e)
        {
            throw new VBoxException(ResultCode.VBOX_E_VM_ERROR,
                $"The VM process does not answer on its control socket '{socketPath}': {e.Message}", "ConsoleWrap", "IConsole");
        }
    }
}

/// <summary>IInternalMachineControl of a VM session: the VM process reporting to VBoxSVC.</summary>
internal sealed class MachineControl : IInternalMachineControl
{
    private readonly VirtualBox _vbox;
    private readonly Session _session;

    public MachineControl(VirtualBox vbox, Session session)
    {
        _vbox = vbox;
        _session = session;
    }

    private Machine SessionMachine => _session.LockedMachine
        ?? throw new VBoxException(ResultCode.VBOX_E_INVALID_SESSION_STATE, "The VM session is not locked", "SessionWrap", "IInternalMachineControl");

    public void RegisterVmProcess(int pid, string controlSocket, MachineState state)
    {
        Machine m = SessionMachine;
        if (string.IsNullOrEmpty(controlSocket))
            throw new VBoxException(ResultCode.E_INVALIDARG, "The VM process must name its control socket", "SessionWrap", "IInternalMachineControl");
        _vbox.RegisterVmProcess(m.Id, new VmProcessInfo
        {
            Pid = _session.ClientPid != 0 && _session.ClientPid != (uint)Environment.ProcessId ? (int)_session.ClientPid : pid,
            ControlSocket = controlSocket,
            Session = _session,
        }, state);
    }

    public void UpdateState(MachineState state) => _vbox.VmReportsState(SessionMachine.Id, state);

    public void StateRestored()
    {
        Machine m = SessionMachine;
        string file = m.StateFilePath;
        MachineConfig cfg = m.Cfg;
        if (cfg.StateFile.Length == 0)
            return;
        cfg.StateFile = "";
        m.SaveSettings();
        // The saved state is consumed once the VM runs from it, as VirtualBox does (a snapshot's own
        // copy stays).
        if (file.Length > 0 && !cfg.AllSnapshots().Any(s => s.StateFile.Length > 0 && Path.GetFullPath(s.StateFile, Path.GetDirectoryName(m.SettingsFilePath)!) == file))
        {
            try { File.Delete(file); }
            catch (IOException) { }
        }
    }

    public void StateSaved(string stateFile)
    {
        Machine m = SessionMachine;
        string full = Path.GetFullPath(stateFile);
        if (!File.Exists(full))
            throw new VBoxException(ResultCode.VBOX_E_FILE_ERROR, $"The saved state file '{full}' does not exist", "SessionWrap", "IInternalMachineControl");
        m.RecordStateFile(full);
        _vbox.VmSavedTo(m.Id, full);
    }

    public string ComposeSavedStateFilename()
    {
        Machine m = SessionMachine;
        Directory.CreateDirectory(m.SnapshotFolder);
        return m.ComposeSavedStateFilename();
    }
}

/// <summary>
/// The console of a running VM in VBoxSVC: each call goes to the VM process' control socket. States
/// follow VirtualBox's (Pause needs Running, Resume needs Paused, ...), with its error wording.
/// </summary>
internal sealed class VmConsole : IConsole
{
    private const string Component = "ConsoleWrap";
    private const string Iface = "IConsole";
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);

    private readonly VirtualBox _vbox;
    private readonly Guid _machineId;
    private readonly IMachine _machine;

    public VmConsole(VirtualBox vbox, Guid machineId, IMachine machine)
    {
        _vbox = vbox;
        _machineId = machineId;
        _machine = machine;
    }

    private static VBoxException Error(int rc, string message) => new(rc, message, Component, Iface);

    public IMachine Machine => _machine;
    public MachineState State => _vbox.LiveStateOf(_machineId) ?? MachineState.PoweredOff;

    private VmProcessInfo Process => _vbox.VmProcessOf(_machineId)
        ?? throw Error(ResultCode.VBOX_E_INVALID_VM_STATE, $"The machine is not running (machine state: {State})");

    /// <summary>Sends a command; "ok ..." returns the rest, "error: ..." becomes VBOX_E_VM_ERROR.</summary>
    private string Command(string command)
    {
        string socket = Process.ControlSocket;
        string reply = VmControlClient.Send(socket, command, CommandTimeout);
        if (reply.StartsWith("ok", StringComparison.Ordinal))
            return reply.Length > 2 ? reply[2..].Trim() : "";
        string why = reply.StartsWith("error: ", StringComparison.Ordinal) ? reply[7..] : reply.Length == 0 ? "no answer (the VM process ended)" : reply;
        throw Error(ResultCode.VBOX_E_VM_ERROR, $"The VM refused '{command.Split(' ')[0]}': {why}");
    }

    private void Require(string what, params MachineState[] states)
    {
        MachineState st = State;
        if (Array.IndexOf(states, st) < 0)
            throw Error(ResultCode.VBOX_E_INVALID_VM_STATE, $"{what} (machine state: {st})");
    }

    public void Pause()
    {
        Require("Cannot pause the machine as it is not running", MachineState.Running);
        Command("pause");
        _vbox.VmReportsState(_machineId, MachineState.Paused);
    }

    public void Resume()
    {
        Require("Cannot resume the machine as it is not paused", MachineState.Paused);
        Command("resume");
        _vbox.VmReportsState(_machineId, MachineState.Running);
    }

    public void Reset()
    {
        Require("Invalid machine state", MachineState.Running, MachineState.Paused);
        Command("reset");
    }

    public void PowerButton()
    {
        Require("Invalid machine state", MachineState.Running);
        Command("acpipowerbutton");
    }

    public IProgress PowerDown()
    {
        Require("Invalid machine state", MachineState.Running, MachineState.Paused, MachineState.Stuck, MachineState.Starting, MachineState.Restoring);
        VmProcessInfo p = Process;
        _vbox.VmReportsState(_machineId, MachineState.Stopping);
        return Progress.Start("Powering off the machine", Component, Iface, pr =>
        {
            VmControlClient.Send(p.ControlSocket, "poweroff", CommandTimeout);
            WaitForEnd(p, pr);
        });
    }

    public IProgress SaveState()
    {
        Require("Cannot save the execution state as the machine is not running or paused", MachineState.Running, MachineState.Paused);
        VmProcessInfo p = Process;
        string file;
        lock (_vbox.ApiLock)
        {
            Machine m = p.Session.LockedMachine ?? throw Error(ResultCode.VBOX_E_INVALID_VM_STATE, "The VM session is gone");
            Directory.CreateDirectory(m.SnapshotFolder);
            file = m.ComposeSavedStateFilename();
        }
        _vbox.VmReportsState(_machineId, MachineState.Saving);
        return Progress.Start("Saving the execution state of the virtual machine", Component, Iface, pr =>
        {
            string reply = VmControlClient.Send(p.ControlSocket, "savestate " + file, TimeSpan.FromMinutes(10));
            if (!reply.StartsWith("ok", StringComparison.Ordinal))
            {
                lock (_vbox.ApiLock)
                    if (_vbox.LiveStateOf(_machineId) == MachineState.Saving)
                        _vbox.VmReportsState(_machineId, MachineState.Running);
                throw Error(ResultCode.VBOX_E_VM_ERROR, $"Saving the state failed: {(reply.StartsWith("error: ", StringComparison.Ordinal) ? reply[7..] : reply)}");
            }
            pr.Report(90);
            WaitForEnd(p, pr);
            if (_vbox.LiveStateOf(_machineId) is null && !File.Exists(file))
                throw Error(ResultCode.VBOX_E_FILE_ERROR, $"The VM process ended but '{file}' was not written");
        });
    }

    /// <summary>Waits until the VM process has ended (its session is gone), up to a minute.</summary>
    private void WaitForEnd(VmProcessInfo p, Progress pr)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromMinutes(1))
        {
            lock (_vbox.ApiLock)
                if (!ReferenceEquals(_vbox.VmProcessOf(_machineId), p))
                    return;
            Thread.Sleep(10);
        }
        throw Error(ResultCode.VBOX_E_VM_ERROR, $"The VM process (pid {p.Pid}) did not end within a minute");
    }

    public void PutScancodes(IReadOnlyList<int> scancodes)
    {
        Require("Invalid machine state", MachineState.Running, MachineState.Paused);
        if (scancodes.Count == 0)
            return;
        foreach (int c in scancodes)
            if (c is < 0 or > 0xFF)
                throw Error(ResultCode.E_INVALIDARG, $"Invalid scancode 0x{c:x} (a byte is expected)");
        Command("keyboardputscancode " + string.Join(' ', scancodes.Select(c => c.ToString("x2"))));
    }

    public void SetLinkState(uint slot, bool connected)
    {
        Require("Invalid machine state", MachineState.Running, MachineState.Paused);
        VmProcessInfo p = Process;
        Machine m = p.Session.LockedMachine ?? throw Error(ResultCode.VBOX_E_INVALID_VM_STATE, "The VM session is gone");
        if (slot >= m.NetworkAdapterCount)
            throw Error(ResultCode.E_INVALIDARG, $"Invalid network adapter slot {slot}");
        if (!m.GetNetworkAdapter(slot).Enabled)
            throw Error(ResultCode.VBOX_E_INVALID_OBJECT_STATE, $"Network adapter {slot + 1} is not enabled");
        // The setting is kept (as VirtualBox keeps it), then the device is told.
        m.SetCableConnectedAtRuntime(slot, connected);
        Command($"setlinkstate {slot + 1} {(connected ? "on" : "off")}");
    }

    public IMachineDebugger Debugger => _debugger ??= new VmMachineDebugger(_vbox, _machineId);
    private VmMachineDebugger? _debugger;

    public byte[] TakeScreenshotPng(uint screen)
    {
        Require("Invalid machine state", MachineState.Running, MachineState.Paused);
        string reply = Command($"screenshotpng {screen}");
        try { return Convert.FromBase64String(reply); }
        catch (FormatException) { throw Error(ResultCode.VBOX_E_VM_ERROR, "The VM process sent a malformed screenshot"); }
    }
}

/// <summary>
/// IMachineDebugger in VBoxSVC: each call is a "debugvm ..." command on the VM process' control
/// socket (DBGF's VmDebugger answers it). Served outside VBoxSVC's API lock (a core dump of a large
/// VM takes a while): the lock is taken only to find the VM process.
/// </summary>
internal sealed class VmMachineDebugger : IMachineDebugger
{
    private const string Component = "MachineDebuggerWrap";
    private const string Iface = "IMachineDebugger";
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan CoreTimeout = TimeSpan.FromMinutes(30);

    private readonly VirtualBox _vbox;
    private readonly Guid _machineId;

    public VmMachineDebugger(VirtualBox vbox, Guid machineId)
    {
        _vbox = vbox;
        _machineId = machineId;
    }

    private static VBoxException Error(int rc, string message) => new(rc, message, Component, Iface);

    /// <summary>Sends "debugvm COMMAND"; returns the answer's text, or throws the VM's error.</summary>
    private string Command(string command, TimeSpan? timeout = null)
    {
        string socket;
        lock (_vbox.ApiLock)
        {
            MachineState st = _vbox.LiveStateOf(_machineId) ?? MachineState.PoweredOff;
            VmProcessInfo? p = _vbox.VmProcessOf(_machineId);
            if (p is null || st is not (MachineState.Running or MachineState.Paused or MachineState.Stuck))
                throw Error(ResultCode.VBOX_E_INVALID_VM_STATE, $"The virtual machine is not running (machine state: {st})");
            socket = p.ControlSocket;
        }
        string reply = VmControlClient.SendMultiLine(socket, "debugvm " + command, timeout ?? CommandTimeout);
        if (reply.StartsWith("ok\n", StringComparison.Ordinal))
            return reply[3..];
        string why = reply.StartsWith("error: ", StringComparison.Ordinal) ? reply[7..] : reply.Length == 0 ? "no answer (the VM process ended)" : reply;
        throw Error(ResultCode.VBOX_E_VM_ERROR, why);
    }

    private static string NoSpaces(string what, string value)
    {
        if (value.Length == 0 || value.Any(c => char.IsWhiteSpace(c)))
            throw Error(ResultCode.E_INVALIDARG, $"Invalid {what} '{value}'");
        return value;
    }

    public string Info(string name, string args)
        => Command($"info {NoSpaces("info item", name)}{(string.IsNullOrWhiteSpace(args) ? "" : " " + args.Trim())}") + "\n";

    /// <summary>The first line of osdetect: "Linux 6.1.0-..." (then the banner), or "unknown".</summary>
    private (string Name, string Version) Detect()
    {
        string text = Command("osdetect");
        string firstLine = text.Split('\n')[0].Trim();
        if (firstLine.Length == 0 || firstLine == "unknown")
            throw Error(ResultCode.VBOX_E_VM_ERROR, "No guest OS was detected (osdetect recognises Linux by its kernel banner in guest RAM)");
        int sp = firstLine.IndexOf(' ');
        string name = sp < 0 ? firstLine : firstLine[..sp];
        string[] lines = text.Split('\n');
        // The version is the kernel's banner when there is one ("6.1.0-13-amd64 (debian-kernel@...) #1 SMP ..."), as VirtualBox's Linux digger reports it.
        string version = lines.Length > 1 && lines[1].StartsWith("Linux version ", StringComparison.Ordinal)
            ? lines[1]["Linux version ".Length..]
            : sp < 0 ? "" : firstLine[(sp + 1)..];
        return (name, version);
    }

    public string DetectOS() => Detect().Name;
    public string OSName => Detect().Name;
    public string OSVersion => Detect().Version;

    public void DumpGuestCore(string filename, string compression)
    {
        if (!string.IsNullOrEmpty(compression))
            throw Error(ResultCode.E_INVALIDARG, "The compression parameter must be empty");
        if (string.IsNullOrEmpty(filename) || !Path.IsPathFullyQualified(filename))
            throw Error(ResultCode.E_INVALIDARG, $"The core file name must be an absolute path (got '{filename}')");
        if (filename.Contains('\n'))
            throw Error(ResultCode.E_INVALIDARG, "The core file name contains a line break");
        if (File.Exists(filename) || Directory.Exists(filename))
            throw Error(ResultCode.VBOX_E_FILE_ERROR, $"The file '{filename}' already exists");
        Command("dumpvmcore " + filename, CoreTimeout);
    }

    public string GetRegister(uint cpuId, string name)
    {
        string text = Command($"getregisters {cpuId} {NoSpaces("register name", name)}");
        int eq = text.IndexOf('=');
        return eq < 0 ? throw Error(ResultCode.VBOX_E_VM_ERROR, $"Malformed answer from the VM: '{text}'") : text[(eq + 1)..].Trim();
    }

    public IReadOnlyList<DebuggerRegister> GetRegisters(uint cpuId)
    {
        var list = new List<DebuggerRegister>();
        foreach (string line in Command($"getregisters {cpuId} all").Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = line.IndexOf('=');
            if (eq > 0)
                list.Add(new DebuggerRegister(line[..eq], line[(eq + 1)..]));
        }
        return list;
    }

    public void SetRegister(uint cpuId, string name, string value)
        => SetRegisters(cpuId, new[] { name }, new[] { value });

    public void SetRegisters(uint cpuId, IReadOnlyList<string> names, IReadOnlyList<string> values)
    {
        if (names.Count != values.Count)
            throw Error(ResultCode.E_INVALIDARG, $"{names.Count} register names but {values.Count} values");
        if (names.Count == 0)
            throw Error(ResultCode.E_INVALIDARG, "No register to set");
        var sb = new StringBuilder($"setregisters {cpuId}");
        for (int i = 0; i < names.Count; i++)
            sb.Append(' ').Append(NoSpaces("register name", names[i])).Append('=').Append(NoSpaces($"value for {names[i]}", values[i]));
        Command(sb.ToString());
    }

    public void InjectNMI() => Command("injectnmi");

    private Dictionary<string, string> EngineFacts()
    {
        var d = new Dictionary<string, string>();
        foreach (string line in Command("hminfo").Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = line.IndexOf('=');
            if (eq > 0)
                d[line[..eq]] = line[(eq + 1)..];
        }
        if (!d.ContainsKey("engine"))
            throw Error(ResultCode.VBOX_E_VM_ERROR, "The VM process did not report its execution engine");
        return d;
    }

    public string EngineInfo => string.Join('\n', EngineFacts().Select(kv => $"{kv.Key}={kv.Value}"));
    public VMExecutionEngine ExecutionEngine => EngineFacts()["engine"] == "kvm" ? VMExecutionEngine.NativeApi : VMExecutionEngine.Emulated;
    public bool HWVirtExNestedPagingEnabled => EngineFacts().GetValueOrDefault("nestedpaging") == "on";
    public bool HWVirtExVPIDEnabled => EngineFacts().GetValueOrDefault("vpid") == "on";
    public bool HWVirtExUXEnabled => EngineFacts().GetValueOrDefault("unrestricted") == "on";
    public bool HWVirtExLargePagesEnabled => EngineFacts().GetValueOrDefault("largepages") == "on";

    public string GetStats(string pattern, bool withDescriptions)
    {
        string p = string.IsNullOrWhiteSpace(pattern) ? "" : " " + NoSpaces("pattern", pattern.Trim());
        return Command($"statistics{(withDescriptions ? " --descriptions" : "")}{p}");
    }
}
