using SharpBox.Vmm.Cpum;

namespace SharpBox.Vmm.Iem;

// Privileged state changes shared by several instructions: EFLAGS writes with their side effects,
// control-register writes, MSRs, I/O permission.
public sealed unsafe partial class IemCpu
{
    /// <summary>Writes the bits of EFLAGS selected by <paramref name="mask"/> (caller applies privilege rules), then applies side effects.</summary>
    public void WriteEflags(uint value, uint mask)
    {
        uint old = GetEflags();
        uint nv = ((old & ~mask) | (value & mask)) & RFlags.Writable | RFlags.Fixed1;
        SetEflagsAll(nv);
        if (((old ^ nv) & RFlags.VM) != 0) ModeChanged();
        AfterFlagsChanged();
    }

    /// <summary>After EFLAGS changed wholesale: TLB selection (AC), single-step, interrupt window.</summary>
    internal void AfterFlagsChanged()
    {
        SelectTlb();
        if ((Eflags & RFlags.TF) != 0) RaisePending(PendStep);
    }

    /// <summary>Inhibits interrupts until after the next instruction (STI, MOV SS, POP SS).</summary>
    public void SetInterruptShadow() => RaisePending(PendShadow);

    /// <summary>MOV to CR0/CR3/CR4 (and LMSW, CLTS through CR0) with the architectural checks.</summary>
    public void WriteCr(int cr, ulong v)
    {
        switch (cr)
        {
            case 0:
            {
                if (Mode == CodeMode.Bits64 && (v >> 32) != 0) RaiseGp0();
                v = (uint)v | Cpum.Cr0.ET;
                if ((v & Cpum.Cr0.PG) != 0 && (v & Cpum.Cr0.PE) == 0) RaiseGp0();
                if ((v & Cpum.Cr0.NW) != 0 && (v & Cpum.Cr0.CD) == 0) RaiseGp0();
                bool pgOn = (v & Cpum.Cr0.PG) != 0 && (Cr0 & Cpum.Cr0.PG) == 0;
                bool pgOff = (v & Cpum.Cr0.PG) == 0 && (Cr0 & Cpum.Cr0.PG) != 0;
                if (pgOn && (Efer & Cpum.Efer.LME) != 0)
                {
                    if ((Cr4 & Cpum.Cr4.PAE) == 0 || (Segs[SegIdx.CS].Attr & SegAttr.L) != 0) RaiseGp0();
                    Efer |= Cpum.Efer.LMA;
                }
                if (pgOff && LongModeActive)
                {
                    if (Mode == CodeMode.Bits64) RaiseGp0();
                    Efer &= ~Cpum.Efer.LMA;
                }
                ulong changed = Cr0 ^ v;
                Cr0 = v;
                if ((changed & (Cpum.Cr0.PG | Cpum.Cr0.PE | Cpum.Cr0.WP)) != 0) FlushTlb(true);
                ModeChanged();
                break;
            }
            case 2: Cr2 = v; break;
            case 3:
                if (LongModeActive && (v & ~Model.PhysAddrMask & ~0xFFFUL) != 0) RaiseGp0();
                Cr3 = LongModeActive ? v : (uint)v;
                FlushTlb(false);
                break;
            case 4:
            {
                ulong allowed = Cpum.Cr4.VME | Cpum.Cr4.PVI | Cpum.Cr4.TSD | Cpum.Cr4.DE | Cpum.Cr4.PSE | Cpum.Cr4.PAE |
                                Cpum.Cr4.MCE | Cpum.Cr4.PGE | Cpum.Cr4.PCE | Cpum.Cr4.OSFXSR | Cpum.Cr4.OSXMMEXCPT;
                if (Model.Has7Ebx(CpuModel.Smep)) allowed |= Cpum.Cr4.SMEP;
                if (Model.Has7Ebx(CpuModel.Smap)) allowed |= Cpum.Cr4.SMAP;
                if (Model.Has7Ebx(CpuModel.FsGsBase)) allowed |= Cpum.Cr4.FSGSBASE;
                if (!Model.Has1Edx(CpuModel.Vme)) allowed &= ~(Cpum.Cr4.VME | Cpum.Cr4.PVI);
                if (!Model.Has1Edx(CpuModel.Mce)) allowed &= ~Cpum.Cr4.MCE;
                if ((v & ~allowed) != 0) RaiseGp0();
                if (LongModeActive && (v & Cpum.Cr4.PAE) == 0) RaiseGp0();
                ulong changed = Cr4 ^ v;
                Cr4 = v;
                if ((changed & (Cpum.Cr4.PSE | Cpum.Cr4.PAE | Cpum.Cr4.PGE | Cpum.Cr4.SMEP | Cpum.Cr4.SMAP)) != 0) FlushTlb(true);
                SelectTlb();
                break;
            }
            case 8:
                if ((v >> 4) != 0) RaiseGp0();
                Bus.WriteCr8(CpuIndex, v);
                break;
            default:
                RaiseUd();
                break;
        }
    }

