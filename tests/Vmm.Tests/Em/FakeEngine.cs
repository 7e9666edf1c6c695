using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Em;
using SharpBox.Vmm.Pdm;

namespace SharpBox.Vmm.Tests.Em;

/// <summary>
/// A stand-in execution engine for testing EM without a CPU: each vCPU runs a small C# "program" that
/// uses the bus like guest code would (RAM, interrupts) and returns exits like a real engine.
/// </summary>
internal sealed class FakeEngine(Func<FakeCpu, VcpuExit> program) : IExecutionEngine
{
    public readonly List<FakeCpu> Cpus = new();
    private ICpuBus? _bus;
    public string Name => "fake engine";
    public CpuModel Model { get; private set; } = new();
    public long PhysicalWrites;

    public ExecutionEngineFactory Factory => (bus, model) => { _bus = bus; Model = model; return this; };

    public IVirtualCpu CreateCpu(int index)
    {
        var c = new FakeCpu(index, _bus!, Model, program);
        lock (Cpus) Cpus.Add(c);
        return c;
    }

    public void NotifyPhysicalWrite(ulong gpa, ulong length) => Interlocked.Increment(ref PhysicalWrites);
    public void Dispose() { }
}

internal sealed unsafe class FakeCpu(int index, ICpuBus bus, CpuModel model, Func<FakeCpu, VcpuExit> program) : IVirtualCpu
{
    public int CpuIndex => index;
    public CpuModel Model => model;
    public ICpuBus Bus => bus;
    public volatile bool Stop, Line, Nmi;
    public CpuContext Ctx = CpuContext.PowerOn();
    public readonly List<int> Vectors = new();
    public int StateSets, Resets;
    private readonly ManualResetEventSlim _wake = new(false);

    /// <summary>The "guest" keeps a counter in RAX so that it is part of the saved CPU state.</summary>
    public ref ulong Counter => ref Ctx.Gpr[0];

    public ulong* Ram(ulong gpa)
    {
        Assert.Equal(PhysPageKind.Ram, bus.LookupPage(gpa, out byte* page));
        return (ulong*)(page + (gpa & 0xFFF));
    }

    public VcpuExit Run(long budget)
    {
        var exit = program(this);
        Stop = false;
        return exit;
    }

    public static VcpuExit Exit(VcpuExitReason r) => new() { Reason = r };

    public void GetState(ref CpuContext ctx) => ctx = Ctx;
    public void SetState(in CpuContext ctx) { Ctx = ctx; StateSets++; }
    public void Reset() { Ctx = CpuContext.PowerOn(); Resets++; }
    public void NotifyMemoryMapChanged() { }
    public void SetA20(bool enabled) { }
    public bool DebugSingleStep { get; set; }
    public void SetDebugBreakpoints(ReadOnlySpan<ulong> linearAddresses) { }
    public void SetInterruptLine(bool asserted) { Line = asserted; if (asserted) _wake.Set(); }
    public void InjectNmi() { Nmi = true; _wake.Set(); }
    public void RequestStop() { Stop = true; _wake.Set(); }

    public bool WaitForWakeup(int timeoutMs)
    {
        if (Stop || Nmi || Line) return true;
        bool woke = _wake.Wait(timeoutMs);
        _wake.Reset();
        return woke;
    }
}

/// <summary>An interrupt controller with one pending vector at a time.</summary>
internal sealed class FakePic : ICpuInterruptController
{
    public volatile int Pending = -1;
    public bool HasPendingInterrupt(int cpu) => Pending >= 0;
    public int AcknowledgeInterrupt(int cpu) { int v = Pending; Pending = -1; return v; }
}
