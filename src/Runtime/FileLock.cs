using System.Diagnostics;
using System.Runtime.InteropServices;

namespace SharpBox.Runtime;

/// <summary>
/// An exclusive advisory lock (flock) on a file or directory, shared by every holder in the process
/// and exclusive between processes. Settings files are replaced by rename, so locks are taken on
/// something stable: the directory that holds the file.
///
/// Inside the process a lock belongs to an owner: by default the calling thread, or any object the
/// caller names (a session that is locked on one thread and unlocked on another, as VBoxSVC's
/// connection threads do). It is re-entrant for its owner; other owners wait like other processes.
/// </summary>
public sealed class FileLock : IDisposable
{
    private sealed class Entry
    {
        public int Fd = -1;
        public int Count;
        public object? Owner;
    }

    private static readonly Dictionary<Posix.FileId, Entry> s_entries = new();
    private static readonly object s_tableGate = new();

    private readonly Posix.FileId _id;
    private readonly Entry _entry;
    private int _released;

    /// <summary>The path the lock was taken on.</summary>
    public string Path { get; }

    /// <summary>Who holds this lock inside the process (a thread or the object named at acquisition).</summary>
    public object Owner { get; }

    private FileLock(string path, Posix.FileId id, Entry entry, object owner)
    {
        Path = path;
        _id = id;
        _entry = entry;
        Owner = owner;
    }

    /// <summary>
    /// Takes the exclusive lock on <paramref name="path"/> (a directory or an existing file) for the
    /// calling thread, waiting up to <paramref name="timeout"/>. Throws <see cref="TimeoutException"/>
    /// naming the path when another holder keeps it longer, <see cref="IOException"/> when the path
    /// cannot be opened.
    /// </summary>
    public static FileLock Acquire(string path, TimeSpan timeout) => Acquire(path, timeout, null);

    /// <summary>As <see cref="Acquire(string, TimeSpan)"/>, held by <paramref name="owner"/> (null: the calling thread).</summary>
    public static FileLock Acquire(string path, TimeSpan timeout, object? owner)
    {
        owner ??= Thread.CurrentThread;
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
        try
        {
            lock (entry)
            {
                // Holders in this process first wait for the entry (re-entrant per owner).
                while (entry.Count > 0 && !ReferenceEquals(entry.Owner, owner))
                {
                    TimeSpan left = timeout - sw.Elapsed;
                    if (left <= TimeSpan.Zero || !Monitor.Wait(entry, left))
                        if (entry.Count > 0 && !ReferenceEquals(entry.Owner, owner))
                            throw new TimeoutException($"Timed out waiting for the lock on '{path}' (held by another thread or session of this process)");
                }
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
                    entry.Owner = owner;
                }
                entry.Count++;
            }
        }
        finally
        {
            if (fd >= 0)
                Posix.Close(fd); // Failure, or re-entry: the lock is held on the first descriptor.
        }
        return new FileLock(path, id, entry, owner);
    }

    /// <summary>Releases this hold; any thread may release it.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) != 0)
            return;
        lock (_entry)
        {
            _entry.Count--;
            if (_entry.Count == 0)
            {
                Posix.Flock(_entry.Fd, Posix.LOCK_UN);
                Posix.Close(_entry.Fd);
                _entry.Fd = -1;
                _entry.Owner = null;
                lock (s_tableGate)
                {
                    if (_entry.Count == 0 && s_entries.TryGetValue(_id, out Entry? e) && ReferenceEquals(e, _entry))
                        s_entries.Remove(_id);
                }
                Monitor.PulseAll(_entry);
            }
        }
    }
}
