namespace SharpBox.Vmm.Pdm;

/// <summary>
/// What interrupt controllers tell the execution manager about a vCPU. EM implements it for whichever
/// engine runs the CPU; the APIC and PIC never know which one it is.
/// </summary>
public interface ICpuSignals
{
    /// <summary>An interrupt may now be deliverable to <paramref name="cpu"/>: re-check at the next boundary, leave HLT.</summary>
    void InterruptPending(int cpu);
    void Nmi(int cpu);
    /// <summary>INIT IPI (or INIT from the reset logic): the CPU enters wait-for-SIPI (APs) / reset state.</summary>
    void Init(int cpu);
    /// <summary>Startup IPI: a CPU waiting for SIPI starts in real mode at <paramref name="vector"/>:0000 (CS = vector &lt;&lt; 8).</summary>
    void Startup(int cpu, byte vector);
}

/// <summary>
/// The interrupt-acknowledge side a CPU engine calls at an instruction boundary with RFLAGS.IF set
/// (the local APIC, which in turn asks the PIC for ExtINT vectors).
/// </summary>
public interface ICpuInterruptController
{
    /// <summary>True when a maskable interrupt is ready for <paramref name="cpu"/> (priority permitting).</summary>
    bool HasPendingInterrupt(int cpu);
    /// <summary>The CPU takes the interrupt: returns its vector, or -1 when it vanished in between.</summary>
    int AcknowledgeInterrupt(int cpu);
}

/// <summary>The local APIC's CPU-side registers (the MSRs and CR8) an engine forwards.</summary>
public interface IApicCpuInterface
{
    /// <summary>RDMSR of IA32_APIC_BASE (0x1B), IA32_TSC_DEADLINE (0x6E0) and the x2APIC range (0x800-0x8FF).</summary>
    bool TryReadMsr(int cpu, uint msr, out ulong value);
    /// <summary>WRMSR of the same; false means the CPU raises #GP.</summary>
    bool TryWriteMsr(int cpu, uint msr, ulong value);
    /// <summary>CR8 reads/writes: TPR bits 7:4.</summary>
    byte GetTpr(int cpu);
    void SetTpr(int cpu, byte tpr);
}

/// <summary>The PIC as the local APIC sees it on LINT0 (virtual-wire / ExtINT delivery).</summary>
public interface IPicInterface
{
    /// <summary>The PIC's INT output (an unmasked request beats the in-service priority).</summary>
    bool OutputHigh { get; }
    /// <summary>INTA cycle: returns the vector and updates ISR/IRR (spurious IRQ 7/15 when nothing is pending).</summary>
    int Acknowledge();
    /// <summary>The APIC (or the CPU when there is none) is told when the output changes.</summary>
    Action<bool>? OutputChanged { get; set; }
}

/// <summary>What a device can ask of the VM as a whole.</summary>
public interface IVmRequests
{
    /// <summary>Hard reset of the machine (i8042 pulse, port 0x92, 0xCF9, ACPI reset register).</summary>
    void RequestReset(string reason);
    /// <summary>Power off (ACPI S5), the VM process then exits 0.</summary>
    void RequestPowerOff(string reason);
    /// <summary>The debug-exit port: stops the VM with the given process exit status.</summary>
    void RequestDebugExit(int exitCode);
    /// <summary>The guest reported it finished booting (the boot-marker port).</summary>
    void GuestBootComplete();
}
