using System.Globalization;
using SharpBox.Devices;
using SharpBox.Devices.Storage;
using SharpBox.Main.Api;

namespace SharpBox.Frontends.VBoxHeadless;

/// <summary>
/// Reads what the VM process needs from a machine's settings (through Main only) into the platform's
/// configuration: RAM, CPUs, firmware switches, serial ports with their --uart-mode, and the direct-boot
/// kernel, initrd and command line that VBoxManage stores as extra data.
/// </summary>
public static class MachineSettings
{
    /// <summary>Extra-data keys written by VBoxManage modifyvm --boot-kernel/--boot-initrd/--boot-cmdline.</summary>
    public const string BootKernelKey = "SharpBox/Boot/Kernel", BootInitrdKey = "SharpBox/Boot/Initrd", BootCmdlineKey = "SharpBox/Boot/Cmdline";
    /// <summary>Extra data enabling QEMU's debug-exit port at the given port (VBoxManage setextradata VM SharpBox/DebugExit 0xf4).</summary>
    public const string DebugExitKey = "SharpBox/DebugExit";

    /// <summary>Extra data turning the IDE controller's bus-master DMA off (VBoxManage setextradata VM SharpBox/IDE/BusMaster 0): the guest then uses PIO.</summary>
    public const string IdeBusMasterKey = "SharpBox/IDE/BusMaster";

    /// <param name="note">receives what the VM will not show the guest (e.g. a DVD drive), for the log</param>
    public static PcMachineConfig Read(IMachine m, Action<string>? note = null)
    {
        if (m.CPUCount > 1 && !m.IOAPICEnabled)
            throw new InvalidOperationException($"{m.CPUCount} CPUs need the I/O APIC (VBoxManage modifyvm \"{m.Name}\" --ioapic on)");
        var uarts = new UartConfig?[4];
        for (uint i = 0; i < 4; i++)
        {
            var p = m.GetSerialPort(i);
            if (!p.Enabled) continue;
            uarts[i] = new UartConfig((ushort)p.IOBase, (int)p.IRQ, ModeOf(p, i + 1), LocationOf(p));
        }
        string kernel = m.GetExtraData(BootKernelKey);
        string initrd = m.GetExtraData(BootInitrdKey);
        string cmdline = m.GetExtraData(BootCmdlineKey);
        ushort? debugExit = null;
        string dbg = m.GetExtraData(DebugExitKey);
        if (dbg.Length > 0)
        {
            bool hex = dbg.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
            if (!ushort.TryParse(hex ? dbg[2..] : dbg, hex ? NumberStyles.HexNumber : NumberStyles.None, CultureInfo.InvariantCulture, out ushort port))
                throw new InvalidOperationException($"extra data {DebugExitKey} = '{dbg}' is not a port number");
            debugExit = port;
        }
        return new PcMachineConfig
        {
            DebugExitPort = debugExit,
            TripleFaultReset = m.GetCPUProperty(CpuPropertyType.TripleFaultReset),
            RamBytes = (ulong)m.MemorySize << 20,
            Cpus = (int)m.CPUCount,
            Kernel = kernel.Length == 0 ? null : kernel,
            Initrd = initrd.Length == 0 ? null : initrd,
            CmdLine = cmdline,
            Uarts = uarts,
            Acpi = m.ACPIEnabled,
            IoApic = m.IOAPICEnabled,
            Hpet = m.HPETEnabled,
            RtcUseUtc = m.RTCUseUTC,
            Uuid = m.HardwareUUID == Guid.Empty ? m.Id : m.HardwareUUID,
            TimeOffsetMs = m.TimeOffset,
            ParavirtProvider = m.GetEffectiveParavirtProvider().ToString(),
            Ide = ReadStorage(m, note ?? (_ => { })),
        };
    }

    /// <summary>Controller types the VM emulates: the IDE function of the PIIX3/PIIX4 (ICH6 as a PIIX4-class IDE).</summary>
    private static bool IsEmulatedIde(IStorageController c)
        => c.Bus == StorageBus.IDE && c.ControllerType is StorageControllerType.PIIX3 or StorageControllerType.PIIX4 or StorageControllerType.ICH6;

