using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SharpBox.Vmm.Iem.Fpu;

namespace SharpBox.Vmm.Iem.Simd;

/// <summary>How a host-executed SSE floating-point instruction uses its operands (host registers are fixed).</summary>
public enum SseFpShape : byte
{
    /// <summary>op xmm0, xmm1 [, imm8] (arithmetic, compares, conversions between XMM forms; COMIS sets flags).</summary>
    XX,
    /// <summary>op xmm0, r32/r64 (CVTSI2SS/SD): the integer comes from <see cref="SseFpBlock.Gpr"/>.</summary>
    XG,
    /// <summary>op r32/r64, xmm1 (CVT(T)SS/SD2SI): the result goes to <see cref="SseFpBlock.Gpr"/>.</summary>
    GX,
    /// <summary>op xmm0, m64 (CVTPI2PS/PD): the MMX operand is passed in <see cref="SseFpBlock.Gpr"/>.</summary>
    XM,
    /// <summary>op mm0, xmm1 (CVT(T)PS/PD2PI): the MMX result goes to <see cref="SseFpBlock.Gpr"/>.</summary>
    MX,
}

/// <summary>Operands and MXCSR exchanged with an SSE floating-point stub. Must be 16-byte aligned.</summary>
[StructLayout(LayoutKind.Explicit, Size = 48)]
public struct SseFpBlock
{
    [FieldOffset(0)] public UInt128 A;      // destination / first source (xmm0)
    [FieldOffset(16)] public UInt128 B;     // second source (xmm1)
    [FieldOffset(32)] public ulong Gpr;     // integer / MMX operand or result
    [FieldOffset(40)] public uint Mxcsr;    // guest MXCSR in, MXCSR after the instruction out
}

/// <summary>Result of an SSE floating-point stub.</summary>
public readonly struct SseFpResult
{
    readonly ulong _raw;
    internal SseFpResult(ulong raw) => _raw = raw;
    /// <summary>The host faulted: SIGFPE = an unmasked SIMD exception (#XM; MXCSR in the block has its flags), SIGILL = #UD.</summary>
    public bool Faulted => (_raw >> 32) == 0xFFFF_FFFF;
    public int Signal => (int)(_raw & 0xFFFF);
    /// <summary>Host RFLAGS after the instruction (COMISS/UCOMISS and the SD forms set ZF, PF, CF and clear OF, SF, AF).</summary>
    public uint Rflags => (uint)_raw;
}

/// <summary>
/// SSE/SSE2/SSE3/SSE4.1 floating-point instructions run on the host with the guest's MXCSR loaded, so
/// results, rounding, DAZ/FTZ and exception flags are the hardware's. An exception the guest unmasked
/// faults on the host too; the fault trap resumes the stub, which reports it with the flags the host set
/// (the destination is untouched, as the architecture requires). Stubs are built on first use per
/// (map, mandatory prefix, opcode, REX.W[, imm8]).
/// </summary>
public static unsafe class SseFp
{
    public const byte Map0F = 1, Map0F38 = 2, Map0F3A = 3;
    public const byte PfxNone = 0, Pfx66 = 1, PfxF3 = 2, PfxF2 = 3;

    static readonly nint[][] s_stubs = new nint[4 * 4 * 256 * 2][];
    static readonly object s_lock = new();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int Key(byte map, byte pfx, byte opcode, bool w) => (((map * 4 + pfx) * 256 + opcode) << 1) | (w ? 1 : 0);

    /// <summary>Executes one instruction on <paramref name="blk"/>. <paramref name="hasImm"/> selects an imm8 form.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static SseFpResult Execute(SseFpBlock* blk, byte map, byte pfx, byte opcode, bool rexW, SseFpShape shape, bool hasImm, byte imm)
    {
        var slots = s_stubs[Key(map, pfx, opcode, rexW)];
        nint stub = slots != null ? slots[hasImm ? imm : 0] : 0;
        if (stub == 0) stub = Build(map, pfx, opcode, rexW, shape, hasImm, imm);
        return new SseFpResult(((delegate* unmanaged[SuppressGCTransition]<SseFpBlock*, ulong>)stub)(blk));   // short, never blocks: no GC transition
    }

