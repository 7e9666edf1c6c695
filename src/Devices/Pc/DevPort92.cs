using SharpBox.Vmm.Pdm;
using SharpBox.Vmm.Pgm;

namespace SharpBox.Devices.Pc;

/// <summary>
/// System control port A (0x92): bit 1 is the "fast A20" gate, a 0→1 write of bit 0 resets the CPU
/// (fast reset). A20 is shared with the i8042's output port: whichever wrote last decides.
/// </summary>
public sealed class DevPort92 : PdmDevice, IIoPortDevice
{
    private byte _value;

    public DevPort92(PdmDeviceContext ctx) : base(ctx)
    {
        ctx.Config.Validate([]);
        ctx.RegisterIoPorts(0x92, 1, this, IoWidths.Byte);
        ctx.RegisterSavedState(1, w => w.PutU8(_value), (r, _) => _value = (byte)(r.GetU8() & 0xFE));
    }

    public override void Reset() => _value = 0;

    public uint IoRead(ushort offset, int size)
        => (uint)((_value & ~0x02) | (Ctx.PhysMap.A20Enabled ? 0x02 : 0));

    public void IoWrite(ushort offset, int size, uint value)
    {
        byte old = _value;
        _value = (byte)(value & 0xFE);
        Ctx.PhysMap.A20Enabled = (value & 0x02) != 0;
        if ((value & 1) != 0 && (old & 1) == 0) Ctx.Vm.RequestReset("port 0x92 fast reset");
    }
}
