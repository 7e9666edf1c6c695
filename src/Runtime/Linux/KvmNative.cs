using System.Runtime.InteropServices;

namespace SharpBox.Runtime.Linux;

/// <summary>
/// The libc calls the KVM engine needs (ioctl, mmap, eventfd, thread signals). Kept apart from the
/// rest of Runtime's POSIX layer so the engine's hot path (KVM_RUN) is one direct P/Invoke with
/// blittable arguments: no marshalling, no allocation.
/// </summary>
public static unsafe partial class KvmNative
{
    private const string Libc = "libc";

    public const int O_RDWR = 2, O_CLOEXEC = 0x80000;
    public const int PROT_NONE = 0, PROT_READ = 1, PROT_WRITE = 2, PROT_EXEC = 4;
    public const int MAP_SHARED = 1, MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20, MAP_NORESERVE = 0x4000, MAP_HUGETLB = 0x40000;
    public const int MADV_HUGEPAGE = 14, MADV_DONTNEED = 4;
    public const int EFD_CLOEXEC = 0x80000, EFD_NONBLOCK = 0x800;
    public const int EINTR = 4, EAGAIN = 11, EINVAL = 22, ENOENT = 2, EACCES = 13, ENXIO = 6, ENODEV = 19, EFAULT = 14;
    public static readonly nint MapFailed = -1;

    [LibraryImport(Libc, EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Open(string path, int flags);

    [LibraryImport(Libc, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    /// <summary>ioctl with an integer or pointer argument. Returns -1 with errno in Marshal.GetLastPInvokeError().</summary>
    [LibraryImport(Libc, EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(int fd, nuint request, nint arg);

    [LibraryImport(Libc, EntryPoint = "mmap", SetLastError = true)]
    public static partial nint Mmap(nint addr, nuint length, int prot, int flags, int fd, long offset);

    [LibraryImport(Libc, EntryPoint = "munmap", SetLastError = true)]
    public static partial int Munmap(nint addr, nuint length);

    [LibraryImport(Libc, EntryPoint = "mprotect", SetLastError = true)]
    public static partial int Mprotect(nint addr, nuint length, int prot);

    [LibraryImport(Libc, EntryPoint = "madvise", SetLastError = true)]
    public static partial int Madvise(nint addr, nuint length, int advice);

    [LibraryImport(Libc, EntryPoint = "eventfd", SetLastError = true)]
    public static partial int EventFd(uint initval, int flags);

    [LibraryImport(Libc, EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, void* buf, nuint count);

    [LibraryImport(Libc, EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, void* buf, nuint count);

    [LibraryImport(Libc, EntryPoint = "gettid")]
    public static partial int GetTid();

    [LibraryImport(Libc, EntryPoint = "getpid")]
    public static partial int GetPid();

    [LibraryImport(Libc, EntryPoint = "tgkill", SetLastError = true)]
    public static partial int TgKill(int tgid, int tid, int sig);

    [LibraryImport(Libc, EntryPoint = "sigaction", SetLastError = true)]
    public static partial int SigAction(int signum, void* act, void* oldact);

    [LibraryImport(Libc, EntryPoint = "__libc_current_sigrtmin")]
    public static partial int SigRtMin();

    [LibraryImport(Libc, EntryPoint = "__libc_current_sigrtmax")]
    public static partial int SigRtMax();

    [LibraryImport(Libc, EntryPoint = "strerror")]
    private static partial nint StrError(int errnum);

    /// <summary>"EINVAL (Invalid argument)"-style text for an errno value.</summary>
    public static string ErrnoText(int errno)
    {
        string? s = Marshal.PtrToStringUTF8(StrError(errno));
        return $"errno {errno} ({s ?? "?"})";
    }

    /// <summary>glibc's struct sigaction on x86-64 (handler, 128-byte mask, flags, restorer).</summary>
    [StructLayout(LayoutKind.Sequential, Size = 152)]
    public struct SigActionStruct
    {
        public nint Handler;
        public fixed ulong Mask[16];
        public int Flags;
        public nint Restorer;
    }

    public const int SA_RESTART = 0x10000000;
}
