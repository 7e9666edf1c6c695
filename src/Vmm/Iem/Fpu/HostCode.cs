using System.Runtime.InteropServices;

namespace SharpBox.Vmm.Iem.Fpu;

/// <summary>
/// Executable memory for the host-instruction stubs the FPU/SIMD code calls. One memfd is mapped twice:
/// a writable view where stubs are emitted and an executable view they run from, so no page is ever
/// writable and executable at once and stubs can be added while other threads run existing ones.
/// Stubs are never freed (a few hundred, tens of KB in all).
/// </summary>
public static unsafe class HostCode
{
    const int Capacity = 1 << 20;          // 1 MiB: ~600 x87 stubs + lazily built SSE forms fit many times over
    static readonly object s_lock = new();
    static byte* s_rw;
    static byte* s_rx;
    static int s_used;

    /// <summary>Start of the executable view (the fault trap redirects faults inside [Base, Base+Capacity)).</summary>
    public static nint Base { get { EnsureMapped(); return (nint)s_rx; } }
    public static int Size => Capacity;

    static void EnsureMapped()
    {
        if (s_rx != null) return;
        lock (s_lock)
        {
            if (s_rx != null) return;
            if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
                throw new PlatformNotSupportedException("the FPU/SIMD host stubs need Linux on x86-64");
            int fd = Native.memfd_create("sharpbox-fpu-stubs", 1 /* MFD_CLOEXEC */);
            if (fd < 0) throw new InvalidOperationException($"memfd_create failed: errno {Marshal.GetLastPInvokeError()}");
            try
            {
                if (Native.ftruncate(fd, Capacity) != 0)
                    throw new InvalidOperationException($"ftruncate of the stub memfd failed: errno {Marshal.GetLastPInvokeError()}");
                void* rw = Native.mmap(null, Capacity, Native.PROT_READ | Native.PROT_WRITE, Native.MAP_SHARED, fd, 0);
                if (rw == Native.MAP_FAILED) throw new InvalidOperationException($"mmap (rw) failed: errno {Marshal.GetLastPInvokeError()}");
                void* rx = Native.mmap(null, Capacity, Native.PROT_READ | Native.PROT_EXEC, Native.MAP_SHARED, fd, 0);
                if (rx == Native.MAP_FAILED) throw new InvalidOperationException($"mmap (rx) failed: errno {Marshal.GetLastPInvokeError()}");
                s_rw = (byte*)rw;
                s_used = 0;
                s_rx = (byte*)rx;
            }
            finally { Native.close(fd); }
        }
    }

    /// <summary>
    /// Copies <paramref name="code"/> (position-independent) into the arena, 16-byte aligned, and returns
    /// its executable address.
    /// </summary>
    public static nint Emit(ReadOnlySpan<byte> code)
    {
        EnsureMapped();
        lock (s_lock)
        {
            int at = (s_used + 15) & ~15;
            if (at + code.Length > Capacity) throw new InvalidOperationException("FPU/SIMD stub arena is full");
            code.CopyTo(new Span<byte>(s_rw + at, code.Length));
            s_used = at + code.Length;
            // The two views alias the same physical page; a store followed by a call through the other
            // view is coherent on x86 (the lock release orders it for other threads).
            return (nint)(s_rx + at);
        }
    }

    /// <summary>Reserves <paramref name="size"/> writable data bytes inside the arena (for slots the stubs read).</summary>
    public static (nint rw, nint rx) AllocData(int size)
    {
        EnsureMapped();
        lock (s_lock)
        {
            int at = (s_used + 15) & ~15;
            if (at + size > Capacity) throw new InvalidOperationException("FPU/SIMD stub arena is full");
            s_used = at + size;
            new Span<byte>(s_rw + at, size).Clear();
            return ((nint)(s_rw + at), (nint)(s_rx + at));
        }
    }

    internal static class Native
    {
        public const int PROT_READ = 1, PROT_WRITE = 2, PROT_EXEC = 4, MAP_SHARED = 1;
        public static readonly void* MAP_FAILED = (void*)-1;

        [DllImport("libc", SetLastError = true)] public static extern int memfd_create(string name, uint flags);
        [DllImport("libc", SetLastError = true)] public static extern int ftruncate(int fd, long length);
        [DllImport("libc", SetLastError = true)] public static extern void* mmap(void* addr, nuint length, int prot, int flags, int fd, long offset);
        [DllImport("libc", SetLastError = true)] public static extern int close(int fd);
        [DllImport("libc", SetLastError = true)] public static extern int sigaction(int sig, void* act, void* oldact);
    }
}
