using System.Security.Cryptography;
using System.Xml.Linq;
using SharpBox.Main.Api;
using SharpBox.Main.Settings;
using SharpBox.Runtime;

namespace SharpBox.Main.Impl;

/// <summary>
/// A machine: either a registered machine (read-only view, loaded lazily), a new machine from
/// CreateMachine (mutable until registered), or the mutable session copy a locked session holds.
/// </summary>
internal sealed partial class Machine : IMachine
{
    internal const string Component = "MachineWrap";
    internal const string Iface = "IMachine";

    private readonly VirtualBox _vbox;
    private readonly Guid _id;
    private string _path;
    private MachineConfig? _cfg;
    private VBoxErrorInfo? _accessError;
    private bool _registered;
    private bool _mutable;
    private bool _isNew;
    private bool _detached;
    private string _nameOnDisk = "";
    private Machine? _original;
    private readonly HashSet<Guid> _leavingGlobalRegistry = new();
    private FileStamp _stamp;

    private Machine(VirtualBox vbox, Guid id, string path)
    {
        _vbox = vbox;
        _id = id;
        _path = path;
    }

    private static VBoxException Error(int rc, string message) => new(rc, message, Component, Iface);

    internal static Machine Registered(VirtualBox vbox, Guid id, string path) => new(vbox, id, path) { _registered = true };

    internal static Machine Opened(VirtualBox vbox, string path)
    {
        MachineConfig cfg = VirtualBox.Guard(() => new MachineConfig(SettingsDocument.Load(path)), Component, Iface);
        var m = new Machine(vbox, cfg.Id, path) { _cfg = cfg, _nameOnDisk = cfg.Name, _registered = vbox.IsRegistered(cfg.Id) };
        return m;
    }

    /// <summary>A new machine; <paramref name="osGiven"/> is false when no OS type was named ("Other" is stored).</summary>
    internal static Machine CreateNew(VirtualBox vbox, string path, Guid id, string name, GuestOSType os, bool osGiven, IReadOnlyList<string> groups)
    {
        MachineConfig cfg = MachineConfig.CreateNew(path, id, name, os.Id);
        var m = new Machine(vbox, id, path) { _cfg = cfg, _mutable = true, _isNew = true, _nameOnDisk = name };
        if (groups.Count > 0)
            cfg.Groups = groups;
        m.InitNewHardware(os, osGiven);
        return m;
    }

    internal void MarkRegistered()
    {
        _registered = true;
        _isNew = false;
        _mutable = false;
    }

    /// <summary>The settings, loading them on first use; throws the access error for inaccessible machines.</summary>
    internal MachineConfig Cfg
    {
        get
        {
            if (_detached)
                throw Error(ResultCode.VBOX_E_INVALID_SESSION_STATE, "The session of this machine object has been unlocked");
            MachineConfig? cfg = TryConfig();
            if (cfg == null)
                throw new VBoxException(_accessError!);
            return cfg;
        }
    }

    /// <summary>The settings, or null (with <see cref="AccessError"/> set) when the file cannot be used.</summary>
    internal MachineConfig? TryConfig()
    {
        if (_cfg != null || _accessError != null)
        {
            // The registered machine's read-only view follows its file: another process (or a
            // session of this one) may have saved it since it was read.
            if (!IsFileView || FileStamp.Of(_path) == _stamp)
                return _cfg;
            _cfg = null;
            _accessError = null;
        }
        try
        {
            _stamp = FileStamp.Of(_path);
            _cfg = new MachineConfig(SettingsDocument.Load(_path));
            _nameOnDisk = _cfg.Name;
            if (_cfg.Id != _id)
            {
                _accessError = new VBoxErrorInfo(ResultCode.VBOX_E_FILE_ERROR,
                    $"UUID {{{_cfg.Id:D}}} in the settings file '{_path}' does not match the UUID {{{_id:D}}} in the machine registry ('{_vbox.SettingsFilePath}')",
                    Component, Iface);
                _cfg = null;
            }
        }
        catch (SettingsFileException e)
        {
            _accessError = new VBoxErrorInfo(ResultCode.VBOX_E_XML_ERROR, e.Message, Component, Iface);
        }
        catch (FileNotFoundException)
        {
            _accessError = new VBoxErrorInfo(ResultCode.VBOX_E_FILE_ERROR,
                $"Could not find the settings file '{_path}' (VERR_FILE_NOT_FOUND)", Component, Iface);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _accessError = new VBoxErrorInfo(ResultCode.VBOX_E_FILE_ERROR, $"Could not read the settings file '{_path}': {e.Message}", Component, Iface);
        }
        return _cfg;
    }

    /// <summary>A registered machine's read-only view (not a session copy, a new machine or a snapshot's machine).</summary>
    private bool IsFileView => _registered && !_mutable && _original == null && !_detached && !_isSnapshotView;

    private bool _isSnapshotView;

    private void Mut()
    {
        if (_detached)
            throw Error(ResultCode.VBOX_E_INVALID_SESSION_STATE, "The session of this machine object has been unlocked");
        if (!_mutable)
            throw Error(ResultCode.VBOX_E_INVALID_VM_STATE, $"The machine is not mutable (state is {State})");
    }

    internal void Detach()
    {
        _detached = true;
        _mutable = false;
    }

    // ---- Identity --------------------------------------------------------------------------------

    public Guid Id => _id;
    public bool Accessible => TryConfig() != null;
    public VBoxErrorInfo? AccessError { get { TryConfig(); return _accessError; } }
    public string SettingsFilePath => _path;
    public string SettingsFileVersion => Cfg.Doc.VersionString;

    public string Name
    {
        get => Cfg.Name;
        set
        {
            Mut();
            if (string.IsNullOrWhiteSpace(value))
                throw Error(ResultCode.E_INVALIDARG, "Machine name must not be empty");
            Cfg.Name = value;
        }
    }

    public string Description
    {
        get => Cfg.Description;
        set { Mut(); Cfg.Description = value ?? ""; }
    }

    public IReadOnlyList<string> Groups
    {
        get => Cfg.Groups;
        set
        {
            Mut();
            foreach (string g in value)
                if (!g.StartsWith('/') || (g.Length > 1 && g.EndsWith('/')))
                    throw Error(ResultCode.E_INVALIDARG, $"Invalid machine group '{g}' (must start with '/' and not end with '/')");
            Cfg.Groups = value;
        }
    }

    public string OSTypeId
    {
        get => Cfg.OSType;
        set
        {
            Mut();
            GuestOSType os = OsTypes.Find(value) ?? throw Error(ResultCode.E_INVALIDARG, $"'{value}' is not a valid Guest OS type");
            Cfg.OSType = os.Id;
        }
    }

    private string MachineFolder => Path.GetDirectoryName(_path)!;

    public string SnapshotFolder
    {
        get
        {
            string raw = Cfg.SnapshotFolderRaw;
            if (raw.Length == 0)
                raw = "Snapshots";
            return Path.GetFullPath(Path.IsPathRooted(raw) ? raw : Path.Combine(MachineFolder, raw));
        }
        set
        {
            Mut();
            string v = string.IsNullOrEmpty(value) ? "Snapshots" : value;
            string full = Path.GetFullPath(Path.IsPathRooted(v) ? v : Path.Combine(MachineFolder, v));
            string prefix = MachineFolder.TrimEnd('/') + "/";
            Cfg.SnapshotFolderRaw = full.StartsWith(prefix, StringComparison.Ordinal) ? full[prefix.Length..] : full;
        }
    }

    public string LogFolder => Path.Combine(MachineFolder, "Logs");

    public Guid HardwareUUID
    {
        get => Cfg.HardwareUuid;
        set { Mut(); Cfg.HardwareUuid = value; }
    }

    // ---- Hardware --------------------------------------------------------------------------------

    public uint MemorySize
    {
        get => Cfg.MemorySizeMB;
        set
        {
            Mut();
            ISystemProperties sp = _vbox.SystemProperties;
            uint hostMax = _vbox.Host.MemorySize;
            uint max = hostMax > 0 ? Math.Min(sp.MaxGuestRAM, hostMax) : sp.MaxGuestRAM;
            if (value < sp.MinGuestRAM || value > max)
                throw Error(ResultCode.E_INVALIDARG, $"Invalid RAM size: {value} MB (must be in range [{sp.MinGuestRAM}, {max}] MB; the host has {hostMax} MB)");
            Cfg.MemorySizeMB = value;
        }
    }

    public bool PageFusionEnabled
    {
        get => Cfg.PageFusion;
        set { Mut(); Cfg.PageFusion = value; }
    }

