using System.Globalization;
using System.Xml.Linq;
using SharpBox.Main.Api;

namespace SharpBox.Main.Settings;

/// <summary>
/// Typed view of a machine settings file (.vbox). Each property reads the element or attribute where
/// the file's settings version keeps it (Hardware/CPU before 1.20, Platform/CPU and Platform/x86/CPU
/// from 1.20; BIOS before 1.20, Firmware from 1.20; StorageControllers under Machine before 1.17,
/// under Hardware from 1.17) and applies VirtualBox's reader defaults for that version. Setters
/// change only their element or attribute, omit values equal to the version's default as VirtualBox
/// does, and raise the version when a value cannot be expressed in the file's version.
/// </summary>
public sealed class MachineConfig
{
    public static readonly string[] MachineOrder =
    {
        "MediaRegistry", "Description", "Teleporter", "ExtraData", "Snapshot", "Hardware", "Platform", "StorageControllers",
        "Debugging", "Autostart", "Recording", "Groups",
    };

    public static readonly string[] HardwareOrder =
    {
        "CPU", "Memory", "Firmware", "HID", "HPET", "Chipset", "Paravirt", "Iommu", "Boot", "Display", "VideoCapture",
        "RemoteDisplay", "BIOS", "TrustedPlatformModule", "USBController", "USB", "Network", "UART", "LPT", "AudioAdapter",
        "RTC", "SharedFolders", "Clipboard", "DragAndDrop", "IO", "HostPci", "Vfio", "EmulatedUSB", "Frontend", "Guest",
        "GuestProperties", "StorageControllers",
    };

    public static readonly string[] CpuOrder =
    {
        "HardwareVirtExLargePages", "HardwareVirtForce", "HardwareVirtExUseNativeApi",
        "HardwareVirtEx", "HardwareVirtExNestedPaging", "HardwareVirtExVPID", "HardwareVirtExUX", "PAE", "IBPBOn",
        "SpecCtrl", "SpecCtrlByHost", "L1DFlushOn", "MDSClearOn", "NestedHWVirt", "HardwareVirtExVirtVmsaveVmload",
        "LongMode", "TripleFaultReset", "X2APIC", "APIC", "CpuTree", "CpuIdTree",
    };

    public static readonly string[] PlatformOrder = { "RTC", "Chipset", "Iommu", "CPU", "x86" };
    public static readonly string[] FirmwareOrder =
    {
        "ACPI", "IOAPIC", "APIC", "Logo", "BootMenu", "TimeOffset", "PXEDebug", "NVRAM", "SmbiosUuidLittleEndian", "AutoSerialNumGen",
    };

    public SettingsDocument Doc { get; }
    public XElement Machine { get; }
    public SettingsVersion Version => Doc.Version;
    private AttrReader R => new(Doc);

    public MachineConfig(SettingsDocument doc)
    {
        Doc = doc;
        Machine = doc.Root.Child("Machine")
            ?? (doc.Root.Child("MachineEncrypted") != null
                ? throw doc.Error(doc.Root.Child("MachineEncrypted"), "The machine settings are encrypted (full VM encryption is not supported)")
                : throw doc.Error(doc.Root, "Required VirtualBox/Machine element is missing"));
        Validate();
    }

    /// <summary>A new machine document with the skeleton VirtualBox writes for a new VM.</summary>
    public static MachineConfig CreateNew(string path, Guid id, string name, string osTypeId)
    {
        SettingsDocument doc = SettingsDocument.CreateNew(path);
        XNamespace ns = doc.Ns;
        var machine = new XElement(ns + "Machine",
            new XAttribute("uuid", XmlUtil.FormatUuid(id)),
            new XAttribute("name", name),
            new XAttribute("OSType", osTypeId),
            new XAttribute("snapshotFolder", "Snapshots"),
            new XAttribute("lastStateChange", FormatTimestamp(DateTime.UtcNow)),
            new XElement(ns + "Hardware",
                new XElement(ns + "Memory", new XAttribute("RAMSize", "128"))));
        doc.Root.Add(machine);
        return new MachineConfig(doc);
    }

    public static string FormatTimestamp(DateTime utc) => utc.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>Reads every modeled value once so that malformed content is refused at load time.</summary>
    private void Validate()
    {
        _ = Id;
        R.Required(Machine, "name");
        if (Hardware == null)
            throw Doc.Error(Machine, "Required Machine/Hardware element is missing");
        if (MemoryElement?.Attr("RAMSize") == null)
            throw Doc.Error(MemoryElement ?? Hardware, "Required Memory/@RAMSize element/attribute is missing");
        _ = MemorySizeMB; _ = CpuCount; _ = CpuExecutionCap; _ = FirmwareType; _ = ChipsetType; _ = ParavirtProvider;
        _ = GraphicsController; _ = VramMB; _ = PointingHID; _ = KeyboardHID; _ = BootMenuMode; _ = ApicMode; _ = TimeOffset;
        for (uint i = 1; i <= 4; i++)
            _ = GetBootOrder(i);
        foreach (CpuPropertyType p in new[] { CpuPropertyType.PAE, CpuPropertyType.APIC, CpuPropertyType.X2APIC, CpuPropertyType.TripleFaultReset, CpuPropertyType.HWVirt })
            _ = GetCpuProperty(p);
        foreach (HWVirtExPropertyType p in new[] { HWVirtExPropertyType.Enabled, HWVirtExPropertyType.NestedPaging, HWVirtExPropertyType.VPID, HWVirtExPropertyType.LargePages, HWVirtExPropertyType.UnrestrictedExecution })
            _ = GetHwVirtProperty(p);
        _ = LongModeSetting;
        var seenSlots = new HashSet<uint>();
        foreach (XElement a in Hardware.Child("Network").ChildrenNamed("Adapter"))
        {
            uint slot = R.UInt(a, "slot", uint.MaxValue);
            if (slot == uint.MaxValue)
                throw Doc.Error(a, "Required Adapter/@slot attribute is missing");
            if (!seenSlots.Add(slot))
                throw Doc.Error(a, $"Invalid value {slot} in Adapter/@slot attribute: value is not unique");
            var nic = new NetworkAdapterXml(this, slot, a);
            _ = nic.Type; _ = nic.Enabled; _ = nic.CableConnected; _ = nic.AttachmentType; _ = nic.LineSpeed; _ = nic.PromiscPolicy; _ = nic.BootPriority;
        }
        seenSlots.Clear();
        foreach (XElement p in UartElement.ChildrenNamed("Port"))
        {
            uint slot = R.UInt(p, "slot", uint.MaxValue);
            if (slot == uint.MaxValue)
                throw Doc.Error(p, "Required UART/Port/@slot attribute is missing");
            if (slot > 3)
                throw Doc.Error(p, $"Invalid value {slot} in UART/Port/@slot attribute: must be 0..3");
            if (!seenSlots.Add(slot))
                throw Doc.Error(p, $"Invalid value {slot} in UART/Port/@slot attribute: value is not unique");
            foreach (string req in new[] { "enabled", "IOBase", "IRQ", "hostMode" })
                if (p.Attr(req) == null && !(req == "IOBase" && p.Attr("IOAddress") != null))
                    throw Doc.Error(p, $"Required UART/Port/@{req} attribute is missing");
            var port = new SerialPortXml(this, slot, p);
            _ = port.Enabled; _ = port.IOBase; _ = port.IRQ; _ = port.HostMode; _ = port.Server; _ = port.UartType;
        }
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (StorageControllerXml c in StorageControllers())
        {
            if (!names.Add(c.Name))
                throw Doc.Error(c.Element, $"Storage controller name '{c.Name}' is not unique");
            _ = c.ControllerType; _ = c.PortCount; _ = c.UseHostIOCache; _ = c.Bootable; _ = c.Instance;
            foreach (AttachedDeviceXml d in c.Devices())
                d.Check();
        }
        _ = MediaRegistry.ReadAll();
        _ = ExtraData.Items();
        ValidateSnapshots();
        _ = AudioEnabled; _ = AudioController; _ = ClipboardMode; _ = DnDMode;
    }

    /// <summary>Snapshot attributes, unique UUIDs, the current snapshot reference and each snapshot's hardware.</summary>
    private void ValidateSnapshots()
    {
        if (Machine.ChildrenNamed("Snapshot").Skip(1).FirstOrDefault() is XElement second)
            throw Doc.Error(second, "Only one root Snapshot element is allowed in Machine");
        var seen = new HashSet<Guid>();
        int count = 0;
        foreach (SnapshotXml snap in AllSnapshots())
        {
            if (++count > 250 * 1000)
                throw Doc.Error(snap.Element, "Too many snapshots");
            Guid id = snap.Id;
            if (!seen.Add(id))
                throw Doc.Error(snap.Element, $"Snapshot UUID {XmlUtil.FormatUuid(id)} is not unique");
            _ = snap.Name;
            _ = snap.TimeStamp;
            if (snap.Element.Child("Hardware") == null)
                throw Doc.Error(snap.Element, "Required Snapshot/Hardware element is missing");
            try { _ = SnapshotView(snap); }
            catch (SettingsFileException e) { throw new SettingsFileException(e.FilePath, SettingsDocument.LineOf(snap.Element), $"in snapshot '{snap.Name}': {e.Problem}"); }
        }
        if (CurrentSnapshotId is Guid cur && !seen.Contains(cur))
            throw Doc.Error(Machine, $"Current snapshot {XmlUtil.FormatUuid(cur)} is not among the machine's snapshots");
        if (CurrentSnapshotId == null && count > 0)
            throw Doc.Error(Machine, "The machine has snapshots but no currentSnapshot attribute");
    }

