using SharpBox.Vmm.Pdm;
using SharpBox.Vmm.Pgm;

namespace SharpBox.Vmm.Tests.Pgm;

public unsafe class PhysicalMemoryMapTests
{
    private sealed class Regs : IMmioDevice
    {
        public readonly List<(ulong Off, int Size, ulong Val)> Writes = new();
        public ulong MmioRead(ulong offset, int size) => 0xA000 + offset + (ulong)size;
        public void MmioWrite(ulong offset, int size, ulong value) => Writes.Add((offset, size, value));
    }

    private static PhysicalMemoryMap NewMap(ulong ram = 8 << 20)
    {
        var m = new PhysicalMemoryMap();
        m.AllocateRam(ram);
        m.MapRam(0, 0xA0000, 0);
        m.MapRam(0x100000, ram - 0x100000, 0x100000);
        return m;
    }

    [Fact]
    public void RamLookupGivesHostPointersIntoOneMapping()
    {
        using var m = NewMap();
        Assert.Equal(PhysPageType.Ram, m.Lookup(0x1234, out byte* h1, out _));
        Assert.Equal(PhysPageType.Ram, m.Lookup(0x200123, out byte* h2, out _));
        Assert.True(h1 == m.Ram!.Pointer + 0x1234);
        Assert.True(h2 == m.Ram.Pointer + 0x200123);
        Assert.Equal(PhysPageType.Unassigned, m.Lookup(0xB0000, out byte* h3, out _));
        Assert.True(h3 == null);
        Assert.Equal(PhysPageType.Unassigned, m.Lookup(1UL << 40, out _, out _));
        m.WritePhys(0x1FFE, [1, 2, 3, 4]);               // crosses a page boundary
        Span<byte> back = stackalloc byte[4];
        m.ReadPhys(0x1FFE, back);
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, back.ToArray());
    }

    [Fact]
    public void RomIsReadOnlyAndMmioDispatchesOffsets()
    {
        using var m = NewMap();
        m.MapRom(0xF0000, [0x90, 0x90, 0xEA]);
        Assert.Equal(PhysPageType.Rom, m.Lookup(0xF0002, out byte* rom, out _));
        Assert.Equal(0xEA, *rom);
        Assert.Throws<GuestMemoryException>(() => m.WritePhys(0xF0000, [1]));
        var dev = new Regs();
        var region = m.CreateMmio("regs", 0x1000, dev, new Lock());
        m.MapMmio(region, 0xFEC00000);
        Assert.Equal(PhysPageType.Mmio, m.Lookup(0xFEC00010, out _, out var r));
        Assert.Same(region, r);
        Assert.Equal(0xA000UL + 0x10 + 4, m.MmioRead(0, r!, 0xFEC00010, 4));
        m.MmioWrite(0, r!, 0xFEC00020, 2, 0xBEEF);
        Assert.Equal((0x20UL, 2, 0xBEEFUL), dev.Writes.Single());
        // Overlaps are refused and leave the map unchanged.
        var other = m.CreateMmio("other", 0x2000, dev, new Lock());
        Assert.False(m.TryMapMmio(other, 0xFEBFF000));
        Assert.Equal(PhysPageType.Unassigned, m.Lookup(0xFEBFF000, out _, out _));
        Assert.Throws<InvalidOperationException>(() => m.MapRam(0x0, 0x1000, 0));
        m.UnmapMmio(region);
        Assert.Equal(PhysPageType.Unassigned, m.Lookup(0xFEC00010, out _, out _));
        Assert.True(m.TryMapMmio(other, 0xFEBFF000));
    }

    [Fact]
    public void A20GateMasksBit20AndNotifies()
    {
        using var m = NewMap();
        int changes = 0;
        m.Changed += () => changes++;
        Assert.Equal(~0UL, m.A20Mask);
        m.A20Enabled = false;
        Assert.Equal(~(1UL << 20), m.A20Mask);
        m.A20Enabled = false;
        m.A20Enabled = true;
        Assert.Equal(2, changes);
    }

    [Fact]
    public void GuestMemoryDmaIsBoundsChecked()
    {
        using var m = NewMap();
        var g = new GuestMemory(m);
        g.Write(0x5000, [9, 8, 7]);
        var b = new byte[3];
        g.Read(0x5000, b);
        Assert.Equal(new byte[] { 9, 8, 7 }, b);
        Assert.Throws<GuestMemoryException>(() => g.Read(0x9FFFE, new byte[4]));        // runs into the hole
        Assert.Throws<GuestMemoryException>(() => g.Write((8 << 20) - 2, new byte[4])); // runs off the end
        Assert.Throws<GuestMemoryException>(() => g.Write(ulong.MaxValue - 1, new byte[4]));
    }

    [Fact]
    public void LookupAllocatesNothing()
    {
        using var m = NewMap();
        var region = m.CreateMmio("regs", 0x1000, new Regs(), new Lock());
        m.MapMmio(region, 0xFEE00000);
        ulong sum = 0;
        for (int i = 0; i < 1000; i++) sum += (ulong)m.Lookup((ulong)i * 4096, out _, out _);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100_000; i++)
        {
            sum += (ulong)m.Lookup((ulong)(i & 2047) * 4096, out _, out _);
            sum += (ulong)m.Lookup(0xFEE00300, out _, out _);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.NotEqual(0UL, sum);
    }
}
