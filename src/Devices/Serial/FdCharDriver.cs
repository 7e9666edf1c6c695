using SharpBox.Vmm.Pdm;

namespace SharpBox.Devices.Serial;

/// <summary>
/// Common machinery of the back ends that move bytes over a file descriptor served by the VM's I/O
/// thread: non-blocking writes with a bounded pending buffer flushed on EPOLLOUT, reads delivered to the
/// port with back-pressure (reading pauses while the UART's FIFO is full), and hang-up handling.
/// </summary>
public abstract unsafe class FdCharDriver : ICharDriver, IIoHandler
{
    public const int MaxPending = 64 * 1024;
    protected readonly IoThread Io;
    protected readonly Lock DriverLock = new();
    private readonly byte[] _pending = new byte[MaxPending];
    private int _pendingStart, _pendingCount;
    private readonly byte[] _rx = new byte[4096];
    private int _rxStart, _rxCount;        // read from fd, not yet accepted by the port (I/O thread only)
    private bool _rxPaused;
    private int _fd = -1;
    private int _events;
    private bool _pollable;
    protected ICharPort? Port;
    private long _dropped;

    protected FdCharDriver(IoThread io) { Io = io; }

    public abstract string Description { get; }
    public bool Connected { get { using (DriverLock.EnterScope()) return _fd >= 0; } }
    public long DroppedBytes => Interlocked.Read(ref _dropped);

    public void Attach(ICharPort port) => Port = port;

    /// <summary>
    /// Starts serving a connected descriptor (already non-blocking). Regular files cannot be polled
    /// (<paramref name="pollable"/> false): they are written directly and never read.
    /// </summary>
    protected void AttachFd(int fd, bool readable, bool pollable = true)
    {
        using (DriverLock.EnterScope())
        {
            _fd = fd;
            _pollable = pollable;
            _pendingStart = _pendingCount = 0;
            _events = readable && pollable ? LinuxIo.EPOLLIN | LinuxIo.EPOLLRDHUP : 0;
            _rxPaused = false;
            _rxStart = _rxCount = 0;
            if (pollable) Io.Add(fd, _events, this);
        }
        Port?.ConnectionChanged(true);
    }

    /// <summary>Stops serving the current descriptor (peer gone or shutdown); returns it closed.</summary>
    protected void DetachFd()
    {
        int fd;
        using (DriverLock.EnterScope())
        {
            fd = _fd;
            if (fd < 0) return;
            _fd = -1;
            if (_pollable) Io.Remove(fd);
            OnClose(fd);
            _pendingCount = 0;
        }
        Port?.ConnectionChanged(false);
        OnDisconnected();
    }

    /// <summary>Closes the descriptor (sockets override to dispose their Socket object).</summary>
    protected virtual void OnClose(int fd) => LinuxIo.close(fd);
    /// <summary>After the peer went away (a server starts accepting again).</summary>
    protected virtual void OnDisconnected() { }

    public void Write(ReadOnlySpan<byte> data)
    {
        using (DriverLock.EnterScope())
        {
            if (_fd < 0) return;                      // nobody listening: the line drops it, as a cable would
            if (_pendingCount == 0)
            {
                int n = RawWrite(data);
                if (n < 0) return;
                data = data[n..];
                if (data.IsEmpty) return;
            }
            if (!_pollable) { Interlocked.Add(ref _dropped, data.Length); return; }
            int room = MaxPending - _pendingCount;
            if (data.Length > room) { Interlocked.Add(ref _dropped, data.Length - room); data = data[..room]; }
            for (int i = 0; i < data.Length; i++)
                _pending[(_pendingStart + _pendingCount + i) % MaxPending] = data[i];
            _pendingCount += data.Length;
            SetEvents(_events | LinuxIo.EPOLLOUT);
        }
    }

    /// <summary>Writes what the fd takes now; -1 on a hard error (the connection is dropped).</summary>
    private int RawWrite(ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            nint n = LinuxIo.write(_fd, p, data.Length);
            if (n >= 0) return (int)n;
            int e = LinuxIo.Errno;
            if (e == LinuxIo.EAGAIN || e == LinuxIo.EINTR) return 0;
            Io.Post(DetachFd);
            return -1;
        }
    }

    private void SetEvents(int events)
    {
        if (events == _events || _fd < 0) return;
        _events = events;
        Io.Modify(_fd, events);
    }

    public void ReceiveReady()
    {
        // Called under the device lock: resume on the I/O thread, never call back into the port here.
        Io.Post(() =>
        {
            DeliverRx();
            using (DriverLock.EnterScope())
                if (_rxPaused && _rxCount == 0 && _fd >= 0) { _rxPaused = false; SetEvents(_events | LinuxIo.EPOLLIN); }
        });
    }

    private void DeliverRx()
    {
        while (_rxCount > 0 && Port is not null)
        {
            int took = Port.Receive(_rx.AsSpan(_rxStart, _rxCount));
            if (took <= 0) return;
            _rxStart += took; _rxCount -= took;
        }
    }

    public virtual void OnIoReady(int fd, uint events)
    {
        if ((events & LinuxIo.EPOLLOUT) != 0) FlushPending();
        if ((events & LinuxIo.EPOLLIN) != 0 && _rxCount == 0)
        {
            nint n;
            fixed (byte* p = _rx) n = LinuxIo.read(fd, p, _rx.Length);
            if (n > 0)
            {
                _rxStart = 0; _rxCount = (int)n;
                DeliverRx();
                if (_rxCount > 0)
                    using (DriverLock.EnterScope()) { _rxPaused = true; SetEvents(_events & ~LinuxIo.EPOLLIN); }
            }
            else if (n == 0 || (LinuxIo.Errno != LinuxIo.EAGAIN && LinuxIo.Errno != LinuxIo.EINTR)) { OnReadEnd(fd); return; }
        }
        if ((events & (LinuxIo.EPOLLHUP | LinuxIo.EPOLLERR)) != 0 && (events & LinuxIo.EPOLLIN) == 0) OnReadEnd(fd);
    }

    /// <summary>End of input or an error on the descriptor. Sockets disconnect; a pty keeps going.</summary>
    protected virtual void OnReadEnd(int fd) => DetachFd();

    private void FlushPending()
    {
        using (DriverLock.EnterScope())
        {
            while (_pendingCount > 0 && _fd >= 0)
            {
                int chunk = Math.Min(_pendingCount, MaxPending - _pendingStart);
                int n = RawWrite(_pending.AsSpan(_pendingStart, chunk));
                if (n <= 0) break;
                _pendingStart = (_pendingStart + n) % MaxPending;
                _pendingCount -= n;
            }
            if (_pendingCount == 0) SetEvents(_events & ~LinuxIo.EPOLLOUT);
        }
    }

    public virtual void Dispose()
    {
        GC.SuppressFinalize(this);
        int fd;
        using (DriverLock.EnterScope()) { fd = _fd; _fd = -1; }
        if (fd >= 0) { if (_pollable) Io.Remove(fd); OnClose(fd); }
    }
}