    // ---- Machine-level attributes -------------------------------------------------------------------

    public Guid Id => R.Uuid(Machine, "uuid", required: true);

    public string Name
    {
        get => Machine.Attr("name") ?? "";
        set => Machine.SetAttributeValue("name", value);
    }

    public string OSType
    {
        get => Machine.Attr("OSType") ?? "Other";
        set => Machine.SetAttributeValue("OSType", value);
    }

    public bool NameSync => R.Bool(Machine, "nameSync", true);
    public bool DirectoryIncludesUUID => R.Bool(Machine, "directoryIncludesUUID", false);

    public string Description
    {
        get => Machine.Attr("Description") ?? Machine.Child("Description")?.Value ?? "";
        set
        {
            Machine.Attribute("Description")?.Remove();
            XElement? d = Machine.Child("Description");
            if (string.IsNullOrEmpty(value))
                d?.Remove();
            else if (d != null)
                d.Value = value;
            else
                XmlUtil.InsertOrdered(Machine, new XElement(Doc.Ns + "Description", value), MachineOrder);
        }
    }

    /// <summary>The snapshot folder as stored (relative to the machine folder unless absolute).</summary>
    public string SnapshotFolderRaw
    {
        get => Machine.Attr("snapshotFolder") ?? "";
        set => Machine.SetAttributeValue("snapshotFolder", string.IsNullOrEmpty(value) ? null : value);
    }

    /// <summary>The saved-state file as stored (relative to the machine folder unless absolute); empty when not saved.</summary>
    public string StateFile
    {
        get => Machine.Attr("stateFile") ?? "";
        set => Machine.SetAttributeValue("stateFile", string.IsNullOrEmpty(value) ? null : value);
    }

    public bool Aborted
    {
        get => R.Bool(Machine, "aborted", false);
        set => Machine.SetAttributeValue("aborted", value ? "true" : null);
    }

    // ---- Snapshots ----------------------------------------------------------------------------------

    /// <summary>
    /// The Machine children that make up a state and are copied into a Snapshot element (VirtualBox's
    /// buildSnapshotXML writes the hardware, debugging, autostart and recording settings; files before
    /// 1.17 keep StorageControllers beside Hardware, 1.20 keeps Platform beside it).
    /// </summary>
    public static readonly string[] StateElementNames = { "Hardware", "Platform", "StorageControllers", "Debugging", "Autostart", "Recording" };

    /// <summary>The first (root) snapshot, or null.</summary>
    public SnapshotXml? RootSnapshot => Machine.Child("Snapshot") is XElement e ? new SnapshotXml(this, e) : null;

    /// <summary>All snapshots, parents before children.</summary>
    public IEnumerable<SnapshotXml> AllSnapshots() => RootSnapshot?.SelfAndDescendants() ?? Enumerable.Empty<SnapshotXml>();

    public SnapshotXml? FindSnapshot(Guid id) => AllSnapshots().FirstOrDefault(s => s.Id == id);

    public Guid? CurrentSnapshotId
    {
        get => Machine.Attr("currentSnapshot") is string s ? R.Uuid(Machine, "currentSnapshot", required: true) : null;
        set => Machine.SetAttributeValue("currentSnapshot", value is Guid g ? XmlUtil.FormatUuid(g) : null);
    }

    /// <summary>Whether the current state differs from the current snapshot (stored only when false, as VirtualBox does).</summary>
    public bool CurrentStateModified
    {
        get => R.Bool(Machine, "currentStateModified", true);
        set => Machine.SetAttributeValue("currentStateModified", value ? null : "false");
    }

    /// <summary>
    /// Records a snapshot of the current state elements, below the current snapshot (or as the root),
    /// and makes it the current snapshot.
    /// </summary>
    public SnapshotXml AddSnapshot(Guid id, string name, string description, DateTime timeStamp, string? stateFile)
    {
        XNamespace ns = Doc.Ns;
        var e = new XElement(ns + "Snapshot",
            new XAttribute("uuid", XmlUtil.FormatUuid(id)),
            new XAttribute("name", name),
            new XAttribute("timeStamp", FormatTimestamp(timeStamp)));
        if (!string.IsNullOrEmpty(stateFile))
            e.SetAttributeValue("stateFile", stateFile);
        if (!string.IsNullOrEmpty(description))
            e.Add(new XElement(ns + "Description", description));
        foreach (string n in StateElementNames)
            if (Machine.Child(n) is XElement part)
                e.Add(new XElement(part));
        SnapshotXml? parent = CurrentSnapshotId is Guid cur ? FindSnapshot(cur) : null;
        if (parent != null)
            parent.AddChild(e);
        else if (RootSnapshot is null)
            XmlUtil.InsertOrdered(Machine, e, MachineOrder);
        else
            throw Doc.Error(Machine, "The machine has snapshots but no valid current snapshot");
        CurrentSnapshotId = id;
        CurrentStateModified = false;
        return new SnapshotXml(this, e);
    }

    /// <summary>Replaces the current state elements with copies of the snapshot's.</summary>
    public void RestoreStateElements(SnapshotXml snapshot)
    {
        foreach (string n in StateElementNames)
            Machine.Child(n)?.Remove();
        XElement? anchor = null;
        foreach (string n in StateElementNames)
        {
            if (snapshot.Element.Child(n) is not XElement part)
                continue;
            var copy = new XElement(part);
            if (anchor == null)
                XmlUtil.InsertOrdered(Machine, copy, MachineOrder);
            else
                anchor.AddAfterSelf(copy);
            anchor = copy;
        }
    }

    /// <summary>
    /// Removes a snapshot element; its children (at most one for the root) take its place under its
    /// parent. The caller has checked the child count rules.
    /// </summary>
    public void RemoveSnapshot(SnapshotXml snapshot)
    {
        XElement e = snapshot.Element;
        List<XElement> children = e.Child("Snapshots").ChildrenNamed("Snapshot").ToList();
        foreach (XElement c in children)
            c.Remove();
        if (e.Parent is XElement list && list.Name.LocalName == "Snapshots")
        {
            foreach (XElement c in children)
                e.AddBeforeSelf(c);
            e.Remove();
            if (!list.HasElements)
                list.Remove();
        }
        else
        {
            // The root snapshot: its only child becomes the root.
            if (children.Count > 1)
                throw new InvalidOperationException("the root snapshot has more than one child");
            if (children.Count == 1)
                e.AddBeforeSelf(children[0]);
            e.Remove();
        }
    }

    /// <summary>A read-only view of the machine at a snapshot (a detached copy; changes go nowhere).</summary>
    internal MachineConfig SnapshotView(SnapshotXml snapshot)
    {
        var machine = new XElement(Machine.Name, Machine.Attributes().Where(a => a.Name.LocalName is not ("stateFile" or "currentSnapshot" or "currentStateModified" or "aborted")));
        if (snapshot.StateFile.Length > 0)
            machine.SetAttributeValue("stateFile", snapshot.StateFile);
        if (Machine.Child("MediaRegistry") is XElement reg)
            machine.Add(new XElement(reg));
        if (snapshot.Description.Length > 0)
            machine.Add(new XElement(Doc.Ns + "Description", snapshot.Description));
        foreach (string n in StateElementNames)
            if (snapshot.Element.Child(n) is XElement part)
                machine.Add(new XElement(part));
        return new MachineConfig(Doc.Detached(machine));
    }

    public DateTime LastStateChange
    {
        get
        {
            string? s = Machine.Attr("lastStateChange");
            if (s != null && DateTime.TryParseExact(s, "yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture,
                    DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out DateTime t))
                return t;
            return File.Exists(Doc.FilePath) ? File.GetLastWriteTimeUtc(Doc.FilePath) : DateTime.UtcNow;
        }
        set => Machine.SetAttributeValue("lastStateChange", FormatTimestamp(value));
    }

    public IReadOnlyList<string> Groups
    {
        get
        {
            var list = new List<string>();
            foreach (XElement g in Machine.Child("Groups").ChildrenNamed("Group"))
                list.Add(g.Attr("name") ?? "/");
            if (list.Count == 0)
                list.Add("/");
            return list;
        }
        set
        {
            Machine.Child("Groups")?.Remove();
            if (value.Count == 0 || (value.Count == 1 && value[0] == "/"))
                return;
            Doc.RequireVersion(SettingsVersion.V1_13);
            var groups = new XElement(Doc.Ns + "Groups");
            foreach (string g in value)
                groups.Add(new XElement(Doc.Ns + "Group", new XAttribute("name", g)));
            XmlUtil.InsertOrdered(Machine, groups, MachineOrder);
        }
    }

    public ExtraDataXml ExtraData => new(Doc, Machine, () => Machine.GetOrAdd("ExtraData", MachineOrder));

    public MediaRegistryXml MediaRegistry => new(Doc, Machine, () =>
    {
        Doc.RequireVersion(SettingsVersion.V1_11);
        return Machine.GetOrAdd("MediaRegistry", MachineOrder);
    });

    // ---- Element locations by version --------------------------------------------------------------

    public XElement Hardware => Machine.Child("Hardware")!;
    private bool IsV120 => Version >= SettingsVersion.V1_20;
    private XElement? MemoryElement => Hardware.Child("Memory");

    private XElement PlatformElement()
    {
        XElement p = Machine.GetOrAdd("Platform", MachineOrder);
        if (p.Attr("architecture") == null)
            p.SetAttributeValue("architecture", "x86");
        return p;
    }

