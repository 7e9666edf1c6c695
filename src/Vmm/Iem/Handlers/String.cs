using System.Runtime.CompilerServices;
using SharpBox.Vmm.Cpum;

namespace SharpBox.Vmm.Iem;

/// <summary>Address size for string instructions: how rSI/rDI/rCX are read and written.</summary>
public interface IAddr
{
    static abstract ulong Get(IemCpu c, int r);
    static abstract void Set(IemCpu c, int r, ulong v);
}
public struct A16 : IAddr
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong Get(IemCpu c, int r) => c.R16(r);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Set(IemCpu c, int r, ulong v) => c.R16(r) = (ushort)v;
}
public struct A32 : IAddr
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong Get(IemCpu c, int r) => c.R32(r);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Set(IemCpu c, int r, ulong v) => c.SetR32(r, (uint)v);
}
public struct A64 : IAddr
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong Get(IemCpu c, int r) => c.R(r);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Set(IemCpu c, int r, ulong v) => c.R(r) = v;
}

// String instructions. REP forms loop inside one handler call; every 1024 iterations they check for
// pending events and, if any, stop with RIP back on the instruction (registers reflect the progress),
// exactly as an interrupted REP does. REP string instructions end their block.
public static unsafe partial class Handlers
{
    private const int RepSlice = 1024;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Step<S>(IemCpu c) where S : ISize => (c.Eflags & RFlags.DF) != 0 ? (ulong)(-(long)(S.Bits / 8)) : (ulong)(S.Bits / 8);

    private static void MovsOne<S, A>(IemCpu c, int seg, ulong step) where S : ISize where A : IAddr
    {
        ulong si = A.Get(c, 6), di = A.Get(c, 7);
        S.Write(c, SegIdx.ES, di, S.Read(c, seg, si));
        A.Set(c, 6, si + step); A.Set(c, 7, di + step);
    }

    private static void StosOne<S, A>(IemCpu c, ulong step) where S : ISize where A : IAddr
    {
        ulong di = A.Get(c, 7);
        S.Write(c, SegIdx.ES, di, S.GetReg(c, 0));
        A.Set(c, 7, di + step);
    }

    private static void LodsOne<S, A>(IemCpu c, int seg, ulong step) where S : ISize where A : IAddr
    {
        ulong si = A.Get(c, 6);
        S.SetReg(c, 0, S.Read(c, seg, si));
        A.Set(c, 6, si + step);
    }

    private static void CmpsOne<S, A>(IemCpu c, int seg, ulong step) where S : ISize where A : IAddr
    {
        ulong si = A.Get(c, 6), di = A.Get(c, 7);
        ulong a = S.Read(c, seg, si), b = S.Read(c, SegIdx.ES, di);
        OpCmp.Do<S>(c, a, b);
        A.Set(c, 6, si + step); A.Set(c, 7, di + step);
    }

    private static void ScasOne<S, A>(IemCpu c, ulong step) where S : ISize where A : IAddr
    {
        ulong di = A.Get(c, 7);
        OpCmp.Do<S>(c, S.GetReg(c, 0), S.Read(c, SegIdx.ES, di));
        A.Set(c, 7, di + step);
    }

    private static void InsOne<S, A>(IemCpu c, ulong step) where S : ISize where A : IAddr
    {
        ulong di = A.Get(c, 7);
        // The destination is checked before the port is read (a fault must not lose input).
        c.ProbeWrite(SegIdx.ES, di, S.Bits / 8);
        uint v = c.Bus.IoRead(c.R16(2), S.Bits / 8);
        S.Write(c, SegIdx.ES, di, v);
        A.Set(c, 7, di + step);
    }

    private static void OutsOne<S, A>(IemCpu c, int seg, ulong step) where S : ISize where A : IAddr
    {
        ulong si = A.Get(c, 6);
        c.Bus.IoWrite(c.R16(2), S.Bits / 8, (uint)S.Read(c, seg, si));
        A.Set(c, 6, si + step);
    }

    /// <summary>Kind: 0 MOVS, 1 CMPS, 2 STOS, 3 LODS, 4 SCAS, 5 INS, 6 OUTS.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StrOne<S, A>(IemCpu c, int kind, int seg, ulong step) where S : ISize where A : IAddr
    {
        switch (kind)
        {
            case 0: MovsOne<S, A>(c, seg, step); break;
            case 1: CmpsOne<S, A>(c, seg, step); break;
            case 2: StosOne<S, A>(c, step); break;
            case 3: LodsOne<S, A>(c, seg, step); break;
            case 4: ScasOne<S, A>(c, step); break;
            case 5: InsOne<S, A>(c, step); break;
            default: OutsOne<S, A>(c, seg, step); break;
        }
    }

