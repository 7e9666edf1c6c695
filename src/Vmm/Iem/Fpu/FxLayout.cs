using System.Runtime.CompilerServices;

namespace SharpBox.Vmm.Iem.Fpu;

/// <summary>
/// The guest's x87/MMX/SSE state: a 512-byte, 16-byte aligned area in the FXSAVE64 layout (what a 64-bit
/// FXSAVE with REX.W writes, and what KVM's xsave legacy region holds), owned by the CPU state.
/// ST(i)/MM slots are relative to TOP as FXSAVE stores them; the abridged tag byte is per physical
/// register. FIP/FDP are 64-bit offsets; the selectors FXSAVE64 drops are kept in the software-available
/// bytes (464..511 are never written by FXSAVE, so guest-visible images never carry them).
/// </summary>
public static unsafe class FxLayout
{
    public const int Size = 512;
    public const int Fcw = 0, Fsw = 2, Ftw = 4, Fop = 6, Fip = 8, Fdp = 16, Mxcsr = 24, MxcsrMask = 28;
    public const int St0 = 32, Xmm0 = 160;
    public const int Fcs = 464, Fds = 466;

    /// <summary>MXCSR bits this CPU implements (DAZ included, AMD's misaligned-SSE bit not).</summary>
    public const uint MxcsrMaskValue = 0xFFFF;
    public const uint MxcsrDefault = 0x1F80;
    public const ushort FcwDefault = 0x037F;

    // FSW fields
    public const ushort FswIE = 1, FswDE = 2, FswZE = 4, FswOE = 8, FswUE = 0x10, FswPE = 0x20, FswSF = 0x40;
    public const ushort FswES = 0x80, FswC0 = 0x100, FswC1 = 0x200, FswC2 = 0x400, FswC3 = 0x4000, FswB = 0x8000;
    public const ushort FswXcptMask = 0x3F;
    public const int FswTopShift = 11;

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ref ushort FcwRef(byte* fx) => ref *(ushort*)(fx + Fcw);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ref ushort FswRef(byte* fx) => ref *(ushort*)(fx + Fsw);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ref byte FtwRef(byte* fx) => ref fx[Ftw];
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ref uint MxcsrRef(byte* fx) => ref *(uint*)(fx + Mxcsr);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int Top(byte* fx) => (*(ushort*)(fx + Fsw) >> FswTopShift) & 7;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static byte* St(byte* fx, int i) => fx + St0 + 16 * i;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static byte* Xmm(byte* fx, int i) => fx + Xmm0 + 16 * i;

    /// <summary>
    /// Changes TOP keeping every physical register where it is: the ST-relative slots rotate so that slot i
    /// holds R((newTop + i) mod 8) afterwards (FLDENV, FRSTOR's environment, FNINIT, MMX instructions).
    /// </summary>
    public static void SetTop(byte* fx, int newTop)
    {
        int oldTop = Top(fx);
        ushort fsw = *(ushort*)(fx + Fsw);
        *(ushort*)(fx + Fsw) = (ushort)((fsw & ~(7 << FswTopShift)) | ((newTop & 7) << FswTopShift));
        int shift = (newTop - oldTop) & 7;
        if (shift == 0) return;
        Span<byte> tmp = stackalloc byte[128];
        new ReadOnlySpan<byte>(fx + St0, 128).CopyTo(tmp);
        for (int i = 0; i < 8; i++)
            tmp.Slice(16 * ((i + shift) & 7), 16).CopyTo(new Span<byte>(fx + St0 + 16 * i, 16));
    }

    /// <summary>True when an unmasked x87 exception is pending: the next waiting instruction raises #MF.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool X87ExceptionPending(byte* fx) => (*(ushort*)(fx + Fsw) & ~*(ushort*)(fx + Fcw) & FswXcptMask) != 0;

    /// <summary>FCW as the hardware keeps it: bits 13..15 and 7 read as 0, bit 6 as 1 (measured on the host).</summary>
    public static ushort NormalizeFcw(ushort v) => (ushort)((v & 0x1F3F) | 0x0040);

    /// <summary>Recomputes FSW.ES and FSW.B from the exception flags and masks, as loads of FCW/FSW do.</summary>
    public static ushort RecalcEs(ushort fsw, ushort fcw)
    {
        fsw &= unchecked((ushort)~(FswES | FswB));
        if ((fsw & ~fcw & FswXcptMask) != 0) fsw |= FswES | FswB;
        return fsw;
    }

    /// <summary>Initialises the area as at reset/INIT (FNINIT state, default MXCSR, zeroed registers).</summary>
    public static void Reset(byte* fx)
    {
        new Span<byte>(fx, Size).Clear();
        *(ushort*)(fx + Fcw) = FcwDefault;
        *(uint*)(fx + Mxcsr) = MxcsrDefault;
        *(uint*)(fx + MxcsrMask) = MxcsrMaskValue;
    }

    /// <summary>The full two-bit-per-register tag word (FSTENV/FSAVE format), derived from the abridged
    /// tags and the register contents: 00 valid, 01 zero, 10 special (NaN, infinity, denormal, unsupported), 11 empty.</summary>
    public static ushort FullTagWord(byte* fx)
    {
        int top = Top(fx);
        byte abridged = fx[Ftw];
        int tw = 0;
        for (int phys = 0; phys < 8; phys++)
        {
            int tag;
            if ((abridged & (1 << phys)) == 0) tag = 3;
            else tag = ClassifyTag(St(fx, (phys - top) & 7));
            tw |= tag << (2 * phys);
        }
        return (ushort)tw;
    }

    static int ClassifyTag(byte* r)
    {
        ulong mant = *(ulong*)r;
        int exp = *(ushort*)(r + 8) & 0x7FFF;
        if (exp == 0x7FFF) return 2;
        if (exp == 0) return mant == 0 ? 1 : 2;
        return (mant >> 63) != 0 ? 0 : 2;   // unnormal (integer bit clear) is special
    }

    /// <summary>Abridged tags from a full tag word: a register is in use unless tagged 11.</summary>
    public static byte AbridgedFromFull(ushort tw)
    {
        int a = 0;
        for (int i = 0; i < 8; i++)
            if (((tw >> (2 * i)) & 3) != 3) a |= 1 << i;
        return (byte)a;
    }
}
