namespace SharpBox.Vmm.Iem;

/// <summary>Encoding facts per opcode that the decoder needs to find operands and the length.</summary>
[Flags]
internal enum OpF : uint
{
    None = 0,
    ModRm = 1,
    Ib = 1 << 1,          // imm8 (sign-extended into Imm)
    Iw = 1 << 2,          // imm16
    Iz = 1 << 3,          // imm16/32 by operand size (32 when 64-bit), sign-extended
    Iv = 1 << 4,          // imm16/32/64 by operand size (MOV r, imm)
    Jb = 1 << 5,          // rel8
    Jz = 1 << 6,          // rel16/32 (32 in 64-bit mode: Intel ignores 66 on near branches)
    Ap = 1 << 7,          // far pointer ptr16:16/32
    Moffs = 1 << 8,       // offset of address size (A0-A3)
    IwIb = 1 << 9,        // ENTER
    I64 = 1 << 10,        // invalid in 64-bit mode
    D64 = 1 << 11,        // default operand size 64 in 64-bit mode
    F64 = 1 << 12,        // operand size forced to 64 in 64-bit mode (near branches)
    RmB = 1 << 13,        // ModRM.rm register operand is an 8-bit register
    RegB = 1 << 14,       // ModRM.reg operand is an 8-bit register
    TestImm = 1 << 15,    // F6/F7: immediate only for ModRM.reg 0/1 (TEST)
    Prefix = 1 << 16,
    CrDr = 1 << 17,       // MOV to/from CR/DR: ModRM.mod is ignored (always register)
    OpRegB = 1 << 18,     // register in the opcode's low 3 bits, 8-bit (B0-B7)
    OpReg = 1 << 19,      // register in the opcode's low 3 bits
    Vex = 1 << 20,        // C4/C5: VEX in 64-bit mode or when followed by mod=3
    Evex = 1 << 21,       // 62: EVEX in 64-bit mode or when followed by mod=3
    Byte = 1 << 22,       // 8-bit operand size
    X87 = 1 << 23,
    Invalid = 1 << 24,    // no instruction (UD), length is not meaningful
    Sse = 1 << 25,        // SSE/MMX space: empty slots raise #UD/#NM per CR0/CR4
    Escape3DNow = 1 << 26,
}

internal static class OpcodeInfo
{
    public static readonly OpF[] Primary = new OpF[256];
    public static readonly OpF[] Map0F = new OpF[256];
    public static readonly OpF[] Map0F38 = new OpF[256];
    public static readonly OpF[] Map0F3A = new OpF[256];

