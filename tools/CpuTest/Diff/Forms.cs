using Iced.Intel;

namespace SharpBox.Tools.CpuTest.Diff;

/// <summary>One instruction form the tester generates (an Iced <see cref="Code"/>).</summary>
public sealed class Form
{
    public required Code Code;
    public required OpCodeInfo Op;
    public string Name => Op.ToInstructionString();
}

/// <summary>
/// Every legacy-encoded instruction form that user code can run deterministically: Iced's table of
/// forms, filtered by mode, by the CPUID features the CPU model implements, and by what can be compared
/// with the host at all (no privileged or I/O instructions, nothing that reads host-specific state such
/// as the TSC, CPUID, descriptor tables or XCR0, no segment loads or far transfers, which would need
/// the host's GDT, and no software interrupts, which are system calls on Linux).
/// </summary>
public static class FormCatalog
{
    static readonly HashSet<Mnemonic> s_excluded =
    [
        Mnemonic.Int, Mnemonic.Int1, Mnemonic.Int3, Mnemonic.Iret, Mnemonic.Iretd, Mnemonic.Iretq,
        Mnemonic.Syscall, Mnemonic.Sysret, Mnemonic.Sysretq, Mnemonic.Sysenter, Mnemonic.Sysexit, Mnemonic.Sysexitq,
        Mnemonic.Cpuid, Mnemonic.Rdtsc, Mnemonic.Rdtscp, Mnemonic.Rdpmc, Mnemonic.Rdrand, Mnemonic.Rdseed, Mnemonic.Rdpid,
        Mnemonic.Xgetbv, Mnemonic.Hlt, Mnemonic.Cli, Mnemonic.Sti, Mnemonic.Popf, Mnemonic.Popfd, Mnemonic.Popfq,
        Mnemonic.Lds, Mnemonic.Les, Mnemonic.Lfs, Mnemonic.Lgs, Mnemonic.Lss,
        Mnemonic.Lar, Mnemonic.Lsl, Mnemonic.Verr, Mnemonic.Verw, Mnemonic.Sgdt, Mnemonic.Sidt, Mnemonic.Sldt,
        Mnemonic.Str, Mnemonic.Smsw, Mnemonic.Retf, Mnemonic.Jmpe, Mnemonic.Ud0,
    ];

    /// <summary>
    /// The Iced CPUID features of the forms to generate: the x86-64 baseline every model has, plus each
    /// optional extension the CPU model advertises (so the tester follows the model, not a list of its own).
    /// </summary>
    public static HashSet<CpuidFeature> FeaturesOf(SharpBox.Vmm.Cpum.CpuModel m)
    {
        var f = new HashSet<CpuidFeature>
        {
            CpuidFeature.INTEL8086, CpuidFeature.INTEL186, CpuidFeature.INTEL286, CpuidFeature.INTEL386, CpuidFeature.INTEL486,
            CpuidFeature.X64, CpuidFeature.FPU, CpuidFeature.FPU287, CpuidFeature.FPU387, CpuidFeature.MULTIBYTENOP,
        };
        void Add(bool has, CpuidFeature x) { if (has) f.Add(x); }
        Add(m.Has1Edx(SharpBox.Vmm.Cpum.CpuModel.Cmov), CpuidFeature.CMOV);
        Add(m.Has1Edx(SharpBox.Vmm.Cpum.CpuModel.Cx8), CpuidFeature.CX8);
        Add(m.Has1Edx(SharpBox.Vmm.Cpum.CpuModel.Mmx), CpuidFeature.MMX);
        Add(m.Has1Edx(SharpBox.Vmm.Cpum.CpuModel.Fxsr), CpuidFeature.FXSR);
        Add(m.Has1Edx(SharpBox.Vmm.Cpum.CpuModel.Sse), CpuidFeature.SSE);
        Add(m.Has1Edx(SharpBox.Vmm.Cpum.CpuModel.Sse2), CpuidFeature.SSE2);
        Add(m.Has1Edx(SharpBox.Vmm.Cpum.CpuModel.Sse2), CpuidFeature.PAUSE);
        Add(m.Has1Edx(SharpBox.Vmm.Cpum.CpuModel.Clfsh), CpuidFeature.CLFSH);
        Add(m.Has1Ecx(SharpBox.Vmm.Cpum.CpuModel.Sse3), CpuidFeature.SSE3);
        Add(m.Has1Ecx(SharpBox.Vmm.Cpum.CpuModel.Ssse3), CpuidFeature.SSSE3);
        Add(m.Has1Ecx(SharpBox.Vmm.Cpum.CpuModel.Sse41), CpuidFeature.SSE4_1);
        Add(m.Has1Ecx(SharpBox.Vmm.Cpum.CpuModel.Sse42), CpuidFeature.SSE4_2);
        Add(m.Has1Ecx(SharpBox.Vmm.Cpum.CpuModel.Cx16), CpuidFeature.CMPXCHG16B);
        Add(m.Has1Ecx(SharpBox.Vmm.Cpum.CpuModel.Movbe), CpuidFeature.MOVBE);
        Add(m.Has1Ecx(SharpBox.Vmm.Cpum.CpuModel.Popcnt), CpuidFeature.POPCNT);
        Add(m.HasExt1Ecx(SharpBox.Vmm.Cpum.CpuModel.Abm), CpuidFeature.LZCNT);
        Add(m.HasExt1Ecx(SharpBox.Vmm.Cpum.CpuModel.Prefetchw), CpuidFeature.PREFETCHW);
        return f;
    }

