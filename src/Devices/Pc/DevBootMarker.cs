using System.Diagnostics;
using SharpBox.Vmm.Pdm;
using SharpBox.Vmm.Pgm;

namespace SharpBox.Devices.Pc;

/// <summary>
/// Firecracker's boot-time marker: the guest writes the magic value 123 to port 0x3F0 when it has
/// booted, and the VMM logs how long that took ("Guest-boot-time = ... us ... ms, ... CPU us ... CPU ms")
/// measured from VM power-on and from process start.
/// </summary>
public sealed class DevBootMarker : PdmDevice, IIoPortDevice
{
    public const byte Magic = 123;
    private long _powerOnNs;
    private TimeSpan _powerOnCpu;
    private bool _reported;

    public DevBootMarker(PdmDeviceContext ctx) : base(ctx)
    {
        ctx.Config.Validate(["IOBase"]);
        ushort port = (ushort)ctx.Config.GetInteger("IOBase", 0x3F0, 0, 0xFFFF);
        ctx.RegisterIoPorts(port, 1, this);
        MarkPowerOn();
    }

    private void MarkPowerOn()
    {
        _powerOnNs = Stopwatch.GetTimestamp();
        _powerOnCpu = Process.GetCurrentProcess().TotalProcessorTime;
        _reported = false;
    }

    public override void Reset() => MarkPowerOn();

    public uint IoRead(ushort offset, int size) => 0;

    public void IoWrite(ushort offset, int size, uint value)
    {
        if ((byte)value != Magic || _reported) return;
        _reported = true;
        var wall = Stopwatch.GetElapsedTime(_powerOnNs);
        var cpu = Process.GetCurrentProcess().TotalProcessorTime - _powerOnCpu;
        var sinceStart = DateTime.Now - Process.GetCurrentProcess().StartTime;
        Ctx.LogRel($"Guest-boot-time = {(long)wall.TotalMicroseconds,8} us {(long)wall.TotalMilliseconds} ms, " +
                   $"{(long)cpu.TotalMicroseconds,8} CPU us {(long)cpu.TotalMilliseconds} CPU ms " +
                   $"(process start to marker: {(long)sinceStart.TotalMilliseconds} ms)");
        Ctx.Vm.GuestBootComplete();
    }
}
