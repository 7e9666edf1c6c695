using System.Runtime.CompilerServices;
using SharpBox.Vmm.Cpum;

namespace SharpBox.Vmm.Iem;

/// <summary>A decoded legacy descriptor (8 bytes; system descriptors in long mode add a high qword).</summary>
public struct Descriptor
{
    public ulong Raw;
    public ulong High;
    public readonly ulong Base => ((Raw >> 16) & 0xFFFFFF) | ((Raw >> 32) & 0xFF000000);
    public readonly ulong Base64 => Base | (High << 32);
    public readonly uint Limit
    {
        get
        {
            uint l = (uint)(Raw & 0xFFFF) | (uint)((Raw >> 32) & 0xF0000);
            return (Raw & (1UL << 55)) != 0 ? (l << 12) | 0xFFF : l;
        }
    }
    public readonly uint Attr => (uint)((Raw >> 40) & 0xFF) | (uint)((Raw >> 40) & 0xF000);
    public readonly int Dpl => (int)((Raw >> 45) & 3);
    public readonly bool Present => (Raw & (1UL << 47)) != 0;
    public readonly bool S => (Raw & (1UL << 44)) != 0;
    public readonly int Type => (int)((Raw >> 40) & 0xF);
    public readonly bool IsCode => S && (Type & 8) != 0;
    public readonly bool IsData => S && (Type & 8) == 0;
    public readonly bool Conforming => IsCode && (Type & 4) != 0;
    public readonly bool Readable => IsCode ? (Type & 2) != 0 : true;
    public readonly bool Writable => IsData && (Type & 2) != 0;
    public readonly bool L => (Raw & (1UL << 53)) != 0;
    public readonly bool DB => (Raw & (1UL << 54)) != 0;
    // Gate fields
    public readonly ushort GateSelector => (ushort)(Raw >> 16);
    public readonly ulong GateOffset => (Raw & 0xFFFF) | ((Raw >> 32) & 0xFFFF0000);
    public readonly int GateParamCount => (int)((Raw >> 32) & 0x1F);
}

// Segmentation: descriptor-table access, segment register loads with the protected-mode checks,
// and stack operations that honour SS.B / 64-bit mode.
public sealed unsafe partial class IemCpu
{
    /// <summary>
    /// Reads the descriptor a selector names (GDT or LDT). Outside the table → the given exception
    /// with the selector as error code (plus EXT). Null selectors are the caller's business.
    /// </summary>
    public Descriptor ReadDescriptor(ushort sel, int xcpt = Xcpt.GP, int ext = 0)
    {
        ulong tableBase; uint limit;
        if ((sel & 4) != 0)
        {
            if ((Ldtr.Attributes & SegAttr.Unusable) != 0 || (Ldtr.Attributes & SegAttr.P) == 0) RaiseXcpt(xcpt, (sel & 0xFFFC) | ext);
            tableBase = Ldtr.Base; limit = Ldtr.Limit;
        }
        else { tableBase = Gdtr.Base; limit = Gdtr.Limit; }
        uint off = (uint)(sel & 0xFFF8);
        if (off + 7 > limit) RaiseXcpt(xcpt, (sel & 0xFFFC) | ext);
        return new Descriptor { Raw = SysRead(tableBase + off, 8) };
    }

    /// <summary>Reads the 16-byte system descriptor (LDT/TSS/gates) long mode uses.</summary>
    public Descriptor ReadDescriptor16(ushort sel, int xcpt = Xcpt.GP, int ext = 0)
    {
        var d = ReadDescriptor(sel, xcpt, ext);
        if (LongModeActive)
        {
            ulong tableBase = (sel & 4) != 0 ? Ldtr.Base : Gdtr.Base;
            uint limit = (sel & 4) != 0 ? Ldtr.Limit : Gdtr.Limit;
            uint off = (uint)(sel & 0xFFF8);
            if (off + 15 > limit) RaiseXcpt(xcpt, (sel & 0xFFFC) | ext);
            d.High = SysRead(tableBase + off + 8, 8);
        }
        return d;
    }

