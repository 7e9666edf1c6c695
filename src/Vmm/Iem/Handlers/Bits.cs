using System.Numerics;
using SharpBox.Vmm.Cpum;

namespace SharpBox.Vmm.Iem;

// BT/BTS/BTR/BTC, BSF/BSR, TZCNT/LZCNT/POPCNT, MOVBE.
public static unsafe partial class Handlers
{
    /// <summary>0 = BT, 1 = BTS, 2 = BTR, 3 = BTC.</summary>
    private static ulong BitOp(IemCpu c, int op, ulong v, int bit)
    {
        ulong m = 1UL << bit;
        c.SetCF((v & m) != 0 ? 1u : 0u);
        return op switch { 1 => v | m, 2 => v & ~m, 3 => v ^ m, _ => v };
    }

    private static int BtKind(ref DecodedInstr d) =>
        d.Opcode == 0xBA ? d.ModRmReg - 4 : d.Opcode switch { 0xA3 => 0, 0xAB => 1, 0xB3 => 2, _ => 3 };

    /// <summary>BTx r, r / BTx r, imm.</summary>
    public static void BtR<S>(IemCpu c, ref DecodedInstr d) where S : ISize
    {
        int bit = (int)((d.Opcode == 0xBA ? d.Imm : S.GetReg(c, d.Reg)) & (ulong)(S.Bits - 1));
        int op = BtKind(ref d);
        ulong r = BitOp(c, op, S.GetReg(c, d.Rm), bit);
        if (op != 0) S.SetReg(c, d.Rm, r);
    }

    /// <summary>Memory BTx: a register bit offset is signed and may reach outside the operand.</summary>
    private static ulong BtAddr<S>(IemCpu c, ref DecodedInstr d, out int bit) where S : ISize
    {
        ulong ea = c.Ea(ref d);
        if (d.Opcode == 0xBA) { bit = (int)(d.Imm & (ulong)(S.Bits - 1)); return ea; }
        long off = (long)SizeOps.Sx<S>(S.GetReg(c, d.Reg));
        bit = (int)(off & (S.Bits - 1));
        ea += (ulong)((off >> (S.Bits == 8 ? 3 : BitOperations.Log2((uint)S.Bits))) * (S.Bits / 8));
        return ea & (ulong.MaxValue >> d.AddrShift);
    }

    public static void BtM<S>(IemCpu c, ref DecodedInstr d) where S : ISize
    {
        ulong ea = BtAddr<S>(c, ref d, out int bit);
        int op = BtKind(ref d);
        if (op == 0) { BitOp(c, 0, S.Read(c, d.Seg, ea), bit); return; }
        byte* p = c.MapRmw(d.Seg, ea, S.Bits / 8);
        S.Store(p, BitOp(c, op, S.Load(p), bit));
        c.CommitRmw();
    }

    public static void BtLockM<S>(IemCpu c, ref DecodedInstr d) where S : ISize
    {
        ulong ea = BtAddr<S>(c, ref d, out int bit);
        int op = BtKind(ref d);
        byte* p = c.MapRmw(d.Seg, ea, S.Bits / 8);
        if (c.RmwBounced)
        {
            lock (c.Machine.SplitLock) { S.Store(p, BitOp(c, op, S.Load(p), bit)); c.CommitRmw(); }
            return;
        }
        while (true)
        {
            ulong old = S.Load(p);
            ulong r = BitOp(c, op, old, bit);
            if (S.Cas(p, r, old) == old) return;
        }
    }

    /// <summary>BSF/BSR: ZF=1 and destination unchanged for a zero source; CF/OF/SF/AF/PF cleared.</summary>
    public static void Bsf<S>(IemCpu c, ref DecodedInstr d) where S : ISize
    {
        ulong v = Operand<S>(c, ref d);
        if (v == 0) { c.SetArithFlags(RFlags.ZF | RFlags.PF); return; }
        int r = d.Opcode == 0xBC ? BitOperations.TrailingZeroCount(v) : 63 - BitOperations.LeadingZeroCount(v);
        S.SetReg(c, d.Reg, (ulong)r);
        c.SetArithFlags(ParityFlag((byte)r));
    }

    private static uint ParityFlag(byte b) => (BitOperations.PopCount(b) & 1) == 0 ? RFlags.PF : 0;

    /// <summary>TZCNT (F3 0F BC) / LZCNT (F3 0F BD): CF = source was zero, ZF = result is zero.</summary>
    public static void Tzcnt<S>(IemCpu c, ref DecodedInstr d) where S : ISize
    {
        ulong v = Operand<S>(c, ref d);
        int r;
        if (d.Opcode == 0xBC) r = v == 0 ? S.Bits : BitOperations.TrailingZeroCount(v);
        else r = v == 0 ? S.Bits : BitOperations.LeadingZeroCount(v) - (64 - S.Bits);
        S.SetReg(c, d.Reg, (ulong)r);
        uint f = c.GetEflags() & ~(RFlags.CF | RFlags.ZF);
        if (v == 0) f |= RFlags.CF;
        if (r == 0) f |= RFlags.ZF;
        c.SetArithFlags(f);
    }

    public static void Popcnt<S>(IemCpu c, ref DecodedInstr d) where S : ISize
    {
        ulong v = Operand<S>(c, ref d);
        S.SetReg(c, d.Reg, (ulong)BitOperations.PopCount(v));
        c.SetArithFlags(v == 0 ? RFlags.ZF : 0);
    }

    /// <summary>MOVBE Gv, Mv (0F 38 F0) and Mv, Gv (0F 38 F1).</summary>
    public static void Movbe<S>(IemCpu c, ref DecodedInstr d) where S : ISize
    {
        if (!d.IsMem || (d.Prefixes & (Pfx.Rep | Pfx.RepNe)) != 0) c.RaiseUd();
        ulong ea = c.Ea(ref d);
        if (d.Opcode == 0xF0) S.SetReg(c, d.Reg, Swap<S>(S.Read(c, d.Seg, ea)));
        else S.Write(c, d.Seg, ea, Swap<S>(S.GetReg(c, d.Reg)));
    }

    private static ulong Swap<S>(ulong v) where S : ISize => S.Bits switch
    {
        16 => System.Buffers.Binary.BinaryPrimitives.ReverseEndianness((ushort)v),
        32 => System.Buffers.Binary.BinaryPrimitives.ReverseEndianness((uint)v),
        _ => System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(v),
    };
}
