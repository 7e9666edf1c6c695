using System.Runtime.InteropServices;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Pdm;
using SharpBox.Vmm.Ssm;

namespace SharpBox.Vmm.Em;

/// <summary>What a vCPU thread is doing between engine runs.</summary>
public enum VcpuMode { Running = 0, Halted = 1, WaitForSipi = 2, Stopped = 3 }

/// <summary>
/// EM: one host thread per vCPU running its engine (whichever it is), sleeping in HLT until an interrupt,
/// NMI or INIT wakes it, holding application processors in wait-for-SIPI, and parking every vCPU at a
/// safe point when the VM pauses (for save, reset, power-off). It is also the VM's <see cref="ICpuSignals"/>:
/// interrupt controllers reach the CPUs only through it, and it keeps each CPU's INTR line equal to
/// "the interrupt controller has something deliverable for this CPU".
/// </summary>
public sealed class ExecutionManager : ICpuSignals, IDisposable
{
    private sealed class Vcpu
    {
        public required IVirtualCpu Cpu;
        public Thread? Thread;
        public volatile VcpuMode Mode;
        public readonly ManualResetEventSlim Wake = new(false);
        public volatile bool InitPending;
        public volatile int SipiVector = -1;
        public volatile bool Parked;
        public volatile bool A20Wanted = true;
        public bool A20Applied = true;
        public long Runs, Halts, Instructions;
    }

    private readonly Vcpu[] _cpus;
    private readonly Action<VmRequest> _post;
    private readonly VmLog _log;
    private readonly PdmManager _pdm;
    private readonly ManualResetEventSlim _resume = new(false);
    private readonly object _parkLock = new();
    private volatile bool _pause = true, _terminate;

    public IExecutionEngine Engine { get; }
    public int CpuCount => _cpus.Length;

    internal ExecutionManager(IExecutionEngine engine, int cpuCount, PdmManager pdm, PlatformBus bus, Action<VmRequest> post, VmLog log)
    {
        Engine = engine;
        _pdm = pdm;
        _post = post;
        _log = log;
        _cpus = new Vcpu[cpuCount];
        for (int i = 0; i < cpuCount; i++)
            _cpus[i] = new Vcpu { Cpu = engine.CreateCpu(i), Mode = i == 0 ? VcpuMode.Running : VcpuMode.WaitForSipi };
        bus.UpdateInterruptLine = UpdateInterruptLine;
    }

    public IVirtualCpu Cpu(int i) => _cpus[i].Cpu;

    /// <summary>Set by DBGF: a vCPU stopped at a debugger breakpoint or single step (EM is parking every vCPU).</summary>
    public Action<int, VcpuExit>? DebugExit { get; set; }
    public VcpuMode ModeOf(int i) => _cpus[i].Mode;

    /// <summary>Creates the vCPU threads, parked until <see cref="ResumeAll"/>.</summary>
    public void Start()
    {
        foreach (var v in _cpus)
        {
            var vc = v;
            v.Thread = new Thread(() => Loop(vc)) { Name = $"EMT-{v.Cpu.CpuIndex}", IsBackground = true };
            v.Thread.Start();
        }
        WaitParked();
    }

    /// <summary>CPU 0 starts from <paramref name="boot"/>, the others wait for a startup IPI (power-on and reset).</summary>
    public void SetBootState(BootCpuState boot)
    {
        for (int i = 0; i < _cpus.Length; i++)
        {
            var v = _cpus[i];
            v.InitPending = false;
            v.SipiVector = -1;
            v.Cpu.Reset();
            if (i == 0 || boot.FirmwareMtrrHole != 0)
            {
                var ctx = new CpuContext();
                v.Cpu.GetState(ref ctx);
                if (i == 0) boot.ApplyTo(ref ctx);
                // Direct boot stands in for the BIOS, which programs every CPU's MTRRs alike.
                if (boot.FirmwareMtrrHole != 0) BootCpuState.ApplyFirmwareMtrrs(ref ctx, boot.FirmwareMtrrHole, v.Cpu.Model.PhysAddrBits);
                v.Cpu.SetState(in ctx);
            }
            v.Mode = i == 0 ? VcpuMode.Running : VcpuMode.WaitForSipi;
        }
    }