    static OpcodeInfo()
    {
        var p = Primary;
        const OpF EbGb = OpF.ModRm | OpF.RmB | OpF.RegB | OpF.Byte, EvGv = OpF.ModRm;
        for (int i = 0; i < 8; i++)
        {
            int b = i * 8;   // ADD OR ADC SBB AND SUB XOR CMP
            p[b + 0] = EbGb; p[b + 1] = EvGv; p[b + 2] = EbGb; p[b + 3] = EvGv;
            p[b + 4] = OpF.Ib | OpF.Byte; p[b + 5] = OpF.Iz;
        }
        p[0x06] = p[0x07] = p[0x0E] = p[0x16] = p[0x17] = p[0x1E] = p[0x1F] = OpF.I64;
        p[0x0F] = OpF.None;   // escape, handled by the decoder
        p[0x26] = p[0x2E] = p[0x36] = p[0x3E] = OpF.Prefix;
        p[0x27] = p[0x2F] = p[0x37] = p[0x3F] = OpF.I64;
        for (int i = 0x40; i <= 0x4F; i++) p[i] = OpF.OpReg | OpF.I64;      // INC/DEC r (REX in 64-bit)
        for (int i = 0x50; i <= 0x5F; i++) p[i] = OpF.OpReg | OpF.D64;      // PUSH/POP r
        p[0x60] = p[0x61] = OpF.I64;
        p[0x62] = OpF.ModRm | OpF.I64 | OpF.Evex;                          // BOUND
        p[0x63] = OpF.ModRm;                                               // ARPL / MOVSXD
        p[0x64] = p[0x65] = p[0x66] = p[0x67] = OpF.Prefix;
        p[0x68] = OpF.Iz | OpF.D64; p[0x69] = OpF.ModRm | OpF.Iz;
        p[0x6A] = OpF.Ib | OpF.D64; p[0x6B] = OpF.ModRm | OpF.Ib;
        p[0x6C] = p[0x6E] = OpF.Byte; p[0x6D] = p[0x6F] = OpF.None;
        for (int i = 0x70; i <= 0x7F; i++) p[i] = OpF.Jb | OpF.F64;
        p[0x80] = OpF.ModRm | OpF.Ib | OpF.RmB | OpF.Byte; p[0x81] = OpF.ModRm | OpF.Iz;
        p[0x82] = OpF.ModRm | OpF.Ib | OpF.RmB | OpF.Byte | OpF.I64; p[0x83] = OpF.ModRm | OpF.Ib;
        p[0x84] = p[0x86] = EbGb; p[0x85] = p[0x87] = EvGv;
        p[0x88] = EbGb; p[0x89] = EvGv; p[0x8A] = EbGb; p[0x8B] = EvGv;
        p[0x8C] = OpF.ModRm; p[0x8D] = OpF.ModRm; p[0x8E] = OpF.ModRm; p[0x8F] = OpF.ModRm | OpF.D64;
        for (int i = 0x90; i <= 0x97; i++) p[i] = OpF.OpReg;
        p[0x98] = p[0x99] = OpF.None;
        p[0x9A] = OpF.Ap | OpF.I64; p[0x9B] = OpF.None;
        p[0x9C] = p[0x9D] = OpF.D64; p[0x9E] = p[0x9F] = OpF.None;
        p[0xA0] = p[0xA2] = OpF.Moffs | OpF.Byte; p[0xA1] = p[0xA3] = OpF.Moffs;
        p[0xA4] = p[0xA6] = p[0xAA] = p[0xAC] = p[0xAE] = OpF.Byte;
        p[0xA5] = p[0xA7] = p[0xAB] = p[0xAD] = p[0xAF] = OpF.None;
        p[0xA8] = OpF.Ib | OpF.Byte; p[0xA9] = OpF.Iz;
        for (int i = 0xB0; i <= 0xB7; i++) p[i] = OpF.OpRegB | OpF.Ib | OpF.Byte;
        for (int i = 0xB8; i <= 0xBF; i++) p[i] = OpF.OpReg | OpF.Iv;
        p[0xC0] = OpF.ModRm | OpF.Ib | OpF.RmB | OpF.Byte; p[0xC1] = OpF.ModRm | OpF.Ib;
        p[0xC2] = OpF.Iw | OpF.F64; p[0xC3] = OpF.F64;
        p[0xC4] = p[0xC5] = OpF.ModRm | OpF.I64 | OpF.Vex;                   // LES/LDS or VEX
        p[0xC6] = OpF.ModRm | OpF.Ib | OpF.RmB | OpF.Byte; p[0xC7] = OpF.ModRm | OpF.Iz;
        p[0xC8] = OpF.IwIb | OpF.D64; p[0xC9] = OpF.D64;
        p[0xCA] = OpF.Iw; p[0xCB] = OpF.None; p[0xCC] = OpF.None; p[0xCD] = OpF.Ib;
        p[0xCE] = OpF.I64; p[0xCF] = OpF.None;
        p[0xD0] = p[0xD2] = OpF.ModRm | OpF.RmB | OpF.Byte; p[0xD1] = p[0xD3] = OpF.ModRm;
        p[0xD4] = p[0xD5] = OpF.Ib | OpF.I64; p[0xD6] = OpF.I64; p[0xD7] = OpF.Byte;
        for (int i = 0xD8; i <= 0xDF; i++) p[i] = OpF.ModRm | OpF.X87;
        for (int i = 0xE0; i <= 0xE3; i++) p[i] = OpF.Jb | OpF.F64;
        p[0xE4] = p[0xE6] = OpF.Ib | OpF.Byte; p[0xE5] = p[0xE7] = OpF.Ib;
        p[0xE8] = p[0xE9] = OpF.Jz | OpF.F64; p[0xEA] = OpF.Ap | OpF.I64; p[0xEB] = OpF.Jb | OpF.F64;
        p[0xEC] = p[0xEE] = OpF.Byte; p[0xED] = p[0xEF] = OpF.None;
        p[0xF0] = p[0xF2] = p[0xF3] = OpF.Prefix;
        p[0xF1] = p[0xF4] = p[0xF5] = OpF.None;
        p[0xF6] = OpF.ModRm | OpF.TestImm | OpF.RmB | OpF.Byte; p[0xF7] = OpF.ModRm | OpF.TestImm;
        for (int i = 0xF8; i <= 0xFD; i++) p[i] = OpF.None;
        p[0xFE] = OpF.ModRm | OpF.RmB | OpF.Byte; p[0xFF] = OpF.ModRm;

        var t = Map0F;
        for (int i = 0; i < 256; i++) t[i] = OpF.ModRm;                     // most of the map
        foreach (int i in new[] { 0x04, 0x0A, 0x0C, 0x24, 0x25, 0x26, 0x27, 0x36, 0x39, 0x3B, 0x3C, 0x3D, 0x3E, 0x3F, 0x7A, 0x7B, 0xA6, 0xA7 })
            t[i] = OpF.Invalid;
        foreach (int i in new[] { 0x05, 0x06, 0x07, 0x08, 0x09, 0x0B, 0x0E, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x37, 0x77, 0xA2, 0xAA })
            t[i] = OpF.None;
        t[0x0F] = OpF.ModRm | OpF.Ib | OpF.Escape3DNow | OpF.Invalid;
        t[0x20] = t[0x21] = t[0x22] = t[0x23] = OpF.ModRm | OpF.CrDr;
        for (int i = 0x10; i <= 0x17; i++) t[i] |= OpF.Sse;
        for (int i = 0x28; i <= 0x2F; i++) t[i] |= OpF.Sse;
        for (int i = 0x50; i <= 0x7F; i++) t[i] |= OpF.Sse;
        for (int i = 0xD0; i <= 0xFF; i++) t[i] |= OpF.Sse;
        t[0x77] = OpF.Sse;
        t[0xAE] |= OpF.Sse;                       // FXSAVE/FXRSTOR/LDMXCSR/STMXCSR slots default to the SSE rules
        t[0xFF] = OpF.ModRm;                      // UD0 is never an SSE instruction
        t[0x70] |= OpF.Ib; t[0x71] |= OpF.Ib; t[0x72] |= OpF.Ib; t[0x73] |= OpF.Ib;
        for (int i = 0x40; i <= 0x4F; i++) t[i] = OpF.ModRm;                  // CMOVcc
        for (int i = 0x80; i <= 0x8F; i++) t[i] = OpF.Jz | OpF.F64;
        for (int i = 0x90; i <= 0x9F; i++) t[i] = OpF.ModRm | OpF.RmB | OpF.Byte;   // SETcc
        t[0xA0] = t[0xA1] = t[0xA8] = t[0xA9] = OpF.D64;                      // PUSH/POP FS/GS
        t[0xA4] = t[0xAC] = OpF.ModRm | OpF.Ib; t[0xBA] = OpF.ModRm | OpF.Ib;
        t[0xB0] = t[0xC0] = OpF.ModRm | OpF.RmB | OpF.RegB | OpF.Byte;
        t[0xB6] = t[0xBE] = OpF.ModRm | OpF.RmB;
        t[0xC2] |= OpF.Ib | OpF.Sse; t[0xC3] = OpF.ModRm; t[0xC4] |= OpF.Ib | OpF.Sse; t[0xC5] |= OpF.Ib | OpF.Sse; t[0xC6] |= OpF.Ib | OpF.Sse;
        for (int i = 0xC8; i <= 0xCF; i++) t[i] = OpF.OpReg;                  // BSWAP
        for (int i = 0; i < 256; i++) Map0F38[i] = OpF.ModRm | OpF.Sse;
        for (int i = 0; i < 256; i++) Map0F3A[i] = OpF.ModRm | OpF.Ib | OpF.Sse;
    }
}
