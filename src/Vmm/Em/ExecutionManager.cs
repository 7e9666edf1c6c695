using SharpBox.Vmm.Pdm;
using SharpBox.Vmm.Pgm;
using SharpBox.Vmm.Ssm;

namespace SharpBox.Vmm.Em;

/// <summary>What a vCPU thread is doing between engine runs.</summary>
public enum VcpuMode { Running = 0, Halted = 1, WaitForSipi = 2, Stopped = 3 }

/// <summary>
/// EM: one host thread per vCPU running its engine (whichever it is), sleeping in HLT until an interrupt,
/// NMI or INIT kicks it, holding application processors in wait-for-SIPI, and parking every vCPU at a
/// safe point when the VM pauses (for save, reset, power-off). It is also the VM's <see cref="ICpuSignals"/>:
/// interrupt controllers reach the CPUs only through it.
/// </summary>
public sealed class ExecutionManager : ICpuSignals, IDisposable
{
    private sealed class Vcpu
    {
        public required IVirtualCpu Cpu;
        public required VcpuBus Bus;
        public Thread? Thread;
        public volatile VcpuMode Mode;
        public readonly ManualResetEventSlim Wake = new(false);
        public volatile bool InitPending;
        public volatile int SipiVector = -1;
        public long Runs, Halts;
        public volatile bool Parked;
    }

    private readonly Vcpu[] _cpus;
    private readonly Action<VmRequest> _post;
    private readonly VmLog _log;
    private readonly ManualResetEventSlim _resume = new(false);
    private readonly object _parkLock = new();
    private volatile bool _pause = true, _terminate;

    public IExecutionEngine Engine { get; }
    public int CpuCount => _cpus.Length;

    internal ExecutionManager(IExecutionEngine engine, int cpuCount, Func<int, VcpuBus> busFactory, Action<VmRequest> post, VmLog log)
    {
        Engine = engine;
        _post = post;
        _log = log;
        _cpus = new Vcpu[cpuCount];
        for (int i = 0; i < cpuCount; i++)
        {
            var bus = busFactory(i);
            _cpus[i] = new Vcpu { Cpu = engine.CreateCpu(i, bus), Bus = bus, Mode = i == 0 ? VcpuMode.Running : VcpuMode.WaitForSipi };
        }
    }

    public IVirtualCpu Cpu(int i) => _cpus[i].Cpu;
    public VcpuMode ModeOf(int i) => _cpus[i].Mode;

