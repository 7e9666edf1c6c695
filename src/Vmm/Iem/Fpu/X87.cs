using System.Runtime.CompilerServices;

namespace SharpBox.Vmm.Iem.Fpu;

/// <summary>The guest's x87 pointer registers as one instruction sets them.</summary>
public struct X87Pointers
{
    /// <summary>Low 3 bits of the escape opcode and the ModRM byte (11 bits).</summary>
    public ushort Fop;
    /// <summary>Offset of the instruction (in real/V86 mode the 20-bit linear address, as FSTENV stores it).</summary>
    public ulong Fip;
    public ushort Fcs;
    /// <summary>Offset of the memory operand (linear in real/V86 mode).</summary>
    public ulong Fdp;
    public ushort Fds;
}

/// <summary>Outcome of a host-executed x87 operation.</summary>
public readonly struct X87Result
{
    readonly ulong _raw;
    internal X87Result(ulong raw) => _raw = raw;
    /// <summary>The host refused the instruction (a signal inside the stub): the guest state is untouched.</summary>
    public bool Faulted => (_raw >> 32) == 0xFFFF_FFFF;
    public int Signal => (int)(_raw & 0xFFFF);
    public ushort Fsw => (ushort)_raw;
    /// <summary>Host RFLAGS after the instruction (FCOMI/FUCOMI and their popping forms set ZF, PF, CF, clear OF, SF, AF).</summary>
    public uint Rflags => (uint)(_raw >> 16);
}

/// <summary>FSTENV/FLDENV (and the FSAVE/FRSTOR header) layouts, chosen by operand size and CPU mode.</summary>
public enum FpuEnvFormat : byte { Real16, Protected16, Real32, Protected32 }

/// <summary>
/// x87 execution. Arithmetic, loads, stores, transcendentals and every other non-control instruction run
/// on the host FPU exactly as VirtualBox's IEM does: a generated stub FXRSTORs the guest state, executes
/// the one instruction (its memory operand redirected to a scratch buffer), FXSAVEs the result and puts
/// the host's FCW/MXCSR back. Control instructions and the guest-visible save formats are done here in
/// C#, because their images depend on guest mode and carry guest pointers the host never saw.
/// Callers handle CR0.EM/TS (#NM) and a pending exception (#MF) first: a stub is never entered with one
/// pending, which is also why it cannot fault on the host with #MF.
/// </summary>
public static unsafe class X87
{
    static readonly nint[] s_stubs = new nint[64 + 512];
    static readonly object s_lock = new();

    /// <summary>Executes a Host/HostLoad/HostStore form. <paramref name="mem"/> holds the operand for loads
    /// (and receives it for stores); it may be null for register forms. Updates FOP/FIP (and FDP for memory
    /// forms) from <paramref name="ptr"/>.</summary>
    public static X87Result ExecuteHost(byte* fx, byte opcode, byte modrm, byte* mem, ulong guestRflags, in X87Pointers ptr)
    {
        int idx = modrm >= 0xC0 ? 64 + (opcode - 0xD8) * 64 + (modrm - 0xC0) : (opcode - 0xD8) * 8 + ((modrm >> 3) & 7);
        nint stub = s_stubs[idx];
        if (stub == 0) stub = Build(idx, opcode, modrm);
        ulong oldFdp = *(ulong*)(fx + FxLayout.Fdp);
        byte scratch = 0;
        if (mem == null) mem = &scratch;
        // A stub is a few dozen instructions that never block or call back: no GC transition around it.
        ulong raw = ((delegate* unmanaged[SuppressGCTransition]<byte*, byte*, ulong, ulong>)stub)(fx, mem, guestRflags & 0x8D5);
        var r = new X87Result(raw);
        if (r.Faulted) return r;
        *(ushort*)(fx + FxLayout.Fop) = ptr.Fop;
        *(ulong*)(fx + FxLayout.Fip) = ptr.Fip;
        *(ushort*)(fx + FxLayout.Fcs) = ptr.Fcs;
        if (modrm < 0xC0)
        {
            *(ulong*)(fx + FxLayout.Fdp) = ptr.Fdp;
            *(ushort*)(fx + FxLayout.Fds) = ptr.Fds;
        }
        else *(ulong*)(fx + FxLayout.Fdp) = oldFdp;
        return r;
    }

