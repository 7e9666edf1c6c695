using System.Runtime.CompilerServices;

namespace SharpBox.Vmm.Iem;

/// <summary>Code size the decoder assumes: CS.L (64), else CS.D (32/16).</summary>
public enum CodeMode : byte { Bits16 = 0, Bits32 = 1, Bits64 = 2 }

/// <summary>
/// Decodes one x86 instruction (all prefixes, REX, the 1-byte, 0F, 0F38, 0F3A and x87 maps,
/// ModRM/SIB/displacement/immediates, the 15-byte limit) into a <see cref="DecodedInstr"/> with its
/// handler resolved from a <see cref="HandlerTable"/>. VEX/EVEX/XOP/3DNow! encodings are recognised
/// and decode as invalid (#UD): the CPU model advertises none of them.
/// </summary>
public static unsafe class Decoder
{
    /// <summary>Returned when the bytes given end before the instruction does (and fewer than 15 were given).</summary>
    public const int NeedMoreBytes = -1;
    public const int MaxLength = 15;

    /// <summary>
    /// Decodes the instruction at the start of <paramref name="code"/>. Returns its length (1..15),
    /// or <see cref="NeedMoreBytes"/>. Invalid encodings still return a length (of what was consumed)
    /// with <see cref="InstrFlags.Invalid"/> set and a #UD handler; over-long ones get
    /// <see cref="InstrFlags.TooLong"/> and a #GP(0) handler.
    /// </summary>
    public static int Decode(ReadOnlySpan<byte> code, CodeMode mode, HandlerTable table, ref DecodedInstr d)
    {
        d = default;
        int len = code.Length < MaxLength ? code.Length : MaxLength;
        int pos = 0;
        Pfx pfx = 0;
        int seg = -1;
        int lastRep = 0;           // 0xF2 or 0xF3, whichever came last
        int rex = 0;
        bool is64 = mode == CodeMode.Bits64;
        byte b;
        // ---- prefixes ----
        while (true)
        {
            if (pos >= len) return Short(code.Length, ref d);
            b = code[pos];
            switch (b)
            {
                case 0x26: case 0x2E: case 0x36: case 0x3E:
                    if (!is64) seg = (b >> 3) & 3;        // ES=0 CS=1 SS=2 DS=3; ignored in 64-bit mode
                    rex = 0; pos++; continue;
                case 0x64: seg = 4; rex = 0; pos++; continue;
                case 0x65: seg = 5; rex = 0; pos++; continue;
                case 0x66: pfx |= Pfx.OpSize; rex = 0; pos++; continue;
                case 0x67: pfx |= Pfx.AddrSize; rex = 0; pos++; continue;
                case 0xF0: pfx |= Pfx.Lock; rex = 0; pos++; continue;
                case 0xF2: case 0xF3: lastRep = b; rex = 0; pos++; continue;
            }
            if (is64 && (b & 0xF0) == 0x40) { rex = b; pos++; continue; }
            break;
        }
        if (rex != 0)
        {
            pfx |= Pfx.Rex;
            if ((rex & 8) != 0) pfx |= Pfx.RexW;
            if ((rex & 4) != 0) pfx |= Pfx.RexR;
            if ((rex & 2) != 0) pfx |= Pfx.RexX;
            if ((rex & 1) != 0) pfx |= Pfx.RexB;
        }
        if (lastRep == 0xF3) pfx |= Pfx.Rep; else if (lastRep == 0xF2) pfx |= Pfx.RepNe;
        if (seg >= 0) pfx |= Pfx.Seg;
        d.Prefixes = pfx;

        // ---- opcode ----
        OpMap map = OpMap.Primary;
        pos++;
        OpF f;
        if (b == 0x0F)
        {
            if (pos >= len) return Short(code.Length, ref d);
            b = code[pos++];
            if (b == 0x38 || b == 0x3A)
            {
                map = b == 0x38 ? OpMap.Map0F38 : OpMap.Map0F3A;
                if (pos >= len) return Short(code.Length, ref d);
                b = code[pos++];
                f = map == OpMap.Map0F38 ? OpcodeInfo.Map0F38[b] : OpcodeInfo.Map0F3A[b];
            }
            else { map = OpMap.Map0F; f = OpcodeInfo.Map0F[b]; }
        }
        else f = OpcodeInfo.Primary[b];
        d.Opcode = b;
        d.Map = map;

        bool invalid = (f & OpF.Invalid) != 0 || (is64 && (f & OpF.I64) != 0 && (f & (OpF.Vex | OpF.Evex)) == 0);

        // VEX (C4/C5) and EVEX (62): always in 64-bit mode, else when the next byte has mod=3.
        if ((f & (OpF.Vex | OpF.Evex)) != 0)
        {
            if (pos >= len) return Short(code.Length, ref d);
            if (is64 || code[pos] >= 0xC0) return InvalidAt(pos, ref d);
        }
        // XOP (8F with ModRM.reg != 0) is only reachable as an invalid POP form: leave it to the handler table.

        // ---- operand and address size ----
        int opSize;
        if ((f & OpF.Byte) != 0) opSize = 1;
        else if (is64)
        {
            if ((pfx & Pfx.RexW) != 0 || (f & OpF.F64) != 0) opSize = 8;
            else if ((f & OpF.D64) != 0) opSize = (pfx & Pfx.OpSize) != 0 ? 2 : 8;
            else opSize = (pfx & Pfx.OpSize) != 0 ? 2 : 4;
        }
        else
        {
            bool big = mode == CodeMode.Bits32;
            if ((pfx & Pfx.OpSize) != 0) big = !big;
            opSize = big ? 4 : 2;
        }
        // For handler selection, byte forms use the size the prefixes would give (all three columns are equal).
        int sizeCol = opSize == 1 ? 1 : opSize == 2 ? 0 : opSize == 4 ? 1 : 2;
        int addrSize = is64 ? ((pfx & Pfx.AddrSize) != 0 ? 4 : 8)
                     : (mode == CodeMode.Bits32) != ((pfx & Pfx.AddrSize) != 0) ? 4 : 2;
        d.OpSize = (byte)opSize;
        d.AddrSize = (byte)addrSize;
        d.AddrShift = (byte)(addrSize == 8 ? 0 : addrSize == 4 ? 32 : 48);
        d.Base = 16; d.Index = 16;

        // ---- ModRM / SIB / displacement ----
        bool isMem = false;
        int modrm = 0;
        if ((f & OpF.ModRm) != 0)
        {
            if (pos >= len) return Short(code.Length, ref d);
            modrm = code[pos++];
            d.ModRm = (byte)modrm;
            int mod = modrm >> 6, reg = (modrm >> 3) & 7, rm = modrm & 7;
            if (is64 && map == OpMap.Primary && b == 0xFF)
            {
                // Group 5's operand size depends on ModRM.reg: near CALL/JMP are forced 64-bit, PUSH defaults to it.
                if (reg is 2 or 4) opSize = 8;
                else if (reg == 6 && (pfx & Pfx.RexW) == 0) opSize = (pfx & Pfx.OpSize) != 0 ? 2 : 8;
                sizeCol = opSize == 2 ? 0 : opSize == 4 ? 1 : 2;
                d.OpSize = (byte)opSize;
            }
            int regFull = reg | ((pfx & Pfx.RexR) != 0 ? 8 : 0);
            d.Reg = (byte)((f & OpF.RegB) != 0 ? ByteRegOffset(regFull, rex != 0) : regFull);
            if (mod == 3 || (f & OpF.CrDr) != 0)
            {
                int rmFull = rm | ((pfx & Pfx.RexB) != 0 ? 8 : 0);
                d.Rm = (byte)((f & OpF.RmB) != 0 ? ByteRegOffset(rmFull, rex != 0) : rmFull);
            }
            else
            {
                isMem = true;
                int defSeg = 3;
                if (addrSize == 2)
                {
                    switch (rm)
                    {
                        case 0: d.Base = 3; d.Index = 6; break;               // BX+SI
                        case 1: d.Base = 3; d.Index = 7; break;               // BX+DI
                        case 2: d.Base = 5; d.Index = 6; defSeg = 2; break;   // BP+SI
                        case 3: d.Base = 5; d.Index = 7; defSeg = 2; break;   // BP+DI
                        case 4: d.Base = 6; break;
                        case 5: d.Base = 7; break;
                        case 6: if (mod != 0) { d.Base = 5; defSeg = 2; } break;
                        case 7: d.Base = 3; break;
                    }
                    if (mod == 1) { if (pos >= len) return Short(code.Length, ref d); d.Disp = (sbyte)code[pos++]; }
                    else if (mod == 2 || (mod == 0 && rm == 6))
                    {
                        if (pos + 2 > len) return Short(code.Length, ref d);
                        d.Disp = (short)(code[pos] | code[pos + 1] << 8); pos += 2;
                    }
                }
                else
                {
                    int baseReg = rm;
                    bool noBase = false;
                    if (rm == 4)
                    {
                        if (pos >= len) return Short(code.Length, ref d);
                        int sib = code[pos++];
                        int idx = ((sib >> 3) & 7) | ((pfx & Pfx.RexX) != 0 ? 8 : 0);
                        if (idx != 4) { d.Index = (byte)idx; d.Scale = (byte)(sib >> 6); }
                        baseReg = sib & 7;
                        if (baseReg == 5 && mod == 0) noBase = true;
                    }
                    else if (rm == 5 && mod == 0)
                    {
                        noBase = true;
                        if (is64) d.Base = 17;   // RIP-relative
                    }
                    if (!noBase)
                    {
                        int bfull = baseReg | ((pfx & Pfx.RexB) != 0 ? 8 : 0);
                        d.Base = (byte)bfull;
                        if (bfull == 4 || bfull == 5) defSeg = 2;   // rSP/rBP → SS (r12/r13 keep DS, as on hardware)
                    }
                    if (mod == 1) { if (pos >= len) return Short(code.Length, ref d); d.Disp = (sbyte)code[pos++]; }
                    else if (mod == 2 || noBase)
                    {
                        if (pos + 4 > len) return Short(code.Length, ref d);
                        d.Disp = (int)(code[pos] | code[pos + 1] << 8 | code[pos + 2] << 16 | code[pos + 3] << 24); pos += 4;
                    }
                }
                d.Seg = (byte)(seg >= 0 ? seg : defSeg);
            }
        }
        else if ((f & (OpF.OpReg | OpF.OpRegB)) != 0)
        {
            int r = (b & 7) | ((pfx & Pfx.RexB) != 0 ? 8 : 0);
            d.Rm = (byte)((f & OpF.OpRegB) != 0 ? ByteRegOffset(r, rex != 0) : r);
        }

        // ---- immediates ----
        if ((f & (OpF.Ib | OpF.Iw | OpF.Iz | OpF.Iv | OpF.Jb | OpF.Jz | OpF.Ap | OpF.Moffs | OpF.IwIb | OpF.TestImm)) != 0)
        {
            if ((f & (OpF.Ib | OpF.Jb)) != 0)
            {
                if (pos >= len) return Short(code.Length, ref d);
                long v = (sbyte)code[pos++];
                if ((f & OpF.Jb) != 0) d.Disp = v; else d.Imm = (ulong)v;
            }
            else if ((f & OpF.Iw) != 0)
            {
                if (pos + 2 > len) return Short(code.Length, ref d);
                d.Imm = (ushort)(code[pos] | code[pos + 1] << 8); pos += 2;
            }
            else if ((f & (OpF.Iz | OpF.Jz)) != 0 || ((f & OpF.TestImm) != 0 && ((modrm >> 3) & 7) < 2))
            {
                int n = (f & OpF.Byte) != 0 ? 1 : opSize == 2 ? 2 : 4;
                if (pos + n > len) return Short(code.Length, ref d);
                long v = n == 1 ? (sbyte)code[pos] : n == 2 ? (short)(code[pos] | code[pos + 1] << 8)
                       : (int)(code[pos] | code[pos + 1] << 8 | code[pos + 2] << 16 | code[pos + 3] << 24);
                pos += n;
                if ((f & OpF.Jz) != 0) d.Disp = v; else d.Imm = (ulong)v;
            }
            else if ((f & OpF.Iv) != 0)
            {
                if (pos + opSize > len) return Short(code.Length, ref d);
                d.Imm = ReadLE(code, pos, opSize); pos += opSize;
            }
            else if ((f & OpF.Moffs) != 0)
            {
                if (pos + addrSize > len) return Short(code.Length, ref d);
                d.Disp = (long)ReadLE(code, pos, addrSize); pos += addrSize;
                isMem = true;
                d.Seg = (byte)(seg >= 0 ? seg : 3);
            }
            else if ((f & OpF.Ap) != 0)
            {
                int n = opSize == 2 ? 2 : 4;
                if (pos + n + 2 > len) return Short(code.Length, ref d);
                d.Imm = ReadLE(code, pos, n); pos += n;
                d.Imm2 = (ushort)(code[pos] | code[pos + 1] << 8); pos += 2;
            }
            else if ((f & OpF.IwIb) != 0)
            {
                if (pos + 3 > len) return Short(code.Length, ref d);
                d.Imm = (ushort)(code[pos] | code[pos + 1] << 8); d.Imm2 = code[pos + 2]; pos += 3;
            }
        }
        if (!isMem && (f & OpF.ModRm) == 0 && seg < 0) d.Seg = 3;   // string instructions: DS unless overridden
        else if (!isMem) d.Seg = (byte)(seg >= 0 ? seg : 3);
        d.Length = (byte)pos;
        if (isMem) d.Flags |= InstrFlags.Mem;

        // ---- handler ----
        if (invalid) { d.Flags |= InstrFlags.Invalid; d.Handler = &Handlers.Ud; return pos; }
        delegate*<IemCpu, ref DecodedInstr, void> h;
        if ((f & OpF.X87) != 0)
        {
            int row = b - 0xD8;
            int slot = isMem ? row * 8 + ((modrm >> 3) & 7) : row * 64 + (modrm & 63);
            h = (delegate*<IemCpu, ref DecodedInstr, void>)(isMem ? table.X87Mem[slot] : table.X87Reg[slot]);
            if ((pfx & Pfx.Lock) != 0) { h = &Handlers.Ud; d.Flags |= InstrFlags.Invalid; }
            else if (h == null) { h = &Handlers.FpuUnavailable; d.Flags |= InstrFlags.Unimplemented; }
            else if (isMem ? table.X87MemInvalid[slot] : table.X87RegInvalid[slot]) d.Flags |= InstrFlags.Invalid;
        }
        else
        {
            int pcol = lastRep == 0xF3 ? 2 : lastRep == 0xF2 ? 3 : (pfx & Pfx.OpSize) != 0 ? 1 : 0;
            ref HandlerSet set = ref table.Lookup(map, b, pcol, (modrm >> 3) & 7);
            if ((pfx & Pfx.Lock) != 0)
                h = !isMem ? null : sizeCol == 0 ? set.L16 : sizeCol == 1 ? set.L32 : set.L64;
            else if (isMem)
                h = sizeCol == 0 ? set.M16 : sizeCol == 1 ? set.M32 : set.M64;
            else
                h = sizeCol == 0 ? set.R16 : sizeCol == 1 ? set.R32 : set.R64;
            d.Flags |= set.Flags;
            if (h != null && set.Valid != null && !set.Valid(ref d, mode)) h = null;
            if (h == null)
            {
                // Nothing registered in SSE space: the #UD/#NM default. A registered set with a null form: invalid.
                if ((pfx & Pfx.Lock) == 0 && (f & OpF.Sse) != 0 && table.IsUnregistered(map, b, pcol, (modrm >> 3) & 7))
                { h = &Handlers.SseUnavailable; d.Flags |= InstrFlags.Unimplemented; }
                else { h = &Handlers.Ud; d.Flags |= InstrFlags.Invalid; }
            }
        }
        d.Handler = h;
        return pos;
    }

    /// <summary>AL..BL = 0,8,16,24; without REX, 4..7 are AH..BH (byte 1 of regs 0..3); with REX, SPL..R15B.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int ByteRegOffset(int reg, bool rex) => !rex && reg >= 4 && reg < 8 ? (reg - 4) * 8 + 1 : reg * 8;

    private static ulong ReadLE(ReadOnlySpan<byte> c, int pos, int n)
    {
        ulong v = 0;
        for (int i = n - 1; i >= 0; i--) v = (v << 8) | c[pos + i];
        return v;
    }

    private static int Short(int available, ref DecodedInstr d)
    {
        if (available < MaxLength) return NeedMoreBytes;
        d.Length = MaxLength;
        d.Flags = InstrFlags.TooLong | InstrFlags.Invalid;
        d.Handler = &Handlers.TooLong;
        return MaxLength;
    }

    private static int InvalidAt(int pos, ref DecodedInstr d)
    {
        d.Length = (byte)pos;
        d.Flags |= InstrFlags.Invalid;
        d.Handler = &Handlers.Ud;
        return pos;
    }
}
