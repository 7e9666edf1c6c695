using System.Buffers.Binary;
using System.Text;
using Iced.Intel;

namespace SharpBox.Tools.CpuTest.Diff;

/// <summary>Compares two outcomes of the same case and formats failures.</summary>
public static class Compare
{
    const ulong StatusFlags = 0x8D5, DF = 0x400, AC = 0x40000, ID = 0x200000;

    /// <summary>RFLAGS bits compared for this instruction: the defined status flags, DF, AC and ID.</summary>
    public static ulong FlagMask(in Instruction ins)
    {
        ulong undefined = IcedToEflags(ins.RflagsUndefined);
        return (StatusFlags & ~undefined) | DF | AC | ID;
    }

    /// <summary>The status flags the SDM leaves undefined for this instruction (compared separately, for information).</summary>
    public static ulong UndefinedMask(in Instruction ins) => IcedToEflags(ins.RflagsUndefined) & StatusFlags;

    static ulong IcedToEflags(RflagsBits b)
    {
        ulong f = 0;
        if ((b & RflagsBits.OF) != 0) f |= 0x800;
        if ((b & RflagsBits.SF) != 0) f |= 0x80;
        if ((b & RflagsBits.ZF) != 0) f |= 0x40;
        if ((b & RflagsBits.AF) != 0) f |= 0x10;
        if ((b & RflagsBits.CF) != 0) f |= 0x1;
        if ((b & RflagsBits.PF) != 0) f |= 0x4;
        return f;
    }

    /// <summary>Returns the differences (empty when the outcomes agree).</summary>
    public static List<string> Diff(DiffCase c, Outcome a, Outcome b, int mode, out bool undefinedFlagsDiffer)
    {
        var d = new List<string>();
        undefinedFlagsDiffer = false;
        if (MxcsrMaskDifference(c, a, b)) return d;
        if (a.Vector != b.Vector)
        {
            if (!CallOrder(c, a, b)) d.Add($"exception: {VecName(a.Vector)} vs {VecName(b.Vector)}");
        }
        else if (a.Vector is 8 or 10 or 11 or 12 or 13 or 14 or 17 && a.ErrorCode != b.ErrorCode)
        {
            // The host kernel maps parts of the upper half (supervisor pages): there a user access finds a
            // present page (P=1) where the model's machine has none. Only the P bit may differ, only there.
            bool kernelHalf = a.Vector == 14 && (a.Cr2 >> 63) != 0 && (a.ErrorCode ^ b.ErrorCode) == 1;
            if (!kernelHalf) d.Add($"error code: {a.ErrorCode:X} vs {b.ErrorCode:X}");
        }
        // Instructions that store a multi-part image fault wherever the host's microcode happens to store
        // first; the architecture only fixes the page.
        ulong cr2Mask = MultiStore(c.Instr.Mnemonic) ? ~0xFFFUL : ~0UL;
        if (a.Vector == 14 && b.Vector == 14 && (a.Cr2 & cr2Mask) != (b.Cr2 & cr2Mask)) d.Add($"CR2: {a.Cr2:X} vs {b.Cr2:X}");
        if (a.Vector == Outcome.Timeout || b.Vector == Outcome.Timeout) return d;
        ulong ipMask = mode == 64 ? ulong.MaxValue : 0xFFFFFFFF;
        if ((a.Rip & ipMask) != (b.Rip & ipMask)) d.Add($"RIP: {a.Rip:X} vs {b.Rip:X}");
        int nregs = mode == 64 ? 16 : 8;
        for (int i = 0; i < nregs; i++)
            if ((a.Gpr[i] & ipMask) != (b.Gpr[i] & ipMask)) d.Add($"{RegName(i, mode)}: {a.Gpr[i] & ipMask:X} vs {b.Gpr[i] & ipMask:X}");
        ulong fm = FlagMask(c.Instr);
        if ((a.Rflags & fm) != (b.Rflags & fm)) d.Add($"RFLAGS: {a.Rflags & fm:X} vs {b.Rflags & fm:X} ({FlagNames((a.Rflags ^ b.Rflags) & fm)} differ)");
        ulong um = UndefinedMask(c.Instr);
        undefinedFlagsDiffer = (a.Rflags & um) != (b.Rflags & um);
        CompareFx(a.Fx, b.Fx, d);
        if (!SameMem(a, b) && !KnownMemDifference(c, a, b)) d.Add("memory: " + MemDiffText(a, b));
        return d;
    }

