using System.Buffers.Binary;
using SharpBox.Vmm.Em;

namespace SharpBox.Devices.Boot;

/// <summary>
/// The Linux/x86 boot protocol for a bzImage, entered at its 64-bit entry point (protocol 2.12+ with
/// XLF_KERNEL_64): the protected-mode kernel at 1 MiB (or its preferred address if not relocatable), the
/// zero page with the setup header, e820 map, command line, initrd and ACPI RSDP pointer, identity page
/// tables for the first 4 GiB and the boot GDT (__BOOT_CS 0x10, __BOOT_DS 0x18); RSI points at the zero page.
/// </summary>
public static class LinuxLoader
{
    private const int HdrStart = 0x1F1;

    public static bool IsBzImage(ReadOnlySpan<byte> k) =>
        k.Length > 0x268 && BinaryPrimitives.ReadUInt16LittleEndian(k[0x1FE..]) == 0xAA55 && k.Slice(0x202, 4).SequenceEqual("HdrS"u8);

    public static BootCpuState Load(BootEnvironment env, BootImage img)
    {
        var k = img.Kernel.Span;
        string name = img.KernelName;
        if (!IsBzImage(k)) throw new BootImageException($"{name}: not a bzImage (no boot sector signature or HdrS header)");
        ushort version = U16(k, 0x206);
        if (version < 0x20C) throw new BootImageException($"{name}: boot protocol {version >> 8}.{version & 0xFF} is too old (2.12 or later needed for the 64-bit entry)");
        ushort xloadflags = U16(k, 0x236);
        if ((xloadflags & 1) == 0) throw new BootImageException($"{name}: the kernel has no 64-bit entry point (not an x86-64 kernel?)");
        int setupSects = k[0x1F1] == 0 ? 4 : k[0x1F1];
        int setupSize = (setupSects + 1) * 512;
        if (setupSize >= k.Length) throw new BootImageException($"{name}: setup of {setupSize} bytes is larger than the file");
        var pm = k[setupSize..];
        bool relocatable = k[0x234] != 0;
        ulong pref = BinaryPrimitives.ReadUInt64LittleEndian(k[0x258..]);
        uint initSize = U32(k, 0x260);
        uint initrdMax = U32(k, 0x22C);
        uint cmdlineSize = U32(k, 0x238);
        ulong load = relocatable || pref == 0 ? 0x10_0000UL : pref;
        ulong need = Math.Max((ulong)pm.Length, initSize);
        if (load + need > env.LowRamEnd)
            throw new BootImageException($"{name}: the kernel needs {need / (1024 * 1024)} MiB from 0x{load:X}, the VM has {env.LowRamEnd / (1024 * 1024)} MiB below 4 GiB");
        BootSupport.Write(env, load, pm, $"kernel {name}");

        var zp = new byte[4096];
        int hdrEnd = 0x202 + k[0x201];
        k[HdrStart..Math.Min(hdrEnd, k.Length)].CopyTo(zp.AsSpan(HdrStart));
        zp[0x210] = 0xFF;                                          // type_of_loader: undefined
        zp[0x211] |= 0x80 | 0x01;                                  // CAN_USE_HEAP | LOADED_HIGH
        W16(zp, 0x224, 0xFE00);                                    // heap_end_ptr
        W16(zp, 0x1FA, 0xFFFF);                                    // vid_mode: normal
        BootSupport.WriteCmdline(env, img.CommandLine, cmdlineSize == 0 ? 256 : Math.Min((ulong)cmdlineSize + 1, BootSupport.CmdlineMax));
        W32(zp, 0x228, (uint)BootSupport.CmdlineAddr);
        if (img.Initrd is { } initrdMem)
        {
            var initrd = initrdMem.Span;
            ulong addr = BootSupport.PlaceInitrd(env, initrd, img.InitrdName ?? "initrd", initrdMax == 0 ? 0x37FF_FFFF : initrdMax, load + need);
            W32(zp, 0x218, (uint)addr);
            W32(zp, 0x21C, (uint)initrd.Length);
            W32(zp, 0x0C0, (uint)(addr >> 32));
            W32(zp, 0x0C4, (uint)((ulong)initrd.Length >> 32));
        }
        if (version >= 0x20E && env.RsdpAddress != 0) BinaryPrimitives.WriteUInt64LittleEndian(zp.AsSpan(0x070), env.RsdpAddress);
        var e820 = env.E820.Entries;
        if (e820.Count > 128) throw new BootImageException("e820 map has more than 128 entries");
        zp[0x1E8] = (byte)e820.Count;
        env.E820.ToBytes().CopyTo(zp.AsSpan(0x2D0));
        BootSupport.Write(env, BootSupport.ZeroPageAddr, zp, "zero page");

        BootSupport.WriteGdt(env, longMode: true);
        BootSupport.WriteIdentityPageTables(env);
        return BootSupport.LongModeState(load + 0x200, BootSupport.ZeroPageAddr);
    }

    private static ushort U16(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt16LittleEndian(b[o..]);
    private static uint U32(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt32LittleEndian(b[o..]);
    private static void W16(byte[] b, int o, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(o), v);
    private static void W32(byte[] b, int o, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(o), v);
}
