using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Reflection;
using SharpBox.Main.Api;
using SharpBox.Main.Impl;
using SharpBox.Main.Remote;

namespace SharpBox.Service;

/// <summary>
/// One client of VBoxSVC, served by its own thread: requests are executed in order, each under the
/// VirtualBox object's API lock (progress objects are thread-safe and are waited on without it).
/// API objects the client receives get per-connection handles (the same object always the same
/// handle). Sessions the client opened are unlocked when it goes away, as VirtualBox does when a
/// client process dies. Events are pushed by a writer thread from a bounded queue, so a client that
/// does not read cannot stall the service.
/// </summary>
internal sealed class ClientConnection : IRefWriter, IRefReader
{
    private static readonly ConcurrentDictionary<(Type, string), MethodInfo?> s_methods = new();

    private readonly ServiceHost _host;
    private readonly Socket _socket;
    private readonly SocketChannel _channel;
    private readonly VirtualBox _vbox;
    private readonly object _sendGate = new();
    private readonly Dictionary<long, (object Obj, Type Iface)> _byHandle = new();
    private readonly Dictionary<object, long> _byObject = new(ReferenceEqualityComparer.Instance);
    private readonly List<Session> _sessions = new();
    private long _nextHandle = 1;
    private Action<VBoxEvent>? _sink;
    private readonly Queue<VBoxEvent> _events = new();
    private Thread? _eventWriter;
    private volatile bool _closed;

    public int PeerPid { get; }
    public uint PeerUid { get; }
    public string ClientName { get; private set; } = "?";
    public int Id { get; }

    public ClientConnection(ServiceHost host, Socket socket, int id, int peerPid, uint peerUid)
    {
        _host = host;
        _socket = socket;
        _channel = new SocketChannel(socket);
        _vbox = host.VBox;
        Id = id;
        PeerPid = peerPid;
        PeerUid = peerUid;
        _byHandle[0] = (_vbox, typeof(IVirtualBox));
        _byObject[_vbox] = 0;
    }

    /// <summary>Serves the client until it disconnects; cleans up after it.</summary>
    public void Run()
    {
        string end = "disconnected";
        try
        {
            if (!Hello())
                return;
            while (true)
            {
                byte[]? frame = Protocol.ReadFrame(_channel);
                if (frame == null)
                    break;
                Handle(JNode.Parse(frame));
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            end = $"connection lost ({e.Message})";
        }
        catch (FormatException e)
        {
            end = $"dropped: malformed message ({e.Message})";
        }
        finally
        {
            Cleanup(end);
        }
    }

    private bool Hello()
    {
        byte[]? frame = Protocol.ReadFrame(_channel);
        if (frame == null)
            return false;
        JNode r = JNode.Parse(frame);
        if (r["op"] is not JNode op || op.GetString() != "hello")
        {
            Refuse("the first message must be a hello");
            return false;
        }
        ClientName = r["client"]?.GetString() ?? "?";
        _host.Log.Write($"Client #{Id} connected: {ClientName}, pid {PeerPid}");
        Send(Protocol.Build(w =>
        {
            w.String("op", "hello");
            w.Number("proto", Protocol.Version);
            w.Number("pid", Environment.ProcessId);
            w.String("version", _vbox.Version);
            w.Number("revision", _vbox.Revision);
            w.String("api", _vbox.APIVersion);
            w.String("home", _vbox.HomeFolder);
            w.String("settings", _vbox.SettingsFilePath);
        }));
        return true;
    }

    public void Refuse(string message)
    {
        try { Send(Protocol.Build(w => { w.String("op", "refused"); w.String("msg", message); })); }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException) { }
    }

    private void Send(byte[] frame)
    {
        lock (_sendGate)
            Protocol.WriteFrame(_channel, frame);
    }

