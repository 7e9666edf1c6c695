using System.Globalization;
using System.Text;
using SharpBox.Main.Api;
using VBoxManage.Cli;

namespace VBoxManage.Commands;

/// <summary>
/// VBoxManage showvminfo: the human-readable report ("%-28s value" lines) and the
/// --machinereadable key="value" form whose keys match modifyvm's options, as VirtualBox 7 prints them.
/// </summary>
internal static class ShowVmInfoCommand
{
    public enum Details { Compact, Standard, Full, MachineReadable }

    private static readonly OptDef DetailsOpt = new(new[] { "--details", "-details" }, ArgKind.None);
    private static readonly OptDef MachineReadableOpt = new(new[] { "--machinereadable", "-machinereadable" }, ArgKind.None);
    private static readonly OptDef LogOpt = new("--log", ArgKind.UInt32);
    private static readonly OptDef PasswordIdOpt = new(new[] { "--password-id", "-password-id" }, ArgKind.String);
    private static readonly OptDef PasswordOpt = new(new[] { "--password", "-password" }, ArgKind.String);

    public static int Run(Ctx c)
    {
        string? vm = null;
        bool details = false, machineReadable = false;
        uint? log = null;
        var opts = new GetOpt(c.Args, new[] { DetailsOpt, MachineReadableOpt, LogOpt, PasswordIdOpt, PasswordOpt });
        while (opts.Next(out OptItem o))
        {
            if (o.Def == DetailsOpt) details = true;
            else if (o.Def == MachineReadableOpt) machineReadable = true;
            else if (o.Def == LogOpt) log = o.UInt32;
            else if (o.Def == PasswordIdOpt || o.Def == PasswordOpt)
                return c.Failure("Encrypted machines are not supported by SharpBox");
            else if (vm == null) vm = o.Value;
            else return c.SyntaxError($"Invalid parameter '{o.Value}'");
        }
        if (vm == null)
            return c.SyntaxError("VM name or UUID required");
        if (log != null && (details || machineReadable))
            return c.SyntaxError("Option --log is exclusive");

        IMachine m = c.VBox.FindMachine(vm);
        if (log is uint index)
            return PrintLog(c, m, index);
        Show(c, m, machineReadable ? Details.MachineReadable : details ? Details.Full : Details.Standard, live: true);
        return Exit.Success;
    }

    /// <summary>--log N: VBox.log, VBox.log.1, ... from the machine's log folder.</summary>
    private static int PrintLog(Ctx c, IMachine m, uint index)
    {
        string path = Path.Combine(m.LogFolder, index == 0 ? "VBox.log" : $"VBox.log.{index}");
        if (!File.Exists(path))
            return c.Failure($"Could not open the log file '{path}' of the machine '{m.Name}' (VERR_FILE_NOT_FOUND)");
        using Stream s = File.OpenRead(path);
        using var r = new StreamReader(s);
        string? line;
        while ((line = r.ReadLine()) != null)
            c.Out.WriteLine(line.TrimEnd('\r'));
        return Exit.Success;
    }

    /// <summary>Writes one key/value in either form.</summary>
    private sealed class Printer
    {
        private readonly TextWriter _o;
        public bool MR { get; }

        public Printer(TextWriter o, bool machineReadable)
        {
            _o = o;
            MR = machineReadable;
        }

        public TextWriter Out => _o;

        public static string Escape(string s)
        {
            if (s.IndexOf('"') < 0 && s.IndexOf('\\') < 0)
                return s;
            var b = new StringBuilder(s.Length + 8);
            foreach (char ch in s)
            {
                if (ch is '"' or '\\')
                    b.Append('\\');
                b.Append(ch);
            }
            return b.ToString();
        }

        /// <summary>key="value" with escaping; the key is quoted when it contains '=' or when asked.</summary>
        public void MrString(string key, string value, bool quoteKey = false)
        {
            quoteKey |= key.Contains('=');
            string k = Escape(key);
            _o.WriteLine(quoteKey ? $"\"{k}\"=\"{Escape(value)}\"" : $"{k}=\"{Escape(value)}\"");
        }

        public void Human(string label, string value) => _o.WriteLine($"{label,-28} {value}");

        public void String(string key, string label, string value)
        {
            if (MR) MrString(key, value);
            else Human(label, value);
        }

        public void Bool(string key, string label, bool value, string yes = "enabled", string no = "disabled")
        {
            if (MR) MrString(key, value ? "on" : "off");
            else Human(label, value ? yes : no);
        }

        public void UInt(string key, string label, ulong value, string unit)
        {
            if (MR) _o.WriteLine($"{key}={value.ToString(CultureInfo.InvariantCulture)}");
            else Human(label, value.ToString(CultureInfo.InvariantCulture) + unit);
        }

        /// <summary>A value that is a short word in machine-readable output and a phrase for humans.</summary>
        public void Choice(string key, string label, string mrValue, string humanValue)
        {
            if (MR) MrString(key, mrValue);
            else Human(label, humanValue);
        }
    }

