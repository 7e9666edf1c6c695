using SharpBox.Vmm.Cpum;

namespace SharpBox.Vmm.Iem;

/// <summary>
/// Instruction handlers: static methods <c>void H(IemCpu c, ref DecodedInstr d)</c>, specialised per
/// form (register vs memory, operand size via generic <see cref="ISize"/> parameters). When a
/// handler runs, <c>c.Rip</c> already points at the next instruction and <c>c.InstrRip</c> at this one.
/// </summary>
public static unsafe partial class Handlers
{
    public static void Ud(IemCpu c, ref DecodedInstr d) => c.RaiseXcpt(Xcpt.UD);

    public static void TooLong(IemCpu c, ref DecodedInstr d) => c.RaiseXcpt(Xcpt.GP, 0);

    public static void Nop(IemCpu c, ref DecodedInstr d) { }

    /// <summary>Default for unregistered x87 opcodes: #NM when CR0.EM or CR0.TS, else #UD.</summary>
    public static void FpuUnavailable(IemCpu c, ref DecodedInstr d)
    {
        if ((c.Cr0 & (Cr0.EM | Cr0.TS)) != 0) c.RaiseXcpt(Xcpt.NM);
        c.RaiseXcpt(Xcpt.UD);
    }

    /// <summary>Default for unregistered SSE/MMX opcodes: #UD if CR0.EM (or, for SSE, CR4.OSFXSR clear), #NM if CR0.TS, else #UD.</summary>
    public static void SseUnavailable(IemCpu c, ref DecodedInstr d)
    {
        if ((c.Cr0 & Cr0.EM) != 0) c.RaiseXcpt(Xcpt.UD);
        bool mmx = d.Map == OpMap.Map0F && (d.Prefixes & (Pfx.OpSize | Pfx.Rep | Pfx.RepNe)) == 0 &&
                   (d.Opcode is >= 0x60 and <= 0x7F or >= 0xD0);
        if (!mmx && (c.Cr4 & Cr4.OSFXSR) == 0) c.RaiseXcpt(Xcpt.UD);
        if ((c.Cr0 & Cr0.TS) != 0) c.RaiseXcpt(Xcpt.NM);
        c.RaiseXcpt(Xcpt.UD);
    }

    /// <summary>Patched over the next instruction of a block whose code was just overwritten: resume at a fresh decode.</summary>
    public static void SmcRestart(IemCpu c, ref DecodedInstr d)
    {
        c.Rip = c.InstrRip;
        c.ThrowRestart();
    }

    /// <summary>Operand-size helper for handlers that are not size-generic.</summary>
    internal static ulong SizeMask(int size) => size == 8 ? ulong.MaxValue : (1UL << (size * 8)) - 1;
}
