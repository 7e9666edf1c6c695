using SharpBox.Vmm.Pdm;

namespace SharpBox.Vmm.Pgm;

public enum PhysPageType : byte { Unassigned = 0, Ram = 1, Rom = 2, Mmio = 3 }

/// <summary>An MMIO device whose registers differ per CPU (the local APIC page).</summary>
public interface IPerCpuMmioDevice
{
    ulong MmioRead(int cpu, ulong offset, int size);
    void MmioWrite(int cpu, ulong offset, int size, ulong value);
}

/// <summary>One registered MMIO range. Accesses are made under <see cref="Lock"/> (the device's critical section).</summary>
public sealed class MmioRegion
{
    public string Name { get; }
    public ulong Base { get; internal set; }
    public ulong Size { get; }
    public IMmioDevice? Device { get; }
    public IPerCpuMmioDevice? PerCpuDevice { get; }
    public Lock Lock { get; }
    public bool Mapped { get; internal set; }

    internal MmioRegion(string name, ulong size, IMmioDevice? device, IPerCpuMmioDevice? perCpu, Lock @lock)
    { Name = name; Size = size; Device = device; PerCpuDevice = perCpu; Lock = @lock; }
}

/// <summary>A piece of guest RAM or ROM backed by host memory, as a hardware engine registers it (a memory slot).</summary>
public readonly unsafe record struct HostBackedRange(ulong GuestPhys, ulong Size, nint Host, bool ReadOnly);

/// <summary>Thrown when a device's DMA or a loader touches guest-physical memory that is not RAM.</summary>
public sealed class GuestMemoryException(string message) : Exception(message);

/// <summary>
/// PGM's guest-physical memory map: RAM (slices of one anonymous host mapping), ROM (read-only host
/// copies) and MMIO regions, with an O(1) lookup: a table indexed by 2 MiB chunk whose entries are either
/// uniform (one type for the whole chunk) or hold 512 page entries. Chunks are immutable and swapped
/// whole, so a vCPU reading the table never sees a half-updated entry and lookups take no lock.
/// </summary>
public sealed unsafe class PhysicalMemoryMap : IDisposable
{
    public const int PageShift = 12;
    public const ulong PageSize = 1UL << PageShift;
    private const int ChunkShift = 21;
    private const int PagesPerChunk = 1 << (ChunkShift - PageShift);

    private struct Page
    {
        public PhysPageType Type;
        public byte* Host;          // page start for RAM/ROM
        public MmioRegion? Region;
    }

    private sealed class Chunk
    {
        public PhysPageType Type;   // uniform type when Pages is null
        public byte* Host;          // chunk start for uniform RAM/ROM
        public MmioRegion? Region;
        public Page[]? Pages;
    }

    private static readonly Chunk s_unassigned = new() { Type = PhysPageType.Unassigned };
    private Chunk[] _chunks = Array.Empty<Chunk>();
    private readonly Lock _writeLock = new();
    private readonly List<HostBackedRange> _ranges = new();
    private readonly List<MmioRegion> _mmio = new();
    private readonly List<HostMemory> _roms = new();
    private bool _a20 = true;

    public HostMemory? Ram { get; private set; }

    /// <summary>Raised after any change of the map or of A20, so engines flush cached translations.</summary>
    public event Action? Changed;

    /// <summary>Told about every write made through <see cref="WritePhys"/> (DMA, loaders), so engines drop stale decoded code.</summary>
    public Action<ulong, ulong>? PhysicalWrite { get; set; }

    /// <summary>The A20 gate (i8042 output port bit 1, port 0x92 bit 1). When off, address bit 20 is forced to 0.</summary>
    public bool A20Enabled
    {
        get => Volatile.Read(ref _a20);
        set { if (Volatile.Read(ref _a20) != value) { Volatile.Write(ref _a20, value); Changed?.Invoke(); } }
    }

    /// <summary>The mask a CPU applies to physical addresses it generates (bit 20 cleared while A20 is off).</summary>
    public ulong A20Mask => A20Enabled ? ~0UL : ~(1UL << 20);

