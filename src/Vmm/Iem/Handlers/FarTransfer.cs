using SharpBox.Vmm.Cpum;

namespace SharpBox.Vmm.Iem;

// Far JMP/CALL (code segments, call gates, task gates, TSSs), RETF and IRET in every mode.
public static unsafe partial class Handlers
{
    public static void JmpFarImm(IemCpu c, ref DecodedInstr d) => c.FarJump(d.Imm2, d.Imm, d.OpSize);

    public static void JmpFarMem(IemCpu c, ref DecodedInstr d)
    {
        if (!d.IsMem) c.RaiseUd();
        ReadFarPointer(c, ref d, out ushort sel, out ulong off);
        c.FarJump(sel, off, d.OpSize);
    }

    public static void CallFarImm(IemCpu c, ref DecodedInstr d) => c.FarCall(d.Imm2, d.Imm, d.OpSize);

    public static void CallFarMem(IemCpu c, ref DecodedInstr d)
    {
        if (!d.IsMem) c.RaiseUd();
        ReadFarPointer(c, ref d, out ushort sel, out ulong off);
        c.FarCall(sel, off, d.OpSize);
    }

    /// <summary>m16:16, m16:32 or m16:64 (REX.W) — offset first, then the selector.</summary>
    private static void ReadFarPointer(IemCpu c, ref DecodedInstr d, out ushort sel, out ulong off)
    {
        ulong ea = c.Ea(ref d);
        off = c.ReadSized(d.Seg, ea, d.OpSize);
        sel = c.ReadU16(d.Seg, (ea + d.OpSize) & (ulong.MaxValue >> d.AddrShift));
    }

    public static void Retf(IemCpu c, ref DecodedInstr d) => c.FarReturn(d.OpSize, d.Opcode == 0xCA ? (ushort)d.Imm : (ushort)0);

    public static void Iret(IemCpu c, ref DecodedInstr d) => c.InterruptReturn(d.OpSize);
}

public enum TaskSwitchSource { Jmp, Call, Interrupt, Iret }

public sealed unsafe partial class IemCpu
{
    private void LoadCsReal(ushort sel)
    {
        ref SegCache cs = ref Segs[SegIdx.CS];
        cs.Sel = sel; cs.ArchBase = (ulong)sel << 4;
        if (V86Mode) { cs.Limit = 0xFFFF; cs.Attr = SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.CodeReadable | SegAttr.Accessed | (3u << 5); }
        ModeChanged();
    }

    private void LoadCsDesc(ushort sel, in Descriptor d, int cpl)
    {
        var dd = d;
        SetDescriptorAccessed(sel, ref dd);
        ref SegCache cs = ref Segs[SegIdx.CS];
        cs.Sel = (ushort)((sel & 0xFFFC) | cpl); cs.ArchBase = dd.Base; cs.Limit = dd.Limit; cs.Attr = dd.Attr;
        ModeChanged();
    }

    /// <summary>Checks an offset against a code descriptor that is about to be loaded (limit, or canonical for 64-bit code).</summary>
    private ulong CheckTarget(in Descriptor d, ulong off, int opSize)
    {
        bool to64 = LongModeActive && d.L;
        if (to64) { if (!IsCanonical(off)) RaiseGp0(); return off; }
        off = opSize == 2 ? (ushort)off : (uint)off;
        if (off > d.Limit) RaiseGp0();
        return off;
    }

    /// <summary>Code-segment checks shared by JMP/CALL: returns the descriptor (raises #GP/#NP).</summary>
    private Descriptor CheckDirectCode(ushort sel, in Descriptor d)
    {
        if (!d.IsCode) RaiseXcpt(Xcpt.GP, sel & 0xFFFC);
        if (d.Conforming) { if (d.Dpl > Cpl) RaiseXcpt(Xcpt.GP, sel & 0xFFFC); }
        else if ((sel & 3) > Cpl || d.Dpl != Cpl) RaiseXcpt(Xcpt.GP, sel & 0xFFFC);
        if (!d.Present) RaiseXcpt(Xcpt.NP, sel & 0xFFFC);
        if (LongModeActive && d.L && d.DB) RaiseXcpt(Xcpt.GP, sel & 0xFFFC);
        return d;
    }

