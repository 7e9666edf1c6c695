using System.Buffers.Binary;
using System.Runtime.InteropServices;
using SharpBox.Vmm.Cpum;

namespace SharpBox.Vmm.Dbgf;

/// <summary>
/// dumpvmcore: the VM as an ELF64 core file gdb opens (gdb -c FILE): one NT_PRSTATUS (general
/// registers as Linux's user_regs_struct) and one NT_PRFPREG (the FXSAVE image) per vCPU, shown by gdb
/// as threads, a "SHARPBOX" note with each vCPU's complete <see cref="CpuContext"/>, and one PT_LOAD
/// per guest RAM/ROM range with its guest-physical address as both physical and virtual address.
/// Written to a temporary file, flushed and renamed, so a failed dump never leaves a partial core.
/// </summary>
public static class ElfCore
{
    private const int EhSize = 64, PhSize = 56, PrStatusSize = 336, FpRegsSize = 512;
    private const uint NtPrStatus = 1, NtPrFpReg = 2, NtSharpBoxCpu = 0x5342;

    public static void Write(string path, IDebugTarget target, IReadOnlyList<(ulong GuestPhys, ulong Size)> memory)
    {
        int cpus = target.CpuCount;
        var contexts = new CpuContext[cpus];
        for (int i = 0; i < cpus; i++) target.GetCpu(i).GetState(ref contexts[i]);

        // Notes: per vCPU PRSTATUS, PRFPREG and our own full context.
        var notes = new MemoryStream();
        for (int i = 0; i < cpus; i++)
        {
            WriteNote(notes, "CORE", NtPrStatus, PrStatus(ref contexts[i], i));
            WriteNote(notes, "CORE", NtPrFpReg, MemoryMarshal.AsBytes(new ReadOnlySpan<FxSaveBytes>(in contexts[i].Fx)).ToArray());
            WriteNote(notes, "SHARPBOX", NtSharpBoxCpu, MemoryMarshal.AsBytes(new ReadOnlySpan<CpuContext>(in contexts[i])).ToArray());
        }
        int phnum = 1 + memory.Count;
        long notesOff = EhSize + (long)PhSize * phnum;
        long dataOff = (notesOff + notes.Length + 4095) & ~4095L;

        string dir = Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        string tmp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        try
        {
            using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Span<byte> h = stackalloc byte[EhSize];
                h.Clear();
                h[0] = 0x7F; h[1] = (byte)'E'; h[2] = (byte)'L'; h[3] = (byte)'F';
                h[4] = 2; h[5] = 1; h[6] = 1;                       // 64-bit, little endian, version 1
                BinaryPrimitives.WriteUInt16LittleEndian(h[16..], 4);     // ET_CORE
                BinaryPrimitives.WriteUInt16LittleEndian(h[18..], 62);    // EM_X86_64
                BinaryPrimitives.WriteUInt32LittleEndian(h[20..], 1);
                BinaryPrimitives.WriteUInt64LittleEndian(h[32..], EhSize); // e_phoff
                BinaryPrimitives.WriteUInt16LittleEndian(h[52..], EhSize);
                BinaryPrimitives.WriteUInt16LittleEndian(h[54..], PhSize);
                BinaryPrimitives.WriteUInt16LittleEndian(h[56..], (ushort)phnum);
                f.Write(h);

                Span<byte> ph = stackalloc byte[PhSize];
                ph.Clear();
                BinaryPrimitives.WriteUInt32LittleEndian(ph, 4);          // PT_NOTE
                BinaryPrimitives.WriteUInt64LittleEndian(ph[8..], (ulong)notesOff);
                BinaryPrimitives.WriteUInt64LittleEndian(ph[32..], (ulong)notes.Length);
                BinaryPrimitives.WriteUInt64LittleEndian(ph[40..], (ulong)notes.Length);
                BinaryPrimitives.WriteUInt64LittleEndian(ph[48..], 4);
                f.Write(ph);
                long off = dataOff;
                foreach (var (gpa, size) in memory)
                {
                    ph.Clear();
                    BinaryPrimitives.WriteUInt32LittleEndian(ph, 1);      // PT_LOAD
                    BinaryPrimitives.WriteUInt32LittleEndian(ph[4..], 7); // RWX
                    BinaryPrimitives.WriteUInt64LittleEndian(ph[8..], (ulong)off);
                    BinaryPrimitives.WriteUInt64LittleEndian(ph[16..], gpa);
                    BinaryPrimitives.WriteUInt64LittleEndian(ph[24..], gpa);
                    BinaryPrimitives.WriteUInt64LittleEndian(ph[32..], size);
                    BinaryPrimitives.WriteUInt64LittleEndian(ph[40..], size);
                    BinaryPrimitives.WriteUInt64LittleEndian(ph[48..], 4096);
                    f.Write(ph);
                    off += (long)size;
                }
                notes.Position = 0;
                notes.CopyTo(f);
                f.Position = dataOff;
                var buf = new byte[1 << 20];
                foreach (var (gpa, size) in memory)
                {
                    for (ulong done = 0; done < size;)
                    {
                        int n = (int)Math.Min((ulong)buf.Length, size - done);
                        int got = target.ReadPhysical(gpa + done, buf.AsSpan(0, n));
                        if (got < n) buf.AsSpan(got, n - got).Clear();   // unreadable: zeros (the header still says where)
                        f.Write(buf, 0, n);
                        done += (ulong)n;
                    }
                }
                f.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }

    private static void WriteNote(Stream s, string name, uint type, byte[] desc)
    {
        Span<byte> h = stackalloc byte[12];
        byte[] n = System.Text.Encoding.ASCII.GetBytes(name + "\0");
        BinaryPrimitives.WriteUInt32LittleEndian(h, (uint)n.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(h[4..], (uint)desc.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(h[8..], type);
        s.Write(h);
        s.Write(n);
        s.Write(new byte[(4 - n.Length % 4) % 4]);
        s.Write(desc);
        s.Write(new byte[(4 - desc.Length % 4) % 4]);
    }

    /// <summary>Linux x86-64 struct elf_prstatus: pr_pid at 32, pr_reg (user_regs_struct, 27 × 8) at 112.</summary>
    private static byte[] PrStatus(ref CpuContext c, int cpu)
    {
        var b = new byte[PrStatusSize];
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(32), cpu + 1);   // gdb's LWP id
        ulong[] regs =
        {
            c.Gpr[15], c.Gpr[14], c.Gpr[13], c.Gpr[12], c.Gpr[5], c.Gpr[3], c.Gpr[11], c.Gpr[10], c.Gpr[9], c.Gpr[8],
            c.Gpr[0], c.Gpr[1], c.Gpr[2], c.Gpr[6], c.Gpr[7], ulong.MaxValue /* orig_rax */, c.Rip, c.Seg[SegIdx.CS].Selector,
            c.Rflags, c.Gpr[4], c.Seg[SegIdx.SS].Selector, c.Seg[SegIdx.FS].Base, c.Seg[SegIdx.GS].Base,
            c.Seg[SegIdx.DS].Selector, c.Seg[SegIdx.ES].Selector, c.Seg[SegIdx.FS].Selector, c.Seg[SegIdx.GS].Selector,
        };
        for (int i = 0; i < regs.Length; i++) BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(112 + 8 * i), regs[i]);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(112 + 27 * 8), 1);   // pr_fpvalid
        return b;
    }
}
