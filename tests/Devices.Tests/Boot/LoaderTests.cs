using System.Buffers.Binary;
using System.Text;
using SharpBox.Devices.Boot;
using SharpBox.Devices.Pc;
using SharpBox.Vmm.Em;
using SharpBox.Vmm.Pgm;

namespace SharpBox.Devices.Tests.Boot;

public sealed class LoaderTests : IDisposable
{
    private readonly PhysicalMemoryMap _mem = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("sbx-boot-").FullName;

    public LoaderTests()
    {
        _mem.AllocateRam(64UL << 20);
        _mem.MapRam(0, 0xA0000, 0);
        _mem.MapRam(0xC0000, (64UL << 20) - 0xC0000, 0xC0000);
    }

    public void Dispose() { _mem.Dispose(); Directory.Delete(_dir, true); }

    private BootEnvironment Env => new(_mem, E820Map.ForPc(64UL << 20, 0), 0xE0000, 64UL << 20);

    private byte[] Read(ulong gpa, int n) { var b = new byte[n]; _mem.ReadPhys(gpa, b); return b; }
    private uint R32(ulong gpa) => BinaryPrimitives.ReadUInt32LittleEndian(Read(gpa, 4));
    private ulong R64(ulong gpa) => BinaryPrimitives.ReadUInt64LittleEndian(Read(gpa, 8));

    /// <summary>A bzImage as the kernel build lays it out: one setup sector after the boot sector, then the payload.</summary>
    internal static byte[] BzImage(ushort version = 0x020F, ushort xloadflags = 1, uint initSize = 0x80_0000, int payload = 4096)
    {
        var k = new byte[1024 + payload];
        k[0x1F1] = 1;
        W16(k, 0x1FE, 0xAA55);
        k[0x200] = 0xEB; k[0x201] = 0x66;
        Encoding.ASCII.GetBytes("HdrS").CopyTo(k, 0x202);
        W16(k, 0x206, version);
        k[0x211] = 0x01;
        W32(k, 0x22C, 0x7FFF_FFFF);
        W32(k, 0x230, 0x20_0000);
        k[0x234] = 1;
        W16(k, 0x236, xloadflags);
        W32(k, 0x238, 2047);
        BinaryPrimitives.WriteUInt64LittleEndian(k.AsSpan(0x258), 0x100_0000);
        W32(k, 0x260, initSize);
        for (int i = 0; i < payload; i++) k[1024 + i] = (byte)(i * 7);
        return k;
    }

    private static void W16(byte[] b, int o, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(o), v);
    private static void W32(byte[] b, int o, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(o), v);

    [Fact]
    public void LinuxBootProtocol64BitEntry()
    {
        var initrd = Enumerable.Range(0, 10000).Select(i => (byte)i).ToArray();
        var s = KernelLoader.Load(Env, new BootImage(BzImage(), "bz", initrd, "rd", "console=ttyS0 quiet"), out var fmt);
        Assert.Equal(KernelFormat.BzImage, fmt);
        Assert.Equal(BootCpuMode.Long64, s.Mode);
        Assert.Equal(0x100200UL, s.Rip);
        Assert.Equal(0x7000UL, s.Rsi);
        Assert.Equal(0x9000UL, s.Cr3);
        Assert.Equal(0x500UL, s.Efer);
        Assert.Equal(0x10, s.Cs.Selector);
        Assert.NotEqual(0, s.Cs.Attributes & SegmentState.Long);
        Assert.Equal(BzImage()[1024..(1024 + 4096)], Read(0x100000, 4096));
        // Zero page.
        Assert.Equal(0xFF, Read(0x7210, 1)[0]);
        Assert.Equal("HdrS", Encoding.ASCII.GetString(Read(0x7202, 4)));
        Assert.Equal(0x20000u, R32(0x7228));
        Assert.Equal("console=ttyS0 quiet\0", Encoding.ASCII.GetString(Read(0x20000, 20)));
        uint rd = R32(0x7218);
        Assert.Equal(10000u, R32(0x721C));
        Assert.Equal(0u, rd & 0xFFF);
        Assert.True(rd + 10000 <= 64u << 20 && rd >= 0x100000 + 0x800000);
        Assert.Equal(initrd, Read(rd, 10000));
        Assert.Equal(0xE0000UL, R64(0x7070));
        byte n = Read(0x71E8, 1)[0];
        Assert.Equal(Env.E820.Entries.Count, n);
        Assert.Equal(0x100000UL, R64(0x72D0 + 20 * 3));
        Assert.Equal(1u, R32(0x72D0 + 20 * 3 + 16));
        // Identity map: PML4 → PDPT → 2 MiB pages.
        Assert.Equal(0xA003UL, R64(0x9000));
        Assert.Equal(0xB003UL, R64(0xA000));
        Assert.Equal(0x20_0083UL, R64(0xB008));
        Assert.Equal(0x00AF_9B00_0000_FFFFUL, R64(0x510));
    }