    static nint Build(byte map, byte pfx, byte opcode, bool rexW, SseFpShape shape, bool hasImm, byte imm)
    {
        lock (s_lock)
        {
            int key = Key(map, pfx, opcode, rexW);
            var slots = s_stubs[key] ??= new nint[hasImm ? 256 : 1];
            int i = hasImm ? imm : 0;
            if (slots[i] != 0) return slots[i];
            HostFaultTrap.EnsureInstalled();
            var c = new CodeBuf(stackalloc byte[128]);
            c.B([0x48, 0x83, 0xEC, 0x18]);                      // sub rsp, 24
            c.B([0x0F, 0xAE, 0x1C, 0x24]);                      // stmxcsr [rsp]
            int rec = c.LeaR11Rip();                            // lea r11, [rip+recover]
            c.B([0x0F, 0xAE, 0x57, 0x28]);                      // ldmxcsr [rdi+40]
            c.B([0x66, 0x0F, 0x6F, 0x07]);                      // movdqa xmm0, [rdi]
            c.B([0x66, 0x0F, 0x6F, 0x4F, 0x10]);                // movdqa xmm1, [rdi+16]
            c.B([0x48, 0x8B, 0x47, 0x20]);                      // mov rax, [rdi+32]
            // The instruction itself: [66|F3|F2] [REX.W] 0F [38|3A] op modrm [disp8] [imm8]
            if (pfx == Pfx66) c.B(0x66); else if (pfx == PfxF3) c.B(0xF3); else if (pfx == PfxF2) c.B(0xF2);
            if (rexW) c.B(0x48);
            c.B(0x0F);
            if (map == Map0F38) c.B(0x38); else if (map == Map0F3A) c.B(0x3A);
            c.B(opcode);
            switch (shape)
            {
                case SseFpShape.XX: c.B(0xC1); break;           // xmm0, xmm1
                case SseFpShape.XG: c.B(0xC0); break;           // xmm0, eax/rax
                case SseFpShape.GX: c.B(0xC1); break;           // eax/rax, xmm1
                case SseFpShape.XM: c.B([0x47, 0x20]); break;   // xmm0, [rdi+32]
                case SseFpShape.MX: c.B(0xC1); break;           // mm0, xmm1
            }
            if (hasImm) c.B(imm);
            c.B(0x9C);                                          // pushfq
            c.B([0x66, 0x0F, 0x7F, 0x07]);                      // movdqa [rdi], xmm0
            if (shape == SseFpShape.MX)
            {
                c.B([0x0F, 0x7F, 0x47, 0x20]);                  // movq [rdi+32], mm0
                c.B([0x0F, 0x77]);                              // emms: the host x87 stack must be empty again
            }
            else c.B([0x48, 0x89, 0x47, 0x20]);                 // mov [rdi+32], rax
            c.B([0x0F, 0xAE, 0x5F, 0x28]);                      // stmxcsr [rdi+40]
            c.B([0x0F, 0xAE, 0x54, 0x24, 0x08]);                // ldmxcsr [rsp+8]
            c.B(0x58);                                          // pop rax (flags)
            c.B([0x48, 0x83, 0xC4, 0x18]);                      // add rsp, 24
            c.B(0xC3);
            c.Bind32(rec);                                      // recover: RAX = signal number
            c.B([0x0F, 0xAE, 0x5F, 0x28]);                      // stmxcsr [rdi+40]
            c.B([0x0F, 0xAE, 0x14, 0x24]);                      // ldmxcsr [rsp]
            if (shape == SseFpShape.MX) c.B([0x0F, 0x77]);      // emms
            c.B([0x48, 0x0D, 0x00, 0x00, 0xFF, 0xFF]);          // or rax, 0xFFFFFFFFFFFF0000
            c.B([0x48, 0x83, 0xC4, 0x18]);                      // add rsp, 24
            c.B(0xC3);
            nint p = HostCode.Emit(c.Code);
            Volatile.Write(ref slots[i], p);
            return p;
        }
    }
}
