using SharpBox.Main.Api;

namespace SharpBox.Main.Remote;

/// <summary>A client proxy: an API object living in VBoxSVC, addressed by its handle on one connection.</summary>
public abstract class RemoteObject
{
    internal RemoteConnection Connection { get; }
    public long Handle { get; }

    protected RemoteObject(RemoteConnection connection, long handle)
    {
        Connection = connection;
        Handle = handle;
    }

    protected T Call<T>(string method, params object?[] args) => (T)Connection.Call(Handle, method, args, typeof(T))!;

    protected void Invoke(string method, params object?[] args) => Connection.Call(Handle, method, args, typeof(void));

    public override string ToString() => $"{GetType().Name}#{Handle}";
}

/// <summary>What the service said about itself in its hello.</summary>
public sealed record ServiceInfo(int Pid, string Version, uint Revision, string ApiVersion, string Home, string SettingsFilePath);

/// <summary>
/// One connection to VBoxSVC. Calls may come from any thread: each request carries an id and waits
/// for its answer, which a reader thread routes back; pushed events go to the connection's local
/// event source. When the service goes away, waiting and later calls fail with a VBoxException
/// that says so.
/// </summary>
public sealed class RemoteConnection : IDisposable, IRefWriter, IRefReader
{
    private sealed class Pending
    {
        public readonly ManualResetEventSlim Done = new(false);
        public JNode? Reply;
    }

    private readonly IFrameChannel _channel;
    private readonly object _sendGate = new();
    private readonly object _gate = new();
    private readonly Dictionary<long, Pending> _pending = new();
    private readonly Dictionary<long, RemoteObject> _proxies = new();
    private long _nextId;
    private string? _lostReason;
    private Thread? _reader;

    public ServiceInfo Service { get; private set; } = null!;

    /// <summary>False once the connection is gone (the service ended, or Dispose).</summary>
    public bool IsConnected
    {
        get { lock (_gate) return _lostReason == null; }
    }
    public ClientEventSource Events { get; }

    private RemoteConnection(IFrameChannel channel)
    {
        _channel = channel;
        Events = new ClientEventSource(this);
    }

    private static VBoxException Lost(string why) => new(ResultCode.E_FAIL, $"The connection to VBoxSVC was lost: {why}", "VirtualBoxClientWrap", "IVirtualBoxClient");

    /// <summary>
    /// Connects to the service listening at <paramref name="socketPath"/> and says hello. Throws
    /// <see cref="UnixSocketChannel.ConnectException"/> when nobody listens (or access is denied),
    /// IOException when the service hangs up, VBoxException when it refuses the client.
    /// </summary>
    public static RemoteConnection Connect(string socketPath, string clientName)
    {
        UnixSocketChannel channel = UnixSocketChannel.Connect(socketPath);
        try
        {
            var c = new RemoteConnection(channel);
            c.Handshake(clientName);
            return c;
        }
        catch
        {
            channel.Dispose();
            throw;
        }
    }

    private void Handshake(string clientName)
    {
        Protocol.WriteFrame(_channel, Protocol.Build(w =>
        {
            w.String("op", "hello");
            w.Number("proto", Protocol.Version);
            w.String("client", clientName);
            w.Number("pid", Environment.ProcessId);
        }));
        byte[] frame = Protocol.ReadFrame(_channel) ?? throw new IOException("VBoxSVC hung up before answering the hello");
        JNode r;
        try { r = JNode.Parse(frame); }
        catch (FormatException e) { throw new IOException($"VBoxSVC's hello is not valid: {e.Message}"); }
        string op = r["op"]?.GetString() ?? "";
        if (op == "refused")
            throw new VBoxException(ResultCode.E_ACCESSDENIED, r["msg"]?.GetString() ?? "VBoxSVC refused the connection", "VirtualBoxClientWrap", "IVirtualBoxClient");
        if (op != "hello")
            throw new IOException($"VBoxSVC answered the hello with '{op}'");
        int proto = r.Get("proto").GetInt32();
        if (proto != Protocol.Version)
            throw new VBoxException(ResultCode.E_FAIL,
                $"The running VBoxSVC (pid {r.Get("pid").GetInt32()}) speaks protocol {proto}, this client {Protocol.Version}; stop it (it exits by itself when idle) and retry",
                "VirtualBoxClientWrap", "IVirtualBoxClient");
        Service = new ServiceInfo(r.Get("pid").GetInt32(), r.Get("version").GetString(), r.Get("revision").GetUInt32(),
            r.Get("api").GetString(), r.Get("home").GetString(), r.Get("settings").GetString());
        _reader = new Thread(ReadLoop) { IsBackground = true, Name = "VBoxSVC reader" };
        _reader.Start();
    }

