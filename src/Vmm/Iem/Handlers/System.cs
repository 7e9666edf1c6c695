using SharpBox.Vmm.Cpum;

namespace SharpBox.Vmm.Iem;

// System instructions: CLI/STI/HLT, I/O, CPUID, TSC, MSRs, control/debug registers, descriptor
// tables, segment loads, SYSCALL/SYSRET/SYSENTER/SYSEXIT, SWAPGS, atomics (CMPXCHG*, XADD).
public static unsafe partial class Handlers
{
    private static void RequireCpl0(IemCpu c) { if (c.Cpl != 0) c.RaiseGp0(); }
    private static void RequireProtected(IemCpu c) { if (!c.ProtectedMode || c.V86Mode) c.RaiseUd(); }

    public static void Cli(IemCpu c, ref DecodedInstr d)
    {
        if (c.ProtectedMode && c.Cpl > c.Iopl) c.RaiseGp0();
        c.Eflags &= ~RFlags.IF;
    }

    public static void Sti(IemCpu c, ref DecodedInstr d)
    {
        if (c.ProtectedMode && c.Cpl > c.Iopl) c.RaiseGp0();
        if ((c.Eflags & RFlags.IF) == 0) { c.Eflags |= RFlags.IF; c.SetInterruptShadow(); }
    }

    public static void Hlt(IemCpu c, ref DecodedInstr d)
    {
        RequireCpl0(c);
        c.EnterHalt();
    }

    // ---- port I/O ----

    private static ushort IoPort(IemCpu c, ref DecodedInstr d) => (d.Opcode & 8) != 0 ? c.R16(2) : (ushort)(byte)d.Imm;

    public static void In(IemCpu c, ref DecodedInstr d)
    {
        int size = (d.Opcode & 1) == 0 ? 1 : d.OpSize == 2 ? 2 : 4;
        ushort port = IoPort(c, ref d);
        c.CheckIoPermission(port, size);
        uint v = c.Bus.IoRead(port, size);
        if (size == 1) c.R8(0) = (byte)v; else if (size == 2) c.R16(0) = (ushort)v; else c.SetR32(0, v);
    }

    public static void Out(IemCpu c, ref DecodedInstr d)
    {
        int size = (d.Opcode & 1) == 0 ? 1 : d.OpSize == 2 ? 2 : 4;
        ushort port = IoPort(c, ref d);
        c.CheckIoPermission(port, size);
        uint v = size == 1 ? c.R8(0) : size == 2 ? c.R16(0) : c.R32(0);
        c.Bus.IoWrite(port, size, v);
    }

    // ---- identification and time ----

    public static void Cpuid(IemCpu c, ref DecodedInstr d)
    {
        c.Model.Cpuid(c.R32(0), c.R32(1), (uint)c.CpuIndex, out uint a, out uint b, out uint cx, out uint dx);
        if (c.R32(0) == 1)
        {
            if ((c.ApicBase & (1UL << 11)) == 0) dx &= ~CpuModel.Apic;
            if ((c.Cr4 & Cr4.OSXSAVE) != 0) cx |= CpuModel.Osxsave;
        }
        c.SetR32(0, a); c.SetR32(3, b); c.SetR32(1, cx); c.SetR32(2, dx);
    }

    public static void Rdtsc(IemCpu c, ref DecodedInstr d)
    {
        if ((c.Cr4 & Cr4.TSD) != 0 && c.Cpl != 0) c.RaiseGp0();
        ulong t = c.ReadTsc();
        c.SetR32(0, (uint)t); c.SetR32(2, (uint)(t >> 32));
    }

    public static void Rdtscp(IemCpu c, ref DecodedInstr d)
    {
        if (!c.Model.HasExt1Edx(CpuModel.Rdtscp)) c.RaiseUd();
        if ((c.Cr4 & Cr4.TSD) != 0 && c.Cpl != 0) c.RaiseGp0();
        ulong t = c.ReadTsc();
        c.SetR32(0, (uint)t); c.SetR32(2, (uint)(t >> 32)); c.SetR32(1, (uint)c.TscAux);
    }

