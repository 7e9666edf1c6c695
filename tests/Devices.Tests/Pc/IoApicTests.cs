using SharpBox.Devices.Pc;
using SharpBox.Vmm.Pdm;

namespace SharpBox.Devices.Tests.Pc;

public sealed class IoApicTests : IDisposable
{
    private readonly TestMachine _m = new(new PcMachineConfig { RamBytes = 32UL << 20, Cpus = 2 });
    public void Dispose() => _m.Dispose();

    public IoApicTests()
    {
        // Mask the PICs as the guest does before it enables interrupts (the PIT is ticking on IRQ0).
        _m.Out8(0x21, 0xFF); _m.Out8(0xA1, 0xFF);
    }
    private const ulong Base = 0xFEC0_0000;
    private ICpuInterruptController Ic => _m.Vm.Pdm.InterruptController!;

    private uint Read(int index) { _m.MmioWrite(Base, 4, (uint)index); return (uint)_m.MmioRead(Base + 0x10, 4); }
    private void Write(int index, uint v) { _m.MmioWrite(Base, 4, (uint)index); _m.MmioWrite(Base + 0x10, 4, v); }
    private void Route(int pin, uint low, uint destApic) { Write(0x11 + 2 * pin, destApic << 24); Write(0x10 + 2 * pin, low); }

    [Fact]
    public void IdentificationRegisters()
    {
        Assert.Equal(2u, Read(0) >> 24);                       // after the two CPUs' APIC IDs
        Assert.Equal(0x0017_0011u, Read(1));
        Assert.Equal(0x0001_0000u, Read(0x10) & 0x0001_0000);  // masked after reset
    }

    [Fact]
    public void EdgeAndLevelDeliveryWithRemoteIrr()
    {
        _m.MmioWrite(0xFEE0_00F0, 4, 0x1FF, 0); _m.MmioWrite(0xFEE0_00F0, 4, 0x1FF, 1);
        var line4 = _m.Vm.Pdm.Irqs.CreateIsaLine(4);
        Route(4, 0x0000_0034, 1);                              // edge, fixed, vector 0x34 → CPU 1
        line4.SetLevel(true);
        Assert.True(Ic.HasPendingInterrupt(1));
        Assert.Equal(0x34, Ic.AcknowledgeInterrupt(1));
        _m.MmioWrite(0xFEE0_00B0, 4, 0, 1);
        line4.SetLevel(false);

        var gsi20 = _m.Vm.Pdm.Irqs.CreateGsiLine(20);
        Route(20, 0x0000_8045, 0);                             // level, vector 0x45 → CPU 0
        gsi20.SetLevel(true);
        Assert.Equal(0x45, Ic.AcknowledgeInterrupt(0));
        Assert.Equal(1u << 14, Read(0x10 + 40) & (1u << 14)); // remote IRR while in service
        _m.MmioWrite(0xFEE0_00B0, 4, 0, 0);                    // EOI with the line still high: again
        Assert.Equal(0x45, Ic.AcknowledgeInterrupt(0));
        gsi20.SetLevel(false);
        _m.MmioWrite(0xFEE0_00B0, 4, 0, 0);
        Assert.Equal(0u, Read(0x10 + 40) & (1u << 14));
        Assert.False(Ic.HasPendingInterrupt(0));
    }

    [Fact]
    public void EdgesWhileMaskedAreDeliveredOnUnmask()
    {
        _m.MmioWrite(0xFEE0_00F0, 4, 0x1FF, 0);
        var line = _m.Vm.Pdm.Irqs.CreateIsaLine(6);
        Route(6, 0x0001_0056, 0);                              // masked
        line.SetLevel(true); line.SetLevel(false);
        Assert.False(Ic.HasPendingInterrupt(0));
        Route(6, 0x0000_0056, 0);
        Assert.Equal(0x56, Ic.AcknowledgeInterrupt(0));
    }
}
