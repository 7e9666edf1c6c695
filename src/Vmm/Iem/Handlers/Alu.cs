using System.Runtime.CompilerServices;
using SharpBox.Vmm.Cpum;

namespace SharpBox.Vmm.Iem;

/// <summary>A two-operand ALU operation: computes the result and sets the lazy flags.</summary>
public interface IAluOp
{
    static abstract bool Store { get; }
    static abstract ulong Do<S>(IemCpu c, ulong a, ulong b) where S : ISize;
}

public struct OpAdd : IAluOp
{
    public static bool Store => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Do<S>(IemCpu c, ulong a, ulong b) where S : ISize { ulong r = (a + b) & S.Mask; c.FlagsAdd<S>(a, b, r); return r; }
}
public struct OpOr : IAluOp
{
    public static bool Store => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Do<S>(IemCpu c, ulong a, ulong b) where S : ISize { ulong r = a | b; c.FlagsLogic<S>(r); return r; }
}
public struct OpAdc : IAluOp
{
    public static bool Store => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Do<S>(IemCpu c, ulong a, ulong b) where S : ISize { ulong r = (a + b + c.CF) & S.Mask; c.FlagsAdd<S>(a, b, r); return r; }
}
public struct OpSbb : IAluOp
{
    public static bool Store => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Do<S>(IemCpu c, ulong a, ulong b) where S : ISize { ulong r = (a - b - c.CF) & S.Mask; c.FlagsSub<S>(a, b, r); return r; }
}
public struct OpAnd : IAluOp
{
    public static bool Store => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Do<S>(IemCpu c, ulong a, ulong b) where S : ISize { ulong r = a & b; c.FlagsLogic<S>(r); return r; }
}
public struct OpSub : IAluOp
{
    public static bool Store => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Do<S>(IemCpu c, ulong a, ulong b) where S : ISize { ulong r = (a - b) & S.Mask; c.FlagsSub<S>(a, b, r); return r; }
}
public struct OpXor : IAluOp
{
    public static bool Store => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Do<S>(IemCpu c, ulong a, ulong b) where S : ISize { ulong r = a ^ b; c.FlagsLogic<S>(r); return r; }
}
public struct OpCmp : IAluOp
{
    public static bool Store => false;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Do<S>(IemCpu c, ulong a, ulong b) where S : ISize { ulong r = (a - b) & S.Mask; c.FlagsSub<S>(a, b, r); return r; }
}
public struct OpTest : IAluOp
{
    public static bool Store => false;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Do<S>(IemCpu c, ulong a, ulong b) where S : ISize { ulong r = a & b; c.FlagsLogic<S>(r); return r; }
}

public static unsafe partial class Handlers
{
    // ---- ALU: rm op= reg / reg op= rm / rm op= imm ----

    public static void AluRR<Op, S>(IemCpu c, ref DecodedInstr d) where Op : IAluOp where S : ISize
    {
        ulong r = Op.Do<S>(c, S.GetReg(c, d.Rm), S.GetReg(c, d.Reg));
        if (Op.Store) S.SetReg(c, d.Rm, r);
    }

    public static void AluMR<Op, S>(IemCpu c, ref DecodedInstr d) where Op : IAluOp where S : ISize
    {
        ulong ea = c.Ea(ref d);
        if (!Op.Store) { Op.Do<S>(c, S.Read(c, d.Seg, ea), S.GetReg(c, d.Reg)); return; }
        byte* p = c.MapRmw(d.Seg, ea, S.Bits / 8);
        S.Store(p, Op.Do<S>(c, S.Load(p), S.GetReg(c, d.Reg)));
        c.CommitRmw();
    }

