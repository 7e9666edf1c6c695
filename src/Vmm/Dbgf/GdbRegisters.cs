using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using SharpBox.Vmm.Cpum;

namespace SharpBox.Vmm.Dbgf;

/// <summary>
/// The register set the gdb stub presents (target.xml, amd64): gdb's i386 core, SSE and segment-base
/// features in gdb's order, plus a system feature with the control, debug and descriptor-table
/// registers and the segment bases. Values come from and go to <see cref="CpuContext"/>.
/// </summary>
public static class GdbRegisters
{
    private sealed record Reg(string Name, int Bytes, string Type, string Group, int Feature);

    private static readonly string[] Features =
        { "org.gnu.gdb.i386.core", "org.gnu.gdb.i386.sse", "org.gnu.gdb.i386.segments", "org.sharpbox.x86.sys" };

private static readonly string[] s_sys = {
        "k_gs_base", "cr0", "cr2", "cr3", "cr4", "cr8", "efer", "dr0", "dr1", "dr2", "dr3", "dr6", "dr7",
        "gdtr_base", "gdtr_limit", "idtr_base", "idtr_limit", "ldtr", "tr", "cs_base", "ss_base", "ds_base", "es_base" };
    private static readonly Reg[] s_regs = Build();   // after s_sys, which Build reads
    // gdb's GPR order → CpuContext.Gpr index (encoding order RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8..).
    private static readonly int[] s_gprMap = { 0, 3, 1, 2, 6, 7, 5, 4, 8, 9, 10, 11, 12, 13, 14, 15 };