    public uint CPUCount
    {
        get => Cfg.CpuCount;
        set
        {
            Mut();
            uint max = Math.Min(_vbox.SystemProperties.MaxGuestCPUCount, _vbox.Host.ProcessorOnlineCount);
            if (value < 1 || value > max)
                throw Error(ResultCode.E_INVALIDARG, $"Invalid virtual CPU count: {value} (must be in range [1, {max}]; the host has {_vbox.Host.ProcessorOnlineCount} CPUs)");
            Cfg.CpuCount = value;
        }
    }

    public uint CPUExecutionCap
    {
        get => Cfg.CpuExecutionCap;
        set
        {
            Mut();
            if (value < 1 || value > 100)
                throw Error(ResultCode.E_INVALIDARG, $"Invalid CpuExecutionCap value: {value} (must be in range [1, 100])");
            Cfg.CpuExecutionCap = value;
        }
    }

    public bool HPETEnabled
    {
        get => Cfg.HpetEnabled;
        set { Mut(); Cfg.HpetEnabled = value; }
    }

    public string CPUProfile => Cfg.CpuProfile;
    public uint CPUIDPortabilityLevel => Cfg.CpuIdPortabilityLevel;

    public ChipsetType ChipsetType
    {
        get => Cfg.ChipsetType;
        set
        {
            Mut();
            if (value is not (ChipsetType.PIIX3 or ChipsetType.ICH9))
                throw Error(ResultCode.E_INVALIDARG, $"Invalid chipset type {value}");
            Cfg.ChipsetType = value;
        }
    }

    public FirmwareType FirmwareType
    {
        get => Cfg.FirmwareType;
        set { Mut(); Cfg.FirmwareType = value; }
    }

    public bool GetCPUProperty(CpuPropertyType property) => Cfg.GetCpuProperty(property);

    public void SetCPUProperty(CpuPropertyType property, bool value)
    {
        Mut();
        try { Cfg.SetCpuProperty(property, value); }
        catch (ArgumentOutOfRangeException e) { throw Error(ResultCode.E_INVALIDARG, e.Message); }
    }

    public bool GetHWVirtExProperty(HWVirtExPropertyType property) => Cfg.GetHwVirtProperty(property);

    public void SetHWVirtExProperty(HWVirtExPropertyType property, bool value)
    {
        Mut();
        try { Cfg.SetHwVirtProperty(property, value); }
        catch (ArgumentOutOfRangeException e) { throw Error(ResultCode.E_INVALIDARG, e.Message); }
    }

    public ParavirtProvider ParavirtProvider
    {
        get => Cfg.ParavirtProvider;
        set { Mut(); Cfg.ParavirtProvider = value; }
    }

    public string ParavirtDebug
    {
        get => Cfg.ParavirtDebug;
        set { Mut(); Cfg.ParavirtDebug = value ?? ""; }
    }

    /// <summary>Default and Legacy resolve by guest OS family, as VirtualBox does (KVM for Linux, Hyper-V for Windows).</summary>
    public ParavirtProvider GetEffectiveParavirtProvider()
    {
        ParavirtProvider p = ParavirtProvider;
        if (p is not (ParavirtProvider.Default or ParavirtProvider.Legacy))
            return p;
        GuestOSType? os = OsTypes.Find(OSTypeId);
        if (p == ParavirtProvider.Legacy)
            return os?.Id.StartsWith("MacOS", StringComparison.Ordinal) == true ? ParavirtProvider.Minimal : ParavirtProvider.None;
        // VirtualBox's choice: Hyper-V for Windows from Vista/2008 on, KVM for Linux 2.6 and later.
        if (os is null)
            return ParavirtProvider.None;
        if (os.FamilyId == "MacOS")
            return ParavirtProvider.Minimal;
        string id = os.Id;
        bool hyperV = id is "Windows11_64" or "Windows10" or "Windows10_64" or "Windows81" or "Windows81_64" or "Windows8" or "Windows8_64"
            or "Windows7" or "Windows7_64" or "WindowsVista" or "WindowsVista_64" or "Windows2012" or "Windows2012_64" or "Windows2008" or "Windows2008_64"
            || ((id.StartsWith("Windows201", StringComparison.Ordinal) || id.StartsWith("Windows202", StringComparison.Ordinal)) && id.EndsWith("_64", StringComparison.Ordinal));
        if (hyperV)
            return ParavirtProvider.HyperV;
        if (os.FamilyId == "Linux" && id is not ("Linux22" or "Linux24" or "Linux24_64"))
            return ParavirtProvider.KVM;
        return ParavirtProvider.None;
    }

    public MachineState State => _vbox.LiveStateOf(_id) ?? SettingsState;

    /// <summary>The state the settings file records (saved, aborted, powered off), ignoring a running VM process.</summary>
    internal MachineState SettingsState
    {
        get
        {
            MachineConfig? cfg = TryConfig();
            if (cfg == null)
                return MachineState.Null;
            if (cfg.StateFile.Length > 0)
                return cfg.Aborted ? MachineState.AbortedSaved : MachineState.Saved;
            return cfg.Aborted ? MachineState.Aborted : MachineState.PoweredOff;
        }
    }

    public DateTime LastStateChange => _vbox.LiveSince(_id) ?? Cfg.LastStateChange;

    public SessionState SessionState => _vbox.WriteSessionOf(_id) != null ? SessionState.Locked : SessionState.Unlocked;
    public string SessionName => _vbox.WriteSessionOf(_id)?.ClientName ?? "";
    public uint SessionPID => _vbox.WriteSessionOf(_id)?.ClientPid ?? 0;

    public string StateFilePath
    {
        get
        {
            string s = Cfg.StateFile;
            return s.Length == 0 ? "" : Path.GetFullPath(Path.IsPathRooted(s) ? s : Path.Combine(MachineFolder, s));
        }
    }

    public bool RTCUseUTC
    {
        get => Cfg.RtcUseUtc;
        set { Mut(); Cfg.RtcUseUtc = value; }
    }

    public bool ACPIEnabled
    {
        get => Cfg.AcpiEnabled;
        set { Mut(); Cfg.AcpiEnabled = value; }
    }

    public bool IOAPICEnabled
    {
        get => Cfg.IoApicEnabled;
        set { Mut(); Cfg.IoApicEnabled = value; }
    }

    public BiosBootMenuMode BootMenuMode
    {
        get => Cfg.BootMenuMode;
        set { Mut(); Cfg.BootMenuMode = value; }
    }

    public ApicMode APICMode
    {
        get => Cfg.ApicMode;
        set { Mut(); Cfg.ApicMode = value; }
    }

    public long TimeOffset
    {
        get => Cfg.TimeOffset;
        set { Mut(); Cfg.TimeOffset = value; }
    }

    public DeviceType GetBootOrder(uint position)
    {
        if (position < 1 || position > _vbox.SystemProperties.MaxBootPosition)
            throw Error(ResultCode.E_INVALIDARG, $"Invalid boot position: {position} (must be in range [1, {_vbox.SystemProperties.MaxBootPosition}])");
        return Cfg.GetBootOrder(position);
    }

    public void SetBootOrder(uint position, DeviceType device)
    {
        Mut();
        if (position < 1 || position > _vbox.SystemProperties.MaxBootPosition)
            throw Error(ResultCode.E_INVALIDARG, $"Invalid boot position: {position} (must be in range [1, {_vbox.SystemProperties.MaxBootPosition}])");
        if (device is not (DeviceType.Null or DeviceType.Floppy or DeviceType.DVD or DeviceType.HardDisk or DeviceType.Network))
            throw Error(ResultCode.E_NOTIMPL, $"Booting from '{device}' is not supported");
        Cfg.SetBootOrder(position, device);
    }

    public GraphicsControllerType GraphicsControllerType
    {
        get => Cfg.GraphicsController;
        set { Mut(); Cfg.GraphicsController = value; }
    }

    public uint VRAMSize
    {
        get => Cfg.VramMB;
        set
        {
            Mut();
            ISystemProperties sp = _vbox.SystemProperties;
            if (value < sp.MinGuestVRAM || value > sp.MaxGuestVRAM)
                throw Error(ResultCode.E_INVALIDARG, $"Invalid VRAM size: {value} MB (must be in range [{sp.MinGuestVRAM}, {sp.MaxGuestVRAM}] MB)");
            Cfg.VramMB = value;
        }
    }

    public uint MonitorCount
    {
        get => Cfg.MonitorCount;
        set
        {
            Mut();
            if (value < 1 || value > _vbox.SystemProperties.MaxGuestMonitors)
                throw Error(ResultCode.E_INVALIDARG, $"Invalid monitor count: {value} (must be in range [1, {_vbox.SystemProperties.MaxGuestMonitors}])");
            Cfg.MonitorCount = value;
        }
    }

    public bool Accelerate3DEnabled
    {
        get => Cfg.Accelerate3D;
        set { Mut(); Cfg.Accelerate3D = value; }
    }

    public PointingHIDType PointingHIDType
    {
        get => Cfg.PointingHID;
        set { Mut(); Cfg.PointingHID = value; }
    }