    /// <summary>The element holding count/executionCap/hotplug (may not exist yet).</summary>
    private XElement? CpuGeneric => IsV120 ? Machine.Child("Platform").Child("CPU") : Hardware.Child("CPU");
    private XElement CpuGenericForWrite => IsV120 ? PlatformElement().GetOrAdd("CPU", PlatformOrder) : Hardware.GetOrAdd("CPU", HardwareOrder);

    /// <summary>The element holding x86 CPU feature children (HardwareVirtEx, PAE, LongMode, ...).</summary>
    private XElement? CpuX86 => IsV120 ? Machine.Child("Platform").Child("x86").Child("CPU") : Hardware.Child("CPU");
    private XElement CpuX86ForWrite => IsV120 ? PlatformElement().GetOrAdd("x86", PlatformOrder).GetOrAdd("CPU", CpuOrder) : Hardware.GetOrAdd("CPU", HardwareOrder);

    /// <summary>Where Chipset, RTC, Iommu live.</summary>
    private XElement? PlatformOrHardware => IsV120 ? Machine.Child("Platform") : Hardware;
    private XElement PlatformOrHardwareForWrite => IsV120 ? PlatformElement() : Hardware;
    private IReadOnlyList<string> PlatformOrHardwareOrder => IsV120 ? PlatformOrder : HardwareOrder;

    /// <summary>Where ACPI, IOAPIC, BootMenu, TimeOffset live: BIOS before 1.20, Firmware from 1.20.</summary>
    private XElement? FirmwareSettings => Hardware.Child(IsV120 ? "Firmware" : "BIOS");
    private XElement FirmwareSettingsForWrite => Hardware.GetOrAdd(IsV120 ? "Firmware" : "BIOS", HardwareOrder);

    private XElement? UartElement => Hardware.Child("UART") ?? Hardware.Child("Uart");

    // ---- Hardware -----------------------------------------------------------------------------------

    public Guid HardwareUuid
    {
        get => Hardware.Attr("uuid") is string s && XmlUtil.TryParseUuid(s, out Guid g) ? g : Id;
        set => Hardware.SetAttributeValue("uuid", value == Guid.Empty || value == Id ? null : XmlUtil.FormatUuid(value));
    }

    public uint MemorySizeMB
    {
        get => R.UInt(MemoryElement, "RAMSize", 128);
        set => Hardware.GetOrAdd("Memory", HardwareOrder).SetAttributeValue("RAMSize", XmlUtil.FormatUInt(value));
    }

    public bool PageFusion
    {
        get => R.Bool(MemoryElement, "PageFusion", false);
        set
        {
            if (value)
                Doc.RequireVersion(SettingsVersion.V1_10);
            Hardware.GetOrAdd("Memory", HardwareOrder).SetAttributeValue("PageFusion", value ? "true" : null);
        }
    }

    public uint CpuCount
    {
        get
        {
            uint count = R.UInt(CpuGeneric, "count", 0);
            if (count == 0)
                count = R.UInt(CpuGeneric.Child("CPUCount"), "count", 1); // pre-1.5 spelling
            return count == 0 ? 1 : count;
        }
        set => CpuGenericForWrite.SetAttributeValue("count", value > 1 ? XmlUtil.FormatUInt(value) : null);
    }

    public uint CpuExecutionCap
    {
        get => R.UInt(CpuGeneric, "executionCap", 100);
        set
        {
            if (value != 100)
                Doc.RequireVersion(SettingsVersion.V1_11);
            CpuGenericForWrite.SetAttributeValue("executionCap", value != 100 ? XmlUtil.FormatUInt(value) : null);
        }
    }

    public bool CpuHotPlug => R.Bool(CpuGeneric, "hotplug", false);
    public uint CpuIdPortabilityLevel => R.UInt(CpuGeneric, "CpuIdPortabilityLevel", 0);
    public string CpuProfile => CpuGeneric.Attr("CpuProfile") ?? "host";

    private bool CpuFlag(string element, string attr, bool dflt)
    {
        XElement? e = CpuX86.Child(element);
        return e == null ? dflt : R.Bool(e, attr, dflt);
    }

    private void SetCpuFlag(string element, bool value, bool omitWhen, SettingsVersion? requires = null)
    {
        XElement cpu = CpuX86ForWrite;
        if (value == omitWhen)
        {
            cpu.Child(element)?.Remove();
            return;
        }
        if (requires is SettingsVersion v)
            Doc.RequireVersion(v);
        cpu.GetOrAdd(element, CpuOrder).SetAttributeValue("enabled", XmlUtil.FormatBool(value));
    }

    private void SetCpuFlagAlways(string element, bool value)
        => CpuX86ForWrite.GetOrAdd(element, CpuOrder).SetAttributeValue("enabled", XmlUtil.FormatBool(value));

    /// <summary>LongMode: null when the file leaves it to the OS type ("legacy").</summary>
    public bool? LongModeSetting
    {
        get
        {
            XElement? e = CpuX86.Child("LongMode");
            return e?.Attr("enabled") == null ? null : R.Bool(e, "enabled", false);
        }
        set
        {
            if (value is bool b)
            {
                Doc.RequireVersion(SettingsVersion.V1_14);
                SetCpuFlagAlways("LongMode", b);
            }
            else
                CpuX86?.Child("LongMode")?.Remove();
        }
    }

    public bool GetCpuProperty(CpuPropertyType p) => p switch
    {
        // The PAE default is true on 64-bit hosts since settings 1.9 (false before).
        CpuPropertyType.PAE => CpuFlag("PAE", "enabled", true),
        CpuPropertyType.LongMode => LongModeSetting ?? OsTypes.Is64Bit(OSType),
        CpuPropertyType.TripleFaultReset => CpuFlag("TripleFaultReset", "enabled", false),
        CpuPropertyType.X2APIC => CpuFlag("X2APIC", "enabled", false),
        CpuPropertyType.APIC => CpuFlag("X2APIC", "enabled", false) || CpuFlag("APIC", "enabled", true),
        CpuPropertyType.HWVirt => CpuFlag("NestedHWVirt", "enabled", false),
        CpuPropertyType.SpecCtrl => CpuFlag("SpecCtrl", "enabled", false),
        CpuPropertyType.SpecCtrlByHost => CpuFlag("SpecCtrlByHost", "enabled", false),
        CpuPropertyType.IBPBOnVMExit => CpuFlag("IBPBOn", "vmexit", false),
        CpuPropertyType.IBPBOnVMEntry => CpuFlag("IBPBOn", "vmentry", false),
        CpuPropertyType.L1DFlushOnEMTScheduling => CpuFlag("L1DFlushOn", "scheduling", true),
        CpuPropertyType.L1DFlushOnVMEntry => CpuFlag("L1DFlushOn", "vmentry", false),
        CpuPropertyType.MDSClearOnEMTScheduling => CpuFlag("MDSClearOn", "scheduling", true),
        CpuPropertyType.MDSClearOnVMEntry => CpuFlag("MDSClearOn", "vmentry", false),
        _ => throw new ArgumentOutOfRangeException(nameof(p), p, "unknown CPU property"),
    };

    public void SetCpuProperty(CpuPropertyType p, bool value)
    {
        switch (p)
        {
            case CpuPropertyType.PAE: SetCpuFlagAlways("PAE", value); break;
            case CpuPropertyType.LongMode: LongModeSetting = value; break;
            case CpuPropertyType.TripleFaultReset: SetCpuFlag("TripleFaultReset", value, false); break;
            case CpuPropertyType.X2APIC:
                SetCpuFlag("X2APIC", value, false, SettingsVersion.V1_16);
                if (value)
                    CpuX86?.Child("APIC")?.Remove();
                break;
            case CpuPropertyType.APIC:
                SetCpuFlag("APIC", value, true, SettingsVersion.V1_16);
                if (!value)
                    CpuX86?.Child("X2APIC")?.Remove();
                break;
            case CpuPropertyType.HWVirt: SetCpuFlag("NestedHWVirt", value, false, SettingsVersion.V1_17); break;
            default: throw new ArgumentOutOfRangeException(nameof(p), p, "this CPU property cannot be changed");
        }
    }

    public bool GetHwVirtProperty(HWVirtExPropertyType p) => p switch
    {
        HWVirtExPropertyType.Enabled => CpuFlag("HardwareVirtEx", "enabled", true),
        HWVirtExPropertyType.NestedPaging => CpuFlag("HardwareVirtExNestedPaging", "enabled", true),
        HWVirtExPropertyType.VPID => CpuFlag("HardwareVirtExVPID", "enabled", true),
        HWVirtExPropertyType.UnrestrictedExecution => CpuFlag("HardwareVirtExUX", "enabled", true),
        // Large pages default to off on Linux hosts.
        HWVirtExPropertyType.LargePages => CpuFlag("HardwareVirtExLargePages", "enabled", false),
        HWVirtExPropertyType.Force => CpuFlag("HardwareVirtForce", "enabled", false),
        HWVirtExPropertyType.UseNativeApi => CpuFlag("HardwareVirtExUseNativeApi", "enabled", false),
        HWVirtExPropertyType.VirtVmsaveVmload => CpuFlag("HardwareVirtExVirtVmsaveVmload", "enabled", true),
        _ => throw new ArgumentOutOfRangeException(nameof(p), p, "unknown HW virtualization property"),
    };

