using SharpBox.Vmm.Cpum;
using H = SharpBox.Vmm.Iem.Handlers;

namespace SharpBox.Vmm.Iem;

/// <summary>Fills the handler table with the integer and system instruction set.</summary>
public static unsafe class IntegerHandlers
{
    private const InstrFlags End = InstrFlags.EndsBlock;

    private static void All(HandlerTable t, OpMap m, int op, delegate*<IemCpu, ref DecodedInstr, void> h, InstrFlags f = 0, int? reg = null, MandatoryPrefix? pfx = null) =>
        t.Set(m, (byte)op, HandlerSet.All(h, f), pfx, reg);

    private static void P(HandlerTable t, int op, delegate*<IemCpu, ref DecodedInstr, void> h, InstrFlags f = 0) => All(t, OpMap.Primary, op, h, f);
    private static void X(HandlerTable t, int op, delegate*<IemCpu, ref DecodedInstr, void> h, InstrFlags f = 0) => All(t, OpMap.Map0F, op, h, f);

    private static HandlerSet Set3(delegate*<IemCpu, ref DecodedInstr, void> r16, delegate*<IemCpu, ref DecodedInstr, void> r32, delegate*<IemCpu, ref DecodedInstr, void> r64,
        delegate*<IemCpu, ref DecodedInstr, void> m16, delegate*<IemCpu, ref DecodedInstr, void> m32, delegate*<IemCpu, ref DecodedInstr, void> m64,
        delegate*<IemCpu, ref DecodedInstr, void> l16 = null, delegate*<IemCpu, ref DecodedInstr, void> l32 = null, delegate*<IemCpu, ref DecodedInstr, void> l64 = null, InstrFlags f = 0) =>
        new() { R16 = r16, R32 = r32, R64 = r64, M16 = m16, M32 = m32, M64 = m64, L16 = l16, L32 = l32, L64 = l64, Flags = f };

    private static HandlerSet Set1(delegate*<IemCpu, ref DecodedInstr, void> r, delegate*<IemCpu, ref DecodedInstr, void> m,
        delegate*<IemCpu, ref DecodedInstr, void> l = null, InstrFlags f = 0) =>
        new() { R16 = r, R32 = r, R64 = r, M16 = m, M32 = m, M64 = m, L16 = l, L32 = l, L64 = l, Flags = f };

    private static void Alu<Op>(HandlerTable t, int idx, bool lockable) where Op : struct, IAluOp
    {
        int b = idx * 8;
        t.Set(OpMap.Primary, (byte)(b + 0), Set1(&H.AluRR<Op, S8>, &H.AluMR<Op, S8>, lockable ? &H.AluLockMR<Op, S8> : null));
        t.Set(OpMap.Primary, (byte)(b + 1), Set3(&H.AluRR<Op, S16>, &H.AluRR<Op, S32>, &H.AluRR<Op, S64>,
            &H.AluMR<Op, S16>, &H.AluMR<Op, S32>, &H.AluMR<Op, S64>,
            lockable ? &H.AluLockMR<Op, S16> : null, lockable ? &H.AluLockMR<Op, S32> : null, lockable ? &H.AluLockMR<Op, S64> : null));
        t.Set(OpMap.Primary, (byte)(b + 2), Set1(&H.AluRegRm<Op, S8>, &H.AluRegMem<Op, S8>));
        t.Set(OpMap.Primary, (byte)(b + 3), Set3(&H.AluRegRm<Op, S16>, &H.AluRegRm<Op, S32>, &H.AluRegRm<Op, S64>,
            &H.AluRegMem<Op, S16>, &H.AluRegMem<Op, S32>, &H.AluRegMem<Op, S64>));
        t.Set(OpMap.Primary, (byte)(b + 4), Set1(&H.AluRI<Op, S8>, &H.AluRI<Op, S8>));
        t.Set(OpMap.Primary, (byte)(b + 5), Set3(&H.AluRI<Op, S16>, &H.AluRI<Op, S32>, &H.AluRI<Op, S64>,
            &H.AluRI<Op, S16>, &H.AluRI<Op, S32>, &H.AluRI<Op, S64>));
        // Group 1 (80, 81, 82, 83) with ModRM.reg = idx.
        var g8 = Set1(&H.AluRI<Op, S8>, &H.AluMI<Op, S8>, lockable ? &H.AluLockMI<Op, S8> : null);
        t.Set(OpMap.Primary, 0x80, g8, reg: idx);
        t.Set(OpMap.Primary, 0x82, g8, reg: idx);
        var gv = Set3(&H.AluRI<Op, S16>, &H.AluRI<Op, S32>, &H.AluRI<Op, S64>,
            &H.AluMI<Op, S16>, &H.AluMI<Op, S32>, &H.AluMI<Op, S64>,
            lockable ? &H.AluLockMI<Op, S16> : null, lockable ? &H.AluLockMI<Op, S32> : null, lockable ? &H.AluLockMI<Op, S64> : null);
        t.Set(OpMap.Primary, 0x81, gv, reg: idx);
        t.Set(OpMap.Primary, 0x83, gv, reg: idx);
    }

