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
        void Work(int i)
        {
            bus.IoWrite(0x3F8, 1, (uint)i);                  // UART transmit
            bus.IoRead(0x3FD, 1);                            // UART LSR
            bus.IoWrite(0x70, 1, 0x00); bus.IoRead(0x71, 1); // RTC seconds
            bus.IoWrite(0x43, 1, 0x00); bus.IoRead(0x40, 1); bus.IoRead(0x40, 1);   // PIT latch + read
            bus.IoRead(0x21, 1);                             // PIC IMR
            bus.IoRead(0x608, 4);                            // ACPI PM timer
            bus.IoWrite(0xCF8, 4, 0x8000_0000); bus.IoRead(0xCFC, 4);            // PCI config
            bus.MmioWrite(0xFEE0_0080, 4, 0);                // APIC TPR
            bus.MmioRead(0xFEE0_0390, 4);                    // APIC current count
            bus.MmioWrite(0xFEC0_0000, 4, 0x10); bus.MmioRead(0xFEC0_0010, 4);   // IOAPIC
            bus.MmioRead(0xFED0_00F0, 8);                    // HPET counter
            bus.MmioWrite(0xFEE0_0300, 4, 0x0004_4030);      // self IPI, vector 0x30
            bus.AcknowledgeInterrupt(0);                     // INTA through the APIC
            bus.MmioWrite(0xFEE0_00B0, 4, 0);                // EOI
            bus.ReadTsc();
            bus.LookupPage(0x1000, out _);
        }
        _m.MmioWrite(0xFEE0_00F0, 4, 0x1FF);                 // APIC software-enabled
        _m.Out8(0x3FB, 0x03); _m.Out8(0x3FC, 0x0B);
        for (int i = 0; i < 2000; i++) Work(i);              // warm up (JIT, first-use allocations)
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20_000; i++) Work(i);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