    private void Handle(JNode msg)
    {
        string op = msg.Get("op").GetString();
        long id = msg["id"]?.GetInt64() ?? 0;
        switch (op)
        {
            case "call":
                Call(id, msg);
                break;
            case "subscribe":
                Subscribe();
                Send(Protocol.Build(w => { w.Number("id", id); w.Name("r"); w.Null(); }));
                break;
            case "release":
                foreach (JNode h in msg.Get("h").Items)
                    Release(h.GetInt64());
                break;
            default:
                Send(Protocol.Build(w =>
                {
                    w.Number("id", id);
                    Protocol.WriteError(w, new VBoxErrorInfo(ResultCode.E_INVALIDARG, $"Unknown protocol operation '{op}'", "VBoxSVC", "IVirtualBox"));
                }));
                break;
        }
    }

    private static MethodInfo? FindMethod(Type iface, string name)
        => s_methods.GetOrAdd((iface, name), k => k.Item1.GetMethod(k.Item2, BindingFlags.Public | BindingFlags.Instance));

    private void Call(long id, JNode msg)
    {
        byte[] reply;
        try
        {
            long h = msg.Get("h").GetInt64();
            string name = msg.Get("m").GetString();
            (object target, Type iface) = Resolve(h);
            MethodInfo method = FindMethod(iface, name)
                ?? throw new VBoxException(ResultCode.E_NOTIMPL, $"{iface.Name} has no member '{name}'", "VBoxSVC", iface.Name);
            ParameterInfo[] ps = method.GetParameters();
            IReadOnlyList<JNode> a = msg.Get("a").Items;
            if (a.Count != ps.Length)
                throw new VBoxException(ResultCode.E_INVALIDARG, $"{iface.Name}.{name} takes {ps.Length} arguments, not {a.Count}", "VBoxSVC", iface.Name);
            var args = new object?[ps.Length];
            for (int i = 0; i < ps.Length; i++)
            {
                try { args[i] = Codec.Read(a[i], ps[i].ParameterType, this); }
                catch (Exception e) when (e is FormatException or InvalidOperationException or OverflowException)
                {
                    throw new VBoxException(ResultCode.E_INVALIDARG, $"{iface.Name}.{name}: argument '{ps[i].Name}' is not a valid {ps[i].ParameterType.Name}: {e.Message}", "VBoxSVC", iface.Name);
                }
            }
            object? result = Execute(target, iface, method, args);
            reply = Protocol.Build(w =>
            {
                w.Number("id", id);
                w.Name("r");
                if (method.ReturnType == typeof(void))
                    w.Null();
                else
                    Codec.Write(w, result, method.ReturnType, this);
            });
        }
        catch (VBoxException e)
        {
            reply = ErrorReply(id, e.Info);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A bug in an implementation must fail the call, not the service.
            _host.Log.Write($"Internal error serving client #{Id} ({ClientName}): {e}");
            reply = ErrorReply(id, new VBoxErrorInfo(ResultCode.E_FAIL, $"Internal error in VBoxSVC: {e.GetType().Name}: {e.Message}", "VBoxSVC", "IVirtualBox"));
        }
        Send(reply);
    }

    private static byte[] ErrorReply(long id, VBoxErrorInfo info) => Protocol.Build(w =>
    {
        w.Number("id", id);
        Protocol.WriteError(w, info);
    });

    /// <summary>
    /// Runs one API call: under the API lock, except progress objects (thread-safe, and waited on) and
    /// the machine debugger (it takes the lock only to find the VM process; a core dump takes long).
    /// </summary>
    private object? Execute(object target, Type iface, MethodInfo method, object?[] args)
    {
        if (iface == typeof(IProgress) || iface == typeof(IMachineDebugger))
            return Invoke(target, method, args);
        lock (_vbox.ApiLock)
        {
            if (iface == typeof(IVirtualBox) && method.Name == nameof(IVirtualBox.CreateSession))
            {
                Session s = _vbox.CreateSession(SessionNameOf(ClientName), (uint)PeerPid);
                _sessions.Add(s);
                return s;
            }
            if (iface == typeof(IVirtualBox) && method.Name == "get_EventSource")
                throw new VBoxException(ResultCode.VBOX_E_NOT_SUPPORTED, "Remote clients use their connection's own event source", "VBoxSVC", "IVirtualBox");
            return Invoke(target, method, args);
        }
    }

    /// <summary>VirtualBox's session name: the front end type for VM processes, empty for API clients.</summary>
    private static string SessionNameOf(string client) => client == "VBoxHeadless" ? "headless" : "";

