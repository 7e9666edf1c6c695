using SharpBox.Vmm.Pdm;

namespace SharpBox.Vmm.Pgm;

/// <summary>Which access sizes a port range handles itself; others are split into byte accesses.</summary>
[Flags]
public enum IoWidths : byte { Byte = 1, Word = 2, Dword = 4, All = 7 }

/// <summary>One registered port range. Accesses are made under <see cref="Lock"/>.</summary>
public sealed class IoPortRange
{
    public string Name { get; }
    public ushort First { get; }
    public int Count { get; }
    public IIoPortDevice Device { get; }
    public Lock Lock { get; }
    public IoWidths Widths { get; }
    internal ushort Index;

    internal IoPortRange(string name, ushort first, int count, IIoPortDevice device, Lock @lock, IoWidths widths)
    { Name = name; First = first; Count = count; Device = device; Lock = @lock; Widths = widths; }
}

/// <summary>
/// The 64K I/O port space as a flat table: port → range index, so dispatch is two array loads whatever
/// the port (the PCI config ports 0xCF8/0xCFC are as cheap as any). Unclaimed ports read as all ones and
/// ignore writes, as on a PC bus.
/// </summary>
public sealed class IoPortSpace
{
    private readonly ushort[] _map = new ushort[65536];
    private IoPortRange?[] _ranges = new IoPortRange?[16];   // [0] = unclaimed
    private int _count = 1;
    private readonly Lock _writeLock = new();
    private long _unclaimedAccesses;

    /// <summary>Called (outside any lock) for the first accesses to unclaimed ports, for the log.</summary>
    public Action<ushort, bool, uint>? UnclaimedAccess { get; set; }
    public long UnclaimedAccesses => Interlocked.Read(ref _unclaimedAccesses);

    public IoPortRange Register(string name, ushort first, int count, IIoPortDevice device, Lock @lock, IoWidths widths = IoWidths.All)
        => TryRegister(name, first, count, device, @lock, widths, out string? conflict)
           ?? throw new InvalidOperationException(conflict);

    /// <summary>Claims ports [first, first+count); null (and why) if any is taken or the range leaves the port space.</summary>
    public IoPortRange? TryRegister(string name, ushort first, int count, IIoPortDevice device, Lock @lock, IoWidths widths, out string? conflict)
    {
        conflict = null;
        if (count <= 0 || first + count > 65536)
        {
            conflict = $"PDM: port range {name} 0x{first:X}+{count} is outside the 64K port space";
            return null;
        }
        if ((widths & IoWidths.Byte) == 0) throw new ArgumentException("PDM: every port range must accept byte accesses", nameof(widths));
        lock (_writeLock)
        {
            for (int p = first; p < first + count; p++)
                if (_map[p] != 0)
                {
                    conflict = $"PDM: port 0x{p:X} of {name} is already claimed by {_ranges[_map[p]]!.Name}";
                    return null;
                }
            if (_count == ushort.MaxValue) throw new InvalidOperationException("PDM: too many port ranges");
            var range = new IoPortRange(name, first, count, device, @lock, widths) { Index = (ushort)_count };
            if (_count == _ranges.Length) Array.Resize(ref _ranges, _ranges.Length * 2);
            _ranges[_count++] = range;
            for (int p = first; p < first + count; p++) _map[p] = range.Index;
            return range;
        }
    }

    public void Unregister(IoPortRange range)
    {
        lock (_writeLock)
        {
            for (int p = range.First; p < range.First + range.Count; p++)
                if (_map[p] == range.Index) _map[p] = 0;
        }
    }

    public IoPortRange? Find(ushort port) => _ranges[_map[port]];

    public uint Read(ushort port, int size)
    {
        var r = _ranges[_map[port]];
        int offset = port - (r?.First ?? 0);
        if (r is not null && (r.Widths & (IoWidths)size) != 0 && offset + size <= r.Count)
            using (r.Lock.EnterScope())
                return r.Device.IoRead((ushort)offset, size) & Mask(size);
        if (r is null && size == 1) { Unclaimed(port, false, 0); return 0xFF; }
        // Split into bytes: a narrow device or an access straddling two ranges (each byte goes where its port is).
        uint value = 0;
        for (int i = 0; i < size; i++)
            value |= ReadByte((ushort)(port + i)) << (8 * i);
        return value;
    }

    private uint ReadByte(ushort port)
    {
        var r = _ranges[_map[port]];
        if (r is null) { Unclaimed(port, false, 0); return 0xFF; }
        using (r.Lock.EnterScope())
            return r.Device.IoRead((ushort)(port - r.First), 1) & 0xFF;
    }

    public void Write(ushort port, int size, uint value)
    {
        var r = _ranges[_map[port]];
        int offset = port - (r?.First ?? 0);
        if (r is not null && (r.Widths & (IoWidths)size) != 0 && offset + size <= r.Count)
        {
            using (r.Lock.EnterScope())
                r.Device.IoWrite((ushort)offset, size, value & Mask(size));
            return;
        }
        for (int i = 0; i < size; i++)
        {
            ushort p = (ushort)(port + i);
            var rb = _ranges[_map[p]];
            uint b = (value >> (8 * i)) & 0xFF;
            if (rb is null) { Unclaimed(p, true, b); continue; }
            using (rb.Lock.EnterScope())
                rb.Device.IoWrite((ushort)(p - rb.First), 1, b);
        }
    }

    private static uint Mask(int size) => size >= 4 ? 0xFFFF_FFFFu : (1u << (8 * size)) - 1;

    private void Unclaimed(ushort port, bool write, uint value)
    {
        if (Interlocked.Increment(ref _unclaimedAccesses) <= 32) UnclaimedAccess?.Invoke(port, write, value);
    }
}
