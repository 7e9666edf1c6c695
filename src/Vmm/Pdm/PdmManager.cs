using System.Globalization;
using SharpBox.Vmm.Cfgm;
using SharpBox.Vmm.Em;
using SharpBox.Vmm.Pgm;
using SharpBox.Vmm.Ssm;
using SharpBox.Vmm.Tm;

namespace SharpBox.Vmm.Pdm;

/// <summary>
/// PDM: builds the devices listed under CFGM's /Devices (one node per device type, one child per
/// instance, each with a Config node), owns the IRQ router and PCI bus 0, and resets and disposes
/// the devices. The CPU side finds the interrupt controller and APIC registers here.
/// </summary>
public sealed class PdmManager : IDisposable
{
    private readonly List<PdmDevice> _devices = new();

    public PhysicalMemoryMap PhysMap { get; }
    public IoPortSpace Ports { get; }
    public TimeManager Tm { get; }
    public IoThread Io { get; }
    public SavedStateManager Ssm { get; }
    /// <summary>Where device requests go (the VM; tests may interpose).</summary>
    public IVmRequests Requests { get; set; }
    public int CpuCount { get; }
    public VmLog Log { get; }
    public IrqRouter Irqs { get; } = new();
    public PciBus Pci { get; }
    public IGuestMemory GuestMemory { get; }

    /// <summary>Set by EM before the VM runs; devices call it to wake or signal vCPUs.</summary>
    public ICpuSignals CpuSignals { get; set; } = NoCpus.Instance;
    /// <summary>Set by the local APIC (or the PIC when there is no APIC).</summary>
    public ICpuInterruptController? InterruptController { get; set; }
    public IApicCpuInterface? ApicCpu { get; set; }

    public PdmManager(PhysicalMemoryMap physMap, IoPortSpace ports, TimeManager tm, IoThread io, SavedStateManager ssm,
        IVmRequests requests, int cpuCount, VmLog log)
    {
        PhysMap = physMap; Ports = ports; Tm = tm; Io = io; Ssm = ssm; Requests = requests; CpuCount = cpuCount; Log = log;
        Pci = new PciBus(ports, physMap, Irqs) { Log = log.Write };
        GuestMemory = new GuestMemory(physMap);
    }

    public IReadOnlyList<PdmDevice> Devices => _devices;

    public T? Find<T>() where T : class
    {
        foreach (var d in _devices) if (d is T t) return t;
        return null;
    }

    public IEnumerable<T> FindAll<T>() where T : class
    {
        foreach (var d in _devices) if (d is T t) yield return t;
    }

    /// <summary>Creates every device under /Devices in registration order; a failure names device and instance.</summary>
    public void ConstructDevices(CfgmNode root, PdmDeviceRegistry registry)
    {
        var devicesNode = root.GetChild("Devices");
        if (devicesNode is null) return;
        var work = new List<(PdmDeviceRegistration Reg, int Instance, CfgmNode Node)>();
        foreach (var devNode in devicesNode.Children)
        {
            var reg = registry.Find(devNode.Name)
                ?? throw new CfgmException($"CFGM: {devNode.Path}: unknown device type '{devNode.Name}' (known: {string.Join(", ", registry.All.Select(r => r.Name).Order())})");
            foreach (var inst in devNode.Children)
            {
                if (!int.TryParse(inst.Name, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n > 255)
                    throw new CfgmException($"CFGM: {inst.Path}: device instance must be a number 0-255");
                work.Add((reg, n, inst));
            }
        }
        work.Sort((a, b) => a.Reg.Order != b.Reg.Order ? a.Reg.Order.CompareTo(b.Reg.Order)
            : a.Reg.Name != b.Reg.Name ? string.CompareOrdinal(a.Reg.Name, b.Reg.Name) : a.Instance.CompareTo(b.Instance));
        foreach (var (reg, instance, node) in work)
        {
            var config = node.GetChild("Config") ?? node.GetOrCreateChild("Config");
            var ctx = new PdmDeviceContext(this, reg.Name, instance, config, reg.InterruptController ? Irqs.IrqLock : null);
            PdmDevice dev;
            try { dev = reg.Factory(ctx); }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                throw new PdmException($"device '{reg.Name}' instance {instance}: {e.Message}", e);
            }
            _devices.Add(dev);
            Log.Write($"PDM: device '{reg.Name}' instance {instance} created ({reg.Description})");
        }
        foreach (var d in _devices)
        {
            try { d.InitComplete(); }
            catch (Exception e) when (e is not OutOfMemoryException)
            { throw new PdmException($"device '{d.Name}' instance {d.Instance}: {e.Message}", e); }
        }
    }

    /// <summary>Hard reset of every device (the VM is paused).</summary>
    public void Reset()
    {
        foreach (var d in _devices)
            using (d.Ctx.Lock.EnterScope()) d.Reset();
    }

    public void Dispose()
    {
        for (int i = _devices.Count - 1; i >= 0; i--)
        {
            try { _devices[i].Dispose(); }
            catch (Exception e) { Log.Write($"PDM: disposing '{_devices[i].Name}': {e.Message}"); }
        }
        _devices.Clear();
    }

    private sealed class NoCpus : ICpuSignals
    {
        public static readonly NoCpus Instance = new();
        public void InterruptPending(int cpu) { }
        public void Nmi(int cpu) { }
        public void Init(int cpu) { }
        public void Startup(int cpu, byte vector) { }
    }
}

/// <summary>A device could not be created or wired: names the device and instance.</summary>
public sealed class PdmException(string message, Exception? inner = null) : Exception(message, inner);