    private static void Unary<Op>(HandlerTable t, int op, int reg, bool lockable) where Op : struct, IAluOp
    {
        if (op == 0xF6 || op == 0xFE)
            t.Set(OpMap.Primary, (byte)op, Set1(&H.UnR<Op, S8>, &H.UnM<Op, S8>, lockable ? &H.UnLockM<Op, S8> : null), reg: reg);
        else
            t.Set(OpMap.Primary, (byte)op, Set3(&H.UnR<Op, S16>, &H.UnR<Op, S32>, &H.UnR<Op, S64>,
                &H.UnM<Op, S16>, &H.UnM<Op, S32>, &H.UnM<Op, S64>,
                lockable ? &H.UnLockM<Op, S16> : null, lockable ? &H.UnLockM<Op, S32> : null, lockable ? &H.UnLockM<Op, S64> : null), reg: reg);
    }

    private static void Shifts<C>(HandlerTable t, int op8, int opv) where C : struct, H.ICount
    {
        t.Set(OpMap.Primary, (byte)op8, Set1(&H.ShiftR<S8, C>, &H.ShiftM<S8, C>));
        t.Set(OpMap.Primary, (byte)opv, Set3(&H.ShiftR<S16, C>, &H.ShiftR<S32, C>, &H.ShiftR<S64, C>,
            &H.ShiftM<S16, C>, &H.ShiftM<S32, C>, &H.ShiftM<S64, C>));
    }

