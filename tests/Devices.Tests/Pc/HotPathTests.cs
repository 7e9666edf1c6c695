using SharpBox.Vmm.Em;

namespace SharpBox.Devices.Tests.Pc;

/// <summary>The per-access paths a running guest hits constantly must not allocate.</summary>
public sealed unsafe class HotPathTests : IDisposable
{
    private readonly TestMachine _m = new(new PcMachineConfig
    {
        RamBytes = 32UL << 20, Cpus = 2, Hpet = true,
        Uarts = [new UartConfig(0x3F8, 4, "disconnected", null)],
    });

    public void Dispose() => _m.Dispose();

    [Fact]
    public void PortMmioAndInterruptPathsAllocateNothing()
    {
        var bus = _m.Vm.Bus;
        _m.Vm.Pdm.CpuSignals = _m.Vm.Em;                      // the real signal path, not the test recorder
        // One row per path, so a failure names the access that allocates.
        (string Name, Action<int> Access)[] paths =
        [
            ("UART transmit", i => bus.IoWrite(0x3F8, 1, (uint)i)),
            ("UART LSR", _ => bus.IoRead(0x3FD, 1)),
            ("RTC seconds", _ => { bus.IoWrite(0x70, 1, 0x00); bus.IoRead(0x71, 1); }),
            ("PIT latch + read", _ => { bus.IoWrite(0x43, 1, 0x00); bus.IoRead(0x40, 1); bus.IoRead(0x40, 1); }),
            ("PIC IMR", _ => bus.IoRead(0x21, 1)),
            ("ACPI PM timer", _ => bus.IoRead(0x608, 4)),
            ("PCI config", _ => { bus.IoWrite(0xCF8, 4, 0x8000_0000); bus.IoRead(0xCFC, 4); }),
            ("APIC TPR", _ => bus.MmioWrite(0xFEE0_0080, 4, 0)),
            ("APIC current count", _ => bus.MmioRead(0xFEE0_0390, 4)),
            ("IOAPIC", _ => { bus.MmioWrite(0xFEC0_0000, 4, 0x10); bus.MmioRead(0xFEC0_0010, 4); }),
            ("HPET counter", _ => bus.MmioRead(0xFED0_00F0, 8)),
            ("self IPI, INTA, EOI", _ => { bus.MmioWrite(0xFEE0_0300, 4, 0x0004_4030); bus.AcknowledgeInterrupt(0); bus.MmioWrite(0xFEE0_00B0, 4, 0); }),
            ("TSC", _ => bus.ReadTsc()),
            ("page lookup", _ => bus.LookupPage(0x1000, out byte* _)),
        ];
        _m.MmioWrite(0xFEE0_00F0, 4, 0x1FF);                 // APIC software-enabled
        _m.Out8(0x3FB, 0x03); _m.Out8(0x3FC, 0x0B);
        foreach (var (_, access) in paths)
            for (int i = 0; i < 2000; i++) access(i);         // warm up (JIT, first-use allocations)
        var allocating = new List<string>();
        foreach (var (name, access) in paths)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 20_000; i++) access(i);
            long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
            // A per-access allocation shows up as >= 24 bytes x 20,000. A single lazy allocation (the
            // runtime's wait object the first time the I/O thread contends for a lock, under load) is
            // not per access and is tolerated.
            if (bytes >= 1024) allocating.Add($"{name}: {bytes} bytes in 20,000 accesses");
        }
        Assert.Empty(allocating);
    }
}
