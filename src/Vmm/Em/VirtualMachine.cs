using System.Collections.Concurrent;
using System.Diagnostics;
using SharpBox.Vmm.Cfgm;
using SharpBox.Vmm.Pdm;
using SharpBox.Vmm.Pgm;
using SharpBox.Vmm.Ssm;
using SharpBox.Vmm.Tm;

namespace SharpBox.Vmm.Em;

public enum VmState { Created, Running, Suspended, Resetting, Saving, Restoring, PoweredOff }

public enum VmRequestKind { PowerOff, Reset, DebugExit, TripleFault, GuruMeditation, Save, Pause, Resume, BootComplete, Custom }

/// <summary>A request to the VM's controller thread (from devices, vCPUs, signals, the control socket).</summary>
public sealed record VmRequest(VmRequestKind Kind, string? Message = null, int Cpu = -1, int ExitCode = 0, string? Path = null,
    bool StopAfter = false, TaskCompletionSource<string?>? Done = null, Action? Work = null);

/// <summary>Why the VM stopped and what exit status the VM process should return.</summary>
public sealed record VmTermination(int ExitCode, string Reason);

/// <summary>
/// One virtual machine in this process: PGM (RAM, ROM, MMIO, ports), TM, the I/O thread, PDM and its
/// devices, SSM and EM, built from a CFGM tree. A single controller thread (<see cref="Run"/>) performs
/// every state change (power-on, pause, save, reset, power-off) from a request queue, so devices and
/// vCPUs only ever post requests and never block on the VM's own state changes.
/// CFGM root values: RamSize (bytes), NumCPUs, RamHoleStart (default 0xE0000000); /EM/TripleFaultReset
/// (a triple fault resets the machine instead of stopping it).
/// </summary>
public sealed class VirtualMachine : IVmRequests, IDisposable
{
    public const ulong DefaultRamHole = 0xE000_0000;
    private readonly BlockingCollection<VmRequest> _requests = new();
    private readonly bool _tripleFaultReset;
    private bool _disposed;

    public CfgmNode Config { get; }
    public VmLog Log { get; }
    public PhysicalMemoryMap PhysMap { get; } = new();
    public IoPortSpace Ports { get; } = new();
    public TimeManager Tm { get; }
    public IoThread Io { get; }
    public SavedStateManager Ssm { get; } = new();
    public PdmManager Pdm { get; }
    public ExecutionManager Em { get; }
    public int CpuCount { get; }
    public ulong RamSize { get; }
    public ulong LowRamEnd { get; }
    public ulong HighRamSize { get; }
    public VmState State { get; private set; } = VmState.Created;
    public event Action<VmState>? StateChanged;
    /// <summary>Raised on the controller thread after a saved state was loaded, before the vCPUs resume.</summary>
    public event Action<string>? Restored;
    /// <summary>The file the VM saved its state to when a save stopped it (VirtualBox's savestate); null otherwise.</summary>
    public string? SavedStateOnExit { get; private set; }
    /// <summary>Set when the guest wrote the boot-complete marker.</summary>
    public TaskCompletionSource BootCompleted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public IExecutionEngine Engine { get; }
    /// <summary>The paravirtualization provider (CFGM /GIM/Provider), or null for none.</summary>
    public SharpBox.Vmm.Gim.GimProvider? Paravirt { get; }
    public PlatformBus Bus { get; }

