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
}
