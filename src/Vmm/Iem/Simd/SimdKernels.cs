using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using V = System.Runtime.Intrinsics.Vector128<byte>;

namespace SharpBox.Vmm.Iem.Simd;

// Integer (and bitwise floating-point) SIMD kernels: pure functions of their operands, one struct per
// instruction so handlers specialise over them (static abstract members: no indirect call, inlined).
// X is the 128-bit (XMM) form, M the 64-bit (MMX) form. SSE2 is the x86-64 baseline; SSSE3/SSE4.x
// kernels use the host instructions and the CPU model only advertises those extensions when the host
// has them (SimdFeatures).

/// <summary>dst = op(dst, src), 128-bit.</summary>
public interface IXmmOp { static abstract V X(V a, V b); }
/// <summary>dst = op(dst, src) in both widths.</summary>
public interface IVecOp : IXmmOp { static abstract ulong M(ulong a, ulong b); }
/// <summary>dst = op(dst, src, imm8), 128-bit.</summary>
public interface IXmmImmOp { static abstract V X(V a, V b, byte imm); }
public interface IVecImmOp : IXmmImmOp { static abstract ulong M(ulong a, ulong b, byte imm); }
/// <summary>Shift groups 0F 71/72/73: dst = op(dst, imm8).</summary>
public interface IXmmShiftImm { static abstract V X(V a, byte imm); }
public interface IVecShiftImm : IXmmShiftImm { static abstract ulong M(ulong a, byte imm); }

internal static class K
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Q(ulong lo) => Vector128.CreateScalar(lo).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Q(ulong lo, ulong hi) => Vector128.Create(lo, hi).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong Lo(V v) => v.AsUInt64().ToScalar();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong Hi(V v) => v.AsUInt64().GetElement(1);
    /// <summary>An element-wise 128-bit kernel applied to 64-bit operands.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong M<T>(ulong a, ulong b) where T : IXmmOp => Lo(T.X(Q(a), Q(b)));
    /// <summary>A kernel whose result's low half combines both operands' low halves (packs, horizontal ops): feed (a, b) as one register.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong MPair<T>(ulong a, ulong b) where T : IXmmOp { var v = Q(a, b); return Lo(T.X(v, v)); }

    /// <summary>Shift count from a register/memory operand: the whole low 64 bits, saturating.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int Count(V b, int limit) { ulong c = Lo(b); return c > (ulong)limit ? limit : (int)c; }
}

// ---------------- bitwise ----------------
public struct Pand : IVecOp { public static V X(V a, V b) => a & b; public static ulong M(ulong a, ulong b) => a & b; }
public struct Pandn : IVecOp { public static V X(V a, V b) => Vector128.AndNot(b, a); public static ulong M(ulong a, ulong b) => ~a & b; }
public struct Por : IVecOp { public static V X(V a, V b) => a | b; public static ulong M(ulong a, ulong b) => a | b; }
public struct Pxor : IVecOp { public static V X(V a, V b) => a ^ b; public static ulong M(ulong a, ulong b) => a ^ b; }