    static nint Build(int idx, byte opcode, byte modrm)
    {
        lock (s_lock)
        {
            if (s_stubs[idx] != 0) return s_stubs[idx];
            HostFaultTrap.EnsureInstalled();
            var c = new CodeBuf(stackalloc byte[128]);
            c.B([0x48, 0x83, 0xEC, 0x18]);              // sub rsp, 24
            c.B([0xD9, 0x3C, 0x24]);                    // fnstcw [rsp]
            c.B([0x0F, 0xAE, 0x5C, 0x24, 0x04]);        // stmxcsr [rsp+4]
            int rec = c.LeaR11Rip();                    // lea r11, [rip+recover]
            c.B([0x0F, 0xAE, 0x0F]);                    // fxrstor [rdi]
            c.B([0x52, 0x9D]);                          // push rdx; popfq  (guest status flags, for FCMOVcc)
            c.B(opcode);
            c.B(modrm >= 0xC0 ? modrm : (byte)(modrm & 0x38 | 0x06));   // memory operand -> [rsi]
            c.B([0x9C, 0x58]);                          // pushfq; pop rax
            c.B(0xFC);                                  // cld
            c.B([0x0F, 0xAE, 0x07]);                    // fxsave [rdi]
            c.B([0xDB, 0xE3]);                          // fninit (empty stack for the host ABI)
            c.B([0xD9, 0x2C, 0x24]);                    // fldcw [rsp]
            c.B([0x0F, 0xAE, 0x54, 0x24, 0x04]);        // ldmxcsr [rsp+4]
            c.B([0x48, 0xC1, 0xE0, 0x10]);              // shl rax, 16
            c.B([0x66, 0x8B, 0x47, 0x02]);              // mov ax, [rdi+2]
            c.B([0x48, 0x83, 0xC4, 0x18]);              // add rsp, 24
            c.B(0xC3);
            c.Bind32(rec);                              // recover: (RAX = signal number)
            c.B([0xDB, 0xE3]);                          // fninit
            c.B([0xD9, 0x2C, 0x24]);                    // fldcw [rsp]
            c.B([0x0F, 0xAE, 0x54, 0x24, 0x04]);        // ldmxcsr [rsp+4]
            c.B(0xFC);                                  // cld
            c.B([0x48, 0x0D, 0x00, 0x00, 0xFF, 0xFF]);  // or rax, 0xFFFFFFFFFFFF0000
            c.B([0x48, 0x83, 0xC4, 0x18]);              // add rsp, 24
            c.B(0xC3);
            nint p = HostCode.Emit(c.Code);
            Volatile.Write(ref s_stubs[idx], p);
            return p;
        }
    }

    // ---- control instructions (no FOP/FIP update) ----

    public static void Fninit(byte* fx)
    {
        FxLayout.SetTop(fx, 0);
        *(ushort*)(fx + FxLayout.Fcw) = FxLayout.FcwDefault;
        *(ushort*)(fx + FxLayout.Fsw) = 0;
        fx[FxLayout.Ftw] = 0;
        fx[FxLayout.Ftw + 1] = 0;
        *(ushort*)(fx + FxLayout.Fop) = 0;
        *(ulong*)(fx + FxLayout.Fip) = 0;
        *(ulong*)(fx + FxLayout.Fdp) = 0;
        *(ushort*)(fx + FxLayout.Fcs) = 0;
        *(ushort*)(fx + FxLayout.Fds) = 0;
    }

    /// <summary>FNCLEX: clears the exception flags, SF, ES and B.</summary>
    public static void Fnclex(byte* fx) => *(ushort*)(fx + FxLayout.Fsw) &= 0x7F00;

    public static void Fldcw(byte* fx, ushort value)
    {
        ushort fcw = FxLayout.NormalizeFcw(value);
        *(ushort*)(fx + FxLayout.Fcw) = fcw;
        *(ushort*)(fx + FxLayout.Fsw) = FxLayout.RecalcEs(*(ushort*)(fx + FxLayout.Fsw), fcw);
    }

