using SharpBox.Devices.Storage;
using SharpBox.Vmm.Cfgm;
using SharpBox.Vmm.Em;

namespace SharpBox.Devices;

/// <summary>A serial port as VBoxManage's --uart/--uart-mode describe it.</summary>
public sealed record UartConfig(ushort IoBase, int Irq, string Mode, string? Location);

/// <summary>
/// A hard disk on the IDE controller: channel 0/1 (primary/secondary, VirtualBox's port), device 0/1
/// (master/slave), the image to open (the current image of a snapshot chain) and its parents as the
/// media registry lists them, nearest first.
/// </summary>
public sealed record IdeDiskConfig(int Channel, int Device, string Path, string? Format, bool ReadOnly = false)
{
    public IReadOnlyList<DiskImageRef> Parents { get; init; } = [];
    public Guid Uuid { get; init; }
    public bool NonRotational { get; init; }
}

/// <summary>The IDE controller: PIIX3, PIIX4 or ICH6 (VirtualBox's controller types of the IDE bus).</summary>
public sealed record IdeControllerConfig(string Type, string Name)
{
    public IReadOnlyList<IdeDiskConfig> Disks { get; init; } = [];
    /// <summary>Bus-master DMA (BAR4); off leaves the guest on PIO.</summary>
    public bool BusMaster { get; init; } = true;
}

/// <summary>The machine settings the VM process turns into CFGM (from the .vbox through Main, or from a test).</summary>
public sealed record PcMachineConfig
{
    public ulong RamBytes { get; init; } = 128UL << 20;
    public int Cpus { get; init; } = 1;
    public string? Kernel { get; init; }
    public string? Initrd { get; init; }
    public string CmdLine { get; init; } = "";
    public IReadOnlyList<UartConfig?> Uarts { get; init; } = [];
    public bool Acpi { get; init; } = true;
    /// <summary>The I/O APIC (VirtualBox's --ioapic); without it interrupts reach the CPU through the PIC only.</summary>
    public bool IoApic { get; init; } = true;
    public bool Hpet { get; init; } = true;
    public bool X2Apic { get; init; }
    public bool RtcUseUtc { get; init; } = true;
    /// <summary>RTC offset from the host clock (VBoxManage modifyvm --biossystemtimeoffset), milliseconds.</summary>
    public long TimeOffsetMs { get; init; }
    public Guid Uuid { get; init; } = Guid.Empty;
    /// <summary>QEMU's isa-debug-exit port (test payloads); off unless asked for, so a guest cannot end the VM by accident.</summary>
    public ushort? DebugExitPort { get; init; }
    public bool TripleFaultReset { get; init; }
    /// <summary>The effective paravirtualization provider (none, minimal, kvm, hyperv): CFGM /GIM/Provider.</summary>
    public string ParavirtProvider { get; init; } = "None";
    /// <summary>The IDE controller and its disks (none: the machine has no disk controller).</summary>
    public IdeControllerConfig? Ide { get; init; }
}

