using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using SharpBox.Main.Impl;
using SharpBox.Main.Remote;
using SharpBox.Runtime;

namespace SharpBox.Service;

/// <summary>Options of one VBoxSVC run (VirtualBox's VBoxSVC options).</summary>
internal sealed record ServiceOptions(
    string Home,
    bool AutoShutdown,
    TimeSpan ShutdownDelay,
    string LogFile,
    int LogHistory,
    long LogMaxBytes,
    TimeSpan LogMaxAge);

/// <summary>
/// The service of one configuration directory: holds VBoxSVC.lock (flock) for its whole life, so
/// there is one per directory; listens on VBoxSVC.socket (mode 0600, bound in a private folder and
/// renamed into place so no other user can ever connect in between); checks every peer's user id
/// (SO_PEERCRED) and refuses other users; serves each client on its own thread; and, with
/// auto-shutdown, exits once no client has been connected, no VM has run and no operation has been
/// running for the shutdown delay.
/// </summary>
internal sealed class ServiceHost : IDisposable
{
    private readonly ServiceOptions _options;
    private readonly List<ClientConnection> _clients = new();
    private readonly ManualResetEventSlim _stop = new(false);
    private readonly string _socketPath;
    private Socket? _listener;
    private int _nextClient;
    private string _stopReason = "";

    public VirtualBox VBox { get; }
    public ServiceLog Log { get; }
    public uint Uid { get; } = Native.GetEuid();

    public ServiceHost(ServiceOptions options, VirtualBox vbox, ServiceLog log)
    {
        _options = options;
        VBox = vbox;
        Log = log;
        _socketPath = Path.Combine(options.Home, Protocol.SocketName);
    }