    public ulong ReadCr(int cr) => cr switch
    {
        0 => Cr0,
        2 => Cr2,
        3 => Cr3,
        4 => Cr4,
        8 => Bus.ReadCr8(CpuIndex) & 0xF,
        _ => throw RaiseUdValue(),
    };

    private Exception RaiseUdValue() { RaiseUd(); return null!; }

    /// <summary>Guest TSC: the platform's clock plus this vCPU's offset.</summary>
    public ulong ReadTsc() => Bus.ReadTsc() + (ulong)TscOffset;

    public bool TryReadMsr(uint msr, out ulong v)
    {
        v = 0;
        switch (msr)
        {
            case Msr.Tsc: v = ReadTsc(); return true;
            case Msr.PlatformId: case Msr.BiosSignId: v = 0; return true;
            case Msr.ApicBase: v = ApicBase; return true;
            case Msr.FeatureControl: v = FeatureControl | 1; return true;   // locked, VMX off
            case Msr.MtrrCap: v = 0x508; return true;                       // WC, fixed ranges, 8 variable ranges
            case Msr.SysenterCs: v = SysenterCs; return true;
            case Msr.SysenterEsp: v = SysenterEsp; return true;
            case Msr.SysenterEip: v = SysenterEip; return true;
            case Msr.McgCap: v = 0; return true;
            case Msr.McgStatus: v = 0; return true;
            case Msr.MiscEnable: v = MiscEnable; return true;
            case Msr.Pat: v = Pat; return true;
            case Msr.MtrrDefType: v = MtrrDefType; return true;
            case Msr.MtrrFix64K: v = MtrrFixed[0]; return true;
            case Msr.MtrrFix16K80: v = MtrrFixed[1]; return true;
            case Msr.MtrrFix16KA0: v = MtrrFixed[2]; return true;
            case >= Msr.MtrrFix4KC0 and <= Msr.MtrrFix4KF8: v = MtrrFixed[3 + (int)(msr - Msr.MtrrFix4KC0)]; return true;
            case >= Msr.MtrrPhysBase0 and <= Msr.MtrrPhysMask7: v = MtrrVar[(int)(msr - Msr.MtrrPhysBase0)]; return true;
            case Msr.Efer: v = Efer; return true;
            case Msr.Star: v = Star; return true;
            case Msr.Lstar: v = Lstar; return true;
            case Msr.Cstar: v = Cstar; return true;
            case Msr.Sfmask: v = Sfmask; return true;
            case Msr.FsBase: v = Segs[SegIdx.FS].ArchBase; return true;
            case Msr.GsBase: v = Segs[SegIdx.GS].ArchBase; return true;
            case Msr.KernelGsBase: v = KernelGsBase; return true;
            case Msr.TscAux:
                if (!Model.HasExt1Edx(CpuModel.Rdtscp)) return false;
                v = TscAux; return true;
        }
        return Bus.TryReadMsr(CpuIndex, msr, out v);
    }

