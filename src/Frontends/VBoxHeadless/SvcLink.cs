using SharpBox.Main.Api;
using SharpBox.Main.Remote;

namespace SharpBox.Frontends.VBoxHeadless;

/// <summary>
/// The VM process' tie to VBoxSVC: it holds the machine's VM session (LockType.VM: nobody else can
/// change the machine while it runs; showvminfo shows the session as "headless"), registers its
/// control socket, and reports every state change. Reports go out on their own thread, so the VM's
/// controller never waits for VBoxSVC. When VBoxSVC goes away, the VM keeps running and this link
/// reconnects (starting a new VBoxSVC) and registers again, so the next VBoxSVC shows it running.
/// </summary>
internal sealed class SvcLink : IDisposable
{
    private readonly string _home;
    private readonly Guid _machineId;
    private readonly object _gate = new();
    private readonly Queue<Action<IInternalMachineControl>> _reports = new();
    private readonly Thread _worker;
    private RemoteConnection _connection;
    private ISession _session;
    private string? _controlSocket;
    private MachineState _state = MachineState.Starting;
    private bool _registered;
    private bool _inFlight;
    private volatile bool _closing;
    private Action<string>? _log;

    /// <summary>The machine as the VM session sees it (read through VBoxSVC).</summary>
    public IMachine Machine => _session.Machine;

    private SvcLink(string home, Guid machineId, RemoteConnection connection, ISession session)
    {
        _home = home;
        _machineId = machineId;
        _connection = connection;
        _session = session;
        _worker = new Thread(Work) { IsBackground = true, Name = "VBoxSVC link" };
    }

    /// <summary>Connects to VBoxSVC (starting it if needed) and takes the machine's VM session; VBoxException on failure.</summary>
    public static SvcLink Open(string vmNameOrId)
    {
        string home = VBoxClient.DefaultHome();
        RemoteConnection c = VBoxClient.ConnectRaw("VBoxHeadless", home);
        try
        {
            IMachine m = c.Root.FindMachine(vmNameOrId);
            if (!m.Accessible)
                throw new VBoxException(m.AccessError ?? new VBoxErrorInfo(ResultCode.VBOX_E_FILE_ERROR, $"the VM '{vmNameOrId}' is inaccessible", "MachineWrap", "IMachine"));
            ISession s = c.Root.CreateSession();
            m.LockMachine(s, LockType.VM);
            var link = new SvcLink(home, m.Id, c, s);
            link._worker.Start();
            return link;
        }
        catch
        {
            c.Dispose();
            throw;
        }
    }

    public void SetLog(Action<string> log) => _log = log;