    public KeyboardHIDType KeyboardHIDType
    {
        get => Cfg.KeyboardHID;
        set { Mut(); Cfg.KeyboardHID = value; }
    }

    public bool AudioEnabled => Cfg.AudioEnabled;
    public bool AudioEnabledIn => Cfg.AudioEnabledIn;
    public bool AudioEnabledOut => Cfg.AudioEnabledOut;
    public AudioControllerType AudioController => Cfg.AudioController;
    public string AudioDriver => Cfg.AudioDriver;
    public IReadOnlyList<string> USBControllerTypes => Cfg.UsbControllerTypes;
    public AudioCodecType AudioCodec => Cfg.AudioCodec;
    public ClipboardMode ClipboardMode => Cfg.ClipboardMode;
    public DnDMode DnDMode => Cfg.DnDMode;
    public uint MemoryBalloonSize => Cfg.MemoryBalloonMB;
    public bool TeleporterEnabled => Cfg.TeleporterEnabled;
    public uint TeleporterPort => Cfg.TeleporterPort;
    public string TeleporterAddress => Cfg.TeleporterAddress;
    public bool AutostartEnabled => Cfg.AutostartEnabled;
    public uint AutostartDelay => Cfg.AutostartDelay;
    public string DefaultFrontend => Cfg.DefaultFrontend;
    public bool VRDEEnabled => Cfg.VrdeEnabled;

    // ---- Storage controllers ---------------------------------------------------------------------

    public IReadOnlyList<IStorageController> StorageControllers
        => Cfg.StorageControllers().Select(c => (IStorageController)new StorageControllerImpl(this, c.Name)).ToList();

    internal StorageControllerXml FindController(string name)
        => Cfg.FindStorageController(name)
           ?? throw Error(ResultCode.VBOX_E_OBJECT_NOT_FOUND, $"Could not find a storage controller named '{name}'");

    public IStorageController GetStorageControllerByName(string name)
    {
        FindController(name);
        return new StorageControllerImpl(this, name);
    }

    internal static StorageControllerType DefaultControllerType(StorageBus bus) => bus switch
    {
        StorageBus.IDE => StorageControllerType.PIIX4,
        StorageBus.SATA => StorageControllerType.IntelAhci,
        StorageBus.SCSI => StorageControllerType.LsiLogic,
        StorageBus.Floppy => StorageControllerType.I82078,
        StorageBus.SAS => StorageControllerType.LsiLogicSas,
        StorageBus.USB => StorageControllerType.USB,
        StorageBus.PCIe => StorageControllerType.NVMe,
        StorageBus.VirtioSCSI => StorageControllerType.VirtioSCSI,
        _ => StorageControllerType.Null,
    };

    internal static uint DefaultPortCount(StorageBus bus) => bus switch
    {
        StorageBus.IDE => 2,
        StorageBus.SATA => 30,
        StorageBus.SCSI => 16,
        StorageBus.Floppy => 1,
        StorageBus.SAS => 8,
        StorageBus.USB => 8,
        _ => 1,
    };

    public IStorageController AddStorageController(string name, StorageBus bus)
    {
        Mut();
        if (string.IsNullOrEmpty(name))
            throw Error(ResultCode.E_INVALIDARG, "Storage controller name must not be empty");
        if (bus == StorageBus.Null)
            throw Error(ResultCode.E_INVALIDARG, "Invalid storage controller bus");
        if (Cfg.FindStorageController(name) != null)
            throw Error(ResultCode.VBOX_E_OBJECT_IN_USE, $"Storage controller named '{name}' already exists");
        uint max = _vbox.SystemProperties.GetMaxInstancesOfStorageBus(Cfg.ChipsetType, bus);
        int existing = Cfg.StorageControllers().Count(c => c.Bus == bus);
        if (existing >= max)
            throw Error(ResultCode.VBOX_E_INVALID_OBJECT_STATE,
                $"Too many storage controllers of this type: the {Cfg.ChipsetType} chipset supports at most {max} {bus} controller(s)");
        Cfg.AddStorageController(name, DefaultControllerType(bus), DefaultPortCount(bus));
        return new StorageControllerImpl(this, name);
    }

    public void RemoveStorageController(string name)
    {
        Mut();
        StorageControllerXml c = FindController(name);
        Cfg.RemoveStorageController(c);
    }

    internal void RenameController(string oldName, string newName)
    {
        Mut();
        if (oldName == newName)
            return;
        if (string.IsNullOrEmpty(newName))
            throw Error(ResultCode.E_INVALIDARG, "Storage controller name must not be empty");
        if (Cfg.FindStorageController(newName) != null)
            throw Error(ResultCode.VBOX_E_OBJECT_IN_USE, $"Storage controller named '{newName}' already exists");
        FindController(oldName).Name = newName;
    }

    internal void CheckMutable() => Mut();
    internal ISystemProperties SystemProperties => _vbox.SystemProperties;

    // ---- Attachments ------------------------------------------------------------------------------

    private static MediumAttachment ToRecord(StorageControllerXml c, AttachedDeviceXml d) => new(
        c.Name, d.Port, d.Device, d.Type, d.ImageId, d.HostDrive, d.Passthrough, d.TempEject,
        IsEjected: false, d.NonRotational, d.Discard, d.HotPluggable, d.BandwidthGroup);

    public IReadOnlyList<MediumAttachment> MediumAttachments
        => Cfg.StorageControllers().SelectMany(c => c.Devices().Where(d => d.Type != DeviceType.Null).Select(d => ToRecord(c, d))).ToList();

    public IReadOnlyList<MediumAttachment> GetMediumAttachmentsOfController(string name)
    {
        StorageControllerXml c = FindController(name);
        return c.Devices().Where(d => d.Type != DeviceType.Null).Select(d => ToRecord(c, d)).ToList();
    }

    private AttachedDeviceXml FindDevice(string controller, int port, int device)
    {
        StorageControllerXml c = FindController(controller);
        return c.FindDevice(port, device)
            ?? throw Error(ResultCode.VBOX_E_OBJECT_NOT_FOUND, $"No storage device attached to device slot {device} on port {port} of controller '{controller}'");
    }

    public MediumAttachment GetMediumAttachment(string controller, int port, int device)
    {
        AttachedDeviceXml d = FindDevice(controller, port, device);
        return ToRecord(d.Controller, d);
    }

    public IMedium? GetMedium(string controller, int port, int device)
    {
        AttachedDeviceXml d = FindDevice(controller, port, device);
        return d.ImageId is Guid g ? LookupMedium(g) : null;
    }

    /// <summary>The medium with this UUID from the registries; for a UUID no registry knows, a placeholder that reports it as inaccessible.</summary>
    private IMedium LookupMedium(Guid id)
    {
        if (_vbox.Media.ById(id) is Medium m)
            return m;
        throw Error(ResultCode.VBOX_E_OBJECT_NOT_FOUND, $"Could not find a medium with UUID {{{id:D}}} in the media registries");
    }

    private void CheckSlot(StorageControllerXml c, int port, int device)
    {
        StorageBus bus = c.Bus;
        uint ports = c.PortCount;
        uint devices = _vbox.SystemProperties.GetMaxDevicesPerPortForStorageBus(bus);
        if (port < 0 || port >= ports)
            throw Error(ResultCode.E_INVALIDARG, $"Invalid port number {port} (must be in range [0, {ports - 1}])");
        if (device < 0 || device >= devices)
            throw Error(ResultCode.E_INVALIDARG, $"Invalid device number {device} (must be in range [0, {devices - 1}])");
    }

    public void AttachDevice(string controller, int port, int device, DeviceType type, IMedium? medium)
    {
        Mut();
        StorageControllerXml c = FindController(controller);
        CheckSlot(c, port, device);
        if (!_vbox.SystemProperties.GetDeviceTypesForStorageBus(c.Bus).Contains(type))
            throw Error(ResultCode.E_INVALIDARG, $"The '{type}' device type is not supported by the storage controller '{controller}' ({c.Bus})");
        if (c.FindDevice(port, device) is AttachedDeviceXml occupied)
        {
            string what = occupied.ImageId is Guid g && _vbox.Media.ById(g) is Medium om ? $"Medium '{om.Location}'" : "A device";
            throw Error(ResultCode.VBOX_E_OBJECT_IN_USE, $"{what} is already attached to port {port}, device {device} of controller '{controller}' of this virtual machine");
        }
        Medium? m = null;
        if (medium != null)
        {
            m = medium as Medium ?? throw Error(ResultCode.E_INVALIDARG, "Invalid medium object");
            if (m.DeviceType != type)
                throw Error(ResultCode.E_INVALIDARG, $"The medium '{m.Location}' is a {m.DeviceType} medium and cannot be attached as {type}");
            if (m.State == MediumState.NotCreated)
                throw Error(ResultCode.VBOX_E_INVALID_OBJECT_STATE, $"The storage of the medium '{m.Location}' has not been created");
            if (type == DeviceType.HardDisk)
            {
                foreach (MediumAttachment a in MediumAttachments)
                    if (a.MediumId == m.Id)
                        throw Error(ResultCode.VBOX_E_OBJECT_IN_USE,
                            $"Medium '{m.Location}' is already attached to port {a.Port}, device {a.Device} of controller '{a.Controller}' of this virtual machine");
                if (m.Type == MediumType.Normal && m.ChildMedia.Count == 0)
                    foreach (Guid other in m.MachineIds)
                        if (other != _id)
                            throw Error(ResultCode.VBOX_E_OBJECT_IN_USE,
                                $"Medium '{m.Location}' is already attached to another virtual machine ({{{other:D}}}); media of type Normal can be attached to only one machine");
            }
        }
        c.AddDevice(port, device, type, m?.Id);
        if (m != null)
            AddToOwnRegistry(m);
    }

