using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using SharpBox.Runtime;

namespace SharpBox.Main.Remote;

/// <summary>A byte stream the protocol frames travel on.</summary>
public interface IFrameChannel : IDisposable
{
    /// <summary>Reads up to <paramref name="buffer"/>.Length bytes; 0 at the end of the stream.</summary>
    int Read(Span<byte> buffer);
    /// <summary>Writes all of <paramref name="data"/>.</summary>
    void Write(ReadOnlySpan<byte> data);
    /// <summary>Ends the connection so that a blocked reader returns.</summary>
    void Shutdown();
}

/// <summary>The service side: a .NET socket.</summary>
public sealed class SocketChannel : IFrameChannel
{
    private readonly Socket _s;
    public SocketChannel(Socket s) => _s = s;
    public int Read(Span<byte> buffer) => _s.Receive(buffer, SocketFlags.None);

    public void Write(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
            data = data[_s.Send(data, SocketFlags.None)..];
    }

    public void Shutdown()
    {
        try { _s.Shutdown(SocketShutdown.Both); }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
    }

    public void Dispose() => _s.Dispose();
}

/// <summary>
/// The client side: a Unix stream socket through libc. A client process (VBoxManage) makes one
/// connection and exits; going around System.Net.Sockets saves it loading that machinery (about
/// 10 ms of CPU per command, see docs/performance.md).
/// </summary>
public sealed partial class UnixSocketChannel : IFrameChannel
{
    private const int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000, MSG_NOSIGNAL = 0x4000, SHUT_RDWR = 2;
    private const int EINTR = 4;
    private int _fd;

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    private static partial int Socket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "connect", SetLastError = true)]
    private static unsafe partial int Connect(int fd, byte* addr, int len);

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    private static unsafe partial nint Recv(int fd, byte* buf, nuint len, int flags);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    private static unsafe partial nint Send(int fd, byte* buf, nuint len, int flags);

    [LibraryImport("libc", EntryPoint = "shutdown", SetLastError = true)]
    private static partial int ShutdownRaw(int fd, int how);

    private UnixSocketChannel(int fd) => _fd = fd;

    /// <summary>The errno of a failed connect, for the caller to tell "nobody there" from "not allowed".</summary>
    public sealed class ConnectException(int errno, string message) : IOException(message)
    {
        public int Errno { get; } = errno;
        public bool AccessDenied => Errno is 13 /* EACCES */ or 1 /* EPERM */;
    }

    public static unsafe UnixSocketChannel Connect(string path)
    {
        SafeDirectoryHandle? dir = null;
        string target = path;
        if (Encoding.UTF8.GetByteCount(path) > 107)
        {
            // Longer than sun_path: go through the open folder.
            dir = SafeDirectoryHandle.Open(Path.GetDirectoryName(path)!);
            target = $"/proc/self/fd/{dir.Fd}/{Path.GetFileName(path)}";
        }
        using (dir)
        {
            int fd = Socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0)
                throw new IOException($"socket(): {Posix.StrError(Marshal.GetLastPInvokeError())}");
            byte* addr = stackalloc byte[110];
            new Span<byte>(addr, 110).Clear();
            *(ushort*)addr = AF_UNIX;
            int n = Encoding.UTF8.GetBytes(target, new Span<byte>(addr + 2, 107));
            int rc;
            do rc = Connect(fd, addr, 2 + n + 1);
            while (rc != 0 && Marshal.GetLastPInvokeError() == EINTR);
            if (rc != 0)
            {
                int err = Marshal.GetLastPInvokeError();
                Posix.Close(fd);
                throw new ConnectException(err, $"connect to '{path}': {Posix.StrError(err)}");
            }
            return new UnixSocketChannel(fd);
        }
    }

    public unsafe int Read(Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            while (true)
            {
                nint r = Recv(_fd, p, (nuint)buffer.Length, 0);
                if (r >= 0)
                    return (int)r;
                int err = Marshal.GetLastPInvokeError();
                if (err != EINTR)
                    throw new IOException($"recv: {Posix.StrError(err)}");
            }
        }
    }

    public unsafe void Write(ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            int done = 0;
            while (done < data.Length)
            {
                nint r = Send(_fd, p + done, (nuint)(data.Length - done), MSG_NOSIGNAL);
                if (r < 0)
                {
                    int err = Marshal.GetLastPInvokeError();
                    if (err == EINTR)
                        continue;
                    throw new IOException($"send: {Posix.StrError(err)}");
                }
                done += (int)r;
            }
        }
    }

    public void Shutdown()
    {
        int fd = _fd;
        if (fd >= 0)
            ShutdownRaw(fd, SHUT_RDWR);
    }

    public void Dispose()
    {
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0)
        {
            ShutdownRaw(fd, SHUT_RDWR);
            Posix.Close(fd);
        }
    }
}