    /// <summary>"2024-05-01T10:11:12.345000000Z" as IPRT's RTTimeSpecToString prints it.</summary>
    internal static string IprtTime(DateTime t)
    {
        DateTime u = t.Kind == DateTimeKind.Local ? t.ToUniversalTime() : t;
        long nanos = (u.Ticks % TimeSpan.TicksPerSecond) * 100;
        return u.ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture) + "." + nanos.ToString("D9", CultureInfo.InvariantCulture) + "Z";
    }

    internal static string StateName(MachineState s, bool shortForm) => s switch
    {
        MachineState.PoweredOff => shortForm ? "poweroff" : "powered off",
        MachineState.Saved => "saved",
        MachineState.Teleported => "teleported",
        MachineState.Aborted => "aborted",
        MachineState.AbortedSaved => "aborted-saved",
        MachineState.Running => "running",
        MachineState.Paused => "paused",
        MachineState.Stuck => shortForm ? "gurumeditation" : "guru meditation",
        MachineState.Starting => "starting",
        MachineState.Stopping => "stopping",
        MachineState.Saving => "saving",
        MachineState.Restoring => "restoring",
        MachineState.TeleportingPausedVM => shortForm ? "teleportingpausedvm" : "teleporting paused vm",
        MachineState.Teleporting => "teleporting",
        MachineState.TeleportingIn => shortForm ? "teleportingin" : "teleporting (incoming)",
        MachineState.LiveSnapshotting => shortForm ? "livesnapshotting" : "taking live snapshot",
        MachineState.OnlineSnapshotting => shortForm ? "onlinesnapshotting" : "taking online snapshot",
        MachineState.DeletingSnapshotOnline => shortForm ? "deletingsnapshotlive" : "deleting snapshot live",
        MachineState.DeletingSnapshotPaused => shortForm ? "deletingsnapshotlivepaused" : "deleting snapshot live paused",
        MachineState.RestoringSnapshot => shortForm ? "restoringsnapshot" : "restoring snapshot",
        MachineState.DeletingSnapshot => shortForm ? "deletingsnapshot" : "deleting snapshot",
        MachineState.SettingUp => shortForm ? "settingup" : "setting up",
        MachineState.Snapshotting => shortForm ? "snapshotting" : "taking snapshot",
        _ => "unknown",
    };

    private static string ThousandSeparated(long v)
    {
        // IPRT's %' flag groups digits with spaces.
        string digits = Math.Abs(v).ToString(CultureInfo.InvariantCulture);
        var b = new StringBuilder();
        for (int i = 0; i < digits.Length; i++)
        {
            if (i > 0 && (digits.Length - i) % 3 == 0)
                b.Append(' ');
            b.Append(digits[i]);
        }
        return (v < 0 ? "-" : "") + b;
    }

    private static string NicTypeName(NetworkAdapterType t) => t switch
    {
        NetworkAdapterType.Am79C970A => "Am79C970A",
        NetworkAdapterType.Am79C973 => "Am79C973",
        NetworkAdapterType.Am79C960 => "Am79C960",
        NetworkAdapterType.I82540EM => "82540EM",
        NetworkAdapterType.I82543GC => "82543GC",
        NetworkAdapterType.I82545EM => "82545EM",
        NetworkAdapterType.Virtio => "virtio",
        NetworkAdapterType.NE1000 => "NE1000",
        NetworkAdapterType.NE2000 => "NE2000",
        NetworkAdapterType.WD8003 => "WD8003",
        NetworkAdapterType.WD8013 => "WD8013",
        NetworkAdapterType.ELNK2 => "3C503",
        NetworkAdapterType.ELNK1 => "3C501",
        _ => "unknown",
    };

    internal static string ControllerTypeName(StorageControllerType t) => t switch
    {
        StorageControllerType.LsiLogic => "LsiLogic",
        StorageControllerType.LsiLogicSas => "LsiLogicSas",
        StorageControllerType.BusLogic => "BusLogic",
        StorageControllerType.IntelAhci => "IntelAhci",
        StorageControllerType.PIIX3 => "PIIX3",
        StorageControllerType.PIIX4 => "PIIX4",
        StorageControllerType.ICH6 => "ICH6",
        StorageControllerType.I82078 => "I82078",
        StorageControllerType.USB => "USB",
        StorageControllerType.NVMe => "NVMe",
        StorageControllerType.VirtioSCSI => "VirtioSCSI",
        _ => "unknown",
    };

    /// <param name="live">A registered machine (not a snapshot's): when it runs, what its engine has in effect is shown too.</param>
    public static void Show(Ctx c, IMachine m, Details details, bool live = false)
    {
        TextWriter o = c.Out;
        if (!m.Accessible)
        {
            ShowInaccessible(c, m, details);
            return;
        }
        if (details == Details.Compact)
        {
            o.WriteLine($"\"{m.Name}\" {{{m.Id:D}}}");
            return;
        }

        var p = new Printer(o, details == Details.MachineReadable);
        bool mr = p.MR;

        p.String("name", "Name:", m.Name);
        if (!mr)
            o.WriteLine("Encryption:     disabled");
        p.String("groups", "Groups:", string.Join(",", m.Groups));
        GuestOSType? os = c.VBox.GetGuestOSType(m.OSTypeId);
        p.String("ostype", "Guest OS:", os?.Description ?? m.OSTypeId);
        p.String("UUID", "UUID:", m.Id.ToString("D"));
        p.String("CfgFile", "Config file:", m.SettingsFilePath);
        p.String("SnapFldr", "Snapshot folder:", m.SnapshotFolder);
        p.String("LogFldr", "Log folder:", m.LogFolder);
        p.String("hardwareuuid", "Hardware UUID:", m.HardwareUUID.ToString("D"));
        p.UInt("memory", "Memory size:", m.MemorySize, "MB");
        p.Bool("pagefusion", "Page Fusion:", m.PageFusionEnabled);
        p.UInt("vram", "VRAM size:", m.VRAMSize, "MB");
        p.UInt("cpuexecutioncap", "CPU exec cap:", m.CPUExecutionCap, "%");
        p.Bool("hpet", "HPET:", m.HPETEnabled);
        p.String("cpu-profile", "CPUProfile:", m.CPUProfile);
        p.String("chipset", "Chipset:", m.ChipsetType switch { ChipsetType.PIIX3 => "piix3", ChipsetType.ICH9 => "ich9", _ => "invalid" });
        p.String("firmware", "Firmware:", m.FirmwareType switch
        {
            FirmwareType.BIOS => "BIOS",
            FirmwareType.EFI => "EFI",
            FirmwareType.EFI32 => "EFI32",
            FirmwareType.EFI64 => "EFI64",
            FirmwareType.EFIDUAL => "EFIDUAL",
            _ => "unknown",
        });
        p.UInt("cpus", "Number of CPUs:", m.CPUCount, "");
        p.Bool("pae", "PAE:", m.GetCPUProperty(CpuPropertyType.PAE));
        p.Bool("longmode", "Long Mode:", m.GetCPUProperty(CpuPropertyType.LongMode));
        p.Bool("triplefaultreset", "Triple Fault Reset:", m.GetCPUProperty(CpuPropertyType.TripleFaultReset));
        p.Bool("apic", "APIC:", m.GetCPUProperty(CpuPropertyType.APIC));
        p.Bool("x2apic", "X2APIC:", m.GetCPUProperty(CpuPropertyType.X2APIC));
        p.Bool("nested-hw-virt", "Nested VT-x/AMD-V:", m.GetCPUProperty(CpuPropertyType.HWVirt));
        p.UInt("cpuid-portability-level", "CPUID Portability Level:", m.CPUIDPortabilityLevel, "");
        if (!mr)
            o.WriteLine($"{"CPUID overrides:",-28} None");

        p.Choice("bootmenu", "Boot menu mode:",
            m.BootMenuMode switch { BiosBootMenuMode.Disabled => "disabled", BiosBootMenuMode.MenuOnly => "menuonly", _ => "messageandmenu" },
            m.BootMenuMode switch { BiosBootMenuMode.Disabled => "disabled", BiosBootMenuMode.MenuOnly => "menu only", _ => "message and menu" });
        uint maxBoot = c.VBox.SystemProperties.MaxBootPosition;
        for (uint i = 1; i <= maxBoot; i++)
        {
            DeviceType d = m.GetBootOrder(i);
            (string mrName, string human) = d switch
            {
                DeviceType.Floppy => ("floppy", "Floppy"),
                DeviceType.DVD => ("dvd", "DVD"),
                DeviceType.HardDisk => ("disk", "HardDisk"),
                DeviceType.Network => ("net", "Network"),
                DeviceType.USB => ("usb", "USB"),
                DeviceType.SharedFolder => ("sharedfolder", "Shared Folder"),
                _ => ("none", "Not Assigned"),
            };
            p.Choice($"boot{i}", $"Boot Device {i}:", mrName, human);
        }
        p.Bool("acpi", "ACPI:", m.ACPIEnabled);
        p.Bool("ioapic", "IOAPIC:", m.IOAPICEnabled);
        p.Choice("biosapic", "BIOS APIC mode:",
            m.APICMode switch { ApicMode.Disabled => "disabled", ApicMode.X2APIC => "x2apic", _ => "apic" },
            m.APICMode switch { ApicMode.Disabled => "disabled", ApicMode.X2APIC => "x2APIC", _ => "APIC" });
        if (mr)
            o.WriteLine($"biossystemtimeoffset={m.TimeOffset.ToString(CultureInfo.InvariantCulture)}");
        else
            p.Human("Time offset:", ThousandSeparated(m.TimeOffset) + "ms");
        p.Bool("rtcuseutc", "RTC:", m.RTCUseUTC, "UTC", "local time");
        p.Bool("hwvirtex", "Hardware Virtualization:", m.GetHWVirtExProperty(HWVirtExPropertyType.Enabled));
        p.Bool("nestedpaging", "Nested Paging:", m.GetHWVirtExProperty(HWVirtExPropertyType.NestedPaging));
        p.Bool("largepages", "Large Pages:", m.GetHWVirtExProperty(HWVirtExPropertyType.LargePages));
        p.Bool("vtxvpid", "VT-x VPID:", m.GetHWVirtExProperty(HWVirtExPropertyType.VPID));
        p.Bool("vtxux", "VT-x Unrestricted Exec.:", m.GetHWVirtExProperty(HWVirtExPropertyType.UnrestrictedExecution));
        p.Bool("virtvmsavevmload", "AMD-V Virt. Vmsave/Vmload:", m.GetHWVirtExProperty(HWVirtExPropertyType.VirtVmsaveVmload));
        if (live)
            ShowEngineInEffect(c, m, p);
        p.Choice("paravirtprovider", "Paravirt. Provider:", ParavirtMr(m.ParavirtProvider), ParavirtHuman(m.ParavirtProvider));
        ParavirtProvider eff = m.GetEffectiveParavirtProvider();
        p.Choice("effparavirtprovider", "Effective Paravirt. Prov.:", ParavirtMr(eff), ParavirtHuman(eff));
        if (m.ParavirtDebug.Length > 0)
            p.String("paravirtdebug", "Paravirt. Debug:", m.ParavirtDebug);

        string since = IprtTime(m.LastStateChange);
        if (mr)
        {
            p.MrString("VMState", StateName(m.State, true));
            p.MrString("VMStateChangeTime", since);
            if (m.StateFilePath.Length > 0)
                p.MrString("VMStateFile", m.StateFilePath);
        }
        else
            p.Human("State:", $"{StateName(m.State, false)} (since {since})");

        p.Choice("graphicscontroller", "Graphics Controller:",
            m.GraphicsControllerType switch { GraphicsControllerType.VBoxVGA => "vboxvga", GraphicsControllerType.VMSVGA => "vmsvga", GraphicsControllerType.VBoxSVGA => "vboxsvga", _ => "null" },
            m.GraphicsControllerType switch { GraphicsControllerType.VBoxVGA => "VBoxVGA", GraphicsControllerType.VMSVGA => "VMSVGA", GraphicsControllerType.VBoxSVGA => "VBoxSVGA", _ => "Null" });
        p.UInt("monitorcount", "Monitor count:", m.MonitorCount, "");
        p.Bool("accelerate3d", "3D Acceleration:", m.Accelerate3DEnabled);
        p.Bool("teleporterenabled", "Teleporter Enabled:", m.TeleporterEnabled);
        p.UInt("teleporterport", "Teleporter Port:", m.TeleporterPort, "");
        p.String("teleporteraddress", "Teleporter Address:", m.TeleporterAddress);
        p.String("teleporterpassword", "Teleporter Password:", "");
        p.Bool("tracing-enabled", "Tracing Enabled:", false);
        p.Bool("tracing-allow-vm-access", "Allow Tracing to Access VM:", false);
        p.String("tracing-config", "Tracing Configuration:", "");
        p.Bool("autostart-enabled", "Autostart Enabled:", m.AutostartEnabled);
        p.UInt("autostart-delay", "Autostart Delay:", m.AutostartDelay, "");
        p.String("defaultfrontend", "Default Frontend:", m.DefaultFrontend);
        p.String("vmprocpriority", "VM process priority:", "default");

        ShowStorage(c, m, p);
        ShowNics(m, p);

        p.Choice("hidpointing", "Pointing Device:",
            m.PointingHIDType switch
            {
                PointingHIDType.None => "none", PointingHIDType.PS2Mouse => "ps2mouse", PointingHIDType.USBMouse => "usbmouse",
                PointingHIDType.USBTablet => "usbtablet", PointingHIDType.ComboMouse => "combomouse", PointingHIDType.USBMultiTouch => "usbmultitouch",
                _ => "unknown",
            },
            m.PointingHIDType switch
            {
                PointingHIDType.None => "None", PointingHIDType.PS2Mouse => "PS/2 Mouse", PointingHIDType.USBMouse => "USB Mouse",
                PointingHIDType.USBTablet => "USB Tablet", PointingHIDType.ComboMouse => "USB Tablet and PS/2 Mouse",
                PointingHIDType.USBMultiTouch => "USB Multi-Touch", _ => "Unknown",
            });
        p.Choice("hidkeyboard", "Keyboard Device:",
            m.KeyboardHIDType switch { KeyboardHIDType.None => "none", KeyboardHIDType.PS2Keyboard => "ps2kbd", KeyboardHIDType.USBKeyboard => "usbkbd", KeyboardHIDType.ComboKeyboard => "combokbd", _ => "unknown" },
            m.KeyboardHIDType switch { KeyboardHIDType.None => "None", KeyboardHIDType.PS2Keyboard => "PS/2 Keyboard", KeyboardHIDType.USBKeyboard => "USB Keyboard", KeyboardHIDType.ComboKeyboard => "USB and PS/2 Keyboard", _ => "Unknown" });

        ShowUarts(c, m, p);
        for (uint i = 1; i <= c.VBox.SystemProperties.ParallelPortCount; i++)
        {
            if (mr) o.WriteLine($"lpt{i}=\"off\"");
            else p.Human($"LPT {i}:", "disabled");
        }
        ShowAudio(m, p);

        p.Choice("clipboard", "Clipboard Mode:", ModeMr(m.ClipboardMode), ModeHuman(m.ClipboardMode));
        p.Choice("draganddrop", "Drag and drop Mode:", ModeMr((ClipboardMode)(int)m.DnDMode), ModeHuman((ClipboardMode)(int)m.DnDMode));
        if (mr) o.WriteLine(m.VRDEEnabled ? "vrde=\"on\"" : "vrde=\"off\"");
        else p.Human("VRDE:", m.VRDEEnabled ? "enabled" : "disabled");

        IReadOnlyList<string> usb = m.USBControllerTypes;
        p.Bool("usb", "OHCI USB:", usb.Contains("OHCI"));
        p.Bool("ehci", "EHCI USB:", usb.Contains("EHCI"));
        p.Bool("xhci", "xHCI USB:", usb.Contains("XHCI"));
        if (!mr)
        {
            p.Human("USB Device Filters:", "<none>");
            o.WriteLine($"{"Bandwidth groups:",-28} <none>");
            o.WriteLine($"{"Shared folders:",-28} <none>");
        }

        if (m.Description.Length > 0)
        {
            if (mr) p.MrString("description", m.Description);
            else o.WriteLine($"Description:\n{m.Description}");
        }
        if (m.SessionState != SessionState.Unlocked && m.SessionName.Length > 0)
            p.String("SessionName", "Session name:", m.SessionName);
        if (!mr)
            o.WriteLine("* Guest:");
        p.UInt("GuestMemoryBalloon", "Configured memory balloon:", m.MemoryBalloonSize, "MB");
        if (m.SnapshotCount > 0)
        {
            if (!mr)
                o.WriteLine("* Snapshots:");
            SnapshotCommands.PrintTree(o, m.FindSnapshot(null), m.CurrentSnapshot?.Id, mr, "");
        }
        if (!mr)
            o.WriteLine();
    }

    /// <summary>
    /// For a running VM: the execution engine and the hardware-virtualization features really in
    /// effect, as its VM process reports them (the settings above are only what was asked for).
    /// </summary>
    private static void ShowEngineInEffect(Ctx c, IMachine m, Printer p)
    {
        if (m.State is not (MachineState.Running or MachineState.Paused or MachineState.Stuck))
            return;
        var facts = new Dictionary<string, string>();
        ISession session = c.VBox.CreateSession();
        try
        {
            m.LockMachine(session, LockType.Shared);
            if (session.Type != SessionType.Shared)
                return;
            foreach (string line in session.Console.Debugger.EngineInfo.Split('\n'))
            {
                int eq = line.IndexOf('=');
                if (eq > 0)
                    facts[line[..eq]] = line[(eq + 1)..];
            }
        }
        catch (VBoxException)
        {
            return;   // the VM ended meanwhile: nothing runs, nothing to show
        }
        finally
        {
            if (session.State == SessionState.Locked)
            {
                try { session.UnlockMachine(); }
                catch (VBoxException) { }
            }
        }
        bool kvm = facts.GetValueOrDefault("engine") == "kvm";
        p.Choice("vmexecutionengine", "Execution Engine:", kvm ? "NativeApi" : "Emulated", kvm ? "KVM (native API)" : "software CPU (emulated)");
        foreach (var (key, label, mr) in new[]
        {
            ("nestedpaging", "Nested Paging in effect:", "nestedpaging-active"),
            ("vpid", "VT-x VPID in effect:", "vtxvpid-active"),
            ("unrestricted", "VT-x Unrestr. in effect:", "vtxux-active"),
            ("largepages", "Large Pages in effect:", "largepages-active"),
        })
        {
            string v = facts.GetValueOrDefault(key, "unknown");
            p.Choice(mr, label, v, v == "unknown" ? "unknown (the host's KVM module does not report it)" : v);
        }
        if (!p.MR && facts.GetValueOrDefault("reason") is { Length: > 0 } why)
            p.Human("Engine chosen because:", why);
    }

    private static void ShowInaccessible(Ctx c, IMachine m, Details details)
    {
        TextWriter o = c.Out;
        if (details == Details.Compact)
        {
            o.WriteLine($"\"<inaccessible>\" {{{m.Id:D}}}");
            return;
        }
        if (details == Details.MachineReadable)
        {
            o.WriteLine("name=\"<inaccessible>\"");
            o.WriteLine($"UUID=\"{m.Id:D}\"");
            return;
        }
        o.WriteLine("Name:            <inaccessible!>");
        o.WriteLine($"UUID:            {m.Id:D}");
        o.WriteLine($"Config file:     {m.SettingsFilePath}");
        o.WriteLine("Encryption:     disabled");
        o.WriteLine("Access error details:");
        o.Flush();
        if (m.AccessError is VBoxErrorInfo e)
            c.PrintApiError(e, null); // On stderr, as VirtualBox prints error info.
        o.WriteLine();
    }

    private static string ParavirtMr(ParavirtProvider p) => p switch
    {
        ParavirtProvider.None => "none", ParavirtProvider.Default => "default", ParavirtProvider.Legacy => "legacy",
        ParavirtProvider.Minimal => "minimal", ParavirtProvider.HyperV => "hyperv", ParavirtProvider.KVM => "kvm", _ => "unknown",
    };

    private static string ParavirtHuman(ParavirtProvider p) => p switch
    {
        ParavirtProvider.None => "None", ParavirtProvider.Default => "Default", ParavirtProvider.Legacy => "Legacy",
        ParavirtProvider.Minimal => "Minimal", ParavirtProvider.HyperV => "HyperV", ParavirtProvider.KVM => "KVM", _ => "Unknown",
    };

    private static string ModeMr(ClipboardMode m) => m switch
    {
        ClipboardMode.Disabled => "disabled", ClipboardMode.HostToGuest => "hosttoguest",
        ClipboardMode.GuestToHost => "guesttohost", ClipboardMode.Bidirectional => "bidirectional", _ => "unknown",
    };

    private static string ModeHuman(ClipboardMode m) => m switch
    {
        ClipboardMode.Disabled => "disabled", ClipboardMode.HostToGuest => "HostToGuest",
        ClipboardMode.GuestToHost => "GuestToHost", ClipboardMode.Bidirectional => "Bidirectional", _ => "Unknown",
    };

    private static void ShowStorage(Ctx c, IMachine m, Printer p)
    {
        TextWriter o = p.Out;
        IReadOnlyList<IStorageController> ctls = m.StorageControllers;
        if (ctls.Count == 0)
        {
            if (!p.MR)
                p.Human("Storage Controllers:", "<none>");
            return;
        }
        if (!p.MR)
            o.WriteLine("Storage Controllers:");
        for (int i = 0; i < ctls.Count; i++)
        {
            IStorageController sc = ctls[i];
            if (p.MR)
            {
                p.MrString($"storagecontrollername{i}", sc.Name);
                p.MrString($"storagecontrollertype{i}", ControllerTypeName(sc.ControllerType));
                o.WriteLine($"storagecontrollerinstance{i}=\"{sc.Instance}\"");
                o.WriteLine($"storagecontrollermaxportcount{i}=\"{sc.MaxPortCount}\"");
                o.WriteLine($"storagecontrollerportcount{i}=\"{sc.PortCount}\"");
                o.WriteLine($"storagecontrollerbootable{i}=\"{(sc.Bootable ? "on" : "off")}\"");
            }
            else
            {
                o.WriteLine($"#{i}: '{sc.Name}', Type: {ControllerTypeName(sc.ControllerType)}, Instance: {sc.Instance}, Ports: {sc.PortCount} (max {sc.MaxPortCount}), {(sc.Bootable ? "Bootable" : "Not bootable")}");
                ShowAttachments(c, m, sc, p);
            }
        }
        if (p.MR)
            foreach (IStorageController sc in ctls)
                ShowAttachments(c, m, sc, p);
    }

    private static void ShowAttachments(Ctx c, IMachine m, IStorageController sc, Printer p)
    {
        TextWriter o = p.Out;
        var byslot = new Dictionary<(int, int), MediumAttachment>();
        foreach (MediumAttachment a in m.GetMediumAttachmentsOfController(sc.Name))
            byslot[(a.Port, a.Device)] = a;
        bool hotplugKey = string.Equals(sc.Name, "SATA", StringComparison.OrdinalIgnoreCase) || string.Equals(sc.Name, "USB", StringComparison.OrdinalIgnoreCase);
        for (int port = 0; port < sc.PortCount; port++)
            for (int dev = 0; dev < sc.MaxDevicesPerPortCount; dev++)
            {
                string slot = $"{sc.Name}-{port}-{dev}";
                if (!byslot.TryGetValue((port, dev), out MediumAttachment? a))
                {
                    if (p.MR)
                        p.MrString(slot, "none", quoteKey: true);
                    continue;
                }
                IMedium? medium = null;
                string? location = null;
                if (a.MediumId is Guid mid)
                {
                    try
                    {
                        medium = m.GetMedium(sc.Name, port, dev);
                        location = medium?.Location;
                    }
                    catch (VBoxException)
                    {
                        location = "<not in any media registry>"; // a .vbox naming a UUID nobody registered
                    }
                }
                if (a.MediumId is Guid id && location != null)
                {
                    if (p.MR)
                    {
                        p.MrString(slot, location, quoteKey: true);
                        p.MrString($"{sc.Name}-ImageUUID-{port}-{dev}", id.ToString("D"), quoteKey: true);
                        if (a.Passthrough)
                            p.MrString($"{sc.Name}-dvdpassthrough-{port}-{dev}", "on", quoteKey: true);
                        if (a.Type == DeviceType.DVD)
                        {
                            p.MrString($"{sc.Name}-tempeject-{port}-{dev}", a.TemporaryEject ? "on" : "off", quoteKey: true);
                            p.MrString($"{sc.Name}-IsEjected-{port}-{dev}", a.IsEjected ? "on" : "off", quoteKey: true);
                        }
                        if (hotplugKey)
                            p.MrString($"{sc.Name}-hot-pluggable-{port}-{dev}", a.HotPluggable ? "on" : "off", quoteKey: true);
                        p.MrString($"{sc.Name}-nonrotational-{port}-{dev}", a.NonRotational ? "on" : "off", quoteKey: true);
                        p.MrString($"{sc.Name}-discard-{port}-{dev}", a.Discard ? "on" : "off", quoteKey: true);
                    }
                    else
                    {
                        var flags = new StringBuilder();
                        if (a.Passthrough) flags.Append(", passthrough enabled");
                        if (a.TemporaryEject) flags.Append(", temp eject");
                        if (a.IsEjected) flags.Append(", ejected");
                        if (a.HotPluggable) flags.Append(", hot-pluggable");
                        if (a.NonRotational) flags.Append(", non-rotational (SSD)");
                        if (a.Discard) flags.Append(", discards unused blocks");
                        o.WriteLine($"  Port {port}, Unit {dev}: UUID: {id:D}{flags}");
                        o.WriteLine($"    Location: \"{location}\"");
                    }
                }
                else if (p.MR)
                {
                    p.MrString(slot, "emptydrive", quoteKey: true);
                    if (a.Type == DeviceType.DVD)
                        p.MrString($"{sc.Name}-IsEjected-{port}-{dev}", a.IsEjected ? "on" : "off", quoteKey: true);
                }
                else
                    o.WriteLine($"  Port {port}, Unit {dev}: Empty{(a.TemporaryEject ? ", temp eject" : "")}{(a.IsEjected ? ", ejected" : "")}");
            }
        _ = c;
    }

    private static void ShowNics(IMachine m, Printer p)
    {
        TextWriter o = p.Out;
        for (uint slot = 0; slot < m.NetworkAdapterCount; slot++)
        {
            INetworkAdapter nic = m.GetNetworkAdapter(slot);
            uint n = slot + 1;
            if (!nic.Enabled)
            {
                if (p.MR) o.WriteLine($"nic{n}=\"none\"");
                else p.Human($"NIC {n}:", "disabled");
                continue;
            }
            string attachment;
            string? natSettings = null;
            switch (nic.AttachmentType)
            {
                case NetworkAttachmentType.NAT:
                    if (p.MR)
                    {
                        p.MrString($"natnet{n}", "nat");
                        attachment = "nat";
                        natSettings = "mtu=\"0\"\nsockSnd=\"64\"\nsockRcv=\"64\"\ntcpWndSnd=\"64\"\ntcpWndRcv=\"64\"";
                    }
                    else
                    {
                        attachment = "NAT";
                        natSettings = $"NIC {n} Settings:  MTU: 0, Socket (send: 64, receive: 64), TCP Window (send:64, receive: 64)";
                    }
                    break;
                case NetworkAttachmentType.Bridged:
                    if (p.MR) { p.MrString($"bridgeadapter{n}", nic.BridgedInterface); attachment = "bridged"; }
                    else attachment = $"Bridged Interface '{nic.BridgedInterface}'";
                    break;
                case NetworkAttachmentType.Internal:
                    if (p.MR) { p.MrString($"intnet{n}", nic.InternalNetwork); attachment = "intnet"; }
                    else attachment = $"Internal Network '{nic.InternalNetwork}'";
                    break;
                case NetworkAttachmentType.HostOnly:
                    if (p.MR) { p.MrString($"hostonlyadapter{n}", nic.HostOnlyInterface); attachment = "hostonly"; }
                    else attachment = $"Host-only Interface '{nic.HostOnlyInterface}'";
                    break;
                case NetworkAttachmentType.Generic:
                    if (p.MR) { p.MrString($"generic{n}", nic.GenericDriver); attachment = "Generic"; }
                    else attachment = $"Generic '{nic.GenericDriver}' {{ }}";
                    break;
                case NetworkAttachmentType.NATNetwork:
                    if (p.MR) { p.MrString($"nat-network{n}", nic.NATNetwork); attachment = "natnetwork"; }
                    else attachment = $"NAT Network '{nic.NATNetwork}'";
                    break;
                case NetworkAttachmentType.Null:
                    attachment = p.MR ? "null" : "none";
                    break;
                default:
                    attachment = "unknown";
                    break;
            }
            if (p.MR)
            {
                o.WriteLine($"macaddress{n}=\"{nic.MACAddress}\"");
                o.WriteLine($"cableconnected{n}=\"{(nic.CableConnected ? "on" : "off")}\"");
                o.WriteLine($"nic{n}=\"{attachment}\"");
                o.WriteLine($"nictype{n}=\"{NicTypeName(nic.AdapterType)}\"");
                o.WriteLine($"nicspeed{n}=\"{nic.LineSpeed}\"");
            }
            else
            {
                string promisc = nic.PromiscModePolicy switch
                {
                    NetworkAdapterPromiscModePolicy.AllowNetwork => "allow-vms",
                    NetworkAdapterPromiscModePolicy.AllowAll => "allow-all",
                    _ => "deny",
                };
                p.Human($"NIC {n}:",
                    $"MAC: {nic.MACAddress}, Attachment: {attachment}, Cable connected: {(nic.CableConnected ? "on" : "off")}, " +
                    $"Trace: {(nic.TraceEnabled ? "on" : "off")} (file: {(nic.TraceFile.Length == 0 ? "none" : nic.TraceFile)}), " +
                    $"Type: {NicTypeName(nic.AdapterType)}, Reported speed: {nic.LineSpeed / 1000} Mbps, Boot priority: {nic.BootPriority}, " +
                    $"Promisc Policy: {promisc}, Bandwidth group: none");
            }
            if (natSettings != null)
                o.WriteLine(natSettings);
        }
    }

    private static void ShowUarts(Ctx c, IMachine m, Printer p)
    {
        TextWriter o = p.Out;
        for (uint slot = 0; slot < c.VBox.SystemProperties.SerialPortCount; slot++)
        {
            ISerialPort u = m.GetSerialPort(slot);
            uint n = slot + 1;
            if (!u.Enabled)
            {
                if (p.MR) o.WriteLine($"uart{n}=\"off\"");
                else p.Human($"UART {n}:", "disabled");
                continue;
            }
            string ioBase = "0x" + u.IOBase.ToString("x4", CultureInfo.InvariantCulture);
            string uartType = u.UartType switch { UartType.U16550A => "16550A", UartType.U16750 => "16750", _ => "16450" };
            if (p.MR)
            {
                o.WriteLine($"uart{n}=\"{ioBase},{u.IRQ}\"");
                string mode = u.HostMode switch
                {
                    PortMode.RawFile => $"file,{u.Path}",
                    PortMode.TCP => $"{(u.Server ? "tcpserver" : "tcpclient")},{u.Path}",
                    PortMode.HostPipe => $"{(u.Server ? "server" : "client")},{u.Path}",
                    PortMode.HostDevice => u.Path,
                    _ => "disconnected",
                };
                p.MrString($"uartmode{n}", mode);
                o.WriteLine($"uarttype{n}=\"{uartType}\"");
            }
            else
            {
                string mode = u.HostMode switch
                {
                    PortMode.RawFile => $", attached to raw file '{u.Path}'",
                    PortMode.TCP => $", attached to tcp ({(u.Server ? "server" : "client")}) '{u.Path}'",
                    PortMode.HostPipe => $", attached to pipe ({(u.Server ? "server" : "client")}) '{u.Path}'",
                    PortMode.HostDevice => $", attached to device '{u.Path}'",
                    _ => ", disconnected",
                };
                p.Human($"UART {n}:", $"I/O base: {ioBase}, IRQ: {u.IRQ}{mode}, {uartType}");
            }
        }
    }

    private static void ShowAudio(IMachine m, Printer p)
    {
        TextWriter o = p.Out;
        bool enabled = m.AudioEnabled;
        string drv = m.AudioDriver;
        (string drvMr, string drvHuman) = drv switch
        {
            "Null" => ("null", "Null"),
            "Default" => ("default", "Default"),
            "OSS" => ("oss", "OSS"),
            "ALSA" => ("alsa", "ALSA"),
            "Pulse" => ("pulse", "PulseAudio"),
            "WinMM" => ("winmm", "WINMM"),
            "DirectSound" => ("dsound", "DirectSound"),
            "WAS" => ("was", "Windows Audio Session (WAS)"),
            "CoreAudio" => ("coreaudio", "CoreAudio"),
            "SolAudio" => ("solaudio", "SolAudio"),
            _ => ("unknown", "Unknown"),
        };
        string ctl = m.AudioController switch { AudioControllerType.SB16 => "SB16", AudioControllerType.HDA => "HDA", _ => "AC97" };
        string codec = m.AudioCodec switch
        {
            AudioCodecType.SB16 => "SB16", AudioCodecType.STAC9700 => "STAC9700", AudioCodecType.AD1980 => "AD1980",
            AudioCodecType.STAC9221 => "STAC9221", _ => "Unknown",
        };
        if (p.MR)
            o.WriteLine($"audio=\"{(enabled ? drvMr : "none")}\"");
        else
            p.Human("Audio:", enabled ? $"enabled (Driver: {drvHuman}, Controller: {ctl}, Codec: {codec})" : "disabled");
        p.Bool("audio_out", "Audio playback:", m.AudioEnabledOut);
        p.Bool("audio_in", "Audio capture:", m.AudioEnabledIn);
    }
}
