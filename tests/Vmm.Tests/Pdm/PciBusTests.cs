using SharpBox.Vmm.Pdm;
using SharpBox.Vmm.Pgm;

namespace SharpBox.Vmm.Tests.Pdm;

public unsafe class PciBusTests
{
    private sealed class Regs : IIoPortDevice, IMmioDevice
    {
        public uint IoRead(ushort offset, int size) => 0x40u + offset;
        public void IoWrite(ushort offset, int size, uint value) { }
        public ulong MmioRead(ulong offset, int size) => 0x80UL + offset;
        public void MmioWrite(ulong offset, int size, ulong value) { }
    }

    private sealed class Sink : IInterruptPinSink
    {
        public readonly bool[] Pins = new bool[24];
        public void SetPin(int pin, bool level) => Pins[pin] = level;
    }

    [Fact]
    public void ConfigSpaceBarsAndIntx()
    {
        using var mem = new PhysicalMemoryMap();
        mem.AllocateRam(16 << 20);
        mem.MapRam(0, 16 << 20, 0);
        var ports = new IoPortSpace();
        var irqs = new IrqRouter();
        var io = new Sink();
        irqs.IoApic = io;
        var bus = new PciBus(ports, mem, irqs);
        var fn = new PciFunction("test", 0x1234, 0x5678, 0x02, 0x00);
        var regs = new Regs();
        fn.DefineIoBar(0, 32, regs, new Lock());
        fn.DefineMmioBar(1, 0x1000, regs, new Lock());
        fn.SetInterruptPin(1);
        bus.Attach(fn, 3);
        int devfn = 3 << 3;
        Assert.Equal(0x5678_1234u, bus.ConfigRead(0, devfn, 0, 4));
        Assert.Equal(0xFFFF_FFFFu, bus.ConfigRead(0, 4 << 3, 0, 4));     // empty slot
        Assert.Equal(0xFFFFu, bus.ConfigRead(1, devfn, 0, 2));           // no bus 1
        // BAR sizing: write all ones, read the size mask back.
        bus.ConfigWrite(0, devfn, 0x10, 4, 0xFFFF_FFFF);
        Assert.Equal(0xFFFF_FFE1u, bus.ConfigRead(0, devfn, 0x10, 4));
        bus.ConfigWrite(0, devfn, 0x14, 4, 0xFFFF_FFFF);
        Assert.Equal(0xFFFF_F000u, bus.ConfigRead(0, devfn, 0x14, 4));
        // Assign and enable decoding: the ranges appear.
        bus.ConfigWrite(0, devfn, 0x10, 4, 0xC000);
        bus.ConfigWrite(0, devfn, 0x14, 4, 0xFEB0_0000);
        Assert.Equal(0xFFu, ports.Read(0xC004, 1));
        bus.ConfigWrite(0, devfn, 0x04, 2, PciFunction.CmdIo | PciFunction.CmdMem);
        Assert.Equal(0x44u, ports.Read(0xC004, 1));
        Assert.Equal(PhysPageType.Mmio, mem.Lookup(0xFEB0_0010, out _, out var region));
        Assert.Equal(0x90UL, mem.MmioRead(0, region!, 0xFEB0_0010, 4));
        // Moving the BAR moves the range.
        bus.ConfigWrite(0, devfn, 0x10, 4, 0xD000);
        Assert.Equal(0xFFu, ports.Read(0xC004, 1));
        Assert.Equal(0x44u, ports.Read(0xD004, 1));
        // INTA of slot 3 is PIRQ (3 + 0) mod 4 = D → GSI 19; Interrupt Disable masks it.
        fn.SetIntx(true);
        Assert.True(io.Pins[19]);
        Assert.Equal(PciFunction.StatusIntx, (ushort)(bus.ConfigRead(0, devfn, 0x06, 2) & PciFunction.StatusIntx));
        bus.ConfigWrite(0, devfn, 0x04, 2, PciFunction.CmdIo | PciFunction.CmdMem | PciFunction.CmdIntxDisable);
        Assert.False(io.Pins[19]);
        // Read-only registers stay.
        bus.ConfigWrite(0, devfn, 0x00, 4, 0);
        Assert.Equal(0x5678_1234u, bus.ConfigRead(0, devfn, 0, 4));
        Assert.Throws<InvalidOperationException>(() => bus.Attach(new PciFunction("dup", 1, 1, 0, 0), 3));
    }
}
