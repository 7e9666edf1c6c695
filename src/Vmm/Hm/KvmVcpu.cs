using System.Runtime.Versioning;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SharpBox.Runtime.Linux;

namespace SharpBox.Vmm.Hm;

/// <summary>
/// One KVM vCPU: KVM_RUN with the exit read in place from the shared kvm_run page (no copy, no
/// allocation per exit), the state ioctls, event injection, guest debugging and a race-free kick
/// from other threads. All methods except <see cref="Kick"/> belong to the thread that runs the vCPU
/// (or to anyone while it is known not to run).
/// </summary>
[SupportedOSPlatform("linux")]
public sealed unsafe class KvmVcpu : IDisposable
{
    private int _fd;
    private byte* _run;
    private readonly int _runSize;
    private byte* _scratch;                 // variable-length ioctl arguments (MSRs, CPUID, XSAVE)
    private const int ScratchSize = 16384;
    private int _tid;                       // the thread inside KVM_RUN (for kicks)
    private int _inRun;                     // 1 while the vCPU thread is in (or about to enter) KVM_RUN

    public KvmVm Vm { get; }
    public int Id { get; }
    public int Fd => _fd;

    internal KvmVcpu(KvmVm vm, int id, int fd, byte* run, int runSize)
    {
        Vm = vm; Id = id; _fd = fd; _run = run; _runSize = runSize;
        _scratch = (byte*)NativeMemory.AlignedAlloc(ScratchSize, 64);
    }

    // ---- running ----

    /// <summary>
    /// Enters the guest until the next exit and returns the exit reason (<see cref="KvmExit"/>).
    /// A kick, a signal or an immediate exit return <see cref="KvmExit.Intr"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint Run()
    {
        _tid = CurrentTid;
        Interlocked.Exchange(ref _inRun, 1);    // full fence: a kicker either sees us here or we see its immediate_exit
        int r = KvmNative.Ioctl(_fd, KvmIoctl.Run, 0);
        Volatile.Write(ref _inRun, 0);
        if (r == 0) return *(uint*)(_run + KvmConst.RunExitReason);
        return RunFailed();
    }

    private uint RunFailed()
    {
        int e = Marshal.GetLastPInvokeError();
        if (e == KvmNative.EINTR || e == KvmNative.EAGAIN) return KvmExit.Intr;
        throw new KvmException($"KVM_RUN (vCPU {Id})", e);
    }

    [ThreadStatic] private static int t_tid;
    private static int CurrentTid => t_tid != 0 ? t_tid : (t_tid = KvmNative.GetTid());