    /// <summary>
    /// A private folder for the control socket: &lt;config dir&gt;/VMControl (0700), or one under /tmp
    /// when that path would be too long for a socket address.
    /// </summary>
    public string DefaultControlSocket()
    {
        string dir = Path.Combine(_home, "VMControl");
        string path = Path.Combine(dir, $"{_machineId:D}.ctl");
        if (System.Text.Encoding.UTF8.GetByteCount(path) > 107)
        {
            dir = Path.Combine(Path.GetTempPath(), $".sharpbox-{SharpBox.Runtime.Posix.GetUid()}");
            path = Path.Combine(dir, $"{_machineId:D}.ctl");
        }
        Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    /// <summary>Where VirtualBox would save this VM's state now (Snapshots/&lt;timestamp&gt;.sav).</summary>
    public string ComposeSavedStateFilename() => Call(c => c.ComposeSavedStateFilename());

    /// <summary>The VM process is up with its control socket.</summary>
    public void Register(string controlSocket, MachineState state)
    {
        lock (_gate)
        {
            _controlSocket = controlSocket;
            _state = state;
        }
        Call(c => { c.RegisterVmProcess(Environment.ProcessId, controlSocket, state); return 0; });
        lock (_gate)
            _registered = true;
    }

    /// <summary>Queues a state report (the newest state is also what a reconnect registers with).</summary>
    public void Report(MachineState state)
    {
        lock (_gate)
        {
            _state = state;
            _reports.Enqueue(c => c.UpdateState(state));
            Monitor.PulseAll(_gate);
        }
    }

    public void StateRestored() => Enqueue(c => c.StateRestored());

    public void StateSaved(string file)
    {
        lock (_gate)
            _state = MachineState.Saved;
        // Synchronous: VBoxSVC must know before the process ends, or it would call the machine Aborted.
        Call(c => { c.StateSaved(file); return 0; });
    }

    private void Enqueue(Action<IInternalMachineControl> a)
    {
        lock (_gate)
        {
            _reports.Enqueue(a);
            Monitor.PulseAll(_gate);
        }
    }

    private T Call<T>(Func<IInternalMachineControl, T> f)
    {
        ISession s;
        lock (_gate)
            s = _session;
        return f(s.Control);
    }

    /// <summary>Sends queued reports; watches the connection and re-registers after VBoxSVC went away.</summary>
    private void Work()
    {
        while (!_closing)
        {
            Action<IInternalMachineControl>? next = null;
            lock (_gate)
            {
                if (_reports.Count == 0)
                    Monitor.Wait(_gate, 200);
                if (_reports.Count > 0 && _connection.IsConnected)
                {
                    next = _reports.Dequeue();
                    _inFlight = true;
                }
            }
            if (!_connection.IsConnected)
            {
                if (!_closing)
                    Reconnect();
                continue;
            }
            if (next == null)
                continue;
            try { Call(c => { next(c); return 0; }); }
            catch (VBoxException e)
            {
                if (_connection.IsConnected)
                    _log?.Invoke($"VBoxSVC: a state report failed: {e.Message}");
            }
            finally
            {
                lock (_gate)
                {
                    _inFlight = false;
                    Monitor.PulseAll(_gate);
                }
            }
        }
    }

    private void Reconnect()
    {
        _log?.Invoke("VBoxSVC: the connection was lost; the VM keeps running and registers again");
        while (!_closing)
        {
            try
            {
                RemoteConnection c = VBoxClient.ConnectRaw("VBoxHeadless", _home);
                try
                {
                    IMachine m = c.Root.FindMachine(_machineId.ToString("D"));
                    ISession s = c.Root.CreateSession();
                    m.LockMachine(s, LockType.VM);
                    string? socket;
                    MachineState state;
                    bool registered;
                    lock (_gate)
                    {
                        socket = _controlSocket;
                        state = _state;
                        registered = _registered;
                    }
                    if (registered && socket != null)
                        s.Control.RegisterVmProcess(Environment.ProcessId, socket, state);
                    lock (_gate)
                    {
                        _connection.Dispose();
                        _connection = c;
                        _session = s;
                        _reports.Clear(); // The registration carried the current state.
                    }
                    _log?.Invoke($"VBoxSVC: registered again with VBoxSVC pid {c.Service.Pid} (state {state})");
                    return;
                }
                catch
                {
                    c.Dispose();
                    throw;
                }
            }
            catch (Exception e) when (e is VBoxException or IOException)
            {
                _log?.Invoke($"VBoxSVC: reconnecting failed ({e.Message}); retrying");
                Thread.Sleep(500);
            }
        }
    }

    /// <summary>The VM ended: report the final state (unless it was saved), drain the reports, give up the session.</summary>
    public void Finish(MachineState final)
    {
        lock (_gate)
        {
            if (_state != MachineState.Saved)
                _reports.Enqueue(c => c.UpdateState(final));
            Monitor.PulseAll(_gate);
        }
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            lock (_gate)
            {
                if (_reports.Count == 0 && !_inFlight)
                    break;
                if (!_connection.IsConnected)
                    break;
            }
            Thread.Sleep(2);
        }
        _closing = true;
        try
        {
            lock (_gate)
                _session.UnlockMachine();
        }
        catch (VBoxException) { }
    }

    public void Dispose()
    {
        _closing = true;
        lock (_gate)
            Monitor.PulseAll(_gate);
        _connection.Dispose();
    }
}