    [Fact]
    public void LinuxLoaderRefusesWhatItCannotBoot()
    {
        Assert.Contains("too old", Assert.Throws<BootImageException>(() => LinuxLoader.Load(Env, new BootImage(BzImage(version: 0x0206), "old", null, null, ""))).Message);
        Assert.Contains("64-bit", Assert.Throws<BootImageException>(() => LinuxLoader.Load(Env, new(BzImage(xloadflags: 0), "k32", null, null, ""))).Message);
        Assert.Contains("MiB", Assert.Throws<BootImageException>(() => LinuxLoader.Load(Env, new(BzImage(initSize: 100 << 20), "huge", null, null, ""))).Message);
        Assert.Contains("give the VM more memory", Assert.Throws<BootImageException>(() =>
            LinuxLoader.Load(Env, new(BzImage(initSize: 60 << 20), "k", new byte[8 << 20], "big.rd", ""))).Message);
        Assert.Contains("command line", Assert.Throws<BootImageException>(() => LinuxLoader.Load(Env, new(BzImage(), "k", null, null, new string('x', 3000)))).Message);
        Assert.Contains("not a bzImage", Assert.Throws<BootImageException>(() => KernelLoader.Load(Env, new(new byte[4096], "junk", null, null, ""), out _)).Message);
    }

    /// <summary>A Multiboot flat image (a.out kludge): header at 0, loaded at 1 MiB, entry at +0x20, bss after it.</summary>
    internal static byte[] MultibootFlat(byte[] code, uint bssBytes = 0x1000)
    {
        var k = new byte[0x20 + code.Length];
        uint flags = 0x0001_0003;
        W32(k, 0, MultibootLoader.HeaderMagic); W32(k, 4, flags); W32(k, 8, (uint)-(int)(MultibootLoader.HeaderMagic + flags));
        W32(k, 12, 0x100000); W32(k, 16, 0x100000); W32(k, 20, (uint)(0x100000 + k.Length)); W32(k, 24, (uint)(0x100000 + k.Length + bssBytes));
        W32(k, 28, 0x100020);
        code.CopyTo(k, 0x20);
        return k;
    }