    /// <summary>Reads and checks a call gate (16/32-bit, or the 16-byte 64-bit gate in long mode).</summary>
    private Descriptor ReadCallGate(ushort sel, in Descriptor g0, out Descriptor target, out ushort tsel, out ulong off)
    {
        var g = g0;
        if (g.Dpl < Cpl || g.Dpl < (sel & 3)) RaiseXcpt(Xcpt.GP, sel & 0xFFFC);
        if (!g.Present) RaiseXcpt(Xcpt.NP, sel & 0xFFFC);
        if (LongModeActive)
        {
            g = ReadDescriptor16(sel);
            if (((g.High >> 40) & 0x1F) != 0) RaiseXcpt(Xcpt.GP, sel & 0xFFFC);
        }
        tsel = g.GateSelector;
        off = LongModeActive ? g.GateOffset | (g.High << 32) : g.Type == 4 ? g.GateOffset & 0xFFFF : g.GateOffset;
        if ((tsel & 0xFFFC) == 0) RaiseGp0();
        target = ReadDescriptor(tsel);
        if (!target.IsCode || target.Dpl > Cpl) RaiseXcpt(Xcpt.GP, tsel & 0xFFFC);
        if (!target.Present) RaiseXcpt(Xcpt.NP, tsel & 0xFFFC);
        if (LongModeActive && (!target.L || target.DB)) RaiseXcpt(Xcpt.GP, tsel & 0xFFFC);
        return g;
    }

    public void FarJump(ushort sel, ulong off, int opSize)
    {
        if (!ProtectedMode || V86Mode)
        {
            off &= Handlers.SizeMask(opSize == 8 ? 4 : opSize);
            if (off > Segs[SegIdx.CS].Limit && !V86Mode) RaiseGp0();
            if (V86Mode && off > 0xFFFF) RaiseGp0();
            LoadCsReal(sel);
            Rip = off;
            return;
        }
        if ((sel & 0xFFFC) == 0) RaiseGp0();
        var d = ReadDescriptor(sel);
        if (d.S)
        {
            CheckDirectCode(sel, d);
            off = CheckTarget(d, off, opSize);
            LoadCsDesc(sel, d, Cpl);
            Rip = off;
            return;
        }
        int type = d.Type;
        if (LongModeActive ? type == 12 : type is 4 or 12)
        {
            ReadCallGate(sel, d, out var target, out ushort tsel, out ulong goff);
            if (target.Conforming ? target.Dpl > Cpl : target.Dpl != Cpl) RaiseXcpt(Xcpt.GP, tsel & 0xFFFC);
            goff = CheckTarget(target, goff, type == 4 ? 2 : 4);
            LoadCsDesc(tsel, target, Cpl);
            Rip = goff;
            return;
        }
        if (!LongModeActive && type is 5 or 1 or 9)
        {
            if (d.Dpl < Cpl || d.Dpl < (sel & 3)) RaiseXcpt(Xcpt.GP, sel & 0xFFFC);
            if (!d.Present) RaiseXcpt(Xcpt.NP, sel & 0xFFFC);
            TaskSwitch(type == 5 ? d.GateSelector : sel, TaskSwitchSource.Jmp, 0, false, 0);
            return;
        }
        RaiseXcpt(Xcpt.GP, sel & 0xFFFC);
    }

