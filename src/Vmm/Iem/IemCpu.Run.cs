using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Em;

namespace SharpBox.Vmm.Iem;

/// <summary>A cached block: decoded instructions that run straight through (they start in one page).</summary>
internal unsafe struct BlockInfo
{
    public ulong Phys;          // guest-physical address of the first byte
    public ulong Phys2;         // page of the bytes past the first page (cross-page instruction), or ulong.MaxValue
    public CodePageInfo* Info, Info2;
    public int Gen, Gen2;
    public int Start, Count;    // slice of the arena
    public int ByteLen;
    public int Next;            // hash chain
    public CodeMode Mode;
    // Direct links to the blocks that followed this one (valid while LinkEpoch matches the vCPU's).
    public ulong LinkRip0, LinkRip1;
    public int Link0, Link1;
    public int LinkEpoch0, LinkEpoch1;
}

// The run loop: events at block boundaries, block lookup/build/execute, exceptions, single steps.
public sealed unsafe partial class IemCpu
{
    // ---- pending events (bits of _pending; other threads set them with Interlocked) ----
    internal const int PendIntr = 1, PendNmi = 2, PendStop = 4, PendExit = 8, PendShadow = 16,
        PendWriteTlbFlush = 32, PendMapChanged = 64, PendStep = 128;
    private int _pending;
    private VcpuExitReason _exitReason;
    private long _executed, _budget;
    private readonly ManualResetEventSlim _wake = new(false);
    private bool _debugStep;
    private ulong[] _breakpoints = Array.Empty<ulong>();

    // ---- block cache ----
    internal const int MaxBlockInstrs = 32;
    private const int HashSize = 1 << 13, MaxBlocks = 1 << 14, ArenaSize = 1 << 17;
    private int[] _hash = null!;
    private BlockInfo[] _blocks = null!;
    private DecodedInstr* _arena;
    private int _blockCount, _arenaUsed;
    private int _curBlock = -1;
    private ulong _curBlockRip;
    /// <summary>Bumped whenever a block link could become wrong: TLB flushes, CS changes, code-cache flushes.</summary>
    internal int LinkEpoch = 1;
    private DecodedInstr _stepInstr;

    private void InitBlockCache()
    {
        _hash = new int[HashSize];
        _blocks = new BlockInfo[MaxBlocks];
        _arena = (DecodedInstr*)NativeMemory.AlignedAlloc((nuint)((ArenaSize + MaxBlockInstrs) * sizeof(DecodedInstr)), 64);
        Machine.Register(this);
        FlushCodeCache();
    }

    /// <summary>Forgets every decoded block of this vCPU.</summary>
    public void FlushCodeCache()
    {
        LinkEpoch++;
        Array.Fill(_hash, -1);
        _blockCount = 0; _arenaUsed = 0; _curBlock = -1;
    }

    internal void RaisePending(int bit)
    {
        Interlocked.Or(ref _pending, bit);
    }

    private void ClearPending(int bit) => Interlocked.And(ref _pending, ~bit);

    internal void RequestWriteTlbFlush() => RaisePending(PendWriteTlbFlush);

    // ==================== IVirtualCpu ====================

    public bool DebugSingleStep
    {
        get => _debugStep;
        set { _debugStep = value; if (value) RaisePending(PendStep); }
    }

    public void SetDebugBreakpoints(ReadOnlySpan<ulong> linearAddresses)
    {
        _breakpoints = linearAddresses.ToArray();
        if (_breakpoints.Length > 0) RaisePending(PendStep);
    }

    public void SetInterruptLine(bool asserted)
    {
        if (asserted) { RaisePending(PendIntr); _wake.Set(); }
        else ClearPending(PendIntr);
    }

    public void InjectNmi() { RaisePending(PendNmi); _wake.Set(); }

    public void RequestStop() { RaisePending(PendStop); _wake.Set(); }

    public bool WaitForWakeup(int timeoutMs)
    {
        if (_waitSipi)
        {
            if (Volatile.Read(ref _sipiVector) >= 0 || (_pending & PendStop) != 0) return true;
            bool w = _wake.Wait(timeoutMs);
            _wake.Reset();
            return w;
        }
        if ((_pending & (PendNmi | PendStop)) != 0 || ((_pending & PendIntr) != 0 && (Eflags & RFlags.IF) != 0)) return true;
        bool woke = _wake.Wait(timeoutMs);
        _wake.Reset();
        return woke;
    }