    public void AttachDeviceWithoutMedium(string controller, int port, int device, DeviceType type)
    {
        if (type == DeviceType.HardDisk)
            throw Error(ResultCode.E_INVALIDARG, "Hard disk attachments need a medium");
        AttachDevice(controller, port, device, type, null);
    }

    /// <summary>
    /// Media attached to this machine are recorded in its own registry when no registry holds them
    /// yet or only the global one (VirtualBox moves them on first attachment).
    /// </summary>
    private void AddToOwnRegistry(Medium m)
    {
        var chain = new List<Medium>();
        for (Medium? x = m; x != null; x = x.ParentMedium)
            chain.Insert(0, x);
        foreach (Medium x in chain)
        {
            if (x.RegistryKind == RegistryKind.Machine && x.RegistryMachine != _id && _vbox.IsRegistered(x.RegistryMachine))
                continue; // Another machine's registry already records it; VirtualBox leaves it there.
            if (Cfg.MediaRegistry.Contains(x.Id))
                continue;
            MediumEntry e = x.ToEntry();
            Cfg.MediaRegistry.Add(e, x.ParentMedium?.Id);
            if (x.RegistryKind == RegistryKind.Global)
                _leavingGlobalRegistry.Add(x.Id);
        }
    }

    public void DetachDevice(string controller, int port, int device)
    {
        Mut();
        AttachedDeviceXml d = FindDevice(controller, port, device);
        d.Remove();
    }

    public void MountMedium(string controller, int port, int device, IMedium? medium, bool force)
    {
        Mut();
        AttachedDeviceXml d = FindDevice(controller, port, device);
        if (d.Type is not (DeviceType.DVD or DeviceType.Floppy))
            throw Error(ResultCode.VBOX_E_INVALID_OBJECT_STATE, $"No removable medium drive attached to device slot {device} on port {port} of controller '{controller}'");
        Medium? m = medium as Medium;
        if (medium != null && m == null)
            throw Error(ResultCode.E_INVALIDARG, "Invalid medium object");
        if (m != null && m.DeviceType != d.Type)
            throw Error(ResultCode.E_INVALIDARG, $"The medium '{m.Location}' is a {m.DeviceType} medium and cannot be mounted in a {d.Type} drive");
        d.ImageId = m?.Id;
        if (m != null)
            AddToOwnRegistry(m);
        _ = force;
    }

    public void UnmountMedium(string controller, int port, int device, bool force) => MountMedium(controller, port, device, null, force);

    private AttachedDeviceXml MutDevice(string controller, int port, int device)
    {
        Mut();
        return FindDevice(controller, port, device);
    }

    public void PassthroughDevice(string controller, int port, int device, bool passthrough)
    {
        AttachedDeviceXml d = MutDevice(controller, port, device);
        if (d.Type != DeviceType.DVD)
            throw Error(ResultCode.E_INVALIDARG, "Setting passthrough rejected as the device attached to device slot is not a DVD drive");
        d.Passthrough = passthrough;
    }

    public void TemporaryEjectDevice(string controller, int port, int device, bool temporaryEject)
    {
        AttachedDeviceXml d = MutDevice(controller, port, device);
        if (d.Type != DeviceType.DVD)
            throw Error(ResultCode.E_INVALIDARG, "Setting temporary eject flag rejected as the device attached to device slot is not a DVD drive");
        d.TempEject = temporaryEject;
    }

    public void NonRotationalDevice(string controller, int port, int device, bool nonRotational)
    {
        AttachedDeviceXml d = MutDevice(controller, port, device);
        if (d.Type != DeviceType.HardDisk)
            throw Error(ResultCode.E_INVALIDARG, "Setting the non-rotational medium flag rejected as the device attached to device slot is not a hard disk");
        d.NonRotational = nonRotational;
    }

    public void SetAutoDiscardForDevice(string controller, int port, int device, bool discard)
    {
        AttachedDeviceXml d = MutDevice(controller, port, device);
        if (d.Type != DeviceType.HardDisk)
            throw Error(ResultCode.E_INVALIDARG, "Setting the discard medium flag rejected as the device attached to device slot is not a hard disk");
        d.Discard = discard;
    }

    public void SetHotPluggableForDevice(string controller, int port, int device, bool hotPluggable)
    {
        AttachedDeviceXml d = MutDevice(controller, port, device);
        if (hotPluggable && d.Controller.Bus is not (StorageBus.SATA or StorageBus.USB))
            throw Error(ResultCode.VBOX_E_NOT_SUPPORTED, $"Controller '{controller}' does not support hot-plugging");
        d.HotPluggable = hotPluggable;
    }

    // ---- Network adapters and serial ports --------------------------------------------------------

    public uint NetworkAdapterCount => Cfg.NetworkAdapterCount;

    public INetworkAdapter GetNetworkAdapter(uint slot)
    {
        uint count = Cfg.NetworkAdapterCount;
        if (slot >= count)
            throw Error(ResultCode.E_INVALIDARG, $"Invalid slot number: {slot} (must be in range [0, {count - 1}])");
        return new NetworkAdapterImpl(this, slot);
    }

    public ISerialPort GetSerialPort(uint slot)
    {
        if (slot >= _vbox.SystemProperties.SerialPortCount)
            throw Error(ResultCode.E_INVALIDARG, $"Invalid slot number: {slot} (must be in range [0, {_vbox.SystemProperties.SerialPortCount - 1}])");
        return new SerialPortImpl(this, slot);
    }

    /// <summary>A random MAC address in VirtualBox's OUI (08:00:27), as VirtualBox generates them.</summary>
    internal static string GenerateMac()
    {
        Span<byte> b = stackalloc byte[3];
        RandomNumberGenerator.Fill(b);
        return $"080027{b[0]:X2}{b[1]:X2}{b[2]:X2}";
    }

    // ---- Extra data -------------------------------------------------------------------------------

    public IReadOnlyList<string> GetExtraDataKeys() => Cfg.ExtraData.Items().Select(kv => kv.Key).ToList();
    public string GetExtraData(string key) => Cfg.ExtraData.Get(key);

    /// <summary>
    /// On a session machine the change is saved with the session's other changes; on a registered
    /// machine it is saved at once (under the machine's lock, also while a session or a running VM
    /// holds it), as VirtualBox's IMachine::setExtraData does.
    /// </summary>
    public void SetExtraData(string key, string? value)
    {
        if (string.IsNullOrEmpty(key))
            throw Error(ResultCode.E_INVALIDARG, "Extra data key must not be empty");
        if (!_mutable && _registered && !_detached && !_isSnapshotView)
        {
            UpdateRegistryOf(_vbox, _id, cfg => cfg.ExtraData.Set(key, value));
            _vbox.Fire(VBoxEventType.ExtraDataChanged, _id, key: key, value: value ?? "");
            return;
        }
        Mut();
        Cfg.ExtraData.Set(key, value);
    }

    // ---- Sessions and saving ----------------------------------------------------------------------

