using SharpBox.Vmm.Cpum;

namespace SharpBox.Vmm.Dbgf;

/// <summary>Reads guest-physical memory for the debugger (returns how many bytes were readable from the start).</summary>
public delegate int PhysicalReader(ulong gpa, Span<byte> buffer);

/// <summary>
/// Linear → guest-physical translation for the debugger, from a vCPU's paging state alone (CR0.PG,
/// CR4.PAE/PSE, EFER.LMA/NXE, CR3): no paging, 32-bit (4 KiB / 4 MiB pages), PAE and 4-level long mode
/// (4 KiB / 2 MiB / 1 GiB pages). It walks the guest's tables through <see cref="PhysicalReader"/>,
/// sets no accessed/dirty bits and checks no permissions, so it works the same on either engine.
/// </summary>
public static class GuestPaging
{
    public static bool Translate(in CpuContext c, ulong linear, PhysicalReader read, out ulong physical)
    {
        physical = 0;
        if ((c.Cr0 & Cr0.PG) == 0 || (c.Cr0 & Cr0.PE) == 0)
        {
            physical = (c.Efer & Efer.LMA) != 0 ? linear : linear & 0xFFFFFFFF;
            return true;
        }
        if ((c.Efer & Efer.LMA) != 0) return Walk4Level(c.Cr3, linear, read, out physical);
        if ((c.Cr4 & Cr4.PAE) != 0) return WalkPae(c.Cr3, (uint)linear, read, out physical);
        return Walk32(c.Cr3, (uint)linear, (c.Cr4 & Cr4.PSE) != 0, read, out physical);
    }

    private const ulong AddrMask = 0x000FFFFFFFFFF000;

    private static bool ReadEntry(PhysicalReader read, ulong gpa, int size, out ulong e)
    {
        Span<byte> b = stackalloc byte[8];
        b.Clear();
        e = 0;
        if (read(gpa, b[..size]) != size) return false;
        e = BitConverter.ToUInt64(b);
        return true;
    }

    private static bool Walk4Level(ulong cr3, ulong lin, PhysicalReader read, out ulong pa)
    {
        pa = 0;
        ulong table = cr3 & AddrMask;
        for (int level = 4; level >= 1; level--)
        {
            int shift = 12 + 9 * (level - 1);
            ulong idx = (lin >> shift) & 511;
            if (!ReadEntry(read, table + idx * 8, 8, out ulong e) || (e & 1) == 0) return false;
            if (level <= 3 && level >= 2 && (e & 0x80) != 0)
            {
                ulong pageMask = (1UL << shift) - 1;
                pa = (e & AddrMask & ~pageMask) | (lin & pageMask);
                return true;
            }
            table = e & AddrMask;
        }
        pa = table | (lin & 0xFFF);
        return true;
    }

    private static bool WalkPae(ulong cr3, uint lin, PhysicalReader read, out ulong pa)
    {
        pa = 0;
        if (!ReadEntry(read, (cr3 & 0xFFFFFFE0) + ((lin >> 30) & 3) * 8, 8, out ulong pdpte) || (pdpte & 1) == 0) return false;
        if (!ReadEntry(read, (pdpte & AddrMask) + ((lin >> 21) & 511) * 8, 8, out ulong pde) || (pde & 1) == 0) return false;
        if ((pde & 0x80) != 0) { pa = (pde & AddrMask & ~0x1FFFFFUL) | (lin & 0x1FFFFFu); return true; }
        if (!ReadEntry(read, (pde & AddrMask) + ((lin >> 12) & 511) * 8, 8, out ulong pte) || (pte & 1) == 0) return false;
        pa = (pte & AddrMask) | (lin & 0xFFFu);
        return true;
    }

    private static bool Walk32(ulong cr3, uint lin, bool pse, PhysicalReader read, out ulong pa)
    {
        pa = 0;
        if (!ReadEntry(read, (cr3 & 0xFFFFF000) + (lin >> 22) * 4, 4, out ulong pde) || (pde & 1) == 0) return false;
        if (pse && (pde & 0x80) != 0)
        {
            // 4 MiB page; PSE-36 puts physical bits 32-39 in PDE bits 13-20.
            pa = (pde & 0xFFC00000) | ((pde >> 13) & 0xFF) << 32 | (lin & 0x3FFFFFu);
            return true;
        }
        if (!ReadEntry(read, (pde & 0xFFFFF000) + ((lin >> 12) & 1023) * 4, 4, out ulong pte) || (pte & 1) == 0) return false;
        pa = (pte & 0xFFFFF000) | (lin & 0xFFFu);
        return true;
    }

    /// <summary>Reads linear memory page by page; returns how many bytes were readable from the start.</summary>
    public static int ReadLinear(in CpuContext c, ulong linear, Span<byte> buffer, PhysicalReader read)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            ulong lin = linear + (ulong)done;
            int chunk = (int)Math.Min((ulong)(buffer.Length - done), 0x1000 - (lin & 0xFFF));
            if (!Translate(c, lin, read, out ulong pa)) break;
            int n = read(pa, buffer.Slice(done, chunk));
            done += n;
            if (n < chunk) break;
        }
        return done;
    }
}
