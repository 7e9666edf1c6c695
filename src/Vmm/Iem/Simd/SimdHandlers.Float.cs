using System.Runtime.CompilerServices;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Iem.Fpu;
using V = System.Runtime.Intrinsics.Vector128<byte>;

namespace SharpBox.Vmm.Iem.Simd;

// SSE/SSE2/SSE3/SSE4.1 floating point: arithmetic, compares, conversions, rounding and dot products,
// executed on the host by SseFp stubs with the guest MXCSR.
public static unsafe partial class SimdHandlers
{
    /// <summary>How one floating-point form takes its operands.</summary>
    readonly record struct FpForm(SseFpShape Shape, byte MemSize, bool Align, bool Imm, bool Flags, SimdFeature Feature);

    static readonly FpForm[] s_fp = new FpForm[4 * 4 * 256];
    static readonly bool[] s_fpSet = new bool[4 * 4 * 256];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int FpKey(OpMap map, int pcol, int opcode) => ((int)map * 4 + pcol) * 256 + opcode;

    /// <summary>Mandatory-prefix column exactly as the decoder chose it: the last F2/F3 wins over 66.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int PrefixColumn(Pfx p) => (p & Pfx.Rep) != 0 ? 2 : (p & Pfx.RepNe) != 0 ? 3 : (p & Pfx.OpSize) != 0 ? 1 : 0;

    static void RegisterFloat(HandlerTable t)
    {
        const SimdFeature S = SimdFeature.Sse, S2 = SimdFeature.Sse2, S3 = SimdFeature.Sse3, S41 = SimdFeature.Sse41;
        void F(OpMap map, byte op, MandatoryPrefix p, FpForm f)
        {
            int k = FpKey(map, (int)p, op);
            s_fp[k] = f; s_fpSet[k] = true;
            t.SetSimd(map, op, p, &FpOp, &FpOp);
        }
        var none = MandatoryPrefix.None; var p66 = MandatoryPrefix.P66; var pF3 = MandatoryPrefix.PF3; var pF2 = MandatoryPrefix.PF2;
        const OpMap M = OpMap.Map0F;
        // Arithmetic: PS (aligned m128), PD, SS (m32), SD (m64).
        foreach (byte op in new byte[] { 0x51, 0x58, 0x59, 0x5C, 0x5D, 0x5E, 0x5F })
        {
            F(M, op, none, new(SseFpShape.XX, 16, true, false, false, S));
            F(M, op, p66, new(SseFpShape.XX, 16, true, false, false, S2));
            F(M, op, pF3, new(SseFpShape.XX, 4, false, false, false, S));
            F(M, op, pF2, new(SseFpShape.XX, 8, false, false, false, S2));
        }
        foreach (byte op in new byte[] { 0x52, 0x53 })
        {
            F(M, op, none, new(SseFpShape.XX, 16, true, false, false, S));
            F(M, op, pF3, new(SseFpShape.XX, 4, false, false, false, S));
        }
        F(M, 0xC2, none, new(SseFpShape.XX, 16, true, true, false, S));
        F(M, 0xC2, p66, new(SseFpShape.XX, 16, true, true, false, S2));
        F(M, 0xC2, pF3, new(SseFpShape.XX, 4, false, true, false, S));
        F(M, 0xC2, pF2, new(SseFpShape.XX, 8, false, true, false, S2));
        // COMIS/UCOMIS: flags.
        F(M, 0x2E, none, new(SseFpShape.XX, 4, false, false, true, S)); F(M, 0x2E, p66, new(SseFpShape.XX, 8, false, false, true, S2));
        F(M, 0x2F, none, new(SseFpShape.XX, 4, false, false, true, S)); F(M, 0x2F, p66, new(SseFpShape.XX, 8, false, false, true, S2));
        // Conversions.
        F(M, 0x2A, none, new(SseFpShape.XM, 8, false, false, false, S)); F(M, 0x2A, p66, new(SseFpShape.XM, 8, false, false, false, S2));
        F(M, 0x2A, pF3, new(SseFpShape.XG, 4, false, false, false, S)); F(M, 0x2A, pF2, new(SseFpShape.XG, 4, false, false, false, S2));
        foreach (byte op in new byte[] { 0x2C, 0x2D })
        {
            F(M, op, none, new(SseFpShape.MX, 8, false, false, false, S)); F(M, op, p66, new(SseFpShape.MX, 16, true, false, false, S2));
            F(M, op, pF3, new(SseFpShape.GX, 4, false, false, false, S)); F(M, op, pF2, new(SseFpShape.GX, 8, false, false, false, S2));
        }
        F(M, 0x5A, none, new(SseFpShape.XX, 8, false, false, false, S2)); F(M, 0x5A, p66, new(SseFpShape.XX, 16, true, false, false, S2));
        F(M, 0x5A, pF3, new(SseFpShape.XX, 4, false, false, false, S2)); F(M, 0x5A, pF2, new(SseFpShape.XX, 8, false, false, false, S2));
        F(M, 0x5B, none, new(SseFpShape.XX, 16, true, false, false, S2)); F(M, 0x5B, p66, new(SseFpShape.XX, 16, true, false, false, S2));
        F(M, 0x5B, pF3, new(SseFpShape.XX, 16, true, false, false, S2));
        F(M, 0xE6, p66, new(SseFpShape.XX, 16, true, false, false, S2)); F(M, 0xE6, pF3, new(SseFpShape.XX, 8, false, false, false, S2));
        F(M, 0xE6, pF2, new(SseFpShape.XX, 16, true, false, false, S2));
        // SSE3 horizontal and alternating arithmetic.
        F(M, 0x7C, p66, new(SseFpShape.XX, 16, true, false, false, S3)); F(M, 0x7C, pF2, new(SseFpShape.XX, 16, true, false, false, S3));
        F(M, 0x7D, p66, new(SseFpShape.XX, 16, true, false, false, S3)); F(M, 0x7D, pF2, new(SseFpShape.XX, 16, true, false, false, S3));
        F(M, 0xD0, p66, new(SseFpShape.XX, 16, true, false, false, S3)); F(M, 0xD0, pF2, new(SseFpShape.XX, 16, true, false, false, S3));
        // SSE4.1 rounding and dot products.
        const OpMap M3A = OpMap.Map0F3A;
        F(M3A, 0x08, p66, new(SseFpShape.XX, 16, true, true, false, S41)); F(M3A, 0x09, p66, new(SseFpShape.XX, 16, true, true, false, S41));
        F(M3A, 0x0A, p66, new(SseFpShape.XX, 4, false, true, false, S41)); F(M3A, 0x0B, p66, new(SseFpShape.XX, 8, false, true, false, S41));
        F(M3A, 0x40, p66, new(SseFpShape.XX, 16, true, true, false, S41)); F(M3A, 0x41, p66, new(SseFpShape.XX, 16, true, true, false, S41));
    }

