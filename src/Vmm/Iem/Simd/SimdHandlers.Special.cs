using System.Numerics;
using System.Runtime.Intrinsics;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Iem.Fpu;
using V = System.Runtime.Intrinsics.Vector128<byte>;

namespace SharpBox.Vmm.Iem.Simd;

// Instructions with general-register, flag or implicit operands: mask extraction, word/byte/dword inserts
// and extracts, PTEST, the variable blends (XMM0), the SSE4.2 string compares, CRC32, EMMS, PSHUFW and the
// byte-masked stores.
public static unsafe partial class SimdHandlers
{
    static void RegisterSpecial(HandlerTable t)
    {
        const OpMap M = OpMap.Map0F;
        var none = MandatoryPrefix.None; var p66 = MandatoryPrefix.P66; var pF2 = MandatoryPrefix.PF2;
        delegate*<IemCpu, ref DecodedInstr, void> ud = null;   // invalid form (#UD)
        t.SetSimd(M, 0x77, none, &Emms, &Emms);
        t.SetSimd(M, 0x70, none, &Pshufw, &Pshufw);
        t.SetSimd(M, 0xD7, none, &PmovmskbMm, ud); t.SetSimd(M, 0xD7, p66, &PmovmskbXmm, ud);
        t.SetSimd(M, 0x50, none, &Movmskps, ud); t.SetSimd(M, 0x50, p66, &Movmskpd, ud);
        t.SetSimd(M, 0xC4, none, &PinsrwMm, &PinsrwMm); t.SetSimd(M, 0xC4, p66, &PinsrwXmm, &PinsrwXmm);
        t.SetSimd(M, 0xC5, none, &PextrwMm, ud); t.SetSimd(M, 0xC5, p66, &PextrwXmm, ud);
        t.SetSimd(M, 0xF7, none, &Maskmovq, ud); t.SetSimd(M, 0xF7, p66, &Maskmovdqu, ud);
        const OpMap M38 = OpMap.Map0F38, M3A = OpMap.Map0F3A;
        t.SetSimd(M38, 0x10, p66, &Pblendvb, &Pblendvb); t.SetSimd(M38, 0x14, p66, &Blendvps, &Blendvps); t.SetSimd(M38, 0x15, p66, &Blendvpd, &Blendvpd);
        t.SetSimd(M38, 0x17, p66, &Ptest, &Ptest);
        t.SetSimd(M38, 0xF0, pF2, &Crc32b, &Crc32b); t.SetSimd(M38, 0xF1, pF2, &Crc32v, &Crc32v);
        t.SetSimd(M3A, 0x14, p66, &Pextrb, &Pextrb); t.SetSimd(M3A, 0x15, p66, &Pextrw41, &Pextrw41);
        t.SetSimd(M3A, 0x16, p66, &Pextrd, &Pextrd); t.SetSimd(M3A, 0x17, p66, &Extractps, &Extractps);
        t.SetSimd(M3A, 0x20, p66, &Pinsrb, &Pinsrb); t.SetSimd(M3A, 0x21, p66, &Insertps, &Insertps); t.SetSimd(M3A, 0x22, p66, &Pinsrd, &Pinsrd);
        for (byte op = 0x60; op <= 0x63; op++) t.SetSimd(M3A, op, p66, &PcmpStrOp, &PcmpStrOp);
    }

    /// <summary>EMMS: an MMX instruction like the others (TOP = 0, measured on the host), then every tag empty.</summary>
    static void Emms(IemCpu c, ref DecodedInstr d)
    {
        MmxCheck<FMmx>(c);
        EnterMmx(c.Fx);
        c.Fx[FxLayout.Ftw] = 0;
    }

    static void Pshufw(IemCpu c, ref DecodedInstr d)
    {
        MmxCheck<FSse>(c);
        ulong src = d.IsMem ? c.ReadU64(d.Seg, c.Ea(ref d)) : 0;
        EnterMmx(c.Fx);
        if (!d.IsMem) src = GetMm(c.Fx, d.Rm);
        SetMm(c.Fx, d.Reg, Simd.Pshufw.M(src, (byte)d.Imm));
    }

