using SharpBox.Vmm.Cpum;

namespace SharpBox.Vmm.Iem;

// MUL/IMUL/DIV/IDIV (group 3 /4../7) and the two- and three-operand IMUL forms. CF=OF report a
// significant upper half; SF/ZF/PF follow the low half of the result, AF is cleared.
public static unsafe partial class Handlers
{
    private static ulong Operand<S>(IemCpu c, ref DecodedInstr d) where S : ISize =>
        d.IsMem ? S.Read(c, d.Seg, c.Ea(ref d)) : S.GetReg(c, d.Rm);

    public static void Mul<S>(IemCpu c, ref DecodedInstr d) where S : ISize
    {
        ulong b = Operand<S>(c, ref d);
        ulong lo, hi;
        switch (S.Bits)
        {
            case 8: { uint r = (uint)c.R8(0) * (uint)b; c.R16(0) = (ushort)r; lo = r & 0xFF; hi = r >> 8; break; }
            case 16: { uint r = (uint)c.R16(0) * (uint)b; c.R16(0) = (ushort)r; c.R16(2) = (ushort)(r >> 16); lo = r & 0xFFFF; hi = r >> 16; break; }
            case 32: { ulong r = (ulong)c.R32(0) * b; c.SetR32(0, (uint)r); c.SetR32(2, (uint)(r >> 32)); lo = (uint)r; hi = r >> 32; break; }
            default: { hi = Math.BigMul(c.R(0), b, out lo); c.R(0) = lo; c.R(2) = hi; break; }
        }
        uint f = hi != 0 ? 1u : 0u;
        c.FlagsResult<S>(lo, f, f);
    }

    public static void Imul1<S>(IemCpu c, ref DecodedInstr d) where S : ISize
    {
        long b = (long)SizeOps.Sx<S>(Operand<S>(c, ref d));
        ulong lo; bool ovf;
        switch (S.Bits)
        {
            case 8: { int r = (sbyte)c.R8(0) * (int)b; c.R16(0) = (ushort)r; lo = (byte)r; ovf = r != (sbyte)r; break; }
            case 16: { int r = (short)c.R16(0) * (int)b; c.R16(0) = (ushort)r; c.R16(2) = (ushort)(r >> 16); lo = (ushort)r; ovf = r != (short)r; break; }
            case 32: { long r = (int)c.R32(0) * b; c.SetR32(0, (uint)r); c.SetR32(2, (uint)(r >> 32)); lo = (uint)r; ovf = r != (int)r; break; }
            default:
            {
                long hi = Math.BigMul((long)c.R(0), b, out long l);
                c.R(0) = (ulong)l; c.R(2) = (ulong)hi; lo = (ulong)l;
                ovf = hi != (l >> 63);
                break;
            }
        }
        uint f = ovf ? 1u : 0u;
        c.FlagsResult<S>(lo, f, f);
    }

    private static ulong ImulTrunc<S>(IemCpu c, ulong a, ulong b) where S : ISize
    {
        long sa = (long)SizeOps.Sx<S>(a), sb = (long)SizeOps.Sx<S>(b);
        ulong lo; bool ovf;
        if (S.Bits == 64)
        {
            long hi = Math.BigMul(sa, sb, out long l);
            lo = (ulong)l; ovf = hi != (l >> 63);
        }
        else
        {
            long r = sa * sb;
            lo = (ulong)r & S.Mask;
            ovf = (long)SizeOps.Sx<S>(lo) != r;
        }
        uint f = ovf ? 1u : 0u;
        c.FlagsResult<S>(lo, f, f);
        return lo;
    }

    /// <summary>IMUL Gv, Ev (0F AF).</summary>
    public static void Imul2<S>(IemCpu c, ref DecodedInstr d) where S : ISize =>
        S.SetReg(c, d.Reg, ImulTrunc<S>(c, S.GetReg(c, d.Reg), Operand<S>(c, ref d)));

    /// <summary>IMUL Gv, Ev, Iz/Ib (69, 6B).</summary>
    public static void Imul3<S>(IemCpu c, ref DecodedInstr d) where S : ISize =>
        S.SetReg(c, d.Reg, ImulTrunc<S>(c, Operand<S>(c, ref d), d.Imm & S.Mask));

    public static void Div<S>(IemCpu c, ref DecodedInstr d) where S : ISize
    {
        ulong b = Operand<S>(c, ref d);
        if (b == 0) c.RaiseXcpt(Xcpt.DE);
        switch (S.Bits)
        {
            case 8:
            {
                uint a = c.R16(0); uint q = a / (uint)b;
                if (q > 0xFF) c.RaiseXcpt(Xcpt.DE);
                c.R16(0) = (ushort)((a % (uint)b) << 8 | q); break;
            }
            case 16:
            {
                uint a = (uint)c.R16(2) << 16 | c.R16(0); uint q = a / (uint)b;
                if (q > 0xFFFF) c.RaiseXcpt(Xcpt.DE);
                c.R16(0) = (ushort)q; c.R16(2) = (ushort)(a % (uint)b); break;
            }
            case 32:
            {
                ulong a = (ulong)c.R32(2) << 32 | c.R32(0); ulong q = a / b;
                if (q > 0xFFFFFFFF) c.RaiseXcpt(Xcpt.DE);
                c.SetR32(0, (uint)q); c.SetR32(2, (uint)(a % b)); break;
            }
            default:
            {
                ulong hi = c.R(2), lo = c.R(0);
                if (hi >= b) c.RaiseXcpt(Xcpt.DE);
                UInt128 a = ((UInt128)hi << 64) | lo;
                c.R(0) = (ulong)(a / b); c.R(2) = (ulong)(a % b); break;
            }
        }
    }

    public static void Idiv<S>(IemCpu c, ref DecodedInstr d) where S : ISize
    {
        long b = (long)SizeOps.Sx<S>(Operand<S>(c, ref d));
        if (b == 0) c.RaiseXcpt(Xcpt.DE);
        switch (S.Bits)
        {
            case 8:
            {
                int a = (short)c.R16(0); int q = a / (int)b;
                if (q != (sbyte)q) c.RaiseXcpt(Xcpt.DE);
                c.R16(0) = (ushort)(((byte)(a % (int)b) << 8) | (byte)q); break;
            }
            case 16:
            {
                int a = (int)((uint)c.R16(2) << 16 | c.R16(0)); long q = (long)a / b;
                if (q != (short)q) c.RaiseXcpt(Xcpt.DE);
                c.R16(0) = (ushort)q; c.R16(2) = (ushort)(a % b); break;
            }
            case 32:
            {
                long a = (long)((ulong)c.R32(2) << 32 | c.R32(0));
                if (a == long.MinValue && b == -1) c.RaiseXcpt(Xcpt.DE);
                long q = a / b;
                if (q != (int)q) c.RaiseXcpt(Xcpt.DE);
                c.SetR32(0, (uint)q); c.SetR32(2, (uint)(a % b)); break;
            }
            default:
            {
                Int128 a = (Int128)(((UInt128)c.R(2) << 64) | c.R(0));
                Int128 q;
                if (b == -1) { if (a == Int128.MinValue) c.RaiseXcpt(Xcpt.DE); q = -a; }
                else q = a / b;
                if (q != (long)q) c.RaiseXcpt(Xcpt.DE);
                c.R(0) = (ulong)(long)q; c.R(2) = (ulong)(long)(a - q * b); break;
            }
        }
    }
}