    public static void AluLockMR<Op, S>(IemCpu c, ref DecodedInstr d) where Op : IAluOp where S : ISize
    {
        byte* p = c.MapRmw(d.Seg, c.Ea(ref d), S.Bits / 8);
        ulong b = S.GetReg(c, d.Reg);
        AtomicRmw<Op, S>(c, p, b);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AtomicRmw<Op, S>(IemCpu c, byte* p, ulong b) where Op : IAluOp where S : ISize
    {
        if (c.RmwBounced)
        {
            lock (c.Machine.SplitLock) { S.Store(p, Op.Do<S>(c, S.Load(p), b)); c.CommitRmw(); }
            return;
        }
        while (true)
        {
            ulong old = S.Load(p);
            ulong r = Op.Do<S>(c, old, b);
            if (S.Cas(p, r, old) == old) return;
        }
    }

    public static void AluRegRm<Op, S>(IemCpu c, ref DecodedInstr d) where Op : IAluOp where S : ISize
    {
        ulong r = Op.Do<S>(c, S.GetReg(c, d.Reg), S.GetReg(c, d.Rm));
        if (Op.Store) S.SetReg(c, d.Reg, r);
    }

    public static void AluRegMem<Op, S>(IemCpu c, ref DecodedInstr d) where Op : IAluOp where S : ISize
    {
        ulong r = Op.Do<S>(c, S.GetReg(c, d.Reg), S.Read(c, d.Seg, c.Ea(ref d)));
        if (Op.Store) S.SetReg(c, d.Reg, r);
    }

    public static void AluRI<Op, S>(IemCpu c, ref DecodedInstr d) where Op : IAluOp where S : ISize
    {
        ulong r = Op.Do<S>(c, S.GetReg(c, d.Rm), d.Imm & S.Mask);
        if (Op.Store) S.SetReg(c, d.Rm, r);
    }

    public static void AluMI<Op, S>(IemCpu c, ref DecodedInstr d) where Op : IAluOp where S : ISize
    {
        ulong ea = c.Ea(ref d);
        if (!Op.Store) { Op.Do<S>(c, S.Read(c, d.Seg, ea), d.Imm & S.Mask); return; }
        byte* p = c.MapRmw(d.Seg, ea, S.Bits / 8);
        S.Store(p, Op.Do<S>(c, S.Load(p), d.Imm & S.Mask));
        c.CommitRmw();
    }

    public static void AluLockMI<Op, S>(IemCpu c, ref DecodedInstr d) where Op : IAluOp where S : ISize
    {
        byte* p = c.MapRmw(d.Seg, c.Ea(ref d), S.Bits / 8);
        AtomicRmw<Op, S>(c, p, d.Imm & S.Mask);
    }

    // ---- INC / DEC (CF preserved) ----

    public struct OpInc : IAluOp
    {
        public static bool Store => true;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ulong Do<S>(IemCpu c, ulong a, ulong b) where S : ISize
        {
            ulong r = (a + 1) & S.Mask;
            uint cf = c.CF, of = r == S.SignBit ? 1u : 0u, af = (r & 0xF) == 0 ? 1u : 0u;
            c.LfRes = SizeOps.Sx<S>(r);
            c.LfAux = (cf << 31) | ((cf ^ of) << 30) | (af << 3);
            return r;
        }
    }

    public struct OpDec : IAluOp
    {
        public static bool Store => true;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ulong Do<S>(IemCpu c, ulong a, ulong b) where S : ISize
        {
            ulong r = (a - 1) & S.Mask;
            uint cf = c.CF, of = r == S.SignBit - 1 ? 1u : 0u, af = (r & 0xF) == 0xF ? 1u : 0u;
            c.LfRes = SizeOps.Sx<S>(r);
            c.LfAux = (cf << 31) | ((cf ^ of) << 30) | (af << 3);
            return r;
        }
    }

    public struct OpNeg : IAluOp
    {
        public static bool Store => true;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ulong Do<S>(IemCpu c, ulong a, ulong b) where S : ISize { ulong r = (0 - a) & S.Mask; c.FlagsSub<S>(0, a, r); return r; }
    }

    public struct OpNot : IAluOp
    {
        public static bool Store => true;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ulong Do<S>(IemCpu c, ulong a, ulong b) where S : ISize => ~a & S.Mask;
    }

    /// <summary>Unary op on a register (INC/DEC/NEG/NOT r/m register forms, 40-4F).</summary>
    public static void UnR<Op, S>(IemCpu c, ref DecodedInstr d) where Op : IAluOp where S : ISize =>
        S.SetReg(c, d.Rm, Op.Do<S>(c, S.GetReg(c, d.Rm), 0));

    public static void UnM<Op, S>(IemCpu c, ref DecodedInstr d) where Op : IAluOp where S : ISize
    {
        byte* p = c.MapRmw(d.Seg, c.Ea(ref d), S.Bits / 8);
        S.Store(p, Op.Do<S>(c, S.Load(p), 0));
        c.CommitRmw();
    }

    public static void UnLockM<Op, S>(IemCpu c, ref DecodedInstr d) where Op : IAluOp where S : ISize
    {
        byte* p = c.MapRmw(d.Seg, c.Ea(ref d), S.Bits / 8);
        AtomicRmw<Op, S>(c, p, 0);
    }

    // ---- MOV ----

    public static void MovRR<S>(IemCpu c, ref DecodedInstr d) where S : ISize => S.SetReg(c, d.Rm, S.GetReg(c, d.Reg));
    public static void MovMR<S>(IemCpu c, ref DecodedInstr d) where S : ISize => S.Write(c, d.Seg, c.Ea(ref d), S.GetReg(c, d.Reg));
    public static void MovRegRm<S>(IemCpu c, ref DecodedInstr d) where S : ISize => S.SetReg(c, d.Reg, S.GetReg(c, d.Rm));
    public static void MovRegMem<S>(IemCpu c, ref DecodedInstr d) where S : ISize => S.SetReg(c, d.Reg, S.Read(c, d.Seg, c.Ea(ref d)));
    public static void MovRI<S>(IemCpu c, ref DecodedInstr d) where S : ISize => S.SetReg(c, d.Rm, d.Imm);
    public static void MovMI<S>(IemCpu c, ref DecodedInstr d) where S : ISize => S.Write(c, d.Seg, c.Ea(ref d), d.Imm);

    /// <summary>MOV AL/eAX, moffs and back (A0-A3): EA is the displacement.</summary>
    public static void MovAccMoffs<S>(IemCpu c, ref DecodedInstr d) where S : ISize => S.SetReg(c, 0, S.Read(c, d.Seg, c.Ea(ref d)));
    public static void MovMoffsAcc<S>(IemCpu c, ref DecodedInstr d) where S : ISize => S.Write(c, d.Seg, c.Ea(ref d), S.GetReg(c, 0));

    public static void Lea<S>(IemCpu c, ref DecodedInstr d) where S : ISize => S.SetReg(c, d.Reg, c.Ea(ref d));

    // ---- XCHG ----

    public static void XchgRR<S>(IemCpu c, ref DecodedInstr d) where S : ISize
    {
        ulong a = S.GetReg(c, d.Rm), b = S.GetReg(c, d.Reg);
        S.SetReg(c, d.Rm, b); S.SetReg(c, d.Reg, a);
    }

    /// <summary>XCHG with memory is always locked.</summary>
    public static void XchgMR<S>(IemCpu c, ref DecodedInstr d) where S : ISize
    {
        byte* p = c.MapRmw(d.Seg, c.Ea(ref d), S.Bits / 8);
        ulong b = S.GetReg(c, d.Reg);
        ulong old;
        if (c.RmwBounced)
        {
            lock (c.Machine.SplitLock) { old = S.Load(p); S.Store(p, b); c.CommitRmw(); }
        }
        else
        {
            do old = S.Load(p); while (S.Cas(p, b, old) != old);
        }
        S.SetReg(c, d.Reg, old);
    }

    /// <summary>90+r: XCHG rAX, r (90 itself is NOP, also with 66/REX.W; REX.B makes it XCHG r8).</summary>
    public static void XchgAcc<S>(IemCpu c, ref DecodedInstr d) where S : ISize
    {
        if (d.Rm == 0) return;
        ulong a = S.GetReg(c, 0), b = S.GetReg(c, d.Rm);
        S.SetReg(c, 0, b); S.SetReg(c, d.Rm, a);
    }

    // ---- MOVZX / MOVSX / MOVSXD ----

    public static void MovzxBR<S>(IemCpu c, ref DecodedInstr d) where S : ISize => S.SetReg(c, d.Reg, c.R8(d.Rm));
    public static void MovzxBM<S>(IemCpu c, ref DecodedInstr d) where S : ISize => S.SetReg(c, d.Reg, c.ReadU8(d.Seg, c.Ea(ref d)));
    public static void MovzxWR<S>(IemCpu c, ref DecodedInstr d) where S : ISize => S.SetReg(c, d.Reg, c.R16(d.Rm));
    public static void MovzxWM<S>(IemCpu c, ref DecodedInstr d) where S : ISize => S.SetReg(c, d.Reg, c.ReadU16(d.Seg, c.Ea(ref d)));
    public static void MovsxBR<S>(IemCpu c, ref DecodedInstr d) where S : ISize => S.SetReg(c, d.Reg, (ulong)(long)(sbyte)c.R8(d.Rm) & S.Mask);
    public static void MovsxBM<S>(IemCpu c, ref DecodedInstr d) where S : ISize => S.SetReg(c, d.Reg, (ulong)(long)(sbyte)c.ReadU8(d.Seg, c.Ea(ref d)) & S.Mask);
    public static void MovsxWR<S>(IemCpu c, ref DecodedInstr d) where S : ISize => S.SetReg(c, d.Reg, (ulong)(long)(short)c.R16(d.Rm) & S.Mask);
    public static void MovsxWM<S>(IemCpu c, ref DecodedInstr d) where S : ISize => S.SetReg(c, d.Reg, (ulong)(long)(short)c.ReadU16(d.Seg, c.Ea(ref d)) & S.Mask);

    public static void CmovR<S, C>(IemCpu c, ref DecodedInstr d) where S : ISize where C : ICond
    {
        if (C.Eval(c)) S.SetReg(c, d.Reg, S.GetReg(c, d.Rm));
        else if (S.Bits == 32) c.SetR32(d.Reg, c.R32(d.Reg));
    }

    public static void CmovM<S, C>(IemCpu c, ref DecodedInstr d) where S : ISize where C : ICond
    {
        ulong v = S.Read(c, d.Seg, c.Ea(ref d));        // the operand is read (and may fault) either way
        if (C.Eval(c)) S.SetReg(c, d.Reg, v);
        else if (S.Bits == 32) c.SetR32(d.Reg, c.R32(d.Reg));
    }

    public static void MovzxB<S>(IemCpu c, ref DecodedInstr d) where S : ISize =>
        S.SetReg(c, d.Reg, d.IsMem ? c.ReadU8(d.Seg, c.Ea(ref d)) : c.R8(d.Rm));
    public static void MovzxW<S>(IemCpu c, ref DecodedInstr d) where S : ISize =>
        S.SetReg(c, d.Reg, d.IsMem ? c.ReadU16(d.Seg, c.Ea(ref d)) : c.R16(d.Rm));
    public static void MovsxB<S>(IemCpu c, ref DecodedInstr d) where S : ISize =>
        S.SetReg(c, d.Reg, (ulong)(long)(sbyte)(d.IsMem ? c.ReadU8(d.Seg, c.Ea(ref d)) : c.R8(d.Rm)) & S.Mask);
    public static void MovsxW<S>(IemCpu c, ref DecodedInstr d) where S : ISize =>
        S.SetReg(c, d.Reg, (ulong)(long)(short)(d.IsMem ? c.ReadU16(d.Seg, c.Ea(ref d)) : c.R16(d.Rm)) & S.Mask);
    public static void Movsxd64(IemCpu c, ref DecodedInstr d) =>
        c.R(d.Reg) = (ulong)(long)(int)(d.IsMem ? c.ReadU32(d.Seg, c.Ea(ref d)) : c.R32(d.Rm));
    /// <summary>MOVSXD without REX.W: a plain 32/16-bit move.</summary>
    public static void Movsxd<S>(IemCpu c, ref DecodedInstr d) where S : ISize =>
        S.SetReg(c, d.Reg, d.IsMem ? S.Read(c, d.Seg, c.Ea(ref d)) : S.GetReg(c, d.Rm));

    // ---- CBW/CWDE/CDQE, CWD/CDQ/CQO ----

    public static void Cbw(IemCpu c, ref DecodedInstr d)
    {
        switch (d.OpSize)
        {
            case 2: c.R16(0) = (ushort)(sbyte)c.R8(0); break;
            case 4: c.SetR32(0, (uint)(short)c.R16(0)); break;
            default: c.R(0) = (ulong)(long)(int)c.R32(0); break;
        }
    }

    public static void Cwd(IemCpu c, ref DecodedInstr d)
    {
        switch (d.OpSize)
        {
            case 2: c.R16(2) = (ushort)((short)c.R16(0) >> 15); break;
            case 4: c.SetR32(2, (uint)((int)c.R32(0) >> 31)); break;
            default: c.R(2) = (ulong)((long)c.R(0) >> 63); break;
        }
    }

    // ---- CMOVcc / SETcc / BSWAP ----

    public static void Cmov<S>(IemCpu c, ref DecodedInstr d) where S : ISize
    {
        ulong v = d.IsMem ? S.Read(c, d.Seg, c.Ea(ref d)) : S.GetReg(c, d.Rm);
        if (c.Cond(d.Opcode & 15)) S.SetReg(c, d.Reg, v);
        else if (S.Bits == 32) c.SetR32(d.Reg, c.R32(d.Reg));   // 32-bit CMOV always zero-extends
    }

    public static void SetccR(IemCpu c, ref DecodedInstr d) => c.R8(d.Rm) = c.Cond(d.Opcode & 15) ? (byte)1 : (byte)0;
    public static void SetccM(IemCpu c, ref DecodedInstr d) => c.WriteU8(d.Seg, c.Ea(ref d), c.Cond(d.Opcode & 15) ? (byte)1 : (byte)0);

    public static void Bswap(IemCpu c, ref DecodedInstr d)
    {
        if (d.OpSize == 8) c.R(d.Rm) = System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(c.R(d.Rm));
        else if (d.OpSize == 4) c.SetR32(d.Rm, System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(c.R32(d.Rm)));
        else c.R16(d.Rm) = 0;   // 16-bit BSWAP: undefined; real CPUs clear the low word
    }

    // ---- flags instructions ----

    public static void Clc(IemCpu c, ref DecodedInstr d) => c.SetCF(0);
    public static void Stc(IemCpu c, ref DecodedInstr d) => c.SetCF(1);
    public static void Cmc(IemCpu c, ref DecodedInstr d) => c.SetCF(c.CF ^ 1);
    public static void Cld(IemCpu c, ref DecodedInstr d) => c.Eflags &= ~RFlags.DF;
    public static void Std(IemCpu c, ref DecodedInstr d) => c.Eflags |= RFlags.DF;

    public static void Lahf(IemCpu c, ref DecodedInstr d)
    {
        if (c.Mode == CodeMode.Bits64 && !c.Model.HasExt1Ecx(CpuModel.LahfLm)) c.RaiseUd();
        c.R8(1) = (byte)(c.GetEflags() & 0xD5 | 2);
    }

    public static void Sahf(IemCpu c, ref DecodedInstr d)
    {
        if (c.Mode == CodeMode.Bits64 && !c.Model.HasExt1Ecx(CpuModel.LahfLm)) c.RaiseUd();
        uint f = c.GetEflags();
        c.SetArithFlags((f & ~0xD5u) | (c.R8(1) & 0xD5u));
    }

    /// <summary>SALC (D6, undocumented): AL = CF ? FF : 00.</summary>
    public static void Salc(IemCpu c, ref DecodedInstr d) => c.R8(0) = c.CF != 0 ? (byte)0xFF : (byte)0;

    /// <summary>XLAT: AL = [seg:rBX + AL].</summary>
    public static void Xlat(IemCpu c, ref DecodedInstr d)
    {
        ulong ea = (c.R(3) + c.R8(0)) & (ulong.MaxValue >> d.AddrShift);
        c.R8(0) = c.ReadU8(d.Seg, ea);
    }
}