    /// <summary>
    /// The IDE controller with its hard disks. A hard disk on a controller that is not emulated is
    /// refused (the guest would silently miss it); DVD and floppy drives are left empty (no ATAPI or
    /// floppy controller yet) and said so through <paramref name="note"/>.
    /// </summary>
    public static IdeControllerConfig? ReadStorage(IMachine m, Action<string> note)
    {
        IdeControllerConfig? ide = null;
        foreach (var c in m.StorageControllers)
        {
            var attachments = m.GetMediumAttachmentsOfController(c.Name);
            bool emulated = IsEmulatedIde(c);
            if (emulated && ide is not null)
                throw new InvalidOperationException($"the machine has two IDE controllers ('{ide.Name}' and '{c.Name}'); only one can be emulated");
            var disks = new List<IdeDiskConfig>();
            foreach (var a in attachments)
            {
                string where = $"controller '{c.Name}' port {a.Port} device {a.Device}";
                if (a.Type != DeviceType.HardDisk)
                {
                    string what = a.Type == DeviceType.DVD ? "DVD drive" : a.Type == DeviceType.Floppy ? "floppy drive" : $"{a.Type} device";
                    note($"Storage: the {what} at {where} is not emulated yet (no ATAPI/floppy); the slot stays empty");
                    continue;
                }
                if (!emulated)
                    throw new InvalidOperationException(
                        $"{where} ({c.ControllerType}) has a hard disk attached, but only IDE controllers (PIIX3, PIIX4, ICH6) are emulated; " +
                        $"attach the disk to an IDE controller (VBoxManage storagectl \"{m.Name}\" --name IDE --add ide)");
                IMedium medium = m.GetMedium(c.Name, a.Port, a.Device)
                    ?? throw new InvalidOperationException($"{where}: the hard disk slot has no medium");
                disks.Add(ReadDisk(medium, a, where));
            }
            if (emulated)
            {
                string bm = m.GetExtraData(IdeBusMasterKey);
                if (bm is not ("" or "0" or "1"))
                    throw new InvalidOperationException($"extra data {IdeBusMasterKey} = '{bm}' must be 0 or 1");
                ide = new IdeControllerConfig(c.ControllerType.ToString().ToUpperInvariant(), c.Name) { Disks = disks, BusMaster = bm != "0" };
            }
        }
        return ide;
    }

    private static IdeDiskConfig ReadDisk(IMedium medium, MediumAttachment a, string where)
    {
        MediumType type = medium.Base.Type;
        bool readOnly = type == MediumType.Readonly;
        if (type is MediumType.Immutable or MediumType.MultiAttach)
            throw new InvalidOperationException($"{where}: the medium '{medium.Location}' is {type.ToString().ToLowerInvariant()}; its automatic differencing image is not supported yet (VBoxManage modifymedium --type normal)");
        var parents = new List<DiskImageRef>();
        for (var p = medium.Parent; p is not null; p = p.Parent)
        {
            if (parents.Count > 256) throw new InvalidOperationException($"{where}: the differencing chain of '{medium.Location}' does not end");
            parents.Add(new DiskImageRef(p.Id, p.Location, FormatOf(p)));
        }
        if (a.Port is < 0 or > 1 || a.Device is < 0 or > 1)
            throw new InvalidOperationException($"{where}: an IDE controller has ports 0-1 and devices 0-1");
        return new IdeDiskConfig(a.Port, a.Device, medium.Location, FormatOf(medium), readOnly)
        {
            Parents = parents,
            // The serial number follows the base medium, so a snapshot's differencing image keeps the disk's identity.
            Uuid = medium.Base.Id,
            NonRotational = a.NonRotational,
        };
    }

    private static string? FormatOf(IMedium m) => m.Format.ToUpperInvariant() switch
    {
        "VDI" or "VMDK" or "VHD" or "RAW" => m.Format.ToUpperInvariant(),
        _ => null,
    };

    /// <summary>The back end of a serial port: the .vbox's host mode, with host-device paths "pty"/"pty:LINK" meaning a pseudo-terminal.</summary>
    private static string ModeOf(ISerialPort p, uint n) => p.HostMode switch
    {
        PortMode.Disconnected => "disconnected",
        PortMode.RawFile => "file",
        PortMode.HostPipe => p.Server ? "server" : "client",
        PortMode.TCP => p.Server ? "tcpserver" : "tcpclient",
        PortMode.HostDevice => p.Path == "pty" || p.Path.StartsWith("pty:", StringComparison.Ordinal) ? "pty" : "hostdevice",
        _ => throw new InvalidOperationException($"UART {n}: host mode {p.HostMode} is not supported"),
    };

    private static string? LocationOf(ISerialPort p)
    {
        if (p.HostMode == PortMode.Disconnected) return null;
        if (p.HostMode == PortMode.HostDevice && p.Path == "pty") return null;
        if (p.HostMode == PortMode.HostDevice && p.Path.StartsWith("pty:", StringComparison.Ordinal)) return p.Path[4..];
        return p.Path;
    }

    public static string Describe(PcMachineConfig c) => string.Create(CultureInfo.InvariantCulture,
        $"RAM {c.RamBytes >> 20} MiB, {c.Cpus} CPU(s), ACPI {(c.Acpi ? "on" : "off")}, HPET {(c.Hpet ? "on" : "off")}, RTC {(c.RtcUseUtc ? "UTC" : "local time")}");

    /// <summary>The storage configuration for the log, one line per controller and disk.</summary>
    public static IEnumerable<string> DescribeStorage(PcMachineConfig c)
    {
        if (c.Ide is not { } ide)
        {
            yield return "Storage: no disk controller";
            yield break;
        }
        yield return $"Storage: controller '{ide.Name}' ({ide.Type} IDE{(ide.BusMaster ? ", bus-master DMA" : ", PIO only")}), {ide.Disks.Count} hard disk(s)";
        foreach (var d in ide.Disks)
        {
            string chain = d.Parents.Count == 0 ? "" : " over " + string.Join(" over ", d.Parents.Select(p => $"{{{p.Uuid}}} {p.Path}"));
            yield return $"Storage:   port {d.Channel} device {d.Device}: {{{d.Uuid}}} {d.Path}{(d.ReadOnly ? " (read-only)" : "")}{chain}";
        }
    }
}