    public void LockMachine(ISession session, LockType lockType)
    {
        if (session is not Session s)
            throw Error(ResultCode.E_INVALIDARG, "Invalid session object");
        if (s.IsLocked)
            throw Error(ResultCode.VBOX_E_INVALID_OBJECT_STATE, "The given session is busy");
        if (!_registered)
            throw Error(ResultCode.VBOX_E_INVALID_OBJECT_STATE, "Cannot lock a machine that is not registered");
        if (lockType is not (LockType.Write or LockType.Shared or LockType.VM))
            throw Error(ResultCode.E_INVALIDARG, $"Invalid lock type {lockType}");

        // Another session of this VirtualBox holds the machine: a shared lock joins it (the console of
        // a running VM), anything else gets VirtualBox's error at once instead of waiting.
        if (_vbox.WriteSessionOf(_id) is Session holder)
        {
            if (lockType == LockType.Shared)
            {
                s.Attach(_vbox, _id, this, null, SessionType.Shared, LockType.Shared);
                _vbox.SessionStarted(_id, s, shared: true);
                return;
            }
            _ = holder;
            throw Error(ResultCode.VBOX_E_INVALID_OBJECT_STATE, $"The machine '{DisplayName}' is already locked for a session (or being unlocked)");
        }

        for (int attempt = 0; ; attempt++)
        {
            string dir = Path.GetDirectoryName(_path)!;
            FileLock l = VirtualBox.Guard(() =>
            {
                try { return FileLock.Acquire(dir, VirtualBox.LockTimeout, s); }
                catch (TimeoutException)
                {
                    throw new TimeoutException($"The machine '{DisplayName}' is already locked for a session (by another process; waited {VirtualBox.LockTimeout.TotalSeconds:0} s for '{dir}')");
                }
            }, Component, Iface);
            try
            {
                // Re-read the registry: the machine may have been renamed or unregistered while we waited.
                _vbox.RefreshGlobal();
                MachineRegistryEntry? entry = _vbox.Global.MachineEntries().FirstOrDefault(e => e.Id == _id);
                if (entry == null)
                    throw Error(ResultCode.VBOX_E_OBJECT_NOT_FOUND, $"The machine {{{_id:D}}} has been unregistered");
                if (entry.SettingsFile != _path)
                {
                    _path = entry.SettingsFile;
                    _cfg = null;
                    _accessError = null;
                    if (Path.GetDirectoryName(_path) != dir && attempt < 3)
                    {
                        l.Dispose();
                        continue;
                    }
                }
                MachineConfig cfg = VirtualBox.Guard(() => new MachineConfig(SettingsDocument.Load(_path)), Component, Iface);
                var sessionMachine = new Machine(_vbox, _id, _path)
                {
                    _cfg = cfg,
                    _nameOnDisk = cfg.Name,
                    _registered = true,
                    _mutable = true,
                    _original = this,
                };
                s.Attach(_vbox, _id, sessionMachine, l, SessionType.WriteLock, lockType == LockType.VM ? LockType.VM : LockType.Write);
                _vbox.SessionStarted(_id, s, shared: false);
                return;
            }
            catch
            {
                l.Dispose();
                throw;
            }
        }
    }

    /// <summary>The name for messages (the UUID when the file cannot be read).</summary>
    private string DisplayName => TryConfig()?.Name ?? $"{{{_id:D}}}";

    public void SaveSettings()
    {
        Mut();
        MachineConfig cfg = Cfg;
        if (_isNew)
        {
            VirtualBox.Guard(() =>
            {
                cfg.Doc.Save();
                // The machine folder's layout from the start: Logs/ (VBox.log goes there when the VM
                // runs) and the snapshot folder.
                Directory.CreateDirectory(LogFolder);
                Directory.CreateDirectory(SnapshotFolder);
            }, Component, Iface);
            _nameOnDisk = cfg.Name;
            return;
        }
        string oldPath = _path;
        string? newPath = PrepareRename(cfg);
        VirtualBox.Guard(() => cfg.Doc.Save(), Component, Iface);
        _nameOnDisk = cfg.Name;
        if (newPath != null && newPath != oldPath)
            _vbox.UpdateGlobal(g => g.SetMachineEntryPath(_id, newPath));
        if (_leavingGlobalRegistry.Count > 0)
        {
            var ids = _leavingGlobalRegistry.ToList();
            _vbox.UpdateGlobal(g =>
            {
                foreach (Guid id in ids)
                    g.MediaRegistry.Remove(id);
            });
            _leavingGlobalRegistry.Clear();
        }
        if (_original != null)
        {
            _original._cfg = null;
            _original._accessError = null;
            _original._path = _path;
        }
        _vbox.InvalidateMedia();
        _vbox.Fire(VBoxEventType.MachineDataChanged, _id);
    }

    /// <summary>
    /// With nameSync (the default), renaming a machine renames its folder and settings file when they
    /// carry the old name, as VirtualBox does. Returns the new settings path, or null for no rename.
    /// </summary>
    private string? PrepareRename(MachineConfig cfg)
    {
        string oldName = _nameOnDisk;
        string newName = cfg.Name;
        if (oldName == newName || !cfg.NameSync || cfg.DirectoryIncludesUUID)
            return null;
        string oldSafe = VirtualBox.SanitizeName(oldName);
        string newSafe = VirtualBox.SanitizeName(newName);
        string dir = Path.GetDirectoryName(_path)!;
        string file = Path.GetFileName(_path);
        string newDir = dir;
        if (Path.GetFileName(dir) == oldSafe)
        {
            newDir = Path.Combine(Path.GetDirectoryName(dir)!, newSafe);
            if (Directory.Exists(newDir) || File.Exists(newDir))
                throw Error(ResultCode.VBOX_E_FILE_ERROR,
                    $"Could not rename the directory '{dir}' to '{newDir}' to save the settings file (VERR_ALREADY_EXISTS)");
        }
        string newFile = Path.GetFileNameWithoutExtension(file) == oldSafe ? newSafe + Path.GetExtension(file) : file;
        if (newDir == dir && newFile == file)
            return null;

        VirtualBox.Guard(() =>
        {
            if (newDir != dir)
                Directory.Move(dir, newDir); // Same inode: the folder lock we hold stays valid.
            string movedOld = Path.Combine(newDir, file);
            string target = Path.Combine(newDir, newFile);
            if (newFile != file)
            {
                File.Move(movedOld, target);
                if (File.Exists(movedOld + AtomicFile.PrevSuffix))
                    File.Move(movedOld + AtomicFile.PrevSuffix, target + AtomicFile.PrevSuffix, overwrite: true);
            }
        }, Component, Iface);

        string newPath = Path.Combine(newDir, newFile);
        cfg.Doc.Relocate(newPath);
        // Absolute media locations inside the old folder move with it.
        if (newDir != dir)
            foreach (MediumEntry e in FlattenEntries(cfg.MediaRegistry.ReadAll()))
                if (e.Location.StartsWith(dir + "/", StringComparison.Ordinal))
                    cfg.MediaRegistry.SetLocation(e.Id, newDir + e.Location[dir.Length..]);
        _path = newPath;
        return newPath;
    }

    private static IEnumerable<MediumEntry> FlattenEntries(IEnumerable<MediumEntry> entries)
    {
        foreach (MediumEntry e in entries)
        {
            yield return e;
            foreach (MediumEntry c in FlattenEntries(e.Children))
                yield return c;
        }
    }

    /// <summary>
    /// Changes a machine's own media registry under that machine's lock. When a session of this
    /// VirtualBox holds the machine, the change is made under the session's lock and to the session's
    /// copy as well, so the session's next save keeps it.
    /// </summary>
    internal static void UpdateRegistryOf(VirtualBox vbox, Guid machineId, Action<MachineConfig> change)
    {
        MachineRegistryEntry entry = vbox.Global.MachineEntries().FirstOrDefault(e => e.Id == machineId)
            ?? throw Error(ResultCode.VBOX_E_OBJECT_NOT_FOUND, $"Could not find a registered machine with UUID {{{machineId:D}}}");
        Session? holder = vbox.WriteSessionOf(machineId);
        VirtualBox.Guard(() =>
        {
            using FileLock l = holder != null
                ? FileLock.Acquire(Path.GetDirectoryName(entry.SettingsFile)!, VirtualBox.LockTimeout, holder)
                : VirtualBox.AcquireLock(Path.GetDirectoryName(entry.SettingsFile)!, $"the machine '{entry.SettingsFile}'");
            var cfg = new MachineConfig(SettingsDocument.Load(entry.SettingsFile));
            change(cfg);
            cfg.Doc.Save();
            if (holder?.LockedMachine?._cfg is MachineConfig sessionCfg)
                change(sessionCfg);
        }, Component, Iface);
        vbox.InvalidateMedia();
    }

    // ---- New machines ----------------------------------------------------------------------------

    /// <summary>The settings VirtualBox gives a new machine of an OS type (before --default).</summary>
    private void InitNewHardware(GuestOSType os, bool osGiven)
    {
        MachineConfig cfg = _cfg!;
        // As VirtualBox's machine and firmware defaults: the OS type picks IOAPIC and firmware; without one IOAPIC is on.
        cfg.IoApicEnabled = !osGiven || os.RecommendedIOAPIC;
        if (osGiven && os.RecommendedEFI)
            cfg.FirmwareType = FirmwareType.EFI;
        cfg.SetCpuProperty(CpuPropertyType.PAE, os.RecommendedPAE);
        cfg.LongModeSetting = os.Is64Bit;
        if (os.RecommendedX2APIC)
            cfg.SetCpuProperty(CpuPropertyType.X2APIC, true);
        cfg.SetHwVirtProperty(HWVirtExPropertyType.LargePages, false);
        NetworkAdapterXml nic = cfg.NetworkAdapter(0);
        nic.Enabled = true;
        nic.MacAddress = GenerateMac();
        nic.Type = os.AdapterType;
        nic.AttachmentType = NetworkAttachmentType.NAT;
        XElement audio = cfg.Hardware.GetOrAdd("AudioAdapter", MachineConfig.HardwareOrder);
        if (os.RecommendedAudioController != AudioControllerType.AC97)
            audio.SetAttributeValue("controller", os.RecommendedAudioController.ToString());
        if (os.RecommendedAudioCodec == AudioCodecType.AD1980)
            audio.SetAttributeValue("codec", "AD1980");
        audio.SetAttributeValue("driver", "Null");
    }