    public void FarCall(ushort sel, ulong off, int opSize)
    {
        ushort oldCs = Segs[SegIdx.CS].Sel;
        ulong ret = Rip;
        if (!ProtectedMode || V86Mode)
        {
            off &= Handlers.SizeMask(opSize == 8 ? 4 : opSize);
            if (off > Segs[SegIdx.CS].Limit && !V86Mode) RaiseGp0();
            int ssz = StackAddrSize();
            ulong sp = PushTo(R(4), ssz, opSize, oldCs);
            sp = PushTo(sp, ssz, opSize, ret);
            CommitSp(sp, ssz);
            LoadCsReal(sel);
            Rip = off;
            return;
        }
        if ((sel & 0xFFFC) == 0) RaiseGp0();
        var d = ReadDescriptor(sel);
        if (d.S)
        {
            CheckDirectCode(sel, d);
            off = CheckTarget(d, off, opSize);
            int ssz = StackAddrSize();
            ulong sp = PushTo(R(4), ssz, opSize, oldCs);
            sp = PushTo(sp, ssz, opSize, ret);
            CommitSp(sp, ssz);
            LoadCsDesc(sel, d, Cpl);
            Rip = off;
            return;
        }
        int type = d.Type;
        if (LongModeActive ? type == 12 : type is 4 or 12)
        {
            var g = ReadCallGate(sel, d, out var target, out ushort tsel, out ulong goff);
            int gsize = LongModeActive ? 8 : type == 4 ? 2 : 4;
            goff = CheckTarget(target, goff, gsize);
            if (!target.Conforming && target.Dpl < Cpl)
            {
                int newCpl = target.Dpl;
                ushort oldSs = Segs[SegIdx.SS].Sel;
                ulong oldSp = R(4);
                if (LongModeActive)
                {
                    ulong nsp = ReadTss64((uint)(4 + newCpl * 8), 0);
                    if (!IsCanonical(nsp)) RaiseXcpt(Xcpt.SS, 0);
                    ulong p = nsp;
                    p -= 8; WriteLinearSup(p, 8, oldSs);
                    p -= 8; WriteLinearSup(p, 8, oldSp);
                    p -= 8; WriteLinearSup(p, 8, oldCs);
                    p -= 8; WriteLinearSup(p, 8, ret);
                    SetSegNull(SegIdx.SS, (ushort)newCpl);
                    LoadCsDesc(tsel, target, newCpl);
                    R(4) = p;
                    Rip = goff;
                    return;
                }
                GetTssStack(newCpl, 0, out ushort nss, out ulong nesp);
                var ssd = CheckNewStack(nss, newCpl, 0);
                bool ss32 = ssd.DB;
                int pc = g.GateParamCount;
                // Parameters are read from the caller's stack before anything changes.
                Span<ulong> prm = stackalloc ulong[32];
                for (int i = 0; i < pc; i++) prm[i] = PeekStack(gsize, (ulong)(i * gsize));
                ulong p2 = ss32 ? (uint)nesp : (ushort)nesp;
                ulong bse = ssd.Base;
                void W(ref ulong pp, ulong v)
                {
                    pp = ss32 ? (uint)(pp - (ulong)gsize) : (ushort)(pp - (ulong)gsize);
                    WriteLinearSup(bse + pp, gsize, v);
                }
                W(ref p2, oldSs);
                W(ref p2, oldSp);
                for (int i = pc - 1; i >= 0; i--) W(ref p2, prm[i]);
                W(ref p2, oldCs);
                W(ref p2, ret);
                SetDescriptorAccessed(nss, ref ssd);
                Segs[SegIdx.SS].Sel = (ushort)((nss & 0xFFFC) | newCpl); Segs[SegIdx.SS].ArchBase = ssd.Base;
                Segs[SegIdx.SS].Limit = ssd.Limit; Segs[SegIdx.SS].Attr = ssd.Attr;
                if (ss32) R(4) = (uint)p2; else R16(4) = (ushort)p2;
                LoadCsDesc(tsel, target, newCpl);
                Rip = goff;
                return;
            }
            {
                int ssz = StackAddrSize();
                ulong sp = PushTo(R(4), ssz, gsize, oldCs);
                sp = PushTo(sp, ssz, gsize, ret);
                CommitSp(sp, ssz);
                LoadCsDesc(tsel, target, Cpl);
                Rip = goff;
                return;
            }
        }
        if (!LongModeActive && type is 5 or 1 or 9)
        {
            if (d.Dpl < Cpl || d.Dpl < (sel & 3)) RaiseXcpt(Xcpt.GP, sel & 0xFFFC);
            if (!d.Present) RaiseXcpt(Xcpt.NP, sel & 0xFFFC);
            TaskSwitch(type == 5 ? d.GateSelector : sel, TaskSwitchSource.Call, 0, false, 0);
            return;
        }
        RaiseXcpt(Xcpt.GP, sel & 0xFFFC);
    }

