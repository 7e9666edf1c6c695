using System.Diagnostics;
using System.Runtime.InteropServices;

namespace SharpBox.Runtime;

/// <summary>
/// An exclusive advisory lock (flock) on a file or directory, shared by every thread of the process
/// and exclusive between processes. Settings files are replaced by rename, so locks are taken on
/// something stable: the directory that holds the file. Re-entrant for the thread that holds it;
/// other threads of this process wait like other processes do.
/// </summary>
public sealed class FileLock : IDisposable
{
    private sealed class Entry
    {
        public int Fd = -1;
        public int Count;
        public readonly object Gate = new();
        public Thread? Owner;
    }

    private static readonly Dictionary<Posix.FileId, Entry> s_entries = new();
    private static readonly object s_tableGate = new();

    private readonly Posix.FileId _id;
    private readonly Entry _entry;
    private bool _released;

    /// <summary>The path the lock was taken on.</summary>
    public string Path { get; }

    private FileLock(string path, Posix.FileId id, Entry entry)
    {
        Path = path;
        _id = id;
        _entry = entry;
    }

    /// <summary>
    /// Takes the exclusive lock on <paramref name="path"/> (a directory or an existing file), waiting up
    /// to <paramref name="timeout"/>. Throws <see cref="TimeoutException"/> naming the path when another
    /// process keeps it longer, <see cref="IOException"/> when the path cannot be opened.
    /// </summary>
    public static FileLock Acquire(string path, TimeSpan timeout)
    {
        bool isDir = Directory.Exists(path);
        int fd = Posix.Open(path, (isDir ? Posix.O_RDONLY | Posix.O_DIRECTORY : Posix.O_RDONLY) | Posix.O_CLOEXEC, 0);
        if (fd < 0)
        {
            int err = Marshal.GetLastPInvokeError();
            throw new IOException($"Cannot open '{path}' for locking: {Posix.StrError(err)}");
        }

        Posix.FileId id;
        try { id = Posix.GetFileId(fd); }
        catch { Posix.Close(fd); throw; }

        Entry entry;
        lock (s_tableGate)
        {
            if (!s_entries.TryGetValue(id, out entry!))
            {
                entry = new Entry();
                s_entries[id] = entry;
            }
        }

        var sw = Stopwatch.StartNew();
        // Threads of this process first serialise on the entry's monitor (re-entrant per thread).
        if (!Monitor.TryEnter(entry.Gate, timeout))
        {
            Posix.Close(fd);
            throw new TimeoutException($"Timed out waiting for the lock on '{path}' (held by another thread)");
        }

        try
        {
            if (entry.Count == 0)
            {
                // First holder in this process: take the cross-process flock on our descriptor.
                int sleepMs = 1;
                while (true)
                {
                    if (Posix.Flock(fd, Posix.LOCK_EX | Posix.LOCK_NB) == 0)
                        break;
                    int err = Marshal.GetLastPInvokeError();
                    if (err != Posix.EWOULDBLOCK && err != Posix.EINTR)
                        throw new IOException($"Cannot lock '{path}': {Posix.StrError(err)}");
                    if (sw.Elapsed > timeout)
                        throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0} s waiting for the lock on '{path}' held by another process");
                    Thread.Sleep(sleepMs);
                    sleepMs = Math.Min(sleepMs * 2, 20);
                }
                entry.Fd = fd;
                fd = -1;
            }
            entry.Count++;
            entry.Owner = Thread.CurrentThread;
        }
        catch
        {
            if (fd >= 0)
                Posix.Close(fd);
            Monitor.Exit(entry.Gate);
            throw;
        }

        if (fd >= 0)
            Posix.Close(fd); // Re-entry: the lock is already held on the first descriptor.
        return new FileLock(path, id, entry);
    }

    public void Dispose()
    {
        if (_released)
            return;
        _released = true;
        // Must be released by the owning thread (Monitor semantics).
        _entry.Count--;
        if (_entry.Count == 0)
        {
            Posix.Flock(_entry.Fd, Posix.LOCK_UN);
            Posix.Close(_entry.Fd);
            _entry.Fd = -1;
            _entry.Owner = null;
            lock (s_tableGate)
            {
                if (_entry.Count == 0)
                    s_entries.Remove(_id);
            }
        }
        Monitor.Exit(_entry.Gate);
    }
}
