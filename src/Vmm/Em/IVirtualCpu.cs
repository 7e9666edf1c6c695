using SharpBox.Vmm.Cpum;

namespace SharpBox.Vmm.Em;

/// <summary>Why <see cref="IVirtualCpu.Run"/> returned.</summary>
public enum VcpuExitReason
{
    None,
    /// <summary>The instruction budget given to Run is used up.</summary>
    BudgetExhausted,
    /// <summary>HLT with nothing to deliver: wait (<see cref="IVirtualCpu.WaitForWakeup"/>) and call Run again.</summary>
    Halted,
    /// <summary>Triple fault or shutdown cycle: the platform resets or powers off the VM.</summary>
    Shutdown,
    /// <summary>The guest asked for a reset through the CPU (e.g. a hardware engine's reset exit).</summary>
    Reset,
    /// <summary><see cref="IVirtualCpu.RequestStop"/> was called.</summary>
    Stopped,
    /// <summary>Execution breakpoint set by the debugger (not a guest INT3/DRx hit, which the guest handles).</summary>
    Breakpoint,
    /// <summary>One instruction was executed because the debugger asked for a single step.</summary>
    SingleStep,
    /// <summary>Port I/O that the engine cannot serve in place (hardware engines); details in <see cref="VcpuExit"/>.</summary>
    IoPort,
    /// <summary>MMIO access the engine cannot serve in place (hardware engines).</summary>
    Mmio,
    /// <summary>The engine could not continue (e.g. a hardware engine's internal error); see <see cref="VcpuExit.Message"/>.</summary>
    InternalError,
}

/// <summary>Exit information. Filled by the engine, read by EM; no allocation on the hot path (Message is only set on errors).</summary>
public struct VcpuExit
{
    public VcpuExitReason Reason;
    /// <summary>Instructions executed during this Run (exact for IEM; hardware engines report 0).</summary>
    public long Instructions;
    public ulong Address;
    public ulong Data;
    public int Size;
    public bool IsWrite;
    public string? Message;
}

/// <summary>
/// One virtual CPU as EM drives it, whichever engine runs it (IEM: software; HM: KVM). All methods
/// except the cross-thread ones below are called from the vCPU's own thread.
/// </summary>
public interface IVirtualCpu
{
    int CpuIndex { get; }
    CpuModel Model { get; }

    /// <summary>
    /// Runs guest code until an exit or until about <paramref name="instructionBudget"/> instructions
    /// (IEM stops at the first block boundary at or past the budget; pass long.MaxValue for none).
    /// </summary>
    VcpuExit Run(long instructionBudget);

    /// <summary>Copies out the whole architectural state.</summary>
    void GetState(ref CpuContext ctx);
    /// <summary>Replaces the whole architectural state (validated: bad values throw ArgumentException).</summary>
    void SetState(in CpuContext ctx);

    /// <summary>RESET: the power-on state (the BSP starts at F000:FFF0; APs may wait for a startup IPI, engine-configured).</summary>
    void Reset();

    /// <summary>
    /// INIT (from an INIT IPI or INIT#): the INIT state of SDM 9.1.1 (MTRRs, PAT and the APIC base are
    /// kept); an application processor then waits for a startup IPI, the BSP starts at F000:FFF0.
    /// </summary>
    void Init() => Reset();

    /// <summary>
    /// Startup IPI: a vCPU waiting for SIPI starts in real mode at CS:IP = (vector &lt;&lt; 8):0000
    /// (linear vector * 4 KiB); ignored when the vCPU is not waiting. May be called from any thread.
    /// </summary>
    void Sipi(byte vector) => throw new NotSupportedException($"{GetType().Name} does not implement startup IPIs");

    /// <summary>True while the vCPU waits for a startup IPI (Run returns Halted; interrupts are not taken).</summary>
    bool WaitingForSipi => false;

    /// <summary>The platform changed the physical memory map (RAM/ROM/MMIO at an address): drop every cached translation.</summary>
    void NotifyMemoryMapChanged();

    /// <summary>The A20 gate (port 92h / keyboard controller): when off, physical address bit 20 reads as 0.</summary>
    void SetA20(bool enabled);

    /// <summary>Debugger single-step: the next Run executes one instruction and returns SingleStep.</summary>
    bool DebugSingleStep { get; set; }
    /// <summary>Debugger execution breakpoints on linear addresses (Run returns Breakpoint before executing one).</summary>
    void SetDebugBreakpoints(ReadOnlySpan<ulong> linearAddresses);

    // ---- cross-thread: may be called from any thread ----

    /// <summary>The INTR line from the interrupt controller (level). The CPU acknowledges through ICpuBus when it takes it.</summary>
    void SetInterruptLine(bool asserted);
    /// <summary>Latches an NMI.</summary>
    void InjectNmi();
    /// <summary>Makes Run return <see cref="VcpuExitReason.Stopped"/> at the next instruction boundary and wakes a halted vCPU.</summary>
    void RequestStop();
    /// <summary>Blocks a halted vCPU's thread until an interrupt, NMI or stop request arrives (or the timeout). Returns true if woken.</summary>
    bool WaitForWakeup(int timeoutMs);
}