    /// <summary>Creates the vCPU threads, parked until <see cref="ResumeAll"/>.</summary>
    public void Start()
    {
        foreach (var v in _cpus)
        {
            var vc = v;
            v.Thread = new Thread(() => Loop(vc)) { Name = $"EMT-{v.Cpu.Index}", IsBackground = true };
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
            if (i == 0) { v.Cpu.SetState(boot); v.Mode = VcpuMode.Running; }
            else { v.Cpu.SetState(BootCpuState.PowerOn()); v.Mode = VcpuMode.WaitForSipi; }
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
                            v.Cpu.SetState(BootCpuState.StartupIpi((byte)vector));
                            v.Mode = VcpuMode.Running;
                            _log.Write($"EM: CPU {v.Cpu.Index} started by SIPI at {vector:X2}00:0000");
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
            v.Wake.Reset();
            VcpuExit exit;
            try { exit = v.Cpu.Run(); }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                exit = new VcpuExit(VcpuExitReason.Error, $"{e.GetType().Name}: {e.Message}");
            }
            v.Runs++;
            switch (exit.Reason)
            {
                case VcpuExitReason.Halted:
                    v.Mode = VcpuMode.Halted;
                    v.Halts++;
                    // Sleep until a kick (interrupt, NMI, INIT, SIPI, pause). A kick that came while the
                    // engine was running left Wake set, so nothing is lost between Run and Wait.
                    v.Wake.Wait();
                    if (v.Mode == VcpuMode.Halted) v.Mode = VcpuMode.Running;
                    break;
                case VcpuExitReason.Shutdown:
                    v.Mode = VcpuMode.Stopped;
                    _post(new VmRequest(VmRequestKind.TripleFault, Cpu: v.Cpu.Index, Message: v.Cpu.Describe()));
                    break;
                case VcpuExitReason.Error:
                    v.Mode = VcpuMode.Stopped;
                    _post(new VmRequest(VmRequestKind.GuruMeditation, Cpu: v.Cpu.Index, Message: $"{exit.Message}\n{v.Cpu.Describe()}"));
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
        if (v.Cpu.Index == 0)
        {
            // The boot CPU would restart at the reset vector, where direct boot has no firmware: restart the machine.
            _post(new VmRequest(VmRequestKind.Reset, Message: "INIT IPI to the boot CPU"));
            v.Mode = VcpuMode.Stopped;
            return;
        }
        v.Cpu.SetState(BootCpuState.PowerOn());
        v.Mode = VcpuMode.WaitForSipi;   // a SIPI that already arrived after this INIT is kept
    }

    // ---- ICpuSignals (any thread, possibly under the IRQ lock: never block) ----

    public void InterruptPending(int cpu)
    {
        if ((uint)cpu >= (uint)_cpus.Length) return;
        var v = _cpus[cpu];
        v.Cpu.NotifyInterrupt();
        v.Wake.Set();
    }

    public void Nmi(int cpu)
    {
        if ((uint)cpu >= (uint)_cpus.Length) return;
        var v = _cpus[cpu];
        v.Cpu.InjectNmi();
        v.Wake.Set();
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

    internal void RegisterSavedState(SavedStateManager ssm)
    {
        foreach (var v in _cpus)
        {
            var vc = v;
            ssm.Register(new SsmUnit("cpu", v.Cpu.Index, v.Cpu.StateVersion,
                w => { w.PutU8((byte)vc.Mode); w.PutI32(vc.SipiVector); w.PutBool(vc.InitPending); vc.Cpu.SaveState(w); },
                (r, ver) =>
                {
                    byte mode = r.GetU8();
                    if (mode > (byte)VcpuMode.Stopped) throw r.Error($"vCPU mode {mode} is invalid");
                    vc.Mode = (VcpuMode)mode;
                    vc.SipiVector = r.GetI32();
                    vc.InitPending = r.GetBool();
                    vc.Cpu.LoadState(r, ver);
                }));
        }
    }

    public string Statistics()
        => string.Join(", ", _cpus.Select(v => $"CPU {v.Cpu.Index}: {v.Runs} runs, {v.Halts} halts, {v.Mode}"));

    /// <summary>Ends the vCPU threads (the VM is paused or being torn down).</summary>
    public void Dispose()
    {
        _terminate = true;
        foreach (var v in _cpus) { v.Cpu.RequestStop(); v.Wake.Set(); }
        _resume.Set();
        foreach (var v in _cpus) v.Thread?.Join(5000);
    }
}

/// <summary>EM's implementation of the engine's view of the machine for one vCPU.</summary>
internal sealed class VcpuBus(int cpu, PhysicalMemoryMap memory, IoPortSpace ports, PdmManager pdm, Tm.TimeManager tm) : IVcpuBus
{
    public int CpuIndex => cpu;
    public PhysicalMemoryMap Memory => memory;
    public uint PortRead(ushort port, int size) => ports.Read(port, size);
    public void PortWrite(ushort port, int size, uint value) => ports.Write(port, size, value);
    public ulong MmioRead(MmioRegion region, ulong gpa, int size) => memory.MmioRead(cpu, region, gpa, size);
    public void MmioWrite(MmioRegion region, ulong gpa, int size, ulong value) => memory.MmioWrite(cpu, region, gpa, size, value);
    public bool InterruptPending => pdm.InterruptController?.HasPendingInterrupt(cpu) ?? false;
    public int AcknowledgeInterrupt() => pdm.InterruptController?.AcknowledgeInterrupt(cpu) ?? -1;

    public bool TryReadMsr(uint msr, out ulong value)
    {
        if (pdm.ApicCpu is { } a) return a.TryReadMsr(cpu, msr, out value);
        value = 0;
        return false;
    }

    public bool TryWriteMsr(uint msr, ulong value) => pdm.ApicCpu is { } a && a.TryWriteMsr(cpu, msr, value);
    public byte GetTpr() => pdm.ApicCpu?.GetTpr(cpu) ?? 0;
    public void SetTpr(byte cr8) => pdm.ApicCpu?.SetTpr(cpu, cr8);
    public ulong ReadTsc() => tm.ReadTsc(cpu);
    public void WriteTsc(ulong value) => tm.WriteTsc(cpu, value);
    public ulong TscHz => tm.TscHz;
}