    public static ushort Fnstcw(byte* fx) => *(ushort*)(fx + FxLayout.Fcw);
    public static ushort Fnstsw(byte* fx) => *(ushort*)(fx + FxLayout.Fsw);

    public static int EnvSize(FpuEnvFormat f) => f is FpuEnvFormat.Real16 or FpuEnvFormat.Protected16 ? 14 : 28;
    public static int SaveSize(FpuEnvFormat f) => EnvSize(f) + 80;

    /// <summary>FNSTENV: stores the environment, then masks all exceptions (as the instruction does).</summary>
    public static void Fnstenv(byte* fx, Span<byte> dst, FpuEnvFormat fmt)
    {
        StoreEnv(fx, dst, fmt);
        ushort fcw = (ushort)(*(ushort*)(fx + FxLayout.Fcw) | FxLayout.FswXcptMask);
        *(ushort*)(fx + FxLayout.Fcw) = fcw;
        *(ushort*)(fx + FxLayout.Fsw) = FxLayout.RecalcEs(*(ushort*)(fx + FxLayout.Fsw), fcw);
    }

    public static void Fldenv(byte* fx, ReadOnlySpan<byte> src, FpuEnvFormat fmt) => LoadEnv(fx, src, fmt);

    /// <summary>FNSAVE: environment and the eight registers in ST order, then FNINIT.</summary>
    public static void Fnsave(byte* fx, Span<byte> dst, FpuEnvFormat fmt)
    {
        StoreEnv(fx, dst, fmt);
        int o = EnvSize(fmt);
        for (int i = 0; i < 8; i++)
            new ReadOnlySpan<byte>(FxLayout.St(fx, i), 10).CopyTo(dst.Slice(o + 10 * i, 10));
        Fninit(fx);
    }

    public static void Frstor(byte* fx, ReadOnlySpan<byte> src, FpuEnvFormat fmt)
    {
        // Environment first: the registers in the image are in ST order relative to the new TOP.
        LoadEnv(fx, src, fmt);
        int o = EnvSize(fmt);
        for (int i = 0; i < 8; i++)
        {
            byte* r = FxLayout.St(fx, i);
            src.Slice(o + 10 * i, 10).CopyTo(new Span<byte>(r, 10));
            *(uint*)(r + 10) = 0; *(ushort*)(r + 14) = 0;
        }
    }

    static void StoreEnv(byte* fx, Span<byte> d, FpuEnvFormat fmt)
    {
        ushort fcw = *(ushort*)(fx + FxLayout.Fcw), fsw = *(ushort*)(fx + FxLayout.Fsw);
        ushort ftw = FxLayout.FullTagWord(fx);
        ushort fop = (ushort)(*(ushort*)(fx + FxLayout.Fop) & 0x7FF);
        ulong fip = *(ulong*)(fx + FxLayout.Fip), fdp = *(ulong*)(fx + FxLayout.Fdp);
        ushort fcs = *(ushort*)(fx + FxLayout.Fcs), fds = *(ushort*)(fx + FxLayout.Fds);
        switch (fmt)
        {
            case FpuEnvFormat.Protected16:
                W16(d, 0, fcw); W16(d, 2, fsw); W16(d, 4, ftw);
                W16(d, 6, (ushort)fip); W16(d, 8, fcs); W16(d, 10, (ushort)fdp); W16(d, 12, fds);
                break;
            case FpuEnvFormat.Real16:
                W16(d, 0, fcw); W16(d, 2, fsw); W16(d, 4, ftw);
                W16(d, 6, (ushort)fip); W16(d, 8, (ushort)(((fip >> 4) & 0xF000) | fop));
                W16(d, 10, (ushort)fdp); W16(d, 12, (ushort)((fdp >> 4) & 0xF000));
                break;
            case FpuEnvFormat.Protected32:
                W32(d, 0, 0xFFFF0000u | fcw); W32(d, 4, 0xFFFF0000u | fsw); W32(d, 8, 0xFFFF0000u | ftw);
                W32(d, 12, (uint)fip); W32(d, 16, ((uint)fop << 16) | fcs);
                W32(d, 20, (uint)fdp); W32(d, 24, 0xFFFF0000u | fds);
                break;
            case FpuEnvFormat.Real32:
                W32(d, 0, 0xFFFF0000u | fcw); W32(d, 4, 0xFFFF0000u | fsw); W32(d, 8, 0xFFFF0000u | ftw);
                W32(d, 12, 0xFFFF0000u | (ushort)fip); W32(d, 16, (uint)(((fip >> 4) & 0x0FFFF000) | fop));
                W32(d, 20, 0xFFFF0000u | (ushort)fdp); W32(d, 24, (uint)((fdp >> 4) & 0x0FFFF000));
                break;
        }
    }