    public VcpuExit Run(long instructionBudget)
    {
        if (_waitSipi && !TakeSipi())
        {
            if ((_pending & PendStop) != 0) { ClearPending(PendStop); return new VcpuExit { Reason = VcpuExitReason.Stopped }; }
            return new VcpuExit { Reason = VcpuExitReason.Halted };
        }
        _executed = 0;
        _budget = instructionBudget;
        _exitReason = VcpuExitReason.None;
        VcpuExit exit = default;
        while (true)
        {
            try
            {
                exit.Reason = RunLoop();
                break;
            }
            catch (GuestFault f)
            {
                _executed += PartialBlockCount();
                _curBlock = -1;
                Rip = InstrRip;
                DeliverException(f.Vector, f.ErrorCode, f.HasErrorCode);
            }
            catch (BlockRestart)
            {
                _executed += PartialBlockCount();
                _curBlock = -1;
            }
        }
        exit.Instructions = _executed;
        return exit;
    }

    private VcpuExitReason RunLoop()
    {
        while (true)
        {
            if (_pending != 0)
            {
                VcpuExitReason r = HandlePending();
                if (r != VcpuExitReason.None) return r;
                continue;
            }
            if (_executed >= _budget) return VcpuExitReason.BudgetExhausted;
            InstrRip = Rip;             // a fetch fault while looking up the block belongs to this address
            int b = LookupBlock();
            if (b < 0 || _budget - _executed < _blocks[b].Count) { StepOne(); continue; }
            ExecuteChain(b);
        }
    }

    /// <summary>
    /// Runs a block, then follows the links to the next ones for as long as no event is pending and
    /// the budget allows; a missing link is filled from a normal lookup.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ExecuteChain(int bi)
    {
        ref BlockInfo blocks0 = ref MemoryMarshal.GetArrayDataReference(_blocks);
        while (true)
        {
            ref BlockInfo b = ref Unsafe.Add(ref blocks0, bi);
            _curBlock = bi;
            _curBlockRip = Rip;
            DecodedInstr* p = _arena + b.Start;
            DecodedInstr* end = p + b.Count;
            int n = b.Count;
            do
            {
                ulong rip = Rip;
                InstrRip = rip;
                Rip = rip + p->Length;
                p->Handler(this, ref *p);
                p++;
            }
            while (p < end);
            ulong next = Rip & IpMask;
            Rip = next;
            _executed += n;
            _curBlock = -1;
            int pend = _pending;
            // An interrupt request with IF=0 only matters once IF is set, and whatever sets IF ends its block.
            if ((pend != 0 && (pend != PendIntr || (Eflags & RFlags.IF) != 0)) || _executed >= _budget) return;
            int nb;
            int epoch = LinkEpoch;
            if (b.LinkRip0 == next && b.LinkEpoch0 == epoch) nb = b.Link0;
            else if (b.LinkRip1 == next && b.LinkEpoch1 == epoch) nb = b.Link1;
            else
            {
                nb = LookupBlock();
                if (nb < 0) return;
                // The lookup may have flushed the cache (b is then gone) or bumped the epoch.
                if (epoch == LinkEpoch)
                {
                    if (b.LinkEpoch0 != epoch) { b.LinkRip0 = next; b.Link0 = nb; b.LinkEpoch0 = epoch; }
                    else { b.LinkRip1 = b.LinkRip0; b.Link1 = b.Link0; b.LinkEpoch1 = b.LinkEpoch0; b.LinkRip0 = next; b.Link0 = nb; b.LinkEpoch0 = epoch; }
                }
            }
            ref BlockInfo t = ref Unsafe.Add(ref blocks0, nb);
            if (t.Gen != t.Info->Generation || _budget - _executed < t.Count) return;
            bi = nb;
        }
    }

    /// <summary>Instructions of the current block that completed before InstrRip (after a fault or restart).</summary>
    private int PartialBlockCount()
    {
        if (_curBlock < 0) return 0;
        ref BlockInfo b = ref _blocks[_curBlock];
        ulong off = (InstrRip - _curBlockRip) & IpMask;
        for (int k = 0; k < b.Count; k++)
            if (_arena[b.Start + k].Offset == off) return k;
        return 0;
    }

