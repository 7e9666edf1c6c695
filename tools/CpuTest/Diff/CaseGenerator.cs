using System.Buffers.Binary;
using Iced.Intel;
using static SharpBox.Tools.CpuTest.Diff.SandboxLayout;

namespace SharpBox.Tools.CpuTest.Diff;

/// <summary>
/// Builds random but meaningful cases for a form: operands chosen from the form's operand kinds, memory
/// operands aimed mostly inside the data pages (and sometimes across into the read-only page or the hole
/// after it), branch targets inside the code page, register values biased towards boundaries, and x87 /
/// SSE state with the special values (NaNs, denormals, unnormals, infinities) and control settings
/// (rounding, precision, unmasked exceptions) that exercise the floating-point paths.
/// </summary>
public sealed class CaseGenerator
{
    readonly Random _r;
    readonly int _mode;
    readonly bool _m64;
    readonly CodeBuffer _buf = new();
    readonly Encoder _enc;

    public CaseGenerator(int mode, int seed)
    {
        _mode = mode; _m64 = mode == 64;
        _r = new Random(seed);
        _enc = Encoder.Create(mode, _buf);
    }

    sealed class CodeBuffer : CodeWriter
    {
        public readonly List<byte> Bytes = new();
        public override void WriteByte(byte value) => Bytes.Add(value);
    }

    // Per-case scratch
    ulong?[] _fixed = new ulong?[16];
    int _regCount => _m64 ? 16 : 8;

