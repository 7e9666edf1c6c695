using SharpBox.Vmm.Cpum;

namespace SharpBox.Vmm.Iem;

// PUSH/POP of registers, memory, immediates and segment registers; PUSHA/POPA; PUSHF/POPF; ENTER/LEAVE.
public static unsafe partial class Handlers
{
    public static void PushR(IemCpu c, ref DecodedInstr d) => c.Push(d.OpSize, c.R(d.Rm) & SizeMask(d.OpSize));

    public static void PopR(IemCpu c, ref DecodedInstr d)
    {
        ulong v = c.Pop(d.OpSize);
        if (d.OpSize == 2) c.R16(d.Rm) = (ushort)v; else c.R(d.Rm) = v;   // 32-bit pop in legacy mode: upper half irrelevant
    }

    public static void PushI(IemCpu c, ref DecodedInstr d) => c.Push(d.OpSize, d.Imm & SizeMask(d.OpSize));

    public static void PushM(IemCpu c, ref DecodedInstr d)
    {
        ulong v = c.ReadSized(d.Seg, c.Ea(ref d), d.OpSize);
        c.Push(d.OpSize, v);
    }

    /// <summary>POP Ev: the address is computed with RSP already incremented.</summary>
    public static void PopM(IemCpu c, ref DecodedInstr d)
    {
        if (!d.IsMem) { PopR(c, ref d); return; }
        ulong v = c.PeekStack(d.OpSize, 0);
        ulong oldSp = c.R(4);
        c.AdjustSp(d.OpSize);
        try { c.WriteSized(d.Seg, c.Ea(ref d), d.OpSize, v); }
        catch (GuestFault) { c.R(4) = oldSp; throw; }
    }

    /// <summary>PUSH Sreg: the selector is written with a 16-bit store; the stack moves by the operand size.</summary>
    public static void PushSeg(IemCpu c, ref DecodedInstr d)
    {
        int seg = SegOfPushPop(ref d);
        ushort sel = c.Segs[seg].Sel;
        if (d.OpSize == 2) { c.Push(2, sel); return; }
        int ss = c.StackAddrSize();
        ulong sp = c.R(4) - (ulong)d.OpSize;
        if (ss == 4) sp = (uint)sp; else if (ss == 2) sp = (ushort)sp;
        c.WriteU16(SegIdx.SS, sp, sel);
        if (ss == 8) c.R(4) = sp; else if (ss == 4) c.R(4) = sp; else c.R16(4) = (ushort)sp;
    }

    public static void PopSeg(IemCpu c, ref DecodedInstr d)
    {
        int seg = SegOfPushPop(ref d);
        ushort sel = (ushort)c.PeekStack(d.OpSize, 0);
        c.LoadSeg(seg, sel);
        c.AdjustSp(d.OpSize);
        if (seg == SegIdx.SS) c.SetInterruptShadow();
    }

    private static int SegOfPushPop(ref DecodedInstr d) => d.Map == OpMap.Map0F
        ? (d.Opcode < 0xA8 ? SegIdx.FS : SegIdx.GS)
        : (d.Opcode >> 3) & 3;

    public static void Pusha(IemCpu c, ref DecodedInstr d)
    {
        int sz = d.OpSize;
        ulong oldSp = c.R(4);
        try
        {
            ulong sp0 = c.R(4);
            for (int i = 0; i < 8; i++) c.Push(sz, (i == 4 ? sp0 : c.R(i)) & SizeMask(sz));
        }
        catch (GuestFault) { c.R(4) = oldSp; throw; }
    }

    public static void Popa(IemCpu c, ref DecodedInstr d)
    {
        int sz = d.OpSize;
        Span<ulong> v = stackalloc ulong[8];
        for (int i = 0; i < 8; i++) v[i] = c.PeekStack(sz, (ulong)(i * sz));
        for (int i = 0; i < 8; i++)
        {
            int r = 7 - i;
            if (r == 4) continue;
            if (sz == 2) c.R16(r) = (ushort)v[i]; else c.SetR32(r, (uint)v[i]);
        }
        c.AdjustSp(8 * sz);
    }

    public static void Pushf(IemCpu c, ref DecodedInstr d)
    {
        if (c.V86Mode && c.Iopl < 3) c.RaiseGp0();
        uint f = c.GetEflags() & ~(RFlags.VM | RFlags.RF);
        c.Push(d.OpSize, d.OpSize == 2 ? f & 0xFFFF : f);
    }

    public static void Popf(IemCpu c, ref DecodedInstr d)
    {
        if (c.V86Mode && c.Iopl < 3) c.RaiseGp0();
        uint v = (uint)c.PeekStack(d.OpSize, 0);
        uint mask = RFlags.Arith | RFlags.TF | RFlags.DF | RFlags.NT | RFlags.AC | RFlags.ID;
        if (c.Cpl == 0 && !c.V86Mode) mask |= RFlags.IOPL | RFlags.IF;
        else if (c.Cpl <= c.Iopl) mask |= RFlags.IF;
        if (d.OpSize == 2) mask &= 0xFFFF;
        c.AdjustSp(d.OpSize);
        c.WriteEflags(v, mask | RFlags.RF);
    }

    public static void Enter(IemCpu c, ref DecodedInstr d)
    {
        int sz = d.OpSize;
        ulong alloc = d.Imm & 0xFFFF;
        int level = d.Imm2 & 31;
        int ss = c.StackAddrSize();
        ulong oldSp = c.R(4), oldBp = c.R(5);
        try
        {
            c.Push(sz, c.R(5) & SizeMask(sz));
            ulong frameTemp = c.R(4);
            if (level > 0)
            {
                ulong bp = c.R(5);
                for (int i = 1; i < level; i++)
                {
                    bp -= (ulong)sz;
                    ulong a = ss == 8 ? bp : ss == 4 ? (uint)bp : (ushort)bp;
                    c.Push(sz, c.ReadSized(SegIdx.SS, a, sz));
                }
                c.Push(sz, frameTemp & SizeMask(sz));
            }
            // The final stack pointer must be writable (probe the lowest byte of the allocation).
            ulong newSp = c.R(4) - alloc;
            ulong na = ss == 8 ? newSp : ss == 4 ? (uint)newSp : (ushort)newSp;
            if (alloc != 0)
            {
                c.CheckAlignment(SegIdx.SS, na, sz);   // the new stack top is checked like a push of that size (#AC)
                c.ProbeWrite(SegIdx.SS, na, 1);
            }
            if (sz == 2) c.R16(5) = (ushort)frameTemp; else if (sz == 4) c.R(5) = (uint)frameTemp; else c.R(5) = frameTemp;
            c.AdjustSp(-(long)alloc);
        }
        catch (GuestFault) { c.R(4) = oldSp; c.R(5) = oldBp; throw; }
    }

    public static void Leave(IemCpu c, ref DecodedInstr d)
    {
        int ss = c.StackAddrSize();
        ulong bp = c.R(5);
        ulong a = ss == 8 ? bp : ss == 4 ? (uint)bp : (ushort)bp;
        ulong v = c.ReadSized(SegIdx.SS, a, d.OpSize);
        ulong sp = a + (ulong)d.OpSize;
        if (ss == 8) c.R(4) = sp; else if (ss == 4) c.R(4) = (uint)sp; else c.R16(4) = (ushort)sp;
        if (d.OpSize == 2) c.R16(5) = (ushort)v; else if (d.OpSize == 4) c.R(5) = (uint)v; else c.R(5) = v;
    }
}
