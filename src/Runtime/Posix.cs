using System.Runtime.InteropServices;

namespace SharpBox.Runtime;

/// <summary>
/// The few libc calls the managed runtime does not expose: advisory locks, directory fsync,
/// inode identity and the account database. Linux only (glibc); x86-64 and arm64 share the
/// leading <c>struct stat</c> fields we read.
/// </summary>
public static partial class Posix
{
    public const int O_RDONLY = 0;
    public const int O_RDWR = 2;
    public const int O_CREAT = 0x40;
    public const int O_DIRECTORY = 0x10000;
    public const int O_CLOEXEC = 0x80000;

    public const int LOCK_SH = 1;
    public const int LOCK_EX = 2;
    public const int LOCK_NB = 4;
    public const int LOCK_UN = 8;

    public const int EINTR = 4;
    public const int EWOULDBLOCK = 11;
    public const int ENOENT = 2;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    public static partial int Flock(int fd, int operation);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    public static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "fstat", SetLastError = true)]
    private static unsafe partial int FStatRaw(int fd, byte* buf);

    [LibraryImport("libc", EntryPoint = "getuid")]
    public static partial uint GetUid();

    [LibraryImport("libc", EntryPoint = "getpid")]
    public static partial int GetPid();

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Link(string oldPath, string newPath);

    [LibraryImport("libc", EntryPoint = "getpwuid_r", SetLastError = true)]
    private static unsafe partial int GetPwUidR(uint uid, byte* pwd, byte* buf, nuint buflen, byte** result);

    [LibraryImport("libc", EntryPoint = "strerror")]
    private static partial nint StrErrorRaw(int errnum);

    /// <summary>The (device, inode) pair that identifies an open file, whatever path reached it.</summary>
    public readonly record struct FileId(ulong Device, ulong Inode);

    public static unsafe FileId GetFileId(int fd)
    {
        // struct stat is 144 bytes on x86-64 and 128 on arm64; st_dev and st_ino come first on both.
        byte* buf = stackalloc byte[256];
        if (FStatRaw(fd, buf) != 0)
            throw new IOException($"fstat failed: {StrError(Marshal.GetLastPInvokeError())}");
        return new FileId(*(ulong*)buf, *(ulong*)(buf + 8));
    }

    public static string StrError(int errno)
    {
        nint p = StrErrorRaw(errno);
        return p == 0 ? $"errno {errno}" : Marshal.PtrToStringUTF8(p) ?? $"errno {errno}";
    }

    /// <summary>
    /// The home directory of <paramref name="uid"/> from the account database (getpwuid_r), or null
    /// when the account has no entry.
    /// </summary>
    public static unsafe string? HomeDirectoryOf(uint uid)
    {
        // struct passwd: 5 pointers and 2 ints; 64 bytes covers every 64-bit ABI.
        byte* pwd = stackalloc byte[64];
        int size = 4096;
        while (size <= 1 << 20)
        {
            byte[] buffer = new byte[size];
            fixed (byte* pbuf = buffer)
            {
                byte* result = null;
                int rc = GetPwUidR(uid, pwd, pbuf, (nuint)size, &result);
                if (rc == 34 /* ERANGE */)
                {
                    size *= 4;
                    continue;
                }
                if (rc != 0 || result == null)
                    return null;
                // Layout: char *pw_name; char *pw_passwd; uid_t pw_uid; gid_t pw_gid; char *pw_gecos; char *pw_dir; char *pw_shell;
                nint dir = *(nint*)(pwd + 32);
                return dir == 0 ? null : Marshal.PtrToStringUTF8(dir);
            }
        }
        return null;
    }

    /// <summary>fsync a directory so a rename inside it survives a crash.</summary>
    public static void FsyncDirectory(string directory)
    {
        int fd = Open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        if (fd < 0)
            return; // Some file systems refuse to open directories; the rename itself is still atomic.
        try { Fsync(fd); }
        finally { Close(fd); }
    }
}