    public VirtualMachine(CfgmNode root, PdmDeviceRegistry registry, ExecutionEngineFactory engineFactory, string engineReason, VmLog log)
    {
        Config = root;
        Log = log;
        CpuCount = (int)root.GetInteger("NumCPUs", 1, 1, 255);
        RamSize = root.GetInteger("RamSize", 128UL << 20, 4UL << 20, 1UL << 40);
        if ((RamSize & 0xFFFFF) != 0) throw new CfgmException($"CFGM: /RamSize = {RamSize} is not a whole number of MiB");
        ulong hole = root.GetInteger("RamHoleStart", DefaultRamHole, 0x1000_0000, DefaultRamHole);
        _tripleFaultReset = root.GetChild("EM")?.GetBool("TripleFaultReset", false) ?? false;
        LowRamEnd = Math.Min(RamSize, hole);
        HighRamSize = RamSize - LowRamEnd;

        // Guest RAM is committed on first touch, so the mapping itself rarely fails: refuse what the host cannot hold.
        ulong hostRam = HostMemoryBytes();
        if (hostRam > 0 && RamSize > hostRam)
            throw new OutOfMemoryException($"not enough host memory: the VM needs {RamSize >> 20} MiB of guest RAM, the host has {hostRam >> 20} MiB");
        PhysMap.AllocateRam(RamSize);
        // Conventional memory, the VGA/legacy hole at 0xA0000-0xBFFFF left unassigned, RAM from 0xC0000.
        PhysMap.MapRam(0, 0xA0000, 0);
        PhysMap.MapRam(0xC0000, LowRamEnd - 0xC0000, 0xC0000);
        if (HighRamSize > 0) PhysMap.MapRam(1UL << 32, HighRamSize, LowRamEnd);

        Tm = new TimeManager(CpuCount);
        Io = new IoThread(Tm.Timers) { Fault = e => log.Write($"I/O thread: {e.GetType().Name}: {e.Message}") };
        Ports.UnclaimedAccess = (port, write, value) =>
            log.Write(write ? $"IOM: write 0x{value:X} to unclaimed port 0x{port:X4}" : $"IOM: read of unclaimed port 0x{port:X4}");
        RegisterCoreSavedState();
        Pdm = new PdmManager(PhysMap, Ports, Tm, Io, Ssm, this, CpuCount, log);
        Bus = new PlatformBus(PhysMap, Ports, Pdm, Tm);
        var model = new Cpum.CpuModel { CpuCount = CpuCount, TscHz = Tm.TscHz };
        // GIM before the engine: its provider extends the CPU model both engines present.
        var gimKind = SharpBox.Vmm.Gim.GimProvider.Parse(root.GetChild("GIM")?.GetString("Provider", "None") ?? "None");
        var gimEnv = new SharpBox.Vmm.Gim.GimEnvironment { Model = model, CpuCount = CpuCount, Memory = Pdm.GuestMemory, Clock = new SharpBox.Vmm.Gim.TmGimClock(Tm), Log = log.Write };
        Paravirt = SharpBox.Vmm.Gim.GimProvider.Create(gimKind, gimEnv);
        Engine = engineFactory(Bus, model);
        gimEnv.TscIsClock = Engine is IemEngine;
        gimEnv.EngineMsrs = Engine as SharpBox.Vmm.Gim.IEngineMsrs;
        Bus.Paravirt = Paravirt;
        if (Paravirt is { } gim) Ssm.Register(new SsmUnit("gim", 0, gim.StateVersion, gim.Save, gim.Load));
        log.Write($"EM: execution engine: {Engine.Name} ({engineReason}); CPU: {model.Vendor} \"{model.Brand}\" signature {model.Signature:X}, TSC {Tm.TscHz / 1_000_000} MHz");
        Em = new ExecutionManager(Engine, CpuCount, Pdm, Bus, Post, log);
        Pdm.CpuSignals = Em;
        PhysMap.Changed += () => Em.NotifyMemoryMapChanged(PhysMap.A20Enabled);
        PhysMap.PhysicalWrite = Engine.NotifyPhysicalWrite;
        Pdm.ConstructDevices(root, registry);
        Em.RegisterSavedState(Ssm);
        log.Write($"PGM: RAM {RamSize / (1024 * 1024)} MiB ({LowRamEnd / (1024 * 1024)} MiB below 4 GiB, {HighRamSize / (1024 * 1024)} MiB above); {CpuCount} CPU(s)");
    }

    /// <summary>Physical memory of the host (or the cgroup limit), from /proc/meminfo and the GC's view.</summary>
    private static ulong HostMemoryBytes()
    {
        long gc = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        return gc > 0 ? (ulong)gc : 0;
    }

    private void RegisterCoreSavedState()
    {
        // TM first: devices compute their timer state from the restored clock.
        Ssm.Register(new SsmUnit("tm", 0, 1,
            w =>
            {
                w.PutI64(Tm.Clock.NowNs);
                w.PutU64(Tm.TscHz);
                w.PutU32((uint)CpuCount);
                for (int i = 0; i < CpuCount; i++) w.PutI64(Tm.GetTscOffset(i));
            },
            (r, _) =>
            {
                Tm.Clock.Restore(r.GetI64());
                ulong hz = r.GetU64();
                if (hz != Tm.TscHz) throw r.Error($"TSC frequency {hz} differs from this VM's {Tm.TscHz}");
                uint n = r.GetU32();
                if (n != CpuCount) throw r.Error($"saved with {n} CPUs, this VM has {CpuCount}");
                for (int i = 0; i < CpuCount; i++) Tm.SetTscOffset(i, r.GetI64());
            }));
        Ssm.Register(new SsmUnit("pgm", 0, 1, SaveRam, LoadRam));
    }