    private void CommitSp(ulong sp, int ssz)
    {
        if (ssz == 8) R(4) = sp; else if (ssz == 4) R(4) = (uint)sp; else R16(4) = (ushort)sp;
    }

    public void FarReturn(int opSize, ushort imm)
    {
        ulong ip = PeekStack(opSize, 0);
        ushort sel = (ushort)PeekStack(opSize, (ulong)opSize);
        if (!ProtectedMode || V86Mode)
        {
            if (ip > Segs[SegIdx.CS].Limit && !V86Mode || (V86Mode && ip > 0xFFFF)) RaiseGp0();
            AdjustSp(2 * opSize + imm);
            LoadCsReal(sel);
            Rip = ip;
            return;
        }
        if ((sel & 0xFFFC) == 0) RaiseGp0();
        var d = ReadDescriptor(sel);
        int rpl = sel & 3;
        if (rpl < Cpl || !d.IsCode) RaiseXcpt(Xcpt.GP, sel & 0xFFFC);
        if (d.Conforming ? d.Dpl > rpl : d.Dpl != rpl) RaiseXcpt(Xcpt.GP, sel & 0xFFFC);
        if (!d.Present) RaiseXcpt(Xcpt.NP, sel & 0xFFFC);
        if (LongModeActive && d.L && d.DB) RaiseXcpt(Xcpt.GP, sel & 0xFFFC);
        if (rpl == Cpl)
        {
            ip = CheckTarget(d, ip, opSize);
            AdjustSp(2 * opSize + imm);
            LoadCsDesc(sel, d, Cpl);
            Rip = ip;
            return;
        }
        // Return to an outer level: SS:rSP follow the return address (after the immediate).
        ulong nsp = PeekStack(opSize, (ulong)(2 * opSize + imm));
        ushort nss = (ushort)PeekStack(opSize, (ulong)(3 * opSize + imm));
        Descriptor ssd = default;
        bool nullSs = (nss & 0xFFFC) == 0;
        if (nullSs)
        {
            if (!(LongModeActive && d.L && rpl != 3)) RaiseGp0();
        }
        else
        {
            ssd = ReadDescriptor(nss);
            if ((nss & 3) != rpl || !ssd.Writable || ssd.Dpl != rpl) RaiseXcpt(Xcpt.GP, nss & 0xFFFC);
            if (!ssd.Present) RaiseXcpt(Xcpt.SS, nss & 0xFFFC);
        }
        ip = CheckTarget(d, ip, opSize);
        LoadCsDesc(sel, d, rpl);
        if (nullSs) SetSegNull(SegIdx.SS, nss);
        else { SetDescriptorAccessed(nss, ref ssd); SetSegFromDescriptor(SegIdx.SS, nss, ssd); }
        int ssz = StackAddrSize();
        CommitSp(nsp + imm, ssz);
        NullifyInaccessibleSegs();
        Rip = ip;
    }