    public IReadOnlyList<HostBackedRange> HostBackedRanges { get { lock (_writeLock) return _ranges.ToArray(); } }
    public IReadOnlyList<MmioRegion> MmioRegions { get { lock (_writeLock) return _mmio.ToArray(); } }

    /// <summary>Allocates the single host mapping for guest RAM (done once, before mapping RAM ranges).</summary>
    public void AllocateRam(ulong bytes)
    {
        if (Ram is not null) throw new InvalidOperationException("PGM: guest RAM already allocated");
        Ram = new HostMemory(bytes);
    }

    /// <summary>Maps <paramref name="size"/> bytes of the RAM mapping, from <paramref name="ramOffset"/>, at guest-physical <paramref name="gpa"/>.</summary>
    public void MapRam(ulong gpa, ulong size, ulong ramOffset)
    {
        var ram = Ram ?? throw new InvalidOperationException("PGM: AllocateRam first");
        CheckAligned(gpa, size, "RAM");
        if (ramOffset + size > ram.Size) throw new ArgumentOutOfRangeException(nameof(size), "PGM: RAM range beyond the RAM mapping");
        lock (_writeLock)
        {
            EnsureFree(gpa, size, "RAM");
            for (ulong off = 0; off < size; off += PageSize)
                SetPage(gpa + off, new Page { Type = PhysPageType.Ram, Host = ram.Pointer + ramOffset + off });
            _ranges.Add(new HostBackedRange(gpa, size, (nint)(ram.Pointer + ramOffset), false));
            Publish();
        }
        Changed?.Invoke();
    }

    /// <summary>Maps a read-only copy of <paramref name="image"/> (padded to whole pages with zeros) at <paramref name="gpa"/>.</summary>
    public void MapRom(ulong gpa, ReadOnlySpan<byte> image)
    {
        ulong size = ((ulong)image.Length + PageSize - 1) & ~(PageSize - 1);
        CheckAligned(gpa, size, "ROM");
        var mem = new HostMemory(size);
        image.CopyTo(new Span<byte>(mem.Pointer, image.Length));
        lock (_writeLock)
        {
            try { EnsureFree(gpa, size, "ROM"); }
            catch { mem.Dispose(); throw; }
            _roms.Add(mem);
            for (ulong off = 0; off < size; off += PageSize)
                SetPage(gpa + off, new Page { Type = PhysPageType.Rom, Host = mem.Pointer + off });
            _ranges.Add(new HostBackedRange(gpa, size, (nint)mem.Pointer, true));
            Publish();
        }
        Changed?.Invoke();
    }

    public MmioRegion CreateMmio(string name, ulong size, IMmioDevice device, Lock @lock)
        => new(name, RoundUp(size), device, null, @lock);

    public MmioRegion CreatePerCpuMmio(string name, ulong size, IPerCpuMmioDevice device, Lock @lock)
        => new(name, RoundUp(size), null, device, @lock);

    /// <summary>Maps an MMIO region at <paramref name="gpa"/>; false (nothing changed) if it would overlap anything.</summary>
    public bool TryMapMmio(MmioRegion region, ulong gpa)
    {
        if ((gpa & (PageSize - 1)) != 0 || gpa + region.Size < gpa) return false;
        lock (_writeLock)
        {
            if (region.Mapped) throw new InvalidOperationException($"PGM: MMIO region {region.Name} is already mapped");
            if (!IsFree(gpa, region.Size)) return false;
            for (ulong off = 0; off < region.Size; off += PageSize)
                SetPage(gpa + off, new Page { Type = PhysPageType.Mmio, Region = region });
            region.Base = gpa;
            region.Mapped = true;
            _mmio.Add(region);
            Publish();
        }
        Changed?.Invoke();
        return true;
    }

    public void MapMmio(MmioRegion region, ulong gpa)
    {
        if (!TryMapMmio(region, gpa))
            throw new InvalidOperationException($"PGM: MMIO region {region.Name} at 0x{gpa:X} (0x{region.Size:X} bytes) overlaps another mapping or is misaligned");
    }