    /// <summary>The IVirtualBox of this connection (handle 0).</summary>
    public IVirtualBox Root => (IVirtualBox)ObjectOf(0, typeof(IVirtualBox));

    private void ReadLoop()
    {
        string reason = "VBoxSVC closed the connection";
        try
        {
            while (true)
            {
                byte[]? frame = Protocol.ReadFrame(_channel);
                if (frame == null)
                    break;
                JNode root = JNode.Parse(frame);
                if (root["id"] is JNode idNode)
                {
                    long id = idNode.GetInt64();
                    Pending? p;
                    lock (_gate)
                        _pending.TryGetValue(id, out p);
                    if (p == null)
                        continue;
                    p.Reply = root;
                    p.Done.Set();
                    continue;
                }
                if (root["op"]?.GetString() == "event")
                    Events.Deliver((VBoxEvent)Codec.Read(root.Get("e"), typeof(VBoxEvent), this)!);
            }
        }
        catch (Exception e) when (e is IOException or FormatException or ObjectDisposedException or InvalidOperationException)
        {
            reason = e.Message;
        }
        lock (_gate)
        {
            _lostReason ??= reason;
            foreach (Pending p in _pending.Values)
                p.Done.Set();
        }
        Events.ConnectionLost();
        _channel.Dispose(); // The reader owns the descriptor from the handshake on.
    }

    /// <summary>Calls <paramref name="method"/> on the object <paramref name="handle"/> and decodes the result as <paramref name="returnType"/>.</summary>
    public object? Call(long handle, string method, object?[] args, Type returnType)
    {
        byte[] frame;
        long id = Interlocked.Increment(ref _nextId);
        frame = Protocol.Build(w =>
        {
            w.String("op", "call");
            w.Number("id", id);
            w.Number("h", handle);
            w.String("m", method);
            w.Name("a");
            w.StartArray();
            foreach (object? a in args)
                Codec.Write(w, a, a == null ? typeof(object) : Codec.RuntimeDeclared(a), this);
            w.EndArray();
        });
        JNode root = Exchange(id, frame);
        if (root["err"] is JNode err)
            throw new VBoxException(Protocol.ReadError(err));
        if (returnType == typeof(void))
            return null;
        try
        {
            return Codec.Read(root.Get("r"), returnType, this);
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException or KeyNotFoundException or NotSupportedException or OverflowException)
        {
            throw new VBoxException(ResultCode.E_FAIL, $"Malformed answer from VBoxSVC to {method}: {e.Message}", "VirtualBoxClientWrap", "IVirtualBoxClient");
        }
    }

    /// <summary>Sends a request frame and waits for the frame that answers it.</summary>
    internal JNode Exchange(long id, byte[] frame)
    {
        var p = new Pending();
        lock (_gate)
        {
            if (_lostReason != null)
                throw Lost(_lostReason);
            _pending[id] = p;
        }
        try
        {
            lock (_sendGate)
                Protocol.WriteFrame(_channel, frame);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            lock (_gate)
            {
                _pending.Remove(id);
                _lostReason ??= e.Message;
            }
            throw Lost(e.Message);
        }
        p.Done.Wait();
        lock (_gate)
            _pending.Remove(id);
        return p.Reply ?? throw Lost(_lostReason ?? "no answer");
    }

    internal void Subscribe()
    {
        long id = Interlocked.Increment(ref _nextId);
        JNode reply = Exchange(id, Protocol.Build(w =>
        {
            w.String("op", "subscribe");
            w.Number("id", id);
        }));
        if (reply["err"] is JNode err)
            throw new VBoxException(Protocol.ReadError(err));
    }

    public long HandleOf(object apiObject, Type iface)
    {
        if (apiObject is RemoteObject r && ReferenceEquals(r.Connection, this))
            return r.Handle;
        throw new VBoxException(ResultCode.E_INVALIDARG, $"A {iface.Name} object from another connection or process cannot be passed to VBoxSVC", "VirtualBoxClientWrap", "IVirtualBoxClient");
    }

    public object ObjectOf(long handle, Type iface)
    {
        lock (_proxies)
        {
            if (_proxies.TryGetValue(handle, out RemoteObject? p) && iface.IsInstanceOfType(p))
                return p;
            RemoteObject created = ProxyFactory.Create(this, handle, iface);
            _proxies[handle] = created;
            return created;
        }
    }