    public void InterruptReturn(int opSize)
    {
        NmiBlocked = false;
        if (!ProtectedMode)
        {
            ulong ip = PeekStack(opSize, 0);
            ushort sel = (ushort)PeekStack(opSize, (ulong)opSize);
            uint fl = (uint)PeekStack(opSize, (ulong)(2 * opSize));
            if (ip > Segs[SegIdx.CS].Limit) RaiseGp0();
            AdjustSp(3 * opSize);
            LoadCsReal(sel);
            Rip = ip;
            uint mask = opSize == 2 ? 0xFFFFu : RFlags.Writable & ~(RFlags.VM | RFlags.VIF | RFlags.VIP);
            WriteEflags(fl, mask & RFlags.Writable);
            return;
        }
        if (V86Mode)
        {
            if (Iopl < 3) RaiseGp0();
            ulong ip = PeekStack(opSize, 0);
            ushort sel = (ushort)PeekStack(opSize, (ulong)opSize);
            uint fl = (uint)PeekStack(opSize, (ulong)(2 * opSize));
            if (ip > 0xFFFF) RaiseGp0();
            AdjustSp(3 * opSize);
            LoadCsReal(sel);
            Rip = ip;
            uint mask = (opSize == 2 ? 0xFFFFu : RFlags.Writable) & ~(RFlags.IOPL | RFlags.VM | RFlags.VIF | RFlags.VIP);
            WriteEflags(fl, mask);
            return;
        }
        if (LongModeActive) { InterruptReturnLong(opSize); return; }
        if ((Eflags & RFlags.NT) != 0)
        {
            ushort back = (ushort)SysRead(Tr.Base, 2);
            TaskSwitch(back, TaskSwitchSource.Iret, 0, false, 0);
            return;
        }
        {
            ulong ip = PeekStack(opSize, 0);
            ushort sel = (ushort)PeekStack(opSize, (ulong)opSize);
            uint fl = (uint)PeekStack(opSize, (ulong)(2 * opSize));
            if (opSize == 2) fl = (fl & 0xFFFF) | (GetEflags() & 0xFFFF0000);
            if ((fl & RFlags.VM) != 0 && Cpl == 0 && opSize == 4)
            {
                // Return to virtual-8086 mode.
                ulong esp = PeekStack(4, 12); ushort ss = (ushort)PeekStack(4, 16);
                ushort es = (ushort)PeekStack(4, 20), ds = (ushort)PeekStack(4, 24);
                ushort fs = (ushort)PeekStack(4, 28), gs = (ushort)PeekStack(4, 32);
                SetEflagsAll(fl);
                var v86 = SegAttr.P | SegAttr.S | SegAttr.DataWritable | SegAttr.Accessed | (3u << 5);
                Segs[SegIdx.CS].Sel = sel; Segs[SegIdx.CS].ArchBase = (ulong)sel << 4; Segs[SegIdx.CS].Limit = 0xFFFF;
                Segs[SegIdx.CS].Attr = v86 | SegAttr.Code;
                void L(int s, ushort v) { Segs[s].Sel = v; Segs[s].ArchBase = (ulong)v << 4; Segs[s].Limit = 0xFFFF; Segs[s].Attr = v86; }
                L(SegIdx.SS, ss); L(SegIdx.ES, es); L(SegIdx.DS, ds); L(SegIdx.FS, fs); L(SegIdx.GS, gs);
                R(4) = (uint)esp;
                Rip = ip & 0xFFFF;
                ModeChanged();
                AfterFlagsChanged();
                return;
            }
            ReturnProtected(ip, sel, fl, opSize, popSsAlways: false);
        }
    }

    private void InterruptReturnLong(int opSize)
    {
        if ((Eflags & RFlags.NT) != 0) RaiseGp0();
        ulong ip = PeekStack(opSize, 0);
        ushort sel = (ushort)PeekStack(opSize, (ulong)opSize);
        uint fl = (uint)PeekStack(opSize, (ulong)(2 * opSize));
        if (opSize == 2) fl = (fl & 0xFFFF) | (GetEflags() & 0xFFFF0000);
        ReturnProtected(ip, sel, fl & ~RFlags.VM, opSize, popSsAlways: Mode == CodeMode.Bits64);
    }