    public const int Rip = 16, Eflags = 17, FirstSeg = 18, FirstSt = 24, Fctrl = 32, FirstXmm = 40, Mxcsr = 56, FsBase = 57, GsBase = 58, FirstSys = 59;
    private static Reg[] Build()
    {
        var r = new List<Reg>();
        string[] gpr = { "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };
        foreach (var g in gpr) r.Add(new Reg(g, 8, g is "rsp" or "rbp" ? "data_ptr" : "int64", "general", 0));
        r.Add(new Reg("rip", 8, "code_ptr", "general", 0));
        r.Add(new Reg("eflags", 4, "i386_eflags", "general", 0));
        foreach (var s in new[] { "cs", "ss", "ds", "es", "fs", "gs" }) r.Add(new Reg(s, 4, "int32", "general", 0));
        for (int i = 0; i < 8; i++) r.Add(new Reg($"st{i}", 10, "i387_ext", "float", 0));
        foreach (var f in new[] { "fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop" }) r.Add(new Reg(f, 4, "int", "float", 0));
        for (int i = 0; i < 16; i++) r.Add(new Reg($"xmm{i}", 16, "vec128", "vector", 1));
        r.Add(new Reg("mxcsr", 4, "int", "vector", 1));
        r.Add(new Reg("fs_base", 8, "int", "system", 2));
        r.Add(new Reg("gs_base", 8, "int", "system", 2));
        foreach (var s in s_sys) r.Add(new Reg(s, s is "gdtr_limit" or "idtr_limit" or "ldtr" or "tr" ? 4 : 8, "int", "system", 3));
        return r.ToArray();
    }

    public static int Count => s_regs.Length;
    public static int SizeOf(int n) => s_regs[n].Bytes;

    /// <summary>The target description gdb reads through qXfer:features:read:target.xml.</summary>
    public static string TargetXml { get; } = BuildXml();

    private static string BuildXml()
    {
        var sb = new StringBuilder();
        sb.Append("<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target version=\"1.0\">\n");
        sb.Append("<architecture>i386:x86-64</architecture>\n");
        for (int f = 0; f < Features.Length; f++)
        {
            sb.Append($"<feature name=\"{Features[f]}\">\n");
            if (f == 0)
            {
                sb.Append("<flags id=\"i386_eflags\" size=\"4\">");
                string[] bits = { "CF", "", "PF", "", "AF", "", "ZF", "SF", "TF", "IF", "DF", "OF", "", "", "NT", "", "RF", "VM", "AC", "VIF", "VIP", "ID" };
                for (int b = 0; b < bits.Length; b++) if (bits[b].Length > 0) sb.Append($"<field name=\"{bits[b]}\" start=\"{b}\" end=\"{b}\"/>");
                sb.Append("</flags>\n");
            }
            if (f == 1)
            {
                sb.Append("<vector id=\"v4f\" type=\"ieee_single\" count=\"4\"/><vector id=\"v2d\" type=\"ieee_double\" count=\"2\"/>");
                sb.Append("<vector id=\"v16i8\" type=\"int8\" count=\"16\"/><vector id=\"v8i16\" type=\"int16\" count=\"8\"/>");
                sb.Append("<vector id=\"v4i32\" type=\"int32\" count=\"4\"/><vector id=\"v2i64\" type=\"int64\" count=\"2\"/>");
                sb.Append("<union id=\"vec128\"><field name=\"v4_float\" type=\"v4f\"/><field name=\"v2_double\" type=\"v2d\"/>");
                sb.Append("<field name=\"v16_int8\" type=\"v16i8\"/><field name=\"v8_int16\" type=\"v8i16\"/><field name=\"v4_int32\" type=\"v4i32\"/>");
                sb.Append("<field name=\"v2_int64\" type=\"v2i64\"/><field name=\"uint128\" type=\"uint128\"/></union>\n");
            }
            for (int n = 0; n < s_regs.Length; n++)
            {
                var r = s_regs[n];
                if (r.Feature != f) continue;
                sb.Append($"<reg name=\"{r.Name}\" bitsize=\"{r.Bytes * 8}\" type=\"{r.Type}\" group=\"{r.Group}\" regnum=\"{n}\"/>\n");
            }
            sb.Append("</feature>\n");
        }
        sb.Append("</target>\n");
        return sb.ToString();
    }

    private static Span<byte> Fx(ref CpuContext c) => MemoryMarshal.AsBytes(new Span<FxSaveBytes>(ref c.Fx));

    /// <summary>Writes register <paramref name="n"/>'s bytes (little endian, <see cref="SizeOf"/> long) into <paramref name="into"/>.</summary>
    public static void Read(ref CpuContext c, int n, Span<byte> into)
    {
        into = into[..SizeOf(n)];
        into.Clear();
        var fx = Fx(ref c);
        switch (n)
        {
            case < 16: BinaryPrimitives.WriteUInt64LittleEndian(into, c.Gpr[s_gprMap[n]]); return;
            case Rip: BinaryPrimitives.WriteUInt64LittleEndian(into, c.Rip); return;
            case Eflags: BinaryPrimitives.WriteUInt32LittleEndian(into, (uint)c.Rflags); return;
            case >= FirstSeg and < FirstSeg + 6: BinaryPrimitives.WriteUInt32LittleEndian(into, c.Seg[GdbSegToIdx(n - FirstSeg)].Selector); return;
            case >= FirstSt and < FirstSt + 8: fx.Slice(32 + 16 * (n - FirstSt), 10).CopyTo(into); return;
            case Fctrl: BinaryPrimitives.WriteUInt32LittleEndian(into, BinaryPrimitives.ReadUInt16LittleEndian(fx)); return;
            case Fctrl + 1: BinaryPrimitives.WriteUInt32LittleEndian(into, BinaryPrimitives.ReadUInt16LittleEndian(fx[2..])); return;
            case Fctrl + 2: BinaryPrimitives.WriteUInt32LittleEndian(into, FullTagWord(fx)); return;
            case Fctrl + 3: BinaryPrimitives.WriteUInt32LittleEndian(into, BinaryPrimitives.ReadUInt16LittleEndian(fx[12..])); return;   // FCS
            case Fctrl + 4: BinaryPrimitives.WriteUInt32LittleEndian(into, BinaryPrimitives.ReadUInt32LittleEndian(fx[8..])); return;    // FIP
            case Fctrl + 5: BinaryPrimitives.WriteUInt32LittleEndian(into, BinaryPrimitives.ReadUInt16LittleEndian(fx[20..])); return;   // FDS
            case Fctrl + 6: BinaryPrimitives.WriteUInt32LittleEndian(into, BinaryPrimitives.ReadUInt32LittleEndian(fx[16..])); return;   // FDP
            case Fctrl + 7: BinaryPrimitives.WriteUInt32LittleEndian(into, BinaryPrimitives.ReadUInt16LittleEndian(fx[6..])); return;    // FOP
            case >= FirstXmm and < FirstXmm + 16: fx.Slice(160 + 16 * (n - FirstXmm), 16).CopyTo(into); return;
            case Mxcsr: fx.Slice(24, 4).CopyTo(into); return;
            case FsBase: BinaryPrimitives.WriteUInt64LittleEndian(into, c.Seg[SegIdx.FS].Base); return;
            case GsBase: BinaryPrimitives.WriteUInt64LittleEndian(into, c.Seg[SegIdx.GS].Base); return;
        }
        ulong v = SysValue(ref c, s_sys[n - FirstSys]);
        if (into.Length == 8) BinaryPrimitives.WriteUInt64LittleEndian(into, v);
        else BinaryPrimitives.WriteUInt32LittleEndian(into, (uint)v);
    }

    /// <summary>Sets register <paramref name="n"/> from its little-endian bytes.</summary>
    public static void Write(ref CpuContext c, int n, ReadOnlySpan<byte> from)
    {
        if (from.Length < SizeOf(n)) throw new ArgumentException($"register {s_regs[n].Name} needs {SizeOf(n)} bytes");
        var fx = Fx(ref c);
        ulong v64 = SizeOf(n) >= 8 ? BinaryPrimitives.ReadUInt64LittleEndian(from) : SizeOf(n) == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(from) : 0;
        switch (n)
        {
            case < 16: c.Gpr[s_gprMap[n]] = v64; return;
            case Rip: c.Rip = v64; return;
            case Eflags: c.Rflags = (v64 & RFlags.Writable) | RFlags.Fixed1; return;
            case >= FirstSeg and < FirstSeg + 6:
                {
                    // A selector alone: in real mode the base follows it; elsewhere the hidden part is kept.
                    ref var seg = ref c.Seg[GdbSegToIdx(n - FirstSeg)];
                    seg.Selector = (ushort)v64;
                    if ((c.Cr0 & Cr0.PE) == 0) seg.Base = (ulong)(ushort)v64 << 4;
                    return;
                }
            case >= FirstSt and < FirstSt + 8: from[..10].CopyTo(fx.Slice(32 + 16 * (n - FirstSt), 10)); return;
            case Fctrl: BinaryPrimitives.WriteUInt16LittleEndian(fx, (ushort)v64); return;
            case Fctrl + 1: BinaryPrimitives.WriteUInt16LittleEndian(fx[2..], (ushort)v64); return;
            case Fctrl + 2:
                {
                    byte abridged = 0;
                    for (int i = 0; i < 8; i++) if (((v64 >> (2 * i)) & 3) != 3) abridged |= (byte)(1 << i);
                    fx[4] = abridged;
                    return;
                }
            case Fctrl + 3: BinaryPrimitives.WriteUInt16LittleEndian(fx[12..], (ushort)v64); return;
            case Fctrl + 4: BinaryPrimitives.WriteUInt32LittleEndian(fx[8..], (uint)v64); return;
            case Fctrl + 5: BinaryPrimitives.WriteUInt16LittleEndian(fx[20..], (ushort)v64); return;
            case Fctrl + 6: BinaryPrimitives.WriteUInt32LittleEndian(fx[16..], (uint)v64); return;
            case Fctrl + 7: BinaryPrimitives.WriteUInt16LittleEndian(fx[6..], (ushort)v64); return;
            case >= FirstXmm and < FirstXmm + 16: from[..16].CopyTo(fx.Slice(160 + 16 * (n - FirstXmm), 16)); return;
            case Mxcsr: from[..4].CopyTo(fx.Slice(24, 4)); return;
            case FsBase: c.Seg[SegIdx.FS].Base = v64; return;
            case GsBase: c.Seg[SegIdx.GS].Base = v64; return;
        }
        SetSysValue(ref c, s_sys[n - FirstSys], v64);
    }

    private static int GdbSegToIdx(int i) => i switch { 0 => SegIdx.CS, 1 => SegIdx.SS, 2 => SegIdx.DS, 3 => SegIdx.ES, 4 => SegIdx.FS, _ => SegIdx.GS };

    /// <summary>FXSAVE keeps one "not empty" bit per register; gdb wants the full tag word (valid, zero, special, empty).</summary>
    private static uint FullTagWord(ReadOnlySpan<byte> fx)
    {
        byte abridged = fx[4];
        int top = (BinaryPrimitives.ReadUInt16LittleEndian(fx[2..]) >> 11) & 7;
        uint tags = 0;
        for (int phys = 0; phys < 8; phys++)
        {
            uint t = 3;
            if ((abridged & (1 << phys)) != 0)
            {
                int st = (phys - top) & 7;   // FXSAVE stores ST(i), tags are by physical register
                var reg = fx.Slice(32 + 16 * st, 10);
                ulong mant = BinaryPrimitives.ReadUInt64LittleEndian(reg);
                int exp = BinaryPrimitives.ReadUInt16LittleEndian(reg[8..]) & 0x7FFF;
                t = exp == 0x7FFF ? 2u : exp == 0 ? (mant == 0 ? 1u : 2u) : (mant >> 63) != 0 ? 0u : 2u;
            }
            tags |= t << (2 * phys);
        }
        return tags;
    }

    private static ulong SysValue(ref CpuContext c, string name) => name switch
    {
        "k_gs_base" => c.KernelGsBase, "cr0" => c.Cr0, "cr2" => c.Cr2, "cr3" => c.Cr3, "cr4" => c.Cr4, "cr8" => c.Cr8, "efer" => c.Efer,
        "dr0" => c.Dr[0], "dr1" => c.Dr[1], "dr2" => c.Dr[2], "dr3" => c.Dr[3], "dr6" => c.Dr[6], "dr7" => c.Dr[7],
        "gdtr_base" => c.Gdtr.Base, "gdtr_limit" => c.Gdtr.Limit, "idtr_base" => c.Idtr.Base, "idtr_limit" => c.Idtr.Limit,
        "ldtr" => c.Ldtr.Selector, "tr" => c.Tr.Selector,
        "cs_base" => c.Seg[SegIdx.CS].Base, "ss_base" => c.Seg[SegIdx.SS].Base, "ds_base" => c.Seg[SegIdx.DS].Base, "es_base" => c.Seg[SegIdx.ES].Base,
        _ => 0,
    };

    private static void SetSysValue(ref CpuContext c, string name, ulong v)
    {
        switch (name)
        {
            case "k_gs_base": c.KernelGsBase = v; break;
            case "cr0": c.Cr0 = v; break;
            case "cr2": c.Cr2 = v; break;
            case "cr3": c.Cr3 = v; break;
            case "cr4": c.Cr4 = v; break;
            case "cr8": c.Cr8 = v; break;
            case "efer": c.Efer = v; break;
            case "dr0": c.Dr[0] = v; break;
            case "dr1": c.Dr[1] = v; break;
            case "dr2": c.Dr[2] = v; break;
            case "dr3": c.Dr[3] = v; break;
            case "dr6": c.Dr[6] = v; break;
            case "dr7": c.Dr[7] = v; break;
            case "gdtr_base": c.Gdtr.Base = v; break;
            case "gdtr_limit": c.Gdtr.Limit = (ushort)v; break;
            case "idtr_base": c.Idtr.Base = v; break;
            case "idtr_limit": c.Idtr.Limit = (ushort)v; break;
            case "ldtr": c.Ldtr.Selector = (ushort)v; break;
            case "tr": c.Tr.Selector = (ushort)v; break;
            case "cs_base": c.Seg[SegIdx.CS].Base = v; break;
            case "ss_base": c.Seg[SegIdx.SS].Base = v; break;
            case "ds_base": c.Seg[SegIdx.DS].Base = v; break;
            case "es_base": c.Seg[SegIdx.ES].Base = v; break;
        }
    }

    /// <summary>Index of a register by name (for tests and the monitor); -1 if unknown.</summary>
    public static int IndexOf(string name) => Array.FindIndex(s_regs, r => r.Name == name);
}
