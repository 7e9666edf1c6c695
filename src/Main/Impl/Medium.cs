using SharpBox.Main.Api;
using SharpBox.Main.Settings;

namespace SharpBox.Main.Impl;

/// <summary>Which media registry a medium is recorded in.</summary>
internal enum RegistryKind { None, Global, Machine }

/// <summary>
/// A medium known to this VirtualBox object: from the global media registry (VirtualBox.xml), from a
/// machine's registry (.vbox), or opened by path in this process. Facts about the image itself
/// (size, variant) are read lazily through the backend.
/// </summary>
internal sealed class Medium : IMedium
{
    internal const string Component = "MediumWrap";
    internal const string Iface = "IMedium";

    private readonly VirtualBox _vbox;
    private MediumImageInfo? _info;
    private string _lastError = "";
    private MediumState _state;
    private string _description;
    private MediumType _type;
    private bool _autoReset;

    public Guid Id { get; private set; }
    public string Location { get; private set; }
    public string Format { get; }
    public DeviceType DeviceType { get; }
    public Medium? ParentMedium { get; set; }
    public List<Medium> ChildMedia { get; } = new();
    public RegistryKind RegistryKind { get; set; }
    /// <summary>Owning machine when <see cref="RegistryKind"/> is Machine.</summary>
    public Guid RegistryMachine { get; set; }

    private Medium(VirtualBox vbox, Guid id, string location, string format, DeviceType type, MediumType mtype, MediumState state)
    {
        _vbox = vbox;
        Id = id;
        Location = location;
        Format = format;
        DeviceType = type;
        _type = mtype;
        _state = state;
        _description = "";
    }

    private static VBoxException Error(int rc, string message) => new(rc, message, Component, Iface);

    /// <summary>A medium read from a registry entry.</summary>
    internal static Medium FromEntry(VirtualBox vbox, MediumEntry e, RegistryKind kind, Guid machineId)
        => new(vbox, e.Id, e.Location, e.Format, e.DeviceType, e.Type, MediumState.Created)
        {
            _description = e.Description,
            _autoReset = e.AutoReset,
            RegistryKind = kind,
            RegistryMachine = machineId,
        };

    internal MediumEntry ToEntry() => new()
    {
        Id = Id,
        Location = Location,
        Format = Format,
        DeviceType = DeviceType,
        Type = _type,
        AutoReset = _autoReset,
        Description = _description,
    };

    public static string CanonicalFormat(VirtualBox vbox, string format, DeviceType type)
    {
        if (type != DeviceType.HardDisk)
            return "RAW";
        foreach (string f in vbox.Backend.CreatableFormats)
            if (string.Equals(f, format, StringComparison.OrdinalIgnoreCase))
                return f;
        throw Error(ResultCode.E_INVALIDARG, $"Invalid medium storage format '{format}'");
    }

    /// <summary>IVirtualBox.CreateMedium: a medium object whose storage does not exist yet.</summary>
    internal static Medium CreateNotCreated(VirtualBox vbox, string format, string location, DeviceType type)
    {
        if (string.IsNullOrEmpty(location))
            throw Error(ResultCode.E_INVALIDARG, "Medium location must not be empty");
        string fmt = string.IsNullOrEmpty(format) ? vbox.SystemProperties.DefaultHardDiskFormat : format;
        fmt = CanonicalFormat(vbox, fmt, type);
        string path = Path.GetFullPath(location);
        if (vbox.Media.ByLocation(path) is Medium existing)
            throw Error(ResultCode.VBOX_E_OBJECT_IN_USE,
                $"Cannot create the medium '{path}': a medium with this location is already registered (UUID {{{existing.Id:D}}})");
        return new Medium(vbox, Guid.NewGuid(), path, fmt, type,
            type == DeviceType.DVD ? MediumType.Readonly : type == DeviceType.Floppy ? MediumType.Writethrough : MediumType.Normal,
            MediumState.NotCreated);
    }