    public DiffCase? Generate(Form f, int formIndex)
    {
        var c = new DiffCase { Seed = (ulong)_r.NextInt64() | 1, FormIndex = formIndex };
        _fixed = new ulong?[16];
        var op = f.Op;
        var ins = new Instruction { Code = f.Code };
        bool hasMem = false;
        int memSize = MemSize(op);
        ulong memEa = 0;
        for (int i = 0; i < op.OpCount; i++)
        {
            var k = op.GetOpKind(i);
            switch (k)
            {
                case OpCodeOperandKind.r8_reg: case OpCodeOperandKind.r8_opcode: SetReg(ref ins, i, R8()); break;
                case OpCodeOperandKind.r16_reg: case OpCodeOperandKind.r16_rm: case OpCodeOperandKind.r16_opcode: case OpCodeOperandKind.r16_reg_mem:
                    SetReg(ref ins, i, Register.AX + Gpr()); break;
                case OpCodeOperandKind.r32_reg: case OpCodeOperandKind.r32_rm: case OpCodeOperandKind.r32_opcode: case OpCodeOperandKind.r32_reg_mem:
                    SetReg(ref ins, i, Register.EAX + Gpr()); break;
                case OpCodeOperandKind.r64_reg: case OpCodeOperandKind.r64_rm: case OpCodeOperandKind.r64_opcode: case OpCodeOperandKind.r64_reg_mem:
                    SetReg(ref ins, i, Register.RAX + Gpr()); break;
                case OpCodeOperandKind.xmm_reg: case OpCodeOperandKind.xmm_rm: SetReg(ref ins, i, Register.XMM0 + Gpr()); break;
                case OpCodeOperandKind.mm_reg: case OpCodeOperandKind.mm_rm: SetReg(ref ins, i, Register.MM0 + _r.Next(8)); break;
                case OpCodeOperandKind.sti_opcode: SetReg(ref ins, i, Register.ST0 + _r.Next(8)); break;
                case OpCodeOperandKind.st0: SetReg(ref ins, i, Register.ST0); break;
                case OpCodeOperandKind.al: SetReg(ref ins, i, Register.AL); break;
                case OpCodeOperandKind.cl: SetReg(ref ins, i, Register.CL); break;
                case OpCodeOperandKind.ax: SetReg(ref ins, i, Register.AX); break;
                case OpCodeOperandKind.dx: SetReg(ref ins, i, Register.DX); break;
                case OpCodeOperandKind.eax: SetReg(ref ins, i, Register.EAX); break;
                case OpCodeOperandKind.rax: SetReg(ref ins, i, Register.RAX); break;
                case OpCodeOperandKind.es: SetReg(ref ins, i, Register.ES); break;
                case OpCodeOperandKind.cs: SetReg(ref ins, i, Register.CS); break;
                case OpCodeOperandKind.ss: SetReg(ref ins, i, Register.SS); break;
                case OpCodeOperandKind.ds: SetReg(ref ins, i, Register.DS); break;
                case OpCodeOperandKind.fs: SetReg(ref ins, i, Register.FS); break;
                case OpCodeOperandKind.gs: SetReg(ref ins, i, Register.GS); break;
                case OpCodeOperandKind.seg_reg: SetReg(ref ins, i, Register.ES + _r.Next(6)); break;

                case OpCodeOperandKind.r8_or_mem:
                    if (_r.Next(2) == 0) SetReg(ref ins, i, R8()); else { memEa = SetMem(ref ins, i, op, memSize); hasMem = true; }
                    break;
                case OpCodeOperandKind.r16_or_mem:
                    if (_r.Next(2) == 0) SetReg(ref ins, i, Register.AX + Gpr()); else { memEa = SetMem(ref ins, i, op, memSize); hasMem = true; }
                    break;
                case OpCodeOperandKind.r32_or_mem:
                    if (_r.Next(2) == 0) SetReg(ref ins, i, Register.EAX + Gpr()); else { memEa = SetMem(ref ins, i, op, memSize); hasMem = true; }
                    break;
                case OpCodeOperandKind.r64_or_mem:
                    if (_r.Next(2) == 0) SetReg(ref ins, i, Register.RAX + Gpr()); else { memEa = SetMem(ref ins, i, op, memSize); hasMem = true; }
                    break;
                case OpCodeOperandKind.xmm_or_mem:
                    if (_r.Next(2) == 0) SetReg(ref ins, i, Register.XMM0 + Gpr()); else { memEa = SetMem(ref ins, i, op, memSize); hasMem = true; }
                    break;
                case OpCodeOperandKind.mm_or_mem:
                    if (_r.Next(2) == 0) SetReg(ref ins, i, Register.MM0 + _r.Next(8)); else { memEa = SetMem(ref ins, i, op, memSize); hasMem = true; }
                    break;
                case OpCodeOperandKind.mem:
                    memEa = SetMem(ref ins, i, op, memSize); hasMem = true; break;
                case OpCodeOperandKind.mem_offs:
                    {
                        memEa = DataTarget(memSize, op);
                        ins.SetOpKind(i, OpKind.Memory);
                        ins.MemoryBase = Register.None; ins.MemoryIndex = Register.None;
                        ins.MemoryDisplacement64 = memEa; ins.MemoryDisplSize = _m64 ? 8 : 4;
                        hasMem = true;
                        break;
                    }
                case OpCodeOperandKind.seg_rBX_al:
                    {
                        ins.SetOpKind(i, OpKind.Memory);
                        ins.MemoryBase = _m64 ? Register.RBX : Register.EBX;
                        ins.MemoryIndex = Register.AL;
                        _fixed[3] = DataBase + (ulong)_r.Next(DataRw - 256);
                        hasMem = true;
                        break;
                    }
                case OpCodeOperandKind.seg_rSI: ins.SetOpKind(i, _m64 ? OpKind.MemorySegRSI : OpKind.MemorySegESI); hasMem = true; break;
                case OpCodeOperandKind.es_rDI: ins.SetOpKind(i, _m64 ? OpKind.MemoryESRDI : OpKind.MemoryESEDI); hasMem = true; break;
                case OpCodeOperandKind.seg_rDI: ins.SetOpKind(i, _m64 ? OpKind.MemorySegRDI : OpKind.MemorySegEDI); hasMem = true; break;

                case OpCodeOperandKind.imm8:
                    if (op.Mnemonic is Mnemonic.Shld or Mnemonic.Shrd && op.OperandSize == 16)
                    { ins.SetOpKind(i, OpKind.Immediate8); ins.Immediate8 = (byte)(_r.Next(0, 17) | (_r.Next(8) << 5)); }
                    else if (op.Mnemonic == Mnemonic.Enter && i == 1) { ins.SetOpKind(i, OpKind.Immediate8_2nd); ins.Immediate8_2nd = (byte)(_r.Next(4) == 0 ? _r.Next(256) : _r.Next(4)); }
                    else { ins.SetOpKind(i, OpKind.Immediate8); ins.Immediate8 = Imm8(op); }
                    break;
                case OpCodeOperandKind.imm8_const_1: ins.SetOpKind(i, OpKind.Immediate8); ins.Immediate8 = 1; break;
                case OpCodeOperandKind.imm16:
                    ins.SetOpKind(i, OpKind.Immediate16);
                    ins.Immediate16 = op.Mnemonic is Mnemonic.Enter or Mnemonic.Ret ? (ushort)(_r.Next(4) == 0 ? _r.Next(65536) : _r.Next(64) * 2) : (ushort)Val(16);
                    break;
                case OpCodeOperandKind.imm32: ins.SetOpKind(i, OpKind.Immediate32); ins.Immediate32 = (uint)Val(32); break;
                case OpCodeOperandKind.imm64: ins.SetOpKind(i, OpKind.Immediate64); ins.Immediate64 = Val(64); break;
                case OpCodeOperandKind.imm8sex16: ins.SetOpKind(i, OpKind.Immediate8to16); ins.Immediate8to16 = (sbyte)Val(8); break;
                case OpCodeOperandKind.imm8sex32: ins.SetOpKind(i, OpKind.Immediate8to32); ins.Immediate8to32 = (sbyte)Val(8); break;
                case OpCodeOperandKind.imm8sex64: ins.SetOpKind(i, OpKind.Immediate8to64); ins.Immediate8to64 = (sbyte)Val(8); break;
                case OpCodeOperandKind.imm32sex64: ins.SetOpKind(i, OpKind.Immediate32to64); ins.Immediate32to64 = (int)Val(32); break;

                case OpCodeOperandKind.br32_1: case OpCodeOperandKind.br64_1:
                    SetBranch(ref ins, i, 100); break;
                case OpCodeOperandKind.br32_4: case OpCodeOperandKind.br64_4:
                    SetBranch(ref ins, i, 0x7F0); break;
                default:
                    return null;    // an operand kind this tester does not produce
            }
        }

        // Prefixes
        if (hasMem && op.CanUseLockPrefix && _r.Next(10) < 6) ins.HasLockPrefix = true;
        else if (!hasMem && op.CanUseLockPrefix && _r.Next(40) == 0) ins.HasLockPrefix = true;   // #UD
        bool isString = op.Mnemonic is Mnemonic.Movsb or Mnemonic.Movsw or Mnemonic.Movsd or Mnemonic.Movsq
            or Mnemonic.Cmpsb or Mnemonic.Cmpsw or Mnemonic.Cmpsd or Mnemonic.Cmpsq or Mnemonic.Stosb or Mnemonic.Stosw
            or Mnemonic.Stosd or Mnemonic.Stosq or Mnemonic.Lodsb or Mnemonic.Lodsw or Mnemonic.Lodsd or Mnemonic.Lodsq
            or Mnemonic.Scasb or Mnemonic.Scasw or Mnemonic.Scasd or Mnemonic.Scasq;
        isString &= op.Table == OpCodeTableKind.Normal;
        if (isString)
        {
            if (op.CanUseRepnePrefix && _r.Next(4) == 0) ins.HasRepnePrefix = true;
            else if (op.CanUseRepPrefix && _r.Next(2) == 0) ins.HasRepPrefix = true;
        }
        if (!_m64 && hasMem && !isString && _r.Next(20) == 0)
            ins.SegmentPrefix = _r.Next(4) switch { 0 => Register.ES, 1 => Register.CS, 2 => Register.SS, _ => Register.DS };

        // Encode
        _buf.Bytes.Clear();
        try { _enc.Encode(ins, InsnAddress); }
        catch (EncoderException) { return null; }
        if (_buf.Bytes.Count > 15) return null;
        // 64-bit mode ignores ES/CS/SS/DS overrides: prepend one now and then (the decoder must skip it).
        if (_m64 && _buf.Bytes.Count < 15 && _r.Next(16) == 0) _buf.Bytes.Insert(0, (byte)(0x26 + 8 * _r.Next(4)));
        c.Code = _buf.Bytes.ToArray();
        var dec = Decoder.Create(_mode, new ByteArrayCodeReader(c.Code));
        dec.IP = InsnAddress;
        c.Instr = dec.Decode();
        // Branch targets were encoded relative to the unprefixed length: a prefix moved them by one byte, so
        // keep the decoded instruction (its targets are what both executors see).
        if (c.Instr.Code != f.Code)
        {
            // The waiting forms (FSTENV = FWAIT + FNSTENV...) decode as two instructions.
            if (!f.Op.Fwait || c.Instr.Code != Code.Wait) return null;
            c.Instr = ins;
            c.Instr.IP = InsnAddress;
        }

        // Registers
        for (int r = 0; r < 16; r++) c.Gpr[r] = Val(64);
        if (!_m64) for (int r = 0; r < 16; r++) c.Gpr[r] &= 0xFFFFFFFF;
        c.Gpr[4] = DataBase + 0x1000 + (ulong)(_r.Next(-0x400, 0x400) & (_r.Next(8) == 0 ? ~0 : ~7));
        ApplySpecials(c, op, isString, memEa, memSize, hasMem);
        for (int r = 0; r < 16; r++) if (_fixed[r] is ulong v) c.Gpr[r] = _m64 ? v : (uint)v;
        // 16-bit SHLD/SHRD by CL: counts (mod 32) above 16 are undefined; CL may be pinned by an address.
        if (op.Mnemonic is Mnemonic.Shld or Mnemonic.Shrd && op.OperandSize == 16 && op.Op2Kind == OpCodeOperandKind.cl
            && (c.Gpr[1] & 31) > 16) return null;

        c.Rflags = 0x202 | (ulong)(_r.Next(256) & 0xD5) | (_r.Next(2) == 0 ? 0x800UL : 0) | (_r.Next(5) == 0 ? 0x400UL : 0)
            | (_r.Next(4) == 0 ? 0x200000UL : 0) | (_r.Next(8) == 0 ? 0x40000UL : 0);   // ID; AC (CR0.AM is set: #AC at CPL3)
        RandomFpu(c.Fx);
        return c;
    }