    public static void Register(HandlerTable t)
    {
        // ---- 00-3F: ALU ----
        Alu<OpAdd>(t, 0, true); Alu<OpOr>(t, 1, true); Alu<OpAdc>(t, 2, true); Alu<OpSbb>(t, 3, true);
        Alu<OpAnd>(t, 4, true); Alu<OpSub>(t, 5, true); Alu<OpXor>(t, 6, true); Alu<OpCmp>(t, 7, false);
        foreach (int op in new[] { 0x06, 0x0E, 0x16, 0x1E }) P(t, op, &H.PushSeg);
        foreach (int op in new[] { 0x07, 0x1F }) P(t, op, &H.PopSeg);
        P(t, 0x17, &H.PopSeg, End);   // POP SS: interrupt shadow
        P(t, 0x27, &H.Daa); P(t, 0x2F, &H.Das); P(t, 0x37, &H.Aaa); P(t, 0x3F, &H.Aas);

        // ---- 40-5F ----
        for (int i = 0; i < 8; i++)
        {
            t.Set(OpMap.Primary, (byte)(0x40 + i), HandlerSet.Sized(&H.UnR<H.OpInc, S16>, &H.UnR<H.OpInc, S32>, &H.UnR<H.OpInc, S64>));
            t.Set(OpMap.Primary, (byte)(0x48 + i), HandlerSet.Sized(&H.UnR<H.OpDec, S16>, &H.UnR<H.OpDec, S32>, &H.UnR<H.OpDec, S64>));
            P(t, 0x50 + i, &H.PushR);
            P(t, 0x58 + i, &H.PopR);
        }

        // ---- 60-6F ----
        P(t, 0x60, &H.Pusha); P(t, 0x61, &H.Popa);
        t.Set(OpMap.Primary, 0x62, HandlerSet.RegMem(null, &H.Bound));
        P(t, 0x63, &Op63);
        P(t, 0x68, &H.PushI); P(t, 0x6A, &H.PushI);
        t.Set(OpMap.Primary, 0x69, HandlerSet.Sized(&H.Imul3<S16>, &H.Imul3<S32>, &H.Imul3<S64>));
        t.Set(OpMap.Primary, 0x6B, HandlerSet.Sized(&H.Imul3<S16>, &H.Imul3<S32>, &H.Imul3<S64>));
        StringOp(t, 0x6C, true, false); StringOp(t, 0x6D, false, false);
        StringOp(t, 0x6E, true, true); StringOp(t, 0x6F, false, true);

        // ---- 70-7F Jcc ----
        RegisterJcc(t, OpMap.Primary, 0x70);

        // ---- 80-8F ----
        t.Set(OpMap.Primary, 0x84, Set1(&H.AluRR<OpTest, S8>, &H.AluMR<OpTest, S8>));
        t.Set(OpMap.Primary, 0x85, Set3(&H.AluRR<OpTest, S16>, &H.AluRR<OpTest, S32>, &H.AluRR<OpTest, S64>,
            &H.AluMR<OpTest, S16>, &H.AluMR<OpTest, S32>, &H.AluMR<OpTest, S64>));
        t.Set(OpMap.Primary, 0x86, Set1(&H.XchgRR<S8>, &H.XchgMR<S8>, &H.XchgMR<S8>));
        t.Set(OpMap.Primary, 0x87, Set3(&H.XchgRR<S16>, &H.XchgRR<S32>, &H.XchgRR<S64>,
            &H.XchgMR<S16>, &H.XchgMR<S32>, &H.XchgMR<S64>, &H.XchgMR<S16>, &H.XchgMR<S32>, &H.XchgMR<S64>));
        t.Set(OpMap.Primary, 0x88, Set1(&H.MovRR<S8>, &H.MovMR<S8>));
        t.Set(OpMap.Primary, 0x89, Set3(&H.MovRR<S16>, &H.MovRR<S32>, &H.MovRR<S64>, &H.MovMR<S16>, &H.MovMR<S32>, &H.MovMR<S64>));
        t.Set(OpMap.Primary, 0x8A, Set1(&H.MovRegRm<S8>, &H.MovRegMem<S8>));
        t.Set(OpMap.Primary, 0x8B, Set3(&H.MovRegRm<S16>, &H.MovRegRm<S32>, &H.MovRegRm<S64>, &H.MovRegMem<S16>, &H.MovRegMem<S32>, &H.MovRegMem<S64>));
        for (int r = 0; r <= 5; r++) All(t, OpMap.Primary, 0x8C, &H.MovFromSeg, reg: r);
        t.Set(OpMap.Primary, 0x8D, Set3(null, null, null, &H.Lea<S16>, &H.Lea<S32>, &H.Lea<S64>));
        foreach (int r in new[] { 0, 2, 3, 4, 5 }) All(t, OpMap.Primary, 0x8E, &H.MovToSeg, End, reg: r);
        All(t, OpMap.Primary, 0x8F, &H.PopM, reg: 0);

        // ---- 90-9F ----
        t.Set(OpMap.Primary, 0x90, HandlerSet.Sized(&H.XchgAcc<S16>, &H.XchgAcc<S32>, &H.XchgAcc<S64>));
        for (int i = 0x91; i <= 0x97; i++) t.Set(OpMap.Primary, (byte)i, HandlerSet.Sized(&H.XchgAcc<S16>, &H.XchgAcc<S32>, &H.XchgAcc<S64>));
        P(t, 0x98, &H.Cbw); P(t, 0x99, &H.Cwd);
        P(t, 0x9A, &H.CallFarImm, End);
        P(t, 0x9B, &Fwait);
        P(t, 0x9C, &H.Pushf); P(t, 0x9D, &H.Popf, End);
        P(t, 0x9E, &H.Sahf); P(t, 0x9F, &H.Lahf);

        // ---- A0-AF ----
        t.Set(OpMap.Primary, 0xA0, Set1(&H.MovAccMoffs<S8>, &H.MovAccMoffs<S8>));
        t.Set(OpMap.Primary, 0xA1, HandlerSet.Sized(&H.MovAccMoffs<S16>, &H.MovAccMoffs<S32>, &H.MovAccMoffs<S64>));
        t.Set(OpMap.Primary, 0xA2, Set1(&H.MovMoffsAcc<S8>, &H.MovMoffsAcc<S8>));
        t.Set(OpMap.Primary, 0xA3, HandlerSet.Sized(&H.MovMoffsAcc<S16>, &H.MovMoffsAcc<S32>, &H.MovMoffsAcc<S64>));
        foreach (int op in new[] { 0xA4, 0xA6, 0xAA, 0xAC, 0xAE }) StringOp(t, op, true, false);
        foreach (int op in new[] { 0xA5, 0xA7, 0xAB, 0xAD, 0xAF }) StringOp(t, op, false, false);
        t.Set(OpMap.Primary, 0xA8, Set1(&H.AluRI<OpTest, S8>, &H.AluRI<OpTest, S8>));
        t.Set(OpMap.Primary, 0xA9, HandlerSet.Sized(&H.AluRI<OpTest, S16>, &H.AluRI<OpTest, S32>, &H.AluRI<OpTest, S64>));

        // ---- B0-BF ----
        for (int i = 0; i < 8; i++)
        {
            P(t, 0xB0 + i, &H.MovRI<S8>);
            t.Set(OpMap.Primary, (byte)(0xB8 + i), HandlerSet.Sized(&H.MovRI<S16>, &H.MovRI<S32>, &H.MovRI<S64>));
        }

        // ---- C0-CF ----
        Shifts<H.CountImm>(t, 0xC0, 0xC1);
        P(t, 0xC2, &H.Ret, End); P(t, 0xC3, &H.Ret, End);
        t.Set(OpMap.Primary, 0xC4, HandlerSet.RegMem(null, &H.LoadFarPointer));
        t.Set(OpMap.Primary, 0xC5, HandlerSet.RegMem(null, &H.LoadFarPointer));
        t.Set(OpMap.Primary, 0xC6, Set1(&H.MovRI<S8>, &H.MovMI<S8>), reg: 0);
        t.Set(OpMap.Primary, 0xC7, Set3(&H.MovRI<S16>, &H.MovRI<S32>, &H.MovRI<S64>, &H.MovMI<S16>, &H.MovMI<S32>, &H.MovMI<S64>), reg: 0);
        P(t, 0xC8, &H.Enter); P(t, 0xC9, &H.Leave);
        P(t, 0xCA, &H.Retf, End); P(t, 0xCB, &H.Retf, End);
        P(t, 0xCC, &H.Int3, End); P(t, 0xCD, &H.Int, End); P(t, 0xCE, &H.Into, End); P(t, 0xCF, &H.Iret, End);

        // ---- D0-DF ----
        Shifts<H.Count1>(t, 0xD0, 0xD1);
        Shifts<H.CountCl>(t, 0xD2, 0xD3);
        P(t, 0xD4, &H.Aam); P(t, 0xD5, &H.Aad); P(t, 0xD6, &H.Salc); P(t, 0xD7, &H.Xlat);

        // ---- E0-EF ----
        for (int i = 0xE0; i <= 0xE2; i++) P(t, i, &H.Loop, End);
        P(t, 0xE3, &H.Jcxz, End);
        P(t, 0xE4, &H.In); P(t, 0xE5, &H.In); P(t, 0xEC, &H.In); P(t, 0xED, &H.In);
        P(t, 0xE6, &H.Out, End); P(t, 0xE7, &H.Out, End); P(t, 0xEE, &H.Out, End); P(t, 0xEF, &H.Out, End);
        P(t, 0xE8, &H.CallRel, End); P(t, 0xE9, &H.JmpRel, End); P(t, 0xEA, &H.JmpFarImm, End); P(t, 0xEB, &H.JmpRel, End);

        // ---- F0-FF ----
        P(t, 0xF1, &H.Int1, End);
        P(t, 0xF4, &H.Hlt, End);
        P(t, 0xF5, &H.Cmc);
        t.Set(OpMap.Primary, 0xF6, Set1(&H.AluRI<OpTest, S8>, &H.AluMI<OpTest, S8>), reg: 0);
        t.Set(OpMap.Primary, 0xF6, Set1(&H.AluRI<OpTest, S8>, &H.AluMI<OpTest, S8>), reg: 1);
        t.Set(OpMap.Primary, 0xF7, Set3(&H.AluRI<OpTest, S16>, &H.AluRI<OpTest, S32>, &H.AluRI<OpTest, S64>,
            &H.AluMI<OpTest, S16>, &H.AluMI<OpTest, S32>, &H.AluMI<OpTest, S64>), reg: 0);
        t.Set(OpMap.Primary, 0xF7, Set3(&H.AluRI<OpTest, S16>, &H.AluRI<OpTest, S32>, &H.AluRI<OpTest, S64>,
            &H.AluMI<OpTest, S16>, &H.AluMI<OpTest, S32>, &H.AluMI<OpTest, S64>), reg: 1);
        Unary<H.OpNot>(t, 0xF6, 2, true); Unary<H.OpNot>(t, 0xF7, 2, true);
        Unary<H.OpNeg>(t, 0xF6, 3, true); Unary<H.OpNeg>(t, 0xF7, 3, true);
        t.Set(OpMap.Primary, 0xF6, HandlerSet.All(&H.Mul<S8>), reg: 4);
        t.Set(OpMap.Primary, 0xF6, HandlerSet.All(&H.Imul1<S8>), reg: 5);
        t.Set(OpMap.Primary, 0xF6, HandlerSet.All(&H.Div<S8>), reg: 6);
        t.Set(OpMap.Primary, 0xF6, HandlerSet.All(&H.Idiv<S8>), reg: 7);
        t.Set(OpMap.Primary, 0xF7, HandlerSet.Sized(&H.Mul<S16>, &H.Mul<S32>, &H.Mul<S64>), reg: 4);
        t.Set(OpMap.Primary, 0xF7, HandlerSet.Sized(&H.Imul1<S16>, &H.Imul1<S32>, &H.Imul1<S64>), reg: 5);
        t.Set(OpMap.Primary, 0xF7, HandlerSet.Sized(&H.Div<S16>, &H.Div<S32>, &H.Div<S64>), reg: 6);
        t.Set(OpMap.Primary, 0xF7, HandlerSet.Sized(&H.Idiv<S16>, &H.Idiv<S32>, &H.Idiv<S64>), reg: 7);
        P(t, 0xF8, &H.Clc); P(t, 0xF9, &H.Stc); P(t, 0xFA, &H.Cli); P(t, 0xFB, &H.Sti, End);
        P(t, 0xFC, &H.Cld); P(t, 0xFD, &H.Std);
        Unary<H.OpInc>(t, 0xFE, 0, true); Unary<H.OpDec>(t, 0xFE, 1, true);
        Unary<H.OpInc>(t, 0xFF, 0, true); Unary<H.OpDec>(t, 0xFF, 1, true);
        All(t, OpMap.Primary, 0xFF, &H.CallInd, End, reg: 2);
        t.Set(OpMap.Primary, 0xFF, HandlerSet.RegMem(null, &H.CallFarMem, End), reg: 3);
        All(t, OpMap.Primary, 0xFF, &H.JmpInd, End, reg: 4);
        t.Set(OpMap.Primary, 0xFF, HandlerSet.RegMem(null, &H.JmpFarMem, End), reg: 5);
        t.Set(OpMap.Primary, 0xFF, HandlerSet.RegMem(&H.PushR, &H.PushM), reg: 6);

        RegisterTwoByte(t);
    }

