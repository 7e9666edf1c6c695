using SharpBox.Vmm.Pgm;
using SharpBox.Vmm.Ssm;

namespace SharpBox.Vmm.Em;

/// <summary>Why an engine returned from <see cref="IVirtualCpu.Run"/>.</summary>
public enum VcpuExitReason
{
    /// <summary>HLT with nothing to deliver: EM sleeps the thread until an interrupt, NMI, INIT or stop.</summary>
    Halted,
    /// <summary>A stop was requested (pause, reset, power-off, INIT/SIPI handling).</summary>
    StopRequested,
    /// <summary>Triple fault (the CPU entered shutdown).</summary>
    Shutdown,
    /// <summary>The engine hit a condition it cannot continue from (its message says which).</summary>
    Error,
}

public readonly record struct VcpuExit(VcpuExitReason Reason, string? Message = null);

/// <summary>
/// One virtual CPU of an execution engine (IEM's software CPU now, KVM later). EM drives it from the
/// vCPU's own host thread; only <see cref="RequestStop"/> and <see cref="NotifyInterrupt"/> /
/// <see cref="InjectNmi"/> are called from other threads.
/// </summary>
public interface IVirtualCpu
{
    int Index { get; }
    /// <summary>Runs guest code until an exit. Port I/O and MMIO are served in place through the bus.</summary>
    VcpuExit Run();
    /// <summary>Makes a running <see cref="Run"/> return <see cref="VcpuExitReason.StopRequested"/> soon (any thread).</summary>
    void RequestStop();
    /// <summary>An interrupt may be pending: re-check the interrupt controller at the next boundary (any thread).</summary>
    void NotifyInterrupt();
    /// <summary>Delivers an NMI at the next boundary (any thread).</summary>
    void InjectNmi();
    /// <summary>Loads the architectural state (power-on, boot loader, SIPI).</summary>
    void SetState(BootCpuState state);
    /// <summary>The complete CPU state as a saved-state unit body (engine-defined, versioned by the engine).</summary>
    void SaveState(SsmWriter w);
    void LoadState(SsmReader r, uint version);
    uint StateVersion { get; }
    /// <summary>Register summary for the log (guru meditation, triple fault).</summary>
    string Describe();
}

/// <summary>
/// What a CPU engine sees of the machine, implemented by EM for each vCPU: guest-physical memory (PGM),
/// ports (the flat table), interrupt acknowledge (APIC/PIC), APIC MSRs and CR8, the TSC.
/// </summary>
public interface IVcpuBus
{
    int CpuIndex { get; }
    PhysicalMemoryMap Memory { get; }
    uint PortRead(ushort port, int size);
    void PortWrite(ushort port, int size, uint value);
    ulong MmioRead(MmioRegion region, ulong gpa, int size);
    void MmioWrite(MmioRegion region, ulong gpa, int size, ulong value);
    /// <summary>A maskable interrupt is ready (priority permitting); the engine checks RFLAGS.IF itself.</summary>
    bool InterruptPending { get; }
    /// <summary>INTA: the vector to deliver, or -1 if it vanished.</summary>
    int AcknowledgeInterrupt();
    bool TryReadMsr(uint msr, out ulong value);
    bool TryWriteMsr(uint msr, ulong value);
    byte GetTpr();
    void SetTpr(byte cr8);
    ulong ReadTsc();
    void WriteTsc(ulong value);
    ulong TscHz { get; }
}

/// <summary>An execution engine: creates the vCPUs of one VM.</summary>
public interface IExecutionEngine
{
    /// <summary>Short name for the log ("IEM (software CPU)").</summary>
    string Name { get; }
    IVirtualCpu CreateCpu(int index, IVcpuBus bus);
}
