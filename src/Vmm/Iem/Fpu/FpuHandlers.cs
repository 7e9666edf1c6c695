using System.Runtime.CompilerServices;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Iem.Fpu;

namespace SharpBox.Vmm.Iem
{
    public static partial class HandlerRegistry
    {
        static partial void RegisterFpuHandlers(HandlerTable t) => FpuHandlers.Register(t);
    }
}

namespace SharpBox.Vmm.Iem.Fpu
{
    /// <summary>
    /// Optional platform hook for x87 errors with CR0.NE clear (the PC's FERR# -> IRQ 13 wiring). A bus that
    /// implements it gets the error instead of a #MF; without it the CPU raises #MF as with CR0.NE set.
    /// </summary>
    public interface IFpuErrorSink
    {
        /// <summary>FERR# asserted by vCPU <paramref name="cpuIndex"/>: the platform raises IRQ 13 (and asserts IGNNE# when the guest writes port F0h).</summary>
        void RaiseFerr(int cpuIndex);
    }

    /// <summary>
    /// The x87 escape opcodes (D8..DF), FWAIT and the FXSAVE/FXRSTOR/LDMXCSR/STMXCSR group members, bound to
    /// the decoder. Checks run in the SDM's order: CR0.EM/TS (#NM), then for waiting instructions a pending
    /// unmasked exception (#MF), then the memory operand (#GP/#SS/#PF), and only then does state change.
    /// </summary>
    public static unsafe class FpuHandlers
    {
        internal static void Register(HandlerTable t)
        {
            for (int op = 0xD8; op <= 0xDF; op++)
            {
                for (int reg = 0; reg < 8; reg++)
                {
                    var f = X87Forms.Classify((byte)op, (byte)(reg << 3));
                    t.SetX87Mem((byte)op, reg, f.Op switch
                    {
                        X87Op.HostLoad => &HostLoad,
                        X87Op.HostStore => &HostStore,
                        X87Op.Fldenv => &Fldenv,
                        X87Op.Fldcw => &Fldcw,
                        X87Op.Fnstenv => &Fnstenv,
                        X87Op.Fnstcw => &Fnstcw,
                        X87Op.Frstor => &Frstor,
                        X87Op.Fnsave => &Fnsave,
                        X87Op.FnstswMem => &FnstswMem,
                        _ => &Invalid,
                    }, invalid: f.Op == X87Op.Invalid);
                }
                for (int m = 0xC0; m <= 0xFF; m++)
                {
                    var f = X87Forms.Classify((byte)op, (byte)m);
                    bool comi = (op == 0xDB || op == 0xDF) && m >= 0xE8 && m <= 0xF7;
                    t.SetX87Reg((byte)op, (byte)m, f.Op switch
                    {
                        X87Op.Host => comi ? &HostRegFlags : &HostReg,
                        X87Op.Fnclex => &Fnclex,
                        X87Op.Fninit => &Fninit,
                        X87Op.FnstswAx => &FnstswAx,
                        X87Op.FnNop => &FnNop,
                        _ => &Invalid,
                    }, invalid: f.Op == X87Op.Invalid);
                }
            }
            t.Set(OpMap.Primary, 0x9B, HandlerSet.All(&Fwait));
            t.SetSimd(OpMap.Map0F, 0xAE, MandatoryPrefix.None, null, &Fxsave, 0);
            t.SetSimd(OpMap.Map0F, 0xAE, MandatoryPrefix.None, null, &Fxrstor, 1);
            t.SetSimd(OpMap.Map0F, 0xAE, MandatoryPrefix.None, null, &Ldmxcsr, 2);
            t.SetSimd(OpMap.Map0F, 0xAE, MandatoryPrefix.None, null, &Stmxcsr, 3);
        }