    public bool TryWriteMsr(uint msr, ulong v)
    {
        switch (msr)
        {
            case Msr.Tsc: TscOffset = (long)(v - Bus.ReadTsc()); return true;
            case Msr.BiosSignId: return true;
            case Msr.ApicBase:
                if ((v & ~(Model.PhysAddrMask & ~0xFFFUL) & ~0xD00UL) != 0) return false;
                if (!Bus.TryWriteMsr(CpuIndex, msr, v)) return false;
                ApicBase = (v & ~0x100UL) | (ApicBase & 0x100);   // the BSP flag is read-only
                return true;
            case Msr.SysenterCs: SysenterCs = v & 0xFFFF; return true;
            case Msr.SysenterEsp: if (!IsCanonical(v)) return false; SysenterEsp = v; return true;
            case Msr.SysenterEip: if (!IsCanonical(v)) return false; SysenterEip = v; return true;
            case Msr.McgStatus: return v == 0;
            case Msr.MiscEnable: MiscEnable = v; return true;
            case Msr.Pat:
                for (int i = 0; i < 8; i++)
                {
                    ulong t = (v >> (8 * i)) & 0xFF;
                    if (t is 2 or 3 or > 7) return false;
                }
                Pat = v; return true;
            case Msr.MtrrDefType: if ((v & ~0xCFFUL) != 0) return false; MtrrDefType = v; return true;
            case Msr.MtrrFix64K: MtrrFixed[0] = v; return true;
            case Msr.MtrrFix16K80: MtrrFixed[1] = v; return true;
            case Msr.MtrrFix16KA0: MtrrFixed[2] = v; return true;
            case >= Msr.MtrrFix4KC0 and <= Msr.MtrrFix4KF8: MtrrFixed[3 + (int)(msr - Msr.MtrrFix4KC0)] = v; return true;
            case >= Msr.MtrrPhysBase0 and <= Msr.MtrrPhysMask7: MtrrVar[(int)(msr - Msr.MtrrPhysBase0)] = v; return true;
            case Msr.Efer:
            {
                ulong allowed = Cpum.Efer.SCE | Cpum.Efer.LME | Cpum.Efer.LMA | (Model.HasExt1Edx(CpuModel.Nx) ? Cpum.Efer.NXE : 0);
                if ((v & ~allowed) != 0) return false;
                if (PagingEnabled && ((v ^ Efer) & Cpum.Efer.LME) != 0) return false;
                ulong nv = (v & ~Cpum.Efer.LMA) | (Efer & Cpum.Efer.LMA);
                if (((nv ^ Efer) & Cpum.Efer.NXE) != 0) FlushTlb(true);
                Efer = nv;
                return true;
            }
            case Msr.Star: Star = v; return true;
            case Msr.Lstar: if (!IsCanonical(v)) return false; Lstar = v; return true;
            case Msr.Cstar: if (!IsCanonical(v)) return false; Cstar = v; return true;
            case Msr.Sfmask: Sfmask = v & 0xFFFFFFFF; return true;
            case Msr.FsBase: if (!IsCanonical(v)) return false; Segs[SegIdx.FS].ArchBase = v; RecomputeSeg(SegIdx.FS); return true;
            case Msr.GsBase: if (!IsCanonical(v)) return false; Segs[SegIdx.GS].ArchBase = v; RecomputeSeg(SegIdx.GS); return true;
            case Msr.KernelGsBase: if (!IsCanonical(v)) return false; KernelGsBase = v; return true;
            case Msr.TscAux:
                if (!Model.HasExt1Edx(CpuModel.Rdtscp) || (v >> 32) != 0) return false;
                TscAux = v; return true;
        }
        return Bus.TryWriteMsr(CpuIndex, msr, v);
    }

    /// <summary>
    /// I/O permission for IN/OUT/INS/OUTS: in protected mode with CPL > IOPL, or in v86 mode, the
    /// TSS I/O bitmap must allow every byte of the port range (#GP(0) otherwise).
    /// </summary>
    public void CheckIoPermission(ushort port, int size)
    {
        if (!ProtectedMode) return;
        if (!V86Mode && Cpl <= Iopl) return;
        if ((Tr.Attributes & 0xF) is not (9 or 11) || Tr.Limit < 0x67) RaiseGp0();
        uint mapBase = (uint)SysRead(Tr.Base + 0x66, 2);
        uint byteOff = mapBase + (uint)(port >> 3);
        if (byteOff + 1 > Tr.Limit) RaiseGp0();
        uint bits = (uint)SysRead(Tr.Base + byteOff, 2);
        uint mask = ((1u << size) - 1) << (port & 7);
        if ((bits & mask) != 0) RaiseGp0();
    }