    static void PmovmskbMm(IemCpu c, ref DecodedInstr d)
    {
        MmxCheck<FSse>(c);
        EnterMmx(c.Fx);
        c.R(d.Reg) = Vector128.CreateScalar(GetMm(c.Fx, d.Rm)).AsByte().ExtractMostSignificantBits() & 0xFF;
    }
    static void PmovmskbXmm(IemCpu c, ref DecodedInstr d) { SseCheck<FSse2>(c); c.R(d.Reg) = Xmm(c.Fx, d.Rm)->ExtractMostSignificantBits(); }
    static void Movmskps(IemCpu c, ref DecodedInstr d) { SseCheck<FSse>(c); c.R(d.Reg) = Xmm(c.Fx, d.Rm)->AsUInt32().ExtractMostSignificantBits(); }
    static void Movmskpd(IemCpu c, ref DecodedInstr d) { SseCheck<FSse2>(c); c.R(d.Reg) = Xmm(c.Fx, d.Rm)->AsUInt64().ExtractMostSignificantBits(); }

    static ushort Word16(IemCpu c, ref DecodedInstr d) => d.IsMem ? c.ReadU16(d.Seg, c.Ea(ref d)) : (ushort)c.R(d.Rm);

    static void PinsrwMm(IemCpu c, ref DecodedInstr d)
    {
        MmxCheck<FSse>(c);
        ushort w = Word16(c, ref d);
        EnterMmx(c.Fx);
        int sh = 16 * ((int)d.Imm & 3);
        SetMm(c.Fx, d.Reg, (GetMm(c.Fx, d.Reg) & ~(0xFFFFUL << sh)) | ((ulong)w << sh));
    }
    static void PinsrwXmm(IemCpu c, ref DecodedInstr d)
    {
        SseCheck<FSse2>(c);
        ushort w = Word16(c, ref d);
        ((ushort*)Xmm(c.Fx, d.Reg))[(int)d.Imm & 7] = w;
    }
    static void PextrwMm(IemCpu c, ref DecodedInstr d)
    {
        MmxCheck<FSse>(c);
        EnterMmx(c.Fx);
        c.R(d.Reg) = (GetMm(c.Fx, d.Rm) >> (16 * ((int)d.Imm & 3))) & 0xFFFF;
    }
    static void PextrwXmm(IemCpu c, ref DecodedInstr d) { SseCheck<FSse2>(c); c.R(d.Reg) = ((ushort*)Xmm(c.Fx, d.Rm))[(int)d.Imm & 7]; }

    /// <summary>MASKMOVQ/MASKMOVDQU: the bytes whose mask byte has its top bit set go to [seg:rDI]. With alignment
    /// checking on, both want rDI 8-byte aligned, whatever the mask (measured).</summary>
    static void MaskStore(IemCpu c, ref DecodedInstr d, byte* data, byte* mask, int n)
    {
        ulong ea = c.R(7) & (ulong.MaxValue >> d.AddrShift);
        c.CheckAlignment(d.Seg, ea, 8, write: true);
        c.ProbeWrite(d.Seg, ea, n);
        for (int i = 0; i < n; i++)
            if ((mask[i] & 0x80) != 0) c.WriteU8(d.Seg, (ea + (ulong)i) & (ulong.MaxValue >> d.AddrShift), data[i]);
    }
    /// <summary>MASKMOVQ switches to MMX mode before its store can fault (unlike MOVQ/MOVD stores; both measured).</summary>
    static void Maskmovq(IemCpu c, ref DecodedInstr d)
    {
        MmxCheck<FSse>(c);
        EnterMmx(c.Fx);
        ulong v = GetMm(c.Fx, d.Reg), m = GetMm(c.Fx, d.Rm);
        MaskStore(c, ref d, (byte*)&v, (byte*)&m, 8);
    }
    static void Maskmovdqu(IemCpu c, ref DecodedInstr d)
    {
        SseCheck<FSse2>(c);
        V v = *Xmm(c.Fx, d.Reg), m = *Xmm(c.Fx, d.Rm);
        MaskStore(c, ref d, (byte*)&v, (byte*)&m, 16);
    }

