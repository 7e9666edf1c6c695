using SharpBox.Vmm.Pdm;

namespace SharpBox.Devices.Pc;

/// <summary>
/// The PIIX3 PCI-to-ISA bridge (00.1 function 0, 8086:7000): a multi-function device whose PIRQ route
/// control registers (0x60-0x63) steer PCI interrupts A-D to ISA IRQs for the PIC. Firmware defaults are
/// set at power-on as a BIOS would leave them (A,B → IRQ10/10, C,D → IRQ11/11), since the kernel is
/// started directly.
/// </summary>
public sealed class DevPiix3 : PdmDevice, IPciIrqSteering
{
    private readonly IsaBridge _fn;

    private sealed class IsaBridge : PciFunction
    {
        private readonly DevPiix3 _dev;
        public IsaBridge(DevPiix3 dev) : base("PIIX3", 0x8086, 0x7000, 0x06, 0x01, 0x00, 0x00)
        {
            _dev = dev;
            SetHeaderType(0x00);
            SetWritable(0x4C, 1);          // IORT
            SetWritable(0x4E, 2);          // XBCS
            SetWritable(0x60, 4, 0x8F);    // PIRQRC[A-D]
            SetWritable(0x69, 1);          // TOM
            SetWritable(0x6A, 2);          // MSTAT
            SetWritable(0x70, 1);          // MBIRQ0
            SetWritable(0x76, 2);          // MBDMA
            SetWritable(0x80, 1);          // APICBASE
            SetWritable(0x82, 1);          // DLC
            SetWritable(0xA0, 1);          // SMICNTL
        }

        public void PowerOn()
        {
            ResetConfig();
            Set32(0x60, 0x0B0B_0A0A);
            EnableDecoding(CmdIo | CmdMem | CmdBusMaster);
        }

        public byte Route(int pirq) => ConfigSpace[0x60 + pirq];

        protected override void OnConfigWritten(int offset, int size, uint value)
        {
            if (offset < 0x64 && offset + size > 0x60) _dev.Ctx.Irqs.RecomputePicFromPirqs();
        }
    }

    public DevPiix3(PdmDeviceContext ctx) : base(ctx)
    {
        ctx.Config.Validate([]);
        _fn = new IsaBridge(this);
        ctx.RegisterPci(_fn, 1, 0);
        _fn.PowerOn();
        ctx.Irqs.PciSteering = this;
        ctx.RegisterSavedState(1, w => _fn.SaveConfig(w), (r, _) => { _fn.LoadConfig(r); ctx.Irqs.RecomputePicFromPirqs(); });
    }

    public override void Reset() { _fn.PowerOn(); Ctx.Irqs.RecomputePicFromPirqs(); }

    public int IsaIrqOf(int pirq)
    {
        byte r = _fn.Route(pirq);
        if ((r & 0x80) != 0) return -1;
        int irq = r & 0x0F;
        return irq is 0 or 1 or 2 or 8 or 13 ? -1 : irq;   // reserved encodings
    }
}