    // ---------------- operands ----------------

    void SetReg(ref Instruction ins, int i, Register r) { ins.SetOpKind(i, OpKind.Register); ins.SetOpRegister(i, r); }

    int Gpr() => _r.Next(_regCount);

    Register R8()
    {
        int n = _r.Next(_m64 ? 20 : 8);
        if (n < 8) return Register.AL + n;                 // AL..BH (AH..BH need no REX)
        return Register.SPL + (n - 8);                     // SPL..R15L (64-bit only)
    }

    static int MemSize(OpCodeInfo op)
    {
        int s = op.MemorySize.GetSize();
        return s <= 0 ? 1 : s;
    }

    /// <summary>Where a memory operand points: mostly inside the read/write pages, sometimes across or outside them.</summary>
    ulong DataTarget(int size, OpCodeInfo op)
    {
        int span = Math.Min(size, 512);
        int roll = _r.Next(100);
        ulong t;
        if (roll < 80)
        {
            t = DataBase + (ulong)_r.Next(Math.Max(1, DataRw - span));
            int align = size >= 16 ? 16 : size >= 8 ? 8 : 1;
            if (_r.Next(10) < 8) t &= ~(ulong)(align - 1);
        }
        else if (roll < 86) t = RoBase - (ulong)_r.Next(1, Math.Max(2, span));            // straddles RW -> RO
        else if (roll < 91) t = RoBase + (ulong)_r.Next(DataRo - Math.Min(span, DataRo - 1));  // read-only page
        else if (roll < 95) t = HoleBase - (ulong)_r.Next(0, Math.Max(1, span));           // RO -> unmapped
        else if (roll < 98) t = DataBase - (ulong)_r.Next(1, 64);                          // below the data pages
        else t = _m64 ? 0x8000_0000_0000_0000UL + (ulong)_r.Next(4096) : 0xFFFF_F000u;     // non-canonical / top of 4 GiB
        return t;
    }