    static V Src128(IemCpu c, ref DecodedInstr d, bool align = true) => d.IsMem ? ReadM128(c, ref d, align) : *Xmm(c.Fx, d.Rm);

    static void Pblendvb(IemCpu c, ref DecodedInstr d) { SseCheck<FSse41>(c); V s = Src128(c, ref d); V* x = Xmm(c.Fx, d.Reg); *x = Blendv.Pblendvb(*x, s, *Xmm(c.Fx, 0)); }
    static void Blendvps(IemCpu c, ref DecodedInstr d) { SseCheck<FSse41>(c); V s = Src128(c, ref d); V* x = Xmm(c.Fx, d.Reg); *x = Blendv.Blendvps(*x, s, *Xmm(c.Fx, 0)); }
    static void Blendvpd(IemCpu c, ref DecodedInstr d) { SseCheck<FSse41>(c); V s = Src128(c, ref d); V* x = Xmm(c.Fx, d.Reg); *x = Blendv.Blendvpd(*x, s, *Xmm(c.Fx, 0)); }

    /// <summary>PTEST: ZF = (dst AND src) == 0, CF = (NOT dst AND src) == 0; OF, SF, AF, PF cleared.</summary>
    static void Ptest(IemCpu c, ref DecodedInstr d)
    {
        SseCheck<FSse41>(c);
        V s = Src128(c, ref d), a = *Xmm(c.Fx, d.Reg);
        uint f = 0;
        if ((a & s) == V.Zero) f |= RFlags.ZF;
        if (Vector128.AndNot(s, a) == V.Zero) f |= RFlags.CF;
        c.SetArithFlags(f);
    }

    static void PcmpStrOp(IemCpu c, ref DecodedInstr d)
    {
        SseCheck<FSse42>(c);
        V b = Src128(c, ref d, align: false), a = *Xmm(c.Fx, d.Reg);
        byte imm = (byte)d.Imm;
        int la, lb;
        if (d.Opcode <= 0x61)
        {
            bool w = (d.Prefixes & Pfx.RexW) != 0;
            la = PcmpStr.ExplicitLength(w ? (long)c.R(0) : (int)c.R32(0), imm);
            lb = PcmpStr.ExplicitLength(w ? (long)c.R(2) : (int)c.R32(2), imm);
        }
        else { la = PcmpStr.ImplicitLength(a, imm); lb = PcmpStr.ImplicitLength(b, imm); }
        uint res = PcmpStr.Compare(a, b, la, lb, imm, out uint flags);
        if ((d.Opcode & 1) != 0) c.SetR32(1, PcmpStr.Index(res, imm));
        else *Xmm(c.Fx, 0) = PcmpStr.Mask(res, imm);
        c.SetArithFlags(flags);
    }

    static void Crc32b(IemCpu c, ref DecodedInstr d)
    {
        SseCheck<FSse42>(c);
        // The 0F38 map carries no byte-register flag: Rm is a register number, AH..BH without REX.
        byte v = d.IsMem ? c.ReadU8(d.Seg, c.Ea(ref d)) : c.R8(Decoder.ByteRegOffset(d.Rm, (d.Prefixes & Pfx.Rex) != 0));
        c.SetR32(d.Reg, BitOperations.Crc32C(c.R32(d.Reg), v));
    }
    static void Crc32v(IemCpu c, ref DecodedInstr d)
    {
        SseCheck<FSse42>(c);
        uint crc = c.R32(d.Reg);
        ulong ea = d.IsMem ? c.Ea(ref d) : 0;
        if ((d.Prefixes & Pfx.RexW) != 0) crc = BitOperations.Crc32C(crc, d.IsMem ? c.ReadU64(d.Seg, ea) : c.R(d.Rm));
        else if (d.OpSize == 2) crc = BitOperations.Crc32C(crc, d.IsMem ? c.ReadU16(d.Seg, ea) : (ushort)c.R(d.Rm));
        else crc = BitOperations.Crc32C(crc, d.IsMem ? c.ReadU32(d.Seg, ea) : c.R32(d.Rm));
        c.SetR32(d.Reg, crc);
    }