    private void ReturnProtected(ulong ip, ushort sel, uint fl, int opSize, bool popSsAlways)
    {
        if ((sel & 0xFFFC) == 0) RaiseGp0();
        var d = ReadDescriptor(sel);
        int rpl = sel & 3;
        if (rpl < Cpl || !d.IsCode) RaiseXcpt(Xcpt.GP, sel & 0xFFFC);
        if (d.Conforming ? d.Dpl > rpl : d.Dpl != rpl) RaiseXcpt(Xcpt.GP, sel & 0xFFFC);
        if (!d.Present) RaiseXcpt(Xcpt.NP, sel & 0xFFFC);
        if (LongModeActive && d.L && d.DB) RaiseXcpt(Xcpt.GP, sel & 0xFFFC);
        int oldCpl = Cpl;
        uint mask = RFlags.Arith | RFlags.TF | RFlags.DF | RFlags.NT | RFlags.RF | RFlags.AC | RFlags.ID;
        if (oldCpl == 0) mask |= RFlags.IOPL | RFlags.VIF | RFlags.VIP;
        if (oldCpl <= Iopl) mask |= RFlags.IF;
        if (opSize == 2) mask &= 0xFFFF;
        if (rpl == Cpl && !popSsAlways)
        {
            ip = CheckTarget(d, ip, opSize);
            AdjustSp(3 * opSize);
            LoadCsDesc(sel, d, Cpl);
            Rip = ip;
            WriteEflags(fl, mask);
            return;
        }
        ulong nsp = PeekStack(opSize, (ulong)(3 * opSize));
        ushort nss = (ushort)PeekStack(opSize, (ulong)(4 * opSize));
        Descriptor ssd = default;
        bool nullSs = (nss & 0xFFFC) == 0;
        if (nullSs)
        {
            if (!(LongModeActive && d.L && rpl != 3)) RaiseGp0();
        }
        else
        {
            ssd = ReadDescriptor(nss);
            if ((nss & 3) != rpl || !ssd.Writable || ssd.Dpl != rpl) RaiseXcpt(Xcpt.GP, nss & 0xFFFC);
            if (!ssd.Present) RaiseXcpt(Xcpt.SS, nss & 0xFFFC);
        }
        ip = CheckTarget(d, ip, opSize);
        LoadCsDesc(sel, d, rpl);
        if (nullSs) SetSegNull(SegIdx.SS, nss);
        else { SetDescriptorAccessed(nss, ref ssd); SetSegFromDescriptor(SegIdx.SS, nss, ssd); }
        if (Mode == CodeMode.Bits64) R(4) = nsp;
        else CommitSp(nsp, StackAddrSize());
        if (rpl > oldCpl) NullifyInaccessibleSegs();
        Rip = ip;
        WriteEflags(fl, mask);
    }

    // ======================= task switch =======================