    /// <summary>A ModRM memory operand: random base/index/scale/displacement solved so the address is <see cref="DataTarget"/>.</summary>
    ulong SetMem(ref Instruction ins, int i, OpCodeInfo op, int size)
    {
        ulong ea = DataTarget(size, op);
        if (op.Mnemonic is Mnemonic.Fxsave or Mnemonic.Fxsave64 or Mnemonic.Fxrstor or Mnemonic.Fxrstor64 or Mnemonic.Cmpxchg16b
            && _r.Next(8) != 0)
            ea = DataBase + (ulong)(_r.Next(DataRw - 512) & ~15);
        ins.SetOpKind(i, OpKind.Memory);
        bool addr32 = !_m64 || _r.Next(12) == 0;          // 67h in 64-bit mode now and then
        int roll = _r.Next(10);
        Register regBase = addr32 ? Register.EAX : Register.RAX;
        int b = -1, x = -1;
        if (_m64 && !addr32 && roll == 0)
        {
            ins.MemoryBase = Register.RIP;
            ins.MemoryIndex = Register.None;
            ins.MemoryDisplacement64 = ea;
            ins.MemoryDisplSize = 8;
            return ea;
        }
        if (roll >= 2) b = FreeAddrReg(-1);
        if (roll >= 5) x = FreeAddrReg(b, noSp: true);
        int scale = 1 << _r.Next(4);
        long disp = _r.Next(3) switch { 0 => 0, 1 => _r.Next(-128, 128), _ => _r.Next(-0x100000, 0x100000) };
        if (b < 0 && x < 0) disp = (long)(uint)ea;
        ulong xv = 0;
        if (x >= 0)
        {
            xv = (ulong)(long)_r.Next(-16, 64);
            if (b < 0) disp = (long)(ea - xv * (ulong)scale);
            _fixed[x] = xv;
        }
        if (b >= 0) _fixed[b] = ea - (ulong)disp - xv * (ulong)scale;
        if (addr32)
        {
            disp = (int)disp;
            if (b >= 0) _fixed[b] = (uint)_fixed[b]!.Value;
            if (x >= 0) _fixed[x] = (uint)xv;
        }
        ins.MemoryBase = b >= 0 ? regBase + b : Register.None;
        ins.MemoryIndex = x >= 0 ? regBase + x : Register.None;
        ins.MemoryIndexScale = x >= 0 ? scale : 1;
        ins.MemoryDisplacement64 = (ulong)disp;
        ins.MemoryDisplSize = disp == 0 && b >= 0 ? 0 : (b >= 0 || x >= 0) && disp >= -128 && disp < 128 ? 1 : (_m64 && !addr32 && b < 0 && x < 0 ? 8 : 4);
        return ea;
    }

