using System.Numerics;
using System.Runtime.CompilerServices;
using SharpBox.Vmm.Cpum;

namespace SharpBox.Vmm.Iem;

// Lazy arithmetic flags (the Bochs scheme): an ALU op stores its result sign-extended to 64 bits
// (LfRes) and a compact word of carry information (LfAux); any flag is derived on demand without
// knowing which operation ran:
//   CF = LfAux bit 31
//   OF = LfAux bit 31 ^ bit 30       (bit 30 = carry out of the bit below the sign bit)
//   AF = LfAux bit 3                 (carry out of bit 3)
//   ZF = LfRes == 0
//   SF = LfRes bit 63 ^ LfAux bit 0  (bit 0 = "SF delta", used when flags are set explicitly)
//   PF = even parity of (low byte of LfRes ^ LfAux bits 8..15)
// Setting arbitrary flag values (POPF, SAHF, eager ops) picks an LfRes/LfAux pair that derives them.
public sealed unsafe partial class IemCpu
{
    public ulong LfRes;
    public uint LfAux;

    // ---- individual flags ----
    public uint CF { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => LfAux >> 31; }
    public uint OF { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => ((LfAux >> 31) ^ (LfAux >> 30)) & 1; }
    public uint AF { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => (LfAux >> 3) & 1; }
    public uint ZF { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => LfRes == 0 ? 1u : 0u; }
    public uint SF { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => (uint)((LfRes >> 63) ^ LfAux) & 1; }
    public uint PF
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => ~(uint)BitOperations.PopCount((byte)(LfRes ^ (LfAux >> 8))) & 1;
    }

    /// <summary>The six arithmetic flags in their EFLAGS positions.</summary>
    public uint ArithFlags()
    {
        uint cf = CF, of = OF;
        return cf | (PF << 2) | (AF << 4) | (ZF << 6) | (SF << 7) | (of << 11);
    }

    /// <summary>Full EFLAGS (low 32 bits of RFLAGS).</summary>
    public uint GetEflags() => (Eflags & ~RFlags.Arith) | ArithFlags();

    /// <summary>Sets the six arithmetic flags from EFLAGS-positioned bits (others ignored).</summary>
    public void SetArithFlags(uint f)
    {
        uint cf = f & 1, of = (f >> 11) & 1;
        LfRes = (f & RFlags.ZF) != 0 ? 0 : 0x100UL;
        uint pdb = (f & RFlags.PF) != 0 ? 0u : 1u;
        LfAux = (cf << 31) | ((cf ^ of) << 30) | (f & RFlags.AF) >> 1 | (pdb << 8) | ((f >> 7) & 1);
    }

    /// <summary>Replaces all of EFLAGS without any privilege filtering (state load, task switch). Caller handles mode effects.</summary>
    public void SetEflagsAll(uint f)
    {
        Eflags = (f & RFlags.Writable & ~RFlags.Arith) | RFlags.Fixed1;
        SetArithFlags(f);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetCF(uint cf)
    {
        uint of = OF;
        LfAux = (LfAux & 0x3FFFFFFF) | (cf << 31) | ((cf ^ of) << 30);
    }

    /// <summary>Sets CF and OF together, leaving the others.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetCfOf(uint cf, uint of) => LfAux = (LfAux & 0x3FFFFFFF) | (cf << 31) | ((cf ^ of) << 30);

    public void SetZF(bool zf)
    {
        uint f = GetEflags();
        SetArithFlags(zf ? f | RFlags.ZF : f & ~RFlags.ZF);
    }

    /// <summary>Evaluates condition code 0..15 (the low nibble of Jcc/SETcc/CMOVcc).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Cond(int cc)
    {
        bool r;
        switch (cc >> 1)
        {
            case 0: r = OF != 0; break;                         // O
            case 1: r = (LfAux >> 31) != 0; break;               // B
            case 2: r = LfRes == 0; break;                       // Z
            case 3: r = (LfAux >> 31) != 0 || LfRes == 0; break;  // BE
            case 4: r = SF != 0; break;                         // S
            case 5: r = PF != 0; break;                         // P
            case 6: r = SF != OF; break;                        // L
            default: r = LfRes == 0 || SF != OF; break;          // LE
        }
        return r ^ ((cc & 1) != 0);
    }
}

/// <summary>Operand-size abstraction: generic handlers are specialised per size by the JIT.</summary>
public interface ISize
{
    static abstract int Bits { get; }
    static abstract ulong Mask { get; }
    static abstract ulong SignBit { get; }
    static abstract ulong GetReg(IemCpu c, int r);
    static abstract void SetReg(IemCpu c, int r, ulong v);
    static abstract ulong Read(IemCpu c, int seg, ulong ea);
    static abstract void Write(IemCpu c, int seg, ulong ea, ulong v);
    static abstract unsafe ulong Load(byte* p);
    static abstract unsafe void Store(byte* p, ulong v);
    /// <summary>Atomic compare-exchange on host memory; returns the value found.</summary>
    static abstract unsafe ulong Cas(byte* p, ulong value, ulong expected);
}

