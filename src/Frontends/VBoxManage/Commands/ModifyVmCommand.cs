using SharpBox.Main.Api;
using VBoxManage.Cli;

namespace VBoxManage.Commands;

/// <summary>
/// VBoxManage modifyvm. Every option is one row of <see cref="Options"/>: its spellings (current
/// first, then the older ones the manual still accepts), what it takes, and how it changes the
/// session machine. Adding an option (e.g. --boot-kernel stored as extra data) is one new row.
///
/// The command locks the machine, applies the options in order and saves only if all of them
/// succeeded, so a rejected value leaves the settings file untouched.
/// </summary>
internal static class ModifyVmCommand
{
    /// <summary>Applies one parsed option to the locked machine. The GetOpt gives access to extra values.</summary>
    internal delegate void Apply(IMachine m, OptItem o, GetOpt g);

    /// <summary>
    /// One modifyvm option. <paramref name="ExtraValues"/> says how many more arguments a value form
    /// consumes ("--uart1 0x3f8 4" takes one more), so that the syntax pass can skip them.
    /// </summary>
    internal sealed record ModifyOption(OptDef Def, Apply Apply, Func<OptItem, int>? ExtraValues = null);

    private static ModifyOption Opt(string[] names, ArgKind kind, Apply apply) => new(new OptDef(names, kind), apply);
    private static ModifyOption Indexed(string[] names, ArgKind kind, Apply apply, Func<OptItem, int>? extra = null)
        => new(new OptDef(names, kind, Indexed: true), apply, extra);

    private static bool IsOff(string v) => v.Equals("off", StringComparison.OrdinalIgnoreCase) || v.Equals("disable", StringComparison.OrdinalIgnoreCase);

    /// <summary>The option name as typed (with its index), for error messages.</summary>
    private static string Name(OptItem o) => o.Def!.Indexed ? $"{o.Def.Primary}{o.Index}" : o.Def!.Primary;

    private static T Choose<T>(OptItem o, params (string Word, T Value)[] choices)
    {
        foreach (var (word, value) in choices)
            if (string.Equals(word, o.Value, StringComparison.OrdinalIgnoreCase))
                return value;
        throw new SyntaxException($"Invalid {Name(o)} argument '{o.Value}' (expected {string.Join(", ", choices.Select(c => c.Word))})");
    }

    private static INetworkAdapter Nic(IMachine m, OptItem o)
    {
        if (o.Index < 1 || o.Index > m.NetworkAdapterCount)
            throw new SyntaxException($"Invalid NIC number {o.Index} in {o.Raw} (must be in range [1, {m.NetworkAdapterCount}])");
        return m.GetNetworkAdapter(o.Index - 1);
    }

    private const uint SerialPortCount = 4;

    private static ISerialPort Uart(IMachine m, OptItem o)
    {
        if (o.Index < 1 || o.Index > SerialPortCount)
            throw new SyntaxException($"Invalid UART number {o.Index} in {o.Raw} (must be in range [1, {SerialPortCount}])");
        return m.GetSerialPort(o.Index - 1);
    }

    private static uint ParseUInt(string option, string value)
    {
        if (!GetOpt.TryParseUnsigned(value, out ulong v) || v > uint.MaxValue)
            throw new SyntaxException($"Invalid {option} value '{value}' (expected a number)");
        return (uint)v;
    }

    private static readonly (string, bool)[] OnOff = { ("on", true), ("off", false) };