    /// <summary>IVirtualBox.OpenMedium.</summary>
    internal static Medium Open(VirtualBox vbox, string locationOrId, DeviceType type, AccessMode access, bool forceNewUuid)
    {
        string kind = type switch { DeviceType.DVD => "DVD image", DeviceType.Floppy => "floppy image", _ => "hard disk" };
        if (forceNewUuid)
            throw Error(ResultCode.VBOX_E_NOT_SUPPORTED, "Assigning a new UUID when opening a medium is not supported");
        if (XmlUtil.TryParseUuid(locationOrId, out Guid id))
        {
            Medium? byId = vbox.Media.ById(id);
            if (byId == null || byId.DeviceType != type)
                throw Error(ResultCode.VBOX_E_OBJECT_NOT_FOUND, $"Could not find an opened {kind} with UUID {{{id:D}}}");
            return byId;
        }

        string path = Path.GetFullPath(locationOrId);
        if (vbox.Media.ByLocation(path) is Medium known)
        {
            if (known.DeviceType != type)
                throw Error(ResultCode.VBOX_E_OBJECT_IN_USE,
                    $"Cannot open the medium '{path}' as a {kind} because it is already registered as a {known.DeviceType switch { DeviceType.DVD => "DVD image", DeviceType.Floppy => "floppy image", _ => "hard disk" }}");
            return known;
        }
        if (!File.Exists(path))
            throw Error(ResultCode.VBOX_E_FILE_ERROR, $"Could not find file for the medium '{path}' (VERR_FILE_NOT_FOUND)");

        Medium m;
        if (type == DeviceType.HardDisk)
        {
            MediumImageInfo info;
            try { info = vbox.Backend.Probe(path, vbox.Media.ResolveLocation); }
            catch (MediumBackendException e)
            {
                throw Error(ResultCode.VBOX_E_FILE_ERROR, $"Could not open the medium '{path}'.\n{e.Message}");
            }
            Guid uuid = info.Uuid == Guid.Empty ? Guid.NewGuid() : info.Uuid;
            if (vbox.Media.ById(uuid) is Medium dup)
                throw Error(ResultCode.VBOX_E_OBJECT_IN_USE,
                    $"Cannot open the medium '{path}' with UUID {{{uuid:D}}} because a medium with the same UUID ('{dup.Location}') is already registered");
            m = new Medium(vbox, uuid, path, info.Format, type, MediumType.Normal, MediumState.Created) { _info = info };
            if (info.ParentUuid != Guid.Empty)
            {
                Medium parent = vbox.Media.ById(info.ParentUuid)
                    ?? throw Error(ResultCode.VBOX_E_OBJECT_NOT_FOUND,
                        $"Parent medium with UUID {{{info.ParentUuid:D}}} of the medium '{path}' is not found in the media registry ('{vbox.SettingsFilePath}')");
                m.ParentMedium = parent;
                parent.ChildMedia.Add(m);
                m._type = parent.Base.Type;
            }
        }
        else
        {
            m = new Medium(vbox, Guid.NewGuid(), path, "RAW", type,
                type == DeviceType.DVD ? MediumType.Readonly : MediumType.Writethrough, MediumState.Created);
        }
        _ = access;
        vbox.RememberOpened(m);
        return m;
    }

    // ---- Properties -------------------------------------------------------------------------------

    public string Name => Path.GetFileName(Location);
    public bool HostDrive => false;
    public IMedium? Parent => ParentMedium;
    public IReadOnlyList<IMedium> Children => ChildMedia;
    public Medium BaseMedium => ParentMedium?.BaseMedium ?? this;
    public IMedium Base => BaseMedium;
    public bool ReadOnly => DeviceType == DeviceType.DVD || _type is MediumType.Readonly || (ChildMedia.Count > 0 && DeviceType == DeviceType.HardDisk);
    public string LastAccessError => _lastError;
    public MediumState State => _state;

    public IReadOnlyList<Guid> MachineIds => _vbox.Media.MachinesUsing(Id);

    public string Description
    {
        get => _description;
        set
        {
            _description = value ?? "";
            UpdateRegistry(r => r.SetDescription(Id, _description));
        }
    }

    public bool AutoReset
    {
        get => _autoReset;
        set
        {
            if (ParentMedium == null)
                throw Error(ResultCode.VBOX_E_NOT_SUPPORTED, $"Medium '{Location}' is not differencing");
            _autoReset = value;
            UpdateRegistry(r => r.SetAutoReset(Id, value));
        }
    }