    /// <summary>Events at an instruction boundary. Returns an exit reason, or None to keep running.</summary>
    private VcpuExitReason HandlePending()
    {
        int p = _pending;
        if ((p & PendExit) != 0)
        {
            ClearPending(PendExit);
            var r = _exitReason;
            _exitReason = VcpuExitReason.None;
            if (r != VcpuExitReason.None) return r;
        }
        if ((p & PendStop) != 0) { ClearPending(PendStop); return VcpuExitReason.Stopped; }
        if ((p & PendMapChanged) != 0) { ClearPending(PendMapChanged); FlushTlb(true); FlushCodeCache(); }
        if ((p & PendWriteTlbFlush) != 0) { ClearPending(PendWriteTlbFlush); FlushWriteTlb(); }
        if ((p & PendShadow) != 0)
        {
            // The instruction after STI / MOV SS runs before any interrupt is taken.
            ClearPending(PendShadow);
            if (Halted) return VcpuExitReason.Halted;
            if (_executed >= _budget) { RaisePending(PendShadow); return VcpuExitReason.BudgetExhausted; }
            StepOne();
            return VcpuExitReason.None;
        }
        if ((p & PendNmi) != 0 && !NmiBlocked)
        {
            ClearPending(PendNmi);
            InstrRip = Rip;
            NmiBlocked = true;
            DeliverException(Xcpt.NMI, 0, false, EventType.Nmi);
            return VcpuExitReason.None;
        }
        if ((p & PendIntr) != 0 && (Eflags & RFlags.IF) != 0)
        {
            int vec = Bus.AcknowledgeInterrupt(CpuIndex);
            if (vec >= 0)
            {
                InstrRip = Rip;
                DeliverException(vec, 0, false, EventType.External);
                return VcpuExitReason.None;
            }
        }
        if (Halted) return VcpuExitReason.Halted;
        if ((p & PendStep) != 0)
        {
            bool tf = (Eflags & RFlags.TF) != 0;
            if (!tf && !_debugStep && _breakpoints.Length == 0 && !HwBreakpointsActive) { ClearPending(PendStep); return VcpuExitReason.None; }
            if (_breakpoints.Length > 0 && !_skipBreakpointOnce)
            {
                ulong lin = (Segs[SegIdx.CS].Base + Rip) & LinMask;
                foreach (ulong bp in _breakpoints)
                    if (bp == lin) { _skipBreakpointOnce = true; return VcpuExitReason.Breakpoint; }
            }
            _skipBreakpointOnce = false;
            if (_executed >= _budget) return VcpuExitReason.BudgetExhausted;
            StepOne();
            if (_debugStep) { _debugStep = false; return VcpuExitReason.SingleStep; }
            return VcpuExitReason.None;
        }
        // Only the INTR line with IF=0 is left: keep running (it is re-checked every block).
        if ((_pending & ~PendIntr) == 0 && (p & PendIntr) != 0) return RunBlocksWithIntrMasked();
        return VcpuExitReason.None;
    }

    private bool _skipBreakpointOnce;

    /// <summary>INTR is asserted but IF=0: run one block without re-entering the event handler for it.</summary>
    private VcpuExitReason RunBlocksWithIntrMasked()
    {
        if (_executed >= _budget) return VcpuExitReason.BudgetExhausted;
        int b = LookupBlock();
        if (b < 0 || _budget - _executed < _blocks[b].Count) StepOne();
        else ExecuteChain(b);
        return VcpuExitReason.None;
    }

