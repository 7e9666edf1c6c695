using System.Runtime.Versioning;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SharpBox.Runtime.Linux;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Em;
using SharpBox.Vmm.Iem;

namespace SharpBox.Vmm.Hm;

/// <summary>
/// One vCPU on the KVM engine, behind the same <see cref="IVirtualCpu"/> the software CPU implements.
/// <see cref="Run"/> loops on KVM_RUN and serves port I/O, MMIO and MSR exits in place through the
/// platform's <see cref="ICpuBus"/> (the same port/MMIO tables IEM uses), injects the platform
/// interrupt controller's vectors when the guest can take them, and returns to EM only for what EM
/// decides: HLT with nothing to deliver, shutdown, stop requests, debug events and errors.
/// Nothing is allocated per exit.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed unsafe class HmCpu : IVirtualCpu, Dbgf.IVcpuWatchpoints, Dbgf.IVcpuStatistics, IDisposable
{
    private readonly HmMachine _m;
    private readonly KvmVcpu _v;
    private readonly ICpuBus _bus;
    private readonly bool _userIrqchip;
    private readonly ManualResetEventSlim _wake = new(false);

    // Cross-thread requests (set by other threads, then a kick).
    private volatile bool _intrLine;
    private int _nmiRequests;
    private int _stopRequest;

    private bool _halted;
    private bool _ioPending;          // the last exit was port/MMIO I/O: KVM completes it at the next KVM_RUN
    private ulong _lastCr8;
    private bool _debugDirty;
    private KvmGuestDebug _debug;
    private bool _singleStep;
    private bool _resumeOverHwBreakpoint;
    private long _exits, _ioExits, _mmioExits, _msrExits, _hltExits, _injected;

    public int CpuIndex { get; }
    public CpuModel Model => _m.Model;
    public KvmVcpu Kvm => _v;
    public HmMachine Machine => _m;
    /// <summary>KVM exits handled so far (statistics).</summary>
    public long Exits => _exits;

    internal HmCpu(HmMachine machine, KvmVcpu vcpu, int index)
    {
        _m = machine; _v = vcpu; _bus = machine.Bus; CpuIndex = index;
        _userIrqchip = !machine.Vm.HasIrqchip;
        Reset();
    }

    // ---- running ----

    public VcpuExit Run(long instructionBudget)
    {
        VcpuExit exit = default;
        if (_waitSipi && !TakeSipi())
        {
            if (Interlocked.Exchange(ref _stopRequest, 0) != 0) exit.Reason = VcpuExitReason.Stopped;
            else exit.Reason = VcpuExitReason.Halted;
            return exit;
        }
        if (_resumeOverHwBreakpoint) StepOverHwBreakpoint();
        while (true)
        {
            if (_debugDirty) ApplyDebug();
            if (_v.KickPending) { _v.ClearKick(); Interlocked.MemoryBarrier(); }
            if (Volatile.Read(ref _stopRequest) != 0)
            {
                Interlocked.Exchange(ref _stopRequest, 0);
                exit.Reason = DeliverInjectedInterrupt();
                break;
            }
            if (Volatile.Read(ref _nmiRequests) != 0)
            {
                Interlocked.Exchange(ref _nmiRequests, 0);
                FinishIo();
                _v.Nmi();
                _halted = false;
            }
            if (_userIrqchip)
            {
                if (_intrLine)
                {
                    if (_v.ReadyForInterruptInjection)
                    {
                        int vector = _bus.AcknowledgeInterrupt(CpuIndex);
                        if (vector >= 0) { _v.Interrupt(vector); _halted = false; _injected++; }
                        _v.RequestInterruptWindow = false;
                    }
                    else _v.RequestInterruptWindow = true;
                }
                else _v.RequestInterruptWindow = false;
                if (_halted) { exit.Reason = VcpuExitReason.Halted; break; }
                ulong cr8 = _bus.ReadCr8(CpuIndex);
                if (cr8 != _lastCr8) { _v.Cr8 = cr8; _lastCr8 = cr8; }
            }

            uint reason = _v.Run();
            _ioPending = false;
            _exits++;
            switch (reason)
            {
                case KvmExit.Io: _ioExits++; HandleIo(); continue;
                case KvmExit.Mmio: _mmioExits++; HandleMmio(); continue;
                case KvmExit.Intr:
                case KvmExit.IrqWindowOpen:
                    continue;
                case KvmExit.Hlt:
                    _hltExits++;
                    _halted = true;
                    continue;
                case KvmExit.SetTpr:
                    _lastCr8 = _v.Cr8;
                    _bus.WriteCr8(CpuIndex, _lastCr8);
                    continue;
                case KvmExit.X86Rdmsr:
                    _msrExits++;
                    _v.MsrError = _bus.TryReadMsr(CpuIndex, _v.MsrIndex, out _v.MsrData) ? (byte)0 : (byte)1;
                    _ioPending = true;
                    continue;
                case KvmExit.X86Wrmsr:
                    _msrExits++;
                    _v.MsrError = _bus.TryWriteMsr(CpuIndex, _v.MsrIndex, _v.MsrData) ? (byte)0 : (byte)1;
                    _ioPending = true;
                    continue;
                case KvmExit.Debug:
                    exit.Reason = DebugExit(out exit.Address);
                    break;
                case KvmExit.Shutdown:
                    exit.Reason = VcpuExitReason.Shutdown;
                    break;
                case KvmExit.SystemEvent:
                    exit.Reason = _v.SystemEventType == 2 ? VcpuExitReason.Reset : VcpuExitReason.Shutdown;
                    break;
                default:
                    exit.Reason = VcpuExitReason.InternalError;
                    exit.Message = $"KVM vCPU {CpuIndex}: {_v.DescribeExit()}";
                    break;
            }
            break;
        }
        FinishIo();
        return exit;
    }

    /// <summary>
    /// A stop can land between KVM_INTERRUPT and the entry that delivers it: the vector is then taken
    /// from the interrupt controller (IRR → ISR) but only queued in KVM, where neither
    /// <see cref="CpuContext"/> nor the other engine can carry it. So before returning Stopped the
    /// queued interrupt is delivered here, by the software CPU's event delivery on the current state
    /// (IVT, IDT gates, stack switch, task gates, nested faults), as VirtualBox hands HM's pending
    /// event to IEM. Single-stepping KVM into the handler does not do: the trap flag KVM sets for the
    /// step is pushed with the interrupt frame, and the handler's IRET would then trap.
    /// Returns Shutdown when the delivery triple-faults, else Stopped.
    /// </summary>
    private VcpuExitReason DeliverInjectedInterrupt()
    {
        if (!_userIrqchip) return VcpuExitReason.Stopped;
        FinishIo();
        _v.GetVcpuEvents(out var ev);
        if (ev.InterruptInjected == 0) return VcpuExitReason.Stopped;
        var c = new CpuContext();
        GetState(ref c);
        var iem = _eventCpu ??= new IemCpu(new IemMachine(_bus, Model), CpuIndex);
        try { iem.SetState(in c); }
        catch (ArgumentException) { return VcpuExitReason.Stopped; }   // a state the software CPU refuses: leave it queued in KVM
        iem.InstrRip = iem.Rip;
        iem.DeliverException(ev.InterruptNr, 0, false, EventType.External);
        if (iem.ShutdownPending) return VcpuExitReason.Shutdown;
        var after = new CpuContext();
        iem.GetState(ref after);
        // Only what an event delivery changes; MSRs, FPU and the TSC stay KVM's own.
        c.Gpr = after.Gpr; c.Rip = after.Rip; c.Rflags = after.Rflags; c.Seg = after.Seg;
        c.Ldtr = after.Ldtr; c.Tr = after.Tr; c.Cr0 = after.Cr0; c.Cr3 = after.Cr3; c.Dr[7] = after.Dr[7];
        c.InterruptShadow = false;
        c.Halted = false;
        SetState(in c);   // also drops the queued interrupt from KVM
        return VcpuExitReason.Stopped;
    }

    private IemCpu? _eventCpu;

    /// <summary>Lets KVM complete an instruction whose port/MMIO/MSR data we supplied, so state reads see it finished.</summary>
    private void FinishIo()
    {
        if (!_ioPending) return;
        _ioPending = false;
        _v.CompletePendingIo();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void HandleIo()
    {
        byte* data = _v.IoData;
        int size = _v.IoSize, count = _v.IoCount;
        ushort port = _v.IoPort;
        _ioPending = true;
        if (_v.IoIsOut)
        {
            for (int i = 0; i < count; i++, data += size)
                _bus.IoWrite(port, size, size == 1 ? *data : size == 2 ? *(ushort*)data : *(uint*)data);
        }
        else
        {
            for (int i = 0; i < count; i++, data += size)
            {
                uint v = _bus.IoRead(port, size);
                if (size == 1) *data = (byte)v;
                else if (size == 2) *(ushort*)data = (ushort)v;
                else *(uint*)data = v;
            }
        }
    }

    private void HandleMmio()
    {
        ulong gpa = _v.MmioAddress;
        int len = _v.MmioLength;
        byte* data = _v.MmioData;
        _ioPending = true;
        if (len is not (1 or 2 or 4 or 8))
        {
            // Odd sizes (rare emulator splits): byte by byte.
            for (int i = 0; i < len; i++) MmioAccess(gpa + (ulong)i, 1, data + i);
            return;
        }
        MmioAccess(gpa, len, data);
    }

    private void MmioAccess(ulong gpa, int len, byte* data)
    {
        var kind = _bus.LookupPage(gpa, out byte* host);
        if (_v.MmioIsWrite)
        {
            ulong value = len switch { 1 => *data, 2 => *(ushort*)data, 4 => *(uint*)data, _ => *(ulong*)data };
            switch (kind)
            {
                case PhysPageKind.Mmio: _bus.MmioWrite(gpa, len, value); break;
                case PhysPageKind.Ram: Buffer.MemoryCopy(data, host + (gpa & 0xFFF), len, len); break;   // slot not (yet) registered
                default: break;   // ROM and unassigned: writes are dropped, as on real hardware
            }
        }
        else
        {
            ulong value = kind switch
            {
                PhysPageKind.Mmio => _bus.MmioRead(gpa, len),
                PhysPageKind.Ram or PhysPageKind.Rom => len switch
                {
                    1 => host[gpa & 0xFFF], 2 => *(ushort*)(host + (gpa & 0xFFF)),
                    4 => *(uint*)(host + (gpa & 0xFFF)), _ => *(ulong*)(host + (gpa & 0xFFF)),
                },
                _ => ulong.MaxValue,
            };
            Buffer.MemoryCopy(&value, data, 8, len);
        }
    }

    private VcpuExitReason DebugExit(out ulong address)
    {
        address = _v.DebugPc;
        if (_v.DebugException == Xcpt.BP) return VcpuExitReason.Breakpoint;
        ulong dr6 = _v.DebugDr6;
        if ((dr6 & 0xF) != 0)
        {
            // Instruction breakpoints fault before the instruction: RF lets it run on resume. Data ones trap after it.
            if ((dr6 & ((1UL << _breakpointCount) - 1)) != 0) _resumeOverHwBreakpoint = true;
            LastDebugStatus = dr6;
            return VcpuExitReason.Breakpoint;
        }
        LastDebugStatus = dr6;
        // One instruction per request, as the interface (and IEM) define it.
        _singleStep = false;
        _debugDirty = true;
        return VcpuExitReason.SingleStep;
    }

    /// <summary>After a Breakpoint exit: the watchpoint whose debug register fired (DR6 B0-B3), if any.</summary>
    public bool TryGetWatchHit(out Dbgf.DebugWatchpoint hit)
    {
        hit = default;
        for (int slot = _breakpointCount; slot < _breakpointCount + _watchpointCount; slot++)
            if ((LastDebugStatus & (1UL << slot)) != 0) { hit = _watchpoints[slot - _breakpointCount]; return true; }
        return false;
    }

    /// <summary>DR6 of the last debug exit (which breakpoint or watchpoint hit: bits 0-3; single step: bit 14).</summary>
    public ulong LastDebugStatus { get; private set; }

    /// <summary>After an instruction breakpoint, RFLAGS.RF lets the instruction run once without hitting it again.</summary>
    private void StepOverHwBreakpoint()
    {
        _resumeOverHwBreakpoint = false;
        _v.GetRegs(out var r);
        r.Rflags |= RFlags.RF;
        _v.SetRegs(in r);
    }

    // ---- cross-thread ----

    public void SetInterruptLine(bool asserted)
    {
        if (!_userIrqchip) return;   // the in-kernel irqchip takes its lines through KvmIrqLine
        bool was = _intrLine;
        _intrLine = asserted;
        if (asserted && !was) { _wake.Set(); _v.Kick(); }
    }

    public void InjectNmi()
    {
        Interlocked.Increment(ref _nmiRequests);
        _wake.Set();
        _v.Kick();
    }

    public void RequestStop()
    {
        Interlocked.Exchange(ref _stopRequest, 1);
        _wake.Set();
        _v.Kick();
    }

    public bool WaitForWakeup(int timeoutMs)
    {
        if (_waitSipi)
        {
            if (Volatile.Read(ref _sipiVector) >= 0 || Volatile.Read(ref _stopRequest) != 0) return true;
            bool w = _wake.Wait(timeoutMs);
            _wake.Reset();
            return w;
        }
        if (Volatile.Read(ref _stopRequest) != 0 || Volatile.Read(ref _nmiRequests) != 0 || (_intrLine && _v.IfFlag)) return true;
        bool woke = _wake.Wait(timeoutMs);
        _wake.Reset();
        return woke;
    }

    // ---- state ----

    public void GetState(ref CpuContext c)
    {
        FinishIo();
        _v.GetRegs(out var r);
        _v.GetSregs(out var s);
        c.Gpr[0] = r.Rax; c.Gpr[1] = r.Rcx; c.Gpr[2] = r.Rdx; c.Gpr[3] = r.Rbx;
        c.Gpr[4] = r.Rsp; c.Gpr[5] = r.Rbp; c.Gpr[6] = r.Rsi; c.Gpr[7] = r.Rdi;
        c.Gpr[8] = r.R8; c.Gpr[9] = r.R9; c.Gpr[10] = r.R10; c.Gpr[11] = r.R11;
        c.Gpr[12] = r.R12; c.Gpr[13] = r.R13; c.Gpr[14] = r.R14; c.Gpr[15] = r.R15;
        c.Rip = r.Rip; c.Rflags = r.Rflags;
        c.Seg[SegIdx.ES] = FromKvm(s.Es); c.Seg[SegIdx.CS] = FromKvm(s.Cs); c.Seg[SegIdx.SS] = FromKvm(s.Ss);
        c.Seg[SegIdx.DS] = FromKvm(s.Ds); c.Seg[SegIdx.FS] = FromKvm(s.Fs); c.Seg[SegIdx.GS] = FromKvm(s.Gs);
        c.Ldtr = FromKvm(s.Ldt); c.Tr = FromKvm(s.Tr);
        c.Gdtr = new DescriptorTableRegister { Base = s.Gdt.Base, Limit = s.Gdt.Limit };
        c.Idtr = new DescriptorTableRegister { Base = s.Idt.Base, Limit = s.Idt.Limit };
        c.Cr0 = s.Cr0; c.Cr2 = s.Cr2; c.Cr3 = s.Cr3; c.Cr4 = s.Cr4; c.Efer = s.Efer; c.ApicBase = s.ApicBase;
        c.Cr8 = _userIrqchip ? _bus.ReadCr8(CpuIndex) : s.Cr8;

        _v.GetDebugRegs(out var d);
        for (int i = 0; i < 4; i++) c.Dr[i] = d.Db[i];
        c.Dr[4] = 0; c.Dr[5] = 0; c.Dr[6] = d.Dr6; c.Dr[7] = d.Dr7;

        if (_m.Kvm.CheckExtension(KvmIoctl.CapXcrs) != 0)
        {
            _v.GetXcrs(out var x);
            c.Xcr0 = 1;
            for (int i = 0; i < x.NrXcrs && i < 16; i++) if (x.Xcrs[i].Xcr == 0) c.Xcr0 = x.Xcrs[i].Value;
        }
        else c.Xcr0 = 1;

        Span<byte> xsave = stackalloc byte[4096];
        _v.GetXsave(xsave);
        xsave[..512].CopyTo(MemoryMarshal.AsBytes(new Span<FxSaveBytes>(ref c.Fx)));

        ReadMsrs(ref c);

        _v.GetVcpuEvents(out var ev);
        c.InterruptShadow = ev.InterruptShadow != 0;
        c.NmiBlocked = ev.NmiMasked != 0;
        c.NmiPending = ev.NmiPending != 0 || Volatile.Read(ref _nmiRequests) != 0;
        if (_userIrqchip)
        {
            c.Halted = _halted;
            c.WaitingForSipi = _waitSipi;
        }
        else
        {
            uint mp = _v.GetMpState();
            c.Halted = mp == KvmConst.MpStateHalted;
            c.WaitingForSipi = mp == KvmConst.MpStateInitReceived;
        }
    }

    private void ReadMsrs(ref CpuContext c)
    {
        var list = _m.StateMsrs;
        Span<ulong> values = stackalloc ulong[list.Length];
        int done = 0;
        while (done < list.Length)
        {
            int n = _v.GetMsrs(list[done..], values[done..]);
            done += n;
            if (done < list.Length) values[done++] = 0;   // KVM refused this one: it reads as zero
        }
        for (int i = 0; i < list.Length; i++) StoreMsr(ref c, list[i], values[i]);
    }

    private void StoreMsr(ref CpuContext c, uint msr, ulong v)
    {
        switch (msr)
        {
            case Msr.Tsc: c.TscOffset = (long)(v - _bus.ReadTsc()); break;
            case Msr.SysenterCs: c.SysenterCs = v; break;
            case Msr.SysenterEsp: c.SysenterEsp = v; break;
            case Msr.SysenterEip: c.SysenterEip = v; break;
            case Msr.Star: c.Star = v; break;
            case Msr.Lstar: c.Lstar = v; break;
            case Msr.Cstar: c.Cstar = v; break;
            case Msr.Sfmask: c.Sfmask = v; break;
            case Msr.KernelGsBase: c.KernelGsBase = v; break;
            case Msr.Pat: c.Pat = v; break;
            case Msr.TscAux: c.TscAux = v; break;
            case Msr.MiscEnable: c.MiscEnable = v; break;
            case Msr.FeatureControl: c.FeatureControl = v; break;
            case Msr.SpecCtrl: c.SpecCtrl = v; break;
            case Msr.MtrrDefType: c.MtrrDefType = v; break;
            case Msr.MtrrFix64K: c.MtrrFixed[0] = v; break;
            case Msr.MtrrFix16K80: c.MtrrFixed[1] = v; break;
            case Msr.MtrrFix16KA0: c.MtrrFixed[2] = v; break;
            case >= Msr.MtrrFix4KC0 and <= Msr.MtrrFix4KF8: c.MtrrFixed[3 + (int)(msr - Msr.MtrrFix4KC0)] = v; break;
            case >= Msr.MtrrPhysBase0 and <= Msr.MtrrPhysMask7: c.MtrrVar[(int)(msr - Msr.MtrrPhysBase0)] = v; break;
        }
    }

    private ulong LoadMsr(in CpuContext c, uint msr) => msr switch
    {
        Msr.Tsc => _bus.ReadTsc() + (ulong)c.TscOffset,
        Msr.SysenterCs => c.SysenterCs, Msr.SysenterEsp => c.SysenterEsp, Msr.SysenterEip => c.SysenterEip,
        Msr.Star => c.Star, Msr.Lstar => c.Lstar, Msr.Cstar => c.Cstar, Msr.Sfmask => c.Sfmask,
        Msr.KernelGsBase => c.KernelGsBase, Msr.Pat => c.Pat, Msr.TscAux => c.TscAux, Msr.MiscEnable => c.MiscEnable,
        Msr.FeatureControl => c.FeatureControl, Msr.SpecCtrl => c.SpecCtrl, Msr.MtrrDefType => c.MtrrDefType,
        Msr.MtrrFix64K => c.MtrrFixed[0], Msr.MtrrFix16K80 => c.MtrrFixed[1], Msr.MtrrFix16KA0 => c.MtrrFixed[2],
        >= Msr.MtrrFix4KC0 and <= Msr.MtrrFix4KF8 => c.MtrrFixed[3 + (int)(msr - Msr.MtrrFix4KC0)],
        >= Msr.MtrrPhysBase0 and <= Msr.MtrrPhysMask7 => c.MtrrVar[(int)(msr - Msr.MtrrPhysBase0)],
        _ => 0,
    };

    public void SetState(in CpuContext c)
    {
        Validate(in c);
        FinishIo();
        var s = new KvmSregs
        {
            Es = ToKvm(c.Seg[SegIdx.ES]), Cs = ToKvm(c.Seg[SegIdx.CS]), Ss = ToKvm(c.Seg[SegIdx.SS]),
            Ds = ToKvm(c.Seg[SegIdx.DS]), Fs = ToKvm(c.Seg[SegIdx.FS]), Gs = ToKvm(c.Seg[SegIdx.GS]),
            Ldt = ToKvm(c.Ldtr), Tr = ToKvm(c.Tr),
            Gdt = new KvmDtable { Base = c.Gdtr.Base, Limit = c.Gdtr.Limit },
            Idt = new KvmDtable { Base = c.Idtr.Base, Limit = c.Idtr.Limit },
            Cr0 = c.Cr0, Cr2 = c.Cr2, Cr3 = c.Cr3, Cr4 = c.Cr4, Cr8 = c.Cr8, Efer = c.Efer, ApicBase = c.ApicBase,
        };
        _v.SetSregs(in s);
        var r = new KvmRegs
        {
            Rax = c.Gpr[0], Rcx = c.Gpr[1], Rdx = c.Gpr[2], Rbx = c.Gpr[3], Rsp = c.Gpr[4], Rbp = c.Gpr[5],
            Rsi = c.Gpr[6], Rdi = c.Gpr[7], R8 = c.Gpr[8], R9 = c.Gpr[9], R10 = c.Gpr[10], R11 = c.Gpr[11],
            R12 = c.Gpr[12], R13 = c.Gpr[13], R14 = c.Gpr[14], R15 = c.Gpr[15], Rip = c.Rip, Rflags = c.Rflags | RFlags.Fixed1,
        };
        _v.SetRegs(in r);
        if (_userIrqchip) { _bus.WriteCr8(CpuIndex, c.Cr8); _lastCr8 = c.Cr8; _v.Cr8 = c.Cr8; }

        if (_m.Kvm.CheckExtension(KvmIoctl.CapXcrs) != 0)
        {
            var x = new KvmXcrs { NrXcrs = 1 };
            x.Xcrs[0] = new KvmXcr { Xcr = 0, Value = c.Xcr0 | 1 };
            _v.SetXcrs(in x);
        }

        // The legacy area carries x87/SSE; XSTATE_BV (header at 512) says both components are present.
        Span<byte> xsave = stackalloc byte[4096];
        xsave.Clear();
        MemoryMarshal.AsBytes(new ReadOnlySpan<FxSaveBytes>(in c.Fx)).CopyTo(xsave);
        xsave[512] = 3;
        _v.SetXsave(xsave);

        var d = new KvmDebugRegs { Dr6 = c.Dr[6], Dr7 = c.Dr[7] };
        for (int i = 0; i < 4; i++) d.Db[i] = c.Dr[i];
        _v.SetDebugRegs(in d);

        var list = _m.StateMsrs;
        Span<ulong> values = stackalloc ulong[list.Length];
        for (int i = 0; i < list.Length; i++) values[i] = LoadMsr(in c, list[i]);
        int done = 0;
        while (done < list.Length)
        {
            done += _v.SetMsrs(list[done..], values[done..]);
            if (done < list.Length) done++;   // a value this host's KVM refuses (e.g. an MSR it does not emulate): skip it
        }

        _v.GetVcpuEvents(out var ev);
        ev.InterruptShadow = c.InterruptShadow ? (byte)1 : (byte)0;
        ev.NmiMasked = c.NmiBlocked ? (byte)1 : (byte)0;
        ev.NmiPending = c.NmiPending ? (byte)1 : (byte)0;
        ev.NmiInjected = 0;
        ev.ExceptionInjected = 0; ev.ExceptionPending = 0; ev.InterruptInjected = 0;
        ev.Flags = KvmConst.VcpuEventValidNmiPending | KvmConst.VcpuEventValidShadow;
        _v.SetVcpuEvents(in ev);

        _halted = c.Halted;
        _waitSipi = c.WaitingForSipi;
        if (!_userIrqchip)
            _v.SetMpState(c.WaitingForSipi ? KvmConst.MpStateInitReceived : c.Halted ? KvmConst.MpStateHalted : KvmConst.MpStateRunnable);
    }

    private static void Validate(in CpuContext c)
    {
        if ((c.Cr0 & Cpum.Cr0.PG) != 0 && (c.Cr0 & Cpum.Cr0.PE) == 0)
            throw new ArgumentException("CR0.PG set without CR0.PE", nameof(c));
        if ((c.Efer & Cpum.Efer.LMA) != 0 && ((c.Cr0 & Cpum.Cr0.PG) == 0 || (c.Cr4 & Cpum.Cr4.PAE) == 0))
            throw new ArgumentException("EFER.LMA set without CR0.PG and CR4.PAE", nameof(c));
        var cs = c.Seg[SegIdx.CS];
        if ((cs.Attributes & SegAttr.L) != 0 && (cs.Attributes & SegAttr.DB) != 0 && (c.Efer & Cpum.Efer.LMA) != 0)
            throw new ArgumentException("CS has both L and D set", nameof(c));
    }

    internal static SegmentRegister FromKvm(in KvmSegment s)
    {
        uint a = (uint)(s.Type & 0xF) | (uint)(s.S & 1) << 4 | (uint)(s.Dpl & 3) << 5 | (uint)(s.Present & 1) << 7
            | (uint)(s.Avl & 1) << 12 | (uint)(s.L & 1) << 13 | (uint)(s.Db & 1) << 14 | (uint)(s.G & 1) << 15
            | (s.Unusable != 0 ? SegAttr.Unusable : 0);
        return new SegmentRegister(s.Selector, s.Base, s.Limit, a);
    }

    internal static KvmSegment ToKvm(in SegmentRegister r)
    {
        uint a = r.Attributes;
        return new KvmSegment
        {
            Base = r.Base, Limit = r.Limit, Selector = r.Selector,
            Type = (byte)(a & 0xF), S = (byte)((a >> 4) & 1), Dpl = (byte)((a >> 5) & 3), Present = (byte)((a >> 7) & 1),
            Avl = (byte)((a >> 12) & 1), L = (byte)((a >> 13) & 1), Db = (byte)((a >> 14) & 1), G = (byte)((a >> 15) & 1),
            Unusable = (a & SegAttr.Unusable) != 0 ? (byte)1 : (byte)0,
        };
    }

    public void Reset()
    {
        var c = CpuContext.PowerOn();
        c.Gpr[2] = Model.Signature;
        c.ApicBase = 0xFEE00000 | (1u << 11) | (CpuIndex == 0 ? 1u << 8 : 0);
        c.Halted = CpuIndex != 0;   // APs wait for a startup IPI, as IemMachine.ApsStartHalted does on a PC
        c.WaitingForSipi = CpuIndex != 0;
        Interlocked.Exchange(ref _nmiRequests, 0);
        Volatile.Write(ref _sipiVector, -1);
        SetState(in c);
    }

    private volatile bool _waitSipi;
    private int _sipiVector = -1;

    public bool WaitingForSipi => _userIrqchip ? _waitSipi : _v.GetMpState() == KvmConst.MpStateInitReceived;

    /// <summary>INIT: the power-on state, keeping MTRRs, PAT and the APIC base (SDM 9.1.1).</summary>
    public void Init()
    {
        var old = new CpuContext();
        GetState(ref old);
        Reset();
        var c = new CpuContext();
        GetState(ref c);
        c.MtrrFixed = old.MtrrFixed; c.MtrrVar = old.MtrrVar; c.MtrrDefType = old.MtrrDefType;
        c.Pat = old.Pat; c.ApicBase = old.ApicBase;
        SetState(in c);
    }

    /// <summary>Startup IPI: taken by the vCPU's own thread at its next Run (any thread may call this).</summary>
    public void Sipi(byte vector)
    {
        if (!_waitSipi) return;
        Volatile.Write(ref _sipiVector, vector);
        _wake.Set();
        _v.Kick();
    }

    private bool TakeSipi()
    {
        int v = Interlocked.Exchange(ref _sipiVector, -1);
        if (v < 0) return false;
        _waitSipi = false;
        _halted = false;
        _v.GetSregs(out var s);
        s.Cs = ToKvm(new SegmentRegister((ushort)(v << 8), (ulong)v << 12, 0xFFFF,
            SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.CodeReadable | SegAttr.Accessed));
        _v.SetSregs(in s);
        _v.GetRegs(out var r);
        r.Rip = 0;
        _v.SetRegs(in r);
        return true;
    }

    /// <summary>KVM holds no per-vCPU translations of its own: the machine re-registers memory slots (<see cref="HmMachine.SetMemoryMap"/>).</summary>
    public void NotifyMemoryMapChanged() { }

    /// <summary>
    /// KVM has no A20 mask (guest-physical addresses go straight to the memory slots), as with QEMU on
    /// KVM: the gate is recorded for the debugger but addresses are never wrapped at 1 MiB.
    /// </summary>
    public void SetA20(bool enabled) => A20 = enabled;

    public bool A20 { get; private set; } = true;

    // ---- debugging ----

    public bool DebugSingleStep
    {
        get => _singleStep;
        set { if (_singleStep != value) { _singleStep = value; _debugDirty = true; } }
    }

    private readonly ulong[] _breakpoints = new ulong[4];
    private int _breakpointCount;
    private readonly Dbgf.DebugWatchpoint[] _watchpoints = new Dbgf.DebugWatchpoint[4];
    private int _watchpointCount;

    /// <summary>The debug registers give four slots, shared by breakpoints and watchpoints.</summary>
    public int MaxHardwareDebugPoints => 4;

    public void SetDebugBreakpoints(ReadOnlySpan<ulong> linearAddresses)
    {
        if (linearAddresses.Length + _watchpointCount > 4)
            throw new ArgumentException($"the KVM engine has 4 hardware debug slots; {linearAddresses.Length} breakpoints and {_watchpointCount} watchpoints do not fit");
        linearAddresses.CopyTo(_breakpoints);
        _breakpointCount = linearAddresses.Length;
        _debugDirty = true;
    }

    /// <summary>Free debug registers for watchpoints; 0 where the host does not deliver data breakpoints (kvm-pvm).</summary>
    public int MaxWatchpoints => KvmProbe.Probe(_m.Options.DevicePath).DataBreakpoints ? 4 - _breakpointCount : 0;

    /// <summary>Data watchpoints in the debug registers (length 1, 2, 4 or 8; write, or read/write for read and access).</summary>
    public void SetDebugWatchpoints(ReadOnlySpan<Dbgf.DebugWatchpoint> watchpoints)
    {
        if (watchpoints.Length > 0 && !KvmProbe.Probe(_m.Options.DevicePath).DataBreakpoints)
            throw new ArgumentException("this host's KVM does not deliver data breakpoints");
        if (watchpoints.Length + _breakpointCount > 4)
            throw new ArgumentException($"the KVM engine has 4 hardware debug slots; {_breakpointCount} breakpoints and {watchpoints.Length} watchpoints do not fit");
        foreach (var w in watchpoints)
            if (w.Length is not (1 or 2 or 4 or 8) || (w.Address & (ulong)(w.Length - 1)) != 0)
                throw new ArgumentException($"watchpoint at {w.Address:X} length {w.Length}: the debug registers need an aligned length of 1, 2, 4 or 8");
        watchpoints.CopyTo(_watchpoints);
        _watchpointCount = watchpoints.Length;
        _debugDirty = true;
    }

    private void ApplyDebug()
    {
        _debugDirty = false;
        var d = new KvmGuestDebug();
        ulong dr7 = 0;
        int slot = 0;
        for (int i = 0; i < _breakpointCount; i++, slot++)
        {
            d.DebugReg[slot] = _breakpoints[i];
            dr7 |= 2UL << (slot * 2);                      // global enable, execute (R/W=00, LEN=00)
        }
        for (int i = 0; i < _watchpointCount; i++, slot++)
        {
            var w = _watchpoints[i];
            d.DebugReg[slot] = w.Address;
            ulong rw = w.Kind == Dbgf.DebugWatchKind.Write ? 1UL : 3UL;   // x86 has no read-only watch: read/write
            ulong len = w.Length switch { 1 => 0UL, 2 => 1UL, 8 => 2UL, _ => 3UL };
            dr7 |= 2UL << (slot * 2) | (rw | len << 2) << (16 + slot * 4);
        }
        if (slot > 0) dr7 |= 0x600;                        // GE + reserved bit 10
        d.DebugReg[7] = dr7;
        if (slot > 0 || _singleStep)
            d.Control = KvmConst.GuestDbgEnable | (slot > 0 ? KvmConst.GuestDbgUseHwBp : 0) | (_singleStep ? KvmConst.GuestDbgSingleStep : 0);
        _debug = d;
        _v.SetGuestDebug(in _debug);
    }

    /// <summary>A short register summary for logs.</summary>
    public void CollectStatistics(List<(string Name, long Value, string Unit, string Description)> into)
    {
        string p = $"/HM/CPU{CpuIndex}/";
        into.Add((p + "Exits", Volatile.Read(ref _exits), "times", "KVM_RUN returns"));
        into.Add((p + "ExitIo", Volatile.Read(ref _ioExits), "times", "port I/O exits (KVM_EXIT_IO)"));
        into.Add((p + "ExitMmio", Volatile.Read(ref _mmioExits), "times", "MMIO exits (KVM_EXIT_MMIO)"));
        into.Add((p + "ExitMsr", Volatile.Read(ref _msrExits), "times", "MSR accesses served in user space"));
        into.Add((p + "ExitHlt", Volatile.Read(ref _hltExits), "times", "HLT exits"));
        into.Add((p + "InjectedInterrupts", Volatile.Read(ref _injected), "times", "vectors injected with KVM_INTERRUPT"));
    }

    public string Describe()
    {
        var c = new CpuContext();
        GetState(ref c);
        return $"RIP={c.Rip:X16} RFLAGS={c.Rflags:X8} CS={c.Seg[SegIdx.CS].Selector:X4} CR0={c.Cr0:X8} CR3={c.Cr3:X} EFER={c.Efer:X}";
    }

    public void Dispose()
    {
        _eventCpu?.Dispose();
        _v.Dispose();
        _wake.Dispose();
        _m.Forget(this);
    }
}

