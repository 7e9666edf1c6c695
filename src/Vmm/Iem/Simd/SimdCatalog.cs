namespace SharpBox.Vmm.Iem.Simd;

/// <summary>CPUID feature an instruction form needs (checked at execution: a form the model does not advertise raises #UD).</summary>
public enum SimdFeature : byte { Mmx, Sse, Sse2, Sse3, Ssse3, Sse41, Sse42 }

/// <summary>
/// Receives the kernel-based SIMD instruction forms. The handler registration implements it to fill the
/// decoder's tables; tests implement it to check every kernel against the host executing the same
/// instruction. One list, so nothing registered goes untested.
/// </summary>
public interface ISimdSink
{
    /// <summary>MMX form (no prefix, mm, mm/m64) and SSE form (66, xmm, xmm/m128) of one opcode.</summary>
    void Vec<T>(byte map, byte opcode, SimdFeature mmx, SimdFeature xmm) where T : struct, IVecOp;
    /// <summary>XMM-only form with the given mandatory prefix; <paramref name="memSize"/> 16 = aligned m128, else an unaligned narrower load.</summary>
    void Xmm<T>(byte map, byte opcode, byte pfx, SimdFeature f, int memSize = 16) where T : struct, IXmmOp;
    /// <summary>XMM form with an imm8.</summary>
    void XmmImm<T>(byte map, byte opcode, byte pfx, SimdFeature f) where T : struct, IXmmImmOp;
    /// <summary>MMX and 66-XMM forms with an imm8 (PALIGNR).</summary>
    void VecImm<T>(byte map, byte opcode, SimdFeature mmx, SimdFeature xmm) where T : struct, IVecImmOp;
    /// <summary>Shift-by-immediate group member 0F 71/72/73 /reg: MMX and 66-XMM forms.</summary>
    void VecShift<T>(byte opcode, int reg, SimdFeature mmx, SimdFeature xmm) where T : struct, IVecShiftImm;
    /// <summary>XMM-only shift-by-immediate group member (PSRLDQ/PSLLDQ).</summary>
    void XmmShift<T>(byte opcode, int reg, SimdFeature f) where T : struct, IXmmShiftImm;
}

public static class SimdCatalog
{
    public const byte Map0F = 1, Map0F38 = 2, Map0F3A = 3;
    public const byte PfxNone = 0, Pfx66 = 1, PfxF3 = 2, PfxF2 = 3;