    /// <summary>Hardware task switch (32- and 16-bit TSS) as JMP/CALL/INT/IRET perform it.</summary>
    internal void TaskSwitch(ushort sel, TaskSwitchSource src, int ext, bool hasErr, int errorCode)
    {
        if ((sel & 4) != 0) RaiseXcpt(Xcpt.GP, (sel & 0xFFFC) | ext);
        var nd = ReadDescriptor(sel, Xcpt.GP, ext);
        int ntype = nd.Type;
        bool busyOk = src == TaskSwitchSource.Iret;
        if (nd.S || (ntype & 5) != 1 || ((ntype & 2) != 0) != busyOk) RaiseXcpt(src == TaskSwitchSource.Iret ? Xcpt.TS : Xcpt.GP, (sel & 0xFFFC) | ext);
        if (!nd.Present) RaiseXcpt(Xcpt.NP, (sel & 0xFFFC) | ext);
        bool new32 = (ntype & 8) != 0;
        uint minLimit = new32 ? 0x67u : 0x2Bu;
        if (nd.Limit < minLimit) RaiseXcpt(Xcpt.TS, (sel & 0xFFFC) | ext);
        ulong nb = nd.Base;
        bool old32 = (Tr.Attributes & 8) != 0;
        ulong ob = Tr.Base;
        uint fl = GetEflags();
        if (src == TaskSwitchSource.Iret) fl &= ~RFlags.NT;

        // Read everything from the new TSS first (faults here leave the old task intact).
        uint nCr3 = 0, nEip, nFl; ushort nLdt;
        Span<uint> nRegs = stackalloc uint[8];
        Span<ushort> nSegs = stackalloc ushort[6];
        if (new32)
        {
            nCr3 = (uint)SysRead(nb + 0x1C, 4);
            nEip = (uint)SysRead(nb + 0x20, 4);
            nFl = (uint)SysRead(nb + 0x24, 4);
            for (int i = 0; i < 8; i++) nRegs[i] = (uint)SysRead(nb + 0x28 + (ulong)i * 4, 4);
            for (int i = 0; i < 6; i++) nSegs[i] = (ushort)SysRead(nb + 0x48 + (ulong)i * 4, 2);
            nLdt = (ushort)SysRead(nb + 0x60, 2);
        }
        else
        {
            nEip = (uint)SysRead(nb + 0x0E, 2);
            nFl = (uint)SysRead(nb + 0x10, 2) | (fl & 0xFFFF0000 & ~(RFlags.VM | RFlags.RF));
            for (int i = 0; i < 8; i++) nRegs[i] = (uint)SysRead(nb + 0x12 + (ulong)i * 2, 2) | (R32(i) & 0xFFFF0000);
            for (int i = 0; i < 4; i++) nSegs[i] = (ushort)SysRead(nb + 0x22 + (ulong)i * 2, 2);
            nLdt = (ushort)SysRead(nb + 0x2A, 2);
        }

        // Save the outgoing task.
        ulong retIp = Rip;
        if (old32)
        {
            SysWrite(ob + 0x20, 4, (uint)retIp);
            SysWrite(ob + 0x24, 4, fl);
            for (int i = 0; i < 8; i++) SysWrite(ob + 0x28 + (ulong)i * 4, 4, R32(i));
            for (int i = 0; i < 6; i++) SysWrite(ob + 0x48 + (ulong)i * 4, 2, Segs[i].Sel);
        }
        else
        {
            SysWrite(ob + 0x0E, 2, (ushort)retIp);
            SysWrite(ob + 0x10, 2, (ushort)fl);
            for (int i = 0; i < 8; i++) SysWrite(ob + 0x12 + (ulong)i * 2, 2, (ushort)R(i));
            for (int i = 0; i < 4; i++) SysWrite(ob + 0x22 + (ulong)i * 2, 2, Segs[i].Sel);
        }
        if (src is TaskSwitchSource.Jmp or TaskSwitchSource.Iret)
        {
            // Clear the old TSS's busy bit.
            ulong od = Gdtr.Base + (uint)(Tr.Selector & 0xFFF8) + 5;
            SysWrite(od, 1, SysRead(od, 1) & ~2UL);
        }
        if (src is TaskSwitchSource.Call or TaskSwitchSource.Interrupt)
        {
            SysWrite(nb, 2, Tr.Selector);
            nFl |= RFlags.NT;
        }
        if (src != TaskSwitchSource.Iret)
        {
            ulong ndAddr = Gdtr.Base + (uint)(sel & 0xFFF8) + 5;
            SysWrite(ndAddr, 1, SysRead(ndAddr, 1) | 2UL);
            nd.Raw |= 2UL << 40;
        }
        Tr = new SegmentRegister(sel, nb, nd.Limit, nd.Attr);
        Cr0 |= Cpum.Cr0.TS;

        // Load the incoming task's state.
        if (new32 && PagingEnabled && nCr3 != (uint)Cr3) { Cr3 = nCr3; FlushTlb(false); }
        for (int i = 0; i < 8; i++) { if (new32) SetR32(i, nRegs[i]); else R16(i) = (ushort)nRegs[i]; }
        SetEflagsAll(nFl | RFlags.Fixed1);
        Rip = new32 ? nEip : nEip & 0xFFFF;
        // Selectors first (so a fault is reported in the new task's context), then descriptors.
        for (int i = 0; i < (new32 ? 6 : 4); i++) { Segs[i].Sel = nSegs[i]; }
        Ldtr.Selector = nLdt;
        if (V86Mode)
        {
            for (int i = 0; i < 6; i++)
            {
                Segs[i].ArchBase = (ulong)nSegs[i] << 4; Segs[i].Limit = 0xFFFF;
                Segs[i].Attr = SegAttr.P | SegAttr.S | SegAttr.DataWritable | SegAttr.Accessed | (3u << 5) | (i == SegIdx.CS ? SegAttr.Code : 0);
            }
            ModeChanged();
        }
        else
        {
            // LDT
            if ((nLdt & 0xFFFC) == 0) Ldtr = new SegmentRegister(nLdt, 0, 0, SegAttr.Unusable);
            else
            {
                if ((nLdt & 4) != 0) RaiseXcpt(Xcpt.TS, nLdt & 0xFFFC);
                var ld = ReadDescriptor(nLdt, Xcpt.TS);
                if (ld.S || ld.Type != 2) RaiseXcpt(Xcpt.TS, nLdt & 0xFFFC);
                if (!ld.Present) RaiseXcpt(Xcpt.TS, nLdt & 0xFFFC);
                Ldtr = new SegmentRegister(nLdt, ld.Base, ld.Limit, ld.Attr);
            }
            // CS decides the new CPL.
            ushort cs = nSegs[SegIdx.CS];
            if ((cs & 0xFFFC) == 0) RaiseXcpt(Xcpt.TS, cs & 0xFFFC);
            var csd = ReadDescriptor(cs, Xcpt.TS);
            if (!csd.IsCode || (csd.Conforming ? csd.Dpl > (cs & 3) : csd.Dpl != (cs & 3))) RaiseXcpt(Xcpt.TS, cs & 0xFFFC);
            if (!csd.Present) RaiseXcpt(Xcpt.NP, cs & 0xFFFC);
            SetDescriptorAccessed(cs, ref csd);
            Segs[SegIdx.CS].ArchBase = csd.Base; Segs[SegIdx.CS].Limit = csd.Limit; Segs[SegIdx.CS].Attr = csd.Attr;
            ModeChanged();
            int cpl = cs & 3;
            ushort ss = nSegs[SegIdx.SS];
            if ((ss & 0xFFFC) == 0) RaiseXcpt(Xcpt.TS, 0);
            var ssd = ReadDescriptor(ss, Xcpt.TS);
            if (!ssd.Writable || ssd.Dpl != cpl || (ss & 3) != cpl) RaiseXcpt(Xcpt.TS, ss & 0xFFFC);
            if (!ssd.Present) RaiseXcpt(Xcpt.SS, ss & 0xFFFC);
            SetDescriptorAccessed(ss, ref ssd);
            SetSegFromDescriptor(SegIdx.SS, ss, ssd);
            for (int i = 0; i < (new32 ? 6 : 4); i++)
            {
                if (i == SegIdx.CS || i == SegIdx.SS) continue;
                ushort s = nSegs[i];
                if ((s & 0xFFFC) == 0) { SetSegNull(i, s); continue; }
                var sd = ReadDescriptor(s, Xcpt.TS);
                if (!sd.S || (sd.IsCode && !sd.Readable)) RaiseXcpt(Xcpt.TS, s & 0xFFFC);
                if ((sd.IsData || !sd.Conforming) && ((s & 3) > sd.Dpl || cpl > sd.Dpl)) RaiseXcpt(Xcpt.TS, s & 0xFFFC);
                if (!sd.Present) RaiseXcpt(Xcpt.NP, s & 0xFFFC);
                SetDescriptorAccessed(s, ref sd);
                SetSegFromDescriptor(i, s, sd);
            }
        }
        if (Rip > Segs[SegIdx.CS].Limit) RaiseGp0();
        AfterFlagsChanged();
        if (hasErr) Push(new32 ? 4 : 2, (uint)errorCode);
    }
}