    public void SetHwVirtProperty(HWVirtExPropertyType p, bool value)
    {
        switch (p)
        {
            case HWVirtExPropertyType.Enabled: SetCpuFlag("HardwareVirtEx", value, true); break;
            case HWVirtExPropertyType.NestedPaging: SetCpuFlag("HardwareVirtExNestedPaging", value, true); break;
            case HWVirtExPropertyType.VPID: SetCpuFlag("HardwareVirtExVPID", value, true); break;
            case HWVirtExPropertyType.UnrestrictedExecution: SetCpuFlag("HardwareVirtExUX", value, true); break;
            case HWVirtExPropertyType.LargePages: SetCpuFlagAlways("HardwareVirtExLargePages", value); break;
            case HWVirtExPropertyType.Force: SetCpuFlag("HardwareVirtForce", value, false); break;
            case HWVirtExPropertyType.UseNativeApi: SetCpuFlag("HardwareVirtExUseNativeApi", value, false, SettingsVersion.V1_17); break;
            case HWVirtExPropertyType.VirtVmsaveVmload: SetCpuFlag("HardwareVirtExVirtVmsaveVmload", value, true, SettingsVersion.V1_18); break;
            default: throw new ArgumentOutOfRangeException(nameof(p), p, "unknown HW virtualization property");
        }
    }

    private static readonly Dictionary<string, FirmwareType> FirmwareNames = new()
    {
        ["BIOS"] = FirmwareType.BIOS, ["1"] = FirmwareType.BIOS, ["EFI"] = FirmwareType.EFI, ["2"] = FirmwareType.EFI,
        ["EFI32"] = FirmwareType.EFI32, ["EFI64"] = FirmwareType.EFI64, ["EFIDUAL"] = FirmwareType.EFIDUAL,
    };

    public FirmwareType FirmwareType
    {
        get => R.Enum(Hardware.Child("Firmware"), "type", FirmwareType.BIOS, FirmwareNames);
        set
        {
            if (value == FirmwareType.BIOS)
            {
                XElement? fw = Hardware.Child("Firmware");
                if (fw != null)
                {
                    fw.Attribute("type")?.Remove();
                    if (!IsV120 && !fw.HasElements && !fw.HasAttributes)
                        fw.Remove();
                }
                return;
            }
            Hardware.GetOrAdd("Firmware", HardwareOrder).SetAttributeValue("type", value.ToString().ToUpperInvariant());
        }
    }

    private static readonly Dictionary<string, ChipsetType> ChipsetNames = new() { ["PIIX3"] = ChipsetType.PIIX3, ["ICH9"] = ChipsetType.ICH9 };

    public ChipsetType ChipsetType
    {
        get => R.Enum(PlatformOrHardware.Child("Chipset"), "type", ChipsetType.PIIX3, ChipsetNames);
        set
        {
            if (value == ChipsetType.PIIX3)
            {
                PlatformOrHardware?.Child("Chipset")?.Remove();
                return;
            }
            Doc.RequireVersion(SettingsVersion.V1_11);
            PlatformOrHardwareForWrite.GetOrAdd("Chipset", PlatformOrHardwareOrder).SetAttributeValue("type", value.ToString());
        }
    }

    public bool RtcUseUtc
    {
        get => PlatformOrHardware.Child("RTC").Attr("localOrUTC") == "UTC";
        set
        {
            if (!value)
            {
                PlatformOrHardware?.Child("RTC")?.Remove();
                return;
            }
            Doc.RequireVersion(SettingsVersion.V1_10);
            PlatformOrHardwareForWrite.GetOrAdd("RTC", PlatformOrHardwareOrder).SetAttributeValue("localOrUTC", "UTC");
        }
    }

    public bool HpetEnabled
    {
        get => R.Bool(IsV120 ? Machine.Child("Platform").Child("x86").Child("HPET") : Hardware.Child("HPET"), "enabled", false);
        set
        {
            XElement? e = IsV120 ? Machine.Child("Platform").Child("x86").Child("HPET") : Hardware.Child("HPET");
            if (!value)
            {
                e?.Remove();
                return;
            }
            Doc.RequireVersion(SettingsVersion.V1_10);
            XElement parent = IsV120 ? PlatformElement().GetOrAdd("x86", PlatformOrder) : Hardware;
            parent.GetOrAdd("HPET", IsV120 ? new[] { "HPET", "CPU" } : HardwareOrder).SetAttributeValue("enabled", "true");
        }
    }

    private static readonly Dictionary<string, ParavirtProvider> ParavirtNames = new()
    {
        ["None"] = ParavirtProvider.None, ["Default"] = ParavirtProvider.Default, ["Legacy"] = ParavirtProvider.Legacy,
        ["Minimal"] = ParavirtProvider.Minimal, ["HyperV"] = ParavirtProvider.HyperV, ["KVM"] = ParavirtProvider.KVM,
    };

    /// <summary>The provider when the file has no Paravirt element: Legacy before settings 1.16, Default since.</summary>
    private ParavirtProvider DefaultParavirt => Version >= SettingsVersion.V1_16 ? ParavirtProvider.Default : ParavirtProvider.Legacy;

    public ParavirtProvider ParavirtProvider
    {
        get => R.Enum(Hardware.Child("Paravirt"), "provider", DefaultParavirt, ParavirtNames);
        set
        {
            XElement? e = Hardware.Child("Paravirt");
            if (value == DefaultParavirt && string.IsNullOrEmpty(e.Attr("debug")))
            {
                e?.Remove();
                return;
            }
            Doc.RequireVersion(SettingsVersion.V1_15);
            Hardware.GetOrAdd("Paravirt", HardwareOrder).SetAttributeValue("provider", value.ToString());
        }
    }

    public string ParavirtDebug
    {
        get => Hardware.Child("Paravirt").Attr("debug") ?? "";
        set
        {
            if (string.IsNullOrEmpty(value))
            {
                XElement? e = Hardware.Child("Paravirt");
                e?.Attribute("debug")?.Remove();
                if (e != null && ParavirtProvider == DefaultParavirt)
                    e.Remove();
                return;
            }
            Doc.RequireVersion(SettingsVersion.V1_16);
            XElement p = Hardware.GetOrAdd("Paravirt", HardwareOrder);
            if (p.Attr("provider") == null)
                p.SetAttributeValue("provider", DefaultParavirt.ToString());
            p.SetAttributeValue("debug", value);
        }
    }

    // ---- Firmware settings (BIOS / Firmware element) --------------------------------------------

    private bool FwFlag(string element, bool dflt) => R.Bool(FirmwareSettings.Child(element), "enabled", dflt);

    private void SetFwChild(string element, string attr, string? value)
    {
        if (value == null)
        {
            XElement? fw = FirmwareSettings;
            XElement? e = fw.Child(element);
            if (e != null)
            {
                e.Remove();
                if (!IsV120 && fw != null && !fw.HasElements && !fw.HasAttributes)
                    fw.Remove();
            }
            return;
        }
        FirmwareSettingsForWrite.GetOrAdd(element, FirmwareOrder).SetAttributeValue(attr, value);
    }

    public bool AcpiEnabled
    {
        get => FwFlag("ACPI", true);
        set => SetFwChild("ACPI", "enabled", value ? null : "false");
    }

    public bool IoApicEnabled
    {
        get => FwFlag("IOAPIC", false);
        set => SetFwChild("IOAPIC", "enabled", value ? "true" : null);
    }

    private static readonly Dictionary<string, BiosBootMenuMode> BootMenuNames = new()
    {
        ["Disabled"] = BiosBootMenuMode.Disabled, ["MenuOnly"] = BiosBootMenuMode.MenuOnly, ["MessageAndMenu"] = BiosBootMenuMode.MessageAndMenu,
    };

    public BiosBootMenuMode BootMenuMode
    {
        get => R.Enum(FirmwareSettings.Child("BootMenu"), "mode", BiosBootMenuMode.MessageAndMenu, BootMenuNames, ignoreCase: true);
        set => SetFwChild("BootMenu", "mode", value == BiosBootMenuMode.MessageAndMenu ? null : value.ToString());
    }

    private static readonly Dictionary<string, ApicMode> ApicNames = new() { ["Disabled"] = ApicMode.Disabled, ["APIC"] = ApicMode.APIC, ["X2APIC"] = ApicMode.X2APIC };

    public ApicMode ApicMode
    {
        get => R.Enum(FirmwareSettings.Child("APIC"), "mode", ApicMode.APIC, ApicNames, ignoreCase: true);
        set
        {
            if (value != ApicMode.APIC)
                Doc.RequireVersion(SettingsVersion.V1_16);
            SetFwChild("APIC", "mode", value == ApicMode.APIC ? null : value.ToString());
        }
    }

    public long TimeOffset
    {
        get => R.Long(FirmwareSettings.Child("TimeOffset"), "value", 0);
        set => SetFwChild("TimeOffset", "value", value == 0 ? null : XmlUtil.FormatInt(value));
    }

    // ---- Boot order -----------------------------------------------------------------------------

    private static readonly Dictionary<string, DeviceType> BootDeviceNames = new()
    {
        ["None"] = DeviceType.Null, ["Floppy"] = DeviceType.Floppy, ["DVD"] = DeviceType.DVD, ["HardDisk"] = DeviceType.HardDisk, ["Network"] = DeviceType.Network,
    };

    private static readonly DeviceType[] DefaultBootOrder = { DeviceType.Floppy, DeviceType.DVD, DeviceType.HardDisk, DeviceType.Null };

