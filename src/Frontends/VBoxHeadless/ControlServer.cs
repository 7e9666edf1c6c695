using System.Net.Sockets;
using System.Text;
using SharpBox.Devices.Input;
using SharpBox.Devices.Pc;
using SharpBox.Devices.Storage;
using SharpBox.Vmm.Em;

namespace SharpBox.Frontends.VBoxHeadless;

/// <summary>
/// The VM process's control seam: a Unix socket taking one text command per line and answering one
/// line ("ok ..." or "error: ..."). VBoxSVC will drive running VMs through it (a later issue); tests
/// and scripts use it now. Commands: status, pause, resume, reset, poweroff, acpipowerbutton,
/// savestate [PATH] (save, then power off), savestate-continue PATH (save and keep running),
/// keyboardputscancode HEX... (set-1 scancodes), setlinkstate N on|off, screenshotpng,
/// disks-close (paused VM: flush and close the disk images, so VBoxSVC can build an online snapshot's
/// differencing images over them) and disks-open (open the images the settings name now).
/// </summary>
public sealed class ControlServer : IDisposable
{
    private readonly Socket _listener;
    private readonly VirtualMachine _vm;
    private readonly string _path;
    private readonly Func<string> _defaultStateFile;
    private readonly CancellationTokenSource _stop = new();

    public ControlServer(string path, VirtualMachine vm, Func<string> defaultStateFile)
    {
        _path = Path.GetFullPath(path);
        _vm = vm;
        _defaultStateFile = defaultStateFile;
        if (File.Exists(_path)) File.Delete(_path);
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            _listener.Bind(new UnixDomainSocketEndPoint(_path));
            _listener.Listen(4);
        }
        catch (SocketException e)
        {
            _listener.Dispose();
            throw new IOException($"control socket '{_path}': {e.Message}");
        }
        _ = AcceptLoop();
    }

    private async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try { client = await _listener.AcceptAsync(_stop.Token); }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException) { return; }
            _ = Serve(client);
        }
    }

    private async Task Serve(Socket client)
    {
        using var _ = client;
        using var stream = new NetworkStream(client);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        await using var writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };
        while (!_stop.IsCancellationRequested)
        {
            string? line;
            try { line = await reader.ReadLineAsync(_stop.Token); }
            catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException) { return; }
            if (line is null) return;
            string reply;
            try { reply = await Execute(line.Trim()); }
            catch (Exception e) when (e is not OutOfMemoryException) { reply = "error: " + e.Message; }
            try { await writer.WriteLineAsync(reply); }
            catch (Exception e) when (e is IOException or ObjectDisposedException) { return; }
        }
    }

    private async Task<string> Execute(string line)
    {
        var parts = line.Split(' ', 2, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0) return "error: empty command";
        string arg = parts.Length > 1 ? parts[1] : "";
        switch (parts[0])
        {
            case "status":
                return $"ok {_vm.State} instructions={_vm.Em.TotalInstructions}";
            case "pause":
                await Request(VmRequestKind.Pause);
                return "ok";
            case "resume":
                if (_vm.Pdm.Find<DevPiix3Ide>() is { DisksClosed: true })
                    return "error: the disk images are closed (disks-open first)";
                await Request(VmRequestKind.Resume);
                return "ok";
            case "disks-close":
                {
                    if (_vm.State != VmState.Suspended) return $"error: the VM must be paused to close its disk images (it is {_vm.State})";
                    var ide = _vm.Pdm.Find<DevPiix3Ide>();
                    return $"ok {ide?.CloseDisks() ?? 0} closed";
                }
            case "disks-open":
                {
                    var ide = _vm.Pdm.Find<DevPiix3Ide>();
                    if (ide is null) return "ok 0 opened";
                    if (!ide.DisksClosed) return "error: the disk images are open";
                    if (DiskLuns is null) return "error: the machine's settings are not available";
                    var luns = await Task.Run(DiskLuns);
                    var opened = await Task.Run(() => ide.OpenDisks(luns));
                    return $"ok {opened.Count} opened";
                }
            case "reset":
                _vm.RequestReset("reset requested through the control socket");
                return "ok";
            case "poweroff":
                _vm.RequestPowerOff("power-off requested through the control socket");
                return "ok";
            case "acpipowerbutton":
                {
                    var pm = _vm.Pdm.Find<DevAcpiPm>();
                    if (pm is null) return "error: the VM has no ACPI";
                    pm.PressPowerButton();
                    return pm.PowerButtonEnabled ? "ok" : "ok (the guest has not enabled the power button event)";
                }
            case "savestate":
            case "savestate-continue":
                {
                    bool stop = parts[0] == "savestate";
                    string path = arg.Length > 0 ? Path.GetFullPath(arg) : _defaultStateFile();
                    if (!stop && arg.Length == 0) return "error: savestate-continue needs a file";
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    string? error = await _vm.SaveStateAsync(path, stopAfter: stop);
                    return error is null ? $"ok {path}" : "error: " + error;
                }
            case "debugvm":
                {
                    // DBGF (VBoxManage debugvm): the reply is "ok N" and then N lines of text.
                    if (DebugCommand is null) return "error: the debugger is not available";
                    string text = await Task.Run(() => DebugCommand(arg));
                    var lines = text.TrimEnd('\n').Split('\n');
                    return $"ok {lines.Length}\n{string.Join('\n', lines)}";
                }
            case "keyboardputscancode":
                {
                    var kbd = _vm.Pdm.Find<DevI8042>();
                    if (kbd is null) return "error: the VM has no keyboard controller";
                    var codes = new List<byte>();
                    foreach (string h in arg.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    {
                        if (!byte.TryParse(h, System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture, out byte b))
                            return $"error: '{h}' is not a scancode (two hex digits)";
                        codes.Add(b);
                    }
                    kbd.PutScancodes(codes.ToArray());
                    return "ok";
                }
            case "setlinkstate":
                // No network device is emulated yet; the setting itself is kept by VBoxSVC.
                return "error: the VM has no network device to plug or unplug (network adapters are not emulated yet)";
            case "screenshotpng":
                return "error: the VM has no display (no graphics device is emulated yet)";
            default:
                return $"error: unknown command '{parts[0]}' (status, pause, resume, reset, poweroff, acpipowerbutton, savestate [FILE], savestate-continue FILE, keyboardputscancode HEX..., setlinkstate N on|off, screenshotpng, disks-close, disks-open, debugvm info|osdetect|dumpvmcore|disasm ...)";
        }
    }

    /// <summary>The disks' LUN configurations from the machine's current settings (for disks-open).</summary>
    public Func<IReadOnlyList<SharpBox.Vmm.Cfgm.CfgmNode?>>? DiskLuns { get; set; }

    /// <summary>DBGF's command handler (info items, osdetect, dumpvmcore, disasm); throws ArgumentException for bad commands.</summary>
    public Func<string, string>? DebugCommand { get; set; }

    private Task<string?> Request(VmRequestKind kind)
    {
        var done = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        _vm.Post(new VmRequest(kind, Done: done));
        return done.Task;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
        try { File.Delete(_path); } catch (IOException) { }
    }
}