    internal static readonly ModifyOption[] Options =
    {
        // General
        Opt(new[] { "--name", "-name" }, ArgKind.String, (m, o, _) => m.Name = o.Value),
        Opt(new[] { "--groups" }, ArgKind.String, (m, o, _) => m.Groups = VmCommands.ParseGroups(o.Value)),
        Opt(new[] { "--description" }, ArgKind.String, (m, o, _) => m.Description = o.Value),
        Opt(new[] { "--os-type", "--ostype", "-ostype" }, ArgKind.String, (m, o, _) => m.OSTypeId = o.Value),
        Opt(new[] { "--memory", "-memory" }, ArgKind.UInt32, (m, o, _) => m.MemorySize = o.UInt32),
        Opt(new[] { "--page-fusion", "--pagefusion" }, ArgKind.BoolOnOff, (m, o, _) => m.PageFusionEnabled = o.Bool),
        Opt(new[] { "--vram", "-vram" }, ArgKind.UInt32, (m, o, _) => m.VRAMSize = o.UInt32),
        Opt(new[] { "--cpus", "-cpus" }, ArgKind.UInt32, (m, o, _) => m.CPUCount = o.UInt32),
        Opt(new[] { "--cpu-execution-cap", "--cpuexecutioncap" }, ArgKind.UInt32, (m, o, _) => m.CPUExecutionCap = o.UInt32),
        Opt(new[] { "--snapshot-folder", "--snapshotfolder", "-snapshotfolder" }, ArgKind.String,
            (m, o, _) => m.SnapshotFolder = o.Value == "default" ? "" : Path.GetFullPath(o.Value)),
        Opt(new[] { "--hardware-uuid", "--hardwareuuid" }, ArgKind.Uuid, (m, o, _) => m.HardwareUUID = Guid.Parse(o.Value)),

        // Firmware, chipset, platform
        Opt(new[] { "--firmware" }, ArgKind.String, (m, o, _) => m.FirmwareType = Choose(o,
            ("bios", FirmwareType.BIOS), ("efi", FirmwareType.EFI), ("efi32", FirmwareType.EFI32), ("efi64", FirmwareType.EFI64), ("efidual", FirmwareType.EFIDUAL))),
        Opt(new[] { "--chipset" }, ArgKind.String, (m, o, _) => m.ChipsetType = Choose(o, ("piix3", ChipsetType.PIIX3), ("ich9", ChipsetType.ICH9))),
        Opt(new[] { "--acpi", "-acpi" }, ArgKind.BoolOnOff, (m, o, _) => m.ACPIEnabled = o.Bool),
        Opt(new[] { "--ioapic", "-ioapic" }, ArgKind.BoolOnOff, (m, o, _) => m.IOAPICEnabled = o.Bool),
        Opt(new[] { "--hpet" }, ArgKind.BoolOnOff, (m, o, _) => m.HPETEnabled = o.Bool),
        Opt(new[] { "--rtc-use-utc", "--rtcuseutc" }, ArgKind.BoolOnOff, (m, o, _) => m.RTCUseUTC = o.Bool),
        Opt(new[] { "--bios-boot-menu", "--biosbootmenu", "-biosbootmenu" }, ArgKind.String, (m, o, _) => m.BootMenuMode = Choose(o,
            ("disabled", BiosBootMenuMode.Disabled), ("menuonly", BiosBootMenuMode.MenuOnly), ("messageandmenu", BiosBootMenuMode.MessageAndMenu))),
        Opt(new[] { "--bios-apic", "--biosapic" }, ArgKind.String, (m, o, _) => m.APICMode = Choose(o,
            ("disabled", ApicMode.Disabled), ("apic", ApicMode.APIC), ("x2apic", ApicMode.X2APIC))),
        Opt(new[] { "--bios-system-time-offset", "--biossystemtimeoffset", "-biossystemtimeoffset" }, ArgKind.Int64, (m, o, _) => m.TimeOffset = o.Int64),
        Indexed(new[] { "--boot", "-boot" }, ArgKind.String, (m, o, _) =>
        {
            if (o.Index < 1 || o.Index > 4)
                throw new SyntaxException($"Invalid boot slot number {o.Index} in {o.Raw} (must be in range [1, 4])");
            m.SetBootOrder(o.Index, Choose(o, ("none", DeviceType.Null), ("floppy", DeviceType.Floppy), ("dvd", DeviceType.DVD),
                ("disk", DeviceType.HardDisk), ("net", DeviceType.Network)));
        }),

        // Processor
        Opt(new[] { "--pae", "-pae" }, ArgKind.BoolOnOff, (m, o, _) => m.SetCPUProperty(CpuPropertyType.PAE, o.Bool)),
        Opt(new[] { "--long-mode", "--longmode", "-longmode" }, ArgKind.BoolOnOff, (m, o, _) => m.SetCPUProperty(CpuPropertyType.LongMode, o.Bool)),
        Opt(new[] { "--triple-fault-reset", "--triplefaultreset" }, ArgKind.BoolOnOff, (m, o, _) => m.SetCPUProperty(CpuPropertyType.TripleFaultReset, o.Bool)),
        Opt(new[] { "--apic" }, ArgKind.BoolOnOff, (m, o, _) => m.SetCPUProperty(CpuPropertyType.APIC, o.Bool)),
        Opt(new[] { "--x2apic" }, ArgKind.BoolOnOff, (m, o, _) => m.SetCPUProperty(CpuPropertyType.X2APIC, o.Bool)),
        Opt(new[] { "--nested-hw-virt" }, ArgKind.BoolOnOff, (m, o, _) => m.SetCPUProperty(CpuPropertyType.HWVirt, o.Bool)),
        Opt(new[] { "--hwvirtex", "-hwvirtex" }, ArgKind.BoolOnOff, (m, o, _) => m.SetHWVirtExProperty(HWVirtExPropertyType.Enabled, o.Bool)),
        Opt(new[] { "--nested-paging", "--nestedpaging", "-nestedpaging" }, ArgKind.BoolOnOff, (m, o, _) => m.SetHWVirtExProperty(HWVirtExPropertyType.NestedPaging, o.Bool)),
        Opt(new[] { "--large-pages", "--largepages", "-largepages" }, ArgKind.BoolOnOff, (m, o, _) => m.SetHWVirtExProperty(HWVirtExPropertyType.LargePages, o.Bool)),
        Opt(new[] { "--vtx-vpid", "--vtxvpid", "-vtxvpid" }, ArgKind.BoolOnOff, (m, o, _) => m.SetHWVirtExProperty(HWVirtExPropertyType.VPID, o.Bool)),
        Opt(new[] { "--vtx-ux", "--vtxux", "-vtxux" }, ArgKind.BoolOnOff, (m, o, _) => m.SetHWVirtExProperty(HWVirtExPropertyType.UnrestrictedExecution, o.Bool)),
        Opt(new[] { "--virt-vmsave-vmload" }, ArgKind.BoolOnOff, (m, o, _) => m.SetHWVirtExProperty(HWVirtExPropertyType.VirtVmsaveVmload, o.Bool)),
        Opt(new[] { "--paravirt-provider", "--paravirtprovider" }, ArgKind.String, (m, o, _) => m.ParavirtProvider = Choose(o,
            ("none", ParavirtProvider.None), ("default", ParavirtProvider.Default), ("legacy", ParavirtProvider.Legacy),
            ("minimal", ParavirtProvider.Minimal), ("hyperv", ParavirtProvider.HyperV), ("kvm", ParavirtProvider.KVM))),
        Opt(new[] { "--paravirt-debug", "--paravirtdebug" }, ArgKind.String, (m, o, _) => m.ParavirtDebug = o.Value),

        // Display and input
        Opt(new[] { "--graphicscontroller", "--graphics-controller" }, ArgKind.String, (m, o, _) => m.GraphicsControllerType = Choose(o,
            ("none", GraphicsControllerType.Null), ("vboxvga", GraphicsControllerType.VBoxVGA), ("vmsvga", GraphicsControllerType.VMSVGA), ("vboxsvga", GraphicsControllerType.VBoxSVGA))),
        Opt(new[] { "--monitor-count", "--monitorcount", "-monitorcount" }, ArgKind.UInt32, (m, o, _) => m.MonitorCount = o.UInt32),
        Opt(new[] { "--accelerate-3d", "--accelerate3d", "-accelerate3d" }, ArgKind.BoolOnOff, (m, o, _) => m.Accelerate3DEnabled = o.Bool),
        Opt(new[] { "--mouse" }, ArgKind.String, (m, o, _) => m.PointingHIDType = Choose(o,
            ("none", PointingHIDType.None), ("ps2", PointingHIDType.PS2Mouse), ("usb", PointingHIDType.USBMouse), ("usbtablet", PointingHIDType.USBTablet),
            ("usbmultitouch", PointingHIDType.USBMultiTouch), ("usbmtscreenpluspad", PointingHIDType.USBMultiTouchScreenPlusPad))),
        Opt(new[] { "--keyboard" }, ArgKind.String, (m, o, _) => m.KeyboardHIDType = Choose(o,
            ("none", KeyboardHIDType.None), ("ps2", KeyboardHIDType.PS2Keyboard), ("usb", KeyboardHIDType.USBKeyboard))),

        // Network adapters (N = 1..8, or 1..36 with ICH9)
        Indexed(new[] { "--nic", "-nic" }, ArgKind.String, (m, o, _) =>
        {
            INetworkAdapter nic = Nic(m, o);
            if (o.Value.Equals("none", StringComparison.OrdinalIgnoreCase))
            {
                nic.Enabled = false;
                return;
            }
            NetworkAttachmentType t = Choose(o, ("null", NetworkAttachmentType.Null), ("nat", NetworkAttachmentType.NAT), ("bridged", NetworkAttachmentType.Bridged),
                ("intnet", NetworkAttachmentType.Internal), ("hostonly", NetworkAttachmentType.HostOnly), ("hostonlynet", NetworkAttachmentType.HostOnlyNetwork),
                ("generic", NetworkAttachmentType.Generic), ("natnetwork", NetworkAttachmentType.NATNetwork), ("cloud", NetworkAttachmentType.Cloud));
            nic.Enabled = true;
            nic.AttachmentType = t;
        }),
        Indexed(new[] { "--nic-type", "--nictype", "-nictype" }, ArgKind.String, (m, o, _) => Nic(m, o).AdapterType = Choose(o,
            ("Am79C970A", NetworkAdapterType.Am79C970A), ("Am79C973", NetworkAdapterType.Am79C973), ("Am79C960", NetworkAdapterType.Am79C960),
            ("82540EM", NetworkAdapterType.I82540EM), ("82543GC", NetworkAdapterType.I82543GC), ("82545EM", NetworkAdapterType.I82545EM),
            ("virtio", NetworkAdapterType.Virtio))),
        Indexed(new[] { "--cable-connected", "--cableconnected", "-cableconnected" }, ArgKind.BoolOnOff, (m, o, _) => Nic(m, o).CableConnected = o.Bool),
        Indexed(new[] { "--nic-speed", "--nicspeed", "-nicspeed" }, ArgKind.UInt32, (m, o, _) => Nic(m, o).LineSpeed = o.UInt32),
        Indexed(new[] { "--nic-boot-prio", "--nicbootprio" }, ArgKind.UInt32, (m, o, _) =>
        {
            if (o.UInt32 > 4)
                throw new SyntaxException($"Invalid boot priority '{o.Value}' for {Name(o)} (must be in range [0, 4])");
            Nic(m, o).BootPriority = o.UInt32;
        }),
        Indexed(new[] { "--nic-promisc", "--nicpromisc" }, ArgKind.String, (m, o, _) => Nic(m, o).PromiscModePolicy = Choose(o,
            ("deny", NetworkAdapterPromiscModePolicy.Deny), ("allow-vms", NetworkAdapterPromiscModePolicy.AllowNetwork), ("allow-all", NetworkAdapterPromiscModePolicy.AllowAll))),
        Indexed(new[] { "--mac-address", "--macaddress", "-macaddress" }, ArgKind.String, (m, o, _) => Nic(m, o).MACAddress = o.Value),
        Indexed(new[] { "--bridge-adapter", "--bridgeadapter", "-bridgeadapter" }, ArgKind.String, (m, o, _) => Nic(m, o).BridgedInterface = o.Value == "none" ? "" : o.Value),
        Indexed(new[] { "--host-only-adapter", "--hostonlyadapter", "-hostonlyadapter" }, ArgKind.String, (m, o, _) => Nic(m, o).HostOnlyInterface = o.Value == "none" ? "" : o.Value),
        Indexed(new[] { "--intnet", "-intnet" }, ArgKind.String, (m, o, _) => Nic(m, o).InternalNetwork = o.Value),
        Indexed(new[] { "--nat-network", "--natnetwork" }, ArgKind.String, (m, o, _) => Nic(m, o).NATNetwork = o.Value),
        Indexed(new[] { "--nic-generic-drv", "--nicgenericdrv" }, ArgKind.String, (m, o, _) => Nic(m, o).GenericDriver = o.Value),
        Indexed(new[] { "--nic-trace", "--nictrace" }, ArgKind.BoolOnOff, (m, o, _) => Nic(m, o).TraceEnabled = o.Bool),
        Indexed(new[] { "--nic-trace-file", "--nictracefile" }, ArgKind.String, (m, o, _) => Nic(m, o).TraceFile = o.Value),

        // Serial ports (N = 1..4)
        Indexed(new[] { "--uart", "-uart" }, ArgKind.String, (m, o, g) =>
        {
            ISerialPort port = Uart(m, o);
            if (IsOff(o.Value))
            {
                port.Enabled = false;
                return;
            }
            uint ioBase = ParseUInt(Name(o), o.Value);
            uint irq = ParseUInt(Name(o), g.FetchValue(Name(o), 2));
            port.IOBase = ioBase;
            port.IRQ = irq;
            port.Enabled = true;
        }, o => IsOff(o.Value) ? 0 : 1),
        Indexed(new[] { "--uart-mode", "--uartmode", "-uartmode" }, ArgKind.String, (m, o, g) =>
        {
            ISerialPort port = Uart(m, o);
            string mode = o.Value;
            switch (mode.ToLowerInvariant())
            {
                case "disconnected":
                    port.HostMode = PortMode.Disconnected;
                    break;
                case "server":
                case "client":
                    port.Server = mode.Equals("server", StringComparison.OrdinalIgnoreCase);
                    port.Path = g.FetchValue(Name(o), 2);
                    port.HostMode = PortMode.HostPipe;
                    break;
                case "tcpserver":
                case "tcpclient":
                {
                    string address = g.FetchValue(Name(o), 2);
                    bool server = mode.Equals("tcpserver", StringComparison.OrdinalIgnoreCase);
                    if (server && (!GetOpt.TryParseUnsigned(address, out ulong p) || p == 0 || p > 65535))
                        throw new SyntaxException($"Invalid TCP port '{address}' for {Name(o)} tcpserver (expected 1-65535)");
                    if (!server && !address.Contains(':'))
                        throw new SyntaxException($"Invalid address '{address}' for {Name(o)} tcpclient (expected hostname:port)");
                    port.Server = server;
                    port.Path = address;
                    port.HostMode = PortMode.TCP;
                    break;
                }
                case "file":
                    port.Path = Path.GetFullPath(g.FetchValue(Name(o), 2));
                    port.HostMode = PortMode.RawFile;
                    break;
                default:
                    // Anything else is a host device name, as VBoxManage takes it.
                    port.Path = mode;
                    port.HostMode = PortMode.HostDevice;
                    break;
            }
        }, o => o.Value.ToLowerInvariant() is "server" or "client" or "tcpserver" or "tcpclient" or "file" ? 1 : 0),
        Indexed(new[] { "--uart-type", "--uarttype" }, ArgKind.String, (m, o, _) => Uart(m, o).UartType = Choose(o,
            ("16450", UartType.U16450), ("16550A", UartType.U16550A), ("16750", UartType.U16750))),

        // Direct kernel boot (SharpBox), kept as extra data so VirtualBox can still read the file;
        // VBoxHeadless reads the same keys. "none" removes the setting.
        Opt(new[] { "--boot-kernel" }, ArgKind.String, (m, o, _) => m.SetExtraData("SharpBox/Boot/Kernel", o.Value == "none" ? null : Path.GetFullPath(o.Value))),
        Opt(new[] { "--boot-initrd" }, ArgKind.String, (m, o, _) => m.SetExtraData("SharpBox/Boot/Initrd", o.Value == "none" ? null : Path.GetFullPath(o.Value))),
        Opt(new[] { "--boot-cmdline" }, ArgKind.String, (m, o, _) => m.SetExtraData("SharpBox/Boot/Cmdline", o.Value.Length == 0 ? null : o.Value)),
    };