    public void ApplyDefaults(string? flags)
    {
        Mut();
        if (!string.IsNullOrEmpty(flags))
            throw Error(ResultCode.E_INVALIDARG, $"Invalid flags '{flags}' for applying defaults");
        GuestOSType os = OsTypes.Find(OSTypeId) ?? OsTypes.Find("Other")!;
        MachineConfig cfg = Cfg;
        if (cfg.StorageControllers().Count > 0)
            throw Error(ResultCode.VBOX_E_INVALID_OBJECT_STATE, "Cannot apply the defaults: the machine already has storage controllers");
        cfg.MemorySizeMB = os.RecommendedRAM;
        cfg.VramMB = os.RecommendedVRAM;
        cfg.CpuCount = Math.Max(1, os.RecommendedCPUCount);
        cfg.GraphicsController = os.RecommendedGraphicsController;
        cfg.ChipsetType = os.RecommendedChipset;
        if (os.RecommendedEFI)
            cfg.FirmwareType = FirmwareType.EFI;
        cfg.IoApicEnabled = os.RecommendedIOAPIC;
        cfg.RtcUseUtc = os.RecommendedRTCUseUTC;
        cfg.HpetEnabled = os.RecommendedHPET;
        cfg.SetCpuProperty(CpuPropertyType.PAE, os.RecommendedPAE);
        cfg.LongModeSetting = os.Is64Bit;
        if (os.RecommendedX2APIC)
            cfg.SetCpuProperty(CpuPropertyType.X2APIC, true);
        if (os.RecommendedUSBTablet)
            cfg.PointingHID = PointingHIDType.USBTablet;
        if (os.RecommendedUSB)
        {
            XNamespace ns = cfg.Doc.Ns;
            XElement usb = cfg.Hardware.GetOrAdd("USB", MachineConfig.HardwareOrder);
            XElement ctrls = usb.GetOrAdd("Controllers", new[] { "Controllers", "DeviceFilters" });
            if (os.RecommendedUSB3)
            {
                cfg.Doc.RequireVersion(SettingsVersion.V1_15);
                ctrls.Add(new XElement(ns + "Controller", new XAttribute("name", "xHCI"), new XAttribute("type", "XHCI")));
            }
            else
            {
                ctrls.Add(new XElement(ns + "Controller", new XAttribute("name", "OHCI"), new XAttribute("type", "OHCI")));
                ctrls.Add(new XElement(ns + "Controller", new XAttribute("name", "EHCI"), new XAttribute("type", "EHCI")));
            }
        }
        cfg.NetworkAdapter(0).Type = os.AdapterType;

        string dvdName = ControllerDefaultName(os.RecommendedDVDStorageBus);
        StorageControllerXml dvd = cfg.AddStorageController(dvdName, os.RecommendedDVDStorageController,
            os.RecommendedDVDStorageBus == StorageBus.SATA ? 2u : DefaultPortCount(os.RecommendedDVDStorageBus));
        int dvdPort = os.RecommendedDVDStorageBus == StorageBus.IDE ? 1 : os.RecommendedDVDStorageBus == os.RecommendedHDStorageBus ? 1 : 0;
        dvd.AddDevice(dvdPort, 0, DeviceType.DVD, null);
        if (os.RecommendedHDStorageBus != os.RecommendedDVDStorageBus)
            cfg.AddStorageController(ControllerDefaultName(os.RecommendedHDStorageBus), os.RecommendedHDStorageController,
                os.RecommendedHDStorageBus == StorageBus.SATA ? 1u : DefaultPortCount(os.RecommendedHDStorageBus));
        if (os.RecommendedFloppy)
            cfg.AddStorageController("Floppy", StorageControllerType.I82078, 1).AddDevice(0, 0, DeviceType.Floppy, null);

        XElement audio = cfg.Hardware.GetOrAdd("AudioAdapter", MachineConfig.HardwareOrder);
        audio.SetAttributeValue("controller", os.RecommendedAudioController == AudioControllerType.AC97 ? null : os.RecommendedAudioController.ToString());
        audio.SetAttributeValue("codec", os.RecommendedAudioCodec == AudioCodecType.AD1980 ? "AD1980" : null);
        if (audio.Attr("driver") == null)
            audio.SetAttributeValue("driver", "Null");
    }

    internal static string ControllerDefaultName(StorageBus bus) => bus switch
    {
        StorageBus.IDE => "IDE",
        StorageBus.SATA => "SATA",
        StorageBus.SCSI => "SCSI",
        StorageBus.SAS => "SAS",
        StorageBus.Floppy => "Floppy",
        StorageBus.USB => "USB",
        StorageBus.PCIe => "NVMe",
        StorageBus.VirtioSCSI => "VirtioSCSI",
        _ => "Controller",
    };

    // ---- Unregister, delete, clone ------------------------------------------------------------------

    public IReadOnlyList<IMedium> Unregister(CleanupMode cleanupMode)
    {
        if (!_registered)
            throw Error(ResultCode.VBOX_E_INVALID_OBJECT_STATE, "The machine is not registered");
        if (_vbox.WriteSessionOf(_id) != null)
            throw Error(ResultCode.VBOX_E_INVALID_OBJECT_STATE, $"Cannot unregister the machine '{DisplayName}' while it is locked");
        string dir = Path.GetDirectoryName(_path)!;
        var media = new List<IMedium>();
        using (FileLock l = VirtualBox.Guard(() => VirtualBox.AcquireLock(dir, $"the machine '{_path}'"), Component, Iface))
        {
            _cfg = null;
            _accessError = null;
            MachineConfig? cfg = TryConfig();
            if (cfg != null && cleanupMode is CleanupMode.DetachAllReturnHardDisksOnly or CleanupMode.DetachAllReturnHardDisksAndVMRemovable or CleanupMode.Full)
            {
                foreach (MediumAttachment a in MediumAttachments)
                {
                    if (a.MediumId is not Guid id || _vbox.Media.ById(id) is not Medium m)
                        continue;
                    bool removable = a.Type != DeviceType.HardDisk;
                    if (removable && cleanupMode == CleanupMode.DetachAllReturnHardDisksOnly)
                        continue;
                    // Media another machine uses stay (they are not deleted with this machine).
                    if (m.MachineIds.Any(other => other != _id))
                        continue;
                    if (!media.Contains(m))
                        media.Add(m);
                }
            }
            _vbox.UnregisterMachine(this);
        }
        _registered = false;
        return media;
    }

    public IProgress DeleteConfig(IReadOnlyList<IMedium> media)
    {
        if (_registered)
            throw Error(ResultCode.VBOX_E_INVALID_OBJECT_STATE, $"Cannot delete settings of a registered machine");
        if (TryConfig() == null)
            throw Error(ResultCode.VBOX_E_INVALID_OBJECT_STATE, $"Refusing to delete the files of the inaccessible machine '{_path}': {_accessError!.Message}");
        return Progress.Start($"Deleting files of the machine '{_nameOnDisk}'", Component, Iface, p =>
        {
            int i = 0;
            foreach (IMedium im in media)
            {
                if (im is Medium m)
                {
                    if (File.Exists(m.Location))
                    {
                        try { _vbox.Backend.Delete(m.Location); }
                        catch (MediumBackendException e) { throw Error(ResultCode.VBOX_E_FILE_ERROR, e.Message); }
                    }
                    lock (_vbox.ApiLock)
                        m.Unregister();
                }
                p.Report(++i * 80 / Math.Max(1, media.Count));
            }
            string dir = Path.GetDirectoryName(_path)!;
            foreach (string f in new[] { _path, _path + AtomicFile.PrevSuffix, _path + AtomicFile.TempSuffix })
                if (File.Exists(f))
                    File.Delete(f);
            string logs = Path.Combine(dir, "Logs");
            if (Directory.Exists(logs))
            {
                foreach (string f in Directory.EnumerateFiles(logs, "*.log*"))
                    File.Delete(f);
                DeleteIfEmpty(logs);
            }
            DeleteIfEmpty(Path.Combine(dir, "Snapshots"));
            DeleteIfEmpty(dir);
        });
    }