    int FreeAddrReg(int other, bool noSp = false)
    {
        for (int tries = 0; tries < 32; tries++)
        {
            int r = _r.Next(_regCount);
            if (r == other || _fixed[r] != null || (noSp && r == 4)) continue;
            if (r == 4 && _r.Next(3) != 0) continue;        // RSP as a base now and then (keeps the stack usable)
            return r;
        }
        return -1;
    }

    void SetBranch(ref Instruction ins, int i, int reach)
    {
        // A target in the code page outside the instruction itself (INT3 lands there).
        long off;
        do off = _r.Next(-reach, reach + 1); while (off >= -1 && off < 16);
        ulong target = InsnAddress + (ulong)off;
        ins.SetOpKind(i, _m64 ? OpKind.NearBranch64 : OpKind.NearBranch32);
        if (_m64) ins.NearBranch64 = target; else ins.NearBranch32 = (uint)target;
    }

    byte Imm8(OpCodeInfo op) => op.Mnemonic is Mnemonic.Pshufd or Mnemonic.Shufps or Mnemonic.Pcmpistri ? (byte)_r.Next(256) : (byte)Val(8);

    static readonly ulong[] s_edges =
    [
        0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
        0x100000000, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 0xFFFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFE, 0x8000000000000001,
    ];

    /// <summary>An integer of the given width: edges, small values, pointers into the data pages or random bits.</summary>
    ulong Val(int bits)
    {
        ulong v = _r.Next(10) switch
        {
            0 or 1 => s_edges[_r.Next(s_edges.Length)],
            2 => (ulong)_r.Next(0, 33),
            3 => (ulong)(long)-_r.Next(1, 33),
            4 => DataBase + (ulong)_r.Next(DataRw),
            5 => (ulong)_r.Next(0, 0x10000),
            _ => (ulong)_r.NextInt64() ^ ((ulong)_r.Next() << 33),
        };
        return bits == 64 ? v : v & ((1UL << bits) - 1);
    }