    public static int Run(Ctx c)
    {
        if (c.Args.Count == 0 || c.Args[0].StartsWith('-'))
            return c.SyntaxError("Missing the VM name or UUID (the first argument)");
        string vm = c.Args[0];
        // Parse everything before touching the machine so that syntax errors change nothing.
        var defs = Options.Select(x => x.Def).ToList();
        var byDef = Options.ToDictionary(x => x.Def);
        var probe = new GetOpt(c.Args, defs, start: 1);
        int changes = 0;
        while (probe.Next(out OptItem o))
        {
            if (o.Def == null)
                return c.SyntaxError($"Invalid parameter '{o.Value}'");
            changes++;
            int extra = byDef[o.Def].ExtraValues?.Invoke(o) ?? 0;
            for (int k = 0; k < extra; k++)
                probe.FetchValue(Name(o), k + 2);
        }
        if (changes == 0)
            return c.SyntaxError("No change requested");

        IVirtualBox vbox = c.VBox;
        IMachine machine = vbox.FindMachine(vm);
        ISession session = vbox.CreateSession();
        machine.LockMachine(session, LockType.Write);
        try
        {
            IMachine sm = session.Machine;
            var apply = new GetOpt(c.Args, defs, start: 1);
            while (apply.Next(out OptItem o))
                byDef[o.Def!].Apply(sm, o, apply);
            sm.SaveSettings();
        }
        finally
        {
            session.UnlockMachine();
        }
        return Exit.Success;
    }
}
