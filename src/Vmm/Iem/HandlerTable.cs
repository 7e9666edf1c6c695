using System.Runtime.CompilerServices;

namespace SharpBox.Vmm.Iem;

/// <summary>
/// Handlers for one opcode form, specialised by operand size (16/32/64; 8-bit forms are separate
/// opcodes and fill all three) and by register vs memory operand, plus the LOCK-prefixed memory
/// variants. A null member means that form is an invalid encoding: the decoder marks it
/// <see cref="InstrFlags.Invalid"/> and it raises #UD (which outranks #NM for undefined opcodes).
/// </summary>
public unsafe struct HandlerSet
{
    public delegate*<IemCpu, ref DecodedInstr, void> R16, R32, R64, M16, M32, M64, L16, L32, L64;
    /// <summary>Optional decode-time check of the full encoding (ModRM.rm, prefixes, mode); false = invalid (#UD).</summary>
    public delegate*<ref DecodedInstr, CodeMode, bool> Valid;
    public InstrFlags Flags;

    /// <summary>One handler for every size and both operand kinds.</summary>
    public static HandlerSet All(delegate*<IemCpu, ref DecodedInstr, void> h, InstrFlags flags = 0) =>
        new() { R16 = h, R32 = h, R64 = h, M16 = h, M32 = h, M64 = h, Flags = flags };
    /// <summary>Register form and memory form, whatever the operand size.</summary>
    public static HandlerSet RegMem(delegate*<IemCpu, ref DecodedInstr, void> reg, delegate*<IemCpu, ref DecodedInstr, void> mem, InstrFlags flags = 0) =>
        new() { R16 = reg, R32 = reg, R64 = reg, M16 = mem, M32 = mem, M64 = mem, Flags = flags };
    /// <summary>Per operand size, register and memory forms share the handler.</summary>
    public static HandlerSet Sized(delegate*<IemCpu, ref DecodedInstr, void> h16, delegate*<IemCpu, ref DecodedInstr, void> h32,
        delegate*<IemCpu, ref DecodedInstr, void> h64, InstrFlags flags = 0) =>
        new() { R16 = h16, R32 = h32, R64 = h64, M16 = h16, M32 = h32, M64 = h64, Flags = flags };

    public readonly bool IsEmpty => (nint)R16 == 0 && (nint)R32 == 0 && (nint)R64 == 0 && (nint)M16 == 0 && (nint)M32 == 0 && (nint)M64 == 0;
}

/// <summary>Mandatory-prefix column for the 0F, 0F38 and 0F3A maps (SSE): none, 66, F3, F2.</summary>
public enum MandatoryPrefix : byte { None = 0, P66 = 1, PF3 = 2, PF2 = 3 }

/// <summary>
/// The handler table the decoder consults: for every (map, opcode, mandatory prefix, ModRM.reg) a
/// <see cref="HandlerSet"/>, and for x87 (D8-DF) a handler per (opcode, reg) for memory forms and
/// per (opcode, ModRM byte) for register forms. Integer handlers are registered by
/// <see cref="IntegerHandlers"/>; the x87 and SIMD handlers by the partial methods
/// <see cref="HandlerRegistry"/> declares, implemented in Iem/Fpu and Iem/Simd. An empty slot
/// decodes to a default handler that raises #UD (#NM/#UD for FPU/SSE space per CR0/CR4).
/// </summary>
public sealed unsafe class HandlerTable
{
    private readonly ushort[] _index = new ushort[4 * 256 * 4 * 8];
    private HandlerSet[] _sets = new HandlerSet[512];
    private int _count = 1;                                    // slot 0 = empty
    internal readonly nint[] X87Mem = new nint[8 * 8];           // [(op-D8)*8 + reg]
    internal readonly nint[] X87Reg = new nint[8 * 64];          // [(op-D8)*64 + (modrm & 63)]
    internal readonly bool[] X87MemInvalid = new bool[8 * 8];
    internal readonly bool[] X87RegInvalid = new bool[8 * 64];

    private static int Key(OpMap map, int op, int pfx, int reg) => ((((int)map << 8) | op) << 5) | (pfx << 3) | reg;

    /// <summary>Registers <paramref name="set"/> for one opcode; <paramref name="pfx"/>/<paramref name="reg"/> null = every column.</summary>
    public void Set(OpMap map, byte opcode, HandlerSet set, MandatoryPrefix? pfx = null, int? reg = null)
    {
        if (reg is < 0 or > 7) throw new ArgumentOutOfRangeException(nameof(reg));
        ushort slot = Add(set);
        for (int p = 0; p < 4; p++)
        {
            if (pfx != null && (int)pfx.Value != p) continue;
            for (int r = 0; r < 8; r++)
            {
                if (reg != null && reg.Value != r) continue;
                _index[Key(map, opcode, p, r)] = slot;
            }
        }
    }

