using System.Runtime.Intrinsics;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Iem.Fpu;
using V = System.Runtime.Intrinsics.Vector128<byte>;

namespace SharpBox.Vmm.Iem.Simd;

// Data movement: MOVAPS/MOVUPS/MOVDQA/MOVDQU and their stores, MOVSS/MOVSD, the half moves, MOVD/MOVQ in
// all their directions, the non-temporal stores (ordinary stores here) and LDDQU/MOVNTDQA.
public static unsafe partial class SimdHandlers
{
    static void RegisterMoves(HandlerTable t)
    {
        const OpMap M = OpMap.Map0F;
        var none = MandatoryPrefix.None; var p66 = MandatoryPrefix.P66; var pF3 = MandatoryPrefix.PF3; var pF2 = MandatoryPrefix.PF2;
        t.SetSimd(M, 0x10, none, &MovXX<FSse>, &LoadU<FSse>); t.SetSimd(M, 0x10, p66, &MovXX<FSse2>, &LoadU<FSse2>);
        t.SetSimd(M, 0x10, pF3, &MovssRR, &MovssLoad); t.SetSimd(M, 0x10, pF2, &MovsdRR, &MovsdLoad);
        t.SetSimd(M, 0x11, none, &MovXXStore<FSse>, &StoreU<FSse>); t.SetSimd(M, 0x11, p66, &MovXXStore<FSse2>, &StoreU<FSse2>);
        t.SetSimd(M, 0x11, pF3, &MovssRRStore, &MovssStore); t.SetSimd(M, 0x11, pF2, &MovsdRRStore, &MovsdStore);
        t.SetSimd(M, 0x12, none, &Movhlps, &MovlLoad<FSse>); t.SetSimd(M, 0x12, p66, null, &MovlLoad<FSse2>);
        t.SetSimd(M, 0x12, pF3, &Movsldup, &Movsldup); t.SetSimd(M, 0x12, pF2, &Movddup, &Movddup);
        t.SetSimd(M, 0x13, none, null, &MovlStore<FSse>); t.SetSimd(M, 0x13, p66, null, &MovlStore<FSse2>);
        t.SetSimd(M, 0x16, none, &Movlhps, &MovhLoad<FSse>); t.SetSimd(M, 0x16, p66, null, &MovhLoad<FSse2>);
        t.SetSimd(M, 0x16, pF3, &Movshdup, &Movshdup);
        t.SetSimd(M, 0x17, none, null, &MovhStore<FSse>); t.SetSimd(M, 0x17, p66, null, &MovhStore<FSse2>);
        t.SetSimd(M, 0x28, none, &MovXX<FSse>, &LoadA<FSse>); t.SetSimd(M, 0x28, p66, &MovXX<FSse2>, &LoadA<FSse2>);
        t.SetSimd(M, 0x29, none, &MovXXStore<FSse>, &StoreA<FSse>); t.SetSimd(M, 0x29, p66, &MovXXStore<FSse2>, &StoreA<FSse2>);
        t.SetSimd(M, 0x2B, none, null, &StoreA<FSse>); t.SetSimd(M, 0x2B, p66, null, &StoreA<FSse2>);
        t.SetSimd(M, 0x6E, none, &MovdToMm, &MovdToMm); t.SetSimd(M, 0x6E, p66, &MovdToXmm, &MovdToXmm);
        t.SetSimd(M, 0x6F, none, &MovqMm, &MovqMm); t.SetSimd(M, 0x6F, p66, &MovXX<FSse2>, &LoadA<FSse2>); t.SetSimd(M, 0x6F, pF3, &MovXX<FSse2>, &LoadU<FSse2>);
        t.SetSimd(M, 0x7E, none, &MovdFromMm, &MovdFromMm); t.SetSimd(M, 0x7E, p66, &MovdFromXmm, &MovdFromXmm); t.SetSimd(M, 0x7E, pF3, &MovqXmmLoad, &MovqXmmLoad);
        t.SetSimd(M, 0x7F, none, &MovqMmStore, &MovqMmStore); t.SetSimd(M, 0x7F, p66, &MovXXStore<FSse2>, &StoreA<FSse2>); t.SetSimd(M, 0x7F, pF3, &MovXXStore<FSse2>, &StoreU<FSse2>);
        t.SetSimd(M, 0xD6, p66, &MovqXmmStore, &MovqXmmStore); t.SetSimd(M, 0xD6, pF3, &Movq2dq, null); t.SetSimd(M, 0xD6, pF2, &Movdq2q, null);
        t.SetSimd(M, 0xE7, none, null, &Movntq); t.SetSimd(M, 0xE7, p66, null, &StoreA<FSse2>);
        t.SetSimd(M, 0xF0, pF2, null, &Lddqu);
        t.SetSimd(OpMap.Map0F38, 0x2A, p66, null, &LoadA<FSse41>);
    }