    private static object? Invoke(object target, MethodInfo method, object?[] args)
    {
        try { return method.Invoke(target, args); }
        catch (TargetInvocationException e) when (e.InnerException != null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw;
        }
    }

    // ---- Handles -------------------------------------------------------------------------------------

    private (object, Type) Resolve(long handle)
    {
        lock (_byHandle)
        {
            if (_byHandle.TryGetValue(handle, out var entry))
                return entry;
        }
        throw new VBoxException(ResultCode.E_INVALIDARG, $"Unknown object handle {handle} (released, or from another connection)", "VBoxSVC", "IVirtualBox");
    }

    public long HandleOf(object apiObject, Type iface)
    {
        lock (_byHandle)
        {
            if (_byObject.TryGetValue(apiObject, out long h))
                return h;
            h = _nextHandle++;
            _byObject[apiObject] = h;
            _byHandle[h] = (apiObject, iface);
            return h;
        }
    }

    public object ObjectOf(long handle, Type iface)
    {
        (object obj, Type _) = Resolve(handle);
        if (!iface.IsInstanceOfType(obj))
            throw new VBoxException(ResultCode.E_INVALIDARG, $"Object handle {handle} is not a {iface.Name}", "VBoxSVC", iface.Name);
        return obj;
    }

    private void Release(long handle)
    {
        if (handle == 0)
            return;
        lock (_byHandle)
        {
            // Sessions stay until the client leaves (they are unlocked then).
            if (!_byHandle.TryGetValue(handle, out var entry) || entry.Obj is Session)
                return;
            _byHandle.Remove(handle);
            _byObject.Remove(entry.Obj);
        }
    }

    // ---- Events ----------------------------------------------------------------------------------------

    private void Subscribe()
    {
        if (_sink != null)
            return;
        _sink = e =>
        {
            lock (_events)
            {
                if (_events.Count >= EventSource.MaxQueued)
                    _events.Dequeue();
                _events.Enqueue(e);
                Monitor.Pulse(_events);
            }
        };
        _eventWriter = new Thread(EventLoop) { IsBackground = true, Name = $"VBoxSVC events #{Id}" };
        _eventWriter.Start();
        _vbox.Events.AddSink(_sink);
    }

    private void EventLoop()
    {
        while (true)
        {
            VBoxEvent e;
            lock (_events)
            {
                while (_events.Count == 0 && !_closed)
                    Monitor.Wait(_events);
                if (_closed)
                    return;
                e = _events.Dequeue();
            }
            try
            {
                Send(Protocol.Build(w =>
                {
                    w.String("op", "event");
                    w.Name("e");
                    Codec.Write(w, e, typeof(VBoxEvent), this);
                }));
            }
            catch (Exception x) when (x is IOException or SocketException or ObjectDisposedException)
            {
                return;
            }
        }
    }

    // ---- End -------------------------------------------------------------------------------------------

    private void Cleanup(string how)
    {
        _closed = true;
        if (_sink != null)
            _vbox.Events.RemoveSink(_sink);
        lock (_events)
            Monitor.PulseAll(_events);
        lock (_vbox.ApiLock)
        {
            foreach (Session s in _sessions)
            {
                if (s.State != SessionState.Locked)
                    continue;
                string what = s.Type == SessionType.Shared ? "a shared session" : "the session lock";
                Guid machine = Guid.Empty;
                try { machine = s.Machine.Id; } catch (VBoxException) { }
                try
                {
                    s.UnlockMachine();
                    _host.Log.Write($"Client #{Id} ({ClientName}, pid {PeerPid}) went away holding {what} of machine {{{machine:D}}}; unlocked");
                }
                catch (VBoxException e)
                {
                    _host.Log.Write($"Client #{Id}: unlocking machine {{{machine:D}}} failed: {e.Message}");
                }
            }
            _sessions.Clear();
        }
        try { _socket.Dispose(); } catch (ObjectDisposedException) { }
        _host.Log.Write($"Client #{Id} ({ClientName}, pid {PeerPid}) {how}");
        _host.ClientGone(this);
    }
}