    public static void Describe(ISimdSink s)
    {
        const SimdFeature M = SimdFeature.Mmx, S = SimdFeature.Sse, S2 = SimdFeature.Sse2;
        const SimdFeature S3 = SimdFeature.Ssse3, S41 = SimdFeature.Sse41, S42 = SimdFeature.Sse42;
        // 0F 60..76: unpack, pack, compare
        s.Vec<Punpcklbw>(Map0F, 0x60, M, S2); s.Vec<Punpcklwd>(Map0F, 0x61, M, S2); s.Vec<Punpckldq>(Map0F, 0x62, M, S2);
        s.Vec<Packsswb>(Map0F, 0x63, M, S2); s.Vec<Pcmpgtb>(Map0F, 0x64, M, S2); s.Vec<Pcmpgtw>(Map0F, 0x65, M, S2);
        s.Vec<Pcmpgtd>(Map0F, 0x66, M, S2); s.Vec<Packuswb>(Map0F, 0x67, M, S2); s.Vec<Punpckhbw>(Map0F, 0x68, M, S2);
        s.Vec<Punpckhwd>(Map0F, 0x69, M, S2); s.Vec<Punpckhdq>(Map0F, 0x6A, M, S2); s.Vec<Packssdw>(Map0F, 0x6B, M, S2);
        s.Xmm<Punpcklqdq>(Map0F, 0x6C, Pfx66, S2); s.Xmm<Punpckhqdq>(Map0F, 0x6D, Pfx66, S2);
        s.Vec<Pcmpeqb>(Map0F, 0x74, M, S2); s.Vec<Pcmpeqw>(Map0F, 0x75, M, S2); s.Vec<Pcmpeqd>(Map0F, 0x76, M, S2);
        // 0F D1..FE: shifts, arithmetic, logic
        s.Vec<Psrlw>(Map0F, 0xD1, M, S2); s.Vec<Psrld>(Map0F, 0xD2, M, S2); s.Vec<Psrlq>(Map0F, 0xD3, M, S2);
        s.Vec<Paddq>(Map0F, 0xD4, S2, S2); s.Vec<Pmullw>(Map0F, 0xD5, M, S2);
        s.Vec<Psubusb>(Map0F, 0xD8, M, S2); s.Vec<Psubusw>(Map0F, 0xD9, M, S2); s.Vec<Pminub>(Map0F, 0xDA, S, S2);
        s.Vec<Pand>(Map0F, 0xDB, M, S2); s.Vec<Paddusb>(Map0F, 0xDC, M, S2); s.Vec<Paddusw>(Map0F, 0xDD, M, S2);
        s.Vec<Pmaxub>(Map0F, 0xDE, S, S2); s.Vec<Pandn>(Map0F, 0xDF, M, S2);
        s.Vec<Pavgb>(Map0F, 0xE0, S, S2); s.Vec<Psraw>(Map0F, 0xE1, M, S2); s.Vec<Psrad>(Map0F, 0xE2, M, S2);
        s.Vec<Pavgw>(Map0F, 0xE3, S, S2); s.Vec<Pmulhuw>(Map0F, 0xE4, S, S2); s.Vec<Pmulhw>(Map0F, 0xE5, M, S2);
        s.Vec<Psubsb>(Map0F, 0xE8, M, S2); s.Vec<Psubsw>(Map0F, 0xE9, M, S2); s.Vec<Pminsw>(Map0F, 0xEA, S, S2);
        s.Vec<Por>(Map0F, 0xEB, M, S2); s.Vec<Paddsb>(Map0F, 0xEC, M, S2); s.Vec<Paddsw>(Map0F, 0xED, M, S2);
        s.Vec<Pmaxsw>(Map0F, 0xEE, S, S2); s.Vec<Pxor>(Map0F, 0xEF, M, S2);
        s.Vec<Psllw>(Map0F, 0xF1, M, S2); s.Vec<Pslld>(Map0F, 0xF2, M, S2); s.Vec<Psllq>(Map0F, 0xF3, M, S2);
        s.Vec<Pmuludq>(Map0F, 0xF4, S2, S2); s.Vec<Pmaddwd>(Map0F, 0xF5, M, S2); s.Vec<Psadbw>(Map0F, 0xF6, S, S2);
        s.Vec<Psubb>(Map0F, 0xF8, M, S2); s.Vec<Psubw>(Map0F, 0xF9, M, S2); s.Vec<Psubd>(Map0F, 0xFA, M, S2);
        s.Vec<Psubq>(Map0F, 0xFB, S2, S2); s.Vec<Paddb>(Map0F, 0xFC, M, S2); s.Vec<Paddw>(Map0F, 0xFD, M, S2);
        s.Vec<Paddd>(Map0F, 0xFE, M, S2);
        // shuffles
        s.XmmImm<Pshufd>(Map0F, 0x70, Pfx66, S2); s.XmmImm<Pshufhw>(Map0F, 0x70, PfxF3, S2); s.XmmImm<Pshuflw>(Map0F, 0x70, PfxF2, S2);
        // shift-by-immediate groups
        s.VecShift<PsrlwI>(0x71, 2, M, S2); s.VecShift<PsrawI>(0x71, 4, M, S2); s.VecShift<PsllwI>(0x71, 6, M, S2);
        s.VecShift<PsrldI>(0x72, 2, M, S2); s.VecShift<PsradI>(0x72, 4, M, S2); s.VecShift<PslldI>(0x72, 6, M, S2);
        s.VecShift<PsrlqI>(0x73, 2, M, S2); s.XmmShift<PsrldqI>(0x73, 3, S2);
        s.VecShift<PsllqI>(0x73, 6, M, S2); s.XmmShift<PslldqI>(0x73, 7, S2);
        // bitwise floating-point forms (PS: no prefix, SSE; PD: 66, SSE2)
        s.Xmm<Pand>(Map0F, 0x54, PfxNone, S); s.Xmm<Pand>(Map0F, 0x54, Pfx66, S2);
        s.Xmm<Andnps>(Map0F, 0x55, PfxNone, S); s.Xmm<Andnps>(Map0F, 0x55, Pfx66, S2);
        s.Xmm<Por>(Map0F, 0x56, PfxNone, S); s.Xmm<Por>(Map0F, 0x56, Pfx66, S2);
        s.Xmm<Pxor>(Map0F, 0x57, PfxNone, S); s.Xmm<Pxor>(Map0F, 0x57, Pfx66, S2);
        s.Xmm<Unpcklps>(Map0F, 0x14, PfxNone, S); s.Xmm<Unpcklpd>(Map0F, 0x14, Pfx66, S2);
        s.Xmm<Unpckhps>(Map0F, 0x15, PfxNone, S); s.Xmm<Unpckhpd>(Map0F, 0x15, Pfx66, S2);
        s.XmmImm<Shufps>(Map0F, 0xC6, PfxNone, S); s.XmmImm<Shufpd>(Map0F, 0xC6, Pfx66, S2);
        // SSSE3
        s.Vec<Pshufb>(Map0F38, 0x00, S3, S3); s.Vec<Phaddw>(Map0F38, 0x01, S3, S3); s.Vec<Phaddd>(Map0F38, 0x02, S3, S3);
        s.Vec<Phaddsw>(Map0F38, 0x03, S3, S3); s.Vec<Pmaddubsw>(Map0F38, 0x04, S3, S3); s.Vec<Phsubw>(Map0F38, 0x05, S3, S3);
        s.Vec<Phsubd>(Map0F38, 0x06, S3, S3); s.Vec<Phsubsw>(Map0F38, 0x07, S3, S3); s.Vec<Psignb>(Map0F38, 0x08, S3, S3);
        s.Vec<Psignw>(Map0F38, 0x09, S3, S3); s.Vec<Psignd>(Map0F38, 0x0A, S3, S3); s.Vec<Pmulhrsw>(Map0F38, 0x0B, S3, S3);
        s.Vec<Pabsb>(Map0F38, 0x1C, S3, S3); s.Vec<Pabsw>(Map0F38, 0x1D, S3, S3); s.Vec<Pabsd>(Map0F38, 0x1E, S3, S3);
        s.VecImm<Palignr>(Map0F3A, 0x0F, S3, S3);
        // SSE4.1 / SSE4.2
        s.Xmm<Pmovsxbw>(Map0F38, 0x20, Pfx66, S41, 8); s.Xmm<Pmovsxbd>(Map0F38, 0x21, Pfx66, S41, 4);
        s.Xmm<Pmovsxbq>(Map0F38, 0x22, Pfx66, S41, 2); s.Xmm<Pmovsxwd>(Map0F38, 0x23, Pfx66, S41, 8);
        s.Xmm<Pmovsxwq>(Map0F38, 0x24, Pfx66, S41, 4); s.Xmm<Pmovsxdq>(Map0F38, 0x25, Pfx66, S41, 8);
        s.Xmm<Pmuldq>(Map0F38, 0x28, Pfx66, S41); s.Xmm<Pcmpeqq>(Map0F38, 0x29, Pfx66, S41); s.Xmm<Packusdw>(Map0F38, 0x2B, Pfx66, S41);
        s.Xmm<Pmovzxbw>(Map0F38, 0x30, Pfx66, S41, 8); s.Xmm<Pmovzxbd>(Map0F38, 0x31, Pfx66, S41, 4);
        s.Xmm<Pmovzxbq>(Map0F38, 0x32, Pfx66, S41, 2); s.Xmm<Pmovzxwd>(Map0F38, 0x33, Pfx66, S41, 8);
        s.Xmm<Pmovzxwq>(Map0F38, 0x34, Pfx66, S41, 4); s.Xmm<Pmovzxdq>(Map0F38, 0x35, Pfx66, S41, 8);
        s.Xmm<Pcmpgtq>(Map0F38, 0x37, Pfx66, S42);
        s.Xmm<Pminsb>(Map0F38, 0x38, Pfx66, S41); s.Xmm<Pminsd>(Map0F38, 0x39, Pfx66, S41);
        s.Xmm<Pminuw>(Map0F38, 0x3A, Pfx66, S41); s.Xmm<Pminud>(Map0F38, 0x3B, Pfx66, S41);
        s.Xmm<Pmaxsb>(Map0F38, 0x3C, Pfx66, S41); s.Xmm<Pmaxsd>(Map0F38, 0x3D, Pfx66, S41);
        s.Xmm<Pmaxuw>(Map0F38, 0x3E, Pfx66, S41); s.Xmm<Pmaxud>(Map0F38, 0x3F, Pfx66, S41);
        s.Xmm<Pmulld>(Map0F38, 0x40, Pfx66, S41); s.Xmm<Phminposuw>(Map0F38, 0x41, Pfx66, S41);
        s.XmmImm<Blendps>(Map0F3A, 0x0C, Pfx66, S41); s.XmmImm<Blendpd>(Map0F3A, 0x0D, Pfx66, S41);
        s.XmmImm<Pblendw>(Map0F3A, 0x0E, Pfx66, S41); s.XmmImm<Mpsadbw>(Map0F3A, 0x42, Pfx66, S41);
    }
}