    /// <summary>HLT: stop until an interrupt (Run returns Halted).</summary>
    internal void EnterHalt()
    {
        Halted = true;
        _exitReason = Em.VcpuExitReason.Halted;
        RaisePending(PendExit);
    }

    internal void LoadLdtr(ushort sel)
    {
        if ((sel & 0xFFFC) == 0) { Ldtr = new SegmentRegister(sel, 0, 0, SegAttr.Unusable); return; }
        if ((sel & 4) != 0) RaiseXcpt(Xcpt.GP, sel & 0xFFFC);
        var d = ReadDescriptor16(sel);
        if (d.S || d.Type != 2) RaiseXcpt(Xcpt.GP, sel & 0xFFFC);
        if (!d.Present) RaiseXcpt(Xcpt.NP, sel & 0xFFFC);
        ulong b = LongModeActive ? d.Base64 : d.Base;
        if (LongModeActive && !IsCanonical(b)) RaiseXcpt(Xcpt.GP, sel & 0xFFFC);
        Ldtr = new SegmentRegister(sel, b, d.Limit, d.Attr);
    }

    internal void LoadTr(ushort sel)
    {
        if ((sel & 0xFFFC) == 0 || (sel & 4) != 0) RaiseXcpt(Xcpt.GP, sel & 0xFFFC);
        var d = ReadDescriptor16(sel);
        bool ok = !d.S && (LongModeActive ? d.Type == 9 : d.Type is 1 or 9);
        if (!ok) RaiseXcpt(Xcpt.GP, sel & 0xFFFC);
        if (!d.Present) RaiseXcpt(Xcpt.NP, sel & 0xFFFC);
        ulong b = LongModeActive ? d.Base64 : d.Base;
        if (LongModeActive && !IsCanonical(b)) RaiseXcpt(Xcpt.GP, sel & 0xFFFC);
        ulong addr = Gdtr.Base + (uint)(sel & 0xFFF8) + 5;
        SysWrite(addr, 1, SysRead(addr, 1) | 2);   // busy
        Tr = new SegmentRegister(sel, b, d.Limit, d.Attr | 2);
    }

    /// <summary>VERR/VERW: is the segment readable/writable at the current CPL and the selector's RPL?</summary>
    internal bool VerifySegment(ushort sel, bool write)
    {
        if ((sel & 0xFFFC) == 0) return false;
        if (!DescriptorInTable(sel)) return false;
        var d = ReadDescriptor(sel);
        if (!d.S) return false;
        if (!(d.IsCode && d.Conforming) && (d.Dpl < Cpl || d.Dpl < (sel & 3))) return false;
        return write ? d.Writable : d.Readable;
    }

    private bool DescriptorInTable(ushort sel)
    {
        if ((sel & 4) != 0)
            return (Ldtr.Attributes & SegAttr.Unusable) == 0 && (uint)(sel & 0xFFF8) + 7 <= Ldtr.Limit && (Ldtr.Selector & 0xFFFC) != 0;
        return (uint)(sel & 0xFFF8) + 7 <= Gdtr.Limit;
    }

    /// <summary>LAR (access rights, masked 0x00F0FF00) or LSL (expanded limit) when the descriptor is visible.</summary>
    internal bool TryLarLsl(ushort sel, bool lsl, out ulong v)
    {
        v = 0;
        if ((sel & 0xFFFC) == 0 || !DescriptorInTable(sel)) return false;
        var d = ReadDescriptor(sel);
        if (!d.S)
        {
            int t = d.Type;
            bool ok = LongModeActive
                ? (lsl ? t is 2 or 9 or 11 : t is 2 or 9 or 11 or 12)
                : (lsl ? t is 1 or 2 or 3 or 9 or 11 : t is 1 or 2 or 3 or 4 or 5 or 9 or 11 or 12);
            if (!ok) return false;
        }
        if (!(d.IsCode && d.Conforming) && (d.Dpl < Cpl || d.Dpl < (sel & 3))) return false;
        v = lsl ? d.Limit : (d.Raw >> 32) & 0x00F0FF00;
        return true;
    }
}
