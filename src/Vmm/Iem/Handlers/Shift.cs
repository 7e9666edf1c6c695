using System.Runtime.CompilerServices;
using SharpBox.Vmm.Cpum;

namespace SharpBox.Vmm.Iem;

// Group 2 (ROL ROR RCL RCR SHL SHR SAL SAR) and SHLD/SHRD. The count is masked to 5 bits (6 for
// 64-bit operands); a masked count of 0 changes no flags. OF is computed with the count-1 formula
// for every count (what Intel CPUs do); AF is cleared for shifts.
public static unsafe partial class Handlers
{
    /// <summary>Shift/rotate kind = ModRM.reg.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong ShiftOp<S>(IemCpu c, int kind, ulong a, int count) where S : ISize
    {
        int bits = S.Bits;
        count &= bits == 64 ? 63 : 31;
        if (count == 0) return a;
        ulong mask = S.Mask, sign = S.SignBit;
        ulong r;
        uint cf, of;
        switch (kind)
        {
            case 0: // ROL
            {
                int n = count & (bits - 1);
                r = n == 0 ? a : ((a << n) | (a >> (bits - n))) & mask;
                cf = (uint)(r & 1);
                of = (uint)((r & sign) != 0 ? 1 : 0) ^ cf;
                c.SetCfOf(cf, of);
                return r;
            }
            case 1: // ROR
            {
                int n = count & (bits - 1);
                r = n == 0 ? a : ((a >> n) | (a << (bits - n))) & mask;
                cf = (r & sign) != 0 ? 1u : 0u;
                of = cf ^ ((r & (sign >> 1)) != 0 ? 1u : 0u);
                c.SetCfOf(cf, of);
                return r;
            }
            case 2: // RCL
            {
                int n = bits < 32 ? count % (bits + 1) : count;
                uint oldCf = c.CF;
                r = a; cf = oldCf;
                for (int i = 0; i < n; i++)
                {
                    uint msb = (r & sign) != 0 ? 1u : 0u;
                    r = ((r << 1) | cf) & mask;
                    cf = msb;
                }
                of = ((r & sign) != 0 ? 1u : 0u) ^ cf;
                c.SetCfOf(cf, of);
                return r;
            }
            case 3: // RCR
            {
                int n = bits < 32 ? count % (bits + 1) : count;
                uint oldCf = c.CF;
                r = a; cf = oldCf;
                of = ((a & sign) != 0 ? 1u : 0u) ^ oldCf;
                for (int i = 0; i < n; i++)
                {
                    uint lsb = (uint)(r & 1);
                    r = (r >> 1) | (cf != 0 ? sign : 0);
                    cf = lsb;
                }
                // OF = the two top bits of the result XORed (equals MSB(a)^CF for count 1).
                of = (uint)(((r >> (bits - 1)) ^ (r >> (bits - 2))) & 1);
                c.SetCfOf(cf, of);
                return r;
            }
            case 4: case 6: // SHL/SAL
            {
                r = count < 64 ? (a << count) & mask : 0;
                cf = count <= bits ? (uint)((a >> (bits - count)) & 1) : 0;
                of = ((r & sign) != 0 ? 1u : 0u) ^ cf;
                c.FlagsResult<S>(r, cf, of);
                return r;
            }
            case 5: // SHR
            {
                r = count < 64 ? a >> count : 0;
                cf = count <= bits ? (uint)((a >> (count - 1)) & 1) : 0;
                of = count == 1 ? ((a & sign) != 0 ? 1u : 0u) : 0u;
                c.FlagsResult<S>(r, cf, of);
                return r;
            }
            default: // SAR
            {
                long sa = (long)SizeOps.Sx<S>(a);
                int n = count >= bits ? bits - 1 : count;
                r = (ulong)(sa >> n) & mask;
                cf = (uint)((sa >> (count >= bits ? bits - 1 : count - 1)) & 1);
                c.FlagsResult<S>(r, cf, 0);
                return r;
            }
        }
    }

    /// <summary>Count source: 0 = 1 (D0/D1), 1 = CL (D2/D3), 2 = imm8 (C0/C1).</summary>
    public interface ICount { static abstract int Get(IemCpu c, ref DecodedInstr d); }
    public struct Count1 : ICount { public static int Get(IemCpu c, ref DecodedInstr d) => 1; }
    public struct CountCl : ICount { public static int Get(IemCpu c, ref DecodedInstr d) => c.R8(8); }
    public struct CountImm : ICount { public static int Get(IemCpu c, ref DecodedInstr d) => (byte)d.Imm; }

    public static void ShiftR<S, C>(IemCpu c, ref DecodedInstr d) where S : ISize where C : ICount
    {
        int n = C.Get(c, ref d);
        S.SetReg(c, d.Rm, ShiftOp<S>(c, d.ModRmReg, S.GetReg(c, d.Rm), n));
    }

    public static void ShiftM<S, C>(IemCpu c, ref DecodedInstr d) where S : ISize where C : ICount
    {
        int n = C.Get(c, ref d);
        byte* p = c.MapRmw(d.Seg, c.Ea(ref d), S.Bits / 8);
        S.Store(p, ShiftOp<S>(c, d.ModRmReg, S.Load(p), n));
        c.CommitRmw();
    }

    // ---- SHLD / SHRD ----

    internal static ulong DoubleShift<S>(IemCpu c, bool left, ulong dst, ulong src, int count) where S : ISize
    {
        int bits = S.Bits;
        count &= bits == 64 ? 63 : 31;
        if (count == 0) return dst;
        ulong mask = S.Mask, sign = S.SignBit;
        ulong r; uint cf, of;
        if (left)
        {
            if (bits == 16)
            {
                // 32-bit dst:src shifted; counts above 16 pull dst in again (dst:src:dst), as Intel CPUs do.
                uint t = (uint)((dst << 16) | src);
                uint res = t << count;
                if (count > 16) res |= (uint)(dst << (count - 16));
                r = (res >> 16) & 0xFFFF;
                cf = (t >> (32 - count)) & 1;
            }
            else
            {
                r = ((dst << count) | (src >> (bits - count))) & mask;
                cf = (uint)((dst >> (bits - count)) & 1);
            }
            of = cf ^ ((r & sign) != 0 ? 1u : 0u);
        }
        else
        {
            if (bits == 16)
            {
                uint t = (uint)((src << 16) | dst);
                uint res = t >> count;
                if (count > 16) res |= (uint)(dst << (32 - count));
                r = res & 0xFFFF;
                cf = (uint)((t >> (count - 1)) & 1);
            }
            else
            {
                r = ((dst >> count) | (src << (bits - count))) & mask;
                cf = (uint)((dst >> (count - 1)) & 1);
            }
            of = (uint)(((r >> (bits - 1)) ^ (r >> (bits - 2))) & 1);
        }
        c.FlagsResult<S>(r, cf, of);
        return r;
    }

    public static void ShldR<S, C>(IemCpu c, ref DecodedInstr d) where S : ISize where C : ICount =>
        S.SetReg(c, d.Rm, DoubleShift<S>(c, (d.Opcode & 8) == 0, S.GetReg(c, d.Rm), S.GetReg(c, d.Reg), C.Get(c, ref d)));

    public static void ShldM<S, C>(IemCpu c, ref DecodedInstr d) where S : ISize where C : ICount
    {
        int n = C.Get(c, ref d);
        byte* p = c.MapRmw(d.Seg, c.Ea(ref d), S.Bits / 8);
        S.Store(p, DoubleShift<S>(c, (d.Opcode & 8) == 0, S.Load(p), S.GetReg(c, d.Reg), n));
        c.CommitRmw();
    }
}
