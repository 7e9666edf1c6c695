using System.Net;
using System.Net.Sockets;
using SharpBox.Vmm.Pdm;

namespace SharpBox.Devices.Serial;

/// <summary>
/// Back ends over a stream socket: a server that accepts one client at a time (further clients are
/// refused while one is connected) or a client that connects at power-on. The connected socket's fd is
/// served by the I/O thread; output while nobody is connected is dropped, as on an unplugged line.
/// </summary>
public abstract class SocketCharDriver : FdCharDriver
{
    private Socket? _listener;
    private Socket? _conn;
    private readonly Listener? _accept;

    protected SocketCharDriver(IoThread io, EndPoint endPoint, bool server, string what) : base(io)
    {
        var family = endPoint.AddressFamily;
        var proto = family == AddressFamily.Unix ? ProtocolType.Unspecified : ProtocolType.Tcp;
        if (server)
        {
            var s = new Socket(family, SocketType.Stream, proto);
            try
            {
                if (family != AddressFamily.Unix) s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                s.Bind(endPoint);
                s.Listen(1);
                s.Blocking = false;
            }
            catch (SocketException e)
            {
                s.Dispose();
                throw new IOException($"serial port {what}: cannot listen: {e.Message}");
            }
            _listener = s;
            _accept = new Listener(this);
            io.Add((int)s.Handle, LinuxIo.EPOLLIN, _accept);
        }
        else
        {
            var s = new Socket(family, SocketType.Stream, proto);
            try { s.Connect(endPoint); }
            catch (SocketException e)
            {
                s.Dispose();
                throw new IOException($"serial port {what}: cannot connect: {e.Message}");
            }
            Adopt(s);
        }
    }

    /// <summary>The bound endpoint (a tcpserver on port 0 learns its port here).</summary>
    public EndPoint? LocalEndPoint => _listener?.LocalEndPoint;

    private void Adopt(Socket s)
    {
        s.Blocking = false;
        if (s.AddressFamily != AddressFamily.Unix) s.NoDelay = true;
        using (DriverLock.EnterScope()) _conn = s;
        AttachFd((int)s.Handle, readable: true);
    }

    protected override void OnClose(int fd)
    {
        var c = _conn;
        _conn = null;
        if (c is not null) c.Dispose(); else LinuxIo.close(fd);
    }

    private sealed class Listener(SocketCharDriver d) : IIoHandler
    {
        public void OnIoReady(int fd, uint events)
        {
            var l = d._listener;
            if (l is null) return;
            Socket client;
            try { client = l.Accept(); }
            catch (SocketException) { return; }
            if (d.Connected) { client.Dispose(); return; }   // one peer at a time
            d.Adopt(client);
        }
    }

    public override void Dispose()
    {
        base.Dispose();
        if (_listener is { } l)
        {
            Io.Remove((int)l.Handle);
            l.Dispose();
            _listener = null;
            OnListenerClosed();
        }
    }

    protected virtual void OnListenerClosed() { }
}

/// <summary>--uart-mode server|client PATH: a Unix domain socket (VirtualBox's "named pipe" modes on Linux).</summary>
public sealed class DrvNamedPipe : SocketCharDriver
{
    private readonly string _path;
    private readonly bool _server;
    public override string Description => $"{(_server ? "server" : "client")} {_path}";

    public DrvNamedPipe(IoThread io, string path, bool server) : base(io, Prepare(path, server), server, $"{(server ? "server" : "client")} socket '{path}'")
    {
        _path = Path.GetFullPath(path);
        _server = server;
    }

    private static UnixDomainSocketEndPoint Prepare(string path, bool server)
    {
        string full = Path.GetFullPath(path);
        if (server && LinuxIo.FileMode(full) is uint mode)
        {
            // A stale socket from an earlier run may be replaced; any other file is not ours to delete.
            if ((mode & LinuxIo.S_IFMT) != LinuxIo.S_IFSOCK)
                throw new IOException($"serial port server socket '{full}': a file that is not a socket is in the way");
            File.Delete(full);
        }
        return new UnixDomainSocketEndPoint(full);
    }

    protected override void OnListenerClosed()
    {
        try { File.Delete(_path); } catch (IOException) { }
    }
}

/// <summary>--uart-mode tcpserver PORT | tcpclient HOST:PORT.</summary>
public sealed class DrvTcp : SocketCharDriver
{
    private readonly string _where;
    public override string Description => _where;

    public DrvTcp(IoThread io, EndPoint endPoint, bool server, string where) : base(io, endPoint, server, where) { _where = where; }

    /// <summary>Parses "PORT" (server, all interfaces as VirtualBox binds) or "HOST:PORT" (client).</summary>
    public static DrvTcp Create(IoThread io, string location, bool server)
    {
        if (server)
        {
            if (!ushort.TryParse(location, out ushort port))
                throw new ArgumentException($"tcpserver: '{location}' is not a TCP port number");
            return new DrvTcp(io, new IPEndPoint(IPAddress.Any, port), true, $"tcpserver {port}");
        }
        int colon = location.LastIndexOf(':');
        if (colon <= 0 || !ushort.TryParse(location[(colon + 1)..], out ushort p) || p == 0)
            throw new ArgumentException($"tcpclient: '{location}' is not HOST:PORT");
        string host = location[..colon].Trim('[', ']');
        IPAddress addr;
        if (!IPAddress.TryParse(host, out addr!))
        {
            var found = Dns.GetHostAddresses(host);
            if (found.Length == 0) throw new IOException($"tcpclient: host '{host}' not found");
            addr = found[0];
        }
        return new DrvTcp(io, new IPEndPoint(addr, p), false, $"tcpclient {location}");
    }
}
