using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Em;

namespace SharpBox.Vmm.Iem;

/// <summary>IEM's working copy of a segment register: the architectural cache plus precomputed fast-path checks (64 bytes, so indexing is a shift).</summary>
[StructLayout(LayoutKind.Sequential, Size = 64)]
public struct SegCache
{
    /// <summary>Base used for address computation (0 for ES/CS/SS/DS in 64-bit mode).</summary>
    public ulong Base;
    /// <summary>Highest offset a read may touch without the slow check, or -1 (slow path: expand-down, unusable, not readable).</summary>
    public long RdLim;
    public long WrLim;
    /// <summary>The architectural hidden base (kept even where 64-bit mode ignores it).</summary>
    public ulong ArchBase;
    public uint Limit;
    public uint Attr;
    public ushort Sel;
}

[InlineArray(18)] public struct RegFile { private ulong _e; }
[InlineArray(6)] public struct SegCaches { private SegCache _e; }

/// <summary>
/// The software x86 CPU (one per vCPU). Holds the architectural state in a layout tuned for the
/// interpreter; <see cref="GetState"/>/<see cref="SetState"/> convert to the plain
/// <see cref="CpuContext"/>. Split over partial files: flags, memory/TLB, paging, segmentation,
/// exceptions/interrupts, the run loop/block cache, and the system instructions.
/// </summary>
public sealed unsafe partial class IemCpu : IVirtualCpu, IDisposable
{
    // ---- register file: 0..15 GPRs, 16 = always zero (absent base/index), 17 = RIP ----
    public RegFile Regs;
    /// <summary>RIP of the instruction being executed (faults report this one); <see cref="Rip"/> already points past it.</summary>
    public ulong InstrRip;
    /// <summary>RFLAGS without the six arithmetic flags (those live in the lazy-flag fields).</summary>
    public uint Eflags = RFlags.Fixed1;
    public SegCaches Segs;
    public SegmentRegister Ldtr, Tr;
    public DescriptorTableRegister Gdtr, Idtr;
    public ulong Cr0, Cr2, Cr3, Cr4, Efer, Xcr0 = 1;
    public Ulong8 Dr;
    /// <summary>Current privilege level (CS.RPL in protected mode, 3 in v86, 0 in real mode).</summary>
    public int Cpl;
    /// <summary>Decoding mode of the current code segment.</summary>
    public CodeMode Mode;
    /// <summary>Linear addresses wrap at 4 GiB outside long mode.</summary>
    internal ulong LinMask = 0xFFFFFFFF;
    /// <summary>Instruction pointer wrap (0xFFFF for 16-bit code, 0xFFFFFFFF for 32-bit, all ones in 64-bit).</summary>
    internal ulong IpMask = 0xFFFF;
    internal ulong SysenterCs, SysenterEsp, SysenterEip, Star, Lstar, Cstar, Sfmask, KernelGsBase;
    internal ulong Pat = 0x0007040600070406, TscAux, ApicBase, MiscEnable = 1, FeatureControl, SpecCtrl, MtrrDefType;
    internal long TscOffset;
    internal Ulong11 MtrrFixed;
    internal Ulong16 MtrrVar;
    internal bool NmiBlocked;
    internal bool Halted;

    /// <summary>The x87/MMX/SSE state in FXSAVE layout, 16-byte aligned, 512 bytes (see docs/architecture.md).</summary>
    public readonly byte* Fx;

    public IemMachine Machine { get; }
    public ICpuBus Bus { get; }
    public CpuModel Model { get; }
    public int CpuIndex { get; }
    internal readonly HandlerTable Table;

    public ref ulong Rip => ref Regs[17];

    public IemCpu(IemMachine machine, int cpuIndex)
    {
        Machine = machine;
        Bus = machine.Bus;
        Model = machine.Model;
        Table = machine.Table;
        CpuIndex = cpuIndex;
        Fx = (byte*)NativeMemory.AlignedAlloc(512, 64);
        NativeMemory.Clear(Fx, 512);
        _fault = new GuestFault();
        _restart = new BlockRestart();
        InitTlb();
        InitBlockCache();
        Reset();
    }