    private static void RegisterTwoByte(HandlerTable t)
    {
        for (int r = 0; r <= 5; r++) All(t, OpMap.Map0F, 0x00, &H.Group6, reg: r);
        t.Set(OpMap.Map0F, 0x01, new HandlerSet { R16 = &H.Group7, R32 = &H.Group7, R64 = &H.Group7, M16 = &H.Group7, M32 = &H.Group7, M64 = &H.Group7, Valid = &ValidGroup7, Flags = End });
        t.Set(OpMap.Map0F, 0x02, HandlerSet.All(&H.LarLsl));
        t.Set(OpMap.Map0F, 0x03, HandlerSet.All(&H.LarLsl));
        X(t, 0x05, &H.Syscall, End);
        X(t, 0x06, &H.Clts);
        X(t, 0x07, &H.Sysret, End);
        X(t, 0x08, &H.Invd); X(t, 0x09, &H.Invd);
        X(t, 0x0D, &H.Nop);   // PREFETCH/PREFETCHW; register forms are reserved NOPs
        X(t, 0x18, &H.Nop);
        for (int i = 0x19; i <= 0x1F; i++) X(t, i, &H.Nop);
        t.Set(OpMap.Map0F, 0x20, new HandlerSet { R16 = &H.MovFromCr, R32 = &H.MovFromCr, R64 = &H.MovFromCr, M16 = &H.MovFromCr, M32 = &H.MovFromCr, M64 = &H.MovFromCr, Valid = &ValidCr });
        t.Set(OpMap.Map0F, 0x22, new HandlerSet { R16 = &H.MovToCr, R32 = &H.MovToCr, R64 = &H.MovToCr, M16 = &H.MovToCr, M32 = &H.MovToCr, M64 = &H.MovToCr, Valid = &ValidCr, Flags = End });
        t.Set(OpMap.Map0F, 0x21, new HandlerSet { R16 = &H.MovFromDr, R32 = &H.MovFromDr, R64 = &H.MovFromDr, M16 = &H.MovFromDr, M32 = &H.MovFromDr, M64 = &H.MovFromDr, Valid = &ValidDr });
        t.Set(OpMap.Map0F, 0x23, new HandlerSet { R16 = &H.MovToDr, R32 = &H.MovToDr, R64 = &H.MovToDr, M16 = &H.MovToDr, M32 = &H.MovToDr, M64 = &H.MovToDr, Valid = &ValidDr });
        X(t, 0x30, &H.Wrmsr, End); X(t, 0x31, &H.Rdtsc); X(t, 0x32, &H.Rdmsr); X(t, 0x33, &H.Rdpmc);
        X(t, 0x34, &H.Sysenter, End); X(t, 0x35, &H.Sysexit, End);
        RegisterCmov(t);
        RegisterJcc(t, OpMap.Map0F, 0x80);
        for (int i = 0x90; i <= 0x9F; i++) t.Set(OpMap.Map0F, (byte)i, HandlerSet.RegMem(&H.SetccR, &H.SetccM));
        X(t, 0xA0, &H.PushSeg); X(t, 0xA1, &H.PopSeg); X(t, 0xA8, &H.PushSeg); X(t, 0xA9, &H.PopSeg);
        X(t, 0xA2, &H.Cpuid);
        var bt = Set3(&H.BtR<S16>, &H.BtR<S32>, &H.BtR<S64>, &H.BtM<S16>, &H.BtM<S32>, &H.BtM<S64>);
        var bts = Set3(&H.BtR<S16>, &H.BtR<S32>, &H.BtR<S64>, &H.BtM<S16>, &H.BtM<S32>, &H.BtM<S64>,
            &H.BtLockM<S16>, &H.BtLockM<S32>, &H.BtLockM<S64>);
        t.Set(OpMap.Map0F, 0xA3, bt);
        t.Set(OpMap.Map0F, 0xAB, bts); t.Set(OpMap.Map0F, 0xB3, bts); t.Set(OpMap.Map0F, 0xBB, bts);
        t.Set(OpMap.Map0F, 0xBA, bt, reg: 4);
        for (int r = 5; r <= 7; r++) t.Set(OpMap.Map0F, 0xBA, bts, reg: r);
        var shld = Set3(&H.ShldR<S16, H.CountImm>, &H.ShldR<S32, H.CountImm>, &H.ShldR<S64, H.CountImm>,
            &H.ShldM<S16, H.CountImm>, &H.ShldM<S32, H.CountImm>, &H.ShldM<S64, H.CountImm>);
        var shldCl = Set3(&H.ShldR<S16, H.CountCl>, &H.ShldR<S32, H.CountCl>, &H.ShldR<S64, H.CountCl>,
            &H.ShldM<S16, H.CountCl>, &H.ShldM<S32, H.CountCl>, &H.ShldM<S64, H.CountCl>);
        t.Set(OpMap.Map0F, 0xA4, shld); t.Set(OpMap.Map0F, 0xAC, shld);
        t.Set(OpMap.Map0F, 0xA5, shldCl); t.Set(OpMap.Map0F, 0xAD, shldCl);
        // Group 15: fences (reg /5../7) and CLFLUSH (mem /7) without prefix; RDFSBASE & co. (F3, reg /0../3).
        // The FXSAVE/FXRSTOR/LDMXCSR/STMXCSR slots are left to the FPU/SIMD registrations.
        for (int r = 5; r <= 7; r++)
            t.Set(OpMap.Map0F, 0xAE, new HandlerSet { R16 = &H.Group15, R32 = &H.Group15, R64 = &H.Group15, M16 = r == 7 ? &H.Group15 : null, M32 = r == 7 ? &H.Group15 : null, M64 = r == 7 ? &H.Group15 : null }, MandatoryPrefix.None, r);
        for (int r = 0; r <= 3; r++)
            t.Set(OpMap.Map0F, 0xAE, new HandlerSet { R16 = &H.Group15, R32 = &H.Group15, R64 = &H.Group15, Valid = &ValidFsGsBase }, MandatoryPrefix.PF3, r);
        t.Set(OpMap.Map0F, 0xAF, HandlerSet.Sized(&H.Imul2<S16>, &H.Imul2<S32>, &H.Imul2<S64>));
        t.Set(OpMap.Map0F, 0xB0, Set1(&H.CmpxchgR<S8>, &H.CmpxchgM<S8>, &H.CmpxchgM<S8>));
        t.Set(OpMap.Map0F, 0xB1, Set3(&H.CmpxchgR<S16>, &H.CmpxchgR<S32>, &H.CmpxchgR<S64>,
            &H.CmpxchgM<S16>, &H.CmpxchgM<S32>, &H.CmpxchgM<S64>, &H.CmpxchgM<S16>, &H.CmpxchgM<S32>, &H.CmpxchgM<S64>));
        t.Set(OpMap.Map0F, 0xB2, HandlerSet.RegMem(null, &H.LoadFarPointer, End));
        t.Set(OpMap.Map0F, 0xB4, HandlerSet.RegMem(null, &H.LoadFarPointer));
        t.Set(OpMap.Map0F, 0xB5, HandlerSet.RegMem(null, &H.LoadFarPointer));
        t.Set(OpMap.Map0F, 0xB6, Set3(&H.MovzxBR<S16>, &H.MovzxBR<S32>, &H.MovzxBR<S64>, &H.MovzxBM<S16>, &H.MovzxBM<S32>, &H.MovzxBM<S64>));
        t.Set(OpMap.Map0F, 0xB7, Set3(&H.MovzxWR<S16>, &H.MovzxWR<S32>, &H.MovzxWR<S64>, &H.MovzxWM<S16>, &H.MovzxWM<S32>, &H.MovzxWM<S64>));
        t.Set(OpMap.Map0F, 0xBE, Set3(&H.MovsxBR<S16>, &H.MovsxBR<S32>, &H.MovsxBR<S64>, &H.MovsxBM<S16>, &H.MovsxBM<S32>, &H.MovsxBM<S64>));
        t.Set(OpMap.Map0F, 0xBF, Set3(&H.MovsxWR<S16>, &H.MovsxWR<S32>, &H.MovsxWR<S64>, &H.MovsxWM<S16>, &H.MovsxWM<S32>, &H.MovsxWM<S64>));
        t.Set(OpMap.Map0F, 0xB8, HandlerSet.Sized(&H.Popcnt<S16>, &H.Popcnt<S32>, &H.Popcnt<S64>), MandatoryPrefix.PF3);
        var bsf = HandlerSet.Sized(&H.Bsf<S16>, &H.Bsf<S32>, &H.Bsf<S64>);
        t.Set(OpMap.Map0F, 0xBC, bsf); t.Set(OpMap.Map0F, 0xBD, bsf);
        // F3 0F BC is TZCNT only with BMI1 (not advertised): without it the prefix is ignored (BSF).
        t.Set(OpMap.Map0F, 0xBD, HandlerSet.Sized(&H.Tzcnt<S16>, &H.Tzcnt<S32>, &H.Tzcnt<S64>), MandatoryPrefix.PF3);
        t.Set(OpMap.Map0F, 0xC0, Set1(&H.XaddR<S8>, &H.XaddM<S8>, &H.XaddM<S8>));
        t.Set(OpMap.Map0F, 0xC1, Set3(&H.XaddR<S16>, &H.XaddR<S32>, &H.XaddR<S64>,
            &H.XaddM<S16>, &H.XaddM<S32>, &H.XaddM<S64>, &H.XaddM<S16>, &H.XaddM<S32>, &H.XaddM<S64>));
        t.Set(OpMap.Map0F, 0xC3, Set3(null, null, null, &H.MovMR<S32>, &H.MovMR<S32>, &H.MovMR<S64>), MandatoryPrefix.None);   // MOVNTI m32 (also with 16-bit operand size), m64
        t.Set(OpMap.Map0F, 0xC7, new HandlerSet { M16 = &H.Group9, M32 = &H.Group9, M64 = &H.Group9, L16 = &H.Group9, L32 = &H.Group9, L64 = &H.Group9 }, reg: 1);
        for (int i = 0xC8; i <= 0xCF; i++) X(t, i, &H.Bswap);
        // 0F 38 F0/F1: MOVBE (no prefix or 66).
        var movbe = Set3(null, null, null, &H.Movbe<S16>, &H.Movbe<S32>, &H.Movbe<S64>);
        t.Set(OpMap.Map0F38, 0xF0, movbe, MandatoryPrefix.None); t.Set(OpMap.Map0F38, 0xF1, movbe, MandatoryPrefix.None);
        t.Set(OpMap.Map0F38, 0xF0, movbe, MandatoryPrefix.P66); t.Set(OpMap.Map0F38, 0xF1, movbe, MandatoryPrefix.P66);
    }