    // SSE4.1 extracts: register destinations are zero-extended 32/64-bit registers.
    static void Pextrb(IemCpu c, ref DecodedInstr d)
    {
        SseCheck<FSse41>(c);
        byte v = ((byte*)Xmm(c.Fx, d.Reg))[(int)d.Imm & 15];
        if (d.IsMem) c.WriteU8(d.Seg, c.Ea(ref d), v); else c.R(d.Rm) = v;
    }
    static void Pextrw41(IemCpu c, ref DecodedInstr d)
    {
        SseCheck<FSse41>(c);
        ushort v = ((ushort*)Xmm(c.Fx, d.Reg))[(int)d.Imm & 7];
        if (d.IsMem) c.WriteU16(d.Seg, c.Ea(ref d), v); else c.R(d.Rm) = v;
    }
    static void Pextrd(IemCpu c, ref DecodedInstr d)
    {
        SseCheck<FSse41>(c);
        if ((d.Prefixes & Pfx.RexW) != 0)
        {
            ulong q = ((ulong*)Xmm(c.Fx, d.Reg))[(int)d.Imm & 1];
            if (d.IsMem) c.WriteU64(d.Seg, c.Ea(ref d), q); else c.R(d.Rm) = q;
            return;
        }
        uint v = ((uint*)Xmm(c.Fx, d.Reg))[(int)d.Imm & 3];
        if (d.IsMem) c.WriteU32(d.Seg, c.Ea(ref d), v); else c.SetR32(d.Rm, v);
    }
    static void Extractps(IemCpu c, ref DecodedInstr d)
    {
        SseCheck<FSse41>(c);
        uint v = ((uint*)Xmm(c.Fx, d.Reg))[(int)d.Imm & 3];
        if (d.IsMem) c.WriteU32(d.Seg, c.Ea(ref d), v); else c.R(d.Rm) = v;
    }
    static void Pinsrb(IemCpu c, ref DecodedInstr d)
    {
        SseCheck<FSse41>(c);
        byte v = d.IsMem ? c.ReadU8(d.Seg, c.Ea(ref d)) : (byte)c.R(d.Rm);
        ((byte*)Xmm(c.Fx, d.Reg))[(int)d.Imm & 15] = v;
    }
    static void Pinsrd(IemCpu c, ref DecodedInstr d)
    {
        SseCheck<FSse41>(c);
        if ((d.Prefixes & Pfx.RexW) != 0)
            ((ulong*)Xmm(c.Fx, d.Reg))[(int)d.Imm & 1] = d.IsMem ? c.ReadU64(d.Seg, c.Ea(ref d)) : c.R(d.Rm);
        else
            ((uint*)Xmm(c.Fx, d.Reg))[(int)d.Imm & 3] = d.IsMem ? c.ReadU32(d.Seg, c.Ea(ref d)) : c.R32(d.Rm);
    }
    static void Insertps(IemCpu c, ref DecodedInstr d)
    {
        SseCheck<FSse41>(c);
        byte imm = (byte)d.Imm;
        V src;
        if (d.IsMem) { src = Vector128.CreateScalar(c.ReadU32(d.Seg, c.Ea(ref d))).AsByte(); imm &= 0x3F; }
        else src = *Xmm(c.Fx, d.Rm);
        V* x = Xmm(c.Fx, d.Reg);
        *x = Simd.Insertps.X(*x, src, imm);
    }
}
