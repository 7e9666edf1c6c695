using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Em;

namespace SharpBox.Vmm.Iem;

/// <summary>One software-TLB entry: a linear page mapped straight to host memory.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct TlbEntry
{
    /// <summary>Linear page base; <see cref="IemCpu.TlbInvalid"/> when empty (never page-aligned).</summary>
    public ulong Tag;
    /// <summary>host address = linear address + Addend.</summary>
    public nint Addend;
    /// <summary>Guest-physical page base; bit 0 = global page.</summary>
    public ulong Phys;
    /// <summary>Code tracking of the page (fetch entries only).</summary>
    public CodePageInfo* Info;
}

// Guest memory access for handlers: segmentation checks, the software TLB (separate read, write and
// fetch entries; user, supervisor and supervisor-with-EFLAGS.AC sets so SMAP needs no flushes),
// page walks on a miss, MMIO/ROM/unassigned handling and self-modifying-code detection.
public sealed unsafe partial class IemCpu
{
    internal const ulong TlbInvalid = 1;
    internal const int TlbSize = 256, TlbMask = TlbSize - 1;
    private const int SetUser = 0, SetSup = 1, SetSupAc = 2, SetDummy = 3, SetCount = 4;
    private const int KindR = 0, KindW = 1, KindX = 2;

    private TlbEntry* _tlbBase;
    internal TlbEntry* TlbR, TlbW, TlbX;
    private int _setR, _setW, _setX;
    /// <summary>A large page was entered since the last full flush (INVLPG then flushes everything).</summary>
    private bool _largeCached;
    private ulong _a20Mask = ulong.MaxValue;

    private void InitTlb()
    {
        _tlbBase = (TlbEntry*)NativeMemory.AlignedAlloc((nuint)(SetCount * 3 * TlbSize * sizeof(TlbEntry)), 64);
        for (int i = 0; i < SetCount * 3 * TlbSize; i++) _tlbBase[i] = new TlbEntry { Tag = TlbInvalid };
        SelectTlb();
    }

    private void FreeTlb() => NativeMemory.AlignedFree(_tlbBase);

    private TlbEntry* TlbArray(int set, int kind) => _tlbBase + (set * 3 + kind) * TlbSize;

    /// <summary>Picks the TLB sets for the current CPL/EFLAGS.AC/CR0.AM/CR4.SMAP. Call when any of them change.</summary>
    internal void SelectTlb()
    {
        if (Cpl == 3)
        {
            bool acCheck = (Cr0 & Cpum.Cr0.AM) != 0 && (Eflags & RFlags.AC) != 0;
            _setR = _setW = acCheck ? SetDummy : SetUser;   // alignment checking: every data access takes the slow path
            _setX = SetUser;
        }
        else
        {
            int s = (Cr4 & Cpum.Cr4.SMAP) != 0 && (Eflags & RFlags.AC) != 0 ? SetSupAc : SetSup;
            _setR = _setW = _setX = s;
        }
        TlbR = TlbArray(_setR, KindR);
        TlbW = TlbArray(_setW, KindW);
        TlbX = TlbArray(_setX, KindX);
    }

    /// <summary>Drops TLB entries (all, or all but global pages: a CR3 write with CR4.PGE).</summary>
    public void FlushTlb(bool includeGlobal)
    {
        LinkEpoch++;
        int n = SetCount * 3 * TlbSize;
        if (includeGlobal)
        {
            for (int i = 0; i < n; i++) _tlbBase[i].Tag = TlbInvalid;
            _largeCached = false;
        }
        else
        {
            for (int i = 0; i < n; i++)
                if ((_tlbBase[i].Phys & 1) == 0) _tlbBase[i].Tag = TlbInvalid;
        }
    }

    /// <summary>INVLPG: drops every entry for the page containing <paramref name="lin"/> (all entries if large pages are cached).</summary>
    public void InvalidatePage(ulong lin)
    {
        LinkEpoch++;
        if (_largeCached) { FlushTlb(true); return; }
        ulong tag = lin & ~0xFFFUL;
        int idx = (int)(lin >> 12) & TlbMask;
        for (int s = 0; s < SetCount * 3; s++)
        {
            ref TlbEntry e = ref _tlbBase[s * TlbSize + idx];
            if (e.Tag == tag) e.Tag = TlbInvalid;
        }
    }