    /// <summary>Sets the descriptor's accessed bit in memory if it is clear.</summary>
    internal void SetDescriptorAccessed(ushort sel, ref Descriptor d)
    {
        if ((d.Raw & (1UL << 40)) != 0) return;
        d.Raw |= 1UL << 40;
        ulong tableBase = (sel & 4) != 0 ? Ldtr.Base : Gdtr.Base;
        SysWrite(tableBase + (uint)(sel & 0xFFF8) + 5, 1, (d.Raw >> 40) & 0xFF);
    }

    /// <summary>Loads a segment register's cache directly (no checks).</summary>
    internal void SetSeg(int seg, ushort sel, ulong @base, uint limit, uint attr)
    {
        ref SegCache s = ref Segs[seg];
        s.Sel = sel; s.ArchBase = @base; s.Limit = limit; s.Attr = attr;
        if (seg == SegIdx.CS || seg == SegIdx.SS) ModeChanged(); else RecomputeSeg(seg);
    }

    internal void SetSegFromDescriptor(int seg, ushort sel, in Descriptor d) =>
        SetSeg(seg, sel, d.Base, d.Limit, d.Attr);

    /// <summary>A null selector loaded into a data segment register: unusable.</summary>
    internal void SetSegNull(int seg, ushort sel)
    {
        ref SegCache s = ref Segs[seg];
        s.Sel = sel; s.ArchBase = 0; s.Limit = 0; s.Attr = SegAttr.Unusable;
        if (seg == SegIdx.SS) { s.Attr |= (uint)(sel & 3) << 5; ModeChanged(); }
        else RecomputeSeg(seg);
    }

    /// <summary>MOV/POP/LxS into DS, ES, FS, GS or SS with every architectural check.</summary>
    public void LoadSeg(int seg, ushort sel)
    {
        if (!ProtectedMode || V86Mode)
        {
            ref SegCache s = ref Segs[seg];
            if (V86Mode)
                SetSeg(seg, sel, (ulong)sel << 4, 0xFFFF, SegAttr.P | SegAttr.S | SegAttr.DataWritable | SegAttr.Accessed | (3u << 5));
            else
            {
                // Real mode keeps limit and attributes (so "unreal mode" works); only selector and base change.
                uint attr = (s.Attr & ~SegAttr.Unusable) | SegAttr.P;
                SetSeg(seg, sel, (ulong)sel << 4, s.Limit, attr);
            }
            return;
        }
        if (seg == SegIdx.SS)
        {
            if ((sel & 0xFFFC) == 0)
            {
                // 64-bit mode allows a null SS below CPL 3 (with RPL = CPL).
                if (Mode == CodeMode.Bits64 && Cpl != 3 && (sel & 3) == Cpl) { SetSegNull(SegIdx.SS, sel); return; }
                RaiseXcpt(Xcpt.GP, 0);
            }
            var d = ReadDescriptor(sel);
            if ((sel & 3) != Cpl || !d.Writable || d.Dpl != Cpl) RaiseXcpt(Xcpt.GP, sel & 0xFFFC);
            if (!d.Present) RaiseXcpt(Xcpt.SS, sel & 0xFFFC);
            SetDescriptorAccessed(sel, ref d);
            SetSegFromDescriptor(SegIdx.SS, sel, d);
            return;
        }
        if ((sel & 0xFFFC) == 0) { SetSegNull(seg, sel); return; }
        var dd = ReadDescriptor(sel);
        if (!dd.S || (dd.IsCode && !dd.Readable)) RaiseXcpt(Xcpt.GP, sel & 0xFFFC);
        if (dd.IsData || !dd.Conforming)
        {
            if ((sel & 3) > dd.Dpl || Cpl > dd.Dpl) RaiseXcpt(Xcpt.GP, sel & 0xFFFC);
        }
        if (!dd.Present) RaiseXcpt(Xcpt.NP, sel & 0xFFFC);
        SetDescriptorAccessed(sel, ref dd);
        SetSegFromDescriptor(seg, sel, dd);
    }

