using SharpBox.Vmm.Pdm;
using SharpBox.Vmm.Pgm;
using SharpBox.Vmm.Tm;

namespace SharpBox.Vmm.Em;

/// <summary>
/// The PC platform as the CPU engine sees it (<see cref="ICpuBus"/>), one per VM: PGM's page lookup and
/// MMIO dispatch, the flat port table, interrupt acknowledge through the APIC/PIC with the INTR line
/// kept in step, the APIC's MSRs and CR8, and TM's TSC. MMIO to per-CPU devices (the local APIC page)
/// needs the accessing CPU: each vCPU thread records its index in <see cref="CurrentCpu"/>.
/// </summary>
public sealed unsafe class PlatformBus(PhysicalMemoryMap memory, IoPortSpace ports, PdmManager pdm, TimeManager tm) : ICpuBus
{
    [ThreadStatic] private static int t_cpu;

    /// <summary>The vCPU index of the calling thread (0 for threads that are not vCPUs).</summary>
    public static int CurrentCpu { get => t_cpu; set => t_cpu = value; }

    /// <summary>Set by EM: recompute CPU <c>cpu</c>'s INTR line (called with the IRQ lock held).</summary>
    internal Action<int>? UpdateInterruptLine;

    public PhysPageKind LookupPage(ulong gpa, out byte* host)
    {
        var t = memory.Lookup(gpa & ~0xFFFUL, out host, out _);
        return t switch
        {
            PhysPageType.Ram => PhysPageKind.Ram,
            PhysPageType.Rom => PhysPageKind.Rom,
            PhysPageType.Mmio => PhysPageKind.Mmio,
            _ => PhysPageKind.Unassigned,
        };
    }

    public ulong MmioRead(ulong gpa, int size)
    {
        if (memory.Lookup(gpa, out _, out var region) != PhysPageType.Mmio) return size == 8 ? ulong.MaxValue : (1UL << (8 * size)) - 1;
        return memory.MmioRead(t_cpu, region!, gpa, size);
    }

    public void MmioWrite(ulong gpa, int size, ulong value)
    {
        if (memory.Lookup(gpa, out _, out var region) != PhysPageType.Mmio) return;
        memory.MmioWrite(t_cpu, region!, gpa, size, value);
    }

    public uint IoRead(ushort port, int size) => ports.Read(port, size);
    public void IoWrite(ushort port, int size, uint value) => ports.Write(port, size, value);

    public int AcknowledgeInterrupt(int cpuIndex)
    {
        var ic = pdm.InterruptController;
        if (ic is null) return -1;
        using (pdm.Irqs.IrqLock.EnterScope())
        {
            int v = ic.AcknowledgeInterrupt(cpuIndex);
            UpdateInterruptLine?.Invoke(cpuIndex);
            return v;
        }
    }

    public ulong ReadTsc() => tm.NsToTsc(tm.Clock.NowNs);

    public bool TryReadMsr(int cpuIndex, uint msr, out ulong value)
    {
        if (pdm.ApicCpu is { } a) return a.TryReadMsr(cpuIndex, msr, out value);
        value = 0;
        return false;
    }

    public bool TryWriteMsr(int cpuIndex, uint msr, ulong value)
    {
        if (pdm.ApicCpu is not { } a) return msr == 0x1B;
        using (pdm.Irqs.IrqLock.EnterScope())
        {
            bool ok = a.TryWriteMsr(cpuIndex, msr, value);
            UpdateInterruptLine?.Invoke(cpuIndex);
            return ok;
        }
    }

    public ulong ReadCr8(int cpuIndex) => pdm.ApicCpu?.GetTpr(cpuIndex) ?? 0;

    public void WriteCr8(int cpuIndex, ulong value)
    {
        if (pdm.ApicCpu is not { } a) return;
        using (pdm.Irqs.IrqLock.EnterScope())
        {
            a.SetTpr(cpuIndex, (byte)(value & 0xF));
            UpdateInterruptLine?.Invoke(cpuIndex);
        }
    }
}
