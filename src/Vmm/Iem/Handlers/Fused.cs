using System.Runtime.CompilerServices;

namespace SharpBox.Vmm.Iem;

/// <summary>How the flag-setting half of a fused pair takes its operands.</summary>
public interface IFusedForm
{
    static abstract void Exec<Op, S>(IemCpu c, ref DecodedInstr d) where Op : IAluOp where S : ISize;
}

/// <summary>rm = rm op reg (Eb,Gb / Ev,Gv).</summary>
public struct FormRR : IFusedForm
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Exec<Op, S>(IemCpu c, ref DecodedInstr d) where Op : IAluOp where S : ISize
    {
        ulong r = Op.Do<S>(c, S.GetReg(c, d.Rm), S.GetReg(c, d.Reg));
        if (Op.Store) S.SetReg(c, d.Rm, r);
    }
}

/// <summary>reg = reg op rm (Gb,Eb / Gv,Ev).</summary>
public struct FormRegRm : IFusedForm
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Exec<Op, S>(IemCpu c, ref DecodedInstr d) where Op : IAluOp where S : ISize
    {
        ulong r = Op.Do<S>(c, S.GetReg(c, d.Reg), S.GetReg(c, d.Rm));
        if (Op.Store) S.SetReg(c, d.Reg, r);
    }
}

/// <summary>rm = rm op imm.</summary>
public struct FormRI : IFusedForm
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Exec<Op, S>(IemCpu c, ref DecodedInstr d) where Op : IAluOp where S : ISize
    {
        ulong r = Op.Do<S>(c, S.GetReg(c, d.Rm), d.Imm & S.Mask);
        if (Op.Store) S.SetReg(c, d.Rm, r);
    }
}

/// <summary>rm = op rm (INC/DEC).</summary>
public struct FormUn : IFusedForm
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Exec<Op, S>(IemCpu c, ref DecodedInstr d) where Op : IAluOp where S : ISize =>
        S.SetReg(c, d.Rm, Op.Do<S>(c, S.GetReg(c, d.Rm), 0));
}

// Instruction fusion: a register-form CMP/TEST/SUB/AND/INC/DEC directly followed by a Jcc (the last
// instruction of its block) runs as one dispatch. The Jcc stays in the block right after the first
// instruction (the fused handler reads it there) and still counts as an instruction; the block just
// dispatches one entry fewer. Faults in the branch half report the Jcc's address.
public static unsafe partial class Handlers
{
    public static void Fused<Op, S, F, C>(IemCpu c, ref DecodedInstr d)
        where Op : IAluOp where S : ISize where F : IFusedForm where C : ICond
    {
        F.Exec<Op, S>(c, ref d);
        ref DecodedInstr j = ref Unsafe.Add(ref d, 1);
        ulong rip = c.Rip;
        c.InstrRip = rip;
        rip += j.Length;
        c.Rip = rip;
        if (!C.Eval(c)) return;
        ulong t = rip + (ulong)j.Disp;
        if (j.OpSize == 8)
        {
            if ((ulong)(((long)t << 16) >> 16) != t) c.RaiseGp0();
            c.Rip = t;
        }
        else NearJump(c, t, j.OpSize);
    }
}

/// <summary>Picks (and lazily instantiates) the fused handler for a flag-setter + Jcc pair.</summary>
internal static unsafe class Fusion
{
    private const int KCmp = 0, KTest = 1, KSub = 2, KAnd = 3, KInc = 4, KDec = 5, Kinds = 6;
    private const int FRR = 0, FRegRm = 1, FRI = 2, FUn = 3, Forms = 4;
    // [kind][size 8/32/64][form] -> 16 handlers by condition (null until first use).
    private static readonly nint[]?[] s_groups = new nint[]?[Kinds * 3 * Forms];
    private static readonly object s_lock = new();