public struct S8 : ISize
{
    public static int Bits => 8;
    public static ulong Mask => 0xFF;
    public static ulong SignBit => 0x80;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong GetReg(IemCpu c, int r) => c.R8(r);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void SetReg(IemCpu c, int r, ulong v) => c.R8(r) = (byte)v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong Read(IemCpu c, int seg, ulong ea) => c.ReadU8(seg, ea);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Write(IemCpu c, int seg, ulong ea, ulong v) => c.WriteU8(seg, ea, (byte)v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe ulong Load(byte* p) => *p;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe void Store(byte* p, ulong v) => *p = (byte)v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe ulong Cas(byte* p, ulong value, ulong expected) => Interlocked.CompareExchange(ref *p, (byte)value, (byte)expected);
}

public struct S16 : ISize
{
    public static int Bits => 16;
    public static ulong Mask => 0xFFFF;
    public static ulong SignBit => 0x8000;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong GetReg(IemCpu c, int r) => c.R16(r);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void SetReg(IemCpu c, int r, ulong v) => c.R16(r) = (ushort)v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong Read(IemCpu c, int seg, ulong ea) => c.ReadU16(seg, ea);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Write(IemCpu c, int seg, ulong ea, ulong v) => c.WriteU16(seg, ea, (ushort)v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe ulong Load(byte* p) => Unsafe.ReadUnaligned<ushort>(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe void Store(byte* p, ulong v) => Unsafe.WriteUnaligned(p, (ushort)v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe ulong Cas(byte* p, ulong value, ulong expected) => Interlocked.CompareExchange(ref *(ushort*)p, (ushort)value, (ushort)expected);
}

public struct S32 : ISize
{
    public static int Bits => 32;
    public static ulong Mask => 0xFFFFFFFF;
    public static ulong SignBit => 0x80000000;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong GetReg(IemCpu c, int r) => c.R32(r);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void SetReg(IemCpu c, int r, ulong v) => c.SetR32(r, (uint)v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong Read(IemCpu c, int seg, ulong ea) => c.ReadU32(seg, ea);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Write(IemCpu c, int seg, ulong ea, ulong v) => c.WriteU32(seg, ea, (uint)v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe ulong Load(byte* p) => Unsafe.ReadUnaligned<uint>(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe void Store(byte* p, ulong v) => Unsafe.WriteUnaligned(p, (uint)v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe ulong Cas(byte* p, ulong value, ulong expected) => Interlocked.CompareExchange(ref *(uint*)p, (uint)value, (uint)expected);
}

public struct S64 : ISize
{
    public static int Bits => 64;
    public static ulong Mask => ulong.MaxValue;
    public static ulong SignBit => 0x8000000000000000;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong GetReg(IemCpu c, int r) => c.R(r);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void SetReg(IemCpu c, int r, ulong v) => c.R(r) = v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong Read(IemCpu c, int seg, ulong ea) => c.ReadU64(seg, ea);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Write(IemCpu c, int seg, ulong ea, ulong v) => c.WriteU64(seg, ea, v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe ulong Load(byte* p) => Unsafe.ReadUnaligned<ulong>(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe void Store(byte* p, ulong v) => Unsafe.WriteUnaligned(p, v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe ulong Cas(byte* p, ulong value, ulong expected) => Interlocked.CompareExchange(ref *(ulong*)p, value, expected);
}

public static class SizeOps
{
    /// <summary>Sign-extends a Bits-wide value to 64 bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Sx<S>(ulong v) where S : ISize => (ulong)((long)(v << (64 - S.Bits)) >> (64 - S.Bits));

    /// <summary>LfAux from a carry (or borrow) vector: CF, the carry below the sign bit, AF.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Aux<S>(ulong cvec) where S : ISize => ((uint)(cvec >> (S.Bits - 2)) << 30) | ((uint)cvec & 8);
}

public sealed unsafe partial class IemCpu
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void FlagsAdd<S>(ulong a, ulong b, ulong r) where S : ISize
    {
        LfRes = SizeOps.Sx<S>(r);
        LfAux = SizeOps.Aux<S>((a & b) | ((a | b) & ~r));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void FlagsSub<S>(ulong a, ulong b, ulong r) where S : ISize
    {
        LfRes = SizeOps.Sx<S>(r);
        LfAux = SizeOps.Aux<S>((~a & b) | (~(a ^ b) & r));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void FlagsLogic<S>(ulong r) where S : ISize
    {
        LfRes = SizeOps.Sx<S>(r);
        LfAux = 0;
    }

    /// <summary>Result-derived flags (ZF/SF/PF) from <paramref name="r"/> with explicit CF/OF/AF.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void FlagsResult<S>(ulong r, uint cf, uint of, uint af = 0) where S : ISize
    {
        LfRes = SizeOps.Sx<S>(r);
        LfAux = (cf << 31) | ((cf ^ of) << 30) | (af << 3);
    }
}
