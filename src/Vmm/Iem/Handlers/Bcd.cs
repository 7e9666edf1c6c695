using SharpBox.Vmm.Cpum;

namespace SharpBox.Vmm.Iem;

// Decimal adjust instructions (invalid in 64-bit mode; the decoder rejects them there).
// Undefined flags follow what Intel CPUs produce (SF/ZF/PF from the result; OF per the Bochs model).
public static unsafe partial class Handlers
{
    public static void Daa(IemCpu c, ref DecodedInstr d)
    {
        byte al = c.R8(0), old = al;
        uint cf = c.CF, af = c.AF, newCf = 0, newAf = 0;
        if ((al & 0xF) > 9 || af != 0) { al = (byte)(al + 6); newAf = 1; }
        if (old > 0x99 || cf != 0) { al = (byte)(al + 0x60); newCf = 1; }
        c.R8(0) = al;
        uint of = (uint)((~old & al & 0x80) != 0 ? 1 : 0);
        c.FlagsResult<S8>(al, newCf, of, newAf);
    }

    public static void Das(IemCpu c, ref DecodedInstr d)
    {
        byte al = c.R8(0), old = al;
        uint cf = c.CF, af = c.AF, newCf = 0, newAf = 0;
        if ((al & 0xF) > 9 || af != 0) { al = (byte)(al - 6); newAf = 1; newCf = cf | (old < 6 ? 1u : 0u); }   // CF = old CF or the borrow
        if (old > 0x99 || cf != 0) { al = (byte)(al - 0x60); newCf = 1; }
        c.R8(0) = al;
        uint of = (uint)((old & ~al & 0x80) != 0 ? 1 : 0);
        c.FlagsResult<S8>(al, newCf, of, newAf);
    }

    public static void Aaa(IemCpu c, ref DecodedInstr d)
    {
        ushort ax = c.R16(0);
        bool adj = (ax & 0xF) > 9 || c.AF != 0;
        if (adj) { ax = (ushort)(ax + 0x106); }
        c.R16(0) = (ushort)(ax & 0xFF0F);
        uint f = adj ? 1u : 0u;
        c.FlagsResult<S8>((byte)ax, f, 0, f);
    }

    public static void Aas(IemCpu c, ref DecodedInstr d)
    {
        ushort ax = c.R16(0);
        bool adj = (ax & 0xF) > 9 || c.AF != 0;
        if (adj) { ax = (ushort)(ax - 6); ax = (ushort)((ax & 0xFF) | ((ax & 0xFF00) - 0x100)); }
        c.R16(0) = (ushort)(ax & 0xFF0F);
        uint f = adj ? 1u : 0u;
        c.FlagsResult<S8>((byte)ax, f, 0, f);
    }

    public static void Aam(IemCpu c, ref DecodedInstr d)
    {
        byte b = (byte)d.Imm;
        if (b == 0) c.RaiseXcpt(Xcpt.DE);
        byte al = c.R8(0);
        byte q = (byte)(al / b), r = (byte)(al % b);
        c.R8(1) = q; c.R8(0) = r;
        c.FlagsLogic<S8>(r);
    }

    public static void Aad(IemCpu c, ref DecodedInstr d)
    {
        byte b = (byte)d.Imm;
        byte al = c.R8(0), ah = c.R8(1);
        // Flags as the 8-bit addition AL + AH*imm performs them.
        byte prod = (byte)(ah * b);
        byte r = (byte)(al + prod);
        c.R16(0) = r;
        c.FlagsAdd<S8>(al, prod, r);
    }
}