    void ApplySpecials(DiffCase c, OpCodeInfo op, bool isString, ulong ea, int memSize, bool hasMem)
    {
        var m = op.Mnemonic;
        if (isString)
        {
            // RSI/RDI inside the data pages, RCX mostly small so REP stays (mostly) inside them.
            _fixed[6] ??= DataBase + 0x800 + (ulong)_r.Next(0x1000);
            _fixed[7] ??= DataBase + 0x800 + (ulong)_r.Next(0x1000);
            _fixed[1] ??= _r.Next(6) == 0 ? Val(64) : (ulong)_r.Next(0, 40);
        }
        if (m is Mnemonic.Loop or Mnemonic.Loope or Mnemonic.Loopne or Mnemonic.Jrcxz or Mnemonic.Jecxz)
            _fixed[1] ??= _r.Next(3) == 0 ? Val(64) : (ulong)_r.Next(0, 3);
        if (m is Mnemonic.Maskmovq or Mnemonic.Maskmovdqu) _fixed[7] ??= DataBase + (ulong)_r.Next(DataRw - 16);
        if (m is Mnemonic.Enter or Mnemonic.Leave) _fixed[5] ??= DataBase + 0x800 + (ulong)(_r.Next(0x1000) & ~7);
        if (m is Mnemonic.Shld or Mnemonic.Shrd && op.OperandSize == 16 && op.Op2Kind == OpCodeOperandKind.cl)
            _fixed[1] ??= (ulong)(uint)(_r.Next(0, 17) | (_r.Next(8) << 5));    // 16-bit counts above 16 are undefined
        if (m is Mnemonic.Div or Mnemonic.Idiv && _r.Next(2) == 0)
        {
            // Keep the quotient in range half of the time (RDX:RAX with a small high half).
            _fixed[2] ??= m == Mnemonic.Idiv && _r.Next(2) == 0 ? ulong.MaxValue : 0;
        }
        ulong codeTarget = InsnAddress + (ulong)(_r.Next(2) == 0 ? _r.Next(16, 200) : -_r.Next(1, 200));
        if (m is Mnemonic.Ret && _r.Next(10) < 7)
        {
            ulong rsp = _fixed[4] ?? c.Gpr[4];
            if (rsp >= DataBase && rsp + 8 <= DataBase + DataRw)
                c.Patches.Add(((ushort)(rsp - DataBase), _m64 ? BitConverter.GetBytes(codeTarget) : BitConverter.GetBytes((uint)codeTarget)));
        }
        if (m is Mnemonic.Call or Mnemonic.Jmp && op.Op0Kind is OpCodeOperandKind.r64_or_mem or OpCodeOperandKind.r32_or_mem && _r.Next(10) < 6)
        {
            if (hasMem)
            {
                if (ea >= DataBase && ea + 8 <= DataBase + DataRw)
                    c.Patches.Add(((ushort)(ea - DataBase), _m64 ? BitConverter.GetBytes(codeTarget) : BitConverter.GetBytes((uint)codeTarget)));
            }
            else
            {
                int reg = c.Instr.Op0Register.GetNumber();
                _fixed[reg] = codeTarget;
            }
        }
        if (hasMem && ea >= DataBase && ea + 4 <= DataBase + DataRw)
        {
            // A valid MXCSR mostly, else one with a reserved bit (#GP) -- but never bit 17 alone: this host's
            // MXCSR_MASK has AMD's misaligned-SSE bit, the model's does not.
            uint mx = RandomMxcsr();
            if (_r.Next(10) == 0) mx |= 1u << (_r.Next(2) == 0 ? 16 : _r.Next(18, 32));
            if (m is Mnemonic.Ldmxcsr)
                c.Patches.Add(((ushort)(ea - DataBase), BitConverter.GetBytes(mx)));
            if (m is Mnemonic.Fxrstor or Mnemonic.Fxrstor64 && ea + 28 <= DataBase + DataRw)
                c.Patches.Add(((ushort)(ea + 24 - DataBase), BitConverter.GetBytes(mx)));
        }
        // FP operands in memory: put an interesting value there half of the time.
        if (hasMem && ea >= DataBase && ea + (ulong)memSize <= DataBase + DataRw && c.Patches.Count < SandboxLayout.MaxPatches && _r.Next(2) == 0)
        {
            var ms = op.MemorySize;
            byte[]? val = ms switch
            {
                MemorySize.Float32 => BitConverter.GetBytes(F32()),
                MemorySize.Float64 => BitConverter.GetBytes(F64()),
                MemorySize.Float80 => F80(),
                MemorySize.Packed128_Float32 => [.. BitConverter.GetBytes(F32()), .. BitConverter.GetBytes(F32()), .. BitConverter.GetBytes(F32())],
                MemorySize.Packed128_Float64 => BitConverter.GetBytes(F64()),
                _ => null,
            };
            if (val != null) c.Patches.Add(((ushort)(ea - DataBase), val));
        }
    }

