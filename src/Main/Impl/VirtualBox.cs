using System.Xml;
using SharpBox.Main.Api;
using SharpBox.Main.Settings;
using SharpBox.Runtime;

namespace SharpBox.Main.Impl;

/// <summary>
/// The in-process implementation of <see cref="IVirtualBox"/> over one configuration directory.
///
/// Concurrency: every change of VirtualBox.xml runs as <see cref="UpdateGlobal"/>: lock the
/// configuration directory, re-read the file, apply the change, save atomically, unlock. Machine
/// changes run inside a session that holds the lock of the machine's folder from loading the .vbox
/// to saving it. Lock order is always machine first, then the configuration directory, so two
/// processes changing the same files never lose an update and never deadlock.
/// </summary>
public sealed class VirtualBox : IVirtualBox
{
    public const string ProductVersion = "7.0.20";
    public const uint ProductRevision = 0;
    public const string ApiVersionString = "7_0";
    public const string SettingsFileName = "VirtualBox.xml";

    /// <summary>How long to wait for another process holding a machine or the configuration directory.</summary>
    public static TimeSpan LockTimeout { get; set; } = TimeSpan.FromSeconds(60);

    internal const string Component = "VirtualBoxWrap";
    internal const string Iface = "IVirtualBox";

    private MainConfig _global;
    private readonly Dictionary<Guid, Machine> _machines = new();
    private MediaIndex? _media;
    private readonly List<Medium> _openedMedia = new();
    private readonly SystemProperties _systemProperties;
    private readonly Host _host = new();

    public string HomeFolder { get; }
    public string SettingsFilePath { get; }
    public IMediumBackend Backend { get; }
    internal MainConfig Global => _global;

    private VirtualBox(string home, MainConfig global, IMediumBackend backend)
    {
        HomeFolder = home;
        SettingsFilePath = Path.Combine(home, SettingsFileName);
        _global = global;
        Backend = backend;
        _systemProperties = new SystemProperties(this);
    }

    /// <summary>
    /// Opens the configuration in <paramref name="homeFolder"/> (default: the VBOX_USER_HOME rules),
    /// creating the folder and a default VirtualBox.xml on first use.
    /// </summary>
    public static VirtualBox Open(IMediumBackend backend, string? homeFolder = null)
    {
        string home;
        try
        {
            home = homeFolder != null ? Path.GetFullPath(homeFolder) : UserHome.EnsureConfigDirectory();
            Directory.CreateDirectory(home);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            throw new VBoxException(ResultCode.E_ACCESSDENIED, $"Failed to initialize because the global settings directory is not accessible: {e.Message}", Component, Iface);
        }
        string path = Path.Combine(home, SettingsFileName);
        MainConfig global = Guard(() =>
        {
            if (File.Exists(path))
                return MainConfig.LoadOrCreate(path, home);
            // First use: write the default file under the lock (another process may race us).
            using FileLock l = AcquireLock(home, "the configuration directory");
            MainConfig cfg = MainConfig.LoadOrCreate(path, home);
            if (!File.Exists(path))
                cfg.Doc.Save();
            return cfg;
        });
        return new VirtualBox(home, global, backend);
    }

    // ---- Error mapping ----------------------------------------------------------------------------

    /// <summary>Runs settings-file code, turning file and lock failures into API errors.</summary>
    internal static T Guard<T>(Func<T> f, string component = Component, string iface = Iface)
    {
        try { return f(); }
        catch (SettingsFileException e) { throw new VBoxException(ResultCode.VBOX_E_XML_ERROR, e.Message, component, iface, e); }
        catch (TimeoutException e) { throw new VBoxException(ResultCode.VBOX_E_INVALID_OBJECT_STATE, e.Message, component, iface, e); }
        catch (FileNotFoundException e) { throw new VBoxException(ResultCode.VBOX_E_FILE_ERROR, e.Message, component, iface, e); }
        catch (UnauthorizedAccessException e) { throw new VBoxException(ResultCode.VBOX_E_FILE_ERROR, e.Message, component, iface, e); }
        catch (IOException e) { throw new VBoxException(ResultCode.VBOX_E_FILE_ERROR, e.Message, component, iface, e); }
    }

    internal static void Guard(Action a, string component = Component, string iface = Iface)
        => Guard(() => { a(); return 0; }, component, iface);