    private static void StrRun<S, A>(IemCpu c, ref DecodedInstr d, int kind, int rep) where S : ISize where A : IAddr
    {
        ulong step = Step<S>(c);
        int seg = d.Seg;
        if (kind >= 5) c.CheckIoPermission(c.R16(2), S.Bits / 8);
        if (rep == 0) { StrOne<S, A>(c, kind, seg, step); return; }
        bool cond = kind is 1 or 4;        // REPE/REPNE apply to CMPS and SCAS only
        int slice = RepSlice;
        while (A.Get(c, 1) != 0)
        {
            if (--slice == 0)
            {
                slice = RepSlice;
                if (c.EventsPending) { c.Rip = c.InstrRip; return; }
            }
            if (kind == 0 && RepMovsFast<S, A>(c, seg, step)) continue;
            if (kind == 2 && RepStosFast<S, A>(c, step)) continue;
            StrOne<S, A>(c, kind, seg, step);
            A.Set(c, 1, A.Get(c, 1) - 1);
            if (cond && ((c.ZF != 0) != (rep == 1))) return;
        }
    }

    /// <summary>
    /// REP MOVS in bulk: as many elements as fit in the current source and destination pages, copied
    /// with host pointers from the TLB (forward, non-overlapping or safely overlapping only).
    /// Returns false to fall back to one element.
    /// </summary>
    private static bool RepMovsFast<S, A>(IemCpu c, int seg, ulong step) where S : ISize where A : IAddr
    {
        if ((c.Eflags & RFlags.DF) != 0) return false;
        int es = S.Bits / 8;
        ulong count = A.Get(c, 1);
        ulong si = A.Get(c, 6), di = A.Get(c, 7);
        byte* src = c.HostForRead(seg, si, es, out int srcRoom);
        if (src == null) return false;
        byte* dst = c.HostForWrite(SegIdx.ES, di, es, out int dstRoom);
        if (dst == null) return false;
        ulong n = (ulong)Math.Min(srcRoom, dstRoom) / (ulong)es;
        if (n > count) n = count;
        if (n < 2) return false;
        // Address-size wrap inside the run: fall back.
        if (A.Get(c, 6) + n * (ulong)es != ((si + n * (ulong)es) & AddrMaskOf<A>()) || ((di + n * (ulong)es) & AddrMaskOf<A>()) != di + n * (ulong)es) return false;
        ulong bytes = n * (ulong)es;
        if (dst > src && dst < src + bytes) return false;   // forward overlap replicates: element by element
        Buffer.MemoryCopy(src, dst, (long)bytes, (long)bytes);
        A.Set(c, 6, si + bytes); A.Set(c, 7, di + bytes); A.Set(c, 1, count - n);
        return true;
    }

    private static bool RepStosFast<S, A>(IemCpu c, ulong step) where S : ISize where A : IAddr
    {
        if ((c.Eflags & RFlags.DF) != 0) return false;
        int es = S.Bits / 8;
        ulong count = A.Get(c, 1);
        ulong di = A.Get(c, 7);
        byte* dst = c.HostForWrite(SegIdx.ES, di, es, out int dstRoom);
        if (dst == null) return false;
        ulong n = (ulong)dstRoom / (ulong)es;
        if (n > count) n = count;
        if (n < 2) return false;
        if (((di + n * (ulong)es) & AddrMaskOf<A>()) != di + n * (ulong)es) return false;
        ulong v = S.GetReg(c, 0);
        if (es == 1) new Span<byte>(dst, (int)n).Fill((byte)v);
        else if (es == 2) new Span<ushort>(dst, (int)n).Fill((ushort)v);
        else if (es == 4) new Span<uint>(dst, (int)n).Fill((uint)v);
        else new Span<ulong>(dst, (int)n).Fill(v);
        A.Set(c, 7, di + n * (ulong)es); A.Set(c, 1, count - n);
        return true;
    }

    private static ulong AddrMaskOf<A>() where A : IAddr =>
        typeof(A) == typeof(A16) ? 0xFFFF : typeof(A) == typeof(A32) ? 0xFFFFFFFF : ulong.MaxValue;

    private static int StrKind(ref DecodedInstr d) => d.Opcode switch
    {
        0xA4 or 0xA5 => 0, 0xA6 or 0xA7 => 1, 0xAA or 0xAB => 2, 0xAC or 0xAD => 3, 0xAE or 0xAF => 4,
        0x6C or 0x6D => 5, _ => 6,
    };

    /// <summary>Entry for every string instruction; rep: 0 none, 1 REP/REPE (F3), 2 REPNE (F2).</summary>
    private static void Str<S>(IemCpu c, ref DecodedInstr d, int rep) where S : ISize
    {
        int kind = StrKind(ref d);
        if (kind is 0 or 2 or 3 or 5 or 6 && rep == 2) rep = 1;   // F2 acts as REP for the non-comparing ones
        switch (d.AddrSize)
        {
            case 2: StrRun<S, A16>(c, ref d, kind, rep); break;
            case 4: StrRun<S, A32>(c, ref d, kind, rep); break;
            default: StrRun<S, A64>(c, ref d, kind, rep); break;
        }
    }

    public static void StrNoRep<S>(IemCpu c, ref DecodedInstr d) where S : ISize => Str<S>(c, ref d, 0);
    public static void StrRep<S>(IemCpu c, ref DecodedInstr d) where S : ISize => Str<S>(c, ref d, 1);
    public static void StrRepNe<S>(IemCpu c, ref DecodedInstr d) where S : ISize => Str<S>(c, ref d, 2);
}