    static bool HasFeature(CpuModel m, SimdFeature f) => f switch
    {
        SimdFeature.Sse => FSse.Has(m), SimdFeature.Sse2 => FSse2.Has(m), SimdFeature.Sse3 => FSse3.Has(m),
        SimdFeature.Sse41 => FSse41.Has(m), _ => false,
    };

    static void FpOp(IemCpu c, ref DecodedInstr d)
    {
        int pcol = PrefixColumn(d.Prefixes);
        int key = FpKey(d.Map, pcol, d.Opcode);
        FpForm f = s_fp[key];
        if ((c.Cr0 & Cr0.EM) != 0 || (c.Cr4 & Cr4.OSFXSR) == 0 || !HasFeature(c.Model, f.Feature)) c.RaiseUd();
        if ((c.Cr0 & Cr0.TS) != 0) c.RaiseXcpt(Xcpt.NM);
        bool mmxReg = !d.IsMem && f.Shape == SseFpShape.XM || f.Shape == SseFpShape.MX;
        if (mmxReg && FxLayout.X87ExceptionPending(c.Fx)) FpuHandlers.MathFault(c);
        bool w = (d.Prefixes & Pfx.RexW) != 0 && f.Shape is SseFpShape.XG or SseFpShape.GX;

        byte* raw = stackalloc byte[64 + 16];
        var blk = (SseFpBlock*)(((nint)raw + 15) & ~(nint)15);
        byte* fx = c.Fx;
        // Sources (memory first: a fault leaves everything untouched).
        switch (f.Shape)
        {
            case SseFpShape.XX:
            case SseFpShape.GX:
            case SseFpShape.MX:
                if (f.Shape == SseFpShape.XX) *(V*)&blk->A = *Xmm(fx, d.Reg);
                if (!d.IsMem) *(V*)&blk->B = *Xmm(fx, d.Rm);
                else
                {
                    ulong ea = c.Ea(ref d);
                    int n = f.MemSize;
                    if (n == 16)
                    {
                        if (f.Align) CheckAligned(c, d.Seg, ea, 16, false);
                        c.ReadU128(d.Seg, ea, (byte*)&blk->B);
                    }
                    else if (n == 8) blk->B = c.ReadU64(d.Seg, ea);
                    else blk->B = c.ReadU32(d.Seg, ea);
                }
                break;
            case SseFpShape.XG:
                *(V*)&blk->A = *Xmm(fx, d.Reg);
                if (d.IsMem) blk->Gpr = w ? c.ReadU64(d.Seg, c.Ea(ref d)) : c.ReadU32(d.Seg, c.Ea(ref d));
                else blk->Gpr = w ? c.R(d.Rm) : c.R32(d.Rm);
                break;
            case SseFpShape.XM:
                *(V*)&blk->A = *Xmm(fx, d.Reg);
                if (d.IsMem) blk->Gpr = c.ReadU64(d.Seg, c.Ea(ref d));
                else { EnterMmx(fx); blk->Gpr = GetMm(fx, d.Rm); }
                break;
        }
        // The x87 -> MMX transition happens even if the conversion then raises #XM (measured on the host).
        if (f.Shape == SseFpShape.MX) EnterMmx(fx);
        blk->Mxcsr = FxLayout.MxcsrRef(fx);
        var r = SseFp.Execute(blk, (byte)d.Map, (byte)pcol, d.Opcode, w, f.Shape, f.Imm, (byte)d.Imm);
        if (r.Faulted)
        {
            if (r.Signal != HostFaultTrap.SIGFPE) c.RaiseUd();
            FxLayout.MxcsrRef(fx) = blk->Mxcsr;            // the flags are set; the destination is not written
            c.RaiseXcpt((c.Cr4 & Cr4.OSXMMEXCPT) != 0 ? Xcpt.XM : Xcpt.UD);
        }
        FxLayout.MxcsrRef(fx) = blk->Mxcsr;
        switch (f.Shape)
        {
            case SseFpShape.XX:
            case SseFpShape.XG:
            case SseFpShape.XM:
                if (f.Flags) c.SetArithFlags(r.Rflags & RFlags.Arith);
                else *Xmm(fx, d.Reg) = *(V*)&blk->A;
                break;
            case SseFpShape.GX:
                if (w) c.R(d.Reg) = blk->Gpr; else c.SetR32(d.Reg, (uint)blk->Gpr);
                break;
            case SseFpShape.MX:
                SetMm(fx, d.Reg, blk->Gpr);
                break;
        }
    }
}
