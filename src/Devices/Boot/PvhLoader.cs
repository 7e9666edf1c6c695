using System.Buffers.Binary;
using SharpBox.Vmm.Em;

namespace SharpBox.Devices.Boot;

/// <summary>
/// PVH boot of an uncompressed ELF kernel (vmlinux): segments loaded at their physical addresses, the
/// entry point from the Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY, and an hvm_start_info (version 1: command
/// line, initrd as module 0, RSDP, memory map) whose address is in EBX; the CPU starts in flat 32-bit
/// protected mode with paging off.
/// </summary>
public static class PvhLoader
{
    public const uint XenElfNotePhys32Entry = 18;
    public const uint StartInfoMagic = 0x336E_C578;

    /// <summary>The PVH entry point, or null when the image has no PVH note.</summary>
    public static ulong? FindEntry(ElfImage elf)
    {
        foreach (var n in elf.Notes())
            if (n.Name == "Xen" && n.Type == XenElfNotePhys32Entry && n.Desc.Length >= 4)
                return n.Desc.Length >= 8 ? BinaryPrimitives.ReadUInt64LittleEndian(n.Desc) : BinaryPrimitives.ReadUInt32LittleEndian(n.Desc);
        return null;
    }

    public static BootCpuState Load(BootEnvironment env, BootImage img, ElfImage elf)
    {
        ulong entry = FindEntry(elf) ?? throw new BootImageException($"{img.KernelName}: no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)");
        if (entry >= 1UL << 32) throw new BootImageException($"{img.KernelName}: PVH entry 0x{entry:X} is above 4 GiB");
        ulong kernelEnd = LoadSegments(env, img.KernelName, elf);

        const ulong memmapAddr = BootSupport.InfoAddr + 0x100, modAddr = BootSupport.InfoAddr + 0x800;
        var e820 = env.E820.Entries;
        var memmap = new byte[24 * e820.Count];
        for (int i = 0; i < e820.Count; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(memmap.AsSpan(24 * i), e820[i].Address);
            BinaryPrimitives.WriteUInt64LittleEndian(memmap.AsSpan(24 * i + 8), e820[i].Length);
            BinaryPrimitives.WriteUInt32LittleEndian(memmap.AsSpan(24 * i + 16), (uint)e820[i].Type);
        }
        if (memmap.Length > 0x700) throw new BootImageException("e820 map too large for the PVH start info area");
        BootSupport.Write(env, memmapAddr, memmap, "PVH memory map");
        BootSupport.WriteCmdline(env, img.CommandLine, BootSupport.CmdlineMax);

        var si = new byte[56];
        BinaryPrimitives.WriteUInt32LittleEndian(si, StartInfoMagic);
        BinaryPrimitives.WriteUInt32LittleEndian(si.AsSpan(4), 1);
        BinaryPrimitives.WriteUInt64LittleEndian(si.AsSpan(24), BootSupport.CmdlineAddr);
        BinaryPrimitives.WriteUInt64LittleEndian(si.AsSpan(32), env.RsdpAddress);
        BinaryPrimitives.WriteUInt64LittleEndian(si.AsSpan(40), memmapAddr);
        BinaryPrimitives.WriteUInt32LittleEndian(si.AsSpan(48), (uint)e820.Count);
        if (img.Initrd is { } initrdMem)
        {
            var initrd = initrdMem.Span;
            ulong addr = BootSupport.PlaceInitrd(env, initrd, img.InitrdName ?? "initrd", 0xFFFF_FFFF, kernelEnd);
            var mod = new byte[32];
            BinaryPrimitives.WriteUInt64LittleEndian(mod, addr);
            BinaryPrimitives.WriteUInt64LittleEndian(mod.AsSpan(8), (ulong)initrd.Length);
            BootSupport.Write(env, modAddr, mod, "PVH module list");
            BinaryPrimitives.WriteUInt32LittleEndian(si.AsSpan(12), 1);
            BinaryPrimitives.WriteUInt64LittleEndian(si.AsSpan(16), modAddr);
        }
        BootSupport.Write(env, BootSupport.InfoAddr, si, "PVH start info");
        BootSupport.WriteGdt(env, longMode: false);
        var s = BootSupport.Protected32State(entry);
        s.Rbx = BootSupport.InfoAddr;
        return s;
    }

    /// <summary>Copies PT_LOAD segments to their physical addresses; returns the highest end address.</summary>
    internal static ulong LoadSegments(BootEnvironment env, string name, ElfImage elf)
    {
        ulong end = 0;
        int loaded = 0;
        foreach (var seg in elf.Segments)
        {
            if (seg.Type != ElfImage.PtLoad || seg.MemSize == 0) continue;
            BootSupport.Write(env, seg.PhysAddr, elf.FileBytes(seg), $"{name} segment at 0x{seg.PhysAddr:X}");
            if (seg.MemSize > seg.FileSize) BootSupport.Zero(env, seg.PhysAddr + seg.FileSize, seg.MemSize - seg.FileSize, $"{name} bss");
            end = Math.Max(end, seg.PhysAddr + seg.MemSize);
            loaded++;
        }
        if (loaded == 0) throw new BootImageException($"{name}: no loadable segments");
        return end;
    }
}
