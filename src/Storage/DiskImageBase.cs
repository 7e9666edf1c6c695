using Microsoft.Win32.SafeHandles;

namespace SharpBox.Storage;

/// <summary>
/// Shared plumbing of every format: range and read-only checks, positional I/O that turns short
/// reads and OS errors into <see cref="DiskImageException"/>s naming the file, and file locking.
/// Writable opens lock the file exclusively, read-only opens share it with other readers (flock
/// through FileShare), so two writers, or a writer and a reader, never meet on one image.
/// </summary>
internal abstract class DiskImageBase : IDiskImage
{
    private bool _disposed;

    protected DiskImageBase(string path, bool readOnly)
    {
        Path = path;
        IsReadOnly = readOnly;
    }

    public string Path { get; }
    public abstract DiskFormat Format { get; }
    public abstract DiskVariant Variant { get; }
    public long Size { get; protected set; }
    public abstract long AllocatedSize { get; }
    public bool IsReadOnly { get; }
    public virtual Guid Uuid => Guid.Empty;
    public virtual Guid ParentUuid => Guid.Empty;
    public virtual IDiskImage? Parent => null;

    /// <summary>UUID of the image's last modification (VDI header, VMDK ddb.uuid.modification).</summary>
    public virtual Guid ModificationUuid => Guid.Empty;
    /// <summary>The parent's modification UUID recorded when this differencing image was made.</summary>
    public virtual Guid ParentModificationUuid => Guid.Empty;
    /// <summary>Allocation unit of the format (VDI block, VMDK grain, VHD block); 0 for raw and flat files.</summary>
    public virtual int BlockSize => 0;
    /// <summary>VirtualBox MediumVariant sub-type bits beyond fixed/diff (Split2G = 1, Stream = 4, ESX = 8).</summary>
    public virtual uint ExtraVariantFlags => 0;
    /// <summary>Every file the image consists of (descriptor first for VMDK).</summary>
    public virtual IReadOnlyList<string> Files => new[] { Path };

    public void Read(long offset, Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CheckRange(offset, buffer.Length);
        if (buffer.Length != 0)
            ReadCore(offset, buffer);
    }

    public void Write(long offset, ReadOnlySpan<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (IsReadOnly)
            throw new DiskImageException(Path, "the image is open read-only");
        CheckRange(offset, buffer.Length);
        if (buffer.Length != 0)
            WriteCore(offset, buffer);
    }