    public void Dispose()
    {
        lock (_gate)
            _lostReason ??= "the client closed the connection";
        // The reader thread sees the end and closes the descriptor.
        _channel.Shutdown();
    }
}

/// <summary>IVirtualBox members the client answers itself: constants from the hello, and the local event source.</summary>
internal sealed partial class VirtualBoxProxy : IDisposable
{
    public string Version => Connection.Service.Version;
    public uint Revision => Connection.Service.Revision;
    public string APIVersion => Connection.Service.ApiVersion;
    public string HomeFolder => Connection.Service.Home;
    public string SettingsFilePath => Connection.Service.SettingsFilePath;
    public IEventSource EventSource => Connection.Events;

    public void Dispose() => Connection.Dispose();
}

/// <summary>
/// The event source of a client: passive listeners with local queues, fed by the events VBoxSVC
/// pushes. The first registration subscribes the connection (synchronously, so no event of a
/// following call is missed).
/// </summary>
public sealed class ClientEventSource : IEventSource
{
    private sealed class Listener : IEventListener
    {
        public Guid Id { get; } = Guid.NewGuid();
        public readonly Queue<VBoxEvent> Queue = new();
        public HashSet<VBoxEventType>? Interesting;
        public bool Registered;
    }

    private readonly RemoteConnection _connection;
    private readonly object _gate = new();
    private readonly List<Listener> _listeners = new();
    private bool _subscribed;
    private bool _lost;

    internal ClientEventSource(RemoteConnection connection) => _connection = connection;

    private static VBoxException Error(int rc, string message) => new(rc, message, "EventSourceWrap", "IEventSource");

    public IEventListener CreateListener() => new Listener();

    public void RegisterListener(IEventListener listener, IReadOnlyList<VBoxEventType> interesting, bool active)
    {
        if (listener is not Listener l)
            throw Error(ResultCode.E_INVALIDARG, "Invalid event listener");
        if (active)
            throw Error(ResultCode.VBOX_E_NOT_SUPPORTED, "Only passive event listeners are supported (fetch events with GetEvent)");
        bool subscribe;
        lock (_gate)
        {
            subscribe = !_subscribed;
            _subscribed = true;
        }
        if (subscribe)
        {
            try { _connection.Subscribe(); }
            catch
            {
                lock (_gate)
                    _subscribed = false;
                throw;
            }
        }
        lock (_gate)
        {
            l.Interesting = interesting.Contains(VBoxEventType.Any) ? null : new HashSet<VBoxEventType>(interesting);
            if (!l.Registered)
            {
                l.Registered = true;
                _listeners.Add(l);
            }
        }
    }

    public void UnregisterListener(IEventListener listener)
    {
        if (listener is not Listener l)
            throw Error(ResultCode.E_INVALIDARG, "Invalid event listener");
        lock (_gate)
        {
            l.Registered = false;
            _listeners.Remove(l);
            Monitor.PulseAll(_gate);
        }
    }

    public VBoxEvent? GetEvent(IEventListener listener, int timeoutMs)
    {
        if (listener is not Listener l)
            throw Error(ResultCode.E_INVALIDARG, "Invalid event listener");
        long deadline = timeoutMs < 0 ? long.MaxValue : Environment.TickCount64 + timeoutMs;
        lock (_gate)
        {
            while (true)
            {
                if (!l.Registered)
                    throw Error(ResultCode.VBOX_E_OBJECT_NOT_FOUND, "The event listener is not registered");
                if (l.Queue.Count > 0)
                    return l.Queue.Dequeue();
                if (_lost)
                    throw new VBoxException(ResultCode.E_FAIL, "The connection to VBoxSVC was lost; no more events will come", "EventSourceWrap", "IEventSource");
                long left = deadline - Environment.TickCount64;
                if (left <= 0)
                    return null;
                Monitor.Wait(_gate, (int)Math.Min(left, int.MaxValue));
            }
        }
    }

    internal void Deliver(VBoxEvent e)
    {
        lock (_gate)
        {
            foreach (Listener l in _listeners)
            {
                if (l.Interesting != null && !l.Interesting.Contains(e.Type))
                    continue;
                if (l.Queue.Count >= Impl.EventSource.MaxQueued)
                    l.Queue.Dequeue();
                l.Queue.Enqueue(e);
            }
            Monitor.PulseAll(_gate);
        }
    }

    internal void ConnectionLost()
    {
        lock (_gate)
        {
            _lost = true;
            Monitor.PulseAll(_gate);
        }
    }
}