    static void MovXX<F>(IemCpu c, ref DecodedInstr d) where F : struct, IFeat { SseCheck<F>(c); *Xmm(c.Fx, d.Reg) = *Xmm(c.Fx, d.Rm); }
    static void MovXXStore<F>(IemCpu c, ref DecodedInstr d) where F : struct, IFeat { SseCheck<F>(c); *Xmm(c.Fx, d.Rm) = *Xmm(c.Fx, d.Reg); }
    // Loads go straight into the register: ReadU128 translates every page before it copies anything.
    static void LoadA<F>(IemCpu c, ref DecodedInstr d) where F : struct, IFeat
    {
        SseCheck<F>(c);
        ulong ea = c.Ea(ref d);
        CheckAligned(c, d.Seg, ea, 16, false);
        c.ReadU128(d.Seg, ea, (byte*)Xmm(c.Fx, d.Reg));
    }
    static void LoadU<F>(IemCpu c, ref DecodedInstr d) where F : struct, IFeat { SseCheck<F>(c); c.ReadU128(d.Seg, c.Ea(ref d), (byte*)Xmm(c.Fx, d.Reg)); }
    static void StoreA<F>(IemCpu c, ref DecodedInstr d) where F : struct, IFeat
    {
        SseCheck<F>(c);
        ulong ea = c.Ea(ref d);
        CheckAligned(c, d.Seg, ea, 16, true);
        c.WriteU128(d.Seg, ea, (byte*)Xmm(c.Fx, d.Reg));
    }
    static void StoreU<F>(IemCpu c, ref DecodedInstr d) where F : struct, IFeat { SseCheck<F>(c); c.WriteU128(d.Seg, c.Ea(ref d), (byte*)Xmm(c.Fx, d.Reg)); }
    static void Lddqu(IemCpu c, ref DecodedInstr d) { SseCheck<FSse3>(c); *Xmm(c.Fx, d.Reg) = ReadM128(c, ref d, false); }

    static void MovssRR(IemCpu c, ref DecodedInstr d) { SseCheck<FSse>(c); *(uint*)Xmm(c.Fx, d.Reg) = *(uint*)Xmm(c.Fx, d.Rm); }
    static void MovsdRR(IemCpu c, ref DecodedInstr d) { SseCheck<FSse2>(c); *(ulong*)Xmm(c.Fx, d.Reg) = *(ulong*)Xmm(c.Fx, d.Rm); }
    static void MovssRRStore(IemCpu c, ref DecodedInstr d) { SseCheck<FSse>(c); *(uint*)Xmm(c.Fx, d.Rm) = *(uint*)Xmm(c.Fx, d.Reg); }
    static void MovsdRRStore(IemCpu c, ref DecodedInstr d) { SseCheck<FSse2>(c); *(ulong*)Xmm(c.Fx, d.Rm) = *(ulong*)Xmm(c.Fx, d.Reg); }
    static void MovssLoad(IemCpu c, ref DecodedInstr d) { SseCheck<FSse>(c); *Xmm(c.Fx, d.Reg) = Vector128.CreateScalar(c.ReadU32(d.Seg, c.Ea(ref d))).AsByte(); }
    static void MovsdLoad(IemCpu c, ref DecodedInstr d) { SseCheck<FSse2>(c); *Xmm(c.Fx, d.Reg) = Vector128.CreateScalar(c.ReadU64(d.Seg, c.Ea(ref d))).AsByte(); }
    static void MovssStore(IemCpu c, ref DecodedInstr d) { SseCheck<FSse>(c); c.WriteU32(d.Seg, c.Ea(ref d), *(uint*)Xmm(c.Fx, d.Reg)); }
    static void MovsdStore(IemCpu c, ref DecodedInstr d) { SseCheck<FSse2>(c); c.WriteU64(d.Seg, c.Ea(ref d), *(ulong*)Xmm(c.Fx, d.Reg)); }