    public static List<Form> Build(int mode, IReadOnlySet<CpuidFeature> features)
    {
        var list = new List<Form>();
        foreach (Code code in Enum.GetValues<Code>())
        {
            if (code == Code.INVALID) continue;
            var op = code.ToOpCode();
            if (!op.IsInstruction || op.Encoding != EncodingKind.Legacy) continue;
            if (mode == 64 ? !op.Mode64 : !op.Mode32) continue;
            if (op.IsPrivileged || op.MustBeCpl0 || op.IsInputOutput) continue;
            if (s_excluded.Contains(op.Mnemonic)) continue;
            if (!code.CpuidFeatures().All(features.Contains)) continue;
            if (!Usable(op, mode)) continue;
            if (code.IsJmpFarIndirect() || code.IsCallFarIndirect()) continue;
            if (VendorSpecific(code, op)) continue;
            list.Add(new Form { Code = code, Op = op });
        }
        return list;
    }

    /// <summary>
    /// Forms where Intel and AMD differ by design, so an AMD host cannot judge the model (which follows Intel):
    /// PUSH Sreg with a wider operand size (Intel writes 2 bytes, AMD the zero-extended selector) and the
    /// register forms of 0F 0D (Intel: reserved NOP, AMD: #UD, as its PREFETCH group takes only memory), and
    /// MOVSXD r16, r/m16.
    /// </summary>
    static bool VendorSpecific(Code code, OpCodeInfo op)
    {
        if (op.Mnemonic == Mnemonic.Push && op.Op0Kind is OpCodeOperandKind.es or OpCodeOperandKind.cs or OpCodeOperandKind.ss
            or OpCodeOperandKind.ds or OpCodeOperandKind.fs or OpCodeOperandKind.gs) return true;
        if (op.Table == OpCodeTableKind.T0F && op.OpCode == 0x0D && op.Op0Kind != OpCodeOperandKind.mem) return true;
        // MOVSXD with a 16-bit operand size: AMD reads a doubleword (it #ACs as one), Intel a word.
        if (code == Code.Movsxd_r16_rm16) return true;
        return false;
    }

    static bool Usable(OpCodeInfo op, int mode)
    {
        // Operand forms with mismatching widths in 32-bit mode (64-bit registers) and the ones we do not model.
        for (int i = 0; i < op.OpCount; i++)
        {
            switch (op.GetOpKind(i))
            {
                case OpCodeOperandKind.farbr2_2: case OpCodeOperandKind.farbr4_2:
                case OpCodeOperandKind.cr_reg: case OpCodeOperandKind.dr_reg: case OpCodeOperandKind.tr_reg:
                case OpCodeOperandKind.bnd_or_mem_mpx: case OpCodeOperandKind.bnd_reg: case OpCodeOperandKind.mem_mpx:
                case OpCodeOperandKind.mem_mib: case OpCodeOperandKind.r32_or_mem_mpx: case OpCodeOperandKind.r64_or_mem_mpx:
                case OpCodeOperandKind.xbegin_2: case OpCodeOperandKind.xbegin_4: case OpCodeOperandKind.sibmem:
                case OpCodeOperandKind.mem_vsib32x: case OpCodeOperandKind.mem_vsib64x:
                case OpCodeOperandKind.brdisp_2: case OpCodeOperandKind.brdisp_4:
                    return false;
                case OpCodeOperandKind.seg_reg:
                    // MOV r/m, Sreg reads a selector (the executors agree on them); loading one is excluded.
                    if (i == 0) return false;
                    break;
                case OpCodeOperandKind.es: case OpCodeOperandKind.cs: case OpCodeOperandKind.ss:
                case OpCodeOperandKind.ds: case OpCodeOperandKind.fs: case OpCodeOperandKind.gs:
                    // PUSH Sreg is fine; POP Sreg loads one.
                    if (op.Mnemonic == Mnemonic.Pop) return false;
                    break;
                case OpCodeOperandKind.br16_1: case OpCodeOperandKind.br16_2:
                    return false;   // 16-bit operand-size branches truncate EIP: the target leaves the code page
            }
        }
        // 16-bit near returns/calls and stack-size overrides pop 16-bit targets: no use in these modes.
        if (op.OperandSize == 16 && op.Mnemonic is Mnemonic.Ret or Mnemonic.Call or Mnemonic.Jmp) return false;
        if (op.AddressSize == 16) return false;
        return true;
    }
}
