namespace SharpBox.Storage;

public enum BlockOp { Read, Write, Flush }

/// <summary>Told when a queued block request has finished, on the driver's I/O thread.</summary>
public interface IBlockCompletion
{
    /// <param name="tag">The caller's tag from <see cref="IBlockDriver.Submit"/>.</param>
    /// <param name="error">Null on success; otherwise what went wrong (the message names the image file).</param>
    void OnBlockComplete(long tag, DiskImageException? error);
}

/// <summary>
/// What a disk controller talks to (the "Drv" side of a storage device): byte-addressed read, write
/// and flush, callable from any thread. The synchronous calls run on the caller's thread; requests
/// queued with <see cref="Submit"/> run in order on the driver's own I/O thread, which then calls the
/// completion — so a vCPU can start a transfer and go on running while the disk works.
/// </summary>
public interface IBlockDriver : IDisposable
{
    long Size { get; }
    bool IsReadOnly { get; }
    void Read(long offset, Span<byte> buffer);
    void Write(long offset, ReadOnlySpan<byte> buffer);
    void Flush();

    /// <summary>
    /// Queues a request. <paramref name="buffer"/> (ignored for Flush) must stay valid and untouched
    /// until <see cref="IBlockCompletion.OnBlockComplete"/> runs. Queueing allocates nothing once the
    /// queue has grown to the device's depth.
    /// </summary>
    void Submit(BlockOp op, long offset, Memory<byte> buffer, IBlockCompletion completion, long tag);
}

/// <summary>
/// The block driver over an <see cref="IDiskImage"/>: one lock serialises every access to the image
/// (images are not thread-safe), and a lazily started I/O thread serves queued requests.
/// Disposing drains the queue, stops the thread and disposes the image.
/// </summary>
public sealed class DiskBlockDriver : IBlockDriver
{
    private readonly IDiskImage _image;
    private readonly object _ioLock = new();
    private readonly object _queueLock = new();
    private readonly Queue<Request> _queue = new();
    private Thread? _worker;
    private bool _stopping;
    private bool _disposed;

    private readonly record struct Request(BlockOp Op, long Offset, Memory<byte> Buffer, IBlockCompletion Completion, long Tag);

    public DiskBlockDriver(IDiskImage image) => _image = image ?? throw new ArgumentNullException(nameof(image));

    public long Size => _image.Size;
    public bool IsReadOnly => _image.IsReadOnly;
    public IDiskImage Image => _image;

    public void Read(long offset, Span<byte> buffer)
    {
        lock (_ioLock)
            _image.Read(offset, buffer);
    }

    public void Write(long offset, ReadOnlySpan<byte> buffer)
    {
        lock (_ioLock)
            _image.Write(offset, buffer);
    }

    public void Flush()
    {
        lock (_ioLock)
            _image.Flush();
    }

    public void Submit(BlockOp op, long offset, Memory<byte> buffer, IBlockCompletion completion, long tag)
    {
        ArgumentNullException.ThrowIfNull(completion);
        lock (_queueLock)
        {
            ObjectDisposedException.ThrowIf(_disposed || _stopping, this);
            _queue.Enqueue(new Request(op, offset, buffer, completion, tag));
            if (_worker == null)
            {
                _worker = new Thread(Serve) { IsBackground = true, Name = "block-io " + System.IO.Path.GetFileName(_image.Path) };
                _worker.Start();
            }
            Monitor.Pulse(_queueLock);
        }
    }

    private void Serve()
    {
        while (true)
        {
            Request r;
            lock (_queueLock)
            {
                while (_queue.Count == 0 && !_stopping)
                    Monitor.Wait(_queueLock);
                if (_queue.Count == 0)
                    return;
                r = _queue.Dequeue();
            }
            DiskImageException? error = null;
            try
            {
                switch (r.Op)
                {
                    case BlockOp.Read: Read(r.Offset, r.Buffer.Span); break;
                    case BlockOp.Write: Write(r.Offset, r.Buffer.Span); break;
                    case BlockOp.Flush: Flush(); break;
                }
            }
            catch (DiskImageException e)
            {
                error = e;
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or ArgumentException)
            {
                error = new DiskImageException(_image.Path, e.Message, e);
            }
            r.Completion.OnBlockComplete(r.Tag, error);
        }
    }

    public void Dispose()
    {
        Thread? worker;
        lock (_queueLock)
        {
            if (_disposed)
                return;
            _stopping = true;
            worker = _worker;
            Monitor.PulseAll(_queueLock);
        }
        worker?.Join();
        lock (_queueLock)
            _disposed = true;
        lock (_ioLock)
            _image.Dispose();
    }
}