    /// <summary>
    /// On a return to an outer privilege level: data segment registers whose DPL is below the new
    /// CPL (and are not conforming code) are nulled.
    /// </summary>
    internal void NullifyInaccessibleSegs()
    {
        foreach (int s in new[] { SegIdx.ES, SegIdx.DS, SegIdx.FS, SegIdx.GS })
        {
            ref SegCache sc = ref Segs[s];
            if ((sc.Attr & SegAttr.Unusable) != 0) continue;
            bool conformingCode = (sc.Attr & (SegAttr.Code | SegAttr.Conforming)) == (SegAttr.Code | SegAttr.Conforming);
            if (!conformingCode && SegAttr.Dpl(sc.Attr) < Cpl)
                SetSegNull(s, 0);
        }
    }

    // ---- stack ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal int StackAddrSize()
    {
        if (Mode == CodeMode.Bits64) return 8;
        return (Segs[SegIdx.SS].Attr & SegAttr.DB) != 0 ? 4 : 2;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Push(int size, ulong v)
    {
        int ss = StackAddrSize();
        ulong sp = R(4) - (ulong)size;
        if (ss == 8) { WriteSized(SegIdx.SS, sp, size, v); R(4) = sp; }
        else if (ss == 4) { WriteSized(SegIdx.SS, (uint)sp, size, v); R(4) = (uint)sp; }
        else { WriteSized(SegIdx.SS, (ushort)sp, size, v); R16(4) = (ushort)sp; }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Pop(int size)
    {
        int ss = StackAddrSize();
        ulong sp = R(4);
        ulong v;
        if (ss == 8) { v = ReadSized(SegIdx.SS, sp, size); R(4) = sp + (ulong)size; }
        else if (ss == 4) { v = ReadSized(SegIdx.SS, (uint)sp, size); R(4) = (uint)(sp + (ulong)size); }
        else { v = ReadSized(SegIdx.SS, (ushort)sp, size); R16(4) = (ushort)(sp + (ulong)size); }
        return v;
    }

    /// <summary>Reads the stack at RSP + offset without popping.</summary>
    public ulong PeekStack(int size, ulong offset)
    {
        int ss = StackAddrSize();
        ulong a = R(4) + offset;
        if (ss == 4) a = (uint)a; else if (ss == 2) a = (ushort)a;
        return ReadSized(SegIdx.SS, a, size);
    }

    /// <summary>Adjusts RSP by delta with the stack's address size.</summary>
    public void AdjustSp(long delta)
    {
        int ss = StackAddrSize();
        ulong sp = R(4) + (ulong)delta;
        if (ss == 8) R(4) = sp; else if (ss == 4) R(4) = (uint)sp; else R16(4) = (ushort)sp;
    }

    /// <summary>Pushes onto a stack given by an explicit pointer (far calls, interrupts): nothing is committed until the caller stores the pointer.</summary>
    internal ulong PushTo(ulong sp, int stackSize, int size, ulong v)
    {
        sp -= (ulong)size;
        if (stackSize == 4) sp = (uint)sp; else if (stackSize == 2) sp = (ushort)sp;
        WriteSized(SegIdx.SS, sp, size, v);
        return sp;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong ReadSized(int seg, ulong ea, int size) => size switch
    {
        1 => ReadU8(seg, ea),
        2 => ReadU16(seg, ea),
        4 => ReadU32(seg, ea),
        _ => ReadU64(seg, ea),
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteSized(int seg, ulong ea, int size, ulong v)
    {
        switch (size)
        {
            case 1: WriteU8(seg, ea, (byte)v); break;
            case 2: WriteU16(seg, ea, (ushort)v); break;
            case 4: WriteU32(seg, ea, (uint)v); break;
            default: WriteU64(seg, ea, v); break;
        }
    }
}