    public DeviceType GetBootOrder(uint position)
    {
        if (position < 1 || position > 4)
            throw new ArgumentOutOfRangeException(nameof(position), position, "boot position must be 1..4");
        XElement? boot = Hardware.Child("Boot");
        if (boot == null)
            return DefaultBootOrder[position - 1];
        foreach (XElement o in boot.ChildrenNamed("Order"))
        {
            uint pos = R.UInt(o, "position", 0);
            if (pos < 1 || pos > 4)
                throw Doc.Error(o, $"Invalid value '{o.Attr("position")}' in Boot/Order/@position: must be greater than 0 and less than 5");
            if (pos == position)
            {
                string dev = R.Required(o, "device");
                return BootDeviceNames.TryGetValue(dev, out DeviceType t) ? t : throw Doc.Error(o, $"Invalid value '{dev}' in Boot/Order/@device attribute");
            }
        }
        return DeviceType.Null;
    }

    public void SetBootOrder(uint position, DeviceType device)
    {
        var order = new DeviceType[4];
        for (uint i = 1; i <= 4; i++)
            order[i - 1] = GetBootOrder(i);
        order[position - 1] = device;
        Hardware.Child("Boot")?.Remove();
        if (order.AsSpan().SequenceEqual(DefaultBootOrder))
            return;
        var boot = new XElement(Doc.Ns + "Boot");
        for (int i = 0; i < 4; i++)
        {
            string name = order[i] switch
            {
                DeviceType.Floppy => "Floppy",
                DeviceType.DVD => "DVD",
                DeviceType.HardDisk => "HardDisk",
                DeviceType.Network => "Network",
                _ => "None",
            };
            boot.Add(new XElement(Doc.Ns + "Order", new XAttribute("position", i + 1), new XAttribute("device", name)));
        }
        XmlUtil.InsertOrdered(Hardware, boot, HardwareOrder);
    }

    // ---- Display, HID ---------------------------------------------------------------------------

    private static readonly Dictionary<string, GraphicsControllerType> GraphicsNames = new(StringComparer.OrdinalIgnoreCase)
    {
        ["VBoxVGA"] = GraphicsControllerType.VBoxVGA, ["VMSVGA"] = GraphicsControllerType.VMSVGA,
        ["VBoxSVGA"] = GraphicsControllerType.VBoxSVGA, ["None"] = GraphicsControllerType.Null,
    };

    private XElement? Display => Hardware.Child("Display");

    public GraphicsControllerType GraphicsController
    {
        get => R.Enum(Display, "controller", GraphicsControllerType.VBoxVGA, GraphicsNames, ignoreCase: true);
        set
        {
            if (value != GraphicsControllerType.VBoxVGA)
                Doc.RequireVersion(SettingsVersion.V1_14);
            SetDisplayAttr("controller", value == GraphicsControllerType.VBoxVGA ? null : value == GraphicsControllerType.Null ? "None" : value.ToString());
        }
    }

    public uint VramMB
    {
        get => R.UInt(Display, "VRAMSize", 8);
        set => SetDisplayAttr("VRAMSize", value == 8 ? null : XmlUtil.FormatUInt(value));
    }

    public uint MonitorCount
    {
        get => R.UInt(Display, "monitorCount", R.UInt(Display, "MonitorCount", 1));
        set => SetDisplayAttr("monitorCount", value <= 1 ? null : XmlUtil.FormatUInt(value));
    }

    public bool Accelerate3D
    {
        get => R.Bool(Display, "accelerate3D", R.Bool(Display, "Accelerate3D", false));
        set => SetDisplayAttr("accelerate3D", value ? "true" : null);
    }

    private void SetDisplayAttr(string name, string? value)
    {
        if (value == null)
        {
            XElement? d = Display;
            if (d == null)
                return;
            d.Attribute(name)?.Remove();
            if (!d.HasAttributes && !d.HasElements)
                d.Remove();
            return;
        }
        Hardware.GetOrAdd("Display", HardwareOrder).SetAttributeValue(name, value);
    }

    private static readonly Dictionary<string, PointingHIDType> PointingNames = new()
    {
        ["None"] = PointingHIDType.None, ["USBMouse"] = PointingHIDType.USBMouse, ["USBTablet"] = PointingHIDType.USBTablet,
        ["PS2Mouse"] = PointingHIDType.PS2Mouse, ["ComboMouse"] = PointingHIDType.ComboMouse, ["USBMultiTouch"] = PointingHIDType.USBMultiTouch,
        ["USBMTScreenPlusPad"] = PointingHIDType.USBMultiTouchScreenPlusPad,
    };

    private static readonly Dictionary<string, KeyboardHIDType> KeyboardNames = new()
    {
        ["None"] = KeyboardHIDType.None, ["USBKeyboard"] = KeyboardHIDType.USBKeyboard, ["PS2Keyboard"] = KeyboardHIDType.PS2Keyboard, ["ComboKeyboard"] = KeyboardHIDType.ComboKeyboard,
    };

    public PointingHIDType PointingHID
    {
        get => R.Enum(Hardware.Child("HID"), "Pointing", PointingHIDType.PS2Mouse, PointingNames);
        set => SetHid("Pointing", value == PointingHIDType.PS2Mouse ? null : PointingNames.First(kv => kv.Value == value).Key);
    }

    public KeyboardHIDType KeyboardHID
    {
        get => R.Enum(Hardware.Child("HID"), "Keyboard", KeyboardHIDType.PS2Keyboard, KeyboardNames);
        set => SetHid("Keyboard", value == KeyboardHIDType.PS2Keyboard ? null : KeyboardNames.First(kv => kv.Value == value).Key);
    }

    private void SetHid(string attr, string? value)
    {
        if (value == null)
        {
            XElement? h = Hardware.Child("HID");
            h?.Attribute(attr)?.Remove();
            if (h != null && !h.HasAttributes)
                h.Remove();
            return;
        }
        Doc.RequireVersion(SettingsVersion.V1_10);
        Hardware.GetOrAdd("HID", HardwareOrder).SetAttributeValue(attr, value);
    }

    // ---- Read-only hardware shown by showvminfo -----------------------------------------------------

    private XElement? Audio => Hardware.Child("AudioAdapter");
    public bool AudioEnabled => Audio == null ? false : R.Bool(Audio, "enabled", Version < SettingsVersion.V1_16);
    public bool AudioEnabledIn => R.Bool(Audio, "enabledIn", Version <= SettingsVersion.V1_16);
    public bool AudioEnabledOut => R.Bool(Audio, "enabledOut", Version <= SettingsVersion.V1_16);

    private static readonly Dictionary<string, AudioControllerType> AudioControllerNames = new()
    {
        ["AC97"] = AudioControllerType.AC97, ["SB16"] = AudioControllerType.SB16, ["HDA"] = AudioControllerType.HDA,
    };

    /// <summary>The host audio driver as the file names it (Null, Pulse, ALSA, OSS, Default, ...).</summary>
    public string AudioDriver => Audio.Attr("driver") ?? "Null";

    /// <summary>The USB controller types (OHCI, EHCI, XHCI), from 1.14's USB/Controllers or the older USBController flags.</summary>
    public IReadOnlyList<string> UsbControllerTypes
    {
        get
        {
            var list = new List<string>();
            foreach (XElement c in Hardware.Child("USB").Child("Controllers").ChildrenNamed("Controller"))
                list.Add(c.Attr("type") ?? "");
            XElement? old = Hardware.Child("USBController");
            if (old != null && R.Bool(old, "enabled", false))
                list.Add("OHCI");
            if (old != null && R.Bool(old, "enabledEhci", false))
                list.Add("EHCI");
            return list;
        }
    }

    public AudioControllerType AudioController => R.Enum(Audio, "controller", AudioControllerType.AC97, AudioControllerNames);

    public AudioCodecType AudioCodec => Audio.Attr("codec") switch
    {
        "SB16" => AudioCodecType.SB16,
        "STAC9700" => AudioCodecType.STAC9700,
        "AD1980" => AudioCodecType.AD1980,
        "STAC9221" => AudioCodecType.STAC9221,
        _ => AudioController switch { AudioControllerType.SB16 => AudioCodecType.SB16, AudioControllerType.HDA => AudioCodecType.STAC9221, _ => AudioCodecType.STAC9700 },
    };

    private static readonly Dictionary<string, ClipboardMode> ClipboardNames = new()
    {
        ["Disabled"] = ClipboardMode.Disabled, ["HostToGuest"] = ClipboardMode.HostToGuest, ["GuestToHost"] = ClipboardMode.GuestToHost, ["Bidirectional"] = ClipboardMode.Bidirectional,
    };

    public ClipboardMode ClipboardMode => R.Enum(Hardware.Child("Clipboard"), "mode", ClipboardMode.Disabled, ClipboardNames);
    public DnDMode DnDMode => (DnDMode)(int)R.Enum(Hardware.Child("DragAndDrop"), "mode", ClipboardMode.Disabled, ClipboardNames);
    public uint MemoryBalloonMB => R.UInt(Hardware.Child("Guest"), "memoryBalloonSize", R.UInt(Hardware.Child("Guest"), "MemoryBalloonSize", 0));
    public bool TeleporterEnabled => R.Bool(Machine.Child("Teleporter"), "enabled", false);
    public uint TeleporterPort => R.UInt(Machine.Child("Teleporter"), "port", 0);
    public string TeleporterAddress => Machine.Child("Teleporter").Attr("address") ?? "";
    public bool AutostartEnabled => R.Bool(Machine.Child("Autostart"), "enabled", false);
    public uint AutostartDelay => R.UInt(Machine.Child("Autostart"), "delay", 0);
    public string DefaultFrontend => Hardware.Child("Frontend").Child("Default").Attr("type") ?? "";
    public bool VrdeEnabled => R.Bool(Hardware.Child("RemoteDisplay"), "enabled", Version < SettingsVersion.V1_16);