    public MediumType Type
    {
        get => _type;
        set
        {
            if (value == _type)
                return;
            if (DeviceType != DeviceType.HardDisk)
                throw Error(ResultCode.VBOX_E_INVALID_OBJECT_STATE, $"Cannot change the type of medium '{Location}': only hard disks have a type");
            if (ParentMedium != null)
                throw Error(ResultCode.VBOX_E_INVALID_OBJECT_STATE, $"Cannot change the type of medium '{Location}' because it is a differencing medium");
            if (ChildMedia.Count > 0)
                throw Error(ResultCode.VBOX_E_OBJECT_IN_USE, $"Cannot change the type of medium '{Location}' because it has {ChildMedia.Count} child media");
            int users = MachineIds.Count;
            if (users > 0)
                throw Error(ResultCode.VBOX_E_OBJECT_IN_USE, $"Cannot change the type of medium '{Location}' because it is attached to {users} virtual machines");
            if (value is MediumType.MultiAttach && RegistryKind == RegistryKind.Global)
                throw Error(ResultCode.VBOX_E_INVALID_OBJECT_STATE,
                    $"Cannot change type for medium '{Location}': the media type 'MultiAttach' can only be used on media registered with a machine that was created with VirtualBox 4.0 or later");
            _type = value;
            UpdateRegistry(r => r.SetType(Id, value));
        }
    }

    /// <summary>Image facts; probes the file once (marks the medium inaccessible on failure).</summary>
    private MediumImageInfo? Info
    {
        get
        {
            if (_info == null && _state != MediumState.NotCreated)
                RefreshState();
            return _info;
        }
    }

    public long LogicalSize => DeviceType == DeviceType.HardDisk ? Info?.LogicalSize ?? 0 : FileLength();
    public long Size => DeviceType == DeviceType.HardDisk ? Info?.AllocatedSize ?? 0 : FileLength();
    public MediumVariant Variant => DeviceType == DeviceType.HardDisk ? (Info?.Variant ?? MediumVariant.Standard) : MediumVariant.Fixed;

    private long FileLength()
    {
        try { return new FileInfo(Location).Length; }
        catch (IOException) { return 0; }
    }

    public MediumState RefreshState()
    {
        if (_state == MediumState.NotCreated)
            return _state;
        if (!File.Exists(Location))
        {
            _state = MediumState.Inaccessible;
            _lastError = $"Could not open the medium '{Location}'.\nVD: error VERR_FILE_NOT_FOUND opening image file '{Location}' (VERR_FILE_NOT_FOUND)";
            return _state;
        }
        if (DeviceType != DeviceType.HardDisk)
        {
            _state = MediumState.Created;
            return _state;
        }
        try
        {
            _info = _vbox.Backend.Probe(Location, _vbox.Media.ResolveLocation);
            if (_info.Uuid != Guid.Empty && _info.Uuid != Id)
            {
                _state = MediumState.Inaccessible;
                _lastError = $"UUID {{{_info.Uuid:D}}} of the medium '{Location}' does not match the value {{{Id:D}}} stored in the media registry ('{RegistryFile}')";
            }
            else
            {
                _state = MediumState.Created;
                _lastError = "";
            }
        }
        catch (MediumBackendException e) when (e.InUse)
        {
            // A running VM holds the image for writing (VirtualBox shows such media "locked write");
            // its facts were read without the lock.
            _state = MediumState.LockedWrite;
            _lastError = "";
            if (e.InUseInfo is { } info && (info.Uuid == Guid.Empty || info.Uuid == Id))
                _info = info;
        }
        catch (MediumBackendException e)
        {
            _state = MediumState.Inaccessible;
            _lastError = $"Could not open the medium '{Location}'.\n{e.Message}";
        }
        return _state;
    }

    private string RegistryFile => RegistryKind switch
    {
        RegistryKind.Global => _vbox.SettingsFilePath,
        RegistryKind.Machine => _vbox.RegisteredMachines.FirstOrDefault(m => m.Id == RegistryMachine)?.SettingsFilePath ?? "",
        _ => "",
    };

    // ---- Registry maintenance ---------------------------------------------------------------------

    private void UpdateRegistry(Action<MediaRegistryXml> change)
    {
        switch (RegistryKind)
        {
            case RegistryKind.Global:
                _vbox.UpdateGlobal(g => change(g.MediaRegistry));
                break;
            case RegistryKind.Machine:
                Machine.UpdateRegistryOf(_vbox, RegistryMachine, cfg => change(cfg.MediaRegistry));
                break;
        }
        _vbox.Fire(VBoxEventType.MediumChanged, Guid.Empty, mediumId: Id, mediumType: DeviceType);
    }