    /// <summary>
    /// The platform changed the memory map or the A20 gate (any thread). Map changes reach the engine
    /// through its cross-thread notification; an A20 change is applied by each vCPU's own thread before
    /// its next instruction (the vCPU is stopped for that), since an engine's A20 switch is not thread-safe.
    /// </summary>
    public void NotifyMemoryMapChanged(bool a20)
    {
        foreach (var v in _cpus)
        {
            v.Cpu.NotifyMemoryMapChanged();
            if (v.A20Wanted != a20) { v.A20Wanted = a20; v.Cpu.RequestStop(); }
        }
    }

    // ---- pause / resume (controller thread) ----

    /// <summary>Stops every vCPU at an instruction boundary and waits until all are parked.</summary>
    public void PauseAll()
    {
        _resume.Reset();
        _pause = true;
        foreach (var v in _cpus) { v.Cpu.RequestStop(); v.Wake.Set(); }
        WaitParked();
    }

    private void WaitParked()
    {
        lock (_parkLock)
            while (!AllParked()) Monitor.Wait(_parkLock, 100);
    }

    private bool AllParked()
    {
        foreach (var v in _cpus)
            if (!v.Parked && v.Thread is { IsAlive: true }) return false;
        return true;
    }

    public void ResumeAll()
    {
        _pause = false;
        _resume.Set();
    }

    // ---- the vCPU thread ----