    // ---- Network adapters ---------------------------------------------------------------------

    public uint NetworkAdapterCount => ChipsetType == ChipsetType.ICH9 ? 36u : 8u;

    public NetworkAdapterXml NetworkAdapter(uint slot)
    {
        foreach (XElement a in Hardware.Child("Network").ChildrenNamed("Adapter"))
            if (R.UInt(a, "slot", uint.MaxValue) == slot)
                return new NetworkAdapterXml(this, slot, a);
        return new NetworkAdapterXml(this, slot, null);
    }

    internal XElement CreateAdapterElement(uint slot)
    {
        XElement network = Hardware.GetOrAdd("Network", HardwareOrder);
        var a = new XElement(Doc.Ns + "Adapter", new XAttribute("slot", slot));
        foreach (XElement other in network.ChildrenNamed("Adapter"))
            if (R.UInt(other, "slot", 0) > slot)
            {
                other.AddBeforeSelf(a);
                return a;
            }
        network.Add(a);
        return a;
    }

    // ---- Serial ports ---------------------------------------------------------------------------

    public SerialPortXml SerialPort(uint slot)
    {
        foreach (XElement p in UartElement.ChildrenNamed("Port"))
            if (R.UInt(p, "slot", uint.MaxValue) == slot)
                return new SerialPortXml(this, slot, p);
        return new SerialPortXml(this, slot, null);
    }

    internal XElement CreateSerialElement(uint slot)
    {
        XElement uart = UartElement ?? Hardware.GetOrAdd("UART", HardwareOrder);
        var p = new XElement(Doc.Ns + "Port", new XAttribute("slot", slot));
        foreach (XElement other in uart.ChildrenNamed("Port"))
            if (R.UInt(other, "slot", 0) > slot)
            {
                other.AddBeforeSelf(p);
                return p;
            }
        uart.Add(p);
        return p;
    }

    internal void RemoveEmptyUart()
    {
        XElement? uart = UartElement;
        if (uart != null && !uart.HasElements)
            uart.Remove();
    }

    // ---- Storage ------------------------------------------------------------------------------

    /// <summary>The StorageControllers element, wherever this version keeps it.</summary>
    private XElement? StorageControllersElement => Hardware.Child("StorageControllers") ?? Machine.Child("StorageControllers");

    private XElement StorageControllersForWrite()
    {
        XElement? existing = StorageControllersElement;
        if (existing != null)
            return existing;
        var sc = new XElement(Doc.Ns + "StorageControllers");
        if (Version >= SettingsVersion.V1_17)
            XmlUtil.InsertOrdered(Hardware, sc, HardwareOrder);
        else
            Hardware.AddAfterSelf(sc);
        return sc;
    }

    public IReadOnlyList<StorageControllerXml> StorageControllers()
    {
        var list = new List<StorageControllerXml>();
        foreach (XElement c in StorageControllersElement.ChildrenNamed("StorageController"))
            list.Add(new StorageControllerXml(this, c));
        return list;
    }

    public StorageControllerXml? FindStorageController(string name)
    {
        foreach (StorageControllerXml c in StorageControllers())
            if (c.Name == name)
                return c;
        return null;
    }

    public StorageControllerXml AddStorageController(string name, StorageControllerType type, uint portCount)
    {
        if (type == StorageControllerType.NVMe)
            Doc.RequireVersion(SettingsVersion.V1_16);
        else if (type == StorageControllerType.VirtioSCSI)
            Doc.RequireVersion(SettingsVersion.V1_18);
        else if (type == StorageControllerType.USB)
            Doc.RequireVersion(SettingsVersion.V1_15);
        StorageBus bus = StorageControllerXml.BusOf(type);
        uint instance = 0;
        foreach (StorageControllerXml c in StorageControllers())
            if (c.Bus == bus)
            {
                instance = Math.Max(instance, c.Instance + 1);
                Doc.RequireVersion(SettingsVersion.V1_11); // more than one controller of a kind
            }
        var e = new XElement(Doc.Ns + "StorageController",
            new XAttribute("name", name),
            new XAttribute("type", StorageControllerXml.TypeName(type)),
            new XAttribute("PortCount", portCount));
        if (instance != 0)
            e.SetAttributeValue("Instance", instance);
        e.SetAttributeValue("useHostIOCache", type is StorageControllerType.PIIX3 or StorageControllerType.PIIX4 or StorageControllerType.ICH6 or StorageControllerType.I82078 ? "true" : "false");
        e.SetAttributeValue("Bootable", "true");
        if (type == StorageControllerType.IntelAhci)
            StorageControllerXml.SetIdeEmulationPorts(e);
        StorageControllersForWrite().Add(e);
        var created = new StorageControllerXml(this, e);
        if (!created.UseHostIOCache)
            Doc.RequireVersion(SettingsVersion.V1_10);
        return created;
    }

    public void RemoveStorageController(StorageControllerXml c)
    {
        XElement? parent = c.Element.Parent;
        c.Element.Remove();
        if (parent != null && !parent.HasElements)
            parent.Remove();
    }

    /// <summary>All media UUIDs attached in the current state (not snapshots).</summary>
    public IEnumerable<Guid> AttachedMediumIds()
    {
        foreach (StorageControllerXml c in StorageControllers())
            foreach (AttachedDeviceXml d in c.Devices())
                if (d.ImageId is Guid g)
                    yield return g;
    }

    /// <summary>Media UUIDs referenced anywhere in the file (current state and snapshots).</summary>
    public HashSet<Guid> AllReferencedMediumIds()
    {
        var set = new HashSet<Guid>();
        foreach (XElement img in Machine.Descendants())
            if (img.Name.LocalName == "Image" && img.Parent?.Name.LocalName == "AttachedDevice"
                && XmlUtil.TryParseUuid(img.Attr("uuid") ?? "", out Guid g))
                set.Add(g);
        return set;
    }
}

/// <summary>One network adapter slot; <c>Element</c> is null while the slot has default settings.</summary>
public sealed class NetworkAdapterXml
{
    private static readonly string[] ModeNames = { "NAT", "NATNetwork", "BridgedInterface", "HostInterface", "InternalNetwork", "HostOnlyInterface", "HostOnlyNetwork", "GenericInterface", "CloudNetwork", "VDE" };

    internal static readonly Dictionary<string, NetworkAdapterType> TypeNames = new()
    {
        ["Am79C970A"] = NetworkAdapterType.Am79C970A, ["Am79C973"] = NetworkAdapterType.Am79C973, ["Am79C960"] = NetworkAdapterType.Am79C960,
        ["82540EM"] = NetworkAdapterType.I82540EM, ["82543GC"] = NetworkAdapterType.I82543GC, ["82545EM"] = NetworkAdapterType.I82545EM,
        ["virtio"] = NetworkAdapterType.Virtio, ["NE1000"] = NetworkAdapterType.NE1000, ["NE2000"] = NetworkAdapterType.NE2000,
        ["WD8003"] = NetworkAdapterType.WD8003, ["WD8013"] = NetworkAdapterType.WD8013, ["3C503"] = NetworkAdapterType.ELNK2, ["3C501"] = NetworkAdapterType.ELNK1,
    };

    private static readonly Dictionary<string, NetworkAdapterPromiscModePolicy> PromiscNames = new()
    {
        ["Deny"] = NetworkAdapterPromiscModePolicy.Deny, ["AllowNetwork"] = NetworkAdapterPromiscModePolicy.AllowNetwork, ["AllowAll"] = NetworkAdapterPromiscModePolicy.AllowAll,
    };

    private readonly MachineConfig _cfg;
    public uint Slot { get; }
    public XElement? Element { get; private set; }
    private AttrReader R => new(_cfg.Doc);
    private bool New => _cfg.Version >= SettingsVersion.V1_16;

    internal NetworkAdapterXml(MachineConfig cfg, uint slot, XElement? element)
    {
        _cfg = cfg;
        Slot = slot;
        Element = element;
    }

    private XElement E => Element ??= _cfg.CreateAdapterElement(Slot);

    public NetworkAdapterType DefaultType => New ? NetworkAdapterType.Am79C973 : NetworkAdapterType.Am79C970A;

    public bool Enabled
    {
        get => R.Bool(Element, "enabled", false);
        set => E.SetAttributeValue("enabled", value ? "true" : null);
    }

    public NetworkAdapterType Type
    {
        get => R.Enum(Element, "type", DefaultType, TypeNames);
        set => E.SetAttributeValue("type", value == DefaultType ? null : TypeNames.First(kv => kv.Value == value).Key);
    }

    public string MacAddress
    {
        get => Element.Attr("MACAddress") ?? "";
        set => E.SetAttributeValue("MACAddress", string.IsNullOrEmpty(value) ? null : value);
    }

    public bool CableConnected
    {
        get => R.Bool(Element, "cable", New);
        set => E.SetAttributeValue("cable", value == New ? null : XmlUtil.FormatBool(value));
    }

    public uint LineSpeed
    {
        get => R.UInt(Element, "speed", 0);
        set => E.SetAttributeValue("speed", value == 0 ? null : XmlUtil.FormatUInt(value));
    }

    public uint BootPriority
    {
        get => R.UInt(Element, "bootPriority", 0);
        set => E.SetAttributeValue("bootPriority", value == 0 ? null : XmlUtil.FormatUInt(value));
    }

