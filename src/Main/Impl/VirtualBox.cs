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
    private FileStamp _globalStamp;
    private readonly Dictionary<Guid, Machine> _machines = new();
    private MediaIndex? _media;
    private readonly List<Medium> _openedMedia = new();
    private readonly SystemProperties _systemProperties;
    private readonly Host _host = new();
    private readonly Dictionary<Guid, MachineSessions> _sessions = new();
    private sealed record HeaderInfo(FileStamp Stamp, string? Name, Guid? Id, MachineState State);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, HeaderInfo> _headers = new(StringComparer.Ordinal);
    private readonly Dictionary<Guid, LiveState> _live = new();

    /// <summary>
    /// Serialises API calls when several threads use this object (VBoxSVC holds it around every
    /// call; long operations take it for their registry updates, not for their disk I/O).
    /// </summary>
    public object ApiLock { get; } = new();

    /// <summary>The event source; <see cref="IVirtualBox.EventSource"/>.</summary>
    public EventSource Events { get; } = new();
    public IEventSource EventSource => Events;

    public string HomeFolder { get; }
    public string SettingsFilePath { get; }
    public IMediumBackend Backend { get; }
    /// <summary>VirtualBox.xml as last read or written here; re-read when another process changed it.</summary>
    internal MainConfig Global
    {
        get
        {
            if (FileStamp.Of(SettingsFilePath) != _globalStamp)
                RefreshGlobal();
            return _global;
        }
    }

    private VirtualBox(string home, MainConfig global, IMediumBackend backend)
    {
        HomeFolder = home;
        SettingsFilePath = Path.Combine(home, SettingsFileName);
        _global = global;
        Backend = backend;
        _systemProperties = new SystemProperties(this);
        _globalStamp = FileStamp.Of(SettingsFilePath);
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
            _globalStamp = FileStamp.Of(SettingsFilePath);
            return result;
        });
    }

    internal void UpdateGlobal(Action<MainConfig> change) => UpdateGlobal(g => { change(g); return 0; });

    /// <summary>Re-reads VirtualBox.xml (without locking: saves are atomic renames).</summary>
    internal void RefreshGlobal()
    {
        FileStamp stamp = FileStamp.Of(SettingsFilePath);
        _global = Guard(() => MainConfig.LoadOrCreate(SettingsFilePath, HomeFolder));
        if (stamp != _globalStamp)
            InvalidateMedia();
        _globalStamp = stamp;
    }

    // ---- IVirtualBox: identity and helpers --------------------------------------------------------

    public string Version => ProductVersion;
    public uint Revision => ProductRevision;
    public string APIVersion => ApiVersionString;
    public ISystemProperties SystemProperties => _systemProperties;
    public IHost Host => _host;
    public IReadOnlyList<GuestOSType> GuestOSTypes => OsTypes.All;
    public GuestOSType? GetGuestOSType(string id) => OsTypes.Find(id);
    public ISession CreateSession() => new Session();

    /// <summary>A session for a client that is not this process (VBoxSVC names the peer).</summary>
    public Session CreateSession(string clientName, uint clientPid) => new(clientName, clientPid);

    // ---- Sessions and live state ------------------------------------------------------------------

    /// <summary>Who holds a machine: the write session and the shared ones.</summary>
    internal sealed class MachineSessions
    {
        public Session? Write;
        public readonly List<Session> Shared = new();
    }

    internal MachineSessions? SessionsOf(Guid machineId) => _sessions.TryGetValue(machineId, out MachineSessions? s) ? s : null;

    internal void SessionStarted(Guid machineId, Session session, bool shared)
    {
        if (!_sessions.TryGetValue(machineId, out MachineSessions? s))
            _sessions[machineId] = s = new MachineSessions();
        if (shared)
            s.Shared.Add(session);
        else
        {
            s.Write = session;
            Fire(VBoxEventType.SessionStateChanged, machineId, sessionState: SessionState.Locked);
        }
    }

    internal void SessionEnded(Session session)
    {
        Guid id = session.MachineId;
        if (!_sessions.TryGetValue(id, out MachineSessions? s))
            return;
        s.Shared.Remove(session);
        if (ReferenceEquals(s.Write, session))
        {
            s.Write = null;
            if (session.LockType == LockType.VM)
                VmSessionEnded(id, session);
            Fire(VBoxEventType.SessionStateChanged, id, sessionState: SessionState.Unlocked);
        }
        if (s.Write == null && s.Shared.Count == 0)
            _sessions.Remove(id);
    }

    // ---- VM processes ------------------------------------------------------------------------------

    private readonly Dictionary<Guid, VmProcessInfo> _vmProcesses = new();

    /// <summary>Starts VM processes (set by VBoxSVC).</summary>
    public IVmLauncher? Launcher { get; set; }

    /// <summary>Where VBoxSVC writes what happens to VMs (a VM process that died, ...).</summary>
    public Action<string>? ServiceLog { get; set; }

    public VmProcessInfo? VmProcessOf(Guid machineId) => _vmProcesses.TryGetValue(machineId, out VmProcessInfo? p) ? p : null;

    internal void RegisterVmProcess(Guid machineId, VmProcessInfo info, MachineState state)
    {
        _vmProcesses[machineId] = info;
        ServiceLog?.Invoke($"VM process pid {info.Pid} runs machine {{{machineId:D}}} (state {state}, control socket '{info.ControlSocket}')");
        SetLiveState(machineId, state);
    }

    /// <summary>A state reported by (or on behalf of) the VM process of a machine.</summary>
    internal void VmReportsState(Guid machineId, MachineState state)
    {
        if (!_vmProcesses.ContainsKey(machineId) && LiveStateOf(machineId) is null)
            return; // Not (or no longer) running: a late report.
        MachineState? cur = LiveStateOf(machineId);
        // Once the state is being saved or saved, the process' own "powered off" does not undo it.
        if (state == MachineState.PoweredOff && cur is MachineState.Saving or MachineState.Saved)
            return;
        SetLiveState(machineId, state);
    }

    internal void VmSavedTo(Guid machineId, string file)
    {
        if (_vmProcesses.TryGetValue(machineId, out VmProcessInfo? p))
            p.SavedTo = file;
        SetLiveState(machineId, MachineState.Saved);
    }

    /// <summary>
    /// The VM session of a machine ended (the process exited, or died and VBoxSVC unlocked it): the
    /// machine is Saved or PoweredOff when the process said so, else Aborted (recorded in the .vbox, as
    /// VirtualBox records it).
    /// </summary>
    private void VmSessionEnded(Guid machineId, Session session)
    {
        MachineState last = LiveStateOf(machineId) ?? MachineState.Null;
        VmProcessInfo? p = VmProcessOf(machineId);
        if (p != null && ReferenceEquals(p.Session, session))
            _vmProcesses.Remove(machineId);
        bool saved = last == MachineState.Saved || p?.SavedTo != null;
        bool clean = saved || last == MachineState.PoweredOff;
        _live.Remove(machineId);
        try
        {
            Machine.UpdateRegistryOf(this, machineId, cfg =>
            {
                cfg.Aborted = !clean;
                cfg.LastStateChange = DateTime.UtcNow;
            });
        }
        catch (VBoxException e)
        {
            ServiceLog?.Invoke($"Machine {{{machineId:D}}}: recording the end of its VM process failed: {e.Message}");
        }
        if (!clean)
            ServiceLog?.Invoke($"VM process{(p != null ? $" pid {p.Pid}" : "")} of machine {{{machineId:D}}} ended without powering off (last state {last}): the machine is Aborted");
        else
            ServiceLog?.Invoke($"VM process{(p != null ? $" pid {p.Pid}" : "")} of machine {{{machineId:D}}} ended; the machine is {(saved ? "Saved" : "PoweredOff")}");
        Fire(VBoxEventType.MachineStateChanged, machineId, state: saved ? MachineState.Saved : clean ? MachineState.PoweredOff : MachineState.Aborted);
    }

    /// <summary>The write session's machine, if a session of this object holds the machine.</summary>
    internal Session? WriteSessionOf(Guid machineId) => SessionsOf(machineId)?.Write;

    /// <summary>The state of a machine a VM process runs (or is starting, saving, ...); kept by VBoxSVC.</summary>
    public sealed class LiveState
    {
        public MachineState State;
        public DateTime Since;
    }

    /// <summary>The live state of a machine, if one is set (otherwise the state comes from its settings file).</summary>
    public MachineState? LiveStateOf(Guid machineId) => _live.TryGetValue(machineId, out LiveState? l) ? l.State : null;

    internal DateTime? LiveSince(Guid machineId) => _live.TryGetValue(machineId, out LiveState? l) ? l.Since : null;

    /// <summary>Sets (or with null clears) the live state of a machine and tells listeners.</summary>
    public void SetLiveState(Guid machineId, MachineState? state)
    {
        MachineState before = LiveStateOf(machineId) ?? MachineState.Null;
        if (state is MachineState st)
            _live[machineId] = new LiveState { State = st, Since = DateTime.UtcNow };
        else
            _live.Remove(machineId);
        MachineState after = state ?? StateFromSettings(machineId);
        if (after != before)
            Fire(VBoxEventType.MachineStateChanged, machineId, state: after);
    }

    /// <summary>Machines with a live state (running, paused, starting, ...).</summary>
    public IReadOnlyList<Guid> LiveMachines => _live.Keys.ToList();

    private MachineState StateFromSettings(Guid machineId)
    {
        foreach (MachineRegistryEntry e in Entries)
            if (e.Id == machineId)
                return MachineFor(e).SettingsState;
        return MachineState.Null;
    }

    // ---- Events -----------------------------------------------------------------------------------

    internal void Fire(VBoxEventType type, Guid machineId, MachineState state = MachineState.Null, SessionState sessionState = SessionState.Null,
        Guid mediumId = default, DeviceType mediumType = DeviceType.Null, bool registered = false, Guid snapshotId = default,
        string? key = null, string? value = null)
        => Events.Fire(seq => new VBoxEvent(type, seq, machineId, state, sessionState, mediumId, mediumType, registered, snapshotId, key, value));

    // ---- Machines ---------------------------------------------------------------------------------

    private IReadOnlyList<MachineRegistryEntry> Entries => Guard(() => Global.MachineEntries());

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
        IReadOnlyList<MachineRegistryEntry> entries = Entries;
        var result = new MachineSummary[entries.Count];
        // The files are independent: read them on all cores (results stay in registry order).
        Parallel.For(0, entries.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
            () => new NameTable(),
            (i, _, names) =>
            {
                MachineRegistryEntry e = entries[i];
                // A long-lived VirtualBox (VBoxSVC) reads a header again only when its file changed.
                FileStamp stamp = FileStamp.Of(e.SettingsFile);
                string? name;
                Guid? id;
                MachineState fileState;
                if (stamp != default && _headers.TryGetValue(e.SettingsFile, out HeaderInfo? cached) && cached.Stamp == stamp)
                    (name, id, fileState) = (cached.Name, cached.Id, cached.State);
                else
                {
                    (name, id, fileState) = ReadMachineHeaderAndState(e.SettingsFile, names);
                    if (stamp != default && FileStamp.Of(e.SettingsFile) == stamp)
                        _headers[e.SettingsFile] = new HeaderInfo(stamp, name, id, fileState);
                }
                bool ok = name != null && id == e.Id;
                result[i] = new MachineSummary(e.Id, ok ? name! : "<inaccessible>", e.SettingsFile, ok, ok ? fileState : MachineState.Null);
                return names;
            },
            _ => { });
        // Live states (a VM process runs the machine) override what the files say.
        if (_live.Count > 0)
            for (int i = 0; i < result.Length; i++)
                if (result[i].Accessible && _live.TryGetValue(result[i].Id, out LiveState? l))
                    result[i] = result[i] with { State = l.State };
        return result;
    }

    private static XmlReaderSettings HeaderReaderSettings(XmlNameTable names) => new()
    {
        DtdProcessing = DtdProcessing.Prohibit,
        IgnoreComments = true,
        IgnoreWhitespace = true,
        IgnoreProcessingInstructions = true,
        NameTable = names,
    };

    /// <summary>
    /// Reads the Machine element's name and uuid with a streaming reader, and checks that the file
    /// ends with the root's end tag, without reading the rest or interpreting the settings: listing
    /// 1,000 machines stays well below 200 ms (parsing every file whole costs several times more; see
    /// docs/performance.md). Returns (null, null) when the file is missing, truncated, malformed up to
    /// the Machine element, or not a machine file; damage further inside shows up as inaccessible as
    /// soon as the machine is loaded (showvminfo, list -l, any change).
    /// </summary>
    internal static (string? Name, Guid? Id) ReadMachineHeader(string path, XmlNameTable? names = null)
    {
        (string? name, Guid? id, _) = ReadMachineHeaderAndState(path, names);
        return (name, id);
    }

    /// <summary>As <see cref="ReadMachineHeader"/>, with the state the Machine element's attributes give (stateFile, aborted).</summary>
    internal static (string? Name, Guid? Id, MachineState State) ReadMachineHeaderAndState(string path, XmlNameTable? names = null)
    {
        try
        {
            // No FileStream buffer: the XmlReader buffers itself.
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
            using var reader = XmlReader.Create(stream, HeaderReaderSettings(names ?? new NameTable()));
            while (reader.Read())
            {
                if (reader.NodeType != XmlNodeType.Element)
                    continue;
                if (reader.Depth == 0 && reader.LocalName != "VirtualBox")
                    return (null, null, MachineState.Null);
                if (reader.Depth == 1 && reader.LocalName == "Machine")
                {
                    string? name = reader.GetAttribute("name");
                    string? uuid = reader.GetAttribute("uuid");
                    bool saved = !string.IsNullOrEmpty(reader.GetAttribute("stateFile"));
                    bool aborted = reader.GetAttribute("aborted") is "true" or "1";
                    MachineState state = saved ? (aborted ? MachineState.AbortedSaved : MachineState.Saved)
                        : aborted ? MachineState.Aborted : MachineState.PoweredOff;
                    // A truncated file (the usual damage) is inaccessible: the root must be closed at the end.
                    if (!EndsWithRootEndTag(stream))
                        return (null, null, MachineState.Null);
                    return (name, uuid != null && XmlUtil.TryParseUuid(uuid, out Guid g) ? g : null, state);
                }
                if (reader.Depth == 1)
                    reader.Skip();
            }
        }
        catch (Exception e) when (e is IOException or XmlException or UnauthorizedAccessException)
        {
        }
        return (null, null, MachineState.Null);
    }

    /// <summary>Whether the file's last non-blank bytes are "&lt;/VirtualBox&gt;" (read from the end; the reader is done with the stream).</summary>
    private static bool EndsWithRootEndTag(FileStream stream)
    {
        Span<byte> tail = stackalloc byte[64];
        long length = stream.Length;
        int n = (int)Math.Min(tail.Length, length);
        stream.Seek(length - n, SeekOrigin.Begin);
        stream.ReadExactly(tail[..n]);
        ReadOnlySpan<byte> t = tail[..n].TrimEnd(" \t\r\n"u8);
        return t.EndsWith("</VirtualBox>"u8);
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
        string folder = string.IsNullOrEmpty(baseFolder) ? Global.DefaultMachineFolder : Path.GetFullPath(baseFolder);
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
        Fire(VBoxEventType.MachineRegistered, id, registered: true);
    }

    internal void UnregisterMachine(Machine m)
    {
        Guid id = m.Id;
        bool removed = UpdateGlobal(g => g.RemoveMachineEntry(id));
        if (!removed)
            throw new VBoxException(ResultCode.VBOX_E_OBJECT_NOT_FOUND, $"Could not find a registered machine with UUID {{{id:D}}}", "MachineWrap", "IMachine");
        _machines.Remove(id);
        _live.Remove(id);
        InvalidateMedia();
        Fire(VBoxEventType.MachineRegistered, id, registered: false);
    }

    // ---- Extra data -----------------------------------------------------------------------------

    public IReadOnlyList<string> GetExtraDataKeys() => Guard(() => Global.ExtraData.Items().Select(kv => kv.Key).ToList());
    public string GetExtraData(string key) => Guard(() => Global.ExtraData.Get(key));
    public void SetExtraData(string key, string? value)
    {
        if (string.IsNullOrEmpty(key))
            throw new VBoxException(ResultCode.E_INVALIDARG, "Extra data key must not be empty", Component, Iface);
        UpdateGlobal(g => g.ExtraData.Set(key, value));
        Fire(VBoxEventType.ExtraDataChanged, Guid.Empty, key: key, value: value ?? "");
    }

    // ---- Media ------------------------------------------------------------------------------------

    internal MediaIndex Media => _media ??= MediaIndex.Build(this, _openedMedia);

    internal void InvalidateMedia() => _media = null;

    /// <summary>
    /// Media known because they were opened or created here (VBoxSVC keeps them until they are
    /// closed, as VirtualBox does). Matched by UUID: the media index makes new objects for the same
    /// medium whenever it is rebuilt.
    /// </summary>
    internal void RememberOpened(Medium m)
    {
        if (!_openedMedia.Any(x => x.Id == m.Id))
            _openedMedia.Add(m);
        _media?.Add(m);
    }

    internal void ForgetOpened(Medium m)
    {
        _openedMedia.RemoveAll(x => x.Id == m.Id);
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
