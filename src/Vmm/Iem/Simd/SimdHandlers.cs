using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Iem.Fpu;
using V = System.Runtime.Intrinsics.Vector128<byte>;

namespace SharpBox.Vmm.Iem
{
    public static partial class HandlerRegistry
    {
        static partial void RegisterSimdHandlers(HandlerTable t) => Simd.SimdHandlers.Register(t);
    }
}

namespace SharpBox.Vmm.Iem.Simd
{
    /// <summary>A CPUID feature test, as a type so handlers specialise over it.</summary>
    public interface IFeat { static abstract bool Has(CpuModel m); }
    public struct FMmx : IFeat { public static bool Has(CpuModel m) => m.Has1Edx(CpuModel.Mmx); }
    public struct FSse : IFeat { public static bool Has(CpuModel m) => m.Has1Edx(CpuModel.Sse); }
    public struct FSse2 : IFeat { public static bool Has(CpuModel m) => m.Has1Edx(CpuModel.Sse2); }
    public struct FSse3 : IFeat { public static bool Has(CpuModel m) => m.Has1Ecx(CpuModel.Sse3); }
    public struct FSsse3 : IFeat { public static bool Has(CpuModel m) => m.Has1Ecx(CpuModel.Ssse3); }
    public struct FSse41 : IFeat { public static bool Has(CpuModel m) => m.Has1Ecx(CpuModel.Sse41); }
    public struct FSse42 : IFeat { public static bool Has(CpuModel m) => m.Has1Ecx(CpuModel.Sse42); }

    /// <summary>
    /// MMX and SSE..SSE4.2 instructions bound to the decoder. Exception order per the SDM: a feature the model
    /// does not advertise, CR0.EM or (SSE) CR4.OSFXSR clear -> #UD; CR0.TS -> #NM; (MMX register state) a pending
    /// x87 exception -> #MF; then the memory operand (alignment #GP, #PF); then state changes. MMX instructions
    /// switch the x87 unit to MMX mode (TOP = 0, all registers tagged valid) once they can no longer fault.
    /// </summary>
    public static unsafe partial class SimdHandlers
    {
        internal static void Register(HandlerTable t)
        {
            SimdCatalog.Describe(new Sink(t));
            RegisterMoves(t);
            RegisterSpecial(t);
            RegisterFloat(t);
        }

        // ---------------- checks and register access ----------------

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        internal static void SseCheck<F>(IemCpu c) where F : struct, IFeat
        {
            if ((c.Cr0 & Cr0.EM) != 0 || (c.Cr4 & Cr4.OSFXSR) == 0 || !F.Has(c.Model)) c.RaiseUd();
            if ((c.Cr0 & Cr0.TS) != 0) c.RaiseXcpt(Xcpt.NM);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        internal static void MmxCheck<F>(IemCpu c) where F : struct, IFeat
        {
            if ((c.Cr0 & Cr0.EM) != 0 || !F.Has(c.Model)) c.RaiseUd();
            if ((c.Cr0 & Cr0.TS) != 0) c.RaiseXcpt(Xcpt.NM);
            if (FxLayout.X87ExceptionPending(c.Fx)) FpuHandlers.MathFault(c);
        }

        /// <summary>An SSE instruction with an MMX register operand: SSE's checks, then the pending x87 exception.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        internal static void SseMmxCheck<F>(IemCpu c) where F : struct, IFeat
        {
            SseCheck<F>(c);
            if (FxLayout.X87ExceptionPending(c.Fx)) FpuHandlers.MathFault(c);
        }

        /// <summary>x87 -> MMX transition: TOP = 0 (physical registers stay put), every tag valid.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        internal static void EnterMmx(byte* fx)
        {
            if ((*(ushort*)(fx + FxLayout.Fsw) & 0x3800) != 0) FxLayout.SetTop(fx, 0);
            fx[FxLayout.Ftw] = 0xFF;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)] internal static ulong GetMm(byte* fx, int i) => *(ulong*)(fx + FxLayout.St0 + 16 * (i & 7));
        /// <summary>MM<paramref name="i"/> before the MMX transition: physical register i is ST((i - TOP) mod 8).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)] internal static ulong GetMmPhys(byte* fx, int i) => *(ulong*)(fx + FxLayout.St0 + 16 * ((i - FxLayout.Top(fx)) & 7));
        /// <summary>An MMX write also sets the register's exponent field to all ones.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        internal static void SetMm(byte* fx, int i, ulong v)
        {
            byte* p = fx + FxLayout.St0 + 16 * (i & 7);
            *(ulong*)p = v;
            *(ushort*)(p + 8) = 0xFFFF;
        }
        [MethodImpl(MethodImplOptions.AggressiveInlining)] internal static V* Xmm(byte* fx, int i) => (V*)(fx + FxLayout.Xmm0 + 16 * i);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        internal static V ReadM128(IemCpu c, ref DecodedInstr d, bool align)
        {
            V v;
            ulong ea = c.Ea(ref d);
            if (align) CheckAligned(c, d.Seg, ea, 16, false);
            c.ReadU128(d.Seg, ea, (byte*)&v);
            return v;
        }