    public void Flush()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!IsReadOnly)
            FlushCore();
    }

    protected abstract void ReadCore(long offset, Span<byte> buffer);
    protected abstract void WriteCore(long offset, ReadOnlySpan<byte> buffer);
    protected abstract void FlushCore();

    /// <summary>
    /// True when [offset, offset+length) is known to read as zeros without reading it (unallocated
    /// everywhere in the chain). Lets clone and merge skip holes of sparse images; false is always safe.
    /// </summary>
    internal virtual bool IsZeroRange(long offset, long length) => false;

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        try
        {
            if (!IsReadOnly)
                FlushCore();
        }
        finally
        {
            CloseCore();
        }
    }

    protected abstract void CloseCore();

    private void CheckRange(long offset, int length)
    {
        if (offset < 0 || offset > Size || length > Size - offset)
            throw new DiskImageException(Path,
                $"access at offset {offset} length {length} is outside the disk (size {Size} bytes)");
    }

    // ---- file helpers shared by the formats ----

    /// <summary>Set while <see cref="DiskImage.OpenUnlocked"/> opens an image: read-only opens take no lock.</summary>
    [ThreadStatic] private static bool t_unlocked;

    internal static T WithoutLocks<T>(Func<T> open)
    {
        bool was = t_unlocked;
        t_unlocked = true;
        try { return open(); }
        finally { t_unlocked = was; }
    }

    internal static SafeFileHandle OpenFile(string path, bool readOnly)
    {
        if (Directory.Exists(path))
            throw new DiskImageException(path, "is a folder, not a disk image");
        if (readOnly && t_unlocked && OperatingSystem.IsLinux())
        {
            // A plain open(2): .NET's FileShare would take a shared flock, which a writer's lock refuses.
            int fd = SharpBox.Runtime.Posix.Open(path, SharpBox.Runtime.Posix.O_RDONLY | SharpBox.Runtime.Posix.O_CLOEXEC, 0);
            if (fd < 0)
            {
                int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
                throw new DiskImageException(path, errno == SharpBox.Runtime.Posix.ENOENT ? "file not found" : $"cannot open (errno {errno})");
            }
            return new SafeFileHandle(fd, ownsHandle: true);
        }
        try
        {
            return File.OpenHandle(path, FileMode.Open,
                readOnly ? FileAccess.Read : FileAccess.ReadWrite,
                readOnly ? FileShare.Read : FileShare.None);
        }
        catch (FileNotFoundException)
        {
            throw new DiskImageException(path, "file not found");
        }
        catch (DirectoryNotFoundException)
        {
            throw new DiskImageException(path, "file not found (no such directory)");
        }
        catch (UnauthorizedAccessException e)
        {
            throw new DiskImageException(path, readOnly ? "permission denied" : "permission denied (cannot open for writing)", e);
        }
        catch (IOException e) when (e.HResult == 32 || e.Message.Contains("being used by another process", StringComparison.Ordinal))
        {
            throw new DiskImageException(path,
                readOnly ? "the image is locked for writing by another process or handle"
                         : "the image is in use by another process or handle (locked)", e) { Locked = true };
        }
        catch (IOException e)
        {
            throw new DiskImageException(path, "cannot open: " + e.Message, e);
        }
    }

    /// <summary>Creates a new file (never replaces one); preallocates when asked (fixed variants).</summary>
    internal static SafeFileHandle CreateFile(string path, long preallocate = 0)
    {
        try
        {
            return File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None,
                FileOptions.None, preallocate);
        }
        catch (IOException e) when (File.Exists(path))
        {
            throw new DiskImageException(path, "file already exists", e);
        }
        catch (IOException e)
        {
            throw new DiskImageException(path, "cannot create: " + e.Message, e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new DiskImageException(path, "permission denied (cannot create)", e);
        }
    }

    internal static long FileLength(SafeFileHandle handle, string path)
    {
        try { return RandomAccess.GetLength(handle); }
        catch (IOException e) { throw new DiskImageException(path, "cannot get file size: " + e.Message, e); }
    }

    /// <summary>Reads exactly buffer.Length bytes at position; a short read names the file and offset.</summary>
    internal static void ReadExact(SafeFileHandle handle, string path, Span<byte> buffer, long position)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n;
            try { n = RandomAccess.Read(handle, buffer[done..], position + done); }
            catch (IOException e) { throw new DiskImageException(path, $"read error at offset {position + done}: {e.Message}", e); }
            if (n == 0)
                throw new DiskImageException(path, $"unexpected end of file at offset {position + done} (truncated image)");
            done += n;
        }
    }

    /// <summary>Reads up to the end of the file and zero-fills the rest (for formats whose data may end early).</summary>
    internal static void ReadOrZero(SafeFileHandle handle, string path, Span<byte> buffer, long position)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n;
            try { n = RandomAccess.Read(handle, buffer[done..], position + done); }
            catch (IOException e) { throw new DiskImageException(path, $"read error at offset {position + done}: {e.Message}", e); }
            if (n == 0)
            {
                buffer[done..].Clear();
                return;
            }
            done += n;
        }
    }

    internal static void WriteAt(SafeFileHandle handle, string path, ReadOnlySpan<byte> buffer, long position)
    {
        try { RandomAccess.Write(handle, buffer, position); }
        catch (IOException e) { throw new DiskImageException(path, $"write error at offset {position}: {e.Message}", e); }
    }

    internal static void SetLength(SafeFileHandle handle, string path, long length)
    {
        try { RandomAccess.SetLength(handle, length); }
        catch (IOException e) { throw new DiskImageException(path, $"cannot resize file to {length} bytes: {e.Message}", e); }
    }

    internal static void Sync(SafeFileHandle handle, string path)
    {
        try { RandomAccess.FlushToDisk(handle); }
        catch (IOException e) { throw new DiskImageException(path, "flush to disk failed: " + e.Message, e); }
    }

    /// <summary>Writes zeros over [position, position+length), in 1 MiB pieces.</summary>
    internal static void WriteZeros(SafeFileHandle handle, string path, long position, long length)
    {
        while (length > 0)
        {
            int n = (int)Math.Min(length, ZeroBuffer.Length);
            WriteAt(handle, path, ZeroBuffer.AsSpan(0, n), position);
            position += n;
            length -= n;
        }
    }

    private static readonly byte[] ZeroBuffer = new byte[1 << 20];
}