    public void Dispose()
    {
        Machine.Unregister(this);
        FreeTlb();
        NativeMemory.AlignedFree(_arena);
        _arena = null;
        NativeMemory.AlignedFree(Fx);
        GC.SuppressFinalize(this);
    }

    // ---- register access helpers (no bounds checks: indices come from the decoder) ----

    /// <summary>64-bit register by index 0..17.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref ulong R(int i) => ref Unsafe.Add(ref Regs[0], i);

    /// <summary>8-bit register by byte offset (see <see cref="DecodedInstr"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref byte R8(int byteOffset) => ref Unsafe.AddByteOffset(ref Unsafe.As<ulong, byte>(ref Regs[0]), (nint)byteOffset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref ushort R16(int i) => ref Unsafe.As<ulong, ushort>(ref Unsafe.Add(ref Regs[0], i));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint R32(int i) => (uint)Unsafe.Add(ref Regs[0], i);

    /// <summary>32-bit register write: zero-extends into the full register, as the architecture does.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetR32(int i, uint v) => Unsafe.Add(ref Regs[0], i) = v;

    public bool LongModeActive => (Efer & Cpum.Efer.LMA) != 0;
    public bool ProtectedMode => (Cr0 & Cpum.Cr0.PE) != 0;
    public bool V86Mode => (Eflags & RFlags.VM) != 0;
    public bool PagingEnabled => (Cr0 & Cpum.Cr0.PG) != 0 && ProtectedMode;
    public int Iopl => (int)((Eflags >> RFlags.IoplShift) & 3);

    // ---- whole-state exchange ----

    public void GetState(ref CpuContext c)
    {
        for (int i = 0; i < 16; i++) c.Gpr[i] = Regs[i];
        c.Rip = Rip;
        c.Rflags = GetEflags();
        for (int i = 0; i < 6; i++)
        {
            ref SegCache s = ref Segs[i];
            c.Seg[i] = new SegmentRegister(s.Sel, s.ArchBase, s.Limit, s.Attr);
        }
        c.Ldtr = Ldtr; c.Tr = Tr; c.Gdtr = Gdtr; c.Idtr = Idtr;
        c.Cr0 = Cr0; c.Cr2 = Cr2; c.Cr3 = Cr3; c.Cr4 = Cr4; c.Cr8 = Bus.ReadCr8(CpuIndex); c.Xcr0 = Xcr0;
        c.Dr = Dr; c.Efer = Efer;
        c.SysenterCs = SysenterCs; c.SysenterEsp = SysenterEsp; c.SysenterEip = SysenterEip;
        c.Star = Star; c.Lstar = Lstar; c.Cstar = Cstar; c.Sfmask = Sfmask; c.KernelGsBase = KernelGsBase;
        c.Pat = Pat; c.TscAux = TscAux; c.ApicBase = ApicBase; c.MiscEnable = MiscEnable;
        c.FeatureControl = FeatureControl; c.SpecCtrl = SpecCtrl; c.TscOffset = TscOffset;
        c.MtrrDefType = MtrrDefType; c.MtrrFixed = MtrrFixed; c.MtrrVar = MtrrVar;
        c.InterruptShadow = (_pending & PendShadow) != 0;
        c.NmiBlocked = NmiBlocked; c.Halted = Halted; c.NmiPending = (_pending & PendNmi) != 0;
        c.WaitingForSipi = _waitSipi;
        new ReadOnlySpan<byte>(Fx, 512).CopyTo(MemoryMarshal.AsBytes(new Span<FxSaveBytes>(ref c.Fx)));
    }