    public static void Rdmsr(IemCpu c, ref DecodedInstr d)
    {
        RequireCpl0(c);
        if (!c.TryReadMsr(c.R32(1), out ulong v)) c.RaiseGp0();
        c.SetR32(0, (uint)v); c.SetR32(2, (uint)(v >> 32));
    }

    public static void Wrmsr(IemCpu c, ref DecodedInstr d)
    {
        RequireCpl0(c);
        ulong v = (ulong)c.R32(2) << 32 | c.R32(0);
        if (!c.TryWriteMsr(c.R32(1), v)) c.RaiseGp0();
    }

    public static void Rdpmc(IemCpu c, ref DecodedInstr d) => c.RaiseGp0();

    // ---- control and debug registers ----

    public static void MovFromCr(IemCpu c, ref DecodedInstr d)
    {
        if ((d.Prefixes & Pfx.Lock) != 0) c.RaiseUd();
        RequireCpl0(c);
        if (c.V86Mode) c.RaiseGp0();
        ulong v = c.ReadCr(d.Reg);
        if (c.Mode == CodeMode.Bits64) c.R(d.Rm) = v; else c.SetR32(d.Rm, (uint)v);
    }

    public static void MovToCr(IemCpu c, ref DecodedInstr d)
    {
        RequireCpl0(c);
        if (c.V86Mode) c.RaiseGp0();
        if (d.Reg is not (0 or 2 or 3 or 4 or 8) || (d.Reg == 8 && c.Mode != CodeMode.Bits64)) c.RaiseUd();
        ulong v = c.Mode == CodeMode.Bits64 ? c.R(d.Rm) : c.R32(d.Rm);
        c.WriteCr(d.Reg, v);
    }

    private static int DrIndex(IemCpu c, int r)
    {
        if (r > 7) c.RaiseUd();
        if (r is 4 or 5) { if ((c.Cr4 & Cr4.DE) != 0) c.RaiseUd(); r += 2; }
        return r;
    }

    public static void MovFromDr(IemCpu c, ref DecodedInstr d)
    {
        RequireCpl0(c);
        if (c.V86Mode) c.RaiseGp0();
        int r = DrIndex(c, d.Reg);
        ulong v = c.Dr[r];
        if (c.Mode == CodeMode.Bits64) c.R(d.Rm) = v; else c.SetR32(d.Rm, (uint)v);
    }

    public static void MovToDr(IemCpu c, ref DecodedInstr d)
    {
        RequireCpl0(c);
        if (c.V86Mode) c.RaiseGp0();
        int r = DrIndex(c, d.Reg);
        ulong v = c.Mode == CodeMode.Bits64 ? c.R(d.Rm) : c.R32(d.Rm);
        if (r >= 6 && (v >> 32) != 0) c.RaiseGp0();
        if (r == 6) v = (v & 0xE00F) | 0xFFFF0FF0;
        if (r == 7) v = (v & 0xFFFF2BFF) | 0x400;
        c.Dr[r] = v;
        if (r != 6) c.DebugRegistersChanged();
    }

    public static void Clts(IemCpu c, ref DecodedInstr d)
    {
        RequireCpl0(c);
        c.Cr0 &= ~Cr0.TS;
    }

    public static void Invd(IemCpu c, ref DecodedInstr d) => RequireCpl0(c);

    // ---- group 7 (0F 01) ----

