using SharpBox.Vmm.Pdm;
using SharpBox.Vmm.Pgm;

namespace SharpBox.Devices.Pc;

/// <summary>
/// QEMU's isa-debug-exit: a write of V to the port stops the VM and the VM process exits with status
/// (V &lt;&lt; 1) | 1, so test payloads report pass/fail without a guest OS. CFGM: IOBase (0xF4), Size (1, 2 or 4).
/// </summary>
public sealed class DevDebugExit : PdmDevice, IIoPortDevice
{
    public DevDebugExit(PdmDeviceContext ctx) : base(ctx)
    {
        ctx.Config.Validate(["IOBase", "Size"]);
        ushort port = (ushort)ctx.Config.GetInteger("IOBase", 0xF4, 0, 0xFFFC);
        int size = (int)ctx.Config.GetInteger("Size", 1, 1, 4);
        if (size == 3) throw new ArgumentException("debug-exit Size must be 1, 2 or 4");
        ctx.RegisterIoPorts(port, size, this);
        ctx.LogRel($"debug-exit port at 0x{port:X}");
    }

    public uint IoRead(ushort offset, int size) => 0;

    public void IoWrite(ushort offset, int size, uint value)
    {
        int code = (int)(((value << 1) | 1) & 0xFF);
        Ctx.LogRel($"guest wrote 0x{value:X} to the debug-exit port: exit status {code}");
        Ctx.Vm.RequestDebugExit(code);
    }
}