    public NetworkAdapterPromiscModePolicy PromiscPolicy
    {
        get => R.Enum(Element, "promiscuousModePolicy", NetworkAdapterPromiscModePolicy.Deny, PromiscNames);
        set
        {
            if (value != NetworkAdapterPromiscModePolicy.Deny)
                _cfg.Doc.RequireVersion(SettingsVersion.V1_12);
            E.SetAttributeValue("promiscuousModePolicy", value == NetworkAdapterPromiscModePolicy.Deny ? null : value.ToString());
        }
    }

    public bool TraceEnabled
    {
        get => R.Bool(Element, "trace", false);
        set => E.SetAttributeValue("trace", value ? "true" : null);
    }

    public string TraceFile
    {
        get => Element.Attr("tracefile") ?? "";
        set => E.SetAttributeValue("tracefile", string.IsNullOrEmpty(value) ? null : value);
    }

    private XElement? ActiveModeElement
    {
        get
        {
            if (Element == null)
                return null;
            foreach (XElement c in Element.Elements())
                if (Array.IndexOf(ModeNames, c.Name.LocalName) >= 0)
                    return c;
            return null;
        }
    }

    public NetworkAttachmentType AttachmentType
    {
        get => ActiveModeElement?.Name.LocalName switch
        {
            "NAT" => NetworkAttachmentType.NAT,
            "NATNetwork" => NetworkAttachmentType.NATNetwork,
            "BridgedInterface" or "HostInterface" => NetworkAttachmentType.Bridged,
            "InternalNetwork" => NetworkAttachmentType.Internal,
            "HostOnlyInterface" => NetworkAttachmentType.HostOnly,
            "HostOnlyNetwork" => NetworkAttachmentType.HostOnlyNetwork,
            "GenericInterface" or "VDE" => NetworkAttachmentType.Generic,
            "CloudNetwork" => NetworkAttachmentType.Cloud,
            _ => NetworkAttachmentType.Null,
        };
        set
        {
            NetworkAttachmentType current = AttachmentType;
            if (current == value && (value != NetworkAttachmentType.Null))
                return;
            XElement? active = ActiveModeElement;
            XElement e = E;
            // Keep the settings of the mode being left in <DisabledModes>, as VirtualBox does.
            if (active != null)
            {
                active.Remove();
                if (active.HasAttributes || active.HasElements)
                {
                    XElement disabled = e.GetOrAdd("DisabledModes", new[] { "DisabledModes" });
                    disabled.Child(active.Name.LocalName)?.Remove();
                    disabled.Add(active);
                }
            }
            if (value == NetworkAttachmentType.Null)
                return;
            string name = ModeElementName(value);
            XElement? fromDisabled = e.Child("DisabledModes").Child(name);
            if (fromDisabled != null)
            {
                XElement disabled = e.Child("DisabledModes")!;
                fromDisabled.Remove();
                if (!disabled.HasElements)
                    disabled.Remove();
                e.Add(fromDisabled);
            }
            else
                e.Add(new XElement(_cfg.Doc.Ns + name));
            if (value == NetworkAttachmentType.NATNetwork)
                _cfg.Doc.RequireVersion(SettingsVersion.V1_14);
            else if (value == NetworkAttachmentType.Generic)
                _cfg.Doc.RequireVersion(SettingsVersion.V1_12);
            else if (value == NetworkAttachmentType.HostOnlyNetwork)
                _cfg.Doc.RequireVersion(SettingsVersion.V1_19);
            else if (value == NetworkAttachmentType.Cloud)
                _cfg.Doc.RequireVersion(SettingsVersion.V1_18);
        }
    }

    private static string ModeElementName(NetworkAttachmentType t) => t switch
    {
        NetworkAttachmentType.NAT => "NAT",
        NetworkAttachmentType.NATNetwork => "NATNetwork",
        NetworkAttachmentType.Bridged => "BridgedInterface",
        NetworkAttachmentType.Internal => "InternalNetwork",
        NetworkAttachmentType.HostOnly => "HostOnlyInterface",
        NetworkAttachmentType.HostOnlyNetwork => "HostOnlyNetwork",
        NetworkAttachmentType.Generic => "GenericInterface",
        NetworkAttachmentType.Cloud => "CloudNetwork",
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    /// <summary>The name attribute of the mode element (bridged interface, internal network, ...), active or disabled.</summary>
    public string ModeName(NetworkAttachmentType t)
    {
        string name = ModeElementName(t);
        XElement? m = Element.Child(name) ?? Element.Child("DisabledModes").Child(name)
            ?? (t == NetworkAttachmentType.Bridged ? Element.Child("HostInterface") : null);
        return m.Attr(t == NetworkAttachmentType.Generic ? "driver" : "name") ?? "";
    }

    public void SetModeName(NetworkAttachmentType t, string value)
    {
        string name = ModeElementName(t);
        XElement? m = Element.Child(name) ?? Element.Child("DisabledModes").Child(name);
        if (m == null)
        {
            if (string.IsNullOrEmpty(value))
                return;
            XElement disabled = E.GetOrAdd("DisabledModes", new[] { "DisabledModes" });
            m = new XElement(_cfg.Doc.Ns + name);
            disabled.Add(m);
        }
        m.SetAttributeValue(t == NetworkAttachmentType.Generic ? "driver" : "name", string.IsNullOrEmpty(value) ? null : value);
    }

    /// <summary>The NAT network (CIDR) of a NAT attachment, "" for the default.</summary>
    public string NatNetwork => (Element.Child("NAT") ?? Element.Child("DisabledModes").Child("NAT")).Attr("network") ?? "";

    /// <summary>Drops the element again when everything is back at its default.</summary>
    public void PruneIfDefault()
    {
        if (Element != null && Element.Attributes().All(a => a.Name.LocalName == "slot") && !Element.HasElements)
        {
            XElement? network = Element.Parent;
            Element.Remove();
            Element = null;
            if (network != null && !network.HasElements)
                network.Remove();
        }
    }
}

/// <summary>One serial port slot; <c>Element</c> is null while the slot has never been configured.</summary>
public sealed class SerialPortXml
{
    private static readonly Dictionary<string, PortMode> ModeNames = new()
    {
        ["Disconnected"] = PortMode.Disconnected, ["HostPipe"] = PortMode.HostPipe, ["HostDevice"] = PortMode.HostDevice,
        ["RawFile"] = PortMode.RawFile, ["TCP"] = PortMode.TCP,
    };

    private static readonly Dictionary<string, UartType> UartNames = new() { ["16450"] = UartType.U16450, ["16550A"] = UartType.U16550A, ["16750"] = UartType.U16750 };

    /// <summary>The usual COM1..COM4 resources, VirtualBox's defaults per slot.</summary>
    public static readonly (uint IoBase, uint Irq)[] SlotDefaults = { (0x3f8, 4), (0x2f8, 3), (0x3e8, 4), (0x2e8, 3) };

    private readonly MachineConfig _cfg;
    public uint Slot { get; }
    public XElement? Element { get; private set; }
    private AttrReader R => new(_cfg.Doc);

    internal SerialPortXml(MachineConfig cfg, uint slot, XElement? element)
    {
        _cfg = cfg;
        Slot = slot;
        Element = element;
    }

    private XElement E
    {
        get
        {
            if (Element == null)
            {
                Element = _cfg.CreateSerialElement(Slot);
                // A port element needs all its required attributes.
                Element.SetAttributeValue("enabled", "false");
                Element.SetAttributeValue("IOBase", $"0x{SlotDefaults[Slot].IoBase:x}");
                Element.SetAttributeValue("IRQ", SlotDefaults[Slot].Irq);
                Element.SetAttributeValue("hostMode", "Disconnected");
            }
            return Element;
        }
    }

    public bool Enabled
    {
        get => R.Bool(Element, "enabled", false);
        set => E.SetAttributeValue("enabled", XmlUtil.FormatBool(value));
    }

    public uint IOBase
    {
        get => R.UInt(Element, "IOBase", R.UInt(Element, "IOAddress", SlotDefaults[Slot].IoBase));
        set
        {
            E.Attribute("IOAddress")?.Remove();
            E.SetAttributeValue("IOBase", $"0x{value:x}");
        }
    }

    public uint IRQ
    {
        get => R.UInt(Element, "IRQ", SlotDefaults[Slot].Irq);
        set => E.SetAttributeValue("IRQ", XmlUtil.FormatUInt(value));
    }

    public PortMode HostMode
    {
        get => R.Enum(Element, "hostMode", PortMode.Disconnected, ModeNames);
        set
        {
            if (value == PortMode.TCP)
                _cfg.Doc.RequireVersion(SettingsVersion.V1_15);
            E.SetAttributeValue("hostMode", ModeNames.First(kv => kv.Value == value).Key);
            if (value == PortMode.Disconnected)
            {
                E.Attribute("path")?.Remove();
                E.Attribute("server")?.Remove();
            }
        }
    }

    public string Path
    {
        get => Element.Attr("path") ?? "";
        set => E.SetAttributeValue("path", string.IsNullOrEmpty(value) ? null : value);
    }

    public bool Server
    {
        get => R.Bool(Element, "server", false);
        set => E.SetAttributeValue("server", XmlUtil.FormatBool(value));
    }

