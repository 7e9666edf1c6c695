using SharpBox.Vmm.Pdm;
using SharpBox.Vmm.Pgm;
using SharpBox.Vmm.Ssm;

namespace SharpBox.Devices.Pc;

/// <summary>
/// The i440FX PCI host bridge (00.0, 8086:1237): PCI configuration mechanism #1 at 0xCF8 (address) and
/// 0xCFC-0xCFF (data), dispatched in O(1) through PDM's devfn table, and the 0xCF9 reset control
/// register of the PIIX3 that shares the port range. Its PAM and SMRAM registers hold their values for
/// firmware (shadow RAM control comes with BIOS boot).
/// </summary>
public sealed class DevPciI440Fx : PdmDevice, IIoPortDevice
{
    private uint _address;
    private byte _resetControl;
    private readonly HostBridge _fn;

    private sealed class HostBridge : PciFunction
    {
        public HostBridge() : base("i440FX", 0x8086, 0x1237, 0x06, 0x00, 0x00, 0x02)
        {
            SetWritable(0x50, 2);          // PMCCFG
            SetWritable(0x57, 1);          // DRAMC
            SetWritable(0x59, 7);          // PAM0-6
            SetWritable(0x72, 1);          // SMRAM
        }
    }

    public DevPciI440Fx(PdmDeviceContext ctx) : base(ctx)
    {
        ctx.Config.Validate([]);
        _fn = new HostBridge();
        ctx.RegisterPci(_fn, 0, 0);
        ctx.RegisterIoPorts(0xCF8, 8, this, IoWidths.All);
        ctx.RegisterSavedState(1, w => { w.PutU32(_address); w.PutU8(_resetControl); _fn.SaveConfig(w); },
            (r, _) => { _address = r.GetU32(); _resetControl = r.GetU8(); _fn.LoadConfig(r); });
    }

    public override void Reset() { _address = 0; _resetControl = 0; _fn.ResetConfig(); }

    public uint IoRead(ushort offset, int size)
    {
        if (offset < 4)
        {
            if (offset == 0 && size == 4) return _address;
            if (offset == 1 && size == 1) return _resetControl;
            return 0xFFFF_FFFF;
        }
        if ((_address & 0x8000_0000) == 0) return 0xFFFF_FFFF;
        return Ctx.Pci.ConfigRead((int)(_address >> 16) & 0xFF, (int)(_address >> 8) & 0xFF, (int)(_address & 0xFC) + offset - 4, size);
    }

    public void IoWrite(ushort offset, int size, uint value)
    {
        if (offset < 4)
        {
            if (offset == 0 && size == 4) _address = value & 0x80FF_FFFC;
            else if (offset == 1 && size == 1) WriteResetControl((byte)value);
            return;
        }
        if ((_address & 0x8000_0000) == 0) return;
        Ctx.Pci.ConfigWrite((int)(_address >> 16) & 0xFF, (int)(_address >> 8) & 0xFF, (int)(_address & 0xFC) + offset - 4, size, value);
    }

    /// <summary>PIIX3 RCR: bit 2 going 0→1 resets the system (bit 1 picks hard or soft; both restart the machine here).</summary>
    private void WriteResetControl(byte v)
    {
        bool start = (v & 4) != 0 && (_resetControl & 4) == 0;
        _resetControl = (byte)(v & 0x02);
        if (start) Ctx.Vm.RequestReset((v & 2) != 0 ? "0xCF9 hard reset" : "0xCF9 soft reset");
    }
}