    public static void Group7(IemCpu c, ref DecodedInstr d)
    {
        int reg = d.ModRmReg;
        if (!d.IsMem)
        {
            switch (d.ModRm)
            {
                case 0xCA: Clac(c); return;
                case 0xCB: Stac(c); return;
                case 0xF8: Swapgs(c); return;
                case 0xF9: Rdtscp(c, ref d); return;
            }
            if (reg == 4) { Smsw(c, ref d); return; }
            if (reg == 6) { Lmsw(c, (ushort)c.R(d.Rm)); return; }
            c.RaiseUd();
        }
        ulong ea = c.Ea(ref d);
        switch (reg)
        {
            case 0: case 1: // SGDT / SIDT
            {
                var t = reg == 0 ? c.Gdtr : c.Idtr;
                int bsz = c.Mode == CodeMode.Bits64 ? 8 : 4;
                c.ProbeWrite(d.Seg, ea, 2 + bsz);
                c.WriteU16(d.Seg, ea, t.Limit);
                ulong ba = (ea + 2) & (ulong.MaxValue >> d.AddrShift);
                if (bsz == 8) c.WriteU64(d.Seg, ba, t.Base); else c.WriteU32(d.Seg, ba, (uint)t.Base);
                return;
            }
            case 2: case 3: // LGDT / LIDT
            {
                RequireCpl0(c);
                if (c.V86Mode) c.RaiseGp0();
                ushort lim = c.ReadU16(d.Seg, ea);
                ulong ba = (ea + 2) & (ulong.MaxValue >> d.AddrShift);
                ulong b = c.Mode == CodeMode.Bits64 ? c.ReadU64(d.Seg, ba) : c.ReadU32(d.Seg, ba);
                if (c.Mode != CodeMode.Bits64 && d.OpSize == 2) b &= 0xFFFFFF;
                if (c.Mode == CodeMode.Bits64 && !c.IsCanonical(b)) c.RaiseGp0();
                var t = new DescriptorTableRegister { Base = b, Limit = lim };
                if (reg == 2) c.Gdtr = t; else c.Idtr = t;
                return;
            }
            case 4: // SMSW m16
                c.WriteU16(d.Seg, ea, (ushort)c.Cr0);
                return;
            case 6: // LMSW m16
                Lmsw(c, c.ReadU16(d.Seg, ea));
                return;
            case 7: // INVLPG
                RequireCpl0(c);
                if (c.V86Mode) c.RaiseGp0();
                c.InvalidatePage((c.Segs[d.Seg].Base + ea) & (c.LongModeActive ? ulong.MaxValue : 0xFFFFFFFF));
                return;
        }
        c.RaiseUd();
    }

    private static void Smsw(IemCpu c, ref DecodedInstr d)
    {
        ulong v = c.Cr0;
        if (d.OpSize == 2) c.R16(d.Rm) = (ushort)v;
        else if (d.OpSize == 4) c.SetR32(d.Rm, (uint)v);
        else c.R(d.Rm) = v;
    }

    private static void Lmsw(IemCpu c, ushort v)
    {
        RequireCpl0(c);
        if (c.V86Mode) c.RaiseGp0();
        // Only PE, MP, EM, TS; PE can be set but not cleared.
        ulong nv = (c.Cr0 & ~0xEUL) | (v & 0xFUL) | (c.Cr0 & Cr0.PE);
        c.WriteCr(0, nv);
    }

    private static void Clac(IemCpu c)
    {
        if (!c.Model.Has7Ebx(CpuModel.Smap) || c.Cpl != 0 || c.V86Mode) c.RaiseUd();
        c.Eflags &= ~RFlags.AC; c.SelectTlb();
    }

    private static void Stac(IemCpu c)
    {
        if (!c.Model.Has7Ebx(CpuModel.Smap) || c.Cpl != 0 || c.V86Mode) c.RaiseUd();
        c.Eflags |= RFlags.AC; c.SelectTlb();
    }

    private static void Swapgs(IemCpu c)
    {
        if (c.Mode != CodeMode.Bits64) c.RaiseUd();
        RequireCpl0(c);
        ulong t = c.Segs[SegIdx.GS].ArchBase;
        c.Segs[SegIdx.GS].ArchBase = c.KernelGsBase;
        c.KernelGsBase = t;
        c.RecomputeSeg(SegIdx.GS);
    }

    // ---- group 6 (0F 00): SLDT STR LLDT LTR VERR VERW ----