    public void SetState(in CpuContext c)
    {
        ValidateState(in c);
        for (int i = 0; i < 16; i++) Regs[i] = c.Gpr[i];
        Regs[16] = 0;
        Rip = c.Rip;
        Cr0 = c.Cr0; Cr2 = c.Cr2; Cr3 = c.Cr3; Cr4 = c.Cr4; Efer = c.Efer; Xcr0 = c.Xcr0; Dr = c.Dr;
        SetEflagsAll((uint)c.Rflags);
        for (int i = 0; i < 6; i++)
        {
            var s = c.Seg[i];
            Segs[i].Sel = s.Selector; Segs[i].ArchBase = s.Base; Segs[i].Limit = s.Limit; Segs[i].Attr = s.Attributes;
        }
        Ldtr = c.Ldtr; Tr = c.Tr; Gdtr = c.Gdtr; Idtr = c.Idtr;
        Bus.WriteCr8(CpuIndex, c.Cr8);
        SysenterCs = c.SysenterCs; SysenterEsp = c.SysenterEsp; SysenterEip = c.SysenterEip;
        Star = c.Star; Lstar = c.Lstar; Cstar = c.Cstar; Sfmask = c.Sfmask; KernelGsBase = c.KernelGsBase;
        Pat = c.Pat; TscAux = c.TscAux; ApicBase = c.ApicBase; MiscEnable = c.MiscEnable;
        FeatureControl = c.FeatureControl; SpecCtrl = c.SpecCtrl; TscOffset = c.TscOffset;
        MtrrDefType = c.MtrrDefType; MtrrFixed = c.MtrrFixed; MtrrVar = c.MtrrVar;
        NmiBlocked = c.NmiBlocked; Halted = c.Halted; _waitSipi = c.WaitingForSipi;
        int p = _pending & ~(PendShadow | PendNmi);
        if (c.InterruptShadow) p |= PendShadow;
        if (c.NmiPending) p |= PendNmi;
        _pending = p;
        MemoryMarshal.AsBytes(new ReadOnlySpan<FxSaveBytes>(in c.Fx)).CopyTo(new Span<byte>(Fx, 512));
        ModeChanged();
        FlushTlb(true);
        DebugRegistersChanged();
    }

    private static void ValidateState(in CpuContext c)
    {
        if ((c.Cr0 & Cpum.Cr0.PG) != 0 && (c.Cr0 & Cpum.Cr0.PE) == 0)
            throw new ArgumentException("CR0.PG set without CR0.PE", nameof(c));
        if ((c.Efer & Cpum.Efer.LMA) != 0 && ((c.Cr0 & Cpum.Cr0.PG) == 0 || (c.Cr4 & Cpum.Cr4.PAE) == 0))
            throw new ArgumentException("EFER.LMA set without CR0.PG and CR4.PAE", nameof(c));
        var cs = c.Seg[SegIdx.CS];
        if ((cs.Attributes & SegAttr.L) != 0 && (cs.Attributes & SegAttr.DB) != 0 && (c.Efer & Cpum.Efer.LMA) != 0)
            throw new ArgumentException("CS has both L and D set", nameof(c));
        if ((c.Rflags & RFlags.VM) != 0 && (c.Efer & Cpum.Efer.LMA) != 0)
            throw new ArgumentException("RFLAGS.VM set in long mode", nameof(c));
    }

    /// <summary>INIT/RESET: power-on state; FPU per FNINIT, MXCSR 1F80.</summary>
    public void Reset()
    {
        var c = CpuContext.PowerOn();
        c.Gpr[2] = Model.Signature;
        c.ApicBase = 0xFEE00000 | (1u << 11) | (CpuIndex == 0 ? 1u << 8 : 0);
        int keep = _pending & (PendIntr | PendStop);
        _pending = 0;
        SetState(in c);
        _pending |= keep;
        _waitSipi = CpuIndex != 0 && Machine.ApsWaitForSipi;
        Halted = CpuIndex != 0 && Machine.ApsStartHalted;
        FlushCodeCache();
    }

    private volatile bool _waitSipi;
    private int _sipiVector = -1;

    public bool WaitingForSipi => _waitSipi;

