using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Iem;

namespace SharpBox.Vmm.Em;

/// <summary>
/// An execution engine as EM sees it: creates the vCPUs of one VM on the platform bus and hears about
/// guest memory written behind the CPUs' backs. IEM now; the KVM engine (HM) later implements the same.
/// </summary>
public interface IExecutionEngine : IDisposable
{
    /// <summary>Short name for the log ("IEM (software CPU)").</summary>
    string Name { get; }
    CpuModel Model { get; }
    IVirtualCpu CreateCpu(int index);
    /// <summary>Device DMA or a loader wrote guest RAM: cached decoded code there must go.</summary>
    void NotifyPhysicalWrite(ulong gpa, ulong length);
}

/// <summary>Makes the engine of a VM once the platform bus exists.</summary>
public delegate IExecutionEngine ExecutionEngineFactory(ICpuBus bus, CpuModel model);

/// <summary>The software CPU as an engine.</summary>
public sealed class IemEngine : IExecutionEngine
{
    private readonly IemMachine _machine;
    private readonly List<IemCpu> _cpus = new();

    public IemEngine(ICpuBus bus, CpuModel model)
    {
        _machine = new IemMachine(bus, model) { ApsStartHalted = true };
        Model = model;
    }

    public static ExecutionEngineFactory Factory => (bus, model) => new IemEngine(bus, model);

    public string Name => "IEM (software CPU)";
    public CpuModel Model { get; }

    public IVirtualCpu CreateCpu(int index)
    {
        var c = new IemCpu(_machine, index);
        _cpus.Add(c);
        return c;
    }

    public void NotifyPhysicalWrite(ulong gpa, ulong length) => _machine.NotifyPhysicalWrite(gpa, length);

    public void Dispose()
    {
        foreach (var c in _cpus) c.Dispose();
        _cpus.Clear();
    }
}