    /// <summary>Drops every direct write mapping (a page became a code page somewhere).</summary>
    internal void FlushWriteTlb()
    {
        for (int s = 0; s < SetCount; s++)
        {
            TlbEntry* w = TlbArray(s, KindW);
            for (int i = 0; i < TlbSize; i++) w[i].Tag = TlbInvalid;
        }
    }

    // ======================= segmentation =======================

    /// <summary>Slow segment check for offsets the fast limit test rejected: expand-down, unusable, wrong type, or a real violation.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal void SegCheckSlow(int seg, ulong ea, int size, bool write)
    {
        ref SegCache s = ref Segs[seg];
        if (Mode == CodeMode.Bits64) return;
        uint a = s.Attr;
        ulong last = ea + (ulong)(size - 1);
        bool realLike = !ProtectedMode || V86Mode;
        if (!realLike)
        {
            if ((a & SegAttr.Unusable) != 0 || (a & SegAttr.P) == 0) SegFault(seg);
            bool code = (a & SegAttr.Code) != 0;
            if (write && (code || (a & SegAttr.DataWritable) == 0)) SegFault(seg);
            if (!write && code && (a & SegAttr.CodeReadable) == 0) SegFault(seg);
            if (!code && (a & SegAttr.ExpandDown) != 0)
            {
                ulong upper = (a & SegAttr.DB) != 0 ? 0xFFFFFFFF : 0xFFFF;
                if (ea <= s.Limit || last > upper || last < ea) SegFault(seg);
                return;
            }
        }
        if (last > s.Limit || last < ea) SegFault(seg);
    }

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    private void SegFault(int seg) => RaiseXcpt(seg == SegIdx.SS ? Xcpt.SS : Xcpt.GP, 0);

    /// <summary>Linear address of seg:ea after the segment checks for an access of <paramref name="size"/> bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Linear(int seg, ulong ea, int size, bool write)
    {
        ref SegCache s = ref Unsafe.Add(ref Segs[0], seg);
        if ((long)(ea + (ulong)(size - 1)) > (write ? s.WrLim : s.RdLim)) SegCheckSlow(seg, ea, size, write);
        return (s.Base + ea) & LinMask;
    }

    /// <summary>Effective address of a decoded memory operand (address-size truncation applied).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Ea(ref DecodedInstr d) =>
        (R(d.Base) + (R(d.Index) << d.Scale) + (ulong)d.Disp) & (ulong.MaxValue >> d.AddrShift);

