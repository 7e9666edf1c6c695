using System.Runtime.InteropServices;

namespace SharpBox.Vmm.Pdm;

/// <summary>
/// The few Linux system calls the VM process needs beyond what .NET offers: anonymous mappings for
/// guest RAM, epoll/timerfd/eventfd for the I/O thread, raw fd reads and writes for character back
/// ends, and the monotonic clock TM is built on. Thin and allocation-free.
/// </summary>
public static unsafe partial class LinuxIo
{
    public const int PROT_NONE = 0, PROT_READ = 1, PROT_WRITE = 2;
    public const int MAP_PRIVATE = 0x02, MAP_SHARED = 0x01, MAP_ANONYMOUS = 0x20, MAP_NORESERVE = 0x4000;
    public const int MADV_DONTNEED = 4, MADV_MERGEABLE = 12, MADV_HUGEPAGE = 14;
    public const int EPOLLIN = 0x001, EPOLLOUT = 0x004, EPOLLERR = 0x008, EPOLLHUP = 0x010, EPOLLRDHUP = 0x2000;
    public const int EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2, EPOLL_CTL_MOD = 3;
    public const int EPOLL_CLOEXEC = 0x80000;
    public const int CLOCK_MONOTONIC = 1;
    public const int TFD_CLOEXEC = 0x80000, TFD_NONBLOCK = 0x800, TFD_TIMER_ABSTIME = 1;
    public const int EFD_CLOEXEC = 0x80000, EFD_NONBLOCK = 0x800;
    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40, O_EXCL = 0x80, O_NOCTTY = 0x100,
        O_TRUNC = 0x200, O_APPEND = 0x400, O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000;
    public const int EINTR = 4, EAGAIN = 11, EIO = 5;
    public const int F_GETFL = 3, F_SETFL = 4;

    [StructLayout(LayoutKind.Sequential, Pack = 1)]
    public struct EpollEvent { public uint Events; public ulong Data; }   // packed on x86-64

    [StructLayout(LayoutKind.Sequential)]
    public struct Timespec { public long Sec; public long Nsec; }

    [StructLayout(LayoutKind.Sequential)]
    public struct Itimerspec { public Timespec Interval; public Timespec Value; }

    [LibraryImport("libc", SetLastError = true)] public static partial nint mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);
    [LibraryImport("libc", SetLastError = true)] public static partial int munmap(nint addr, nuint length);
    [LibraryImport("libc", SetLastError = true)] public static partial int madvise(nint addr, nuint length, int advice);
    [LibraryImport("libc", SetLastError = true)] public static partial int mprotect(nint addr, nuint length, int prot);
    [LibraryImport("libc", SetLastError = true)] public static partial int epoll_create1(int flags);
    [LibraryImport("libc", SetLastError = true)] public static partial int epoll_ctl(int epfd, int op, int fd, EpollEvent* ev);
    [LibraryImport("libc", SetLastError = true)] public static partial int epoll_wait(int epfd, EpollEvent* events, int maxevents, int timeout);
    [LibraryImport("libc", SetLastError = true)] public static partial int timerfd_create(int clockid, int flags);
    [LibraryImport("libc", SetLastError = true)] public static partial int timerfd_settime(int fd, int flags, Itimerspec* newValue, Itimerspec* oldValue);
    [LibraryImport("libc", SetLastError = true)] public static partial int eventfd(uint initval, int flags);
    [LibraryImport("libc", SetLastError = true)] public static partial nint read(int fd, byte* buf, nint count);
    [LibraryImport("libc", SetLastError = true)] public static partial nint write(int fd, byte* buf, nint count);
    [LibraryImport("libc", SetLastError = true)] public static partial int close(int fd);
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] public static partial int open(string path, int flags, int mode);
    [LibraryImport("libc", SetLastError = true)] public static partial int fcntl(int fd, int cmd, int arg);
    [LibraryImport("libc", SetLastError = true)] public static partial int fsync(int fd);
    [LibraryImport("libc", SetLastError = true)] public static partial int posix_openpt(int flags);
    [LibraryImport("libc", SetLastError = true)] public static partial int grantpt(int fd);
    [LibraryImport("libc", SetLastError = true)] public static partial int unlockpt(int fd);
    [LibraryImport("libc", SetLastError = true)] public static partial int ptsname_r(int fd, byte* buf, nuint buflen);
    [LibraryImport("libc", SetLastError = true)] public static partial int tcgetattr(int fd, byte* termios);
    [LibraryImport("libc", SetLastError = true)] public static partial int tcsetattr(int fd, int optionalActions, byte* termios);
    [LibraryImport("libc", SetLastError = true)] public static partial void cfmakeraw(byte* termios);
    [LibraryImport("libc")][SuppressGCTransition] private static partial int clock_gettime(int clockId, Timespec* ts);
    [LibraryImport("libc", EntryPoint = "lstat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] private static partial int lstat_(string path, byte* buf);

    public const uint S_IFMT = 0xF000, S_IFSOCK = 0xC000, S_IFREG = 0x8000, S_IFLNK = 0xA000;

    /// <summary>st_mode of <paramref name="path"/> (not following links), or null if it does not exist.</summary>
    public static uint? FileMode(string path)
    {
        byte* st = stackalloc byte[256];       // struct stat is 144 bytes on x86-64; st_mode at offset 24
        if (lstat_(path, st) != 0) return null;
        return *(uint*)(st + 24);
    }

    /// <summary>CLOCK_MONOTONIC in nanoseconds: the one host clock TM and timerfd share.</summary>
    public static long MonotonicNs()
    {
        Timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.Sec * 1_000_000_000L + ts.Nsec;
    }

    public static int Errno => Marshal.GetLastPInvokeError();

    public static string ErrorText(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    public static void SetNonBlocking(int fd)
    {
        int fl = fcntl(fd, F_GETFL, 0);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
            throw new IOException($"fcntl(O_NONBLOCK) on fd {fd}: {ErrorText(Errno)}");
    }
}