    /// <summary>Records a newly created medium in the global media registry.</summary>
    private void RegisterGlobally(Guid? parentId)
    {
        MediumEntry entry = ToEntry();
        _vbox.UpdateGlobal(g =>
        {
            if (!g.MediaRegistry.Contains(Id))
                g.MediaRegistry.Add(entry, parentId);
        });
        RegistryKind = RegistryKind.Global;
        _state = MediumState.Created;
        _vbox.RememberOpened(this);
        _vbox.InvalidateMedia();
        _vbox.Fire(VBoxEventType.MediumRegistered, Guid.Empty, mediumId: Id, mediumType: DeviceType, registered: true);
    }

    private void RequireCreated()
    {
        if (_state == MediumState.NotCreated)
            throw Error(ResultCode.VBOX_E_INVALID_OBJECT_STATE, $"Storage for the medium '{Location}' is not created");
    }

    private void RequireNotCreated()
    {
        if (_state != MediumState.NotCreated)
            throw Error(ResultCode.VBOX_E_INVALID_OBJECT_STATE, $"Storage for the medium '{Location}' is already created");
        if (File.Exists(Location))
            throw Error(ResultCode.VBOX_E_FILE_ERROR, $"Could not create the medium storage unit '{Location}'.\nVD: error VERR_ALREADY_EXISTS (the file already exists)");
    }

    private static void CheckVariant(MediumVariant variant, string format)
    {
        MediumVariant allowed = MediumVariant.Fixed | MediumVariant.Diff | MediumVariant.NoCreateDir;
        if (string.Equals(format, "VMDK", StringComparison.OrdinalIgnoreCase))
            allowed |= MediumVariant.VmdkSplit2G;
        MediumVariant unsupported = variant & ~allowed;
        if (unsupported != 0)
            throw Error(ResultCode.VBOX_E_NOT_SUPPORTED,
                $"Medium format '{format}' does not support the variant {unsupported} (supported: Standard, Fixed{((allowed & MediumVariant.VmdkSplit2G) != 0 ? ", Split2G" : "")})");
    }

    // ---- Long operations ------------------------------------------------------------------------