/// <summary>
/// Builds the CFGM tree of the PC platform: root values (RAM, CPUs) and one node per device under
/// /Devices with its Config, as VirtualBox's Console builds it from the machine settings.
/// </summary>
public static class PcConfig
{
    public static CfgmNode Build(PcMachineConfig m)
    {
        if (m.Cpus < 1 || m.Cpus > 64) throw new CfgmException($"CPU count {m.Cpus} is out of range (1-64)");
        var root = CfgmNode.CreateRoot();
        root.SetInteger("RamSize", m.RamBytes);
        root.SetInteger("NumCPUs", (ulong)m.Cpus);
        // As VirtualBox's CFGM: /EM/TripleFaultReset (VBoxManage modifyvm --triple-fault-reset).
        root.GetOrCreateChild("EM").SetBool("TripleFaultReset", m.TripleFaultReset);
        root.InsertNode("GIM").SetString("Provider", m.ParavirtProvider);
        ulong low = Math.Min(m.RamBytes, VirtualMachine.DefaultRamHole), high = m.RamBytes - low;
        var dev = root.InsertNode("Devices");
        void Add(string name, Action<CfgmNode>? config = null, int instance = 0)
        {
            var node = dev.GetOrCreateChild(name).InsertNode(instance.ToString(System.Globalization.CultureInfo.InvariantCulture));
            config?.Invoke(node.InsertNode("Config"));
        }
        Add("pci");
        Add("piix3");
        Add("i8259");
        if (m.IoApic) Add("ioapic");
        else if (m.Cpus > 1) throw new CfgmException($"{m.Cpus} CPUs need the I/O APIC");
        Add("apic", c => c.SetBool("X2Apic", m.X2Apic));
        Add("i8254");
        Add("mc146818", c =>
        {
            c.SetBool("UseUTC", m.RtcUseUtc);
            c.SetInteger("StartTimeOffset", m.TimeOffsetMs / 1000);
            c.SetInteger("RamSizeBelow4G", low);
            c.SetInteger("RamSizeAbove4G", high);
            c.SetInteger("CpuCount", (ulong)m.Cpus);
        });
        Add("pckbd");
        Add("port92");
        if (m.Acpi) Add("acpi");
        if (m.Hpet) Add("hpet");
        Add("fwcfg", c => { c.SetString("UUID", m.Uuid.ToString()); c.SetInteger("RamSize", m.RamBytes); });
        for (int i = 0; i < m.Uarts.Count; i++)
        {
            if (m.Uarts[i] is not { } u) continue;
            var node = dev.GetOrCreateChild("serial").InsertNode(i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            node.InsertNode("Config").SetInteger("IOBase", u.IoBase).SetInteger("IRQ", (ulong)u.Irq);
            var lun = node.InsertNode("LUN#0").InsertNode("Config");
            lun.SetString("Mode", u.Mode);
            if (u.Location is not null) lun.SetString("Location", u.Location);
        }
        if (m.Ide is { } ide) AddIde(dev, ide);
        if (m.DebugExitPort is ushort dbg) Add("debugexit", c => c.SetInteger("IOBase", dbg));
        Add("bootmarker");
        Add("pcfirmware", c =>
        {
            if (m.Kernel is not null) c.SetString("Kernel", m.Kernel);
            if (m.Initrd is not null) c.SetString("Initrd", m.Initrd);
            c.SetString("CmdLine", m.CmdLine);
            c.SetInteger("RamBelow4G", low);
            c.SetInteger("RamAbove4G", high);
            c.SetBool("Acpi", m.Acpi);
        });
        return root;
    }

    /// <summary>A hard disk's LUN Config node on its own (for reopening images while the VM runs).</summary>
    public static CfgmNode IdeLunConfig(IdeDiskConfig d)
    {
        var cfg = CfgmNode.CreateRoot().InsertNode("LUN").InsertNode("Config");
        FillLun(cfg, d);
        return cfg;
    }

    private static void FillLun(CfgmNode cfg, IdeDiskConfig d)
    {
        cfg.SetString("Type", "HardDisk");
        DrvDisk.Describe(cfg, d.Path, d.Format, d.ReadOnly, d.Parents);
        if (d.Uuid != Guid.Empty) cfg.SetString("Uuid", d.Uuid.ToString());
        cfg.SetBool("NonRotational", d.NonRotational);
    }

    private static void AddIde(CfgmNode devices, IdeControllerConfig ide)
    {
        var node = devices.GetOrCreateChild("piix3ide").InsertNode("0");
        node.InsertNode("Config").SetString("Type", ide.Type).SetBool("BusMaster", ide.BusMaster);
        foreach (var d in ide.Disks)
        {
            if (d.Channel is < 0 or > 1 || d.Device is < 0 or > 1)
                throw new CfgmException($"IDE controller '{ide.Name}': port {d.Channel} device {d.Device} does not exist (ports 0-1, devices 0-1)");
            int lun = d.Channel * 2 + d.Device;
            if (node.GetChild($"LUN#{lun}") is not null)
                throw new CfgmException($"IDE controller '{ide.Name}': port {d.Channel} device {d.Device} has two disks");
            FillLun(node.InsertNode($"LUN#{lun}").InsertNode("Config"), d);
        }
    }
}