    // ---------------- floating point ----------------

    uint RandomMxcsr()
    {
        uint m = 0x1F80;
        m = (m & ~0x6000u) | ((uint)_r.Next(4) << 13);                 // rounding
        if (_r.Next(5) == 0) m |= 0x40;                                // DAZ
        if (_r.Next(5) == 0) m |= 0x8000;                              // FTZ
        if (_r.Next(3) == 0) m |= (uint)_r.Next(64);                   // sticky flags
        if (_r.Next(8) == 0) m &= ~((uint)_r.Next(64) << 7);           // unmask some exceptions
        return m;
    }

    uint F32() => _r.Next(12) switch
    {
        0 => 0, 1 => 0x80000000, 2 => 0x3F800000, 3 => (uint)_r.Next(1, 0x800000),              // zeros, 1.0, denormal
        4 => 0x7F800000 | (_r.Next(2) == 0 ? 0x80000000 : 0),                                  // infinities
        5 => 0x7FC00000 | (uint)_r.Next(0x400000),                                             // QNaN
        6 => 0x7F800000 | (uint)_r.Next(1, 0x400000),                                          // SNaN
        7 => 0x7F7FFFFF, 8 => 0x00800000,                                                      // max, min normal
        9 => BitConverter.SingleToUInt32Bits((float)_r.Next(-100000, 100000)) ,                 // integers
        _ => ((uint)_r.Next(0x3C000000, 0x43000000)) | (_r.Next(2) == 0 ? 0x80000000 : 0),      // ordinary magnitudes
    };

    ulong F64() => _r.Next(12) switch
    {
        0 => 0, 1 => 0x8000000000000000, 2 => 0x3FF0000000000000, 3 => (ulong)_r.NextInt64(1, 1L << 52),
        4 => 0x7FF0000000000000UL | (_r.Next(2) == 0 ? 0x8000000000000000UL : 0),
        5 => 0x7FF8000000000000UL | (ulong)_r.NextInt64(1L << 51),
        6 => 0x7FF0000000000000UL | (ulong)_r.NextInt64(1, 1L << 51),
        7 => 0x7FEFFFFFFFFFFFFF, 8 => 0x0010000000000000,
        9 => BitConverter.DoubleToUInt64Bits(_r.Next(-100000, 100000)),
        10 => BitConverter.DoubleToUInt64Bits(_r.NextDouble() * Math.Pow(2, _r.Next(-1100, 1100))),
        _ => (ulong)_r.NextInt64(0x3C00000000000000, 0x4300000000000000) | (_r.Next(2) == 0 ? 0x8000000000000000UL : 0),
    };

