using System.Buffers.Binary;
using System.Net.Sockets;
using SharpBox.Main.Api;

namespace SharpBox.Main.Remote;

/// <summary>
/// The VBoxSVC protocol: a Unix stream socket in the configuration directory carrying frames of a
/// 4-byte little-endian length and that many bytes of UTF-8 JSON, one JSON object per frame.
///
/// Client to service:
///   {"op":"hello","proto":1,"client":"VBoxManage","pid":N}       first frame, answered by
///   {"op":"hello","proto":1,"pid":N,"version":"7.0.20","home":"...","settings":"...","revision":0,"api":"7_0"}
///   {"op":"call","id":N,"h":H,"m":"get_Name","a":[...]}          H 0 is IVirtualBox; m an interface member
///   {"op":"subscribe","id":N}                                    events are pushed from then on
///   {"op":"release","h":[H,...]}                                 handles the client no longer needs
/// Service to client:
///   {"id":N,"r":VALUE} | {"id":N,"err":{"ResultCode":..,"Message":..,"Component":..,"Interface":..}}
///   {"op":"event","e":{VBoxEvent}}                               pushed to subscribers, in order
///   {"op":"refused","msg":"..."}                                 then the connection is closed
/// Values are encoded by <see cref="Codec"/>; API objects travel as handles (per connection).
/// </summary>
public static class Protocol
{
    public const int Version = 1;
    public const int MaxFrame = 64 << 20;
    public const string SocketName = "VBoxSVC.socket";
    public const string LockName = "VBoxSVC.lock";
    public const string LogName = "VBoxSVC.log";

    /// <summary>Writes one frame (length and body in one write, so frames never interleave under the caller's lock).</summary>
    public static void WriteFrame(IFrameChannel c, ReadOnlySpan<byte> json)
    {
        if (json.Length > MaxFrame)
            throw new IOException($"message of {json.Length} bytes exceeds the protocol limit of {MaxFrame} bytes");
        byte[] buf = new byte[4 + json.Length];
        BinaryPrimitives.WriteInt32LittleEndian(buf, json.Length);
        json.CopyTo(buf.AsSpan(4));
        c.Write(buf);
    }

    /// <summary>Reads one frame; null at a clean end of stream.</summary>
    public static byte[]? ReadFrame(IFrameChannel c)
    {
        Span<byte> len = stackalloc byte[4];
        if (!ReadExactly(c, len, allowEof: true))
            return null;
        int n = BinaryPrimitives.ReadInt32LittleEndian(len);
        if (n < 0 || n > MaxFrame)
            throw new IOException($"invalid frame length {n}");
        byte[] buf = new byte[n];
        if (!ReadExactly(c, buf, allowEof: false))
            throw new IOException("connection closed in the middle of a message");
        return buf;
    }

    private static bool ReadExactly(IFrameChannel c, Span<byte> buf, bool allowEof)
    {
        int got = 0;
        while (got < buf.Length)
        {
            int r = c.Read(buf[got..]);
            if (r == 0)
            {
                if (got == 0 && allowEof)
                    return false;
                throw new IOException("connection closed in the middle of a message");
            }
            got += r;
        }
        return true;
    }

    /// <summary>Builds a JSON object frame with a writer callback.</summary>
    public static byte[] Build(Action<JsonWriter> write)
    {
        var w = new JsonWriter();
        w.StartObject();
        write(w);
        w.EndObject();
        return w.Written.ToArray();
    }

    public static void WriteError(JsonWriter w, VBoxErrorInfo info)
    {
        w.Name("err");
        w.StartObject();
        w.Number("ResultCode", info.ResultCode);
        w.String("Message", info.Message);
        w.String("Component", info.Component);
        w.String("Interface", info.Interface);
        w.EndObject();
    }

    public static VBoxErrorInfo ReadError(JNode e) => new(
        e.Get("ResultCode").GetInt32(),
        e.Get("Message").GetString(),
        e.Get("Component").GetString(),
        e.Get("Interface").GetString());

    /// <summary>The socket address for a path; paths longer than sun_path allows go through /proc/self/fd of the open folder.</summary>
    public static UnixDomainSocketEndPoint EndPoint(string path, out SafeDirectoryHandle? keepOpen)
    {
        keepOpen = null;
        if (System.Text.Encoding.UTF8.GetByteCount(path) <= 107)
            return new UnixDomainSocketEndPoint(path);
        string dir = Path.GetDirectoryName(path)!;
        keepOpen = SafeDirectoryHandle.Open(dir);
        return new UnixDomainSocketEndPoint($"/proc/self/fd/{keepOpen.Fd}/{Path.GetFileName(path)}");
    }
}

/// <summary>An open directory descriptor (O_PATH) kept while a long socket path is used through /proc/self/fd.</summary>
public sealed class SafeDirectoryHandle : IDisposable
{
    private const int O_PATH = 0x200000;
    public int Fd { get; private set; }

    private SafeDirectoryHandle(int fd) => Fd = fd;

    public static SafeDirectoryHandle Open(string dir)
    {
        int fd = SharpBox.Runtime.Posix.Open(dir, O_PATH | SharpBox.Runtime.Posix.O_DIRECTORY | SharpBox.Runtime.Posix.O_CLOEXEC, 0);
        if (fd < 0)
            throw new IOException($"Cannot open '{dir}': {SharpBox.Runtime.Posix.StrError(System.Runtime.InteropServices.Marshal.GetLastPInvokeError())}");
        return new SafeDirectoryHandle(fd);
    }

    public void Dispose()
    {
        if (Fd >= 0)
            SharpBox.Runtime.Posix.Close(Fd);
        Fd = -1;
    }
}