    public static void Group6(IemCpu c, ref DecodedInstr d)
    {
        RequireProtected(c);
        int reg = d.ModRmReg;
        switch (reg)
        {
            case 0: case 1: // SLDT / STR
            {
                ushort sel = reg == 0 ? c.Ldtr.Selector : c.Tr.Selector;
                if (d.IsMem) c.WriteU16(d.Seg, c.Ea(ref d), sel);
                else if (d.OpSize == 2) c.R16(d.Rm) = sel;
                else c.R(d.Rm) = sel;
                return;
            }
            case 2: case 3: // LLDT / LTR
            {
                RequireCpl0(c);
                ushort sel = d.IsMem ? c.ReadU16(d.Seg, c.Ea(ref d)) : c.R16(d.Rm);
                if (reg == 2) c.LoadLdtr(sel); else c.LoadTr(sel);
                return;
            }
            case 4: case 5: // VERR / VERW
            {
                ushort sel = d.IsMem ? c.ReadU16(d.Seg, c.Ea(ref d)) : c.R16(d.Rm);
                c.SetZF(c.VerifySegment(sel, reg == 5));
                return;
            }
        }
        c.RaiseUd();
    }

    /// <summary>LAR (0F 02) / LSL (0F 03).</summary>
    public static void LarLsl(IemCpu c, ref DecodedInstr d)
    {
        RequireProtected(c);
        ushort sel = d.IsMem ? c.ReadU16(d.Seg, c.Ea(ref d)) : c.R16(d.Rm);
        bool lsl = d.Opcode == 3;
        if (!c.TryLarLsl(sel, lsl, out ulong v)) { c.SetZF(false); return; }
        c.SetZF(true);
        if (d.OpSize == 2) c.R16(d.Reg) = (ushort)v;
        else if (d.OpSize == 4) c.SetR32(d.Reg, (uint)v);
        else c.R(d.Reg) = v;
    }

    public static void Arpl(IemCpu c, ref DecodedInstr d)
    {
        RequireProtected(c);
        ushort src = c.R16(d.Reg);
        if (d.IsMem)
        {
            ulong ea = c.Ea(ref d);
            ushort dst = c.ReadU16(d.Seg, ea);
            if ((dst & 3) < (src & 3)) { c.WriteU16(d.Seg, ea, (ushort)((dst & ~3) | (src & 3))); c.SetZF(true); }
            else c.SetZF(false);
        }
        else
        {
            ushort dst = c.R16(d.Rm);
            if ((dst & 3) < (src & 3)) { c.R16(d.Rm) = (ushort)((dst & ~3) | (src & 3)); c.SetZF(true); }
            else c.SetZF(false);
        }
    }

    // ---- segment register moves and far pointer loads ----

    public static void MovFromSeg(IemCpu c, ref DecodedInstr d)
    {
        if (d.Reg > 5) c.RaiseUd();
        ushort sel = c.Segs[d.Reg].Sel;
        if (d.IsMem) c.WriteU16(d.Seg, c.Ea(ref d), sel);
        else if (d.OpSize == 2) c.R16(d.Rm) = sel;
        else c.R(d.Rm) = sel;
    }

    public static void MovToSeg(IemCpu c, ref DecodedInstr d)
    {
        int seg = d.Reg & 7;
        if (seg > 5 || seg == SegIdx.CS) c.RaiseUd();
        ushort sel = d.IsMem ? c.ReadU16(d.Seg, c.Ea(ref d)) : c.R16(d.Rm);
        c.LoadSeg(seg, sel);
        if (seg == SegIdx.SS) c.SetInterruptShadow();
    }

    /// <summary>LES/LDS (C4/C5), LSS/LFS/LGS (0F B2/B4/B5).</summary>
    public static void LoadFarPointer(IemCpu c, ref DecodedInstr d)
    {
        if (!d.IsMem) c.RaiseUd();
        int seg = d.Map == OpMap.Primary ? (d.Opcode == 0xC4 ? SegIdx.ES : SegIdx.DS)
                : d.Opcode switch { 0xB2 => SegIdx.SS, 0xB4 => SegIdx.FS, _ => SegIdx.GS };
        ulong ea = c.Ea(ref d);
        ulong off = c.ReadSized(d.Seg, ea, d.OpSize);
        ushort sel = c.ReadU16(d.Seg, (ea + d.OpSize) & (ulong.MaxValue >> d.AddrShift));
        c.LoadSeg(seg, sel);
        if (d.OpSize == 2) c.R16(d.Reg) = (ushort)off; else if (d.OpSize == 4) c.SetR32(d.Reg, (uint)off); else c.R(d.Reg) = off;
    }