    public UartType UartType
    {
        get => R.Enum(Element, "uartType", UartType.U16550A, UartNames);
        set
        {
            if (value != UartType.U16550A)
                _cfg.Doc.RequireVersion(SettingsVersion.V1_17);
            E.SetAttributeValue("uartType", value == UartType.U16550A ? null : UartNames.First(kv => kv.Value == value).Key);
        }
    }
}

/// <summary>One &lt;StorageController&gt;.</summary>
public sealed class StorageControllerXml
{
    private static readonly Dictionary<string, StorageControllerType> TypeNames = new()
    {
        ["AHCI"] = StorageControllerType.IntelAhci, ["LsiLogic"] = StorageControllerType.LsiLogic, ["BusLogic"] = StorageControllerType.BusLogic,
        ["PIIX3"] = StorageControllerType.PIIX3, ["PIIX4"] = StorageControllerType.PIIX4, ["ICH6"] = StorageControllerType.ICH6,
        ["I82078"] = StorageControllerType.I82078, ["LsiLogicSas"] = StorageControllerType.LsiLogicSas, ["USB"] = StorageControllerType.USB,
        ["NVMe"] = StorageControllerType.NVMe, ["VirtioSCSI"] = StorageControllerType.VirtioSCSI,
    };

    private readonly MachineConfig _cfg;
    public XElement Element { get; }
    private AttrReader R => new(_cfg.Doc);

    internal StorageControllerXml(MachineConfig cfg, XElement element)
    {
        _cfg = cfg;
        Element = element;
    }

    public static string TypeName(StorageControllerType t) => TypeNames.First(kv => kv.Value == t).Key;

    public static StorageBus BusOf(StorageControllerType t) => t switch
    {
        StorageControllerType.IntelAhci => StorageBus.SATA,
        StorageControllerType.LsiLogic or StorageControllerType.BusLogic => StorageBus.SCSI,
        StorageControllerType.PIIX3 or StorageControllerType.PIIX4 or StorageControllerType.ICH6 => StorageBus.IDE,
        StorageControllerType.I82078 => StorageBus.Floppy,
        StorageControllerType.LsiLogicSas => StorageBus.SAS,
        StorageControllerType.USB => StorageBus.USB,
        StorageControllerType.NVMe => StorageBus.PCIe,
        StorageControllerType.VirtioSCSI => StorageBus.VirtioSCSI,
        _ => StorageBus.Null,
    };

    internal static void SetIdeEmulationPorts(XElement e)
    {
        e.SetAttributeValue("IDE0MasterEmulationPort", "0");
        e.SetAttributeValue("IDE0SlaveEmulationPort", "1");
        e.SetAttributeValue("IDE1MasterEmulationPort", "2");
        e.SetAttributeValue("IDE1SlaveEmulationPort", "3");
    }

    public string Name
    {
        get => R.Required(Element, "name");
        set => Element.SetAttributeValue("name", value);
    }

    public StorageControllerType ControllerType
    {
        get
        {
            string t = R.Required(Element, "type");
            return TypeNames.TryGetValue(t, out StorageControllerType ct) ? ct
                : throw _cfg.Doc.Error(Element.Attribute("type"), $"Invalid value '{t}' for StorageController/@type attribute");
        }
        set
        {
            Element.SetAttributeValue("type", TypeName(value));
            if (value == StorageControllerType.IntelAhci)
                SetIdeEmulationPorts(Element);
        }
    }

    public StorageBus Bus => BusOf(ControllerType);

    public uint PortCount
    {
        get => R.UInt(Element, "PortCount", 2);
        set => Element.SetAttributeValue("PortCount", XmlUtil.FormatUInt(value));
    }

    public uint Instance => R.UInt(Element, "Instance", 0);

    public bool UseHostIOCache
    {
        get => R.Bool(Element, "useHostIOCache", true);
        set
        {
            if (!value)
                _cfg.Doc.RequireVersion(SettingsVersion.V1_10);
            Element.SetAttributeValue("useHostIOCache", XmlUtil.FormatBool(value));
        }
    }

    public bool Bootable
    {
        get => R.Bool(Element, "Bootable", true);
        set
        {
            _cfg.Doc.RequireVersion(SettingsVersion.V1_11);
            Element.SetAttributeValue("Bootable", XmlUtil.FormatBool(value));
        }
    }

    public IReadOnlyList<AttachedDeviceXml> Devices()
    {
        var list = new List<AttachedDeviceXml>();
        foreach (XElement d in Element.ChildrenNamed("AttachedDevice"))
            list.Add(new AttachedDeviceXml(_cfg, this, d));
        return list;
    }

    public AttachedDeviceXml? FindDevice(int port, int device)
    {
        foreach (AttachedDeviceXml d in Devices())
            if (d.Port == port && d.Device == device)
                return d;
        return null;
    }

    public AttachedDeviceXml AddDevice(int port, int device, DeviceType type, Guid? image)
    {
        XNamespace ns = _cfg.Doc.Ns;
        var e = new XElement(ns + "AttachedDevice");
        if (type == DeviceType.DVD)
            e.SetAttributeValue("passthrough", "false");
        e.SetAttributeValue("type", type switch { DeviceType.HardDisk => "HardDisk", DeviceType.DVD => "DVD", DeviceType.Floppy => "Floppy", _ => throw new ArgumentOutOfRangeException(nameof(type)) });
        bool defaultHotplug = ControllerType == StorageControllerType.IntelAhci;
        if (_cfg.Version >= SettingsVersion.V1_15)
            e.SetAttributeValue("hotpluggable", "false");
        else if (defaultHotplug)
        {
            // Before 1.15 AHCI ports were implicitly hot-pluggable; a fixed port needs the 1.15 attribute.
            _cfg.Doc.RequireVersion(SettingsVersion.V1_15);
            e.SetAttributeValue("hotpluggable", "false");
        }
        e.SetAttributeValue("port", port);
        e.SetAttributeValue("device", device);
        if (image is Guid g)
            e.Add(new XElement(ns + "Image", new XAttribute("uuid", XmlUtil.FormatUuid(g))));
        // Keep attachments sorted by port and device.
        foreach (AttachedDeviceXml other in Devices())
            if (other.Port > port || (other.Port == port && other.Device > device))
            {
                other.Element.AddBeforeSelf(e);
                return new AttachedDeviceXml(_cfg, this, e);
            }
        Element.Add(e);
        return new AttachedDeviceXml(_cfg, this, e);
    }
}

/// <summary>One &lt;AttachedDevice&gt; of a storage controller.</summary>
public sealed class AttachedDeviceXml
{
    private readonly MachineConfig _cfg;
    public StorageControllerXml Controller { get; }
    public XElement Element { get; }
    private AttrReader R => new(_cfg.Doc);

    internal AttachedDeviceXml(MachineConfig cfg, StorageControllerXml controller, XElement element)
    {
        _cfg = cfg;
        Controller = controller;
        Element = element;
    }

    internal void Check()
    {
        string? type = Element.Attr("type");
        if (type is not ("HardDisk" or "DVD" or "Floppy"))
            return; // VirtualBox ignores other device types; kept as they are.
        if (Element.Attr("port") == null)
            throw _cfg.Doc.Error(Element, "Required AttachedDevice/@port attribute is missing");
        if (Element.Attr("device") == null)
            throw _cfg.Doc.Error(Element, "Required AttachedDevice/@device attribute is missing");
        if (type == "HardDisk" && Element.Child("Image") == null)
            throw _cfg.Doc.Error(Element, "Required AttachedDevice/Image element is missing");
        _ = Port; _ = Device; _ = ImageId; _ = HotPluggable; _ = NonRotational; _ = Discard; _ = Passthrough; _ = TempEject;
    }

    public DeviceType Type => Element.Attr("type") switch
    {
        "HardDisk" => DeviceType.HardDisk,
        "DVD" => DeviceType.DVD,
        "Floppy" => DeviceType.Floppy,
        _ => DeviceType.Null,
    };

    public int Port => (int)R.UInt(Element, "port", 0);
    public int Device => (int)R.UInt(Element, "device", 0);

    public Guid? ImageId
    {
        get
        {
            XElement? img = Element.Child("Image");
            return img == null ? null : R.Uuid(img, "uuid", required: true);
        }
        set
        {
            Element.Child("Image")?.Remove();
            Element.Child("HostDrive")?.Remove();
            if (value is Guid g)
                Element.Add(new XElement(_cfg.Doc.Ns + "Image", new XAttribute("uuid", XmlUtil.FormatUuid(g))));
        }
    }

    public string? HostDrive => Element.Child("HostDrive").Attr("src");

    public bool HotPluggable
    {
        get => _cfg.Version >= SettingsVersion.V1_15
            ? R.Bool(Element, "hotpluggable", false)
            : Controller.ControllerType == StorageControllerType.IntelAhci;
        set
        {
            _cfg.Doc.RequireVersion(SettingsVersion.V1_15);
            Element.SetAttributeValue("hotpluggable", XmlUtil.FormatBool(value));
        }
    }

    public bool NonRotational
    {
        get => R.Bool(Element, "nonrotational", false);
        set => Element.SetAttributeValue("nonrotational", value ? "true" : null);
    }

    public bool Discard
    {
        get => R.Bool(Element, "discard", false);
        set => Element.SetAttributeValue("discard", value ? "true" : null);
    }

    public bool Passthrough
    {
        get => R.Bool(Element, "passthrough", false);
        set => Element.SetAttributeValue("passthrough", XmlUtil.FormatBool(value));
    }

    public bool TempEject
    {
        get => R.Bool(Element, "tempeject", false);
        set => Element.SetAttributeValue("tempeject", value ? "true" : null);
    }

    public string? BandwidthGroup => Element.Attr("bandwidthGroup");

    public void Remove() => Element.Remove();
}