    /// <summary>SSE-style registration: one mandatory-prefix column, register and memory handlers.</summary>
    public void SetSimd(OpMap map, byte opcode, MandatoryPrefix pfx, delegate*<IemCpu, ref DecodedInstr, void> reg,
        delegate*<IemCpu, ref DecodedInstr, void> mem, int? modrmReg = null, InstrFlags flags = 0) =>
        Set(map, opcode, HandlerSet.RegMem(reg, mem, flags), pfx, modrmReg);

    /// <summary>
    /// x87 memory form: opcode D8..DF with ModRM.reg = <paramref name="reg"/>. <paramref name="invalid"/>
    /// marks a reserved encoding whose handler raises the fault itself (the ESC space traps to #NM under
    /// CR0.EM/TS before it is found undefined), so decoders and tests know it is not an instruction.
    /// </summary>
    public void SetX87Mem(byte opcode, int reg, delegate*<IemCpu, ref DecodedInstr, void> h, bool invalid = false)
    {
        if (opcode < 0xD8 || reg is < 0 or > 7) throw new ArgumentOutOfRangeException(nameof(opcode));
        X87Mem[(opcode - 0xD8) * 8 + reg] = (nint)h;
        X87MemInvalid[(opcode - 0xD8) * 8 + reg] = invalid;
    }

    /// <summary>x87 register form: opcode D8..DF and the full ModRM byte C0..FF (see <see cref="SetX87Mem"/> for <paramref name="invalid"/>).</summary>
    public void SetX87Reg(byte opcode, byte modrm, delegate*<IemCpu, ref DecodedInstr, void> h, bool invalid = false)
    {
        if (opcode < 0xD8 || modrm < 0xC0) throw new ArgumentOutOfRangeException(nameof(modrm));
        X87Reg[(opcode - 0xD8) * 64 + (modrm & 63)] = (nint)h;
        X87RegInvalid[(opcode - 0xD8) * 64 + (modrm & 63)] = invalid;
    }

    /// <summary>x87 register form for all eight ST(i) of one ModRM.reg row (e.g. FADD ST0,ST(i)).</summary>
    public void SetX87RegRow(byte opcode, int reg, delegate*<IemCpu, ref DecodedInstr, void> h)
    {
        for (int i = 0; i < 8; i++) SetX87Reg(opcode, (byte)(0xC0 | (reg << 3) | i), h);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ref HandlerSet Lookup(OpMap map, int op, int pfx, int reg) => ref _sets[_index[Key(map, op, pfx, reg)]];

    /// <summary>True when nothing was registered for this slot (as opposed to a set with a null = invalid form).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool IsUnregistered(OpMap map, int op, int pfx, int reg) => _index[Key(map, op, pfx, reg)] == 0;

    private ushort Add(in HandlerSet set)
    {
        for (int i = 1; i < _count; i++)
            if (Same(in _sets[i], in set)) return (ushort)i;
        if (_count == _sets.Length) Array.Resize(ref _sets, _sets.Length * 2);
        if (_count > ushort.MaxValue) throw new InvalidOperationException("too many handler sets");
        _sets[_count] = set;
        return (ushort)_count++;
    }

    private static bool Same(in HandlerSet a, in HandlerSet b) =>
        (nint)a.R16 == (nint)b.R16 && (nint)a.R32 == (nint)b.R32 && (nint)a.R64 == (nint)b.R64 &&
        (nint)a.M16 == (nint)b.M16 && (nint)a.M32 == (nint)b.M32 && (nint)a.M64 == (nint)b.M64 &&
        (nint)a.L16 == (nint)b.L16 && (nint)a.L32 == (nint)b.L32 && (nint)a.L64 == (nint)b.L64 && (nint)a.Valid == (nint)b.Valid && a.Flags == b.Flags;

    /// <summary>The one table every CPU uses (built once: integer handlers, then FPU and SIMD registrations).</summary>
    public static HandlerTable Default => s_default.Value;
    private static readonly Lazy<HandlerTable> s_default = new(() =>
    {
        var t = new HandlerTable();
        HandlerRegistry.RegisterAll(t);
        return t;
    });
}

/// <summary>
/// Who fills the handler table. The FPU/SIMD owner implements the partial methods in their own files
/// (src/Vmm/Iem/Fpu/*.cs: <c>static partial void RegisterFpuHandlers(HandlerTable t)</c>; src/Vmm/Iem/Simd/*.cs:
/// <c>static partial void RegisterSimdHandlers(HandlerTable t)</c>) — no edits to the core tables needed.
/// Unimplemented partials compile away, leaving those opcodes at their #UD/#NM defaults.
/// </summary>
public static partial class HandlerRegistry
{
    internal static void RegisterAll(HandlerTable t)
    {
        IntegerHandlers.Register(t);
        RegisterFpuHandlers(t);
        RegisterSimdHandlers(t);
    }

    static partial void RegisterFpuHandlers(HandlerTable t);
    static partial void RegisterSimdHandlers(HandlerTable t);
}