    // ---- fast system calls ----

    public static void Syscall(IemCpu c, ref DecodedInstr d)
    {
        if ((c.Efer & Efer.SCE) == 0 || c.Mode != CodeMode.Bits64) c.RaiseUd();
        c.R(1) = c.Rip;
        c.R(11) = c.GetEflags() & ~RFlags.RF;
        ushort cs = (ushort)((c.Star >> 32) & 0xFFFC);
        c.SetSeg(SegIdx.CS, cs, 0, 0xFFFFFFFF, SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.CodeReadable | SegAttr.Accessed | SegAttr.L | SegAttr.G);
        c.SetSeg(SegIdx.SS, (ushort)(cs + 8), 0, 0xFFFFFFFF, SegAttr.P | SegAttr.S | SegAttr.DataWritable | SegAttr.Accessed | SegAttr.DB | SegAttr.G);
        c.WriteEflags(0, (uint)c.Sfmask | RFlags.RF | RFlags.VM);
        c.Rip = c.Lstar;
    }

    public static void Sysret(IemCpu c, ref DecodedInstr d)
    {
        if ((c.Efer & Efer.SCE) == 0 || c.Mode != CodeMode.Bits64) c.RaiseUd();
        RequireCpl0(c);
        bool to64 = (d.Prefixes & Pfx.RexW) != 0;
        if (to64 && !c.IsCanonical(c.R(1))) c.RaiseGp0();
        ushort bsel = (ushort)(c.Star >> 48);
        uint dpl3 = 3u << 5;
        if (to64)
            c.SetSeg(SegIdx.CS, (ushort)((bsel + 16) | 3), 0, 0xFFFFFFFF, SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.CodeReadable | SegAttr.Accessed | SegAttr.L | SegAttr.G | dpl3);
        else
            c.SetSeg(SegIdx.CS, (ushort)(bsel | 3), 0, 0xFFFFFFFF, SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.CodeReadable | SegAttr.Accessed | SegAttr.DB | SegAttr.G | dpl3);
        // SS gets only the selector and a flat cache (its DPL is 3 regardless of the descriptor).
        c.SetSeg(SegIdx.SS, (ushort)((bsel + 8) | 3), 0, 0xFFFFFFFF, SegAttr.P | SegAttr.S | SegAttr.DataWritable | SegAttr.Accessed | SegAttr.DB | SegAttr.G | dpl3);
        c.WriteEflags((uint)c.R(11), RFlags.Writable & ~RFlags.VM);
        c.Rip = to64 ? c.R(1) : c.R32(1);
    }

    public static void Sysenter(IemCpu c, ref DecodedInstr d)
    {
        if (!c.ProtectedMode || (c.SysenterCs & 0xFFFC) == 0) c.RaiseGp0();
        ushort cs = (ushort)(c.SysenterCs & 0xFFFC);
        bool lm = c.LongModeActive;
        c.WriteEflags(0, RFlags.VM | RFlags.IF | RFlags.RF);
        c.SetSeg(SegIdx.CS, cs, 0, 0xFFFFFFFF, SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.CodeReadable | SegAttr.Accessed | SegAttr.G | (lm ? SegAttr.L : SegAttr.DB));
        c.SetSeg(SegIdx.SS, (ushort)(cs + 8), 0, 0xFFFFFFFF, SegAttr.P | SegAttr.S | SegAttr.DataWritable | SegAttr.Accessed | SegAttr.DB | SegAttr.G);
        c.R(4) = lm ? c.SysenterEsp : (uint)c.SysenterEsp;
        c.Rip = lm ? c.SysenterEip : (uint)c.SysenterEip;
    }