    static void Movhlps(IemCpu c, ref DecodedInstr d) { SseCheck<FSse>(c); ((ulong*)Xmm(c.Fx, d.Reg))[0] = ((ulong*)Xmm(c.Fx, d.Rm))[1]; }
    static void Movlhps(IemCpu c, ref DecodedInstr d) { SseCheck<FSse>(c); ((ulong*)Xmm(c.Fx, d.Reg))[1] = ((ulong*)Xmm(c.Fx, d.Rm))[0]; }
    static void MovlLoad<F>(IemCpu c, ref DecodedInstr d) where F : struct, IFeat { SseCheck<F>(c); ((ulong*)Xmm(c.Fx, d.Reg))[0] = c.ReadU64(d.Seg, c.Ea(ref d)); }
    static void MovhLoad<F>(IemCpu c, ref DecodedInstr d) where F : struct, IFeat { SseCheck<F>(c); ((ulong*)Xmm(c.Fx, d.Reg))[1] = c.ReadU64(d.Seg, c.Ea(ref d)); }
    static void MovlStore<F>(IemCpu c, ref DecodedInstr d) where F : struct, IFeat { SseCheck<F>(c); c.WriteU64(d.Seg, c.Ea(ref d), ((ulong*)Xmm(c.Fx, d.Reg))[0]); }
    static void MovhStore<F>(IemCpu c, ref DecodedInstr d) where F : struct, IFeat { SseCheck<F>(c); c.WriteU64(d.Seg, c.Ea(ref d), ((ulong*)Xmm(c.Fx, d.Reg))[1]); }

    static void Movsldup(IemCpu c, ref DecodedInstr d)
    {
        SseCheck<FSse3>(c);
        var s = (d.IsMem ? ReadM128(c, ref d, true) : *Xmm(c.Fx, d.Rm)).AsUInt32();
        *Xmm(c.Fx, d.Reg) = Vector128.Create(s[0], s[0], s[2], s[2]).AsByte();
    }
    static void Movshdup(IemCpu c, ref DecodedInstr d)
    {
        SseCheck<FSse3>(c);
        var s = (d.IsMem ? ReadM128(c, ref d, true) : *Xmm(c.Fx, d.Rm)).AsUInt32();
        *Xmm(c.Fx, d.Reg) = Vector128.Create(s[1], s[1], s[3], s[3]).AsByte();
    }
    static void Movddup(IemCpu c, ref DecodedInstr d)
    {
        SseCheck<FSse3>(c);
        ulong v = d.IsMem ? c.ReadU64(d.Seg, c.Ea(ref d)) : *(ulong*)Xmm(c.Fx, d.Rm);
        *Xmm(c.Fx, d.Reg) = Vector128.Create(v, v).AsByte();
    }

    // MOVD/MOVQ between general registers/memory and MMX/XMM (REX.W selects 64 bits).
    static bool W(ref DecodedInstr d) => (d.Prefixes & Pfx.RexW) != 0;

    static ulong ReadGprOrMem(IemCpu c, ref DecodedInstr d, bool w) =>
        d.IsMem ? (w ? c.ReadU64(d.Seg, c.Ea(ref d)) : c.ReadU32(d.Seg, c.Ea(ref d))) : (w ? c.R(d.Rm) : c.R32(d.Rm));