    /// <summary>Executes exactly one instruction, decoded fresh (TF, debugger, shadows, MMIO code, tight budgets).</summary>
    private void StepOne()
    {
        if (HwBreakpointsActive && InstructionBreakpointHit()) return;
        bool tf = (Eflags & RFlags.TF) != 0;
        _dataHits = 0;
        Span<byte> buf = stackalloc byte[Decoder.MaxLength];
        InstrRip = Rip;
        int n = FetchForDecode(Rip, buf, out _);
        int len = Decoder.Decode(buf[..n], Mode, Table, ref _stepInstr);
        if (len == Decoder.NeedMoreBytes)
        {
            // The instruction runs past the CS limit or into an unavailable page.
            InstrRip = Rip;
            n = FetchForDecode(Rip, buf, out bool limitHit, all: true);
            len = Decoder.Decode(buf[..n], Mode, Table, ref _stepInstr);
            if (len == Decoder.NeedMoreBytes) RaiseXcpt(Xcpt.GP, 0);
            _ = limitHit;
        }
        _curBlock = -1;
        InstrRip = Rip;
        Rip = InstrRip + (ulong)len;
        bool wasSoftInt = _stepInstr.Map == OpMap.Primary && _stepInstr.Opcode is 0xCC or 0xCD or 0xCE or 0xF1;
        bool rfBefore = (Eflags & RFlags.RF) != 0;
        _stepInstr.Handler(this, ref _stepInstr);
        Rip &= IpMask;
        _executed++;
        // RF suppresses instruction breakpoints for one instruction; IRET loading it is not that instruction.
        if (rfBefore && !(_stepInstr.Map == OpMap.Primary && _stepInstr.Opcode == 0xCF)) Eflags &= ~RFlags.RF;
        uint hits = _dataHits;
        _dataHits = 0;
        if ((tf && !wasSoftInt) || hits != 0)
        {
            Dr[6] = (Dr[6] & ~0xFUL) | hits;
            if (tf && !wasSoftInt) Dr[6] |= 1UL << 14;   // BS
            InstrRip = Rip;
            DeliverException(Xcpt.DB, 0, false);
        }
    }

    /// <summary>
    /// Copies up to 15 instruction bytes at CS:rip. Bytes of the first page are always fetched (a
    /// fault there is the instruction's); the next page only when <paramref name="all"/> is set.
    /// Stops at the CS limit outside 64-bit mode.
    /// </summary>
    private int FetchForDecode(ulong rip, Span<byte> buf, out bool limitHit, bool all = false)
    {
        limitHit = false;
        int want = Decoder.MaxLength;
        if (Mode != CodeMode.Bits64)
        {
            ref SegCache cs = ref Segs[SegIdx.CS];
            if (rip > cs.Limit) RaiseXcpt(Xcpt.GP, 0);
            ulong room = cs.Limit - rip + 1;
            if (room < (ulong)want) { want = (int)room; limitHit = true; }
        }
        ulong lin = (Segs[SegIdx.CS].Base + rip) & LinMask;
        int n = 0;
        while (n < want)
        {
            ulong l = (lin + (ulong)n) & LinMask;
            int chunk = Math.Min(want - n, 0x1000 - (int)(l & 0xFFF));
            if (n > 0 && !all) break;
            ulong pa = Translate(l, KindX, Cpl == 3, SegIdx.CS, chunk);
            PhysReadBytes(pa, buf.Slice(n, chunk));
            n += chunk;
        }
        return n;
    }