    public IProgress CreateBaseStorage(long logicalSize, MediumVariant variant)
    {
        if (DeviceType != DeviceType.HardDisk)
            throw Error(ResultCode.VBOX_E_NOT_SUPPORTED, $"Creating storage for a {DeviceType} medium is not supported");
        RequireNotCreated();
        if (logicalSize <= 0)
            throw Error(ResultCode.E_INVALIDARG, $"Invalid medium size {logicalSize}: must be greater than zero");
        CheckVariant(variant, Format);
        return Progress.Start($"Creating {((variant & MediumVariant.Fixed) != 0 ? "fixed" : "dynamic")} medium storage unit '{Location}'", Component, Iface, p =>
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Location)!);
            RunBackend(() => _vbox.Backend.CreateBase(Location, Format, logicalSize, variant, Id, p.Report));
            lock (_vbox.ApiLock)
                RegisterGlobally(null);
        });
    }

    public IProgress CreateDiffStorage(IMedium target, MediumVariant variant)
    {
        RequireCreated();
        if (target is not Medium t)
            throw Error(ResultCode.E_INVALIDARG, "Invalid target medium");
        t.RequireNotCreated();
        if (DeviceType != DeviceType.HardDisk)
            throw Error(ResultCode.VBOX_E_NOT_SUPPORTED, "Differencing media can only be created for hard disks");
        Func<Guid, string?> resolve = _vbox.Media.ResolverSnapshot();
        return Progress.Start($"Creating differencing medium storage unit '{t.Location}'", Component, Iface, p =>
        {
            Directory.CreateDirectory(Path.GetDirectoryName(t.Location)!);
            RunBackend(() => _vbox.Backend.CreateDiff(t.Location, t.Format, Location, resolve, t.Id));
            Monitor.Enter(_vbox.ApiLock);
            try
            {
            t.ParentMedium = this;
            t._type = BaseMedium.Type;
            ChildMedia.Add(t);
            MediumEntry entry = t.ToEntry();
            if (RegistryKind == RegistryKind.Machine)
            {
                Machine.UpdateRegistryOf(_vbox, RegistryMachine, cfg => cfg.MediaRegistry.Add(entry, Id));
                t.RegistryKind = RegistryKind.Machine;
                t.RegistryMachine = RegistryMachine;
                t._state = MediumState.Created;
                _vbox.RememberOpened(t);
                _vbox.InvalidateMedia();
            }
            else
                t.RegisterGlobally(RegistryKind == RegistryKind.Global ? Id : null);
            }
            finally
            {
                Monitor.Exit(_vbox.ApiLock);
            }
            p.Report(99);
        });
    }

    public IProgress CloneTo(IMedium target, MediumVariant variant, IMedium? parent)
    {
        RequireCreated();
        if (target is not Medium t)
            throw Error(ResultCode.E_INVALIDARG, "Invalid target medium");
        if (parent != null)
            throw Error(ResultCode.VBOX_E_NOT_SUPPORTED, "Cloning into a differencing medium is not supported");
        t.RequireNotCreated();
        CheckVariant(variant, t.Format);
        Func<Guid, string?> resolveClone = _vbox.Media.ResolverSnapshot();
        return Progress.Start($"Copying medium '{Location}' to '{t.Location}'", Component, Iface, p =>
        {
            Directory.CreateDirectory(Path.GetDirectoryName(t.Location)!);
            RunBackend(() => _vbox.Backend.Clone(Location, resolveClone, t.Location, t.Format, variant, t.Id, p.Report));
            lock (_vbox.ApiLock)
                t.RegisterGlobally(null);
        });
    }

    public IProgress Compact()
    {
        RequireCreated();
        if (DeviceType != DeviceType.HardDisk)
            throw Error(ResultCode.VBOX_E_NOT_SUPPORTED, $"Compacting is only supported for hard disks");
        Func<Guid, string?> resolveCompact = _vbox.Media.ResolverSnapshot();
        return Progress.Start($"Compacting medium '{Location}'", Component, Iface, p =>
        {
            RunBackend(() => _vbox.Backend.Compact(Location, resolveCompact, p.Report));
            _info = null;
        });
    }

    public IProgress Resize(long logicalSize)
    {
        RequireCreated();
        if (DeviceType != DeviceType.HardDisk)
            throw Error(ResultCode.VBOX_E_NOT_SUPPORTED, "Resizing is only supported for hard disks");
        long current = LogicalSize;
        if (_state == MediumState.Inaccessible)
            throw Error(ResultCode.VBOX_E_INVALID_OBJECT_STATE, _lastError);
        if (logicalSize < current)
            throw Error(ResultCode.VBOX_E_NOT_SUPPORTED, $"Shrinking is not yet supported for medium '{Location}'");
        Func<Guid, string?> resolveResize = _vbox.Media.ResolverSnapshot();
        return Progress.Start($"Resizing medium '{Location}'", Component, Iface, p =>
        {
            if (logicalSize != current)
                RunBackend(() => _vbox.Backend.Resize(Location, resolveResize, logicalSize));
            _info = null;
            p.Report(99);
        });
    }

    private static void RunBackend(Action a)
    {
        try { a(); }
        catch (MediumBackendException e) { throw Error(ResultCode.VBOX_E_FILE_ERROR, e.Message); }
    }

    private void CheckNotInUse(string what)
    {
        IReadOnlyList<Guid> users = MachineIds;
        if (users.Count > 0)
            throw Error(ResultCode.VBOX_E_OBJECT_IN_USE, $"Medium '{Location}' cannot be {what} because it is still attached to {users.Count} virtual machines");
        if (ChildMedia.Count > 0)
            throw Error(ResultCode.VBOX_E_OBJECT_IN_USE, $"Cannot {(what == "closed" ? "close" : "delete")} medium '{Location}' because it has {ChildMedia.Count} child media");
    }

    public IProgress DeleteStorage()
    {
        RequireCreated();
        CheckNotInUse("deleted");
        return Progress.Start($"Deleting medium storage unit '{Location}'", Component, Iface, p =>
        {
            RunBackend(() => _vbox.Backend.Delete(Location));
            lock (_vbox.ApiLock)
                Unregister();
            p.Report(99);
        });
    }

    public void Close()
    {
        if (_state == MediumState.NotCreated)
            return;
        CheckNotInUse("closed");
        Unregister();
    }

    /// <summary>Removes the medium from its registry (and from this process' list of opened media).</summary>
    internal void Unregister()
    {
        switch (RegistryKind)
        {
            case RegistryKind.Global:
                _vbox.UpdateGlobal(g => g.MediaRegistry.Remove(Id));
                break;
            case RegistryKind.Machine:
                if (_vbox.IsRegistered(RegistryMachine))
                    Machine.UpdateRegistryOf(_vbox, RegistryMachine, cfg => cfg.MediaRegistry.Remove(Id));
                break;
        }
        ParentMedium?.ChildMedia.Remove(this);
        RegistryKind = RegistryKind.None;
        _vbox.ForgetOpened(this);
        _vbox.Fire(VBoxEventType.MediumRegistered, Guid.Empty, mediumId: Id, mediumType: DeviceType, registered: false);
    }

    internal void ChangeLocationAfterMove(string newLocation) => Location = newLocation;
}