    public void UnmapMmio(MmioRegion region)
    {
        lock (_writeLock)
        {
            if (!region.Mapped) return;
            for (ulong off = 0; off < region.Size; off += PageSize)
                SetPage(region.Base + off, default);
            region.Mapped = false;
            _mmio.Remove(region);
            Publish();
        }
        Changed?.Invoke();
    }

    /// <summary>
    /// The O(1) lookup engines use: the type of the page holding <paramref name="gpa"/>, the host pointer
    /// of <paramref name="gpa"/> itself for RAM and ROM, and the region for MMIO.
    /// </summary>
    public PhysPageType Lookup(ulong gpa, out byte* host, out MmioRegion? region)
    {
        var chunks = _chunks;
        ulong ci = gpa >> ChunkShift;
        if (ci >= (ulong)chunks.Length) { host = null; region = null; return PhysPageType.Unassigned; }
        var c = chunks[ci];
        var pages = c.Pages;
        if (pages is null)
        {
            host = c.Host == null ? null : c.Host + (gpa & ((1UL << ChunkShift) - 1));
            region = c.Region;
            return c.Type;
        }
        ref Page p = ref pages[(gpa >> PageShift) & (PagesPerChunk - 1)];
        host = p.Host == null ? null : p.Host + (gpa & (PageSize - 1));
        region = p.Region;
        return p.Type;
    }

    /// <summary>Host pointer for a RAM byte, or null when <paramref name="gpa"/> is not RAM.</summary>
    public byte* RamPointer(ulong gpa)
        => Lookup(gpa, out byte* host, out _) == PhysPageType.Ram ? host : null;

    // ---- MMIO dispatch (taking the device's lock) ----

    public ulong MmioRead(int cpu, MmioRegion region, ulong gpa, int size)
    {
        ulong offset = gpa - region.Base;
        using (region.Lock.EnterScope())
            return region.Device is { } d ? d.MmioRead(offset, size) : region.PerCpuDevice!.MmioRead(cpu, offset, size);
    }

    public void MmioWrite(int cpu, MmioRegion region, ulong gpa, int size, ulong value)
    {
        ulong offset = gpa - region.Base;
        using (region.Lock.EnterScope())
        {
            if (region.Device is { } d) d.MmioWrite(offset, size, value);
            else region.PerCpuDevice!.MmioWrite(cpu, offset, size, value);
        }
    }

    // ---- bulk physical access (loaders, DMA, debugger): RAM and ROM only ----

    /// <summary>Copies guest-physical memory out; throws naming the address if a byte is not RAM or ROM.</summary>
    public void ReadPhys(ulong gpa, Span<byte> buffer)
    {
        while (buffer.Length > 0)
        {
            int n = (int)Math.Min((ulong)buffer.Length, PageSize - (gpa & (PageSize - 1)));
            var t = Lookup(gpa, out byte* host, out _);
            if (t != PhysPageType.Ram && t != PhysPageType.Rom)
                throw new GuestMemoryException($"guest-physical read at 0x{gpa:X}: not RAM ({t})");
            new ReadOnlySpan<byte>(host, n).CopyTo(buffer);
            buffer = buffer[n..];
            gpa += (ulong)n;
        }
    }

    /// <summary>Copies into guest RAM; throws naming the address if a byte is not RAM. Nothing is written in that case.</summary>
    public void WritePhys(ulong gpa, ReadOnlySpan<byte> data)
    {
        if (!IsRam(gpa, (ulong)data.Length))
            throw new GuestMemoryException($"guest-physical write of {data.Length} bytes at 0x{gpa:X}: not all RAM");
        PhysicalWrite?.Invoke(gpa, (ulong)data.Length);
        while (data.Length > 0)
        {
            int n = (int)Math.Min((ulong)data.Length, PageSize - (gpa & (PageSize - 1)));
            Lookup(gpa, out byte* host, out _);
            data[..n].CopyTo(new Span<byte>(host, n));
            data = data[n..];
            gpa += (ulong)n;
        }
    }

