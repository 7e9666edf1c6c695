using System.Buffers.Binary;

namespace SharpBox.Devices.Boot;

public enum E820Type : uint { Ram = 1, Reserved = 2, Acpi = 3, Nvs = 4, Unusable = 5 }

public readonly record struct E820Entry(ulong Address, ulong Length, E820Type Type)
{
    public ulong End => Address + Length;
}

/// <summary>The BIOS memory map (INT 15h E820) a boot loader passes on: sorted, non-overlapping ranges.</summary>
public sealed class E820Map
{
    private readonly List<E820Entry> _entries = new();

    public IReadOnlyList<E820Entry> Entries => _entries;

    public E820Map Add(ulong address, ulong length, E820Type type)
    {
        if (length == 0) return this;
        foreach (var e in _entries)
            if (address < e.End && e.Address < address + length)
                throw new ArgumentException($"e820: range 0x{address:X}+0x{length:X} overlaps 0x{e.Address:X}+0x{e.Length:X}");
        _entries.Add(new E820Entry(address, length, type));
        _entries.Sort((a, b) => a.Address.CompareTo(b.Address));
        return this;
    }

    /// <summary>The standard PC layout: low RAM up to the EBDA, the BIOS area reserved, RAM from 1 MiB, RAM above 4 GiB.</summary>
    public static E820Map ForPc(ulong lowRamEnd, ulong highRam)
    {
        if (lowRamEnd < 0x20_0000) throw new ArgumentException("e820: a PC needs at least 2 MiB of RAM");
        var m = new E820Map()
            .Add(0, 0x9FC00, E820Type.Ram)
            .Add(0x9FC00, 0x400, E820Type.Reserved)
            .Add(0xE0000, 0x20000, E820Type.Reserved)
            .Add(0x10_0000, lowRamEnd - 0x10_0000, E820Type.Ram);
        if (highRam > 0) m.Add(1UL << 32, highRam, E820Type.Ram);
        return m;
    }

    /// <summary>Entries as 20-byte records (address, length, type), as the zero page and fw_cfg's etc/e820 hold them.</summary>
    public byte[] ToBytes()
    {
        var b = new byte[20 * _entries.Count];
        for (int i = 0; i < _entries.Count; i++)
        {
            var s = b.AsSpan(20 * i);
            BinaryPrimitives.WriteUInt64LittleEndian(s, _entries[i].Address);
            BinaryPrimitives.WriteUInt64LittleEndian(s[8..], _entries[i].Length);
            BinaryPrimitives.WriteUInt32LittleEndian(s[16..], (uint)_entries[i].Type);
        }
        return b;
    }

    /// <summary>KiB of conventional memory below 640 KiB and of contiguous RAM from 1 MiB (Multiboot mem_lower/mem_upper).</summary>
    public (uint Lower, uint Upper) MultibootSizes()
    {
        ulong lower = 0, upper = 0;
        foreach (var e in _entries)
        {
            if (e.Type != E820Type.Ram) continue;
            if (e.Address == 0) lower = Math.Min(e.Length, 640 * 1024);
            if (e.Address == 0x10_0000) upper = e.Length;
        }
        return ((uint)(lower / 1024), (uint)(upper / 1024));
    }
}