// ---------------- add / subtract ----------------
public struct Paddb : IVecOp { public static V X(V a, V b) => a + b; public static ulong M(ulong a, ulong b) => K.M<Paddb>(a, b); }
public struct Paddw : IVecOp { public static V X(V a, V b) => (a.AsUInt16() + b.AsUInt16()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Paddw>(a, b); }
public struct Paddd : IVecOp { public static V X(V a, V b) => (a.AsUInt32() + b.AsUInt32()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Paddd>(a, b); }
public struct Paddq : IVecOp { public static V X(V a, V b) => (a.AsUInt64() + b.AsUInt64()).AsByte(); public static ulong M(ulong a, ulong b) => a + b; }
public struct Psubb : IVecOp { public static V X(V a, V b) => a - b; public static ulong M(ulong a, ulong b) => K.M<Psubb>(a, b); }
public struct Psubw : IVecOp { public static V X(V a, V b) => (a.AsUInt16() - b.AsUInt16()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Psubw>(a, b); }
public struct Psubd : IVecOp { public static V X(V a, V b) => (a.AsUInt32() - b.AsUInt32()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Psubd>(a, b); }
public struct Psubq : IVecOp { public static V X(V a, V b) => (a.AsUInt64() - b.AsUInt64()).AsByte(); public static ulong M(ulong a, ulong b) => a - b; }
public struct Paddsb : IVecOp { public static V X(V a, V b) => Sse2.AddSaturate(a.AsSByte(), b.AsSByte()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Paddsb>(a, b); }
public struct Paddsw : IVecOp { public static V X(V a, V b) => Sse2.AddSaturate(a.AsInt16(), b.AsInt16()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Paddsw>(a, b); }
public struct Paddusb : IVecOp { public static V X(V a, V b) => Sse2.AddSaturate(a, b); public static ulong M(ulong a, ulong b) => K.M<Paddusb>(a, b); }
public struct Paddusw : IVecOp { public static V X(V a, V b) => Sse2.AddSaturate(a.AsUInt16(), b.AsUInt16()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Paddusw>(a, b); }
public struct Psubsb : IVecOp { public static V X(V a, V b) => Sse2.SubtractSaturate(a.AsSByte(), b.AsSByte()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Psubsb>(a, b); }
public struct Psubsw : IVecOp { public static V X(V a, V b) => Sse2.SubtractSaturate(a.AsInt16(), b.AsInt16()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Psubsw>(a, b); }
public struct Psubusb : IVecOp { public static V X(V a, V b) => Sse2.SubtractSaturate(a, b); public static ulong M(ulong a, ulong b) => K.M<Psubusb>(a, b); }
public struct Psubusw : IVecOp { public static V X(V a, V b) => Sse2.SubtractSaturate(a.AsUInt16(), b.AsUInt16()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Psubusw>(a, b); }

// ---------------- multiply ----------------
public struct Pmullw : IVecOp { public static V X(V a, V b) => Sse2.MultiplyLow(a.AsInt16(), b.AsInt16()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Pmullw>(a, b); }
public struct Pmulhw : IVecOp { public static V X(V a, V b) => Sse2.MultiplyHigh(a.AsInt16(), b.AsInt16()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Pmulhw>(a, b); }
public struct Pmulhuw : IVecOp { public static V X(V a, V b) => Sse2.MultiplyHigh(a.AsUInt16(), b.AsUInt16()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Pmulhuw>(a, b); }
public struct Pmuludq : IVecOp { public static V X(V a, V b) => Sse2.Multiply(a.AsUInt32(), b.AsUInt32()).AsByte(); public static ulong M(ulong a, ulong b) => (ulong)(uint)a * (uint)b; }
public struct Pmaddwd : IVecOp { public static V X(V a, V b) => Sse2.MultiplyAddAdjacent(a.AsInt16(), b.AsInt16()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Pmaddwd>(a, b); }
public struct Psadbw : IVecOp { public static V X(V a, V b) => Sse2.SumAbsoluteDifferences(a, b).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Psadbw>(a, b); }
public struct Pavgb : IVecOp { public static V X(V a, V b) => Sse2.Average(a, b); public static ulong M(ulong a, ulong b) => K.M<Pavgb>(a, b); }
public struct Pavgw : IVecOp { public static V X(V a, V b) => Sse2.Average(a.AsUInt16(), b.AsUInt16()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Pavgw>(a, b); }

// ---------------- min / max ----------------
public struct Pminub : IVecOp { public static V X(V a, V b) => Sse2.Min(a, b); public static ulong M(ulong a, ulong b) => K.M<Pminub>(a, b); }
public struct Pmaxub : IVecOp { public static V X(V a, V b) => Sse2.Max(a, b); public static ulong M(ulong a, ulong b) => K.M<Pmaxub>(a, b); }
public struct Pminsw : IVecOp { public static V X(V a, V b) => Sse2.Min(a.AsInt16(), b.AsInt16()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Pminsw>(a, b); }
public struct Pmaxsw : IVecOp { public static V X(V a, V b) => Sse2.Max(a.AsInt16(), b.AsInt16()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Pmaxsw>(a, b); }

// ---------------- compare ----------------
public struct Pcmpeqb : IVecOp { public static V X(V a, V b) => Vector128.Equals(a, b); public static ulong M(ulong a, ulong b) => K.M<Pcmpeqb>(a, b); }
public struct Pcmpeqw : IVecOp { public static V X(V a, V b) => Vector128.Equals(a.AsUInt16(), b.AsUInt16()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Pcmpeqw>(a, b); }
public struct Pcmpeqd : IVecOp { public static V X(V a, V b) => Vector128.Equals(a.AsUInt32(), b.AsUInt32()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Pcmpeqd>(a, b); }
public struct Pcmpgtb : IVecOp { public static V X(V a, V b) => Vector128.GreaterThan(a.AsSByte(), b.AsSByte()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Pcmpgtb>(a, b); }
public struct Pcmpgtw : IVecOp { public static V X(V a, V b) => Vector128.GreaterThan(a.AsInt16(), b.AsInt16()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Pcmpgtw>(a, b); }
public struct Pcmpgtd : IVecOp { public static V X(V a, V b) => Vector128.GreaterThan(a.AsInt32(), b.AsInt32()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Pcmpgtd>(a, b); }

// ---------------- pack / unpack ----------------
public struct Packsswb : IVecOp { public static V X(V a, V b) => Sse2.PackSignedSaturate(a.AsInt16(), b.AsInt16()).AsByte(); public static ulong M(ulong a, ulong b) => K.MPair<Packsswb>(a, b); }
public struct Packuswb : IVecOp { public static V X(V a, V b) => Sse2.PackUnsignedSaturate(a.AsInt16(), b.AsInt16()); public static ulong M(ulong a, ulong b) => K.MPair<Packuswb>(a, b); }
public struct Packssdw : IVecOp { public static V X(V a, V b) => Sse2.PackSignedSaturate(a.AsInt32(), b.AsInt32()).AsByte(); public static ulong M(ulong a, ulong b) => K.MPair<Packssdw>(a, b); }
public struct Punpcklbw : IVecOp { public static V X(V a, V b) => Sse2.UnpackLow(a, b); public static ulong M(ulong a, ulong b) => K.M<Punpcklbw>(a, b); }
public struct Punpcklwd : IVecOp { public static V X(V a, V b) => Sse2.UnpackLow(a.AsUInt16(), b.AsUInt16()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Punpcklwd>(a, b); }
public struct Punpckldq : IVecOp { public static V X(V a, V b) => Sse2.UnpackLow(a.AsUInt32(), b.AsUInt32()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Punpckldq>(a, b); }
public struct Punpckhbw : IVecOp { public static V X(V a, V b) => Sse2.UnpackHigh(a, b); public static ulong M(ulong a, ulong b) => Punpcklbw.M(a >> 32, b >> 32); }
public struct Punpckhwd : IVecOp { public static V X(V a, V b) => Sse2.UnpackHigh(a.AsUInt16(), b.AsUInt16()).AsByte(); public static ulong M(ulong a, ulong b) => Punpcklwd.M(a >> 32, b >> 32); }
public struct Punpckhdq : IVecOp { public static V X(V a, V b) => Sse2.UnpackHigh(a.AsUInt32(), b.AsUInt32()).AsByte(); public static ulong M(ulong a, ulong b) => (a >> 32) | (b & 0xFFFFFFFF00000000); }
public struct Punpcklqdq : IXmmOp { public static V X(V a, V b) => K.Q(K.Lo(a), K.Lo(b)); }
public struct Punpckhqdq : IXmmOp { public static V X(V a, V b) => K.Q(K.Hi(a), K.Hi(b)); }

// ---------------- shifts by register/memory count ----------------
public struct Psrlw : IVecOp { public static V X(V a, V b) => Sse2.ShiftRightLogical(a.AsUInt16(), b.AsUInt16()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Psrlw>(a, b); }
public struct Psrld : IVecOp { public static V X(V a, V b) => Sse2.ShiftRightLogical(a.AsUInt32(), b.AsUInt32()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Psrld>(a, b); }
public struct Psrlq : IVecOp { public static V X(V a, V b) => Sse2.ShiftRightLogical(a.AsUInt64(), b.AsUInt64()).AsByte(); public static ulong M(ulong a, ulong b) => b > 63 ? 0 : a >> (int)b; }
public struct Psraw : IVecOp { public static V X(V a, V b) => Sse2.ShiftRightArithmetic(a.AsInt16(), b.AsInt16()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Psraw>(a, b); }
public struct Psrad : IVecOp { public static V X(V a, V b) => Sse2.ShiftRightArithmetic(a.AsInt32(), b.AsInt32()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Psrad>(a, b); }
public struct Psllw : IVecOp { public static V X(V a, V b) => Sse2.ShiftLeftLogical(a.AsUInt16(), b.AsUInt16()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Psllw>(a, b); }
public struct Pslld : IVecOp { public static V X(V a, V b) => Sse2.ShiftLeftLogical(a.AsUInt32(), b.AsUInt32()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Pslld>(a, b); }
public struct Psllq : IVecOp { public static V X(V a, V b) => Sse2.ShiftLeftLogical(a.AsUInt64(), b.AsUInt64()).AsByte(); public static ulong M(ulong a, ulong b) => b > 63 ? 0 : a << (int)b; }

// ---------------- shifts by immediate (0F 71/72/73) ----------------
public struct PsrlwI : IVecShiftImm { public static V X(V a, byte n) => n > 15 ? V.Zero : Vector128.ShiftRightLogical(a.AsUInt16(), n).AsByte(); public static ulong M(ulong a, byte n) => K.Lo(X(K.Q(a), n)); }
public struct PsrldI : IVecShiftImm { public static V X(V a, byte n) => n > 31 ? V.Zero : Vector128.ShiftRightLogical(a.AsUInt32(), n).AsByte(); public static ulong M(ulong a, byte n) => K.Lo(X(K.Q(a), n)); }
public struct PsrlqI : IVecShiftImm { public static V X(V a, byte n) => n > 63 ? V.Zero : Vector128.ShiftRightLogical(a.AsUInt64(), n).AsByte(); public static ulong M(ulong a, byte n) => n > 63 ? 0 : a >> n; }
public struct PsrawI : IVecShiftImm { public static V X(V a, byte n) => Vector128.ShiftRightArithmetic(a.AsInt16(), n > 15 ? 15 : n).AsByte(); public static ulong M(ulong a, byte n) => K.Lo(X(K.Q(a), n)); }
public struct PsradI : IVecShiftImm { public static V X(V a, byte n) => Vector128.ShiftRightArithmetic(a.AsInt32(), n > 31 ? 31 : n).AsByte(); public static ulong M(ulong a, byte n) => K.Lo(X(K.Q(a), n)); }
public struct PsllwI : IVecShiftImm { public static V X(V a, byte n) => n > 15 ? V.Zero : Vector128.ShiftLeft(a.AsUInt16(), n).AsByte(); public static ulong M(ulong a, byte n) => K.Lo(X(K.Q(a), n)); }
public struct PslldI : IVecShiftImm { public static V X(V a, byte n) => n > 31 ? V.Zero : Vector128.ShiftLeft(a.AsUInt32(), n).AsByte(); public static ulong M(ulong a, byte n) => K.Lo(X(K.Q(a), n)); }
public struct PsllqI : IVecShiftImm { public static V X(V a, byte n) => n > 63 ? V.Zero : Vector128.ShiftLeft(a.AsUInt64(), n).AsByte(); public static ulong M(ulong a, byte n) => n > 63 ? 0 : a << n; }
public struct PsrldqI : IXmmShiftImm
{
    public static V X(V a, byte n)
    {
        if (n > 15) return V.Zero;
        UInt128 v = Unsafe.As<V, UInt128>(ref a) >> (8 * n);
        return Unsafe.As<UInt128, V>(ref v);
    }
}
public struct PslldqI : IXmmShiftImm
{
    public static V X(V a, byte n)
    {
        if (n > 15) return V.Zero;
        UInt128 v = Unsafe.As<V, UInt128>(ref a) << (8 * n);
        return Unsafe.As<UInt128, V>(ref v);
    }
}

// ---------------- shuffles ----------------
public struct Pshufd : IXmmImmOp
{
    public static V X(V a, V b, byte i) => Vector128.Create(b.AsUInt32().GetElement(i & 3), b.AsUInt32().GetElement((i >> 2) & 3),
        b.AsUInt32().GetElement((i >> 4) & 3), b.AsUInt32().GetElement(i >> 6)).AsByte();
}
public struct Pshufhw : IXmmImmOp
{
    public static V X(V a, V b, byte i)
    {
        var w = b.AsUInt16();
        return Vector128.Create(w[0], w[1], w[2], w[3], w[4 + (i & 3)], w[4 + ((i >> 2) & 3)], w[4 + ((i >> 4) & 3)], w[4 + (i >> 6)]).AsByte();
    }
}
public struct Pshuflw : IXmmImmOp
{
    public static V X(V a, V b, byte i)
    {
        var w = b.AsUInt16();
        return Vector128.Create(w[i & 3], w[(i >> 2) & 3], w[(i >> 4) & 3], w[i >> 6], w[4], w[5], w[6], w[7]).AsByte();
    }
}
/// <summary>PSHUFW mm, mm/m64, imm8 (MMX only).</summary>
public static class Pshufw
{
    public static ulong M(ulong b, byte i)
    {
        ulong r = 0;
        for (int k = 0; k < 4; k++) r |= ((b >> (16 * ((i >> (2 * k)) & 3))) & 0xFFFF) << (16 * k);
        return r;
    }
}
public struct Shufps : IXmmImmOp
{
    public static V X(V a, V b, byte i) => Vector128.Create(a.AsUInt32().GetElement(i & 3), a.AsUInt32().GetElement((i >> 2) & 3),
        b.AsUInt32().GetElement((i >> 4) & 3), b.AsUInt32().GetElement(i >> 6)).AsByte();
}
public struct Shufpd : IXmmImmOp
{
    public static V X(V a, V b, byte i) => K.Q(a.AsUInt64().GetElement(i & 1), b.AsUInt64().GetElement((i >> 1) & 1));
}
public struct Unpcklps : IXmmOp { public static V X(V a, V b) => Sse2.UnpackLow(a.AsUInt32(), b.AsUInt32()).AsByte(); }
public struct Unpckhps : IXmmOp { public static V X(V a, V b) => Sse2.UnpackHigh(a.AsUInt32(), b.AsUInt32()).AsByte(); }
public struct Unpcklpd : IXmmOp { public static V X(V a, V b) => K.Q(K.Lo(a), K.Lo(b)); }
public struct Unpckhpd : IXmmOp { public static V X(V a, V b) => K.Q(K.Hi(a), K.Hi(b)); }

// ---------------- SSSE3 ----------------
public struct Pshufb : IVecOp
{
    public static V X(V a, V b) => Ssse3.Shuffle(a, b);
    // MMX: index bits 2:0 select, bit 7 zeroes; duplicating the source makes bit 3 irrelevant.
    public static ulong M(ulong a, ulong b) => K.Lo(Ssse3.Shuffle(K.Q(a, a), K.Q(b)));
}
public struct Phaddw : IVecOp { public static V X(V a, V b) => Ssse3.HorizontalAdd(a.AsInt16(), b.AsInt16()).AsByte(); public static ulong M(ulong a, ulong b) => K.MPair<Phaddw>(a, b); }
public struct Phaddd : IVecOp { public static V X(V a, V b) => Ssse3.HorizontalAdd(a.AsInt32(), b.AsInt32()).AsByte(); public static ulong M(ulong a, ulong b) => K.MPair<Phaddd>(a, b); }
public struct Phaddsw : IVecOp { public static V X(V a, V b) => Ssse3.HorizontalAddSaturate(a.AsInt16(), b.AsInt16()).AsByte(); public static ulong M(ulong a, ulong b) => K.MPair<Phaddsw>(a, b); }
public struct Phsubw : IVecOp { public static V X(V a, V b) => Ssse3.HorizontalSubtract(a.AsInt16(), b.AsInt16()).AsByte(); public static ulong M(ulong a, ulong b) => K.MPair<Phsubw>(a, b); }
public struct Phsubd : IVecOp { public static V X(V a, V b) => Ssse3.HorizontalSubtract(a.AsInt32(), b.AsInt32()).AsByte(); public static ulong M(ulong a, ulong b) => K.MPair<Phsubd>(a, b); }
public struct Phsubsw : IVecOp { public static V X(V a, V b) => Ssse3.HorizontalSubtractSaturate(a.AsInt16(), b.AsInt16()).AsByte(); public static ulong M(ulong a, ulong b) => K.MPair<Phsubsw>(a, b); }
public struct Pmaddubsw : IVecOp { public static V X(V a, V b) => Ssse3.MultiplyAddAdjacent(a, b.AsSByte()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Pmaddubsw>(a, b); }
public struct Pmulhrsw : IVecOp { public static V X(V a, V b) => Ssse3.MultiplyHighRoundScale(a.AsInt16(), b.AsInt16()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Pmulhrsw>(a, b); }
public struct Psignb : IVecOp { public static V X(V a, V b) => Ssse3.Sign(a.AsSByte(), b.AsSByte()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Psignb>(a, b); }
public struct Psignw : IVecOp { public static V X(V a, V b) => Ssse3.Sign(a.AsInt16(), b.AsInt16()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Psignw>(a, b); }
public struct Psignd : IVecOp { public static V X(V a, V b) => Ssse3.Sign(a.AsInt32(), b.AsInt32()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Psignd>(a, b); }
public struct Pabsb : IVecOp { public static V X(V a, V b) => Ssse3.Abs(b.AsSByte()); public static ulong M(ulong a, ulong b) => K.M<Pabsb>(a, b); }
public struct Pabsw : IVecOp { public static V X(V a, V b) => Ssse3.Abs(b.AsInt16()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Pabsw>(a, b); }
public struct Pabsd : IVecOp { public static V X(V a, V b) => Ssse3.Abs(b.AsInt32()).AsByte(); public static ulong M(ulong a, ulong b) => K.M<Pabsd>(a, b); }
public struct Palignr : IVecImmOp
{
    public static V X(V a, V b, byte n)
    {
        // (a:b) as 256 bits, shifted right by n bytes, low 128 bits.
        if (n >= 32) return V.Zero;
        if (n >= 16) return PsrldqI.X(a, (byte)(n - 16));
        if (n == 0) return b;
        UInt128 lo = Unsafe.As<V, UInt128>(ref b) >> (8 * n);
        UInt128 hi = Unsafe.As<V, UInt128>(ref a) << (8 * (16 - n));
        UInt128 r = lo | hi;
        return Unsafe.As<UInt128, V>(ref r);
    }
    public static ulong M(ulong a, ulong b, byte n) => K.Lo(PsrldqI.X(K.Q(b, a), n));
}

// ---------------- SSE4.1 ----------------
public struct Pmuldq : IXmmOp { public static V X(V a, V b) => Sse41.Multiply(a.AsInt32(), b.AsInt32()).AsByte(); }
public struct Pmulld : IXmmOp { public static V X(V a, V b) => Sse41.MultiplyLow(a.AsInt32(), b.AsInt32()).AsByte(); }
public struct Pcmpeqq : IXmmOp { public static V X(V a, V b) => Vector128.Equals(a.AsUInt64(), b.AsUInt64()).AsByte(); }
public struct Pcmpgtq : IXmmOp { public static V X(V a, V b) => Vector128.GreaterThan(a.AsInt64(), b.AsInt64()).AsByte(); }
public struct Packusdw : IXmmOp { public static V X(V a, V b) => Sse41.PackUnsignedSaturate(a.AsInt32(), b.AsInt32()).AsByte(); }
public struct Pminsb : IXmmOp { public static V X(V a, V b) => Vector128.Min(a.AsSByte(), b.AsSByte()).AsByte(); }
public struct Pminsd : IXmmOp { public static V X(V a, V b) => Vector128.Min(a.AsInt32(), b.AsInt32()).AsByte(); }
public struct Pminuw : IXmmOp { public static V X(V a, V b) => Vector128.Min(a.AsUInt16(), b.AsUInt16()).AsByte(); }
public struct Pminud : IXmmOp { public static V X(V a, V b) => Vector128.Min(a.AsUInt32(), b.AsUInt32()).AsByte(); }
public struct Pmaxsb : IXmmOp { public static V X(V a, V b) => Vector128.Max(a.AsSByte(), b.AsSByte()).AsByte(); }
public struct Pmaxsd : IXmmOp { public static V X(V a, V b) => Vector128.Max(a.AsInt32(), b.AsInt32()).AsByte(); }
public struct Pmaxuw : IXmmOp { public static V X(V a, V b) => Vector128.Max(a.AsUInt16(), b.AsUInt16()).AsByte(); }
public struct Pmaxud : IXmmOp { public static V X(V a, V b) => Vector128.Max(a.AsUInt32(), b.AsUInt32()).AsByte(); }
public struct Pmovsxbw : IXmmOp { public static V X(V a, V b) => Vector128.WidenLower(b.AsSByte()).AsByte(); }
public struct Pmovsxbd : IXmmOp { public static V X(V a, V b) => Vector128.WidenLower(Vector128.WidenLower(b.AsSByte())).AsByte(); }
public struct Pmovsxbq : IXmmOp { public static V X(V a, V b) => Vector128.Create((long)(sbyte)b[0], (sbyte)b[1]).AsByte(); }
public struct Pmovsxwd : IXmmOp { public static V X(V a, V b) => Vector128.WidenLower(b.AsInt16()).AsByte(); }
public struct Pmovsxwq : IXmmOp { public static V X(V a, V b) => Vector128.WidenLower(Vector128.WidenLower(b.AsInt16())).AsByte(); }
public struct Pmovsxdq : IXmmOp { public static V X(V a, V b) => Vector128.WidenLower(b.AsInt32()).AsByte(); }
public struct Pmovzxbw : IXmmOp { public static V X(V a, V b) => Vector128.WidenLower(b).AsByte(); }
public struct Pmovzxbd : IXmmOp { public static V X(V a, V b) => Vector128.WidenLower(Vector128.WidenLower(b)).AsByte(); }
public struct Pmovzxbq : IXmmOp { public static V X(V a, V b) => Vector128.Create((ulong)b[0], b[1]).AsByte(); }
public struct Pmovzxwd : IXmmOp { public static V X(V a, V b) => Vector128.WidenLower(b.AsUInt16()).AsByte(); }
public struct Pmovzxwq : IXmmOp { public static V X(V a, V b) => Vector128.WidenLower(Vector128.WidenLower(b.AsUInt16())).AsByte(); }
public struct Pmovzxdq : IXmmOp { public static V X(V a, V b) => Vector128.WidenLower(b.AsUInt32()).AsByte(); }
public struct Phminposuw : IXmmOp
{
    public static V X(V a, V b)
    {
        var w = b.AsUInt16();
        int idx = 0; ushort min = w[0];
        for (int i = 1; i < 8; i++) if (w[i] < min) { min = w[i]; idx = i; }
        return Vector128.CreateScalar((uint)min | ((uint)idx << 16)).AsByte();
    }
}
public struct Pblendw : IXmmImmOp
{
    public static V X(V a, V b, byte i)
    {
        var mask = Vector128.Create((ushort)-(i & 1), (ushort)-((i >> 1) & 1), (ushort)-((i >> 2) & 1), (ushort)-((i >> 3) & 1),
            (ushort)-((i >> 4) & 1), (ushort)-((i >> 5) & 1), (ushort)-((i >> 6) & 1), (ushort)-((i >> 7) & 1));
        return Vector128.ConditionalSelect(mask, b.AsUInt16(), a.AsUInt16()).AsByte();
    }
}
public struct Blendps : IXmmImmOp
{
    public static V X(V a, V b, byte i)
    {
        var mask = Vector128.Create((uint)-(i & 1), (uint)-((i >> 1) & 1), (uint)-((i >> 2) & 1), (uint)-((i >> 3) & 1));
        return Vector128.ConditionalSelect(mask, b.AsUInt32(), a.AsUInt32()).AsByte();
    }
}
public struct Blendpd : IXmmImmOp
{
    public static V X(V a, V b, byte i) => K.Q((i & 1) != 0 ? K.Lo(b) : K.Lo(a), (i & 2) != 0 ? K.Hi(b) : K.Hi(a));
}
/// <summary>Variable blends: the mask is XMM0's sign bits (per byte, dword or qword).</summary>
public static class Blendv
{
    public static V Pblendvb(V a, V b, V m) => Vector128.ConditionalSelect(Vector128.ShiftRightArithmetic(m.AsSByte(), 7).AsByte(), b, a);
    public static V Blendvps(V a, V b, V m) => Vector128.ConditionalSelect(Vector128.ShiftRightArithmetic(m.AsInt32(), 31).AsByte(), b, a);
    public static V Blendvpd(V a, V b, V m) => Vector128.ConditionalSelect(Vector128.ShiftRightArithmetic(m.AsInt64(), 63).AsByte(), b, a);
}
public struct Mpsadbw : IXmmImmOp
{
    public static V X(V a, V b, byte i)
    {
        int ao = ((i >> 2) & 1) * 4, bo = (i & 3) * 4;
        Span<ushort> r = stackalloc ushort[8];
        for (int k = 0; k < 8; k++)
        {
            int s = 0;
            for (int j = 0; j < 4; j++) s += Math.Abs(a[ao + k + j] - b[bo + j]);
            r[k] = (ushort)s;
        }
        return Vector128.Create<ushort>(r).AsByte();
    }
}
public struct Insertps : IXmmImmOp
{
    /// <summary>Register form: source dword imm[7:6] of b. The memory form passes the dword in b's element 0 with imm[7:6] cleared.</summary>
    public static V X(V a, V b, byte i)
    {
        var d = a.AsUInt32().WithElement((i >> 4) & 3, b.AsUInt32().GetElement(i >> 6));
        var zero = Vector128.Create((uint)-(i & 1), (uint)-((i >> 1) & 1), (uint)-((i >> 2) & 1), (uint)-((i >> 3) & 1));
        return Vector128.AndNot(d, zero).AsByte();
    }
}

// ---------------- bitwise floating-point (no exceptions, no MXCSR) ----------------
public struct Andnps : IXmmOp { public static V X(V a, V b) => Vector128.AndNot(b, a); }