    public static void Sysexit(IemCpu c, ref DecodedInstr d)
    {
        if (!c.ProtectedMode || c.V86Mode || c.Cpl != 0 || (c.SysenterCs & 0xFFFC) == 0) c.RaiseGp0();
        bool to64 = (d.Prefixes & Pfx.RexW) != 0;
        ushort b = (ushort)c.SysenterCs;
        uint dpl3 = 3u << 5;
        if (to64)
        {
            if (!c.IsCanonical(c.R(2)) || !c.IsCanonical(c.R(1))) c.RaiseGp0();
            c.SetSeg(SegIdx.CS, (ushort)((b + 32) | 3), 0, 0xFFFFFFFF, SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.CodeReadable | SegAttr.Accessed | SegAttr.L | SegAttr.G | dpl3);
            c.SetSeg(SegIdx.SS, (ushort)((b + 40) | 3), 0, 0xFFFFFFFF, SegAttr.P | SegAttr.S | SegAttr.DataWritable | SegAttr.Accessed | SegAttr.DB | SegAttr.G | dpl3);
            c.R(4) = c.R(1); c.Rip = c.R(2);
        }
        else
        {
            c.SetSeg(SegIdx.CS, (ushort)((b + 16) | 3), 0, 0xFFFFFFFF, SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.CodeReadable | SegAttr.Accessed | SegAttr.DB | SegAttr.G | dpl3);
            c.SetSeg(SegIdx.SS, (ushort)((b + 24) | 3), 0, 0xFFFFFFFF, SegAttr.P | SegAttr.S | SegAttr.DataWritable | SegAttr.Accessed | SegAttr.DB | SegAttr.G | dpl3);
            c.R(4) = c.R32(1); c.Rip = c.R32(2);
        }
    }

    // ---- atomics ----

    public static void CmpxchgR<S>(IemCpu c, ref DecodedInstr d) where S : ISize
    {
        ulong acc = S.GetReg(c, 0), dst = S.GetReg(c, d.Rm);
        OpCmp.Do<S>(c, acc, dst);
        if (acc == dst) S.SetReg(c, d.Rm, S.GetReg(c, d.Reg));
        else S.SetReg(c, 0, dst);
    }

    public static void CmpxchgM<S>(IemCpu c, ref DecodedInstr d) where S : ISize
    {
        byte* p = c.MapRmw(d.Seg, c.Ea(ref d), S.Bits / 8);
        ulong acc = S.GetReg(c, 0), src = S.GetReg(c, d.Reg);
        ulong dst;
        if (c.RmwBounced || (d.Prefixes & Pfx.Lock) == 0)
        {
            if (c.RmwBounced)
            {
                lock (c.Machine.SplitLock) { dst = S.Load(p); S.Store(p, acc == dst ? src : dst); c.CommitRmw(); }
            }
            else { dst = S.Load(p); if (acc == dst) S.Store(p, src); }
        }
        else dst = S.Cas(p, src, acc);
        OpCmp.Do<S>(c, acc, dst);
        if (acc != dst) S.SetReg(c, 0, dst);
    }

    public static void XaddR<S>(IemCpu c, ref DecodedInstr d) where S : ISize
    {
        ulong a = S.GetReg(c, d.Rm), b = S.GetReg(c, d.Reg);
        ulong r = OpAdd.Do<S>(c, a, b);
        S.SetReg(c, d.Reg, a);
        S.SetReg(c, d.Rm, r);
    }

    public static void XaddM<S>(IemCpu c, ref DecodedInstr d) where S : ISize
    {
        byte* p = c.MapRmw(d.Seg, c.Ea(ref d), S.Bits / 8);
        ulong b = S.GetReg(c, d.Reg);
        ulong old;
        if (c.RmwBounced)
        {
            lock (c.Machine.SplitLock) { old = S.Load(p); S.Store(p, OpAdd.Do<S>(c, old, b)); c.CommitRmw(); }
        }
        else if ((d.Prefixes & Pfx.Lock) == 0) { old = S.Load(p); S.Store(p, OpAdd.Do<S>(c, old, b)); }
        else
        {
            while (true)
            {
                old = S.Load(p);
                ulong r = OpAdd.Do<S>(c, old, b);
                if (S.Cas(p, r, old) == old) break;
            }
        }
        S.SetReg(c, d.Reg, old);
    }