    private static void Cmov1<C>(HandlerTable t, int op) where C : struct, ICond =>
        t.Set(OpMap.Map0F, (byte)op, Set3(&H.CmovR<S16, C>, &H.CmovR<S32, C>, &H.CmovR<S64, C>, &H.CmovM<S16, C>, &H.CmovM<S32, C>, &H.CmovM<S64, C>));

    private static void RegisterCmov(HandlerTable t)
    {
        Cmov1<CondO>(t, 0x40); Cmov1<CondNO>(t, 0x41); Cmov1<CondB>(t, 0x42); Cmov1<CondAE>(t, 0x43);
        Cmov1<CondZ>(t, 0x44); Cmov1<CondNZ>(t, 0x45); Cmov1<CondBE>(t, 0x46); Cmov1<CondA>(t, 0x47);
        Cmov1<CondS>(t, 0x48); Cmov1<CondNS>(t, 0x49); Cmov1<CondP>(t, 0x4A); Cmov1<CondNP>(t, 0x4B);
        Cmov1<CondL>(t, 0x4C); Cmov1<CondGE>(t, 0x4D); Cmov1<CondLE>(t, 0x4E); Cmov1<CondG>(t, 0x4F);
    }

    private static void RegisterJcc(HandlerTable t, OpMap m, int b)
    {
        var hs = new delegate*<IemCpu, ref DecodedInstr, void>[]
        {
            &H.JccT<CondO>, &H.JccT<CondNO>, &H.JccT<CondB>, &H.JccT<CondAE>, &H.JccT<CondZ>, &H.JccT<CondNZ>, &H.JccT<CondBE>, &H.JccT<CondA>,
            &H.JccT<CondS>, &H.JccT<CondNS>, &H.JccT<CondP>, &H.JccT<CondNP>, &H.JccT<CondL>, &H.JccT<CondGE>, &H.JccT<CondLE>, &H.JccT<CondG>,
        };
        for (int i = 0; i < 16; i++) All(t, m, b + i, hs[i], End);
    }