    static void WriteGprOrMem(IemCpu c, ref DecodedInstr d, bool w, ulong v)
    {
        if (d.IsMem) { if (w) c.WriteU64(d.Seg, c.Ea(ref d), v); else c.WriteU32(d.Seg, c.Ea(ref d), (uint)v); }
        else if (w) c.R(d.Rm) = v; else c.SetR32(d.Rm, (uint)v);
    }

    static void MovdToMm(IemCpu c, ref DecodedInstr d)
    {
        MmxCheck<FMmx>(c);
        ulong v = ReadGprOrMem(c, ref d, W(ref d));
        EnterMmx(c.Fx);
        SetMm(c.Fx, d.Reg, v);
    }
    // MMX stores write memory first and switch to MMX mode after: a faulting store (#PF, #AC) leaves the x87 state alone.
    static void MovdFromMm(IemCpu c, ref DecodedInstr d)
    {
        MmxCheck<FMmx>(c);
        WriteGprOrMem(c, ref d, W(ref d), GetMmPhys(c.Fx, d.Reg));
        EnterMmx(c.Fx);
    }
    static void MovdToXmm(IemCpu c, ref DecodedInstr d) { SseCheck<FSse2>(c); *Xmm(c.Fx, d.Reg) = Vector128.CreateScalar(ReadGprOrMem(c, ref d, W(ref d))).AsByte(); }
    static void MovdFromXmm(IemCpu c, ref DecodedInstr d) { SseCheck<FSse2>(c); WriteGprOrMem(c, ref d, W(ref d), *(ulong*)Xmm(c.Fx, d.Reg)); }

    static void MovqMm(IemCpu c, ref DecodedInstr d)
    {
        MmxCheck<FMmx>(c);
        ulong v = d.IsMem ? c.ReadU64(d.Seg, c.Ea(ref d)) : 0;
        EnterMmx(c.Fx);
        if (!d.IsMem) v = GetMm(c.Fx, d.Rm);
        SetMm(c.Fx, d.Reg, v);
    }
    static void MovqMmStore(IemCpu c, ref DecodedInstr d)
    {
        MmxCheck<FMmx>(c);
        if (d.IsMem) c.WriteU64(d.Seg, c.Ea(ref d), GetMmPhys(c.Fx, d.Reg));
        EnterMmx(c.Fx);
        if (!d.IsMem) SetMm(c.Fx, d.Rm, GetMm(c.Fx, d.Reg));
    }
    static void Movntq(IemCpu c, ref DecodedInstr d)
    {
        MmxCheck<FSse>(c);
        c.WriteU64(d.Seg, c.Ea(ref d), GetMmPhys(c.Fx, d.Reg));
        EnterMmx(c.Fx);
    }
    static void MovqXmmLoad(IemCpu c, ref DecodedInstr d)
    {
        SseCheck<FSse2>(c);
        ulong v = d.IsMem ? c.ReadU64(d.Seg, c.Ea(ref d)) : *(ulong*)Xmm(c.Fx, d.Rm);
        *Xmm(c.Fx, d.Reg) = Vector128.CreateScalar(v).AsByte();
    }
    static void MovqXmmStore(IemCpu c, ref DecodedInstr d)
    {
        SseCheck<FSse2>(c);
        ulong v = *(ulong*)Xmm(c.Fx, d.Reg);
        if (d.IsMem) c.WriteU64(d.Seg, c.Ea(ref d), v);
        else *Xmm(c.Fx, d.Rm) = Vector128.CreateScalar(v).AsByte();
    }
    static void Movq2dq(IemCpu c, ref DecodedInstr d)
    {
        SseMmxCheck<FSse2>(c);
        EnterMmx(c.Fx);
        *Xmm(c.Fx, d.Reg) = Vector128.CreateScalar(GetMm(c.Fx, d.Rm)).AsByte();
    }
    static void Movdq2q(IemCpu c, ref DecodedInstr d)
    {
        SseMmxCheck<FSse2>(c);
        EnterMmx(c.Fx);
        SetMm(c.Fx, d.Reg, *(ulong*)Xmm(c.Fx, d.Rm));
    }
}