    /// <summary>Binds the socket (replacing a stale one; we hold the lock, so nobody else serves it).</summary>
    public void Listen()
    {
        string staging = Path.Combine(_options.Home, $".VBoxSVC-{Environment.ProcessId}.tmp");
        if (Directory.Exists(staging))
            Directory.Delete(staging, recursive: true);
        Directory.CreateDirectory(staging, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        try
        {
            string temp = Path.Combine(staging, "s");
            var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                UnixDomainSocketEndPoint ep = Protocol.EndPoint(temp, out SafeDirectoryHandle? tmpDir);
                using (tmpDir)
                    s.Bind(ep);
                if (Native.Chmod(temp, 0x180 /* 0600 */) != 0)
                    throw new IOException($"chmod 0600 of the socket failed: {Posix.StrError(Marshal.GetLastPInvokeError())}");
                s.Listen(64);
                if (File.Exists(_socketPath) || Directory.Exists(_socketPath))
                    File.Delete(_socketPath); // A stale socket of a service that died.
                File.Move(temp, _socketPath);
            }
            catch
            {
                s.Dispose();
                throw;
            }
            _listener = s;
        }
        finally
        {
            try { Directory.Delete(staging, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>Accepts clients until stopped; returns the reason.</summary>
    public string Run()
    {
        var accept = new Thread(AcceptLoop) { IsBackground = true, Name = "VBoxSVC accept" };
        accept.Start();
        var idle = new Thread(IdleLoop) { IsBackground = true, Name = "VBoxSVC idle" };
        idle.Start();
        _stop.Wait();
        return _stopReason;
    }

    public void Stop(string reason)
    {
        lock (_clients)
        {
            if (_stop.IsSet)
                return;
            _stopReason = reason;
            // Close the door first: a client that comes now starts a new service.
            CloseListener();
            _stop.Set();
        }
    }

    private void CloseListener()
    {
        try
        {
            // Only our own socket is removed (a newer service may have taken the name already... it
            // cannot while we hold the lock, which is released only when this process exits).
            if (File.Exists(_socketPath))
                File.Delete(_socketPath);
        }
        catch (IOException) { }
        _listener?.Dispose();
        _listener = null;
    }

    private void AcceptLoop()
    {
        while (!_stop.IsSet)
        {
            Socket client;
            try
            {
                Socket? l = _listener;
                if (l == null)
                    return;
                client = l.Accept();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                if (_stop.IsSet)
                    return;
                Log.Write($"accept failed: {e.Message}");
                Thread.Sleep(50);
                continue;
            }
            (int pid, uint uid) = PeerCredentials(client);
            var conn = new ClientConnection(this, client, Interlocked.Increment(ref _nextClient), pid, uid);
            if (uid != Uid)
            {
                Log.Write($"Refused a client of uid {uid} (pid {pid}): this VBoxSVC serves uid {Uid} only");
                // Answer its hello (briefly, off the accept thread), then hang up.
                ThreadPool.QueueUserWorkItem(_ =>
                {
                    using (client)
                    {
                        client.ReceiveTimeout = 2000;
                        try { Protocol.ReadFrame(new SocketChannel(client)); }
                        catch (Exception e) when (e is IOException or SocketException) { }
                        conn.Refuse($"VBoxSVC of user id {Uid} refuses clients of user id {uid}: every user has their own VBoxSVC and configuration directory");
                    }
                });
                continue;
            }
            lock (_clients)
            {
                if (_stop.IsSet)
                {
                    client.Dispose();
                    return;
                }
                _clients.Add(conn);
            }
            new Thread(conn.Run) { IsBackground = true, Name = $"VBoxSVC client #{conn.Id}" }.Start();
        }
    }

    /// <summary>SO_PEERCRED: the connecting process' pid and user id as the kernel saw them at connect.</summary>
    private static (int Pid, uint Uid) PeerCredentials(Socket s)
    {
        Span<byte> cred = stackalloc byte[12];
        const int SOL_SOCKET = 1, SO_PEERCRED = 17;
        int n = s.GetRawSocketOption(SOL_SOCKET, SO_PEERCRED, cred);
        if (n < 12)
            return (0, uint.MaxValue);
        return (BitConverter.ToInt32(cred[..4]), BitConverter.ToUInt32(cred[4..8]));
    }

    public void ClientGone(ClientConnection c)
    {
        lock (_clients)
            _clients.Remove(c);
    }

    public int ClientCount
    {
        get { lock (_clients) return _clients.Count; }
    }

    /// <summary>Whether anything keeps the service alive: clients, VMs, operations still running.</summary>
    private string? Busy()
    {
        int clients = ClientCount;
        if (clients > 0)
            return $"{clients} client(s)";
        int vms;
        lock (VBox.ApiLock)
            vms = VBox.LiveMachines.Count;
        if (vms > 0)
            return $"{vms} running VM(s)";
        if (Progress.Running > 0)
            return $"{Progress.Running} operation(s)";
        return null;
    }

    private void IdleLoop()
    {
        Stopwatch? idleFor = null;
        while (!_stop.Wait(100))
        {
            if (!_options.AutoShutdown)
                continue;
            if (!Directory.Exists(_options.Home))
            {
                Stop($"the configuration directory '{_options.Home}' was removed");
                return;
            }
            if (Busy() != null)
            {
                if (idleFor != null)
                    Log.Write("Busy again; shutdown canceled");
                idleFor = null;
                continue;
            }
            if (idleFor == null)
            {
                idleFor = Stopwatch.StartNew();
                Log.Write($"Idle: no clients, no running VMs; exiting in {_options.ShutdownDelay.TotalMilliseconds:0} ms unless a client comes");
                continue;
            }
            if (idleFor.Elapsed >= _options.ShutdownDelay)
            {
                // Decide under the client lock so that a client accepted right now is not lost.
                lock (_clients)
                {
                    if (_clients.Count > 0)
                        continue;
                    lock (VBox.ApiLock)
                        if (VBox.LiveMachines.Count > 0 || Progress.Running > 0)
                            continue;
                    _stopReason = $"idle for {idleFor.Elapsed.TotalMilliseconds:0} ms";
                    CloseListener();
                    _stop.Set();
                }
                return;
            }
        }
    }

    public void Dispose()
    {
        CloseListener();
    }
}
