using SharpBox.Vmm.Cpum;

namespace SharpBox.Vmm.Iem;

// Near branches (Jcc, JMP, CALL, RET, LOOPcc, JrCXZ), software interrupts and BOUND. Far
// transfers and IRET are in FarTransfer.cs.
public static unsafe partial class Handlers
{
    /// <summary>Sets RIP to a near target: truncated to the operand size, then CS-limit (or canonical) checked.</summary>
    internal static void NearJump(IemCpu c, ulong target, int opSize)
    {
        if (opSize == 2) target = (ushort)target;
        else if (opSize == 4) target = (uint)target;
        if (c.Mode == CodeMode.Bits64)
        {
            if (!c.IsCanonical(target)) c.RaiseGp0();
        }
        else if (target > c.Segs[SegIdx.CS].Limit) c.RaiseGp0();
        c.Rip = target;
    }

    public static void Jcc(IemCpu c, ref DecodedInstr d)
    {
        if (c.Cond(d.Opcode & 15)) NearJump(c, c.Rip + (ulong)d.Disp, d.OpSize);
    }

    /// <summary>Jcc specialised per condition; in 64-bit mode the target only needs the canonical check.</summary>
    public static void JccT<C>(IemCpu c, ref DecodedInstr d) where C : ICond
    {
        if (!C.Eval(c)) return;
        ulong t = c.Rip + (ulong)d.Disp;
        if (d.OpSize == 8)
        {
            if ((ulong)(((long)t << 16) >> 16) != t) c.RaiseGp0();
            c.Rip = t;
        }
        else NearJump(c, t, d.OpSize);
    }

    public static void JmpRel(IemCpu c, ref DecodedInstr d) => NearJump(c, c.Rip + (ulong)d.Disp, d.OpSize);

    public static void CallRel(IemCpu c, ref DecodedInstr d)
    {
        ulong ret = c.Rip;
        ulong target = c.Rip + (ulong)d.Disp;
        ulong t = d.OpSize == 2 ? (ushort)target : d.OpSize == 4 ? (uint)target : target;
        if (c.Mode == CodeMode.Bits64 ? !c.IsCanonical(t) : t > c.Segs[SegIdx.CS].Limit) c.RaiseGp0();
        c.Push(d.OpSize, ret & SizeMask(d.OpSize));
        c.Rip = t;
    }

    public static void JmpInd(IemCpu c, ref DecodedInstr d)
    {
        ulong t = d.IsMem ? c.ReadSized(d.Seg, c.Ea(ref d), d.OpSize) : c.R(d.Rm);
        NearJump(c, t, d.OpSize);
    }

    public static void CallInd(IemCpu c, ref DecodedInstr d)
    {
        ulong t = d.IsMem ? c.ReadSized(d.Seg, c.Ea(ref d), d.OpSize) : c.R(d.Rm);
        t &= SizeMask(d.OpSize);
        if (c.Mode == CodeMode.Bits64 ? !c.IsCanonical(t) : t > c.Segs[SegIdx.CS].Limit) c.RaiseGp0();
        c.Push(d.OpSize, c.Rip & SizeMask(d.OpSize));
        c.Rip = t;
    }

    public static void Ret(IemCpu c, ref DecodedInstr d)
    {
        ulong t = c.PeekStack(d.OpSize, 0);
        if (c.Mode == CodeMode.Bits64 ? !c.IsCanonical(t) : t > c.Segs[SegIdx.CS].Limit) c.RaiseGp0();
        c.AdjustSp(d.OpSize + (long)(d.Opcode == 0xC2 ? d.Imm & 0xFFFF : 0));
        c.Rip = t;
    }

    /// <summary>The count register by address size.</summary>
    private static ulong CountReg(IemCpu c, int addrSize) => addrSize == 8 ? c.R(1) : addrSize == 4 ? c.R32(1) : c.R16(1);

    private static ulong DecCount(IemCpu c, int addrSize)
    {
        if (addrSize == 8) return --c.R(1);
        if (addrSize == 4) { uint v = c.R32(1) - 1; c.SetR32(1, v); return v; }
        return --c.R16(1);
    }

    public static void Loop(IemCpu c, ref DecodedInstr d)
    {
        ulong n = DecCount(c, d.AddrSize);
        bool take = n != 0 && (d.Opcode switch { 0xE0 => c.ZF == 0, 0xE1 => c.ZF != 0, _ => true });
        if (take) NearJump(c, c.Rip + (ulong)d.Disp, d.OpSize);
    }

    public static void Jcxz(IemCpu c, ref DecodedInstr d)
    {
        if (CountReg(c, d.AddrSize) == 0) NearJump(c, c.Rip + (ulong)d.Disp, d.OpSize);
    }

    // ---- software interrupts ----

    public static void Int(IemCpu c, ref DecodedInstr d) => c.DeliverEvent((byte)d.Imm, EventType.Software, 0, false);

    public static void Int3(IemCpu c, ref DecodedInstr d) => c.DeliverEvent(Xcpt.BP, EventType.SoftwareException, 0, false);

    public static void Into(IemCpu c, ref DecodedInstr d)
    {
        if (c.OF != 0) c.DeliverEvent(Xcpt.OF, EventType.SoftwareException, 0, false);
    }

    public static void Int1(IemCpu c, ref DecodedInstr d) => c.DeliverEvent(Xcpt.DB, EventType.PrivilegedSoftware, 0, false);

    /// <summary>BOUND Gv, Ma: #BR (a fault) when the index is outside [lower, upper].</summary>
    public static void Bound(IemCpu c, ref DecodedInstr d)
    {
        if (!d.IsMem) c.RaiseUd();
        ulong ea = c.Ea(ref d);
        long idx, lo, hi;
        if (d.OpSize == 2)
        {
            idx = (short)c.R16(d.Reg);
            lo = (short)c.ReadU16(d.Seg, ea); hi = (short)c.ReadU16(d.Seg, (ea + 2) & (ulong.MaxValue >> d.AddrShift));
        }
        else
        {
            idx = (int)c.R32(d.Reg);
            lo = (int)c.ReadU32(d.Seg, ea); hi = (int)c.ReadU32(d.Seg, (ea + 4) & (ulong.MaxValue >> d.AddrShift));
        }
        if (idx < lo || idx > hi) c.RaiseXcpt(Xcpt.BR);
    }
}