    byte[] F80()
    {
        ulong mant; int exp;
        switch (_r.Next(12))
        {
            case 0: mant = 0; exp = 0; break;                                              // zero
            case 1: mant = (ulong)_r.NextInt64(1, long.MaxValue); exp = 0; break;          // denormal
            case 2: mant = (1UL << 63) | (ulong)_r.NextInt64(); exp = 0; break;            // pseudo-denormal
            case 3: mant = 1UL << 63; exp = 0x7FFF; break;                                 // infinity
            case 4: mant = 0xC000000000000000UL | (ulong)_r.NextInt64(1L << 62); exp = 0x7FFF; break;   // QNaN
            case 5: mant = 0x8000000000000000UL | (ulong)_r.NextInt64(1, 1L << 62); exp = 0x7FFF; break; // SNaN
            case 6: mant = (ulong)_r.NextInt64(); exp = _r.Next(2) == 0 ? 0x7FFF : _r.Next(1, 0x7FFF); break; // unnormal / pseudo-NaN (J clear)
            case 7: mant = (1UL << 63) | ((ulong)_r.NextInt64() & ~0xFFFFFFUL); exp = 0x3FFF + _r.Next(-70, 70); break;
            case 8: mant = (1UL << 63) | (ulong)_r.NextInt64(); exp = _r.Next(1, 0x7FFF); break;
            case 9: mant = (1UL << 63) | (ulong)_r.NextInt64(); exp = _r.Next(2) == 0 ? _r.Next(1, 80) : _r.Next(0x7F80, 0x7FFF); break;
            default: mant = (1UL << 63) | (ulong)_r.NextInt64(); exp = 0x3FFF + _r.Next(-16, 64); break;
        }
        if (_r.Next(2) == 0) exp |= 0x8000;
        var b = new byte[10];
        BinaryPrimitives.WriteUInt64LittleEndian(b, mant);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(8), (ushort)exp);
        return b;
    }

    void RandomFpu(byte[] fx)
    {
        Array.Clear(fx);
        ushort fcw = 0x037F;
        fcw = (ushort)((fcw & ~0xF00) | (_r.Next(16) << 8));                 // precision and rounding
        if (_r.Next(8) == 0) fcw &= (ushort)~(_r.Next(64));                 // unmask some exceptions
        int top = _r.Next(8);
        int depth = _r.Next(9);
        byte tags = 0;
        for (int i = 0; i < depth; i++) tags |= (byte)(1 << ((top + i) & 7));
        if (_r.Next(10) == 0) tags = (byte)_r.Next(256);
        ushort fsw = (ushort)((top << 11) | (_r.Next(16) << 8 & 0x4700));   // condition codes
        if (_r.Next(4) == 0) fsw |= (ushort)(_r.Next(64) & fcw & 0x3F);     // masked sticky flags only
        if (_r.Next(40) == 0) fsw |= (ushort)_r.Next(64);                   // sometimes a pending exception (#MF)
        // As FXRSTOR leaves them: FCW's reserved bits fixed, FSW.ES/B = an unmasked exception flag is set.
        fcw = (ushort)((fcw & 0x1F3F) | 0x40);
        fsw &= 0x7F7F;
        if ((fsw & ~fcw & 0x3F) != 0) fsw |= 0x8080;
        BinaryPrimitives.WriteUInt16LittleEndian(fx, fcw);
        BinaryPrimitives.WriteUInt16LittleEndian(fx.AsSpan(2), fsw);
        fx[4] = tags;
        BinaryPrimitives.WriteUInt32LittleEndian(fx.AsSpan(24), RandomMxcsr());
        BinaryPrimitives.WriteUInt32LittleEndian(fx.AsSpan(28), 0xFFFF);
        for (int i = 0; i < 8; i++)
        {
            var slot = fx.AsSpan(32 + 16 * i);
            if (_r.Next(4) == 0) { BinaryPrimitives.WriteUInt64LittleEndian(slot, Val(64)); BinaryPrimitives.WriteUInt16LittleEndian(slot[8..], (ushort)_r.Next(65536)); }
            else F80().CopyTo(slot);
        }
        for (int i = 0; i < 16; i++)
        {
            var x = fx.AsSpan(160 + 16 * i, 16);
            switch (_r.Next(4))
            {
                case 0: for (int k = 0; k < 4; k++) BinaryPrimitives.WriteUInt32LittleEndian(x[(4 * k)..], F32()); break;
                case 1: for (int k = 0; k < 2; k++) BinaryPrimitives.WriteUInt64LittleEndian(x[(8 * k)..], F64()); break;
                case 2: for (int k = 0; k < 2; k++) BinaryPrimitives.WriteUInt64LittleEndian(x[(8 * k)..], Val(64)); break;
                default: _r.NextBytes(x); break;
            }
        }
    }
}