    // ======================= reads =======================

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte ReadU8(int seg, ulong ea)
    {
        ulong lin = Linear(seg, ea, 1, false);
        TlbEntry* e = TlbR + ((int)(lin >> 12) & TlbMask);
        if (e->Tag == (lin & ~0xFFFUL)) return *(byte*)(e->Addend + (nint)lin);
        return (byte)ReadSlow(lin, 1, seg);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ushort ReadU16(int seg, ulong ea)
    {
        ulong lin = Linear(seg, ea, 2, false);
        TlbEntry* e = TlbR + ((int)(lin >> 12) & TlbMask);
        if (e->Tag == ((lin + 1) & ~0xFFFUL)) return Unsafe.ReadUnaligned<ushort>((byte*)(e->Addend + (nint)lin));
        return (ushort)ReadSlow(lin, 2, seg);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint ReadU32(int seg, ulong ea)
    {
        ulong lin = Linear(seg, ea, 4, false);
        TlbEntry* e = TlbR + ((int)(lin >> 12) & TlbMask);
        if (e->Tag == ((lin + 3) & ~0xFFFUL)) return Unsafe.ReadUnaligned<uint>((byte*)(e->Addend + (nint)lin));
        return (uint)ReadSlow(lin, 4, seg);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong ReadU64(int seg, ulong ea)
    {
        ulong lin = Linear(seg, ea, 8, false);
        TlbEntry* e = TlbR + ((int)(lin >> 12) & TlbMask);
        if (e->Tag == ((lin + 7) & ~0xFFFUL)) return Unsafe.ReadUnaligned<ulong>((byte*)(e->Addend + (nint)lin));
        return ReadSlow(lin, 8, seg);
    }

    /// <summary>Reads <paramref name="dst"/>.Length bytes (any length, e.g. 10 for x87, 16 for SSE, 512 for FXRSTOR). All pages are checked before anything is copied.</summary>
    public void ReadBytes(int seg, ulong ea, Span<byte> dst)
    {
        if (dst.Length == 0) return;
        ulong lin = Linear(seg, ea, dst.Length, false);
        int done = 0;
        while (done < dst.Length)
        {
            ulong l = (lin + (ulong)done) & LinMask;
            int chunk = Math.Min(dst.Length - done, 0x1000 - (int)(l & 0xFFF));
            ulong pa = Translate(l, KindR, Cpl == 3, seg, chunk);
            PhysReadBytes(pa, dst.Slice(done, chunk));
            done += chunk;
        }
    }

    /// <summary>16-byte read into <paramref name="dst"/>; <paramref name="alignCheck"/> raises #GP(0) unless 16-byte aligned (MOVAPS and friends).</summary>
    public void ReadU128(int seg, ulong ea, byte* dst, bool alignCheck = false)
    {
        if (alignCheck && (ea & 15) != 0 && ((Segs[seg].Base + ea) & 15) != 0) RaiseXcpt(Xcpt.GP, 0);
        ulong lin = Linear(seg, ea, 16, false);
        TlbEntry* e = TlbR + ((int)(lin >> 12) & TlbMask);
        if (e->Tag == ((lin + 15) & ~0xFFFUL)) { Unsafe.CopyBlockUnaligned(dst, (byte*)(e->Addend + (nint)lin), 16); return; }
        ReadSlowBytes(lin, new Span<byte>(dst, 16), seg);
    }

    // ======================= writes =======================

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteU8(int seg, ulong ea, byte v)
    {
        ulong lin = Linear(seg, ea, 1, true);
        TlbEntry* e = TlbW + ((int)(lin >> 12) & TlbMask);
        if (e->Tag == (lin & ~0xFFFUL)) { *(byte*)(e->Addend + (nint)lin) = v; return; }
        WriteSlow(lin, 1, v, seg);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteU16(int seg, ulong ea, ushort v)
    {
        ulong lin = Linear(seg, ea, 2, true);
        TlbEntry* e = TlbW + ((int)(lin >> 12) & TlbMask);
        if (e->Tag == ((lin + 1) & ~0xFFFUL)) { Unsafe.WriteUnaligned((byte*)(e->Addend + (nint)lin), v); return; }
        WriteSlow(lin, 2, v, seg);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteU32(int seg, ulong ea, uint v)
    {
        ulong lin = Linear(seg, ea, 4, true);
        TlbEntry* e = TlbW + ((int)(lin >> 12) & TlbMask);
        if (e->Tag == ((lin + 3) & ~0xFFFUL)) { Unsafe.WriteUnaligned((byte*)(e->Addend + (nint)lin), v); return; }
        WriteSlow(lin, 4, v, seg);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteU64(int seg, ulong ea, ulong v)
    {
        ulong lin = Linear(seg, ea, 8, true);
        TlbEntry* e = TlbW + ((int)(lin >> 12) & TlbMask);
        if (e->Tag == ((lin + 7) & ~0xFFFUL)) { Unsafe.WriteUnaligned((byte*)(e->Addend + (nint)lin), v); return; }
        WriteSlow(lin, 8, v, seg);
    }

    public void WriteU128(int seg, ulong ea, byte* src, bool alignCheck = false)
    {
        if (alignCheck && ((Segs[seg].Base + ea) & 15) != 0) RaiseXcpt(Xcpt.GP, 0);
        ulong lin = Linear(seg, ea, 16, true);
        TlbEntry* e = TlbW + ((int)(lin >> 12) & TlbMask);
        if (e->Tag == ((lin + 15) & ~0xFFFUL)) { Unsafe.CopyBlockUnaligned((byte*)(e->Addend + (nint)lin), src, 16); return; }
        WriteSlowBytes(lin, new ReadOnlySpan<byte>(src, 16), seg);
    }

    /// <summary>Writes any number of bytes; every page is translated (and may fault) before the first byte is written.</summary>
    public void WriteBytes(int seg, ulong ea, ReadOnlySpan<byte> src)
    {
        if (src.Length == 0) return;
        ulong lin = Linear(seg, ea, src.Length, true);
        WriteSlowBytes(lin, src, seg);
    }

    /// <summary>Checks that a write of <paramref name="size"/> bytes at seg:ea would succeed (segment, paging), without writing.</summary>
    public void ProbeWrite(int seg, ulong ea, int size)
    {
        ulong lin = Linear(seg, ea, size, true);
        int done = 0;
        while (done < size)
        {
            ulong l = (lin + (ulong)done) & LinMask;
            int chunk = Math.Min(size - done, 0x1000 - (int)(l & 0xFFF));
            Translate(l, KindW, Cpl == 3, seg, chunk);
            done += chunk;
        }
    }

    // ======================= read-modify-write =======================
    // Handlers that read, modify and write one operand map it once: the returned pointer is host
    // memory when the operand lies in one RAM page (LOCK variants use it for atomics), else a bounce
    // buffer that CommitRmw writes back. The write permission is checked at map time, so the write
    // back cannot fault.

    private ulong _bounce;
    private ulong _bounceLin;
    private int _bounceSize;          // 0 = no bounce pending
    private int _bounceSeg;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte* MapRmw(int seg, ulong ea, int size)
    {
        ulong lin = Linear(seg, ea, size, true);
        TlbEntry* e = TlbW + ((int)(lin >> 12) & TlbMask);
        if (e->Tag == ((lin + (ulong)(size - 1)) & ~0xFFFUL)) { _bounceSize = 0; return (byte*)(e->Addend + (nint)lin); }
        return MapRmwSlow(lin, size, seg);
    }

    /// <summary>True when the last <see cref="MapRmw"/> returned a bounce buffer (not directly host memory).</summary>
    public bool RmwBounced => _bounceSize != 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void CommitRmw()
    {
        if (_bounceSize != 0) CommitRmwSlow();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private byte* MapRmwSlow(ulong lin, int size, int seg)
    {
        bool user = Cpl == 3;
        CheckAlign(lin, size, seg);
        // Both permissions on every page touched, reads first as the CPU's read-then-write does.
        ulong pa1 = Translate(lin, KindW, user, seg, size);
        int first = Math.Min(size, 0x1000 - (int)(lin & 0xFFF));
        ulong pa2 = first < size ? Translate((lin + (ulong)first) & LinMask, KindW, user, seg, size - first) : 0;
        if (first == size && Bus.LookupPage(pa1 & ~0xFFFUL, out byte* host) == PhysPageKind.Ram && !IsCodePage(pa1))
        {
            _bounceSize = 0;
            return host + (pa1 & 0xFFF);
        }
        ulong v = 0;
        for (int i = 0; i < size; i++)
        {
            ulong pa = i < first ? pa1 + (ulong)i : pa2 + (ulong)(i - first);
            v |= PhysRead(pa, 1) << (8 * i);
        }
        _bounce = v; _bounceLin = lin; _bounceSize = size; _bounceSeg = seg;
        return (byte*)Unsafe.AsPointer(ref _bounce);
    }

    private void CommitRmwSlow()
    {
        int size = _bounceSize;
        _bounceSize = 0;
        WriteSlow(_bounceLin, size, _bounce, _bounceSeg);
    }

    // ======================= slow paths =======================

    [MethodImpl(MethodImplOptions.NoInlining)]
    private ulong ReadSlow(ulong lin, int size, int seg)
    {
        CheckAlign(lin, size, seg);
        bool user = Cpl == 3;
        int first = 0x1000 - (int)(lin & 0xFFF);
        if (first >= size)
        {
            ulong pa = Translate(lin, KindR, user, seg, size);
            return PhysRead(pa, size);
        }
        ulong pa1 = Translate(lin, KindR, user, seg, first);
        ulong pa2 = Translate((lin + (ulong)first) & LinMask, KindR, user, seg, size - first);
        ulong v = 0;
        for (int i = 0; i < size; i++)
            v |= PhysRead(i < first ? pa1 + (ulong)i : pa2 + (ulong)(i - first), 1) << (8 * i);
        return v;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ReadSlowBytes(ulong lin, Span<byte> dst, int seg)
    {
        CheckAlign(lin, dst.Length, seg);
        bool user = Cpl == 3;
        int first = Math.Min(dst.Length, 0x1000 - (int)(lin & 0xFFF));
        ulong pa1 = Translate(lin, KindR, user, seg, first);
        ulong pa2 = first < dst.Length ? Translate((lin + (ulong)first) & LinMask, KindR, user, seg, dst.Length - first) : 0;
        PhysReadBytes(pa1, dst[..first]);
        if (first < dst.Length) PhysReadBytes(pa2, dst[first..]);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WriteSlow(ulong lin, int size, ulong v, int seg)
    {
        CheckAlign(lin, size, seg);
        bool user = Cpl == 3;
        int first = 0x1000 - (int)(lin & 0xFFF);
        if (first >= size)
        {
            ulong pa = Translate(lin, KindW, user, seg, size);
            PhysWrite(pa, size, v);
            return;
        }
        ulong pa1 = Translate(lin, KindW, user, seg, first);
        ulong pa2 = Translate((lin + (ulong)first) & LinMask, KindW, user, seg, size - first);
        for (int i = 0; i < size; i++)
            PhysWrite(i < first ? pa1 + (ulong)i : pa2 + (ulong)(i - first), 1, (v >> (8 * i)) & 0xFF);
    }

    private void WriteSlowBytes(ulong lin, ReadOnlySpan<byte> src, int seg)
    {
        CheckAlign(lin, src.Length, seg);
        bool user = Cpl == 3;
        // Translate every page first so a fault leaves memory untouched.
        Span<ulong> pages = stackalloc ulong[(src.Length >> 12) + 2];
        int n = 0, done = 0;
        while (done < src.Length)
        {
            ulong l = (lin + (ulong)done) & LinMask;
            int chunk = Math.Min(src.Length - done, 0x1000 - (int)(l & 0xFFF));
            pages[n++] = Translate(l, KindW, user, seg, chunk);
            done += chunk;
        }
        done = 0;
        for (int k = 0; k < n; k++)
        {
            ulong l = (lin + (ulong)done) & LinMask;
            int chunk = Math.Min(src.Length - done, 0x1000 - (int)(l & 0xFFF));
            PhysWriteBytes(pages[k], src.Slice(done, chunk));
            done += chunk;
        }
    }

    /// <summary>#AC: CR0.AM, EFLAGS.AC, CPL 3 and a misaligned data access. It ranks below a non-canonical
    /// address (#GP/#SS) and above #PF (measured on hardware). Only power-of-two sizes imply an alignment;
    /// callers with other operands (x87 m80, FSTENV/FSAVE images) use <see cref="CheckAlignment"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CheckAlign(ulong lin, int size, int seg)
    {
        int a = size == 512 ? 16 : size;                      // FXSAVE/FXRSTOR: 16
        if (_setR == SetDummy && a > 1 && a <= 16 && (a & (a - 1)) == 0 && (lin & (ulong)(a - 1)) != 0) RaiseAlignment(lin, seg);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RaiseAlignment(ulong lin, int seg)
    {
        if (LongModeActive && !IsCanonical(lin)) RaiseXcpt(seg == SegIdx.SS ? Xcpt.SS : Xcpt.GP, 0);
        RaiseXcpt(Xcpt.AC, 0);
    }

    /// <summary>#AC for an operand whose alignment is not its size (x87 m80: 8, FSTENV/FSAVE images: 2 or 4).
    /// Call it before the access, after nothing else: segment checks and a non-canonical address come first.</summary>
    public void CheckAlignment(int seg, ulong ea, int alignment, bool write = false)
    {
        if (_setR != SetDummy || ((Segs[seg].Base + ea) & (ulong)(alignment - 1)) == 0) return;
        RaiseAlignment(Linear(seg, ea, alignment, write), seg);
    }

    // ======================= implicit supervisor (system) accesses =======================
    // Descriptor tables, the TSS, the IDT and the real-mode IVT: linear addresses, supervisor
    // privilege whatever the CPL, never cached in the TLB.

    public ulong SysRead(ulong lin, int size)
    {
        lin &= LinMaskSys;
        int first = 0x1000 - (int)(lin & 0xFFF);
        if (first >= size) return PhysRead(TranslateSys(lin, false), size);
        ulong pa1 = TranslateSys(lin, false), pa2 = TranslateSys((lin + (ulong)first) & LinMaskSys, false);
        ulong v = 0;
        for (int i = 0; i < size; i++) v |= PhysRead(i < first ? pa1 + (ulong)i : pa2 + (ulong)(i - first), 1) << (8 * i);
        return v;
    }

    public void SysWrite(ulong lin, int size, ulong v)
    {
        lin &= LinMaskSys;
        int first = 0x1000 - (int)(lin & 0xFFF);
        if (first >= size) { PhysWrite(TranslateSys(lin, true), size, v); return; }
        ulong pa1 = TranslateSys(lin, true), pa2 = TranslateSys((lin + (ulong)first) & LinMaskSys, true);
        for (int i = 0; i < size; i++) PhysWrite(i < first ? pa1 + (ulong)i : pa2 + (ulong)(i - first), 1, (v >> (8 * i)) & 0xFF);
    }

    private ulong LinMaskSys => LongModeActive ? ulong.MaxValue : 0xFFFFFFFF;

    private ulong TranslateSys(ulong lin, bool write)
    {
        if (!PagingEnabled) return lin & _a20Mask & Model.PhysAddrMask;
        if (LongModeActive && !IsCanonical(lin)) RaiseXcpt(Xcpt.GP, 0);
        return Walk(lin, write ? KindW : KindR, user: false, implicitSup: true, out _, out _);
    }

    // ======================= translation =======================

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsCanonical(ulong lin) => (ulong)(((long)lin << 16) >> 16) == lin;

    /// <summary>
    /// Translates a linear address for a data read/write or fetch at the given privilege, raising
    /// #GP/#SS (non-canonical) or #PF, and fills the matching TLB entry when the page is plain memory.
    /// </summary>
    internal ulong Translate(ulong lin, int kind, bool user, int seg, int size)
    {
        if (LongModeActive && !IsCanonical(lin))
            RaiseXcpt(seg == SegIdx.SS ? Xcpt.SS : Xcpt.GP, 0);
        ulong pa;
        bool global = false, large = false;
        if (!PagingEnabled) pa = lin & _a20Mask;
        else pa = Walk(lin, kind, user, implicitSup: false, out global, out large);
        ulong pageBase = pa & ~0xFFFUL;
        // Fill the TLB for plain memory.
        int set = kind == KindR ? _setR : kind == KindW ? _setW : _setX;
        if (HwBreakpointsActive && kind != KindX)
        {
            CheckDataBreakpoints(lin, size, kind == KindW);
            if (PageHasDataBreakpoint(lin & ~0xFFFUL)) set = SetDummy;
        }
        if (set != SetDummy)
        {
            PhysPageKind k = Bus.LookupPage(pageBase, out byte* host);
            bool ok = k == PhysPageKind.Ram || (k == PhysPageKind.Rom && kind != KindW);
            CodePageInfo* info = null;
            if (ok && kind == KindW && IsCodePage(pageBase)) ok = false;
            if (ok && kind == KindX) info = Machine.PageInfo(pageBase);
            if (ok)
            {
                TlbEntry* e = TlbArray(set, kind) + ((int)(lin >> 12) & TlbMask);
                e->Tag = lin & ~0xFFFUL;
                e->Addend = (nint)host - (nint)(lin & ~0xFFFUL);
                e->Phys = pageBase | (global ? 1UL : 0);
                e->Info = info;
                if (large) _largeCached = true;
            }
        }
        return pa;
    }

    private bool IsCodePage(ulong pa)
    {
        CodePageInfo* info = Machine.PageInfoIfAny(pa);
        return info != null && Volatile.Read(ref info->CodeBits) != 0;
    }

    // ======================= physical accesses (within one page) =======================

    public ulong PhysRead(ulong pa, int size)
    {
        PhysPageKind k = Bus.LookupPage(pa & ~0xFFFUL, out byte* host);
        switch (k)
        {
            case PhysPageKind.Ram:
            case PhysPageKind.Rom:
                byte* p = host + (pa & 0xFFF);
                return size switch
                {
                    1 => *p,
                    2 => Unsafe.ReadUnaligned<ushort>(p),
                    4 => Unsafe.ReadUnaligned<uint>(p),
                    _ => Unsafe.ReadUnaligned<ulong>(p),
                };
            case PhysPageKind.Mmio:
                return Bus.MmioRead(pa, size);
            default:
                return size == 8 ? ulong.MaxValue : (1UL << (size * 8)) - 1;
        }
    }

    public void PhysWrite(ulong pa, int size, ulong v)
    {
        PhysPageKind k = Bus.LookupPage(pa & ~0xFFFUL, out byte* host);
        switch (k)
        {
            case PhysPageKind.Ram:
                CodePageInfo* info = Machine.PageInfoIfAny(pa);
                if (info != null && info->CodeBits != 0 && Machine.CodeWritten(info, pa, size)) OnCodeOverwritten(pa);
                byte* p = host + (pa & 0xFFF);
                switch (size)
                {
                    case 1: *p = (byte)v; break;
                    case 2: Unsafe.WriteUnaligned(p, (ushort)v); break;
                    case 4: Unsafe.WriteUnaligned(p, (uint)v); break;
                    default: Unsafe.WriteUnaligned(p, v); break;
                }
                break;
            case PhysPageKind.Mmio:
                Bus.MmioWrite(pa, size, v);
                break;
        }
    }

    private void PhysReadBytes(ulong pa, Span<byte> dst)
    {
        PhysPageKind k = Bus.LookupPage(pa & ~0xFFFUL, out byte* host);
        if (k == PhysPageKind.Ram || k == PhysPageKind.Rom) { new ReadOnlySpan<byte>(host + (pa & 0xFFF), dst.Length).CopyTo(dst); return; }
        for (int i = 0; i < dst.Length; i++) dst[i] = (byte)PhysRead(pa + (ulong)i, 1);
    }

    private void PhysWriteBytes(ulong pa, ReadOnlySpan<byte> src)
    {
        PhysPageKind k = Bus.LookupPage(pa & ~0xFFFUL, out byte* host);
        if (k == PhysPageKind.Ram)
        {
            CodePageInfo* info = Machine.PageInfoIfAny(pa);
            if (info != null && info->CodeBits != 0 && Machine.CodeWritten(info, pa, src.Length)) OnCodeOverwritten(pa);
            src.CopyTo(new Span<byte>(host + (pa & 0xFFF), src.Length));
            return;
        }
        for (int i = 0; i < src.Length; i++) PhysWrite(pa + (ulong)i, 1, src[i]);
    }

    /// <summary>The A20 gate: physical address bit 20 forced to 0 when disabled.</summary>
    public void SetA20(bool enabled)
    {
        ulong m = enabled ? ulong.MaxValue : ~(1UL << 20);
        if (m == _a20Mask) return;
        _a20Mask = m;
        FlushTlb(true);
        FlushCodeCache();
    }

    public void NotifyMemoryMapChanged()
    {
        // Called from the platform; applied by this vCPU at its next instruction boundary.
        RaisePending(PendMapChanged);
    }

    // ======================= bulk helpers (REP MOVS/STOS) =======================

    /// <summary>Host pointer for reading seg:ea when the TLB already maps it, with the bytes left in the page and segment.</summary>
    internal byte* HostForRead(int seg, ulong ea, int elemSize, out int room)
    {
        room = 0;
        ref SegCache s = ref Segs[seg];
        if ((long)(ea + (ulong)(elemSize - 1)) > s.RdLim) return null;
        ulong lin = (s.Base + ea) & LinMask;
        TlbEntry* e = TlbR + ((int)(lin >> 12) & TlbMask);
        if (e->Tag != (lin & ~0xFFFUL)) return null;
        int r = 0x1000 - (int)(lin & 0xFFF);
        if (Mode != CodeMode.Bits64) { long segRoom = s.RdLim - (long)ea + 1; if (segRoom < r) r = (int)segRoom; }
        room = r;
        return (byte*)(e->Addend + (nint)lin);
    }

    internal byte* HostForWrite(int seg, ulong ea, int elemSize, out int room)
    {
        room = 0;
        ref SegCache s = ref Segs[seg];
        if ((long)(ea + (ulong)(elemSize - 1)) > s.WrLim) return null;
        ulong lin = (s.Base + ea) & LinMask;
        TlbEntry* e = TlbW + ((int)(lin >> 12) & TlbMask);
        if (e->Tag != (lin & ~0xFFFUL)) return null;
        int r = 0x1000 - (int)(lin & 0xFFF);
        if (Mode != CodeMode.Bits64) { long segRoom = s.WrLim - (long)ea + 1; if (segRoom < r) r = (int)segRoom; }
        room = r;
        return (byte*)(e->Addend + (nint)lin);
    }

    /// <summary>Something wants the CPU's attention (long REP loops poll this).</summary>
    internal bool EventsPending => (_pending & (PendIntr | PendNmi | PendStop | PendExit | PendMapChanged)) != 0;
}
