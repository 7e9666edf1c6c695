using System.Runtime.InteropServices;

namespace SharpBox.Vmm.Iem;

/// <summary>Legacy/REX prefixes seen on an instruction (<see cref="DecodedInstr.Prefixes"/>).</summary>
[Flags]
public enum Pfx : ushort
{
    None = 0,
    OpSize = 1,      // 66
    AddrSize = 2,    // 67
    Lock = 4,        // F0
    Rep = 8,         // F3 (REP/REPE), the last of F2/F3
    RepNe = 16,      // F2 (REPNE), the last of F2/F3
    Seg = 32,        // an effective segment override (FS/GS in 64-bit mode; any otherwise)
    Rex = 64,        // a REX prefix (40-4F) directly before the opcode
    RexW = 128,
    RexR = 256,
    RexX = 512,
    RexB = 1024,
}

/// <summary>Per-instruction decode facts the run loop and block builder use.</summary>
[Flags]
public enum InstrFlags : byte
{
    None = 0,
    /// <summary>The instruction has a memory operand (ModRM.mod != 3, or moffs).</summary>
    Mem = 1,
    /// <summary>The block ends after this instruction (branches, mode changes, REP strings, HLT...).</summary>
    EndsBlock = 2,
    /// <summary>Invalid encoding: executing it raises #UD (or the handler's own fault).</summary>
    Invalid = 4,
    /// <summary>Longer than 15 bytes: executing it raises #GP(0).</summary>
    TooLong = 8,
    /// <summary>A known x87/MMX/SSE form whose handler is not registered (runs the #UD/#NM default).</summary>
    Unimplemented = 16,
}

/// <summary>Opcode maps.</summary>
public enum OpMap : byte { Primary = 0, Map0F = 1, Map0F38 = 2, Map0F3A = 3 }

/// <summary>
/// One decoded instruction: the handler to run and every operand the handler needs, resolved once
/// at decode time. Blocks are arrays of these (a later recompiler can read the same form).
///
/// Register operands: <see cref="Reg"/> is ModRM.reg (with REX.R) and <see cref="Rm"/> is ModRM.rm
/// (with REX.B) for register forms, or the register encoded in the opcode's low bits. For 8-bit
/// general registers (Eb/Gb operands, MOV r8,imm8) both hold a BYTE OFFSET into the GPR file instead
/// (AL=0, CL=8, ..., AH=1, CH=9, DH=17, BH=25 without REX; SPL=32.. with REX), so handlers address
/// AH..BH without a branch. Memory operands: EA = (R[Base] + (R[Index] &lt;&lt; Scale) + Disp) truncated
/// to the address size, where register 16 is always 0 (no base/index) and 17 is RIP of the next
/// instruction (RIP-relative); <see cref="Seg"/> is the effective segment (override applied).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct DecodedInstr
{
    public delegate*<IemCpu, ref DecodedInstr, void> Handler;
    /// <summary>Displacement (sign-extended), the moffs offset, or the relative branch offset.</summary>
    public long Disp;
    /// <summary>Immediate, sign-extended to 64 bits where the encoding sign-extends (Ib of 83/6B/6A, Iz), else zero-extended.</summary>
    public ulong Imm;
    public byte Length;
    public byte Reg;
    public byte Rm;
    public byte Base;
    public byte Index;
    public byte Scale;
    public byte Seg;
    /// <summary>Right shift applied to ulong.MaxValue to get the address-size mask: 0 (64), 32 (32), 48 (16).</summary>
    public byte AddrShift;
    /// <summary>Operand size in bytes: 1, 2, 4 or 8.</summary>
    public byte OpSize;
    /// <summary>Address size in bytes: 2, 4 or 8.</summary>
    public byte AddrSize;
    public Pfx Prefixes;
    public byte ModRm;
    public byte Opcode;
    public OpMap Map;
    public InstrFlags Flags;
    /// <summary>Second immediate: ENTER's nesting level, a far pointer's selector.</summary>
    public ushort Imm2;
    /// <summary>Offset of this instruction from the start of its block.</summary>
    public ushort Offset;

    public readonly bool IsMem => (Flags & InstrFlags.Mem) != 0;
    public readonly int ModRmReg => (ModRm >> 3) & 7;
    public readonly int ModRmRm => ModRm & 7;
    public readonly int Mod => ModRm >> 6;
}