    /// <summary>Is <paramref name="j"/> a Jcc that can be fused after <paramref name="d"/>? Returns the fused handler, or null.</summary>
    public static delegate*<IemCpu, ref DecodedInstr, void> Try(ref DecodedInstr d, ref DecodedInstr j, CodeMode mode)
    {
        bool jcc = (j.Flags & InstrFlags.Invalid) == 0 &&
                   ((j.Map == OpMap.Primary && j.Opcode is >= 0x70 and <= 0x7F) || (j.Map == OpMap.Map0F && j.Opcode is >= 0x80 and <= 0x8F));
        if (!jcc || (d.Flags & (InstrFlags.Mem | InstrFlags.Invalid)) != 0 || (d.Prefixes & Pfx.Lock) != 0) return null;
        int size = d.OpSize switch { 1 => 0, 4 => 1, 8 => 2, _ => -1 };
        if (size < 0) return null;
        int kind = -1, form = -1;
        if (d.Map == OpMap.Primary)
        {
            byte op = d.Opcode;
            switch (op)
            {
                case 0x38: case 0x39: kind = KCmp; form = FRR; break;
                case 0x3A: case 0x3B: kind = KCmp; form = FRegRm; break;
                case 0x3C: case 0x3D: kind = KCmp; form = FRI; break;
                case 0x28: case 0x29: kind = KSub; form = FRR; break;
                case 0x2A: case 0x2B: kind = KSub; form = FRegRm; break;
                case 0x2C: case 0x2D: kind = KSub; form = FRI; break;
                case 0x20: case 0x21: kind = KAnd; form = FRR; break;
                case 0x22: case 0x23: kind = KAnd; form = FRegRm; break;
                case 0x24: case 0x25: kind = KAnd; form = FRI; break;
                case 0x84: case 0x85: kind = KTest; form = FRR; break;
                case 0xA8: case 0xA9: kind = KTest; form = FRI; break;
                case 0x80: case 0x81: case 0x83:
                    kind = d.ModRmReg switch { 7 => KCmp, 5 => KSub, 4 => KAnd, _ => -1 };
                    form = FRI;
                    break;
                case 0xF6: case 0xF7: if (d.ModRmReg == 0) { kind = KTest; form = FRI; } break;
                case 0xFE: case 0xFF:
                    if (d.ModRmReg is 0 or 1) { kind = d.ModRmReg == 0 ? KInc : KDec; form = FUn; }
                    break;
                default:
                    if (mode != CodeMode.Bits64 && op is >= 0x40 and <= 0x4F) { kind = op < 0x48 ? KInc : KDec; form = FUn; }
                    break;
            }
        }
        if (kind < 0) return null;
        int g = (kind * 3 + size) * Forms + form;
        var group = Volatile.Read(ref s_groups[g]);
        if (group == null)
        {
            lock (s_lock)
            {
                group = s_groups[g] ??= Build(kind, size, form);
            }
        }
        return (delegate*<IemCpu, ref DecodedInstr, void>)group[j.Opcode & 15];
    }

    private static nint[] Build(int kind, int size, int form) => kind switch
    {
        KCmp => BySize<OpCmp>(size, form),
        KTest => BySize<OpTest>(size, form),
        KSub => BySize<OpSub>(size, form),
        KAnd => BySize<OpAnd>(size, form),
        KInc => BySize<Handlers.OpInc>(size, form),
        _ => BySize<Handlers.OpDec>(size, form),
    };

    private static nint[] BySize<Op>(int size, int form) where Op : struct, IAluOp => size switch
    {
        0 => ByForm<Op, S8>(form),
        1 => ByForm<Op, S32>(form),
        _ => ByForm<Op, S64>(form),
    };

    private static nint[] ByForm<Op, S>(int form) where Op : struct, IAluOp where S : struct, ISize => form switch
    {
        FRR => Conds<Op, S, FormRR>(),
        FRegRm => Conds<Op, S, FormRegRm>(),
        FRI => Conds<Op, S, FormRI>(),
        _ => Conds<Op, S, FormUn>(),
    };

    private static nint[] Conds<Op, S, F>() where Op : struct, IAluOp where S : struct, ISize where F : struct, IFusedForm => new nint[]
    {
        (nint)(delegate*<IemCpu, ref DecodedInstr, void>)&Handlers.Fused<Op, S, F, CondO>, (nint)(delegate*<IemCpu, ref DecodedInstr, void>)&Handlers.Fused<Op, S, F, CondNO>,
        (nint)(delegate*<IemCpu, ref DecodedInstr, void>)&Handlers.Fused<Op, S, F, CondB>, (nint)(delegate*<IemCpu, ref DecodedInstr, void>)&Handlers.Fused<Op, S, F, CondAE>,
        (nint)(delegate*<IemCpu, ref DecodedInstr, void>)&Handlers.Fused<Op, S, F, CondZ>, (nint)(delegate*<IemCpu, ref DecodedInstr, void>)&Handlers.Fused<Op, S, F, CondNZ>,
        (nint)(delegate*<IemCpu, ref DecodedInstr, void>)&Handlers.Fused<Op, S, F, CondBE>, (nint)(delegate*<IemCpu, ref DecodedInstr, void>)&Handlers.Fused<Op, S, F, CondA>,
        (nint)(delegate*<IemCpu, ref DecodedInstr, void>)&Handlers.Fused<Op, S, F, CondS>, (nint)(delegate*<IemCpu, ref DecodedInstr, void>)&Handlers.Fused<Op, S, F, CondNS>,
        (nint)(delegate*<IemCpu, ref DecodedInstr, void>)&Handlers.Fused<Op, S, F, CondP>, (nint)(delegate*<IemCpu, ref DecodedInstr, void>)&Handlers.Fused<Op, S, F, CondNP>,
        (nint)(delegate*<IemCpu, ref DecodedInstr, void>)&Handlers.Fused<Op, S, F, CondL>, (nint)(delegate*<IemCpu, ref DecodedInstr, void>)&Handlers.Fused<Op, S, F, CondGE>,
        (nint)(delegate*<IemCpu, ref DecodedInstr, void>)&Handlers.Fused<Op, S, F, CondLE>, (nint)(delegate*<IemCpu, ref DecodedInstr, void>)&Handlers.Fused<Op, S, F, CondG>,
    };
}