    private static void DeleteIfEmpty(string dir)
    {
        if (Directory.Exists(dir) && !Directory.EnumerateFileSystemEntries(dir).Any())
            Directory.Delete(dir);
    }

    public IProgress CloneTo(IMachine target, CloneMode mode, IReadOnlyList<CloneOptions> options)
    {
        if (target is not Machine t || !t._isNew)
            throw Error(ResultCode.E_INVALIDARG, "The clone target must be a new machine created with CreateMachine");
        bool link = options.Contains(CloneOptions.Link);
        // A snapshot's machine (ISnapshot.Machine) clones the state of that snapshot.
        if (link && !_isSnapshotView)
            throw Error(ResultCode.E_INVALIDARG, "Linked clone can only be created from a snapshot");
        MachineConfig src = _isSnapshotView ? Cfg : VirtualBox.Guard(() => new MachineConfig(SettingsDocument.Load(_path)), Component, Iface);
        if (src.Machine.Child("Snapshot") != null && mode != CloneMode.MachineState)
            throw Error(ResultCode.VBOX_E_NOT_SUPPORTED, "Cloning the snapshots of a machine is not supported; use --mode machine (optionally with --snapshot)");
        bool keepAllMacs = options.Contains(CloneOptions.KeepAllMACs);
        bool keepNatMacs = options.Contains(CloneOptions.KeepNATMACs);
        bool keepDiskNames = options.Contains(CloneOptions.KeepDiskNames);
        bool keepHwUuid = options.Contains(CloneOptions.KeepHwUUIDs);
        MediaIndex index = _vbox.Media;
        Func<Guid, string?> resolve = index.ResolverSnapshot();
        var hardDisks = new List<(AttachedDeviceXml Device, Medium Source)>();
        foreach (StorageControllerXml c in src.StorageControllers())
            foreach (AttachedDeviceXml d in c.Devices())
                if (d.Type == DeviceType.HardDisk && d.ImageId is Guid g)
                    hardDisks.Add((d, index.ById(g)
                        ?? throw Error(ResultCode.VBOX_E_OBJECT_NOT_FOUND, $"The medium {{{g:D}}} attached to '{src.Name}' is not in any media registry")));

        return Progress.Start($"Cloning machine '{src.Name}' to '{t.Name}'", Component, Iface, p =>
        {
            string targetPath = t.SettingsFilePath;
            string targetDir = Path.GetDirectoryName(targetPath)!;
            MachineConfig tcfg = t.Cfg;
            var doc = new XDocument(src.Doc.Document);
            XElement machine = doc.Root!.Child("Machine")!;
            // Identity of the clone.
            machine.SetAttributeValue("uuid", XmlUtil.FormatUuid(t.Id));
            machine.SetAttributeValue("name", tcfg.Name);
            machine.SetAttributeValue("lastStateChange", MachineConfig.FormatTimestamp(DateTime.UtcNow));
            foreach (string a in new[] { "stateFile", "currentSnapshot", "aborted", "currentStateModified" })
                machine.Attribute(a)?.Remove();
            machine.Child("Snapshot")?.Remove();
            machine.Child("MediaRegistry")?.Remove();
            machine.Child("Groups")?.Remove();
            string tmp = Path.Combine(targetDir, ".clone-" + Guid.NewGuid().ToString("N") + ".xml");
            Directory.CreateDirectory(targetDir);
            File.WriteAllText(tmp, doc.ToString());
            MachineConfig clone;
            try { clone = new MachineConfig(SettingsDocument.Load(tmp)); }
            finally { File.Delete(tmp); }
            clone.Doc.Relocate(targetPath);
            clone.Groups = tcfg.Groups;
            if (keepHwUuid)
                clone.HardwareUuid = src.HardwareUuid;
            else
                clone.Hardware.Attribute("uuid")?.Remove();
            for (uint slot = 0; slot < clone.NetworkAdapterCount; slot++)
            {
                NetworkAdapterXml nic = clone.NetworkAdapter(slot);
                if (nic.Element == null || nic.MacAddress.Length == 0)
                    continue;
                bool keep = keepAllMacs || (keepNatMacs && nic.AttachmentType == NetworkAttachmentType.NAT);
                if (!keep)
                    nic.MacAddress = GenerateMac();
            }

            // Full copies of the hard disks, named after the clone; or, for a linked clone,
            // differencing images over the snapshot's disks in the clone's snapshot folder.
            int n = 0;
            var copied = new Dictionary<Guid, Guid>();
            foreach ((AttachedDeviceXml srcDev, Medium source) in hardDisks)
            {
                n++;
                if (!copied.TryGetValue(source.Id, out Guid newId))
                {
                    newId = Guid.NewGuid();
                    if (link && source.Base.Type == MediumType.Normal)
                    {
                        string snapDir = Path.Combine(targetDir, "Snapshots");
                        string diff = Path.Combine(snapDir, $"{{{newId:D}}}.vdi");
                        Directory.CreateDirectory(snapDir);
                        try { _vbox.Backend.CreateDiff(diff, "VDI", source.Location, resolve, newId); }
                        catch (MediumBackendException e) { throw Error(ResultCode.VBOX_E_FILE_ERROR, e.Message); }
                        // The clone's registry names the parent chain too (registries merge by UUID).
                        var chain = new List<Medium>();
                        for (Medium? x = source; x != null; x = x.ParentMedium)
                            chain.Insert(0, x);
                        foreach (Medium x in chain)
                            if (!clone.MediaRegistry.Contains(x.Id))
                                clone.MediaRegistry.Add(x.ToEntry(), x.ParentMedium?.Id);
                        clone.MediaRegistry.Add(new MediumEntry
                        {
                            Id = newId, Location = diff, Format = "VDI", DeviceType = DeviceType.HardDisk, Type = MediumType.Normal,
                        }, source.Id);
                        copied[source.Id] = newId;
                    }
                    else if (link)
                    {
                        // Immutable, shareable and write-through disks are attached as they are.
                        newId = source.Id;
                        if (!clone.MediaRegistry.Contains(source.Id))
                            clone.MediaRegistry.Add(source.ToEntry());
                        copied[source.Id] = newId;
                    }
                    else
                    {
                        string ext = Path.GetExtension(source.Location);
                        if (source.ParentMedium != null)
                            ext = Path.GetExtension(source.Base.Location);
                        string baseName = keepDiskNames ? Path.GetFileNameWithoutExtension(source.Location)
                            : n == 1 ? VirtualBox.SanitizeName(tcfg.Name) : $"{VirtualBox.SanitizeName(tcfg.Name)}-disk{n}";
                        string dst = Path.Combine(targetDir, baseName + ext);
                        if (File.Exists(dst))
                            throw Error(ResultCode.VBOX_E_FILE_ERROR, $"Cannot clone the medium '{source.Location}': the target '{dst}' already exists");
                        int done = n - 1;
                        MediumVariant variant = (source.Variant & MediumVariant.Fixed) != 0 ? MediumVariant.Fixed : MediumVariant.Standard;
                        string format = source.ParentMedium != null ? source.Base.Format : source.Format;
                        try
                        {
                            _vbox.Backend.Clone(source.Location, resolve, dst, format, variant, newId,
                                pct => p.Report((done * 100 + pct) / Math.Max(1, hardDisks.Count) * 95 / 100));
                        }
                        catch (MediumBackendException e) { throw Error(ResultCode.VBOX_E_FILE_ERROR, e.Message); }
                        copied[source.Id] = newId;
                        clone.MediaRegistry.Add(new MediumEntry
                        {
                            Id = newId, Location = dst, Format = format, DeviceType = DeviceType.HardDisk, Type = MediumType.Normal,
                        });
                    }
                }
                StorageControllerXml? ctl = clone.FindStorageController(srcDev.Controller.Name);
                AttachedDeviceXml? dev = ctl?.FindDevice(srcDev.Port, srcDev.Device);
                if (dev != null)
                    dev.ImageId = newId;
            }
            lock (_vbox.ApiLock)
            {
                // Removable media stay shared; the clone's registry records them too.
                foreach (StorageControllerXml c in clone.StorageControllers())
                    foreach (AttachedDeviceXml d in c.Devices())
                        if (d.Type != DeviceType.HardDisk && d.ImageId is Guid g && index.ById(g) is Medium m && !clone.MediaRegistry.Contains(g))
                            clone.MediaRegistry.Add(m.ToEntry());
                clone.Doc.Save();
                t._cfg = clone;
                t._isNew = true;
                t._nameOnDisk = clone.Name;
                _vbox.InvalidateMedia();
            }
        });
    }
}

/// <summary>A storage controller of a machine, addressed by name.</summary>
internal sealed class StorageControllerImpl : IStorageController
{
    private readonly Machine _m;
    private string _name;