    /// <summary>Finds or builds the block at CS:RIP; -1 when the code cannot be cached (MMIO, ROM-less fetch).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int LookupBlock()
    {
        ulong lin = (Segs[SegIdx.CS].Base + Rip) & LinMask;
        TlbEntry* e = TlbX + ((int)(lin >> 12) & TlbMask);
        if (e->Tag != (lin & ~0xFFFUL)) return LookupBlockSlow(lin);
        ulong pa = (e->Phys & ~0xFFFUL) | (lin & 0xFFF);
        int h = (int)((pa ^ (pa >> 13)) & (HashSize - 1));
        for (int i = _hash[h]; i >= 0; i = _blocks[i].Next)
        {
            ref BlockInfo b = ref _blocks[i];
            if (b.Phys == pa && b.Mode == Mode)
            {
                if (b.Gen == b.Info->Generation && b.Phys2 == ulong.MaxValue &&
                    (Mode == CodeMode.Bits64 || Rip + (ulong)b.ByteLen - 1 <= Segs[SegIdx.CS].Limit))
                    return i;
                return BuildBlock(lin, e, i);
            }
        }
        return BuildBlock(lin, e, -1);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private int LookupBlockSlow(ulong lin)
    {
        if (Mode != CodeMode.Bits64 && Rip > Segs[SegIdx.CS].Limit) RaiseXcpt(Xcpt.GP, 0);
        InstrRip = Rip;
        Translate(lin, KindX, Cpl == 3, SegIdx.CS, 1);
        TlbEntry* e = TlbX + ((int)(lin >> 12) & TlbMask);
        if (e->Tag != (lin & ~0xFFFUL) || e->Info == null) return -1;   // not cacheable memory
        ulong pa = (e->Phys & ~0xFFFUL) | (lin & 0xFFF);
        int h = (int)((pa ^ (pa >> 13)) & (HashSize - 1));
        for (int i = _hash[h]; i >= 0; i = _blocks[i].Next)
        {
            ref BlockInfo b = ref _blocks[i];
            if (b.Phys == pa && b.Mode == Mode)
            {
                if (b.Gen == b.Info->Generation && b.Phys2 == ulong.MaxValue &&
                    (Mode == CodeMode.Bits64 || Rip + (ulong)b.ByteLen - 1 <= Segs[SegIdx.CS].Limit))
                    return i;
                return BuildBlock(lin, e, i);
            }
        }
        return BuildBlock(lin, e, -1);
    }

    /// <summary>Decodes a new block at lin (into slot <paramref name="reuse"/> or a fresh one). Returns -1 to single-step instead.</summary>
    private int BuildBlock(ulong lin, TlbEntry* e, int reuse)
    {
        if (_blockCount >= MaxBlocks || _arenaUsed + MaxBlockInstrs > ArenaSize)
        {
            FlushCodeCache();
            reuse = -1;
        }
        InstrRip = Rip;
        byte* host = (byte*)(e->Addend + (nint)lin);
        ulong pa = (e->Phys & ~0xFFFUL) | (lin & 0xFFF);
        CodePageInfo* info = e->Info;
        int avail = 0x1000 - (int)(lin & 0xFFF);
        long room = Mode == CodeMode.Bits64 ? long.MaxValue : (long)Segs[SegIdx.CS].Limit - (long)Rip + 1;
        if (room <= 0) RaiseXcpt(Xcpt.GP, 0);
        int gen = Volatile.Read(ref info->Generation);
        int start = _arenaUsed;
        int count = 0, off = 0;
        while (count < MaxBlockInstrs)
        {
            int canRead = Math.Min(avail - off, Decoder.MaxLength);
            if (room - off < canRead) canRead = (int)(room - off);
            ref DecodedInstr d = ref _arena[start + count];
            int len = canRead > 0 ? Decoder.Decode(new ReadOnlySpan<byte>(host + off, canRead), Mode, Table, ref d) : Decoder.NeedMoreBytes;
            if (len == Decoder.NeedMoreBytes)
            {
                if (count == 0) return -1;   // crosses a page or the CS limit: single-step it
                break;
            }
            d.Offset = (ushort)off;
            off += len;
            count++;
            if ((d.Flags & (InstrFlags.EndsBlock | InstrFlags.Invalid)) != 0) break;
            if (off >= avail) break;
            if (Mode != CodeMode.Bits64 && ((Rip + (ulong)off) & ~IpMask) != 0) break;   // IP wraps
        }
        bool newCode = info->CodeBits == 0;
        Machine.MarkCode(info, pa, off);
        if (newCode) FlushWriteTlb();
        int bi = reuse >= 0 ? reuse : _blockCount++;
        ref BlockInfo b = ref _blocks[bi];
        b.Phys = pa; b.Phys2 = ulong.MaxValue; b.Info = info; b.Info2 = null;
        b.Gen = gen; b.Gen2 = 0;
        b.Start = start; b.Count = count; b.ByteLen = off; b.Mode = Mode;
        b.LinkEpoch0 = 0; b.LinkEpoch1 = 0;
        _arenaUsed += count;
        if (reuse < 0)
        {
            int h = (int)((pa ^ (pa >> 13)) & (HashSize - 1));
            b.Next = _hash[h];
            _hash[h] = bi;
        }
        // The generation may have moved while decoding (another vCPU wrote the page): then decode again next time.
        if (Volatile.Read(ref info->Generation) != gen) b.Gen = gen - 1;
        return bi;
    }

    /// <summary>Code of the page holding <paramref name="pa"/> was overwritten by this vCPU: stop the current block after this instruction.</summary>
    private void OnCodeOverwritten(ulong pa)
    {
        if (_curBlock < 0) return;
        ref BlockInfo b = ref _blocks[_curBlock];
        if ((b.Phys >> 12) != (pa >> 12)) return;
        ulong off = (InstrRip - _curBlockRip) & IpMask;
        for (int k = 0; k < b.Count - 1; k++)
        {
            if (_arena[b.Start + k].Offset == off)
            {
                _arena[b.Start + k + 1].Handler = &Handlers.SmcRestart;
                return;
            }
        }
    }

    /// <summary>Abandons the rest of the block (thrown by <see cref="Handlers.SmcRestart"/>).</summary>
    internal void ThrowRestart() => throw _restart;
}
