using SharpBox.Vmm.Cfgm;
using SharpBox.Vmm.Em;
using SharpBox.Vmm.Pgm;
using SharpBox.Vmm.Ssm;
using SharpBox.Vmm.Tm;

namespace SharpBox.Vmm.Pdm;

/// <summary>
/// A device instance. Devices are built by their registered factory from their CFGM node, register
/// their ports, MMIO, timers, IRQ lines and saved state through <see cref="PdmDeviceContext"/>, and are
/// called under their own lock (<see cref="PdmDeviceContext.Lock"/>) for every access, timer and reset.
/// </summary>
public abstract class PdmDevice : IDisposable
{
    protected PdmDevice(PdmDeviceContext ctx) { Ctx = ctx; ctx.Device = this; }

    public PdmDeviceContext Ctx { get; }
    public string Name => Ctx.DeviceName;
    public int Instance => Ctx.Instance;

    /// <summary>After every device exists: look up peers (e.g. the APIC finds the PIC).</summary>
    public virtual void InitComplete() { }
    /// <summary>Hard reset (power-on state). Called with the device lock held.</summary>
    public virtual void Reset() { }
    /// <summary>The VM stopped for good: release host resources (files, sockets, ptys).</summary>
    public virtual void Dispose() { GC.SuppressFinalize(this); }
}

/// <summary>How PDM builds a device named in CFGM's /Devices.</summary>
/// <param name="Order">construction order (interrupt controllers and buses first)</param>
/// <param name="InterruptController">the device is an interrupt controller: its lock is PDM's shared IRQ lock</param>
public sealed record PdmDeviceRegistration(string Name, int Order, string Description, Func<PdmDeviceContext, PdmDevice> Factory,
    bool InterruptController = false);

/// <summary>The device types a VM can contain (the VBoxDD builtins registered by the Devices assembly).</summary>
public sealed class PdmDeviceRegistry
{
    private readonly Dictionary<string, PdmDeviceRegistration> _byName = new(StringComparer.Ordinal);

    public void Add(PdmDeviceRegistration reg)
    {
        if (!_byName.TryAdd(reg.Name, reg)) throw new InvalidOperationException($"PDM: device '{reg.Name}' registered twice");
    }

    public PdmDeviceRegistration? Find(string name) => _byName.GetValueOrDefault(name);
    public IEnumerable<PdmDeviceRegistration> All => _byName.Values;
}

/// <summary>The helpers one device instance gets (VirtualBox's PDMDEVHLP): everything it may touch of the VM.</summary>
public sealed class PdmDeviceContext
{
    private readonly PdmManager _pdm;
    internal PdmDevice? Device;

    internal PdmDeviceContext(PdmManager pdm, string name, int instance, CfgmNode config, Lock? sharedLock)
    {
        _pdm = pdm; DeviceName = name; Instance = instance; Config = config;
        Lock = sharedLock ?? new Lock();
    }

    public string DeviceName { get; }
    public int Instance { get; }
    /// <summary>This instance's settings: /Devices/&lt;name&gt;/&lt;instance&gt;/Config.</summary>
    public CfgmNode Config { get; }
    /// <summary>The instance node itself (its LUN#n children describe attached host drivers).</summary>
    public CfgmNode InstanceNode => Config.Parent!;
    /// <summary>The device's critical section: held for every port/MMIO access, timer callback and reset.</summary>
    public Lock Lock { get; }

    public PdmManager Pdm => _pdm;
    public IGuestMemory Memory => _pdm.GuestMemory;
    public PhysicalMemoryMap PhysMap => _pdm.PhysMap;
    public TimeManager Tm => _pdm.Tm;
    public IoThread Io => _pdm.Io;
    public IrqRouter Irqs => _pdm.Irqs;
    public PciBus Pci => _pdm.Pci;
    public IVmRequests Vm => _pdm.Requests;
    public ICpuSignals CpuSignals => _pdm.CpuSignals;
    public int CpuCount => _pdm.CpuCount;
    public VmLog Log => _pdm.Log;

    private string Tag => Instance == 0 ? DeviceName : $"{DeviceName}#{Instance}";

    /// <summary>Most messages a device writes to the release log: a guest must not be able to fill the disk.</summary>
    public const int MaxLogMessages = 100;
    private int _logCount;

    public void LogRel(string message)
    {
        int n = Interlocked.Increment(ref _logCount);
        if (n <= MaxLogMessages) _pdm.Log.Write($"{Tag}: {message}");
        else if (n == MaxLogMessages + 1) _pdm.Log.Write($"{Tag}: further messages of this device are suppressed");
    }

    public IoPortRange RegisterIoPorts(ushort first, int count, IIoPortDevice handler, IoWidths widths = IoWidths.All, string? what = null)
        => _pdm.Ports.Register(what is null ? Tag : $"{Tag} {what}", first, count, handler, Lock, widths);

    public MmioRegion RegisterMmio(ulong gpa, ulong size, IMmioDevice handler, string? what = null)
    {
        var r = _pdm.PhysMap.CreateMmio(what is null ? Tag : $"{Tag} {what}", size, handler, Lock);
        _pdm.PhysMap.MapMmio(r, gpa);
        return r;
    }

    public MmioRegion RegisterPerCpuMmio(ulong gpa, ulong size, IPerCpuMmioDevice handler)
    {
        var r = _pdm.PhysMap.CreatePerCpuMmio(Tag, size, handler, Lock);
        _pdm.PhysMap.MapMmio(r, gpa);
        return r;
    }

    public TmTimer CreateTimer(string name, Action callback) => _pdm.Tm.Timers.Create($"{Tag} {name}", callback, Lock);

    public IIrqLine IsaIrq(int irq) => _pdm.Irqs.CreateIsaLine(irq);

    public void RegisterPci(PciFunction fn, int device = -1, int function = 0) => _pdm.Pci.Attach(fn, device, function, Lock);

    /// <summary>Registers this device's saved-state unit (named after the device and instance).</summary>
    public void RegisterSavedState(uint version, Action<SsmWriter> save, Action<SsmReader, uint> load)
        => _pdm.Ssm.Register(new SsmUnit(DeviceName, Instance, version,
            w => { using (Lock.EnterScope()) save(w); },
            (r, v) => { using (Lock.EnterScope()) load(r, v); }));

    /// <summary>A peer device (after construction: use it from InitComplete).</summary>
    public T? Find<T>() where T : class => _pdm.Find<T>();
}