    static void LoadEnv(byte* fx, ReadOnlySpan<byte> s, FpuEnvFormat fmt)
    {
        ushort fcw, fsw, ftw, fop, fcs = 0, fds = 0;
        ulong fip, fdp;
        switch (fmt)
        {
            case FpuEnvFormat.Protected16:
                fcw = R16(s, 0); fsw = R16(s, 2); ftw = R16(s, 4);
                fip = R16(s, 6); fcs = R16(s, 8); fdp = R16(s, 10); fds = R16(s, 12);
                fop = *(ushort*)(fx + FxLayout.Fop);   // not part of the protected-mode image
                break;
            case FpuEnvFormat.Real16:
                fcw = R16(s, 0); fsw = R16(s, 2); ftw = R16(s, 4);
                fip = R16(s, 6) | ((ulong)(R16(s, 8) & 0xF000) << 4); fop = (ushort)(R16(s, 8) & 0x7FF);
                fdp = R16(s, 10) | ((ulong)(R16(s, 12) & 0xF000) << 4);
                break;
            case FpuEnvFormat.Protected32:
                fcw = R16(s, 0); fsw = R16(s, 4); ftw = R16(s, 8);
                fip = R32(s, 12); fcs = R16(s, 16); fop = (ushort)(R16(s, 18) & 0x7FF);
                fdp = R32(s, 20); fds = R16(s, 24);
                break;
            default:
                fcw = R16(s, 0); fsw = R16(s, 4); ftw = R16(s, 8);
                fip = R16(s, 12) | ((ulong)(R32(s, 16) & 0x0FFFF000) << 4); fop = (ushort)(R16(s, 16) & 0x7FF);
                fdp = R16(s, 20) | ((ulong)(R32(s, 24) & 0x0FFFF000) << 4);
                break;
        }
        fcw = FxLayout.NormalizeFcw(fcw);
        FxLayout.SetTop(fx, (fsw >> FxLayout.FswTopShift) & 7);
        *(ushort*)(fx + FxLayout.Fcw) = fcw;
        *(ushort*)(fx + FxLayout.Fsw) = FxLayout.RecalcEs(fsw, fcw);
        fx[FxLayout.Ftw] = FxLayout.AbridgedFromFull(ftw);
        *(ushort*)(fx + FxLayout.Fop) = fop;
        *(ulong*)(fx + FxLayout.Fip) = fip;
        *(ulong*)(fx + FxLayout.Fdp) = fdp;
        *(ushort*)(fx + FxLayout.Fcs) = fcs;
        *(ushort*)(fx + FxLayout.Fds) = fds;
    }

    // ---- FXSAVE / FXRSTOR images ----

