using SharpBox.Vmm.Pdm;

namespace SharpBox.Vmm.Pgm;

/// <summary>
/// One anonymous private host mapping (mmap). Guest RAM lives in a single one of these so that a
/// hardware engine (KVM) can register the same pages as memory slots; pages are only committed when
/// the guest touches them (MAP_NORESERVE), so unused guest RAM costs nothing.
/// </summary>
public sealed unsafe class HostMemory : IDisposable
{
    private nint _base;
    public ulong Size { get; }
    public byte* Pointer => (byte*)_base;

    public HostMemory(ulong size)
    {
        if (size == 0) throw new ArgumentOutOfRangeException(nameof(size), "host mapping of zero bytes");
        Size = (size + 4095) & ~4095UL;
        _base = LinuxIo.mmap(0, (nuint)Size, LinuxIo.PROT_READ | LinuxIo.PROT_WRITE,
            LinuxIo.MAP_PRIVATE | LinuxIo.MAP_ANONYMOUS | LinuxIo.MAP_NORESERVE, -1, 0);
        if (_base == -1)
        {
            int e = LinuxIo.Errno;
            _base = 0;
            throw new OutOfMemoryException($"cannot map {Size / (1024 * 1024)} MiB of guest memory: {LinuxIo.ErrorText(e)}");
        }
        // Transparent huge pages cut TLB misses of the host when the CPU engine walks guest RAM.
        LinuxIo.madvise(_base, (nuint)Size, LinuxIo.MADV_HUGEPAGE);
    }

    /// <summary>Gives pages back to the host (they read as zero afterwards): used on reset and load.</summary>
    public void Discard(ulong offset, ulong length)
    {
        if (offset + length > Size) throw new ArgumentOutOfRangeException(nameof(length));
        if (length == 0) return;
        if (LinuxIo.madvise(_base + (nint)offset, (nuint)length, LinuxIo.MADV_DONTNEED) == 0) return;
        for (ulong done = 0; done < length;)
        {
            int n = (int)Math.Min(length - done, 1UL << 30);
            new Span<byte>(Pointer + offset + done, n).Clear();
            done += (ulong)n;
        }
    }

    public void Dispose()
    {
        if (_base != 0) { LinuxIo.munmap(_base, (nuint)Size); _base = 0; }
    }
}