    public StorageControllerImpl(Machine m, string name)
    {
        _m = m;
        _name = name;
    }

    private StorageControllerXml X => _m.FindController(_name);

    public string Name
    {
        get => _name;
        set
        {
            _m.RenameController(_name, value);
            _name = value;
        }
    }

    public StorageBus Bus => X.Bus;

    public StorageControllerType ControllerType
    {
        get => X.ControllerType;
        set
        {
            _m.CheckMutable();
            if (StorageControllerXml.BusOf(value) != X.Bus)
                throw new VBoxException(ResultCode.E_INVALIDARG, $"Invalid controller type {value} for a {X.Bus} controller", "StorageControllerWrap", "IStorageController");
            X.ControllerType = value;
        }
    }

    public uint Instance => X.Instance;
    public uint MaxPortCount => _m.SystemProperties.GetMaxPortCountForStorageBus(Bus);
    public uint MinPortCount => _m.SystemProperties.GetMinPortCountForStorageBus(Bus);
    public uint MaxDevicesPerPortCount => _m.SystemProperties.GetMaxDevicesPerPortForStorageBus(Bus);

    public uint PortCount
    {
        get => X.PortCount;
        set
        {
            _m.CheckMutable();
            if (value < MinPortCount || value > MaxPortCount)
                throw new VBoxException(ResultCode.E_INVALIDARG, $"Invalid port count: {value} (must be in range [{MinPortCount}, {MaxPortCount}])", "StorageControllerWrap", "IStorageController");
            foreach (AttachedDeviceXml d in X.Devices())
                if (d.Port >= value)
                    throw new VBoxException(ResultCode.VBOX_E_OBJECT_IN_USE,
                        $"Cannot reduce the port count of controller '{_name}' to {value}: port {d.Port} has a device attached", "StorageControllerWrap", "IStorageController");
            X.PortCount = value;
        }
    }

    public bool UseHostIOCache
    {
        get => X.UseHostIOCache;
        set { _m.CheckMutable(); X.UseHostIOCache = value; }
    }

    public bool Bootable
    {
        get => X.Bootable;
        set { _m.CheckMutable(); X.Bootable = value; }
    }
}

/// <summary>A network adapter slot of a machine.</summary>
internal sealed class NetworkAdapterImpl : INetworkAdapter
{
    private readonly Machine _m;
    public uint Slot { get; }

    public NetworkAdapterImpl(Machine m, uint slot)
    {
        _m = m;
        Slot = slot;
    }

    private NetworkAdapterXml X => _m.Cfg.NetworkAdapter(Slot);

    private NetworkAdapterXml MutX()
    {
        _m.CheckMutable();
        return X;
    }

    private static VBoxException Error(string message) => new(ResultCode.E_INVALIDARG, message, "NetworkAdapterWrap", "INetworkAdapter");

    public bool Enabled
    {
        get => X.Enabled;
        set
        {
            NetworkAdapterXml x = MutX();
            x.Enabled = value;
            if (value && x.MacAddress.Length == 0)
                x.MacAddress = Machine.GenerateMac();
            x.PruneIfDefault();
        }
    }

    public NetworkAdapterType AdapterType
    {
        get => X.Type;
        set
        {
            if (value == NetworkAdapterType.Null)
                throw Error("Invalid network adapter type");
            NetworkAdapterXml x = MutX();
            x.Type = value;
            x.PruneIfDefault();
        }
    }

    public string MACAddress
    {
        get => X.MacAddress;
        set
        {
            NetworkAdapterXml x = MutX();
            if (string.IsNullOrEmpty(value) || value == "auto")
            {
                x.MacAddress = Machine.GenerateMac();
                return;
            }
            string mac = value.Replace(":", "", StringComparison.Ordinal).Replace("-", "", StringComparison.Ordinal).ToUpperInvariant();
            if (mac.Length != 12 || !mac.All(Uri.IsHexDigit))
                throw Error($"Invalid MAC address format '{value}'");
            if ((Convert.ToInt32(mac[1].ToString(), 16) & 1) != 0)
                throw Error($"Invalid MAC address '{value}': it is a multicast address");
            x.MacAddress = mac;
        }
    }

    public bool CableConnected
    {
        get => X.CableConnected;
        set { NetworkAdapterXml x = MutX(); x.CableConnected = value; x.PruneIfDefault(); }
    }

    public uint LineSpeed
    {
        get => X.LineSpeed;
        set { NetworkAdapterXml x = MutX(); x.LineSpeed = value; x.PruneIfDefault(); }
    }

    public NetworkAttachmentType AttachmentType
    {
        get => X.AttachmentType;
        set { NetworkAdapterXml x = MutX(); x.AttachmentType = value; x.PruneIfDefault(); }
    }

    public string BridgedInterface
    {
        get => X.ModeName(NetworkAttachmentType.Bridged);
        set => MutX().SetModeName(NetworkAttachmentType.Bridged, value);
    }

    public string InternalNetwork
    {
        get => X.ModeName(NetworkAttachmentType.Internal);
        set => MutX().SetModeName(NetworkAttachmentType.Internal, value);
    }

    public string HostOnlyInterface
    {
        get => X.ModeName(NetworkAttachmentType.HostOnly);
        set => MutX().SetModeName(NetworkAttachmentType.HostOnly, value);
    }

    public string NATNetwork
    {
        get => X.ModeName(NetworkAttachmentType.NATNetwork);
        set => MutX().SetModeName(NetworkAttachmentType.NATNetwork, value);
    }

    public string GenericDriver
    {
        get => X.ModeName(NetworkAttachmentType.Generic);
        set => MutX().SetModeName(NetworkAttachmentType.Generic, value);
    }

    public uint BootPriority
    {
        get => X.BootPriority;
        set { NetworkAdapterXml x = MutX(); x.BootPriority = value; x.PruneIfDefault(); }
    }

    public NetworkAdapterPromiscModePolicy PromiscModePolicy
    {
        get => X.PromiscPolicy;
        set { NetworkAdapterXml x = MutX(); x.PromiscPolicy = value; x.PruneIfDefault(); }
    }

    public bool TraceEnabled
    {
        get => X.TraceEnabled;
        set { NetworkAdapterXml x = MutX(); x.TraceEnabled = value; x.PruneIfDefault(); }
    }

    public string TraceFile
    {
        get => X.TraceFile;
        set { NetworkAdapterXml x = MutX(); x.TraceFile = value; x.PruneIfDefault(); }
    }

    /// <summary>The NAT engine's network (CIDR); empty means VirtualBox's default 10.0.2.0/24 for slot 0.</summary>
    public string NatNetwork => X.NatNetwork;
}

/// <summary>A serial port slot of a machine.</summary>
internal sealed class SerialPortImpl : ISerialPort
{
    private readonly Machine _m;
    public uint Slot { get; }

    public SerialPortImpl(Machine m, uint slot)
    {
        _m = m;
        Slot = slot;
    }

    private SerialPortXml X => _m.Cfg.SerialPort(Slot);

    private SerialPortXml MutX()
    {
        _m.CheckMutable();
        return X;
    }

    private static VBoxException Error(string message) => new(ResultCode.E_INVALIDARG, message, "SerialPortWrap", "ISerialPort");

    public bool Enabled
    {
        get => X.Enabled;
        set => MutX().Enabled = value;
    }

    public uint IOBase
    {
        get => X.IOBase;
        set
        {
            if (value > 0xFFFF)
                throw Error($"Invalid I/O port base address of the serial port {Slot}: {value} (must be in range [0, 0xFFFF])");
            MutX().IOBase = value;
        }
    }

    public uint IRQ
    {
        get => X.IRQ;
        set
        {
            if (value > 255)
                throw Error($"Invalid IRQ number of the serial port {Slot}: {value} (must be in range [0, 255])");
            MutX().IRQ = value;
        }
    }

    public PortMode HostMode
    {
        get => X.HostMode;
        set
        {
            SerialPortXml x = MutX();
            if (value != PortMode.Disconnected && x.Path.Length == 0)
                throw Error(value switch
                {
                    PortMode.HostPipe => $"Cannot set the host pipe mode of the serial port {Slot} because the pipe path is empty or null",
                    PortMode.HostDevice => $"Cannot set the host device mode of the serial port {Slot} because the device path is empty or null",
                    PortMode.RawFile => $"Cannot set the raw file mode of the serial port {Slot} because the file path is empty or null",
                    _ => $"Cannot set the TCP mode of the serial port {Slot} because the address is empty or null",
                });
            x.HostMode = value;
        }
    }

    public string Path
    {
        get => X.Path;
        set => MutX().Path = value;
    }

    public bool Server
    {
        get => X.Server;
        set => MutX().Server = value;
    }

    public UartType UartType
    {
        get => X.UartType;
        set => MutX().UartType = value;
    }
}