    /// <summary>
    /// Writes the guest-visible FXSAVE image (bytes 0..159 and the XMM registers; the rest of the 512 bytes
    /// is left as it was, as the hardware does). <paramref name="rexW"/> selects the 64-bit pointer format;
    /// <paramref name="xmmCount"/> is 16 in 64-bit mode, else 8; without CR4.OSFXSR MXCSR and XMM are not saved.
    /// </summary>
    public static void FxsaveImage(byte* fx, Span<byte> d, bool rexW, int xmmCount, bool osfxsr)
    {
        W16(d, 0, *(ushort*)(fx + FxLayout.Fcw));
        W16(d, 2, *(ushort*)(fx + FxLayout.Fsw));
        d[4] = fx[FxLayout.Ftw]; d[5] = 0;
        W16(d, 6, (ushort)(*(ushort*)(fx + FxLayout.Fop) & 0x7FF));
        ulong fip = *(ulong*)(fx + FxLayout.Fip), fdp = *(ulong*)(fx + FxLayout.Fdp);
        if (rexW) { W64(d, 8, fip); W64(d, 16, fdp); }
        else
        {
            W32(d, 8, (uint)fip); W32(d, 12, *(ushort*)(fx + FxLayout.Fcs));
            W32(d, 16, (uint)fdp); W32(d, 20, *(ushort*)(fx + FxLayout.Fds));
        }
        if (osfxsr)
        {
            W32(d, 24, *(uint*)(fx + FxLayout.Mxcsr));
            W32(d, 28, FxLayout.MxcsrMaskValue);
        }
        for (int i = 0; i < 8; i++)
        {
            var slot = d.Slice(FxLayout.St0 + 16 * i, 16);
            new ReadOnlySpan<byte>(FxLayout.St(fx, i), 10).CopyTo(slot);
            slot[10..].Clear();
        }
        if (osfxsr)
            new ReadOnlySpan<byte>(fx + FxLayout.Xmm0, 16 * xmmCount).CopyTo(d.Slice(FxLayout.Xmm0, 16 * xmmCount));
    }

    /// <summary>Loads an FXRSTOR image. Returns false (the caller raises #GP(0)) if MXCSR sets reserved bits;
    /// the state is then unchanged.</summary>
    public static bool FxrstorImage(byte* fx, ReadOnlySpan<byte> s, bool rexW, int xmmCount, bool osfxsr)
    {
        uint mxcsr = R32(s, 24);
        if (osfxsr && (mxcsr & ~FxLayout.MxcsrMaskValue) != 0) return false;
        ushort fcw = FxLayout.NormalizeFcw(R16(s, 0));
        *(ushort*)(fx + FxLayout.Fcw) = fcw;
        *(ushort*)(fx + FxLayout.Fsw) = FxLayout.RecalcEs(R16(s, 2), fcw);
        fx[FxLayout.Ftw] = s[4];
        *(ushort*)(fx + FxLayout.Fop) = (ushort)(R16(s, 6) & 0x7FF);
        if (rexW)
        {
            *(ulong*)(fx + FxLayout.Fip) = R64(s, 8);
            *(ulong*)(fx + FxLayout.Fdp) = R64(s, 16);
        }
        else
        {
            *(ulong*)(fx + FxLayout.Fip) = R32(s, 8);
            *(ushort*)(fx + FxLayout.Fcs) = R16(s, 12);
            *(ulong*)(fx + FxLayout.Fdp) = R32(s, 16);
            *(ushort*)(fx + FxLayout.Fds) = R16(s, 20);
        }
        for (int i = 0; i < 8; i++)
        {
            byte* r = FxLayout.St(fx, i);
            s.Slice(FxLayout.St0 + 16 * i, 10).CopyTo(new Span<byte>(r, 10));
            *(uint*)(r + 10) = 0; *(ushort*)(r + 14) = 0;
        }
        if (osfxsr)
        {
            *(uint*)(fx + FxLayout.Mxcsr) = mxcsr;
            s.Slice(FxLayout.Xmm0, 16 * xmmCount).CopyTo(new Span<byte>(fx + FxLayout.Xmm0, 16 * xmmCount));
        }
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] static void W16(Span<byte> d, int o, ushort v) => Unsafe.WriteUnaligned(ref d[o], v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] static void W32(Span<byte> d, int o, uint v) => Unsafe.WriteUnaligned(ref d[o], v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] static void W64(Span<byte> d, int o, ulong v) => Unsafe.WriteUnaligned(ref d[o], v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] static ushort R16(ReadOnlySpan<byte> s, int o) => Unsafe.ReadUnaligned<ushort>(ref Unsafe.AsRef(in s[o]));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] static uint R32(ReadOnlySpan<byte> s, int o) => Unsafe.ReadUnaligned<uint>(ref Unsafe.AsRef(in s[o]));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] static ulong R64(ReadOnlySpan<byte> s, int o) => Unsafe.ReadUnaligned<ulong>(ref Unsafe.AsRef(in s[o]));
}
