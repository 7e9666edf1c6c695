using System.Buffers.Binary;
using System.Text;
using SharpBox.Vmm.Em;

namespace SharpBox.Devices.Boot;

/// <summary>
/// Multiboot (version 1) kernels: the header in the first 8 KiB, ELF segments or the a.out-kludge
/// addresses (flag 16) for flat images, the initrd as module 0 (page aligned), and the information
/// structure with memory sizes, command line, module list, memory map and loader name. The CPU starts in
/// flat 32-bit protected mode with EAX = 0x2BADB002 and EBX = the information structure.
/// </summary>
public static class MultibootLoader
{
    public const uint HeaderMagic = 0x1BAD_B002, BootMagic = 0x2BAD_B002;
    private const uint FlagPageAlign = 1, FlagMemInfo = 2, FlagVideo = 4, FlagAddresses = 1 << 16;

    /// <summary>The offset of a valid Multiboot header, or -1.</summary>
    public static int FindHeader(ReadOnlySpan<byte> k)
    {
        int limit = Math.Min(k.Length - 12, 8192 - 12);
        for (int o = 0; o <= limit; o += 4)
        {
            uint magic = BinaryPrimitives.ReadUInt32LittleEndian(k[o..]);
            if (magic != HeaderMagic) continue;
            uint flags = BinaryPrimitives.ReadUInt32LittleEndian(k[(o + 4)..]);
            uint sum = BinaryPrimitives.ReadUInt32LittleEndian(k[(o + 8)..]);
            if (magic + flags + sum == 0) return o;
        }
        return -1;
    }

    public static BootCpuState Load(BootEnvironment env, BootImage img)
    {
        var k = img.Kernel.Span;
        string name = img.KernelName;
        int h = FindHeader(k);
        if (h < 0) throw new BootImageException($"{name}: no Multiboot header in the first 8 KiB");
        uint flags = U32(k, h + 4);
        uint unknownRequired = flags & 0xFFFF & ~(FlagPageAlign | FlagMemInfo | FlagVideo);
        if (unknownRequired != 0) throw new BootImageException($"{name}: Multiboot header requires features 0x{unknownRequired:X} this loader does not offer");
        ulong entry, kernelEnd;
        if ((flags & FlagAddresses) != 0)
        {
            if (h + 32 > k.Length) throw new BootImageException($"{name}: Multiboot address fields truncated");
            uint headerAddr = U32(k, h + 12), loadAddr = U32(k, h + 16), loadEnd = U32(k, h + 20), bssEnd = U32(k, h + 24);
            entry = U32(k, h + 28);
            if (loadAddr > headerAddr) throw new BootImageException($"{name}: load_addr 0x{loadAddr:X} is above header_addr 0x{headerAddr:X}");
            long fileStart = h - (long)(headerAddr - loadAddr);
            if (fileStart < 0) throw new BootImageException($"{name}: load_addr 0x{loadAddr:X} lies before the start of the file");
            long length = loadEnd == 0 ? k.Length - fileStart : (long)loadEnd - loadAddr;
            if (length < 0 || fileStart + length > k.Length) throw new BootImageException($"{name}: load_end_addr 0x{loadEnd:X} lies beyond the file");
            BootSupport.Write(env, loadAddr, k.Slice((int)fileStart, (int)length), $"kernel {name}");
            kernelEnd = loadAddr + (ulong)length;
            if (bssEnd != 0)
            {
                if (bssEnd < kernelEnd) throw new BootImageException($"{name}: bss_end_addr 0x{bssEnd:X} is below the loaded image");
                BootSupport.Zero(env, kernelEnd, bssEnd - kernelEnd, $"{name} bss");
                kernelEnd = bssEnd;
            }
        }
        else
        {
            if (!ElfImage.IsElf(k)) throw new BootImageException($"{name}: Multiboot kernel is neither ELF nor uses the address fields (flag 16)");
            var elf = new ElfImage(img.Kernel, name);
            kernelEnd = PvhLoader.LoadSegments(env, name, elf);
            entry = elf.Entry;
        }
        if (entry >= 1UL << 32) throw new BootImageException($"{name}: entry 0x{entry:X} is above 4 GiB");

        // Information structure and what it points to, in the low boot area.
        ulong info = BootSupport.InfoAddr, mmapAddr = info + 0x100, modsAddr = info + 0x800, nameAddr = info + 0x900, modCmdAddr = info + 0x980;
        var mbi = new byte[88];
        uint mbFlags = 1 | 4 | 64 | 512;            // mem_*, cmdline, mmap, boot_loader_name
        var (lower, upper) = env.E820.MultibootSizes();
        W32(mbi, 4, lower);
        W32(mbi, 8, upper);
        BootSupport.WriteCmdline(env, img.CommandLine, BootSupport.CmdlineMax);
        W32(mbi, 16, (uint)BootSupport.CmdlineAddr);
        if (img.Initrd is { } initrdMem)
        {
            var initrd = initrdMem.Span;
            ulong at = BootSupport.PlaceInitrd(env, initrd, img.InitrdName ?? "initrd", 0xFFFF_FFFF, kernelEnd);
            var mod = new byte[16];
            W32(mod, 0, (uint)at);
            W32(mod, 4, (uint)(at + (ulong)initrd.Length));
            W32(mod, 8, (uint)modCmdAddr);
            BootSupport.Write(env, modsAddr, mod, "Multiboot module list");
            BootSupport.Write(env, modCmdAddr, Encoding.ASCII.GetBytes((img.InitrdName ?? "initrd") is var n && n.Length > 100 ? n[^100..] + "\0" : n + "\0"), "Multiboot module name");
            mbFlags |= 8;
            W32(mbi, 20, 1);
            W32(mbi, 24, (uint)modsAddr);
        }
        var e820 = env.E820.Entries;
        var mmap = new byte[24 * e820.Count];
        for (int i = 0; i < e820.Count; i++)
        {
            W32(mmap, 24 * i, 20);
            BinaryPrimitives.WriteUInt64LittleEndian(mmap.AsSpan(24 * i + 4), e820[i].Address);
            BinaryPrimitives.WriteUInt64LittleEndian(mmap.AsSpan(24 * i + 12), e820[i].Length);
            W32(mmap, 24 * i + 20, (uint)e820[i].Type);
        }
        BootSupport.Write(env, mmapAddr, mmap, "Multiboot memory map");
        W32(mbi, 44, (uint)mmap.Length);
        W32(mbi, 48, (uint)mmapAddr);
        BootSupport.Write(env, nameAddr, "SharpBox\0"u8, "Multiboot loader name");
        W32(mbi, 64, (uint)nameAddr);
        W32(mbi, 0, mbFlags);
        BootSupport.Write(env, info, mbi, "Multiboot information");
        BootSupport.WriteGdt(env, longMode: false);
        var s = BootSupport.Protected32State(entry);
        s.Rax = BootMagic;
        s.Rbx = info;
        return s;
    }

    private static uint U32(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt32LittleEndian(b[o..]);
    private static void W32(byte[] b, int o, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(o), v);
}