/// <summary>All media known to a VirtualBox object, with which machines use them.</summary>
internal sealed class MediaIndex
{
    private readonly VirtualBox _vbox;
    private readonly Dictionary<Guid, Medium> _byId = new();
    private readonly Dictionary<string, Medium> _byLocation = new(StringComparer.Ordinal);
    private readonly List<Medium> _order = new();
    private readonly Dictionary<Guid, List<Guid>> _users = new();

    private MediaIndex(VirtualBox vbox) => _vbox = vbox;

    public static MediaIndex Build(VirtualBox vbox, List<Medium> opened)
    {
        var index = new MediaIndex(vbox);
        foreach (MediumEntry e in VirtualBox.Guard(() => vbox.Global.MediaRegistry.ReadAll()))
            index.AddTree(e, null, RegistryKind.Global, Guid.Empty);
        foreach (Machine m in vbox.RegisteredMachines)
        {
            MachineConfig? cfg = m.TryConfig();
            if (cfg == null)
                continue;
            foreach (MediumEntry e in VirtualBox.Guard(() => cfg.MediaRegistry.ReadAll()))
                index.AddTree(e, null, RegistryKind.Machine, m.Id);
            foreach (Guid id in cfg.AllReferencedMediumIds())
            {
                if (!index._users.TryGetValue(id, out List<Guid>? list))
                    index._users[id] = list = new List<Guid>();
                if (!list.Contains(m.Id))
                    list.Add(m.Id);
            }
        }
        foreach (Medium m in opened)
            index.Add(m);
        return index;
    }

    private void AddTree(MediumEntry e, Medium? parent, RegistryKind kind, Guid machine)
    {
        if (_byId.TryGetValue(e.Id, out Medium? existing))
        {
            // Already known from another registry: VirtualBox merges registries by UUID.
            foreach (MediumEntry c in e.Children)
                AddTree(c, existing, kind, machine);
            return;
        }
        Medium m = Medium.FromEntry(_vbox, e, kind, machine);
        if (parent != null)
        {
            m.ParentMedium = parent;
            parent.ChildMedia.Add(m);
        }
        Add(m);
        foreach (MediumEntry c in e.Children)
            AddTree(c, m, kind, machine);
    }

    public void Add(Medium m)
    {
        if (_byId.ContainsKey(m.Id))
            return;
        _byId[m.Id] = m;
        _byLocation.TryAdd(m.Location, m);
        _order.Add(m);
    }

    public Medium? ById(Guid id) => _byId.TryGetValue(id, out Medium? m) ? m : null;
    public IReadOnlyList<Medium> All => _order;
    public Medium? ByLocation(string path) => _byLocation.TryGetValue(path, out Medium? m) ? m : null;
    public string? ResolveLocation(Guid id) => ById(id)?.Location;

    /// <summary>A resolver over a copy of the index, for work running outside the API lock.</summary>
    public Func<Guid, string?> ResolverSnapshot()
    {
        var map = new Dictionary<Guid, string>(_byId.Count);
        foreach (var kv in _byId)
            map[kv.Key] = kv.Value.Location;
        return id => map.TryGetValue(id, out string? l) ? l : null;
    }

    public IReadOnlyList<IMedium> Roots(DeviceType type)
        => _order.Where(m => m.DeviceType == type && m.ParentMedium == null).Cast<IMedium>().ToList();

    public IReadOnlyList<Guid> MachinesUsing(Guid mediumId)
        => _users.TryGetValue(mediumId, out List<Guid>? list) ? list : Array.Empty<Guid>();
}
