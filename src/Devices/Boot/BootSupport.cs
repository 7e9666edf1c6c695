using System.Buffers.Binary;
using SharpBox.Vmm.Em;
using SharpBox.Vmm.Pgm;

namespace SharpBox.Devices.Boot;

/// <summary>The guest and host facts every boot loader needs.</summary>
public sealed record BootEnvironment(PhysicalMemoryMap Memory, E820Map E820, ulong RsdpAddress, ulong LowRamEnd);

/// <summary>What to boot: the kernel image, an optional initrd, the command line, and their names for messages.</summary>
public sealed record BootImage(ReadOnlyMemory<byte> Kernel, string KernelName, ReadOnlyMemory<byte>? Initrd, string? InitrdName, string CommandLine);

/// <summary>Low-memory layout and helpers shared by the Linux, PVH and Multiboot loaders.</summary>
internal static class BootSupport
{
    public const ulong GdtAddr = 0x500, InfoAddr = 0x6000, ZeroPageAddr = 0x7000, StackTop = 0x8FF0,
        Pml4Addr = 0x9000, PdptAddr = 0xA000, PdAddr = 0xB000, CmdlineAddr = 0x20000, CmdlineMax = 0x10000;
    public const ushort CodeSel = 0x10, DataSel = 0x18;

    public static void Write(BootEnvironment env, ulong gpa, ReadOnlySpan<byte> data, string what)
    {
        if (!env.Memory.IsRam(gpa, (ulong)data.Length))
            throw new BootImageException($"{what} at 0x{gpa:X} (0x{data.Length:X} bytes) does not fit in guest RAM");
        env.Memory.WritePhys(gpa, data);
    }

    public static void Zero(BootEnvironment env, ulong gpa, ulong length, string what)
    {
        if (!env.Memory.IsRam(gpa, length)) throw new BootImageException($"{what} at 0x{gpa:X} (0x{length:X} bytes) does not fit in guest RAM");
        var zeros = new byte[64 * 1024];
        for (ulong done = 0; done < length;)
        {
            int n = (int)Math.Min((ulong)zeros.Length, length - done);
            env.Memory.WritePhys(gpa + done, zeros.AsSpan(0, n));
            done += (ulong)n;
        }
    }

    /// <summary>GDT: null, null, code at 0x10 (64-bit or 32-bit), flat data at 0x18, as Linux's boot protocol expects.</summary>
    public static void WriteGdt(BootEnvironment env, bool longMode)
    {
        var g = new byte[32];
        BinaryPrimitives.WriteUInt64LittleEndian(g.AsSpan(16), longMode ? 0x00AF_9B00_0000_FFFFUL : 0x00CF_9B00_0000_FFFFUL);
        BinaryPrimitives.WriteUInt64LittleEndian(g.AsSpan(24), 0x00CF_9300_0000_FFFFUL);
        Write(env, GdtAddr, g, "boot GDT");
    }

    /// <summary>Identity map of the first 4 GiB with 2 MiB pages (PML4 → one PDPT → four page directories).</summary>
    public static void WriteIdentityPageTables(BootEnvironment env)
    {
        var pml4 = new byte[4096];
        BinaryPrimitives.WriteUInt64LittleEndian(pml4, PdptAddr | 3);
        Write(env, Pml4Addr, pml4, "boot page tables");
        var pdpt = new byte[4096];
        for (int i = 0; i < 4; i++) BinaryPrimitives.WriteUInt64LittleEndian(pdpt.AsSpan(8 * i), (PdAddr + (ulong)i * 0x1000) | 3);
        Write(env, PdptAddr, pdpt, "boot page tables");
        var pd = new byte[4096 * 4];
        for (int i = 0; i < 2048; i++) BinaryPrimitives.WriteUInt64LittleEndian(pd.AsSpan(8 * i), ((ulong)i << 21) | 0x83);
        Write(env, PdAddr, pd, "boot page tables");
    }

    public static BootCpuState LongModeState(ulong rip, ulong rsi)
    {
        var s = new BootCpuState
        {
            Mode = BootCpuMode.Long64, Rip = rip, Rsi = rsi, Rsp = StackTop, Rflags = 2,
            Cr0 = 0x8000_0011, Cr3 = Pml4Addr, Cr4 = 0x20, Efer = 0x500,
            GdtrBase = GdtAddr, GdtrLimit = 31, IdtrBase = 0, IdtrLimit = 0,
        };
        s.Cs = SegmentState.Flat(CodeSel, 0xB, longMode: true);
        s.Ds = s.Es = s.Fs = s.Gs = s.Ss = SegmentState.Flat(DataSel, 0x3);
        s.Tr = new SegmentState { Selector = 0, Base = 0, Limit = 0xFFFF, Attributes = 0x8B };
        s.Ldtr = new SegmentState { Selector = 0, Base = 0, Limit = 0xFFFF, Attributes = 0x82 };
        return s;
    }

    public static BootCpuState Protected32State(ulong eip)
    {
        var s = new BootCpuState
        {
            Mode = BootCpuMode.Protected32, Rip = eip, Rsp = StackTop, Rflags = 2,
            Cr0 = 0x11, GdtrBase = GdtAddr, GdtrLimit = 31, IdtrBase = 0, IdtrLimit = 0,
        };
        s.Cs = SegmentState.Flat(CodeSel, 0xB);
        s.Ds = s.Es = s.Fs = s.Gs = s.Ss = SegmentState.Flat(DataSel, 0x3);
        s.Tr = new SegmentState { Selector = 0, Base = 0, Limit = 0x67, Attributes = 0x8B };
        s.Ldtr = new SegmentState { Selector = 0, Base = 0, Limit = 0xFFFF, Attributes = 0x82 };
        return s;
    }

    /// <summary>Places the initrd page-aligned at the top of low RAM below <paramref name="maxAddr"/>, above <paramref name="floor"/>.</summary>
    public static ulong PlaceInitrd(BootEnvironment env, ReadOnlySpan<byte> initrd, string name, ulong maxAddr, ulong floor)
    {
        ulong top = Math.Min(env.LowRamEnd, maxAddr + 1);
        if ((ulong)initrd.Length > top) throw new BootImageException($"{name}: initrd of {initrd.Length} bytes does not fit below 0x{top:X}");
        ulong addr = (top - (ulong)initrd.Length) & ~0xFFFUL;
        if (addr < floor)
            throw new BootImageException($"{name}: initrd of {initrd.Length / 1024} KiB does not fit between the kernel (up to 0x{floor:X}) and the end of RAM (0x{top:X}); give the VM more memory");
        Write(env, addr, initrd, $"initrd {name}");
        return addr;
    }

    public static void WriteCmdline(BootEnvironment env, string cmdline, ulong maxLength)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(cmdline + "\0");
        if ((ulong)bytes.Length > maxLength) throw new BootImageException($"kernel command line is {bytes.Length - 1} bytes, the kernel accepts at most {maxLength - 1}");
        Write(env, CmdlineAddr, bytes, "kernel command line");
    }
}