    private void Loop(Vcpu v)
    {
        PlatformBus.CurrentCpu = v.Cpu.CpuIndex;
        while (!_terminate)
        {
            if (_pause) { Park(v); continue; }
            if (v.InitPending) { HandleInit(v); continue; }
            switch (v.Mode)
            {
                case VcpuMode.WaitForSipi:
                    {
                        int vector = v.SipiVector;
                        if (vector >= 0)
                        {
                            v.SipiVector = -1;
                            StartAp(v, (byte)vector);
                            continue;
                        }
                        v.Wake.Wait();
                        v.Wake.Reset();
                        continue;
                    }
                case VcpuMode.Stopped:
                    v.Wake.Wait();
                    v.Wake.Reset();
                    continue;
            }
            if (v.A20Applied != v.A20Wanted) { v.A20Applied = v.A20Wanted; v.Cpu.SetA20(v.A20Applied); }
            VcpuExit exit;
            try { exit = v.Cpu.Run(long.MaxValue); }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                exit = new VcpuExit { Reason = VcpuExitReason.InternalError, Message = $"{e.GetType().Name}: {e.Message}\n{e.StackTrace}" };
            }
            v.Runs++;
            v.Instructions += exit.Instructions;
            switch (exit.Reason)
            {
                case VcpuExitReason.Halted:
                    v.Mode = VcpuMode.Halted;
                    v.Halts++;
                    // Sleep until the engine sees an interrupt, NMI or stop; EM's own events (pause, INIT,
                    // SIPI) come with a stop request, so nothing is missed between Run and the wait.
                    while (!_pause && !_terminate && !v.InitPending && !v.Cpu.WaitForWakeup(1000)) { }
                    if (v.Mode == VcpuMode.Halted) v.Mode = VcpuMode.Running;
                    break;
                case VcpuExitReason.Shutdown:
                    v.Mode = VcpuMode.Stopped;
                    _post(new VmRequest(VmRequestKind.TripleFault, Cpu: v.Cpu.CpuIndex, Message: Describe(v.Cpu)));
                    break;
                case VcpuExitReason.Breakpoint:
                case VcpuExitReason.SingleStep:
                    // The debugger's event: every vCPU parks where it is, then the debugger hears of it.
                    _resume.Reset();
                    _pause = true;
                    foreach (var o in _cpus) if (o != v) { o.Cpu.RequestStop(); o.Wake.Set(); }
                    DebugExit?.Invoke(v.Cpu.CpuIndex, exit);
                    break;
                case VcpuExitReason.Reset:
                    v.Mode = VcpuMode.Stopped;
                    _post(new VmRequest(VmRequestKind.Reset, Message: $"CPU {v.Cpu.CpuIndex} requested a reset"));
                    break;
                case VcpuExitReason.InternalError:
                case VcpuExitReason.IoPort:
                case VcpuExitReason.Mmio:
                    v.Mode = VcpuMode.Stopped;
                    _post(new VmRequest(VmRequestKind.GuruMeditation, Cpu: v.Cpu.CpuIndex,
                        Message: $"{exit.Reason}: {exit.Message ?? $"address 0x{exit.Address:X}"}\n{Describe(v.Cpu)}"));
                    break;
            }
        }
        v.Parked = true;
        lock (_parkLock) Monitor.PulseAll(_parkLock);
    }

    /// <summary>Waits at a safe point while the VM is paused; the controller sees <see cref="Vcpu.Parked"/>.</summary>
    private void Park(Vcpu v)
    {
        v.Parked = true;
        lock (_parkLock) Monitor.PulseAll(_parkLock);
        while (_pause && !_terminate) _resume.Wait(100);
        v.Parked = false;
    }

    private void HandleInit(Vcpu v)
    {
        v.InitPending = false;
        if (v.Cpu.CpuIndex == 0)
        {
            // The boot CPU would restart at the reset vector, where direct boot has no firmware: restart the machine.
            _post(new VmRequest(VmRequestKind.Reset, Message: "INIT IPI to the boot CPU"));
            v.Mode = VcpuMode.Stopped;
            return;
        }
        v.Cpu.Init();                    // the INIT state keeps MTRRs, PAT and the APIC base
        v.Mode = VcpuMode.WaitForSipi;   // a SIPI that already arrived after this INIT is kept
    }

    private void StartAp(Vcpu v, byte vector)
    {
        var ctx = new CpuContext();
        v.Cpu.GetState(ref ctx);
        BootCpuState.StartupIpi(vector).ApplyTo(ref ctx);
        ctx.Halted = false;
        v.Cpu.SetState(in ctx);
        v.Mode = VcpuMode.Running;
        _log.Write($"EM: CPU {v.Cpu.CpuIndex} started by SIPI at {vector:X2}00:0000");
    }

    public static string Describe(IVirtualCpu cpu)
    {
        var c = new CpuContext();
        try { cpu.GetState(ref c); }
        catch (Exception e) when (e is not OutOfMemoryException) { return $"CPU {cpu.CpuIndex}: state unavailable ({e.Message})"; }
        return $"CPU {cpu.CpuIndex}: rip={c.Rip:X16} rflags={c.Rflags:X8} cs={c.Seg[SegIdx.CS]} ss={c.Seg[SegIdx.SS]}\n" +
               $"  rax={c.Gpr[0]:X16} rcx={c.Gpr[1]:X16} rdx={c.Gpr[2]:X16} rbx={c.Gpr[3]:X16}\n" +
               $"  rsp={c.Gpr[4]:X16} rbp={c.Gpr[5]:X16} rsi={c.Gpr[6]:X16} rdi={c.Gpr[7]:X16}\n" +
               $"  cr0={c.Cr0:X} cr2={c.Cr2:X} cr3={c.Cr3:X} cr4={c.Cr4:X} efer={c.Efer:X} gdtr={c.Gdtr.Base:X}/{c.Gdtr.Limit:X} idtr={c.Idtr.Base:X}/{c.Idtr.Limit:X}";
    }

    // ---- ICpuSignals (any thread, possibly under the IRQ lock: never block) ----

    /// <summary>Sets CPU <paramref name="cpu"/>'s INTR line to whether the controller has something for it.</summary>
    private void UpdateInterruptLine(int cpu)
    {
        if ((uint)cpu >= (uint)_cpus.Length) return;
        var ic = _pdm.InterruptController;
        bool level;
        // Under the IRQ lock, so the level set last is the one computed from the latest controller state.
        using (_pdm.Irqs.IrqLock.EnterScope())
        {
            level = ic is not null && ic.HasPendingInterrupt(cpu);
            _cpus[cpu].Cpu.SetInterruptLine(level);
        }
    }

    public void InterruptPending(int cpu) => UpdateInterruptLine(cpu);

    public void Nmi(int cpu)
    {
        if ((uint)cpu >= (uint)_cpus.Length) return;
        _cpus[cpu].Cpu.InjectNmi();
    }

    public void Init(int cpu)
    {
        if ((uint)cpu >= (uint)_cpus.Length) return;
        var v = _cpus[cpu];
        v.SipiVector = -1;               // SIPIs before this INIT no longer count
        v.InitPending = true;
        v.Cpu.RequestStop();
        v.Wake.Set();
    }

    public void Startup(int cpu, byte vector)
    {
        if ((uint)cpu >= (uint)_cpus.Length) return;
        var v = _cpus[cpu];
        if (v.Mode != VcpuMode.WaitForSipi && !v.InitPending) return;   // a SIPI outside wait-for-SIPI is ignored
        v.SipiVector = vector;
        v.Wake.Set();
    }

    // ---- saved state ----

    private static readonly int s_contextSize = System.Runtime.CompilerServices.Unsafe.SizeOf<CpuContext>();

    internal void RegisterSavedState(SavedStateManager ssm)
    {
        foreach (var v in _cpus)
        {
            var vc = v;
            ssm.Register(new SsmUnit("cpu", v.Cpu.CpuIndex, 1,
                w =>
                {
                    w.PutU8((byte)vc.Mode); w.PutI32(vc.SipiVector); w.PutBool(vc.InitPending);
                    var ctx = new CpuContext();
                    vc.Cpu.GetState(ref ctx);
                    w.PutBlob(MemoryMarshal.AsBytes(new ReadOnlySpan<CpuContext>(in ctx)));
                },
                (r, ver) =>
                {
                    byte mode = r.GetU8();
                    if (mode > (byte)VcpuMode.Stopped) throw r.Error($"vCPU mode {mode} is invalid");
                    vc.Mode = (VcpuMode)mode;
                    vc.SipiVector = r.GetI32();
                    vc.InitPending = r.GetBool();
                    var ctx = new CpuContext();
                    var bytes = MemoryMarshal.AsBytes(new Span<CpuContext>(ref ctx));
                    uint n = r.GetU32();
                    if (n != s_contextSize) throw r.Error($"CPU state of {n} bytes, this build's is {s_contextSize} (saved by a different version)");
                    r.GetBytes(bytes);
                    try { vc.Cpu.SetState(in ctx); }
                    catch (ArgumentException e) { throw r.Error($"CPU {vc.Cpu.CpuIndex} state rejected: {e.Message}"); }
                }));
        }
    }

    public string Statistics()
        => string.Join(", ", _cpus.Select(v => $"CPU {v.Cpu.CpuIndex}: {v.Instructions:#,0} instructions, {v.Runs} runs, {v.Halts} halts, {v.Mode}"));

    /// <summary>One vCPU's counters (DBGF statistics).</summary>
    public (long Instructions, long Runs, long Halts) CountersOf(int i)
        => (Interlocked.Read(ref _cpus[i].Instructions), Interlocked.Read(ref _cpus[i].Runs), Interlocked.Read(ref _cpus[i].Halts));

    public long TotalInstructions { get { long n = 0; foreach (var v in _cpus) n += Interlocked.Read(ref v.Instructions); return n; } }

    /// <summary>Ends the vCPU threads (the VM is paused or being torn down).</summary>
    public void Dispose()
    {
        _terminate = true;
        foreach (var v in _cpus) { v.Cpu.RequestStop(); v.Wake.Set(); }
        _resume.Set();
        foreach (var v in _cpus) v.Thread?.Join(5000);
    }
}