    /// <summary>String instruction: no-prefix and 66 columns run once, F3/F2 columns repeat (and end the block).</summary>
    private static void StringOp(HandlerTable t, int op, bool byteOp, bool output)
    {
        HandlerSet once, rep, repne;
        if (byteOp)
        {
            once = HandlerSet.All(&H.StrNoRep<S8>); rep = HandlerSet.All(&H.StrRep<S8>, End); repne = HandlerSet.All(&H.StrRepNe<S8>, End);
        }
        else if (op is 0x6D or 0x6F)
        {
            // INS/OUTS have no 64-bit form: REX.W still means 32 bits.
            once = HandlerSet.Sized(&H.StrNoRep<S16>, &H.StrNoRep<S32>, &H.StrNoRep<S32>);
            rep = HandlerSet.Sized(&H.StrRep<S16>, &H.StrRep<S32>, &H.StrRep<S32>, End);
            repne = HandlerSet.Sized(&H.StrRepNe<S16>, &H.StrRepNe<S32>, &H.StrRepNe<S32>, End);
        }
        else
        {
            once = HandlerSet.Sized(&H.StrNoRep<S16>, &H.StrNoRep<S32>, &H.StrNoRep<S64>);
            rep = HandlerSet.Sized(&H.StrRep<S16>, &H.StrRep<S32>, &H.StrRep<S64>, End);
            repne = HandlerSet.Sized(&H.StrRepNe<S16>, &H.StrRepNe<S32>, &H.StrRepNe<S64>, End);
        }
        if (output) { once.Flags |= End; }
        t.Set(OpMap.Primary, (byte)op, once, MandatoryPrefix.None);
        t.Set(OpMap.Primary, (byte)op, once, MandatoryPrefix.P66);
        t.Set(OpMap.Primary, (byte)op, rep, MandatoryPrefix.PF3);
        t.Set(OpMap.Primary, (byte)op, repne, MandatoryPrefix.PF2);
    }