    /// <summary>Group 9 (0F C7): CMPXCHG8B/16B (/1 memory); everything else here is #UD (RDRAND etc. are not advertised).</summary>
    public static void Group9(IemCpu c, ref DecodedInstr d)
    {
        if (!d.IsMem || d.ModRmReg != 1) c.RaiseUd();
        ulong ea = c.Ea(ref d);
        if ((d.Prefixes & Pfx.RexW) != 0)
        {
            if (!c.Model.Has1Ecx(CpuModel.Cx16)) c.RaiseUd();
            if (((c.Segs[d.Seg].Base + ea) & 15) != 0) c.RaiseGp0();
            byte* p = c.MapRmw(d.Seg, ea, 16);
            ulong lo, hi;
            lock (c.Machine.SplitLock)
            {
                lo = *(ulong*)p; hi = *(ulong*)(p + 8);
                bool eq = lo == c.R(0) && hi == c.R(2);
                if (eq) { *(ulong*)p = c.R(3); *(ulong*)(p + 8) = c.R(1); }
                c.CommitRmw();
                c.SetZF(eq);
            }
            if (c.ZF == 0) { c.R(0) = lo; c.R(2) = hi; }
        }
        else
        {
            byte* p = c.MapRmw(d.Seg, ea, 8);
            ulong expect = (ulong)c.R32(2) << 32 | c.R32(0);
            ulong repl = (ulong)c.R32(1) << 32 | c.R32(3);
            ulong found;
            if (c.RmwBounced)
            {
                lock (c.Machine.SplitLock) { found = *(ulong*)p; if (found == expect) *(ulong*)p = repl; c.CommitRmw(); }
            }
            else found = System.Threading.Interlocked.CompareExchange(ref *(ulong*)p, repl, expect);
            c.SetZF(found == expect);
            if (found != expect) { c.SetR32(0, (uint)found); c.SetR32(2, (uint)(found >> 32)); }
        }
    }

    // ---- group 15 (0F AE): fences, CLFLUSH, FS/GS base; FXSAVE & co. belong to the FPU handlers ----

    public static void Group15(IemCpu c, ref DecodedInstr d)
    {
        int reg = d.ModRmReg;
        if (!d.IsMem)
        {
            if ((d.Prefixes & Pfx.Rep) != 0 && reg <= 3) { FsGsBase(c, ref d, reg); return; }
            if ((d.Prefixes & (Pfx.Rep | Pfx.RepNe | Pfx.OpSize)) == 0 && reg >= 5) { Interlocked.MemoryBarrier(); return; }
            c.RaiseUd();
        }
        if (reg == 7 && (d.Prefixes & (Pfx.Rep | Pfx.RepNe | Pfx.OpSize)) == 0)
        {
            c.ReadU8(d.Seg, c.Ea(ref d));   // CLFLUSH: faults like a byte read, no other effect
            return;
        }
        SseUnavailable(c, ref d);
    }

    private static void FsGsBase(IemCpu c, ref DecodedInstr d, int reg)
    {
        if (c.Mode != CodeMode.Bits64 || (c.Cr4 & Cr4.FSGSBASE) == 0) c.RaiseUd();
        int seg = (reg & 1) == 0 ? SegIdx.FS : SegIdx.GS;
        bool w = (d.Prefixes & Pfx.RexW) != 0;
        if (reg < 2)
        {
            ulong v = c.Segs[seg].ArchBase;
            if (w) c.R(d.Rm) = v; else c.SetR32(d.Rm, (uint)v);
        }
        else
        {
            ulong v = w ? c.R(d.Rm) : c.R32(d.Rm);
            if (!c.IsCanonical(v)) c.RaiseGp0();
            c.Segs[seg].ArchBase = v;
            c.RecomputeSeg(seg);
        }
    }
}