    /// <summary>
    /// Makes the current or next KVM_RUN of this vCPU return <see cref="KvmExit.Intr"/> soon (any
    /// thread). The vCPU thread calls <see cref="ClearKick"/> once it has acted on the reason for the kick.
    /// </summary>
    public void Kick()
    {
        Volatile.Write(ref _run[KvmConst.RunImmediateExit], 1);
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _inRun) != 0) KvmKick.Send(_tid);
    }

    /// <summary>True while a kick is latched (the next KVM_RUN returns at once).</summary>
    public bool KickPending => Volatile.Read(ref _run[KvmConst.RunImmediateExit]) != 0;

    public void ClearKick() => Volatile.Write(ref _run[KvmConst.RunImmediateExit], 0);

    /// <summary>
    /// Lets KVM finish an instruction that exited for port or MMIO input (the data is already in the
    /// run page) without running further guest code: needed before reading state after such an exit.
    /// </summary>
    public void CompletePendingIo()
    {
        byte old = _run[KvmConst.RunImmediateExit];
        _run[KvmConst.RunImmediateExit] = 1;
        int r = KvmNative.Ioctl(_fd, KvmIoctl.Run, 0);
        if (r != 0)
        {
            int e = Marshal.GetLastPInvokeError();
            if (e != KvmNative.EINTR) { _run[KvmConst.RunImmediateExit] = old; throw new KvmException($"KVM_RUN (completing I/O, vCPU {Id})", e); }
        }
        _run[KvmConst.RunImmediateExit] = old;
    }

    // ---- the kvm_run page, read in place ----

    public uint ExitReason => *(uint*)(_run + KvmConst.RunExitReason);
    public bool RequestInterruptWindow
    {
        get => _run[KvmConst.RunRequestInterruptWindow] != 0;
        set => _run[KvmConst.RunRequestInterruptWindow] = value ? (byte)1 : (byte)0;
    }
    /// <summary>The guest can take an external interrupt now (IF set, no shadow, nothing injected yet).</summary>
    public bool ReadyForInterruptInjection => _run[KvmConst.RunReadyForInjection] != 0;
    public bool IfFlag => _run[KvmConst.RunIfFlag] != 0;
    public ulong Cr8 { get => *(ulong*)(_run + KvmConst.RunCr8); set => *(ulong*)(_run + KvmConst.RunCr8) = value; }
    public ulong ApicBase => *(ulong*)(_run + KvmConst.RunApicBase);

    public bool IoIsOut => _run[KvmConst.RunIoDirection] == KvmExit.IoOut;
    public int IoSize => _run[KvmConst.RunIoSize];
    public ushort IoPort => *(ushort*)(_run + KvmConst.RunIoPort);
    /// <summary>Repeat count (string I/O with REP): the data area holds Count × Size bytes.</summary>
    public int IoCount => (int)*(uint*)(_run + KvmConst.RunIoCount);
    public byte* IoData => _run + *(ulong*)(_run + KvmConst.RunIoDataOffset);

    public ulong MmioAddress => *(ulong*)(_run + KvmConst.RunMmioAddr);
    public byte* MmioData => _run + KvmConst.RunMmioData;
    public int MmioLength => (int)*(uint*)(_run + KvmConst.RunMmioLen);
    public bool MmioIsWrite => _run[KvmConst.RunMmioIsWrite] != 0;

    public int DebugException => (int)*(uint*)(_run + KvmConst.RunDebugException);
    public ulong DebugPc => *(ulong*)(_run + KvmConst.RunDebugPc);
    public ulong DebugDr6 => *(ulong*)(_run + KvmConst.RunDebugDr6);
    public ulong DebugDr7 => *(ulong*)(_run + KvmConst.RunDebugDr7);

    public ulong FailEntryReason => *(ulong*)(_run + KvmConst.RunFailEntryReason);
    public uint InternalSuberror => *(uint*)(_run + KvmConst.RunInternalSuberror);
    public uint InternalNdata => *(uint*)(_run + KvmConst.RunInternalNdata);
    public ulong InternalData(int i) => *(ulong*)(_run + KvmConst.RunInternalData + 8 * i);
    public uint SystemEventType => *(uint*)(_run + KvmConst.RunSystemEventType);

    public uint MsrIndex => *(uint*)(_run + KvmConst.RunMsrIndex);
    public ref ulong MsrData => ref *(ulong*)(_run + KvmConst.RunMsrData);
    /// <summary>Set to 1 to make the guest's RDMSR/WRMSR raise #GP.</summary>
    public ref byte MsrError => ref *(_run + KvmConst.RunMsrError);

    /// <summary>A human-readable account of an exit KVM could not handle (for the log and error reports).</summary>
    public string DescribeExit()
    {
        uint reason = ExitReason;
        return reason switch
        {
            KvmExit.FailEntry => $"FAIL_ENTRY: hardware entry failure reason 0x{FailEntryReason:X}",
            KvmExit.InternalError => DescribeInternal(),
            KvmExit.SystemEvent => $"SYSTEM_EVENT type {SystemEventType}",
            KvmExit.Debug => $"DEBUG: exception {DebugException} at {DebugPc:X} (DR6 {DebugDr6:X})",
            KvmExit.Io => $"IO: {(IoIsOut ? "out" : "in")} port {IoPort:X4} size {IoSize} count {IoCount}",
            KvmExit.Mmio => $"MMIO: {(MmioIsWrite ? "write" : "read")} {MmioAddress:X} len {MmioLength}",
            _ => KvmExit.Name(reason),
        };
    }

    private string DescribeInternal()
    {
        uint sub = InternalSuberror;
        string what = sub switch
        {
            1 => "emulation failure",
            2 => "exception while delivering an exception (simultaneous exceptions)",
            3 => "exit during event delivery",
            4 => "unexpected exit reason",
            _ => $"suberror {sub}",
        };
        uint n = Math.Min(InternalNdata, 16u);
        // Emulation failures with flag bit 0 carry the instruction: data[1] low byte = length, then the bytes.
        if (sub == 1 && n >= 2 && (InternalData(0) & 1) != 0)
        {
            byte* b = _run + KvmConst.RunInternalData + 8;
            int len = Math.Min((int)b[0], 15);
            var bytes = new System.Text.StringBuilder();
            for (int i = 0; i < len; i++) bytes.Append(i == 0 ? "" : " ").Append(b[1 + i].ToString("X2"));
            return $"INTERNAL_ERROR: {what} at the instruction bytes {bytes}";
        }
        var data = new System.Text.StringBuilder();
        for (int i = 0; i < n; i++) data.Append(i == 0 ? " data:" : "").Append(' ').Append(InternalData(i).ToString("X"));
        return $"INTERNAL_ERROR: {what}{data}";
    }

    // ---- state ----

    private void Io(nuint request, void* arg, string what)
    {
        if (KvmNative.Ioctl(_fd, request, (nint)arg) != 0)
            throw new KvmException($"{what} (vCPU {Id})", Marshal.GetLastPInvokeError());
    }

    public void GetRegs(out KvmRegs r) { fixed (KvmRegs* p = &r) Io(KvmIoctl.GetRegs, p, "KVM_GET_REGS"); }
    public void SetRegs(in KvmRegs r) { fixed (KvmRegs* p = &r) Io(KvmIoctl.SetRegs, p, "KVM_SET_REGS"); }
    public void GetSregs(out KvmSregs s) { fixed (KvmSregs* p = &s) Io(KvmIoctl.GetSregs, p, "KVM_GET_SREGS"); }
    public void SetSregs(in KvmSregs s) { fixed (KvmSregs* p = &s) Io(KvmIoctl.SetSregs, p, "KVM_SET_SREGS"); }
    public void GetFpu(out KvmFpu f) { fixed (KvmFpu* p = &f) Io(KvmIoctl.GetFpu, p, "KVM_GET_FPU"); }
    public void SetFpu(in KvmFpu f) { fixed (KvmFpu* p = &f) Io(KvmIoctl.SetFpu, p, "KVM_SET_FPU"); }
    public void GetVcpuEvents(out KvmVcpuEvents e) { fixed (KvmVcpuEvents* p = &e) Io(KvmIoctl.GetVcpuEvents, p, "KVM_GET_VCPU_EVENTS"); }
    public void SetVcpuEvents(in KvmVcpuEvents e) { fixed (KvmVcpuEvents* p = &e) Io(KvmIoctl.SetVcpuEvents, p, "KVM_SET_VCPU_EVENTS"); }
    public void GetDebugRegs(out KvmDebugRegs d) { fixed (KvmDebugRegs* p = &d) Io(KvmIoctl.GetDebugRegs, p, "KVM_GET_DEBUGREGS"); }
    public void SetDebugRegs(in KvmDebugRegs d) { fixed (KvmDebugRegs* p = &d) Io(KvmIoctl.SetDebugRegs, p, "KVM_SET_DEBUGREGS"); }
    public void GetXcrs(out KvmXcrs x) { fixed (KvmXcrs* p = &x) Io(KvmIoctl.GetXcrs, p, "KVM_GET_XCRS"); }
    public void SetXcrs(in KvmXcrs x) { fixed (KvmXcrs* p = &x) Io(KvmIoctl.SetXcrs, p, "KVM_SET_XCRS"); }
    /// <summary>The in-kernel local APIC's register page (needs the in-kernel irqchip).</summary>
    public void GetLapic(out KvmLapicState l) { fixed (KvmLapicState* p = &l) Io(KvmIoctl.GetLapic, p, "KVM_GET_LAPIC"); }
    public void SetLapic(in KvmLapicState l) { fixed (KvmLapicState* p = &l) Io(KvmIoctl.SetLapic, p, "KVM_SET_LAPIC"); }

    /// <summary>The XSAVE image (4096 bytes: legacy FXSAVE area, header, extended components).</summary>
    public void GetXsave(Span<byte> dest)
    {
        if (dest.Length < 4096) throw new ArgumentException("XSAVE buffer must hold 4096 bytes", nameof(dest));
        Io(KvmIoctl.GetXsave, _scratch, "KVM_GET_XSAVE");
        new ReadOnlySpan<byte>(_scratch, 4096).CopyTo(dest);
    }

    public void SetXsave(ReadOnlySpan<byte> src)
    {
        if (src.Length < 4096) throw new ArgumentException("XSAVE buffer must hold 4096 bytes", nameof(src));
        src[..4096].CopyTo(new Span<byte>(_scratch, 4096));
        Io(KvmIoctl.SetXsave, _scratch, "KVM_SET_XSAVE");
    }

    public uint GetMpState()
    {
        uint s;
        Io(KvmIoctl.GetMpState, &s, "KVM_GET_MP_STATE");
        return s;
    }

    public void SetMpState(uint state) => Io(KvmIoctl.SetMpState, &state, "KVM_SET_MP_STATE");

    /// <summary>Reads MSRs; returns how many were read (KVM stops at the first it does not know).</summary>
    public int GetMsrs(ReadOnlySpan<uint> indices, Span<ulong> values)
    {
        int n = PrepareMsrs(indices, default);
        int r = KvmNative.Ioctl(_fd, KvmIoctl.GetMsrs, (nint)_scratch);
        if (r < 0) throw new KvmException($"KVM_GET_MSRS (vCPU {Id})", Marshal.GetLastPInvokeError());
        var e = (KvmMsrEntry*)(_scratch + 8);
        for (int i = 0; i < r; i++) values[i] = e[i].Data;
        return r;
    }

    /// <summary>Writes MSRs; returns how many were written (KVM stops at the first it refuses).</summary>
    public int SetMsrs(ReadOnlySpan<uint> indices, ReadOnlySpan<ulong> values)
    {
        PrepareMsrs(indices, values);
        int r = KvmNative.Ioctl(_fd, KvmIoctl.SetMsrs, (nint)_scratch);
        if (r < 0) throw new KvmException($"KVM_SET_MSRS (vCPU {Id})", Marshal.GetLastPInvokeError());
        return r;
    }

    private int PrepareMsrs(ReadOnlySpan<uint> indices, ReadOnlySpan<ulong> values)
    {
        int n = indices.Length;
        if (8 + n * sizeof(KvmMsrEntry) > ScratchSize) throw new ArgumentException($"KVM: too many MSRs in one call ({n})");
        *(uint*)_scratch = (uint)n;
        *(uint*)(_scratch + 4) = 0;
        var e = (KvmMsrEntry*)(_scratch + 8);
        for (int i = 0; i < n; i++) e[i] = new KvmMsrEntry { Index = indices[i], Data = values.IsEmpty ? 0 : values[i] };
        return n;
    }

    /// <summary>KVM_SET_CPUID2: the CPUID the guest sees (must be set before the first KVM_RUN).</summary>
    public void SetCpuid(ReadOnlySpan<KvmCpuidEntry2> entries)
    {
        if (8 + entries.Length * sizeof(KvmCpuidEntry2) > ScratchSize) throw new ArgumentException($"KVM: too many CPUID entries ({entries.Length})");
        *(uint*)_scratch = (uint)entries.Length;
        *(uint*)(_scratch + 4) = 0;
        entries.CopyTo(new Span<KvmCpuidEntry2>(_scratch + 8, entries.Length));
        Io(KvmIoctl.SetCpuid2, _scratch, "KVM_SET_CPUID2");
    }

    /// <summary>Queues external interrupt <paramref name="vector"/> (user-space interrupt controller only; the guest must be ready).</summary>
    public void Interrupt(int vector)
    {
        uint v = (uint)vector;
        Io(KvmIoctl.Interrupt, &v, "KVM_INTERRUPT");
    }

    public void Nmi() => Io(KvmIoctl.Nmi, null, "KVM_NMI");

    /// <summary>KVM_SET_GUEST_DEBUG: single step, software (INT3) and hardware (DR0-3) breakpoints owned by the host debugger.</summary>
    public void SetGuestDebug(in KvmGuestDebug d) { fixed (KvmGuestDebug* p = &d) Io(KvmIoctl.SetGuestDebug, p, "KVM_SET_GUEST_DEBUG"); }

    /// <summary>KVM_TRANSLATE: linear to guest-physical through the vCPU's current paging mode.</summary>
    public bool Translate(ulong linear, out ulong physical, out bool writable)
    {
        var t = new KvmTranslation { LinearAddress = linear };
        Io(KvmIoctl.Translate, &t, "KVM_TRANSLATE");
        physical = t.PhysicalAddress;
        writable = t.Writeable != 0;
        return t.Valid != 0;
    }

    public void Dispose()
    {
        if (_run != null) { KvmNative.Munmap((nint)_run, (nuint)_runSize); _run = null; }
        if (_fd >= 0) { KvmNative.Close(_fd); _fd = -1; }
        if (_scratch != null) { NativeMemory.AlignedFree(_scratch); _scratch = null; }
        Vm.Forget(this);
    }
}