    private unsafe void SaveRam(SsmWriter w)
    {
        var ram = PhysMap.Ram!;
        w.PutU64(ram.Size);
        w.PutBool(PhysMap.A20Enabled);
        // Only non-zero pages are written: (page index, 4 KiB), then an end marker.
        ulong pages = ram.Size / PhysicalMemoryMap.PageSize;
        for (ulong p = 0; p < pages; p++)
        {
            var page = new ReadOnlySpan<byte>(ram.Pointer + p * PhysicalMemoryMap.PageSize, (int)PhysicalMemoryMap.PageSize);
            if (page.IndexOfAnyExcept((byte)0) < 0) continue;
            w.PutU64(p);
            w.PutBytes(page);
        }
        w.PutU64(ulong.MaxValue);
    }

    private unsafe void LoadRam(SsmReader r, uint version)
    {
        var ram = PhysMap.Ram!;
        ulong size = r.GetU64();
        if (size != ram.Size) throw r.Error($"RAM size {size / (1024 * 1024)} MiB differs from this VM's {ram.Size / (1024 * 1024)} MiB");
        PhysMap.A20Enabled = r.GetBool();
        ram.Discard(0, ram.Size);
        NotifyAllRamWritten();
        ulong pages = ram.Size / PhysicalMemoryMap.PageSize;
        while (true)
        {
            ulong p = r.GetU64();
            if (p == ulong.MaxValue) break;
            if (p >= pages) throw r.Error($"page index {p} is beyond RAM");
            r.GetBytes(new Span<byte>(ram.Pointer + p * PhysicalMemoryMap.PageSize, (int)PhysicalMemoryMap.PageSize));
        }
    }

    /// <summary>All of RAM changed behind the CPUs (reset, restore): drop every decoded block.</summary>
    private void NotifyAllRamWritten()
    {
        foreach (var r in PhysMap.HostBackedRanges)
            if (!r.ReadOnly) Engine.NotifyPhysicalWrite(r.GuestPhys, r.Size);
    }

    private void SetState(VmState s)
    {
        State = s;
        Log.Write($"VM: state {s}");
        StateChanged?.Invoke(s);
    }

    // ---- requests (any thread) ----

    public void Post(VmRequest r)
    {
        try { _requests.Add(r); } catch (InvalidOperationException) { r.Done?.TrySetResult("the VM is no longer running"); }
    }

    public void RequestReset(string reason) => Post(new VmRequest(VmRequestKind.Reset, reason));
    public void RequestPowerOff(string reason) => Post(new VmRequest(VmRequestKind.PowerOff, reason));
    public void RequestDebugExit(int exitCode) => Post(new VmRequest(VmRequestKind.DebugExit, ExitCode: exitCode));
    public void GuestBootComplete() { BootCompleted.TrySetResult(); Post(new VmRequest(VmRequestKind.BootComplete)); }

    /// <summary>Saves the VM's state to <paramref name="path"/>; with <paramref name="stopAfter"/> the VM then powers off (VirtualBox's savestate).</summary>
    public Task<string?> SaveStateAsync(string path, bool stopAfter)
    {
        var done = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(new VmRequest(VmRequestKind.Save, Path: path, StopAfter: stopAfter, Done: done));
        return done.Task;
    }

    // ---- the controller ----

