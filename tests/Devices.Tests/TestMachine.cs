using SharpBox.Vmm.Cfgm;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Em;
using SharpBox.Vmm.Pdm;

namespace SharpBox.Devices.Tests;

/// <summary>An engine whose CPUs never run: device tests drive ports and MMIO themselves.</summary>
internal sealed class IdleEngine(CpuModel model) : IExecutionEngine
{
    public static ExecutionEngineFactory Factory => (bus, model) => new IdleEngine(model);
    public string Name => "idle";
    public CpuModel Model => model;
    public IVirtualCpu CreateCpu(int index) => new IdleCpu(index, model);
    public void NotifyPhysicalWrite(ulong gpa, ulong length) { }
    public void Dispose() { }

    private sealed class IdleCpu(int index, CpuModel model) : IVirtualCpu
    {
        private CpuContext _ctx = CpuContext.PowerOn();
        public int CpuIndex => index;
        public CpuModel Model => model;
        public VcpuExit Run(long budget) => new() { Reason = VcpuExitReason.Halted };
        public void GetState(ref CpuContext ctx) => ctx = _ctx;
        public void SetState(in CpuContext ctx) => _ctx = ctx;
        public void Reset() => _ctx = CpuContext.PowerOn();
        public void NotifyMemoryMapChanged() { }
        public void SetA20(bool enabled) { }
        public bool DebugSingleStep { get; set; }
        public void SetDebugBreakpoints(ReadOnlySpan<ulong> linearAddresses) { }
        public void SetInterruptLine(bool asserted) { }
        public void InjectNmi() { }
        public void RequestStop() { }
        public bool WaitForWakeup(int timeoutMs) { Thread.Sleep(Math.Min(timeoutMs, 10)); return false; }
    }
}

/// <summary>Records what interrupt controllers tell the CPUs.</summary>
internal sealed class RecordingSignals : ICpuSignals
{
    public readonly List<string> Events = new();
    public int Kicks(int cpu) { lock (Events) return Events.Count(e => e == $"irq{cpu}"); }
    public void InterruptPending(int cpu) { lock (Events) Events.Add($"irq{cpu}"); }
    public void Nmi(int cpu) { lock (Events) Events.Add($"nmi{cpu}"); }
    public void Init(int cpu) { lock (Events) Events.Add($"init{cpu}"); }
    public void Startup(int cpu, byte vector) { lock (Events) Events.Add($"sipi{cpu}:{vector:X2}"); }
    public bool Has(string e) { lock (Events) return Events.Contains(e); }
}

/// <summary>Records what devices ask of the VM.</summary>
internal sealed class RecordingRequests : IVmRequests
{
    public readonly List<string> Requests = new();
    public void RequestReset(string reason) { lock (Requests) Requests.Add("reset: " + reason); }
    public void RequestPowerOff(string reason) { lock (Requests) Requests.Add("poweroff: " + reason); }
    public void RequestDebugExit(int exitCode) { lock (Requests) Requests.Add($"exit {exitCode}"); }
    public void GuestBootComplete() { lock (Requests) Requests.Add("booted"); }
    public bool Any(string prefix) { lock (Requests) return Requests.Any(r => r.StartsWith(prefix, StringComparison.Ordinal)); }
}

/// <summary>
/// A PC built from <see cref="PcConfig"/> without running CPUs: tests reach devices through the port
/// table and the physical map, with the virtual clock and the I/O thread running so timers fire.
/// </summary>
internal sealed class TestMachine : IDisposable
{
    public VirtualMachine Vm { get; }
    public RecordingSignals Signals { get; } = new();
    public RecordingRequests Requests { get; } = new();
    public List<string> Log { get; } = new();

    public TestMachine(PcMachineConfig? config = null, Action<CfgmNode>? edit = null, bool start = true)
    {
        var m = config ?? new PcMachineConfig { RamBytes = 32UL << 20 };
        var root = PcConfig.Build(m);
        if (m.Kernel is null) root.GetChild("Devices")!.RemoveChild("pcfirmware");
        edit?.Invoke(root);
        Vm = new VirtualMachine(root, Builtins.Create(), IdleEngine.Factory, "tests", new VmLog(sink: l => { lock (Log) Log.Add(l); }));
        Vm.Pdm.CpuSignals = Signals;
        Vm.Pdm.Requests = Requests;
        if (start) { Vm.Io.Start(); Vm.Tm.Clock.Resume(); }
    }

    public T Dev<T>() where T : class => Vm.Pdm.Find<T>() ?? throw new InvalidOperationException($"no {typeof(T).Name}");

    public void Out8(ushort port, byte v) => Vm.Ports.Write(port, 1, v);
    public void Out16(ushort port, ushort v) => Vm.Ports.Write(port, 2, v);
    public void Out32(ushort port, uint v) => Vm.Ports.Write(port, 4, v);
    public byte In8(ushort port) => (byte)Vm.Ports.Read(port, 1);
    public ushort In16(ushort port) => (ushort)Vm.Ports.Read(port, 2);
    public uint In32(ushort port) => Vm.Ports.Read(port, 4);

    public unsafe ulong MmioRead(ulong gpa, int size, int cpu = 0)
    {
        var t = Vm.PhysMap.Lookup(gpa, out _, out var region);
        if (t != Vmm.Pgm.PhysPageType.Mmio) throw new InvalidOperationException($"0x{gpa:X} is not MMIO");
        return Vm.PhysMap.MmioRead(cpu, region!, gpa, size);
    }

    public unsafe void MmioWrite(ulong gpa, int size, ulong value, int cpu = 0)
    {
        var t = Vm.PhysMap.Lookup(gpa, out _, out var region);
        if (t != Vmm.Pgm.PhysPageType.Mmio) throw new InvalidOperationException($"0x{gpa:X} is not MMIO");
        Vm.PhysMap.MmioWrite(cpu, region!, gpa, size, value);
    }

    /// <summary>PCI configuration read through mechanism #1 (0xCF8/0xCFC), as a guest does it.</summary>
    public uint PciRead(int dev, int fn, int reg, int size = 4)
    {
        Out32(0xCF8, 0x8000_0000u | (uint)(dev << 11) | (uint)(fn << 8) | (uint)(reg & 0xFC));
        return Vm.Ports.Read((ushort)(0xCFC + (reg & 3)), size);
    }

    public void PciWrite(int dev, int fn, int reg, int size, uint value)
    {
        Out32(0xCF8, 0x8000_0000u | (uint)(dev << 11) | (uint)(fn << 8) | (uint)(reg & 0xFC));
        Vm.Ports.Write((ushort)(0xCFC + (reg & 3)), size, value);
    }

    public static bool WaitUntil(Func<bool> cond, int ms = 5000)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (!cond()) { if (sw.ElapsedMilliseconds > ms) return false; Thread.Sleep(1); }
        return true;
    }

    public void Dispose() => Vm.Dispose();
}