    /// <summary>INIT: like RESET but MTRRs, PAT and the APIC base survive (SDM 9.1.1); APs wait for a SIPI.</summary>
    public void Init()
    {
        var mtrrFixed = MtrrFixed; var mtrrVar = MtrrVar; ulong defType = MtrrDefType, pat = Pat, apic = ApicBase;
        Reset();
        MtrrFixed = mtrrFixed; MtrrVar = mtrrVar; MtrrDefType = defType; Pat = pat; ApicBase = apic;
        _waitSipi = CpuIndex != 0;
    }

    /// <summary>Startup IPI: taken by the vCPU's own thread at its next Run (thread-safe).</summary>
    public void Sipi(byte vector)
    {
        if (!_waitSipi) return;
        Volatile.Write(ref _sipiVector, vector);
        _wake.Set();
    }

    /// <summary>Called by Run: leaves wait-for-SIPI when a startup IPI arrived.</summary>
    private bool TakeSipi()
    {
        int v = Interlocked.Exchange(ref _sipiVector, -1);
        if (v < 0) return false;
        _waitSipi = false;
        Halted = false;
        SetSeg(SegIdx.CS, (ushort)(v << 8), (ulong)v << 12, 0xFFFF, SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.CodeReadable | SegAttr.Accessed);
        Rip = 0;
        return true;
    }

    /// <summary>Recomputes everything derived from CR0/EFER/CS/SS/RFLAGS.VM: mode, CPL, segment fast paths, TLB selection.</summary>
    internal void ModeChanged()
    {
        LinkEpoch++;
        bool lma = (Efer & Cpum.Efer.LMA) != 0;
        ref SegCache cs = ref Segs[SegIdx.CS];
        if (lma && (cs.Attr & SegAttr.L) != 0) Mode = CodeMode.Bits64;
        else if (ProtectedMode && !V86Mode && (cs.Attr & SegAttr.DB) != 0) Mode = CodeMode.Bits32;
        else Mode = CodeMode.Bits16;
        if (!ProtectedMode) Cpl = 0;
        else if (V86Mode) Cpl = 3;
        else Cpl = cs.Sel & 3;
        LinMask = Mode == CodeMode.Bits64 ? ulong.MaxValue : 0xFFFFFFFF;
        IpMask = Mode == CodeMode.Bits64 ? ulong.MaxValue : Mode == CodeMode.Bits32 ? 0xFFFFFFFF : 0xFFFF;
        for (int i = 0; i < 6; i++) RecomputeSeg(i);
        SelectTlb();
    }

    /// <summary>Derives the fast-path fields of one segment from its architectural cache.</summary>
    internal void RecomputeSeg(int i)
    {
        ref SegCache s = ref Segs[i];
        if (Mode == CodeMode.Bits64)
        {
            s.Base = i >= SegIdx.FS ? s.ArchBase : 0;
            s.RdLim = long.MaxValue; s.WrLim = long.MaxValue;
            return;
        }
        s.Base = (uint)s.ArchBase;
        uint a = s.Attr;
        bool realLike = !ProtectedMode || V86Mode;
        if (realLike)
        {
            // Real and v86 mode: segments are always usable, read/write; limit checks still apply (big real mode keeps its limit).
            s.RdLim = s.Limit;
            s.WrLim = s.Limit;
            return;
        }
        if ((a & SegAttr.Unusable) != 0 || (a & SegAttr.P) == 0) { s.RdLim = -1; s.WrLim = -1; return; }
        bool code = (a & SegAttr.Code) != 0;
        if (code)
        {
            s.RdLim = (a & SegAttr.CodeReadable) != 0 ? s.Limit : -1;
            s.WrLim = -1;
        }
        else if ((a & SegAttr.ExpandDown) != 0) { s.RdLim = -1; s.WrLim = -1; }
        else
        {
            s.RdLim = s.Limit;
            s.WrLim = (a & SegAttr.DataWritable) != 0 ? s.Limit : -1;
        }
    }
}