    /// <summary>63: ARPL outside 64-bit mode, MOVSXD in it.</summary>
    private static void Op63(IemCpu c, ref DecodedInstr d)
    {
        if (c.Mode != CodeMode.Bits64) { H.Arpl(c, ref d); return; }
        if ((d.Prefixes & Pfx.RexW) != 0) H.Movsxd64(c, ref d);
        else if (d.OpSize == 2) H.Movsxd<S16>(c, ref d);
        else H.Movsxd<S32>(c, ref d);
    }

    /// <summary>WAIT/FWAIT: #NM when CR0.MP and CR0.TS; pending x87 exceptions are the FPU handlers' business (they may replace this).</summary>
    private static void Fwait(IemCpu c, ref DecodedInstr d)
    {
        if ((c.Cr0 & (Cr0.MP | Cr0.TS)) == (Cr0.MP | Cr0.TS)) c.RaiseXcpt(Xcpt.NM);
    }

    // ---- decode-time validity checks ----

    /// <summary>0F 01: memory forms except /5; register forms CLAC, STAC, SWAPGS (64-bit), RDTSCP, SMSW, LMSW.</summary>
    private static bool ValidGroup7(ref DecodedInstr d, CodeMode mode)
    {
        if (d.IsMem) return d.ModRmReg != 5;
        return d.ModRm switch
        {
            0xCA or 0xCB or 0xF9 => true,
            0xF8 => mode == CodeMode.Bits64,
            >= 0xE0 and <= 0xE7 => true,
            >= 0xF0 and <= 0xF7 => true,
            _ => false,
        };
    }

    /// <summary>MOV to/from CR: CR0, CR2, CR3, CR4, and CR8 in 64-bit mode.</summary>
    private static bool ValidCr(ref DecodedInstr d, CodeMode mode) =>
        d.Reg is 0 or 2 or 3 or 4 || (d.Reg == 8 && mode == CodeMode.Bits64);

    private static bool ValidDr(ref DecodedInstr d, CodeMode mode) => d.Reg <= 7;

    /// <summary>RDFSBASE/RDGSBASE/WRFSBASE/WRGSBASE: register form in 64-bit mode.</summary>
    private static bool ValidFsGsBase(ref DecodedInstr d, CodeMode mode) => !d.IsMem && mode == CodeMode.Bits64;
}
