using System.Runtime.Intrinsics;
using V = System.Runtime.Intrinsics.Vector128<byte>;

namespace SharpBox.Vmm.Iem.Simd;

/// <summary>
/// SSE4.2 string compares (PCMPESTRI/M, PCMPISTRI/M), written out from the SDM's definition: element
/// format imm8[1:0], aggregation imm8[3:2], polarity imm8[5:4], output selection imm8[6]. <c>a</c> is the
/// first operand (XMM register), <c>b</c> the second (XMM/m128); explicit lengths come from EAX/RAX and
/// EDX/RDX, implicit ones end at the first zero element.
/// </summary>
public static class PcmpStr
{
    public const uint CF = 1, ZF = 0x40, SF = 0x80, OF = 0x800;

    /// <summary>Length of an implicit (NUL-terminated) operand in elements.</summary>
    public static int ImplicitLength(V v, byte imm)
    {
        bool words = (imm & 1) != 0;
        int n = words ? 8 : 16;
        for (int i = 0; i < n; i++)
            if ((words ? v.AsUInt16()[i] : v[i]) == 0) return i;
        return n;
    }

    /// <summary>Length of an explicit operand: |value| saturated to the element count.</summary>
    public static int ExplicitLength(long value, byte imm)
    {
        int n = (imm & 1) != 0 ? 8 : 16;
        ulong mag = value < 0 ? (ulong)(-(value + 1)) + 1 : (ulong)value;
        return mag > (ulong)n ? n : (int)mag;
    }

    /// <summary>Computes IntRes2 (bit j = element j of <paramref name="b"/>) and the flags (CF, ZF, SF, OF; AF and PF clear).</summary>
    public static uint Compare(V a, V b, int la, int lb, byte imm, out uint flags)
    {
        int fmt = imm & 3, agg = (imm >> 2) & 3, pol = (imm >> 4) & 3;
        int n = (fmt & 1) != 0 ? 8 : 16;
        Span<int> ea = stackalloc int[16], eb = stackalloc int[16];
        for (int i = 0; i < n; i++)
        {
            ea[i] = Elem(a, i, fmt);
            eb[i] = Elem(b, i, fmt);
        }
        uint res1 = 0;
        for (int j = 0; j < n; j++)
        {
            bool bit = false;
            switch (agg)
            {
                case 0: // equal any: is b[j] one of a's valid elements
                    if (j < lb) for (int i = 0; i < la && !bit; i++) bit = eb[j] == ea[i];
                    break;
                case 1: // ranges: a holds (low, high) pairs
                    if (j < lb)
                        for (int i = 0; i + 1 < la && !bit; i += 2) bit = eb[j] >= ea[i] && eb[j] <= ea[i + 1];
                    break;
                case 2: // equal each
                    bit = j < la ? j < lb && ea[j] == eb[j] : j >= lb;
                    break;
                default: // equal ordered: does a occur in b starting at j
                    bit = true;
                    for (int k = 0; k < n - j && bit; k++)
                    {
                        if (k >= la) break;                 // a exhausted: match so far stands
                        if (j + k >= lb) { bit = false; break; }
                        bit = ea[k] == eb[j + k];
                    }
                    break;
            }
            if (bit) res1 |= 1u << j;
        }
        uint all = n == 16 ? 0xFFFFu : 0xFFu;
        uint res2 = pol switch
        {
            1 => ~res1 & all,
            3 => res1 ^ ((1u << lb) - 1),
            _ => res1,
        };
        flags = (res2 != 0 ? CF : 0) | (lb < n ? ZF : 0) | (la < n ? SF : 0) | ((res2 & 1) != 0 ? OF : 0);
        return res2;
    }

    /// <summary>PCMPxSTRI's ECX: the least (imm8[6]=0) or most significant set bit, or the element count if none.</summary>
    public static uint Index(uint res2, byte imm)
    {
        int n = (imm & 1) != 0 ? 8 : 16;
        if (res2 == 0) return (uint)n;
        return (imm & 0x40) == 0 ? (uint)System.Numerics.BitOperations.TrailingZeroCount(res2) : (uint)(31 - System.Numerics.BitOperations.LeadingZeroCount(res2));
    }

    /// <summary>PCMPxSTRM's XMM0: the bit mask (imm8[6]=0) or one all-ones/zero element per bit.</summary>
    public static V Mask(uint res2, byte imm)
    {
        if ((imm & 0x40) == 0) return Vector128.CreateScalar(res2).AsByte();
        Span<byte> r = stackalloc byte[16];
        if ((imm & 1) != 0)
            for (int i = 0; i < 8; i++) { byte v = (byte)(((res2 >> i) & 1) != 0 ? 0xFF : 0); r[2 * i] = v; r[2 * i + 1] = v; }
        else
            for (int i = 0; i < 16; i++) r[i] = (byte)(((res2 >> i) & 1) != 0 ? 0xFF : 0);
        return Vector128.Create<byte>(r);
    }

    static int Elem(V v, int i, int fmt) => fmt switch
    {
        0 => v[i],
        1 => v.AsUInt16()[i],
        2 => (sbyte)v[i],
        _ => v.AsInt16()[i],
    };
}