        /// <summary>
        /// The alignment #GP(0) of a 16-byte SSE operand. It outranks the segment and canonical checks
        /// (a misaligned non-canonical stack operand is #GP, not #SS); FXSAVE/FXRSTOR check the other way round
        /// (<paramref name="canonicalFirst"/>). Both orders measured on the host.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        internal static void CheckAligned(IemCpu c, int seg, ulong ea, int size, bool write, bool canonicalFirst = false)
        {
            if (((c.Segs[seg].Base + ea) & 15) == 0) return;
            if (canonicalFirst) CanonicalChecks(c, seg, ea, size, write);
            c.RaiseGp0();
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        static void CanonicalChecks(IemCpu c, int seg, ulong ea, int size, bool write)
        {
            ulong lin = c.Linear(seg, ea, size, write);
            if (c.LongModeActive && (!c.IsCanonical(lin) || !c.IsCanonical(lin + (ulong)(size - 1))))
                c.RaiseXcpt(seg == SegIdx.SS ? Xcpt.SS : Xcpt.GP, 0);
        }

        // ---------------- generic kernel handlers ----------------

        /// <summary>PUNPCKLBW/WD/DQ mm, mm/m32: the memory form reads only the 4 bytes it uses.</summary>
        static void MmxOpM32<T, F>(IemCpu c, ref DecodedInstr d) where T : struct, IVecOp where F : struct, IFeat
        {
            MmxCheck<F>(c);
            ulong src = d.IsMem ? c.ReadU32(d.Seg, c.Ea(ref d)) : 0;
            byte* fx = c.Fx;
            EnterMmx(fx);
            if (!d.IsMem) src = GetMm(fx, d.Rm);
            SetMm(fx, d.Reg, T.M(GetMm(fx, d.Reg), src));
        }

        static void MmxOp<T, F>(IemCpu c, ref DecodedInstr d) where T : struct, IVecOp where F : struct, IFeat
        {
            MmxCheck<F>(c);
            ulong src = d.IsMem ? c.ReadU64(d.Seg, c.Ea(ref d)) : 0;
            byte* fx = c.Fx;
            EnterMmx(fx);
            if (!d.IsMem) src = GetMm(fx, d.Rm);
            SetMm(fx, d.Reg, T.M(GetMm(fx, d.Reg), src));
        }

        static void XmmOp<T, F>(IemCpu c, ref DecodedInstr d) where T : struct, IXmmOp where F : struct, IFeat
        {
            SseCheck<F>(c);
            V src = d.IsMem ? ReadM128(c, ref d, true) : *Xmm(c.Fx, d.Rm);
            V* dst = Xmm(c.Fx, d.Reg);
            *dst = T.X(*dst, src);
        }

        /// <summary>XMM form whose memory operand is narrower than 16 bytes (PMOVSX/ZX): no alignment check.</summary>
        static void XmmOpNarrow<T, F>(IemCpu c, ref DecodedInstr d) where T : struct, IXmmOp where F : struct, IFeat
        {
            SseCheck<F>(c);
            V src;
            if (!d.IsMem) src = *Xmm(c.Fx, d.Rm);
            else
            {
                int n = NarrowSize(d.Opcode);
                ulong ea = c.Ea(ref d);
                ulong v = n == 8 ? c.ReadU64(d.Seg, ea) : n == 4 ? c.ReadU32(d.Seg, ea) : c.ReadU16(d.Seg, ea);
                src = Vector128.CreateScalar(v).AsByte();
            }
            V* dst = Xmm(c.Fx, d.Reg);
            *dst = T.X(*dst, src);
        }

        /// <summary>PMOVSX/ZX (66 0F 38 20..25, 30..35): bytes read from memory.</summary>
        static int NarrowSize(byte opcode) => (opcode & 7) switch { 0 or 3 or 5 => 8, 1 or 4 => 4, _ => 2 };

        static void XmmImmOp<T, F>(IemCpu c, ref DecodedInstr d) where T : struct, IXmmImmOp where F : struct, IFeat
        {
            SseCheck<F>(c);
            V src = d.IsMem ? ReadM128(c, ref d, true) : *Xmm(c.Fx, d.Rm);
            V* dst = Xmm(c.Fx, d.Reg);
            *dst = T.X(*dst, src, (byte)d.Imm);
        }

        static void MmxImmOp<T, F>(IemCpu c, ref DecodedInstr d) where T : struct, IVecImmOp where F : struct, IFeat
        {
            MmxCheck<F>(c);
            ulong src = d.IsMem ? c.ReadU64(d.Seg, c.Ea(ref d)) : 0;
            byte* fx = c.Fx;
            EnterMmx(fx);
            if (!d.IsMem) src = GetMm(fx, d.Rm);
            SetMm(fx, d.Reg, T.M(GetMm(fx, d.Reg), src, (byte)d.Imm));
        }

        static void MmxShift<T, F>(IemCpu c, ref DecodedInstr d) where T : struct, IVecShiftImm where F : struct, IFeat
        {
            MmxCheck<F>(c);
            byte* fx = c.Fx;
            EnterMmx(fx);
            SetMm(fx, d.Rm, T.M(GetMm(fx, d.Rm), (byte)d.Imm));
        }

        static void XmmShift<T, F>(IemCpu c, ref DecodedInstr d) where T : struct, IXmmShiftImm where F : struct, IFeat
        {
            SseCheck<F>(c);
            V* r = Xmm(c.Fx, d.Rm);
            *r = T.X(*r, (byte)d.Imm);
        }

        /// <summary>Fills the decoder's table from <see cref="SimdCatalog"/>.</summary>
        sealed class Sink(HandlerTable t) : ISimdSink
        {
            static MandatoryPrefix P(byte pfx) => (MandatoryPrefix)pfx;

            public void Vec<T>(byte map, byte opcode, SimdFeature mmx, SimdFeature xmm) where T : struct, IVecOp
            {
                var m = map == SimdCatalog.Map0F && opcode is 0x60 or 0x61 or 0x62 ? &MmxOpM32<T, FMmx> : MmxH<T>(mmx);
                t.SetSimd((OpMap)map, opcode, MandatoryPrefix.None, m, m);
                var x = XmmH<T>(xmm);
                t.SetSimd((OpMap)map, opcode, MandatoryPrefix.P66, x, x);
            }

            public void Xmm<T>(byte map, byte opcode, byte pfx, SimdFeature f, int memSize) where T : struct, IXmmOp
            {
                var h = memSize == 16 ? XmmH<T>(f) : f switch
                {
                    SimdFeature.Sse41 => (delegate*<IemCpu, ref DecodedInstr, void>)&XmmOpNarrow<T, FSse41>,
                    _ => throw new ArgumentException($"no narrow form for {f}"),
                };
                t.SetSimd((OpMap)map, opcode, P(pfx), h, h);
            }

            public void XmmImm<T>(byte map, byte opcode, byte pfx, SimdFeature f) where T : struct, IXmmImmOp
            {
                delegate*<IemCpu, ref DecodedInstr, void> h = f switch
                {
                    SimdFeature.Sse => &XmmImmOp<T, FSse>,
                    SimdFeature.Sse2 => &XmmImmOp<T, FSse2>,
                    SimdFeature.Ssse3 => &XmmImmOp<T, FSsse3>,
                    SimdFeature.Sse41 => &XmmImmOp<T, FSse41>,
                    _ => throw new ArgumentException($"no XMM imm form for {f}"),
                };
                t.SetSimd((OpMap)map, opcode, P(pfx), h, h);
            }

            public void VecImm<T>(byte map, byte opcode, SimdFeature mmx, SimdFeature xmm) where T : struct, IVecImmOp
            {
                delegate*<IemCpu, ref DecodedInstr, void> m = &MmxImmOp<T, FSsse3>;
                delegate*<IemCpu, ref DecodedInstr, void> x = &XmmImmOp<T, FSsse3>;
                if (mmx != SimdFeature.Ssse3 || xmm != SimdFeature.Ssse3) throw new ArgumentException("PALIGNR-style forms are SSSE3");
                t.SetSimd((OpMap)map, opcode, MandatoryPrefix.None, m, m);
                t.SetSimd((OpMap)map, opcode, MandatoryPrefix.P66, x, x);
            }

            public void VecShift<T>(byte opcode, int reg, SimdFeature mmx, SimdFeature xmm) where T : struct, IVecShiftImm
            {
                t.SetSimd(OpMap.Map0F, opcode, MandatoryPrefix.None, &MmxShift<T, FMmx>, null, reg);
                t.SetSimd(OpMap.Map0F, opcode, MandatoryPrefix.P66, &XmmShift<T, FSse2>, null, reg);
            }

            public void XmmShift<T>(byte opcode, int reg, SimdFeature f) where T : struct, IXmmShiftImm =>
                t.SetSimd(OpMap.Map0F, opcode, MandatoryPrefix.P66, &XmmShift<T, FSse2>, null, reg);

            static delegate*<IemCpu, ref DecodedInstr, void> MmxH<T>(SimdFeature f) where T : struct, IVecOp => f switch
            {
                SimdFeature.Mmx => &MmxOp<T, FMmx>,
                SimdFeature.Sse => &MmxOp<T, FSse>,
                SimdFeature.Sse2 => &MmxOp<T, FSse2>,
                SimdFeature.Ssse3 => &MmxOp<T, FSsse3>,
                _ => throw new ArgumentException($"no MMX form for {f}"),
            };

            static delegate*<IemCpu, ref DecodedInstr, void> XmmH<T>(SimdFeature f) where T : struct, IXmmOp => f switch
            {
                SimdFeature.Sse => &XmmOp<T, FSse>,
                SimdFeature.Sse2 => &XmmOp<T, FSse2>,
                SimdFeature.Ssse3 => &XmmOp<T, FSsse3>,
                SimdFeature.Sse41 => &XmmOp<T, FSse41>,
                SimdFeature.Sse42 => &XmmOp<T, FSse42>,
                _ => throw new ArgumentException($"no XMM form for {f}"),
            };
        }
    }
}