    /// <summary>
    /// CALL to a non-canonical target whose return address cannot be pushed: Intel's pseudo-code checks the
    /// target first (#GP), this AMD host the push first (#PF on the write, or #AC for a misaligned stack
    /// with alignment checking on). The model follows Intel.
    /// </summary>
    static bool CallOrder(DiffCase c, Outcome native, Outcome emu) =>
        c.Instr.Mnemonic == Mnemonic.Call && emu.Vector == 13 && emu.ErrorCode == 0 &&
        (native.Vector == 14 && (native.ErrorCode & 2) != 0 || native.Vector == 17);

    /// <summary>
    /// LDMXCSR/FXRSTOR of an MXCSR whose only bit beyond the model's MXCSR_MASK is AMD's misaligned-SSE bit
    /// 17: this host loads it, the model raises #GP(0). (The generator avoids it; random memory rarely has it.)
    /// </summary>
    static bool MxcsrMaskDifference(DiffCase c, Outcome native, Outcome emu) =>
        c.Instr.Mnemonic is Mnemonic.Ldmxcsr or Mnemonic.Fxrstor or Mnemonic.Fxrstor64 && native.Vector == -1 &&
        emu.Vector == 13 && emu.ErrorCode == 0 && (BinaryPrimitives.ReadUInt32LittleEndian(native.Fx.AsSpan(24)) & 0xFFFF0000) == 0x20000;

    static bool MultiStore(Mnemonic m) => m is Mnemonic.Fnsave or Mnemonic.Fsave or Mnemonic.Fnstenv or Mnemonic.Fstenv
        or Mnemonic.Fxsave or Mnemonic.Fxsave64 or Mnemonic.Frstor or Mnemonic.Fldenv or Mnemonic.Fxrstor or Mnemonic.Fxrstor64;

    /// <summary>
    /// FXSAVE stores MXCSR_MASK, which is the host's own (this AMD host also implements the misaligned-SSE
    /// bit 17; the model does not): the one byte that holds it may differ, nothing else.
    /// </summary>
    static bool KnownMemDifference(DiffCase c, Outcome a, Outcome b)
    {
        if (c.Instr.Mnemonic is not (Mnemonic.Fxsave or Mnemonic.Fxsave64)) return false;
        var ins = c.Instr;
        ulong ea = ins.GetVirtualAddress(0, 0, (Register reg, int _, int _) =>
        {
            if (reg.IsSegmentRegister()) return 0;       // flat: every base the sandbox uses is 0
            var full = reg.GetFullRegister();
            return full == Register.RIP ? ins.NextIP : c.Gpr[full - Register.RAX];
        });
        long skip = (long)(ea + 30 - SandboxLayout.DataBase);
        var x = a.MemDiff.Where(m => m.Offset != skip).ToList();
        var y = b.MemDiff.Where(m => m.Offset != skip).ToList();
        return x.Count == y.Count && x.Zip(y).All(p => p.First.Offset == p.Second.Offset && p.First.Now == p.Second.Now);
    }