    /// <summary>
    /// Powers the VM on (or restores it from <paramref name="savedState"/>) and serves requests until it
    /// stops. Runs on the caller's thread; returns the exit status and reason.
    /// </summary>
    public VmTermination Run(string? savedState = null)
    {
        Io.Start();
        Em.Start();
        if (savedState is null) PowerOnState();
        else
        {
            SetState(VmState.Restoring);
            var sw = Stopwatch.StartNew();
            Ssm.Load(savedState);
            Log.Write($"SSM: restored {savedState} in {sw.ElapsedMilliseconds} ms");
            Restored?.Invoke(savedState);
        }
        var self = Process.GetCurrentProcess();
        Log.Write($"VM: starting guest execution {(DateTime.Now - self.StartTime).TotalMilliseconds:F0} ms after process start " +
                  $"({self.TotalProcessorTime.TotalMilliseconds:F0} ms CPU)");
        Resume();
        while (true)
        {
            var r = _requests.Take();
            switch (r.Kind)
            {
                case VmRequestKind.PowerOff:
                    return Terminate(0, $"powered off: {r.Message}");
                case VmRequestKind.DebugExit:
                    return Terminate(r.ExitCode, $"debug-exit port, status {r.ExitCode}");
                case VmRequestKind.TripleFault:
                    Log.Write($"EM: CPU {r.Cpu} triple fault (shutdown)\n{r.Message}");
                    if (_tripleFaultReset) { ResetMachine("triple fault"); break; }
                    return Terminate(1, $"triple fault on CPU {r.Cpu}");
                case VmRequestKind.GuruMeditation:
                    Log.Write($"!!! Guru meditation on CPU {r.Cpu}: {r.Message}");
                    return Terminate(1, $"guru meditation on CPU {r.Cpu}: {r.Message?.Split('\n')[0]}");
                case VmRequestKind.Reset:
                    ResetMachine(r.Message ?? "reset");
                    break;
                case VmRequestKind.Pause:
                    if (State == VmState.Running) { Pause(); SetState(VmState.Suspended); }
                    r.Done?.TrySetResult(null);
                    break;
                case VmRequestKind.Resume:
                    if (State == VmState.Suspended) Resume();
                    r.Done?.TrySetResult(null);
                    break;
                case VmRequestKind.Save:
                    {
                        bool wasRunning = State == VmState.Running;
                        Pause();
                        SetState(VmState.Saving);
                        string? error = null;
                        var sw = Stopwatch.StartNew();
                        try { Ssm.Save(r.Path!); Log.Write($"SSM: saved state to {r.Path} in {sw.ElapsedMilliseconds} ms"); }
                        catch (Exception e) when (e is IOException or UnauthorizedAccessException or SsmException)
                        { error = $"saving state to {r.Path}: {e.Message}"; Log.Write("SSM: " + error); }
                        if (r.StopAfter && error is null)
                        {
                            SavedStateOnExit = r.Path;
                            r.Done?.TrySetResult(null);
                            return Terminate(0, $"state saved to {r.Path}");
                        }
                        if (wasRunning) Resume(); else SetState(VmState.Suspended);
                        r.Done?.TrySetResult(error);
                        break;
                    }
                case VmRequestKind.BootComplete:
                    Log.Write("VM: guest reported boot complete");
                    break;
                case VmRequestKind.Custom:
                    r.Work?.Invoke();
                    break;
            }
        }
    }

    private void PowerOnState()
    {
        var boot = Pdm.Find<IBootStateProvider>()?.PrepareBoot() ?? BootCpuState.PowerOn();
        Log.Write($"EM: boot CPU state {boot}");
        Em.SetBootState(boot);
    }

    private void Pause()
    {
        Em.PauseAll();
        Tm.Clock.Pause();
    }

    private void Resume()
    {
        Tm.Clock.Resume();
        Em.ResumeAll();
        SetState(VmState.Running);
    }

    private void ResetMachine(string reason)
    {
        Log.Write($"VM: reset ({reason})");
        SetState(VmState.Resetting);
        Em.PauseAll();
        PhysMap.Ram!.Discard(0, PhysMap.Ram.Size);
        NotifyAllRamWritten();
        PhysMap.A20Enabled = true;
        Pdm.Reset();
        PowerOnState();
        Em.ResumeAll();
        SetState(VmState.Running);
    }

    private VmTermination Terminate(int exitCode, string reason)
    {
        Log.Write($"VM: {reason}");
        if (State == VmState.Running) Pause();
        Log.Write($"EM: {Em.Statistics()}");
        Shutdown();
        SetState(VmState.PoweredOff);
        return new VmTermination(exitCode, reason);
    }

    private void Shutdown()
    {
        if (_disposed) return;
        _disposed = true;
        _requests.CompleteAdding();
        while (_requests.TryTake(out var pending)) pending.Done?.TrySetResult("the VM powered off");
        Em.Dispose();
        Io.Dispose();
        Pdm.Dispose();
        Engine.Dispose();
    }

    public void Dispose()
    {
        Shutdown();
        PhysMap.Dispose();
    }
}
