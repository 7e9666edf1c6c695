using System.Text;
using Iced.Intel;
using SharpBox.Vmm.Cpum;

namespace SharpBox.Vmm.Dbgf;

/// <summary>Guest code as text (Iced's decoder and Intel-syntax formatter), in the mode the vCPU is in.</summary>
public static class Disassembler
{
    /// <summary>16, 32 or 64: the code size of the vCPU's current mode (CS.L / CS.D / real and v86 mode).</summary>
    public static int Bitness(in CpuContext c)
    {
        var cs = c.Seg[SegIdx.CS];
        if ((c.Efer & Efer.LMA) != 0 && (cs.Attributes & SegAttr.L) != 0) return 64;
        if ((c.Cr0 & Cr0.PE) != 0 && (c.Rflags & RFlags.VM) == 0 && (cs.Attributes & SegAttr.DB) != 0) return 32;
        return 16;
    }

    /// <summary>Up to <paramref name="count"/> instructions from <paramref name="code"/> (which starts at <paramref name="ip"/>), one per line.</summary>
    public static string Format(ReadOnlySpan<byte> code, ulong ip, int bitness, int count)
    {
        var bytes = code.ToArray();
        var decoder = Iced.Intel.Decoder.Create(bitness, new ByteArrayCodeReader(bytes), ip);
        var formatter = new IntelFormatter();
        formatter.Options.FirstOperandCharIndex = 8;
        var output = new StringOutput();
        var sb = new StringBuilder();
        ulong end = ip + (ulong)bytes.Length;
        for (int i = 0; i < count && decoder.IP < end; i++)
        {
            decoder.Decode(out var instr);
            if (instr.IsInvalid && decoder.IP > end) break;
            formatter.Format(instr, output);
            int off = (int)(instr.IP - ip);
            string hex = Convert.ToHexString(bytes, off, Math.Min(instr.Length, bytes.Length - off));
            sb.Append(instr.IP.ToString(bitness == 64 ? "X16" : "X8")).Append("  ").Append(hex.PadRight(20)).Append(' ').Append(output.ToStringAndReset()).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>One data access an instruction makes: linear address, bytes, read and/or written.</summary>
    public readonly record struct DataAccess(ulong Linear, int Size, bool Read, bool Write);

    /// <summary>
    /// The data accesses of the instruction at the vCPU's CS:RIP (<paramref name="code"/> holds its
    /// bytes): explicit operands and implicit ones (stack, string instructions), with addresses from
    /// the vCPU's registers and segment bases. LEA and other address-only operands are not accesses.
    /// The debugger uses it to emulate read and access watchpoints by single-stepping.
    /// </summary>
    public static List<DataAccess> DataAccesses(in CpuContext c, ReadOnlySpan<byte> code)
    {
        var result = new List<DataAccess>();
        int bits = Bitness(in c);
        var decoder = Iced.Intel.Decoder.Create(bits, new ByteArrayCodeReader(code.ToArray()), c.Rip);
        decoder.Decode(out var instr);
        if (instr.IsInvalid) return result;
        var ctx = c;
        var info = new InstructionInfoFactory().GetInfo(instr);
        foreach (var m in info.GetUsedMemory())
        {
            bool read = m.Access is OpAccess.Read or OpAccess.CondRead or OpAccess.ReadWrite or OpAccess.ReadCondWrite;
            bool write = m.Access is OpAccess.Write or OpAccess.CondWrite or OpAccess.ReadWrite or OpAccess.ReadCondWrite;
            if (!read && !write) continue;
            if (!m.TryGetVirtualAddress(0, out ulong lin, (Register r, int _, int _, out ulong v) => RegisterValue(in ctx, r, out v))) continue;
            if (bits != 64) lin &= 0xFFFFFFFF;
            result.Add(new DataAccess(lin, Math.Max(1, m.MemorySize.GetSize()), read, write));
        }
        return result;
    }

    private static bool RegisterValue(in CpuContext c, Register r, out ulong v)
    {
        v = 0;
        if (r.IsSegmentRegister())
        {
            int seg = r switch { Register.ES => SegIdx.ES, Register.CS => SegIdx.CS, Register.SS => SegIdx.SS, Register.DS => SegIdx.DS, Register.FS => SegIdx.FS, _ => SegIdx.GS };
            v = c.Seg[seg].Base;
            return true;
        }
        if (!r.IsGPR()) return false;   // RIP-relative operands arrive with their absolute address; vector (VSIB) indexes are not followed
        Register full = r.GetFullRegister();
        int i = full - Register.RAX;
        if ((uint)i >= 16) return false;
        ulong x = c.Gpr[i];
        v = r.GetSize() switch { 1 => r is Register.AH or Register.CH or Register.DH or Register.BH ? (x >> 8) & 0xFF : x & 0xFF, 2 => x & 0xFFFF, 4 => x & 0xFFFFFFFF, _ => x };
        return true;
    }
}
