using SharpBox.Vmm.Em;
using SharpBox.Vmm.Pdm;
using SharpBox.Vmm.Ssm;

namespace SharpBox.Vmm.Tests.Em;

/// <summary>
/// A stand-in execution engine for testing EM without a CPU: each vCPU runs a small C# "program" that
/// uses the bus like guest code would (ports, RAM, interrupts) and returns exits like a real engine.
/// </summary>
internal sealed class FakeEngine(Func<FakeCpu, VcpuExit> program) : IExecutionEngine
{
    public readonly List<FakeCpu> Cpus = new();
    public string Name => "fake engine";
    public IVirtualCpu CreateCpu(int index, IVcpuBus bus)
    {
        var c = new FakeCpu(index, bus, program);
        lock (Cpus) Cpus.Add(c);
        return c;
    }
}

internal sealed class FakeCpu(int index, IVcpuBus bus, Func<FakeCpu, VcpuExit> program) : IVirtualCpu
{
    public int Index => index;
    public IVcpuBus Bus => bus;
    public volatile bool Stop, IrqFlag, Nmi;
    public BootCpuState? State;
    public ulong Counter;
    public readonly List<int> Vectors = new();
    public int StateSets;
    public VcpuExit Run()
    {
        var exit = program(this);
        Stop = false;
        return exit;
    }
    public void RequestStop() => Stop = true;
    public void NotifyInterrupt() => IrqFlag = true;
    public void InjectNmi() => Nmi = true;
    public void SetState(BootCpuState state) { State = state; StateSets++; }
    public uint StateVersion => 1;
    public void SaveState(SsmWriter w) { w.PutU64(Counter); w.PutU64(State?.Rip ?? 0); }
    public void LoadState(SsmReader r, uint version) { Counter = r.GetU64(); State = new BootCpuState { Rip = r.GetU64() }; }
    public string Describe() => $"fake cpu {index} counter={Counter}";
}

/// <summary>An interrupt controller with one pending vector at a time.</summary>
internal sealed class FakePic : ICpuInterruptController
{
    public volatile int Pending = -1;
    public bool HasPendingInterrupt(int cpu) => Pending >= 0;
    public int AcknowledgeInterrupt(int cpu) { int v = Pending; Pending = -1; return v; }
}