    public bool IsRam(ulong gpa, ulong length)
    {
        if (gpa + length < gpa) return false;
        ulong end = gpa + length;
        for (ulong a = gpa & ~(PageSize - 1); a < end; a += PageSize)
            if (Lookup(a, out _, out _) != PhysPageType.Ram) return false;
        return true;
    }

    // ---- table maintenance (writers hold _writeLock) ----

    private static ulong RoundUp(ulong size) => size == 0 ? PageSize : (size + PageSize - 1) & ~(PageSize - 1);

    private static void CheckAligned(ulong gpa, ulong size, string what)
    {
        if ((gpa & (PageSize - 1)) != 0 || (size & (PageSize - 1)) != 0 || size == 0 || gpa + size < gpa)
            throw new ArgumentException($"PGM: {what} range 0x{gpa:X}+0x{size:X} is not page aligned or is empty");
    }

    private bool IsFree(ulong gpa, ulong size)
    {
        for (ulong off = 0; off < size; off += PageSize)
            if (Lookup(gpa + off, out _, out _) != PhysPageType.Unassigned) return false;
        return true;
    }

    private void EnsureFree(ulong gpa, ulong size, string what)
    {
        if (!IsFree(gpa, size))
            throw new InvalidOperationException($"PGM: {what} range 0x{gpa:X}+0x{size:X} overlaps an existing mapping");
    }

    private Page[] MaterializedPages(ulong ci)
    {
        var c = ci < (ulong)_chunks.Length ? _chunks[ci] : s_unassigned;
        var pages = new Page[PagesPerChunk];
        if (c.Pages is not null) Array.Copy(c.Pages, pages, PagesPerChunk);
        else
            for (int i = 0; i < PagesPerChunk; i++)
                pages[i] = new Page { Type = c.Type, Region = c.Region, Host = c.Host == null ? null : c.Host + ((ulong)i << PageShift) };
        return pages;
    }

    // Writers batch page changes per chunk in _pending, then Publish swaps in the new table.
    private readonly Dictionary<ulong, Page[]> _pending = new();

    private void SetPage(ulong gpa, Page page)
    {
        ulong ci = gpa >> ChunkShift;
        if (!_pending.TryGetValue(ci, out var pages)) { pages = MaterializedPages(ci); _pending[ci] = pages; }
        pages[(gpa >> PageShift) & (PagesPerChunk - 1)] = page;
    }

    private void Publish()
    {
        ulong maxCi = 0;
        foreach (var ci in _pending.Keys) maxCi = Math.Max(maxCi, ci);
        var chunks = _chunks;
        if (maxCi >= (ulong)chunks.Length)
        {
            var grown = new Chunk[maxCi + 1];
            Array.Copy(chunks, grown, chunks.Length);
            for (long i = chunks.Length; i < grown.Length; i++) grown[i] = s_unassigned;
            chunks = grown;
        }
        else chunks = (Chunk[])chunks.Clone();
        foreach (var (ci, pages) in _pending) chunks[ci] = Collapse(pages);
        _pending.Clear();
        Volatile.Write(ref _chunks, chunks);
    }

    private static Chunk Collapse(Page[] pages)
    {
        var first = pages[0];
        for (int i = 1; i < PagesPerChunk; i++)
        {
            var p = pages[i];
            if (p.Type != first.Type || p.Region != first.Region) return new Chunk { Pages = pages };
            if (first.Host != null && p.Host != first.Host + ((ulong)i << PageShift)) return new Chunk { Pages = pages };
        }
        if (first.Type == PhysPageType.Unassigned) return s_unassigned;
        return new Chunk { Type = first.Type, Host = first.Host, Region = first.Region };
    }

    public void Dispose()
    {
        Ram?.Dispose();
        foreach (var r in _roms) r.Dispose();
        _roms.Clear();
    }
}
