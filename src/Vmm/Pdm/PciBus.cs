using SharpBox.Vmm.Pgm;

namespace SharpBox.Vmm.Pdm;

/// <summary>
/// PCI bus 0: functions indexed by devfn in a flat 256-entry table (O(1) config dispatch), BAR mapping
/// into PGM's port and memory spaces, and INTx routing: device slot d, pin p → PIRQ (d + p - 1) mod 4,
/// as the PIIX3 wires its four PIRQ lines. Config accesses take the function's device lock.
/// </summary>
public sealed class PciBus(IoPortSpace ports, PhysicalMemoryMap memory, IrqRouter irqs)
{
    private readonly PciFunction?[] _functions = new PciFunction?[256];

    internal IoPortSpace Ports => ports;
    internal PhysicalMemoryMap Memory => memory;
    private Action<string>? _log;
    private int _logCount;

    /// <summary>Where BAR mapping problems are reported; at most 100 messages, a guest must not flood the log.</summary>
    public Action<string>? Log
    {
        get => _log is null ? null : m => { if (Interlocked.Increment(ref _logCount) <= 100) _log(m); };
        set => _log = value;
    }

    public IEnumerable<PciFunction> Functions { get { foreach (var f in _functions) if (f is not null) yield return f; } }

    public PciFunction? this[int devfn] => _functions[devfn & 0xFF];

    /// <summary>Plugs <paramref name="fn"/> in at device <paramref name="device"/>, function <paramref name="function"/>; device -1 picks the first free slot from 1.</summary>
    public void Attach(PciFunction fn, int device, int function = 0, Lock? deviceLock = null)
    {
        if (device < 0)
        {
            for (int d = 1; d < 32 && device < 0; d++) if (_functions[d << 3] is null) device = d;
            if (device < 0) throw new InvalidOperationException("PCI: bus 0 is full");
        }
        if ((uint)device >= 32 || (uint)function >= 8) throw new ArgumentOutOfRangeException(nameof(device), $"PCI: {device}.{function} is not a valid slot");
        int devfn = (device << 3) | function;
        if (_functions[devfn] is { } other) throw new InvalidOperationException($"PCI: slot {device:x2}.{function} already holds {other.Name}");
        fn.Bus = this;
        fn.DevFn = devfn;
        fn.DeviceLock = deviceLock;
        int pin = fn.ConfigSpace[PciFunction.CfgIntPin];
        if (pin is >= 1 and <= 4) fn.IntxLine = irqs.CreatePirqLine((device + pin - 1) & 3);
        _functions[devfn] = fn;
        // Multi-function devices advertise it in function 0's header type.
        if (function != 0 && _functions[device << 3] is { } f0) f0.SetHeaderTypeMultiFunction();
        fn.UpdateMappings();
    }

    public uint ConfigRead(int bus, int devfn, int reg, int size)
    {
        if (bus != 0) return AllOnes(size);
        var f = _functions[devfn & 0xFF];
        if (f is null) return AllOnes(size);
        if (f.DeviceLock is null) return f.ConfigRead(reg, size);
        using (f.DeviceLock.EnterScope()) return f.ConfigRead(reg, size);
    }

    public void ConfigWrite(int bus, int devfn, int reg, int size, uint value)
    {
        if (bus != 0) return;
        var f = _functions[devfn & 0xFF];
        if (f is null) return;
        if (f.DeviceLock is null) { f.ConfigWrite(reg, size, value); return; }
        using (f.DeviceLock.EnterScope()) f.ConfigWrite(reg, size, value);
    }

    private static uint AllOnes(int size) => size >= 4 ? 0xFFFF_FFFFu : (1u << (8 * size)) - 1;
}
