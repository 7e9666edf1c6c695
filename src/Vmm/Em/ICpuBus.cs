namespace SharpBox.Vmm.Em;

/// <summary>What a guest-physical page is, as the platform's memory map says.</summary>
public enum PhysPageKind : byte
{
    /// <summary>Nothing there: reads return all ones, writes are dropped.</summary>
    Unassigned,
    /// <summary>Ordinary RAM: the CPU reads and writes the host memory directly.</summary>
    Ram,
    /// <summary>ROM: reads from host memory, writes are dropped.</summary>
    Rom,
    /// <summary>Device memory: every access goes through <see cref="ICpuBus.MmioRead"/>/<see cref="ICpuBus.MmioWrite"/>.</summary>
    Mmio,
}

/// <summary>
/// The platform as a CPU engine sees it (guest-physical memory map, port I/O, the interrupt
/// controller, the TSC). Implemented by the VM process (PDM/PGM); the software CPU calls it in place
/// from the vCPU thread, a hardware engine calls it on exits. Methods may be called concurrently from
/// several vCPU threads. Port and MMIO dispatch are the platform's (flat tables, no allocation).
/// </summary>
public unsafe interface ICpuBus
{
    /// <summary>
    /// Looks up the 4 KiB guest-physical page containing <paramref name="gpa"/>. For RAM and ROM,
    /// <paramref name="host"/> receives the host address of the page's first byte; it must stay valid
    /// until the platform calls <see cref="IVirtualCpu.NotifyMemoryMapChanged"/>.
    /// </summary>
    PhysPageKind LookupPage(ulong gpa, out byte* host);

    /// <param name="size">1, 2, 4 or 8; the access never crosses a page.</param>
    ulong MmioRead(ulong gpa, int size);
    void MmioWrite(ulong gpa, int size, ulong value);

    /// <param name="size">1, 2 or 4.</param>
    uint IoRead(ushort port, int size);
    void IoWrite(ushort port, int size, uint value);

    /// <summary>
    /// Interrupt acknowledge: called when the CPU takes the external interrupt it was told about
    /// through <see cref="IVirtualCpu.SetInterruptLine"/>. Returns the vector, or -1 when the request
    /// went away meanwhile (the CPU then carries on).
    /// </summary>
    int AcknowledgeInterrupt(int cpuIndex);

    /// <summary>The platform's TSC: monotonic, shared by all vCPUs of the VM, ticking at <see cref="Cpum.CpuModel.TscHz"/>.</summary>
    ulong ReadTsc();

    /// <summary>
    /// MSRs the CPU model does not own (x2APIC range, the APIC base relocation, machine-check banks...).
    /// Return false to make the access raise #GP. The CPU tells the platform about APIC_BASE writes here too.
    /// </summary>
    bool TryReadMsr(int cpuIndex, uint msr, out ulong value);
    bool TryWriteMsr(int cpuIndex, uint msr, ulong value);

    /// <summary>CR8 (task priority) reads and writes; the local APIC owns the value.</summary>
    ulong ReadCr8(int cpuIndex);
    void WriteCr8(int cpuIndex, ulong value);
}