        // ---------------- checks ----------------

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void NoWait(IemCpu c)
        {
            if ((c.Cr0 & (Cr0.EM | Cr0.TS)) != 0) c.RaiseXcpt(Xcpt.NM);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Wait(IemCpu c)
        {
            if ((c.Cr0 & (Cr0.EM | Cr0.TS)) != 0) c.RaiseXcpt(Xcpt.NM);
            if (FxLayout.X87ExceptionPending(c.Fx)) MathFault(c);
        }

        /// <summary>A pending unmasked x87 exception reaches a waiting instruction: #MF with CR0.NE, else FERR#.</summary>
        [MethodImpl(MethodImplOptions.NoInlining)]
        internal static void MathFault(IemCpu c)
        {
            if ((c.Cr0 & Cr0.NE) == 0 && c.Bus is IFpuErrorSink sink)
            {
                // MS-DOS compatible reporting: the error goes to the interrupt controller as IRQ 13 and the
                // processor freezes on this instruction until an interrupt arrives; it runs again after the
                // guest's handler (which clears the error). So: raise the line, halt here with RIP unchanged.
                sink.RaiseFerr(c.CpuIndex);
                c.Rip = c.InstrRip;
                c.EnterHalt();
                c.ThrowRestart();
            }
            c.RaiseXcpt(Xcpt.MF);
        }

        static void Invalid(IemCpu c, ref DecodedInstr d)
        {
            NoWait(c);
            c.RaiseUd();
        }

        /// <summary>FOP, FIP/FCS and (for memory forms) FDP/FDS as this instruction leaves them.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static X87Pointers Pointers(IemCpu c, ref DecodedInstr d, ulong ea)
        {
            var p = new X87Pointers { Fop = (ushort)(((d.Opcode & 7) << 8) | d.ModRm), Fcs = c.Segs[SegIdx.CS].Sel };
            if (!c.ProtectedMode || c.V86Mode)
            {
                // Real and virtual-8086 mode: FSTENV's formats hold 20-bit linear pointers.
                p.Fip = (c.Segs[SegIdx.CS].ArchBase + c.InstrRip) & 0xFFFFFFFF;
                if (d.IsMem) { p.Fdp = (c.Segs[d.Seg].ArchBase + ea) & 0xFFFFFFFF; p.Fds = c.Segs[d.Seg].Sel; }
            }
            else
            {
                p.Fip = c.InstrRip;
                if (d.IsMem) { p.Fdp = ea; p.Fds = c.Segs[d.Seg].Sel; }
            }
            return p;
        }

        static FpuEnvFormat EnvFormat(IemCpu c, ref DecodedInstr d)
        {
            bool real = !c.ProtectedMode || c.V86Mode;
            bool op16 = d.OpSize == 2;
            return real ? (op16 ? FpuEnvFormat.Real16 : FpuEnvFormat.Real32) : (op16 ? FpuEnvFormat.Protected16 : FpuEnvFormat.Protected32);
        }

        // ---------------- host-executed forms ----------------

        static void HostReg(IemCpu c, ref DecodedInstr d)
        {
            Wait(c);
            var r = X87.ExecuteHost(c.Fx, d.Opcode, d.ModRm, null, c.GetEflags(), Pointers(c, ref d, 0));
            if (r.Faulted) c.RaiseUd();
        }

        /// <summary>FCOMI/FUCOMI/FCOMIP/FUCOMIP: ZF, PF, CF from the compare; OF, SF, AF cleared.</summary>
        static void HostRegFlags(IemCpu c, ref DecodedInstr d)
        {
            Wait(c);
            var r = X87.ExecuteHost(c.Fx, d.Opcode, d.ModRm, null, c.GetEflags(), Pointers(c, ref d, 0));
            if (r.Faulted) c.RaiseUd();
            c.SetArithFlags(r.Rflags & RFlags.Arith);
        }

        static void HostLoad(IemCpu c, ref DecodedInstr d)
        {
            Wait(c);
            int size = X87Forms.Classify(d.Opcode, d.ModRm).MemSize;
            ulong ea = c.Ea(ref d);
            byte* buf = stackalloc byte[16];
            c.CheckAlignment(d.Seg, ea, Alignment(size));
            c.ReadBytes(d.Seg, ea, new Span<byte>(buf, size));
            var r = X87.ExecuteHost(c.Fx, d.Opcode, d.ModRm, buf, c.GetEflags(), Pointers(c, ref d, ea));
            if (r.Faulted) c.RaiseUd();
        }

        static void HostStore(IemCpu c, ref DecodedInstr d)
        {
            Wait(c);
            int size = X87Forms.Classify(d.Opcode, d.ModRm).MemSize;
            ulong ea = c.Ea(ref d);
            c.CheckAlignment(d.Seg, ea, Alignment(size), write: true);
            c.ProbeWrite(d.Seg, ea, size);                  // faults before the FPU state changes
            byte* buf = stackalloc byte[16];
            ushort fcw = FxLayout.FcwRef(c.Fx);
            var r = X87.ExecuteHost(c.Fx, d.Opcode, d.ModRm, buf, c.GetEflags(), Pointers(c, ref d, ea));
            if (r.Faulted) c.RaiseUd();
            // An unmasked invalid-operation, overflow or underflow exception suppresses the store
            // (precision does not); masked ones store the masked response.
            if ((r.Fsw & ~fcw & (FxLayout.FswIE | FxLayout.FswOE | FxLayout.FswUE)) != 0) return;
            c.WriteBytes(d.Seg, ea, new ReadOnlySpan<byte>(buf, size));
        }

        /// <summary>#AC alignment of an x87 memory operand: its size, but 8 for the 10-byte formats.</summary>
        static int Alignment(int size) => size == 10 ? 8 : size;

        /// <summary>#AC alignment of the FSTENV/FSAVE images: 2 with a 16-bit operand size, else 4.</summary>
        static int EnvAlignment(FpuEnvFormat f) => f is FpuEnvFormat.Real16 or FpuEnvFormat.Protected16 ? 2 : 4;

        // ---------------- control instructions ----------------

        static void Fninit(IemCpu c, ref DecodedInstr d) { NoWait(c); X87.Fninit(c.Fx); }
        static void Fnclex(IemCpu c, ref DecodedInstr d) { NoWait(c); X87.Fnclex(c.Fx); }
        static void FnNop(IemCpu c, ref DecodedInstr d) => NoWait(c);
        static void FnstswAx(IemCpu c, ref DecodedInstr d) { NoWait(c); c.R16(0) = X87.Fnstsw(c.Fx); }
        static void FnstswMem(IemCpu c, ref DecodedInstr d) { NoWait(c); c.WriteU16(d.Seg, c.Ea(ref d), X87.Fnstsw(c.Fx)); }
        static void Fnstcw(IemCpu c, ref DecodedInstr d) { NoWait(c); c.WriteU16(d.Seg, c.Ea(ref d), X87.Fnstcw(c.Fx)); }

        static void Fldcw(IemCpu c, ref DecodedInstr d)
        {
            Wait(c);
            ushort v = c.ReadU16(d.Seg, c.Ea(ref d));
            X87.Fldcw(c.Fx, v);
        }

        static void Fldenv(IemCpu c, ref DecodedInstr d)
        {
            Wait(c);
            var fmt = EnvFormat(c, ref d);
            Span<byte> env = stackalloc byte[28];
            ulong ea = c.Ea(ref d);
            c.CheckAlignment(d.Seg, ea, EnvAlignment(fmt));
            c.ReadBytes(d.Seg, ea, env[..X87.EnvSize(fmt)]);
            X87.Fldenv(c.Fx, env, fmt);
        }

        static void Fnstenv(IemCpu c, ref DecodedInstr d)
        {
            NoWait(c);
            var fmt = EnvFormat(c, ref d);
            ulong ea = c.Ea(ref d);
            int size = X87.EnvSize(fmt);
            c.CheckAlignment(d.Seg, ea, EnvAlignment(fmt), write: true);
            c.ProbeWrite(d.Seg, ea, size);
            Span<byte> env = stackalloc byte[28];
            X87.Fnstenv(c.Fx, env, fmt);
            c.WriteBytes(d.Seg, ea, env[..size]);
        }

        static void Frstor(IemCpu c, ref DecodedInstr d)
        {
            Wait(c);
            var fmt = EnvFormat(c, ref d);
            Span<byte> img = stackalloc byte[108];
            ulong ea = c.Ea(ref d);
            c.CheckAlignment(d.Seg, ea, EnvAlignment(fmt));
            c.ReadBytes(d.Seg, ea, img[..X87.SaveSize(fmt)]);
            X87.Frstor(c.Fx, img, fmt);
        }

        static void Fnsave(IemCpu c, ref DecodedInstr d)
        {
            NoWait(c);
            var fmt = EnvFormat(c, ref d);
            ulong ea = c.Ea(ref d);
            int size = X87.SaveSize(fmt);
            c.CheckAlignment(d.Seg, ea, EnvAlignment(fmt), write: true);
            c.ProbeWrite(d.Seg, ea, size);
            Span<byte> img = stackalloc byte[108];
            X87.Fnsave(c.Fx, img, fmt);
            c.WriteBytes(d.Seg, ea, img[..size]);
        }

        /// <summary>WAIT/FWAIT: #NM when CR0.MP and CR0.TS, then any pending unmasked x87 exception.</summary>
        static void Fwait(IemCpu c, ref DecodedInstr d)
        {
            if ((c.Cr0 & (Cr0.MP | Cr0.TS)) == (Cr0.MP | Cr0.TS)) c.RaiseXcpt(Xcpt.NM);
            if (FxLayout.X87ExceptionPending(c.Fx)) MathFault(c);
        }

        // ---------------- FXSAVE / FXRSTOR / LDMXCSR / STMXCSR ----------------

        static bool OsFxsr(IemCpu c) => (c.Cr4 & Cr4.OSFXSR) != 0;

        static void Fxsave(IemCpu c, ref DecodedInstr d)
        {
            if ((c.Cr0 & (Cr0.EM | Cr0.TS)) != 0) c.RaiseXcpt(Xcpt.NM);
            ulong ea = c.Ea(ref d);
            // With alignment checking on, an area not even 4-byte aligned is #AC, even ahead of a read-only
            // segment's #GP; otherwise misalignment is #GP (both measured).
            c.CheckAlignment(d.Seg, ea, 4);
            Simd.SimdHandlers.CheckAligned(c, d.Seg, ea, 512, true, canonicalFirst: true);
            int xmm = c.Mode == CodeMode.Bits64 ? 16 : 8;
            int len = OsFxsr(c) ? 160 + 16 * xmm : 160;
            // The whole area must be writable, not just what is stored, and the host checks its last byte
            // first (which page faults first is not architectural; this matches the reference CPU).
            c.ProbeWrite(d.Seg, ea + 511, 1);
            c.ProbeWrite(d.Seg, ea, 512);
            Span<byte> img = stackalloc byte[512];
            // Without CR4.OSFXSR, MXCSR and its mask (bytes 24..31) are not stored: they keep their memory contents.
            if (!OsFxsr(c)) c.ReadBytes(d.Seg, ea + 24, img.Slice(24, 8));
            X87.FxsaveImage(c.Fx, img, (d.Prefixes & Pfx.RexW) != 0, xmm, OsFxsr(c));
            c.WriteBytes(d.Seg, ea, img[..len]);
        }

        static void Fxrstor(IemCpu c, ref DecodedInstr d)
        {
            if ((c.Cr0 & (Cr0.EM | Cr0.TS)) != 0) c.RaiseXcpt(Xcpt.NM);
            ulong ea = c.Ea(ref d);
            c.CheckAlignment(d.Seg, ea, 4);
            Simd.SimdHandlers.CheckAligned(c, d.Seg, ea, 512, false, canonicalFirst: true);
            Span<byte> img = stackalloc byte[512];
            c.ReadBytes(d.Seg, ea, img);
            int xmm = c.Mode == CodeMode.Bits64 ? 16 : 8;
            if (!X87.FxrstorImage(c.Fx, img, (d.Prefixes & Pfx.RexW) != 0, xmm, OsFxsr(c))) c.RaiseGp0();
        }

        static void MxcsrChecks(IemCpu c)
        {
            if ((c.Cr0 & Cr0.EM) != 0 || !OsFxsr(c)) c.RaiseUd();
            if ((c.Cr0 & Cr0.TS) != 0) c.RaiseXcpt(Xcpt.NM);
        }

        static void Ldmxcsr(IemCpu c, ref DecodedInstr d)
        {
            MxcsrChecks(c);
            uint v = c.ReadU32(d.Seg, c.Ea(ref d));
            if ((v & ~FxLayout.MxcsrMaskValue) != 0) c.RaiseGp0();
            FxLayout.MxcsrRef(c.Fx) = v;
        }

        static void Stmxcsr(IemCpu c, ref DecodedInstr d)
        {
            MxcsrChecks(c);
            c.WriteU32(d.Seg, c.Ea(ref d), FxLayout.MxcsrRef(c.Fx));
        }
    }
}