    internal static FileLock AcquireLock(string path, string what)
    {
        try { return FileLock.Acquire(path, LockTimeout); }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Timed out after {LockTimeout.TotalSeconds:0} s waiting for {what} ('{path}'), which another process keeps locked");
        }
    }

    // ---- Global settings transactions -------------------------------------------------------------

    /// <summary>Applies <paramref name="change"/> to a freshly read VirtualBox.xml under the directory lock and saves it.</summary>
    internal T UpdateGlobal<T>(Func<MainConfig, T> change)
    {
        return Guard(() =>
        {
            using FileLock l = AcquireLock(HomeFolder, "the configuration directory");
            MainConfig fresh = MainConfig.LoadOrCreate(SettingsFilePath, HomeFolder);
            T result = change(fresh);
            fresh.Doc.Save();
            _global = fresh;
            return result;
        });
    }

    internal void UpdateGlobal(Action<MainConfig> change) => UpdateGlobal(g => { change(g); return 0; });

    /// <summary>Re-reads VirtualBox.xml (without locking: saves are atomic renames).</summary>
    internal void RefreshGlobal() => _global = Guard(() => MainConfig.LoadOrCreate(SettingsFilePath, HomeFolder));

    // ---- IVirtualBox: identity and helpers --------------------------------------------------------

    public string Version => ProductVersion;
    public uint Revision => ProductRevision;
    public string APIVersion => ApiVersionString;
    public ISystemProperties SystemProperties => _systemProperties;
    public IHost Host => _host;
    public IReadOnlyList<GuestOSType> GuestOSTypes => OsTypes.All;
    public GuestOSType? GetGuestOSType(string id) => OsTypes.Find(id);
    public ISession CreateSession() => new Session();

    // ---- Machines ---------------------------------------------------------------------------------

    private IReadOnlyList<MachineRegistryEntry> Entries => Guard(() => _global.MachineEntries());

    internal Machine MachineFor(MachineRegistryEntry entry)
    {
        if (!_machines.TryGetValue(entry.Id, out Machine? m) || m.SettingsFilePath != entry.SettingsFile)
        {
            m = Machine.Registered(this, entry.Id, entry.SettingsFile);
            _machines[entry.Id] = m;
        }
        return m;
    }

    public IReadOnlyList<IMachine> Machines => Entries.Select(e => (IMachine)MachineFor(e)).ToList();

    internal IEnumerable<Machine> RegisteredMachines => Entries.Select(MachineFor);

    internal bool IsRegistered(Guid id) => Entries.Any(e => e.Id == id);

    public IReadOnlyList<MachineSummary> GetMachineSummaries()
    {
        var list = new List<MachineSummary>();
        foreach (MachineRegistryEntry e in Entries)
        {
            (string? name, Guid? id) = ReadMachineHeader(e.SettingsFile);
            bool ok = name != null && id == e.Id;
            list.Add(new MachineSummary(e.Id, ok ? name! : "<inaccessible>", e.SettingsFile, ok));
        }
        return list;
    }

    /// <summary>
    /// Reads the Machine element's name and uuid with a streaming reader that checks the rest of the
    /// file is well-formed, without building the document or interpreting the settings: listing
    /// 1,000 machines stays far below 200 ms (a full load of each costs ~3x more; see
    /// docs/performance.md). Returns (null, null) when the file is missing, malformed or not a machine
    /// file; a file that is well-formed but has bad values shows up as inaccessible once it is used.
    /// </summary>
    internal static (string? Name, Guid? Id) ReadMachineHeader(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 4096);
            using var reader = XmlReader.Create(stream, new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, IgnoreComments = true, IgnoreWhitespace = true });
            while (reader.Read())
            {
                if (reader.NodeType != XmlNodeType.Element)
                    continue;
                if (reader.Depth == 0 && reader.LocalName != "VirtualBox")
                    return (null, null);
                if (reader.Depth == 1 && reader.LocalName == "Machine")
                {
                    string? name = reader.GetAttribute("name");
                    string? uuid = reader.GetAttribute("uuid");
                    // Read on to the end: a truncated or otherwise malformed file is inaccessible.
                    while (reader.Read())
                    {
                    }
                    return (name, uuid != null && XmlUtil.TryParseUuid(uuid, out Guid g) ? g : null);
                }
                if (reader.Depth == 1)
                    reader.Skip();
            }
        }
        catch (Exception e) when (e is IOException or XmlException or UnauthorizedAccessException)
        {
        }
        return (null, null);
    }

    public IMachine FindMachine(string nameOrId)
    {
        if (XmlUtil.TryParseUuid(nameOrId, out Guid id))
        {
            foreach (MachineRegistryEntry e in Entries)
                if (e.Id == id)
                    return MachineFor(e);
            throw new VBoxException(ResultCode.VBOX_E_OBJECT_NOT_FOUND, $"Could not find a registered machine with UUID {{{id:D}}}", Component, Iface);
        }
        // Fast path: the settings file is usually named after the machine.
        IReadOnlyList<MachineRegistryEntry> entries = Entries;
        foreach (MachineRegistryEntry e in entries)
            if (Path.GetFileNameWithoutExtension(e.SettingsFile) == nameOrId && ReadMachineHeader(e.SettingsFile).Name == nameOrId)
                return MachineFor(e);
        foreach (MachineRegistryEntry e in entries)
            if (ReadMachineHeader(e.SettingsFile).Name == nameOrId)
                return MachineFor(e);
        throw new VBoxException(ResultCode.VBOX_E_OBJECT_NOT_FOUND, $"Could not find a registered machine named '{nameOrId}'", Component, Iface);
    }

    /// <summary>"&lt;base&gt;/&lt;group&gt;/&lt;name&gt;/&lt;name&gt;.vbox" as VirtualBox composes it.</summary>
    public string ComposeMachineFilename(string name, string? group, string? createFlags, string? baseFolder)
    {
        if (string.IsNullOrEmpty(name))
            throw new VBoxException(ResultCode.E_INVALIDARG, "Machine name must not be empty", Component, Iface);
        string safe = SanitizeName(name);
        string folder = string.IsNullOrEmpty(baseFolder) ? _global.DefaultMachineFolder : Path.GetFullPath(baseFolder);
        if (!string.IsNullOrEmpty(group) && group != "/")
            folder = Path.Combine(folder, group.TrimStart('/'));
        ParseCreateFlags(createFlags, out Guid? uuid, out _, out bool dirIncludesUuid);
        string dir = dirIncludesUuid && uuid is Guid u ? $"{safe} ({{{u:D}}})" : safe;
        return Path.Combine(folder, dir, safe + ".vbox");
    }

    /// <summary>Replaces characters that cannot appear in a file name, as VirtualBox does.</summary>
    internal static string SanitizeName(string name)
    {
        var chars = name.ToCharArray();
        for (int i = 0; i < chars.Length; i++)
            if (chars[i] is '/' or '\\' or ':' or '*' or '?' or '"' or '<' or '>' or '|' || chars[i] < 0x20)
                chars[i] = '_';
        string s = new(chars);
        return s is "." or ".." ? "_" : s;
    }

    internal static void ParseCreateFlags(string? flags, out Guid? uuid, out bool forceOverwrite, out bool dirIncludesUuid)
    {
        uuid = null;
        forceOverwrite = false;
        dirIncludesUuid = false;
        if (string.IsNullOrEmpty(flags))
            return;
        foreach (string part in flags.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = part.IndexOf('=');
            string key = eq < 0 ? part : part[..eq];
            string value = eq < 0 ? "" : part[(eq + 1)..];
            switch (key)
            {
                case "UUID":
                    if (!XmlUtil.TryParseUuid(value, out Guid g) || g == Guid.Empty)
                        throw new VBoxException(ResultCode.E_INVALIDARG, $"Invalid UUID '{value}' in the machine creation flags", Component, Iface);
                    uuid = g;
                    break;
                case "forceOverwrite": forceOverwrite = value is "1" or "true" or "on"; break;
                case "directoryIncludesUUID": dirIncludesUuid = value is "1" or "true" or "on"; break;
                default:
                    throw new VBoxException(ResultCode.E_INVALIDARG, $"Invalid machine creation flag '{key}'", Component, Iface);
            }
        }
    }

    public IMachine CreateMachine(string? settingsFile, string name, IReadOnlyList<string> groups, string? osTypeId, string? createFlags)
    {
        if (string.IsNullOrWhiteSpace(name))
            throw new VBoxException(ResultCode.E_INVALIDARG, "Machine name must not be empty", Component, Iface);
        ParseCreateFlags(createFlags, out Guid? uuid, out bool forceOverwrite, out _);
        string path = string.IsNullOrEmpty(settingsFile)
            ? ComposeMachineFilename(name, groups.Count > 0 ? groups[0] : null, createFlags, null)
            : Path.GetFullPath(settingsFile);
        GuestOSType? os = null;
        if (!string.IsNullOrEmpty(osTypeId))
        {
            os = OsTypes.Find(osTypeId)
                ?? throw new VBoxException(ResultCode.E_INVALIDARG, $"'{osTypeId}' is not a valid Guest OS type", Component, Iface);
        }
        if (File.Exists(path) && !forceOverwrite)
            throw new VBoxException(ResultCode.VBOX_E_FILE_ERROR, $"Machine settings file '{path}' already exists", Component, Iface);
        Guid id = uuid ?? Guid.NewGuid();
        if (IsRegistered(id))
            throw new VBoxException(ResultCode.VBOX_E_OBJECT_IN_USE, $"A machine with UUID {{{id:D}}} is already registered", Component, Iface);
        return Machine.CreateNew(this, path, id, name, os ?? OsTypes.Find("Other")!, os != null, groups);
    }

    public IMachine OpenMachine(string settingsFile)
    {
        string path = Path.GetFullPath(settingsFile);
        if (!File.Exists(path))
            throw new VBoxException(ResultCode.VBOX_E_FILE_ERROR, $"Could not find file for the machine '{path}' (VERR_FILE_NOT_FOUND)", Component, Iface);
        return Machine.Opened(this, path);
    }

    public void RegisterMachine(IMachine machine)
    {
        if (machine is not Machine m)
            throw new VBoxException(ResultCode.E_INVALIDARG, "Invalid machine object", Component, Iface);
        if (!File.Exists(m.SettingsFilePath))
            throw new VBoxException(ResultCode.VBOX_E_INVALID_OBJECT_STATE,
                $"The machine '{m.Name}' cannot be registered because its settings file '{m.SettingsFilePath}' has not been saved yet", Component, Iface);
        Guid id = m.Id;
        string name = m.Name;
        UpdateGlobal(g =>
        {
            foreach (MachineRegistryEntry e in g.MachineEntries())
            {
                if (e.Id == id)
                    throw new VBoxException(ResultCode.VBOX_E_OBJECT_IN_USE,
                        $"Registered machine with UUID {{{id:D}}} ('{e.SettingsFile}') already exists", Component, Iface);
                if (e.SettingsFile == m.SettingsFilePath)
                    throw new VBoxException(ResultCode.VBOX_E_OBJECT_IN_USE,
                        $"A machine with the settings file '{e.SettingsFile}' is already registered", Component, Iface);
            }
            g.AddMachineEntry(id, m.SettingsFilePath);
        });
        m.MarkRegistered();
        _machines[id] = m;
        _ = name;
        InvalidateMedia();
    }

    internal void UnregisterMachine(Machine m)
    {
        Guid id = m.Id;
        bool removed = UpdateGlobal(g => g.RemoveMachineEntry(id));
        if (!removed)
            throw new VBoxException(ResultCode.VBOX_E_OBJECT_NOT_FOUND, $"Could not find a registered machine with UUID {{{id:D}}}", "MachineWrap", "IMachine");
        _machines.Remove(id);
        InvalidateMedia();
    }

    // ---- Extra data -----------------------------------------------------------------------------

    public IReadOnlyList<string> GetExtraDataKeys() => Guard(() => _global.ExtraData.Items().Select(kv => kv.Key).ToList());
    public string GetExtraData(string key) => Guard(() => _global.ExtraData.Get(key));
    public void SetExtraData(string key, string? value)
    {
        if (string.IsNullOrEmpty(key))
            throw new VBoxException(ResultCode.E_INVALIDARG, "Extra data key must not be empty", Component, Iface);
        UpdateGlobal(g => g.ExtraData.Set(key, value));
    }

    // ---- Media ------------------------------------------------------------------------------------

    internal MediaIndex Media => _media ??= MediaIndex.Build(this, _openedMedia);

    internal void InvalidateMedia() => _media = null;

    internal void RememberOpened(Medium m)
    {
        if (!_openedMedia.Contains(m))
            _openedMedia.Add(m);
        _media?.Add(m);
    }

    internal void ForgetOpened(Medium m)
    {
        _openedMedia.Remove(m);
        InvalidateMedia();
    }

    public IReadOnlyList<IMedium> HardDisks => Media.Roots(DeviceType.HardDisk);
    public IReadOnlyList<IMedium> DVDImages => Media.Roots(DeviceType.DVD);
    public IReadOnlyList<IMedium> FloppyImages => Media.Roots(DeviceType.Floppy);

    public IMedium OpenMedium(string locationOrId, DeviceType deviceType, AccessMode accessMode, bool forceNewUuid)
        => Medium.Open(this, locationOrId, deviceType, accessMode, forceNewUuid);

    public IMedium CreateMedium(string format, string location, AccessMode accessMode, DeviceType deviceType)
        => Medium.CreateNotCreated(this, format, location, deviceType);
}