    [Fact]
    public void MultibootFlatImageWithModule()
    {
        _mem.WritePhys(0x100000 + 0x30, new byte[] { 0xEE, 0xEE });     // garbage where the bss will be zeroed
        var s = KernelLoader.Load(Env, new BootImage(MultibootFlat([0xF4, 0xEB, 0xFD]), "mb", new byte[] { 1, 2, 3, 4 }, "mod.bin", "hello"), out var fmt);
        Assert.Equal(KernelFormat.Multiboot, fmt);
        Assert.Equal(BootCpuMode.Protected32, s.Mode);
        Assert.Equal(0x100020UL, s.Rip);
        Assert.Equal(0x2BAD_B002UL, s.Rax);
        Assert.Equal(0x6000UL, s.Rbx);
        Assert.Equal(new byte[] { 0xF4, 0xEB, 0xFD, 0 }, Read(0x100020, 4));
        uint flags = R32(0x6000);
        Assert.Equal(1u | 4 | 8 | 64 | 512, flags);
        Assert.Equal(639u, R32(0x6004));
        Assert.Equal((64u << 10) - 1024, R32(0x6008));
        Assert.Equal("hello\0", Encoding.ASCII.GetString(Read(R32(0x6010), 6)));
        Assert.Equal(1u, R32(0x6014));
        uint mod = R32(0x6018);
        uint start = R32(mod), end = R32(mod + 4);
        Assert.Equal(4u, end - start);
        Assert.Equal(0u, start & 0xFFF);
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, Read(start, 4));
        Assert.Equal("mod.bin\0", Encoding.ASCII.GetString(Read(R32(mod + 8), 8)));
        uint mmapLen = R32(0x602C), mmapAddr = R32(0x6030);
        Assert.Equal((uint)(24 * Env.E820.Entries.Count), mmapLen);
        Assert.Equal(20u, R32(mmapAddr));
        Assert.Equal("SharpBox", Encoding.ASCII.GetString(Read(R32(0x6040), 8)));
    }

    /// <summary>A minimal ELF64 vmlinux: one PT_LOAD at 16 MiB and a PT_NOTE with the Xen PVH entry note.</summary>
    internal static byte[] PvhElf(uint entry, byte[] code)
    {
        var e = new byte[0x200 + code.Length];
        e[0] = 0x7F; e[1] = (byte)'E'; e[2] = (byte)'L'; e[3] = (byte)'F'; e[4] = 2; e[5] = 1; e[6] = 1;
        W16(e, 16, 2); W16(e, 18, 62); W32(e, 20, 1);
        BinaryPrimitives.WriteUInt64LittleEndian(e.AsSpan(24), 0xFFFF_FFFF_8100_0000);
        BinaryPrimitives.WriteUInt64LittleEndian(e.AsSpan(32), 64);
        W16(e, 52, 64); W16(e, 54, 56); W16(e, 56, 2);
        // PT_LOAD
        int ph = 64;
        W32(e, ph, 1); W32(e, ph + 4, 5);
        BinaryPrimitives.WriteUInt64LittleEndian(e.AsSpan(ph + 8), 0x200);
        BinaryPrimitives.WriteUInt64LittleEndian(e.AsSpan(ph + 16), 0xFFFF_FFFF_8100_0000);
        BinaryPrimitives.WriteUInt64LittleEndian(e.AsSpan(ph + 24), 0x100_0000);
        BinaryPrimitives.WriteUInt64LittleEndian(e.AsSpan(ph + 32), (ulong)code.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(e.AsSpan(ph + 40), (ulong)code.Length + 0x2000);
        // PT_NOTE at 0x100: namesz 4 "Xen\0", descsz 4, type 18
        ph += 56;
        W32(e, ph, 4);
        BinaryPrimitives.WriteUInt64LittleEndian(e.AsSpan(ph + 8), 0x100);
        BinaryPrimitives.WriteUInt64LittleEndian(e.AsSpan(ph + 32), 20);
        W32(e, 0x100, 4); W32(e, 0x104, 4); W32(e, 0x108, 18);
        Encoding.ASCII.GetBytes("Xen\0").CopyTo(e, 0x10C);
        W32(e, 0x110, entry);
        code.CopyTo(e, 0x200);
        return e;
    }

    [Fact]
    public void PvhEntryWithStartInfo()
    {
        var s = KernelLoader.Load(Env, new BootImage(PvhElf(0x100_0000, [0x90, 0xF4]), "vmlinux", new byte[] { 9, 9 }, "rd", "root=/dev/ram"), out var fmt);
        Assert.Equal(KernelFormat.ElfPvh, fmt);
        Assert.Equal(BootCpuMode.Protected32, s.Mode);
        Assert.Equal(0x100_0000UL, s.Rip);
        Assert.Equal(0x6000UL, s.Rbx);
        Assert.Equal(new byte[] { 0x90, 0xF4 }, Read(0x100_0000, 2));
        Assert.Equal(PvhLoader.StartInfoMagic, R32(0x6000));
        Assert.Equal(1u, R32(0x6004));
        Assert.Equal(1u, R32(0x600C));
        Assert.Equal("root=/dev/ram\0", Encoding.ASCII.GetString(Read(R64(0x6018), 14)));
        Assert.Equal(0xE0000UL, R64(0x6020));
        Assert.Equal((uint)Env.E820.Entries.Count, R32(0x6030));
        ulong mod = R64(0x6010);
        Assert.Equal(2UL, R64(mod + 8));
        Assert.Equal(new byte[] { 9, 9 }, Read(R64(mod), 2));
        var bad = PvhElf(0x100_0000, [0x90]);
        BinaryPrimitives.WriteUInt64LittleEndian(bad.AsSpan(64 + 8), 0x10_0000);   // segment beyond the file
        Assert.Contains("beyond the file", Assert.Throws<BootImageException>(() => KernelLoader.Load(Env, new(bad, "bad.elf", null, null, ""), out _)).Message);
    }

    [Fact]
    public void FirmwareLoadsTablesAndKernelAtPowerOn()
    {
        string kernel = Path.Combine(_dir, "payload.bin");
        File.WriteAllBytes(kernel, MultibootFlat([0xF4]));
        using var m = new TestMachine(new PcMachineConfig { RamBytes = 64UL << 20, Kernel = kernel, CmdLine = "x=1" });
        var fw = m.Dev<DevPcFirmware>();
        var s = fw.PrepareBoot();
        Assert.Equal(0x100020UL, s.Rip);
        var rsdp = new byte[8];
        m.Vm.PhysMap.ReadPhys(0xE0000, rsdp);
        Assert.Equal("RSD PTR ", Encoding.ASCII.GetString(rsdp));
        Assert.Equal(0xE0000UL, fw.RsdpAddress);
        Assert.NotNull(m.Dev<DevFwCfg>().Item(0x20));
        var e = Assert.ThrowsAny<Exception>(() => new TestMachine(new PcMachineConfig { Kernel = Path.Combine(_dir, "missing") }));
        Assert.Contains("missing", e.Message);
        File.WriteAllBytes(kernel, new byte[100]);
        Assert.Contains("not a bzImage", Assert.ThrowsAny<Exception>(() => new TestMachine(new PcMachineConfig { Kernel = kernel })).Message);
    }
}