    static void CompareFx(byte[] a, byte[] b, List<string> d)
    {
        void W(string name, int off)
        {
            ushort x = BinaryPrimitives.ReadUInt16LittleEndian(a.AsSpan(off)), y = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(off));
            if (x != y) d.Add($"{name}: {x:X4} vs {y:X4}");
        }
        W("FCW", 0); W("FSW", 2);
        // FOP/FIP/FDP: this AMD host saves them only while an exception is pending (FSW.ES), so only then
        // is there something to compare.
        if ((a[2] & 0x80) != 0)
        {
            W("FOP", 6);
            // This host keeps 48 bits of FIP/FDP (its top byte reads back as FF after FXRSTOR of other values);
            // every address an instruction can have fits in them.
            const ulong m48 = 0xFFFF_FFFF_FFFF;
            ulong ia = BinaryPrimitives.ReadUInt64LittleEndian(a.AsSpan(8)), ib = BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(8));
            if ((ia & m48) != (ib & m48)) d.Add($"FIP: {ia:X} vs {ib:X}");
            ulong da = BinaryPrimitives.ReadUInt64LittleEndian(a.AsSpan(16)), db = BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(16));
            if ((da & m48) != (db & m48)) d.Add($"FDP: {da:X} vs {db:X}");
        }
        if (a[4] != b[4]) d.Add($"FTW: {a[4]:X2} vs {b[4]:X2}");
        uint ma = BinaryPrimitives.ReadUInt32LittleEndian(a.AsSpan(24)), mb = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(24));
        if (ma != mb) d.Add($"MXCSR: {ma:X8} vs {mb:X8}");
        for (int i = 0; i < 8; i++)
            if (!a.AsSpan(32 + 16 * i, 10).SequenceEqual(b.AsSpan(32 + 16 * i, 10)))
                d.Add($"ST{i}: {F80(a, 32 + 16 * i)} vs {F80(b, 32 + 16 * i)}");
        for (int i = 0; i < 16; i++)
            if (!a.AsSpan(160 + 16 * i, 16).SequenceEqual(b.AsSpan(160 + 16 * i, 16)))
                d.Add($"XMM{i}: {Hex128(a, 160 + 16 * i)} vs {Hex128(b, 160 + 16 * i)}");
    }

    static bool SameMem(Outcome a, Outcome b)
    {
        if (a.MemDiff.Count != b.MemDiff.Count) return false;
        for (int i = 0; i < a.MemDiff.Count; i++)
            if (a.MemDiff[i].Offset != b.MemDiff[i].Offset || a.MemDiff[i].Now != b.MemDiff[i].Now) return false;
        return true;
    }

    /// <summary>The bytes whose final values differ (or that only one side changed).</summary>
    static string MemDiffText(Outcome a, Outcome b)
    {
        var da = a.MemDiff.ToDictionary(x => x.Offset, x => x.Now);
        var db = b.MemDiff.ToDictionary(x => x.Offset, x => x.Now);
        var was = a.MemDiff.Concat(b.MemDiff).GroupBy(x => x.Offset).ToDictionary(g => g.Key, g => g.First().Was);
        var sb = new StringBuilder();
        int n = 0;
        foreach (var off in da.Keys.Union(db.Keys).OrderBy(x => x))
        {
            byte va = da.TryGetValue(off, out var x1) ? x1 : was[off], vb = db.TryGetValue(off, out var x2) ? x2 : was[off];
            if (va == vb) continue;
            if (n++ == 16) { sb.Append(" ..."); break; }
            sb.Append($" [{SandboxLayout.DataBase + off:X}] {va:X2} vs {vb:X2}");
        }
        return $"{a.MemDiff.Count} vs {b.MemDiff.Count} bytes changed;" + sb;
    }

    static string MemText(Outcome o)
    {
        if (o.MemDiff.Count == 0) return "unchanged";
        var sb = new StringBuilder();
        int shown = 0;
        foreach (var (off, now, _) in o.MemDiff)
        {
            if (shown++ == 24) { sb.Append($" ... ({o.MemDiff.Count} bytes)"); break; }
            sb.Append($" [{SandboxLayout.DataBase + off:X}]={now:X2}");
        }
        return sb.ToString().TrimStart();
    }

    public static string VecName(int v) => v switch
    {
        -1 => "none",
        0 => "#DE", 1 => "#DB", 3 => "#BP", 4 => "#OF", 5 => "#BR", 6 => "#UD", 7 => "#NM", 8 => "#DF", 10 => "#TS",
        11 => "#NP", 12 => "#SS", 13 => "#GP", 14 => "#PF", 16 => "#MF", 17 => "#AC", 19 => "#XM",
        Outcome.Timeout => "timeout",
        _ => $"vector {v}",
    };

    static readonly string[] s_r64 = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];
    static string RegName(int i, int mode) => mode == 64 ? s_r64[i] : "e" + s_r64[i][1..];

    static string FlagNames(ulong f)
    {
        var s = new List<string>();
        if ((f & 1) != 0) s.Add("CF"); if ((f & 4) != 0) s.Add("PF"); if ((f & 0x10) != 0) s.Add("AF"); if ((f & 0x40) != 0) s.Add("ZF");
        if ((f & 0x80) != 0) s.Add("SF"); if ((f & 0x400) != 0) s.Add("DF"); if ((f & 0x800) != 0) s.Add("OF");
        if ((f & AC) != 0) s.Add("AC"); if ((f & ID) != 0) s.Add("ID");
        return string.Join(",", s);
    }

    static string F80(byte[] b, int off) =>
        $"{BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(off + 8)):X4}:{BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(off)):X16}";
    static string Hex128(byte[] b, int off) =>
        $"{BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(off + 8)):X16}{BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(off)):X16}";

    /// <summary>The full report of one failing case: instruction, input state, both outcomes and what differs.</summary>
    public static string Report(DiffCase c, Form f, Outcome native, Outcome emu, List<string> diffs, int mode, string emuName)
    {
        var sb = new StringBuilder();
        var fmt = new NasmFormatter();
        var o = new StringOutput();
        fmt.Format(c.Instr, o);
        sb.AppendLine($"FAIL {f.Code}: {o.ToStringAndReset()}    bytes {Convert.ToHexString(c.Code)}  (mode {mode})");
        sb.Append("  input: ");
        int nregs = mode == 64 ? 16 : 8;
        for (int i = 0; i < nregs; i++) sb.Append($"{RegName(i, mode)}={c.Gpr[i]:X} ");
        sb.AppendLine($"rflags={c.Rflags:X}");
        sb.AppendLine($"         fcw={BinaryPrimitives.ReadUInt16LittleEndian(c.Fx):X4} fsw={BinaryPrimitives.ReadUInt16LittleEndian(c.Fx.AsSpan(2)):X4} " +
            $"ftw={c.Fx[4]:X2} mxcsr={BinaryPrimitives.ReadUInt32LittleEndian(c.Fx.AsSpan(24)):X8} data seed={c.Seed:X}" +
            (c.Patches.Count > 0 ? " patches:" + string.Concat(c.Patches.Select(p => $" [{SandboxLayout.DataBase + p.Offset:X}]={Convert.ToHexString(p.Data)}")) : ""));
        var vecRegs = UsedVectorRegs(c.Instr, out bool x87);
        foreach (int i in vecRegs)
            sb.AppendLine($"         xmm{i}={Hex128(c.Fx, 160 + 16 * i)}");
        if (x87)
            for (int i = 0; i < 8; i++) sb.AppendLine($"         st{i}={F80(c.Fx, 32 + 16 * i)}");
        sb.AppendLine($"  native: {Summary(native, mode)}");
        sb.AppendLine($"  {emuName}: {Summary(emu, mode)}");
        foreach (var s in diffs) sb.AppendLine($"    {s}");
        return sb.ToString();
    }

    static IEnumerable<int> UsedVectorRegs(in Instruction ins, out bool x87)
    {
        var set = new SortedSet<int>();
        x87 = false;
        for (int i = 0; i < ins.OpCount; i++)
        {
            if (ins.GetOpKind(i) != OpKind.Register) continue;
            var r = ins.GetOpRegister(i);
            if (r.IsXMM()) set.Add(r - Register.XMM0);
            if (r.IsST() || r.IsMM()) x87 = true;
        }
        if (ins.Code.ToOpCode().Op0Kind is OpCodeOperandKind.st0 or OpCodeOperandKind.sti_opcode || ins.Mnemonic.ToString().StartsWith('F')) x87 = true;
        return set;
    }

    static string Summary(Outcome o, int mode) =>
        $"{VecName(o.Vector)}" + (o.Vector is 13 or 14 or 17 ? $" err={o.ErrorCode:X}" : "") + (o.Vector == 14 ? $" cr2={o.Cr2:X}" : "") +
        $" rip={o.Rip:X} rflags={o.Rflags & 0x244FD5:X} mem={MemText(o)}";
}
