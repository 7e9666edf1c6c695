using System.Diagnostics;
using System.Globalization;
using System.Xml.Linq;
using SharpBox.Main.Api;
using SharpBox.Main.Settings;

namespace SharpBox.Main.Impl;

/// <summary>
/// Snapshots and saved state of a machine, as VirtualBox keeps them: a tree of Snapshot elements in
/// the .vbox, each with the hardware and storage of its time; the writable hard disks of the current
/// state are differencing VDIs named {uuid}.vdi in the snapshot folder; saved states are
/// &lt;timestamp&gt;.sav files there. All changes go through the locked session machine and are saved
/// atomically; a failure rolls the session's settings back and removes the files it created.
/// </summary>
internal sealed partial class Machine
{
    private readonly Dictionary<Guid, Snapshot> _snapshots = new();

    // ---- Reading ---------------------------------------------------------------------------------

    internal Snapshot SnapshotObject(Guid id)
    {
        lock (_snapshots)
        {
            if (!_snapshots.TryGetValue(id, out Snapshot? s))
                _snapshots[id] = s = new Snapshot(this, id);
            return s;
        }
    }

    public ISnapshot? CurrentSnapshot => Cfg.CurrentSnapshotId is Guid g ? SnapshotObject(g) : null;
    public uint SnapshotCount => (uint)Cfg.AllSnapshots().Count();
    public bool CurrentStateModified => Cfg.CurrentStateModified;

    public ISnapshot FindSnapshot(string? nameOrId)
    {
        MachineConfig cfg = Cfg;
        if (string.IsNullOrEmpty(nameOrId))
        {
            SnapshotXml root = cfg.RootSnapshot ?? throw Error(ResultCode.VBOX_E_OBJECT_NOT_FOUND, "This machine does not have any snapshots");
            return SnapshotObject(root.Id);
        }
        if (XmlUtil.TryParseUuid(nameOrId, out Guid id))
        {
            if (cfg.FindSnapshot(id) is SnapshotXml byId)
                return SnapshotObject(byId.Id);
            throw Error(ResultCode.VBOX_E_OBJECT_NOT_FOUND, $"Could not find a snapshot with UUID {{{id:D}}}");
        }
        foreach (SnapshotXml s in cfg.AllSnapshots())
            if (s.Name == nameOrId)
                return SnapshotObject(s.Id);
        throw Error(ResultCode.VBOX_E_OBJECT_NOT_FOUND, $"Could not find a snapshot named '{nameOrId}'");
    }

    /// <summary>Changes a snapshot's name or description and saves at once (the machine must be locked by this session).</summary>
    internal void ChangeSnapshot(Snapshot s, Action<SnapshotXml> change)
    {
        if (!_mutable || _detached)
            throw new VBoxException(ResultCode.VBOX_E_INVALID_OBJECT_STATE,
                "Snapshots can only be changed through a locked session machine (lock the machine first)", "SnapshotWrap", "ISnapshot");
        Transaction(_ =>
        {
            SnapshotXml x = Cfg.FindSnapshot(s.Id) ?? throw Error(ResultCode.VBOX_E_OBJECT_NOT_FOUND, $"Could not find a snapshot with UUID {{{s.Id:D}}}");
            change(x);
            SaveWithApiLock();
            return 0;
        });
        lock (_vbox.ApiLock)
            _vbox.Fire(VBoxEventType.SnapshotChanged, _id, snapshotId: s.Id);
    }

    /// <summary>A read-only machine showing a snapshot's hardware.</summary>
    internal Machine SnapshotMachine(SnapshotXml snap) => new(_vbox, _id, _path) { _cfg = snap.AsMachineConfig(), _nameOnDisk = snap.Name, _isSnapshotView = true };

    // ---- Helpers -----------------------------------------------------------------------------------

    private string MachineFolderPath => Path.GetDirectoryName(_path)!;

    /// <summary>A path as VirtualBox stores it in the .vbox: relative to the machine folder when inside it.</summary>
    private string StoredPath(string full)
    {
        string prefix = MachineFolderPath.TrimEnd('/') + "/";
        return full.StartsWith(prefix, StringComparison.Ordinal) ? full[prefix.Length..] : full;
    }

    private string FullPath(string stored) => stored.Length == 0 ? "" : Path.GetFullPath(Path.IsPathRooted(stored) ? stored : Path.Combine(MachineFolderPath, stored));

    /// <summary>"&lt;snapshot folder&gt;/2024-05-01T10-11-12-123456789Z.sav", VirtualBox's saved-state file name.</summary>
    internal string ComposeSavedStateFilename()
    {
        DateTime now = DateTime.UtcNow;
        long nanos = (now.Ticks % TimeSpan.TicksPerSecond) * 100;
        string name = now.ToString("yyyy-MM-dd'T'HH-mm-ss", CultureInfo.InvariantCulture) + "-" + nanos.ToString("D9", CultureInfo.InvariantCulture) + "Z.sav";
        string path = Path.Combine(SnapshotFolder, name);
        for (int i = 1; File.Exists(path); i++)
            path = Path.Combine(SnapshotFolder, Path.GetFileNameWithoutExtension(name) + $"-{i}.sav");
        return path;
    }

    /// <summary>The media this operation can see: the session's own registry (newest) over every other registry.</summary>
    private sealed class MediaView
    {
        public sealed record Info(Guid Id, string Location, string Format, Guid? Parent, MediumType Type, DeviceType DeviceType);

        public readonly Dictionary<Guid, Info> ById = new();
        public readonly Dictionary<Guid, List<Guid>> Children = new();

        public MediaView(VirtualBox vbox, MachineConfig cfg)
        {
            foreach (Medium m in vbox.Media.All)
                Put(new Info(m.Id, m.Location, m.Format, m.ParentMedium?.Id, m.Base.Type, m.DeviceType));
            foreach (MediumEntry e in cfg.MediaRegistry.ReadAll())
                AddTree(e, null);
            foreach (Info i in ById.Values)
                if (i.Parent is Guid p)
                {
                    if (!Children.TryGetValue(p, out List<Guid>? list))
                        Children[p] = list = new List<Guid>();
                    list.Add(i.Id);
                }
        }

        private void AddTree(MediumEntry e, Guid? parent)
        {
            Put(new Info(e.Id, e.Location, e.Format, parent, e.Type, e.DeviceType));
            foreach (MediumEntry c in e.Children)
                AddTree(c, e.Id);
        }

        private void Put(Info i) => ById[i.Id] = i;

        public string? Resolve(Guid id) => ById.TryGetValue(id, out Info? i) ? i.Location : null;

        public IReadOnlyList<Guid> ChildrenOf(Guid id) => Children.TryGetValue(id, out List<Guid>? l) ? l : Array.Empty<Guid>();
    }

    /// <summary>Hard disk attachments of a state (the machine's or a snapshot's) as (device, medium).</summary>
    private static IEnumerable<(AttachedDeviceXml Device, Guid Medium)> HardDisks(MachineConfig cfg)
    {
        foreach (StorageControllerXml c in cfg.StorageControllers())
            foreach (AttachedDeviceXml d in c.Devices())
                if (d.Type == DeviceType.HardDisk && d.ImageId is Guid g)
                    yield return (d, g);
    }

    /// <summary>Every Image element under an AttachedDevice anywhere in the file (current state and snapshots).</summary>
    private static IEnumerable<XElement> AllImageRefs(MachineConfig cfg)
        => cfg.Machine.Descendants().Where(e => e.Name.LocalName == "Image" && e.Parent?.Name.LocalName == "AttachedDevice").ToList();

    private static int CountRefs(MachineConfig cfg, Guid medium)
        => AllImageRefs(cfg).Count(e => XmlUtil.TryParseUuid(e.Attr("uuid") ?? "", out Guid g) && g == medium);

    private void RequireOffline(string what)
    {
        MachineState st = State;
        if (st is MachineState.Running or MachineState.Paused or MachineState.Stuck or MachineState.Starting or MachineState.Stopping
            or MachineState.Saving or MachineState.Restoring or MachineState.LiveSnapshotting or MachineState.OnlineSnapshotting
            or MachineState.DeletingSnapshot or MachineState.DeletingSnapshotOnline or MachineState.DeletingSnapshotPaused
            or MachineState.RestoringSnapshot or MachineState.Snapshotting or MachineState.SettingUp)
            throw Error(ResultCode.VBOX_E_INVALID_VM_STATE, $"Cannot {what} while the machine is {st} (power it off or wait for the operation to finish)");
    }

    /// <summary>Runs a settings change with rollback: on failure the session's settings are restored and created files deleted.</summary>
    private T Transaction<T>(Func<List<string>, T> change)
    {
        MachineConfig backup = new(Cfg.Doc.Clone());
        var created = new List<string>();
        try
        {
            return change(created);
        }
        catch
        {
            _cfg = backup;
            foreach (string f in created)
            {
                try
                {
                    if (f.EndsWith(".vdi", StringComparison.OrdinalIgnoreCase) && File.Exists(f))
                        _vbox.Backend.Delete(f);
                    else if (File.Exists(f))
                        File.Delete(f);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or MediumBackendException)
                {
                }
            }
            throw;
        }
    }

    /// <summary>Creates a differencing VDI in the snapshot folder over <paramref name="parent"/>; returns its UUID and path.</summary>
    private (Guid Id, string Path) CreateSnapshotDiff(MediaView media, MediaView.Info parent, List<string> created)
    {
        Guid id = Guid.NewGuid();
        string path = Path.Combine(SnapshotFolder, $"{{{id:D}}}.vdi");
        Directory.CreateDirectory(SnapshotFolder);
        try { _vbox.Backend.CreateDiff(path, "VDI", parent.Location, media.Resolve, id); }
        catch (MediumBackendException e)
        {
            throw Error(ResultCode.VBOX_E_FILE_ERROR, $"Could not create the differencing image for '{parent.Location}': {e.Message}");
        }
        created.Add(path);
        return (id, path);
    }

    /// <summary>Whether a hard disk gets a differencing image when a snapshot is taken (VirtualBox: normal media only).</summary>
    private static bool TakesDiff(MediaView.Info m) => m.DeviceType == DeviceType.HardDisk && m.Type == MediumType.Normal;

    private void SaveWithApiLock()
    {
        lock (_vbox.ApiLock)
            SaveSettings();
    }

    // ---- Take ----------------------------------------------------------------------------------------

    public TakeSnapshotResult TakeSnapshot(string name, string description, bool pause)
    {
        if (string.IsNullOrWhiteSpace(name))
            throw Error(ResultCode.E_INVALIDARG, "The snapshot name must not be empty");
        // A running VM: the snapshot is taken by its session (the VM process holds the machine).
        if (!_mutable && _registered && !_isSnapshotView && _vbox.WriteSessionOf(_id) is Session vmSession
            && vmSession.LockType == LockType.VM && vmSession.LockedMachine is Machine vmMachine)
            return vmMachine.TakeSnapshotOnline(name, description ?? "", pause);
        Mut();
        if (_vbox.VmProcessOf(_id) != null)
            return TakeSnapshotOnline(name, description ?? "", pause);
        RequireOffline("take an offline snapshot");
        Guid snapshotId = Guid.NewGuid();
        Transaction(created =>
        {
            MachineConfig cfg = Cfg;
            // A saved machine's snapshot keeps a copy of the saved state, as VirtualBox's does.
            string? snapState = null;
            if (cfg.StateFile.Length > 0)
            {
                string src = FullPath(cfg.StateFile);
                if (!File.Exists(src))
                    throw Error(ResultCode.VBOX_E_FILE_ERROR, $"The saved state file '{src}' of the machine does not exist");
                Directory.CreateDirectory(SnapshotFolder);
                string dst = ComposeSavedStateFilename();
                File.Copy(src, dst);
                created.Add(dst);
                snapState = StoredPath(dst);
            }
            RecordSnapshot(snapshotId, name, description ?? "", snapState, created);
            return 0;
        });
        lock (_vbox.ApiLock)
            _vbox.Fire(VBoxEventType.SnapshotTaken, _id, snapshotId: snapshotId);
        return new TakeSnapshotResult(snapshotId, Progress.Completed100($"Taking snapshot of virtual machine '{Name}'"));
    }

    /// <summary>
    /// The snapshot element (the state as it is) and the switch of the current state's writable hard
    /// disks to new differencing images; then the settings are saved. Runs inside a transaction.
    /// </summary>
    private void RecordSnapshot(Guid snapshotId, string name, string description, string? snapState, List<string> created)
    {
        MachineConfig cfg = Cfg;
        var media = new MediaView(_vbox, cfg);
        var switches = new List<(AttachedDeviceXml Device, MediaView.Info Parent, Guid NewId, string NewPath)>();
        foreach ((AttachedDeviceXml dev, Guid mid) in HardDisks(cfg).ToList())
        {
            if (!media.ById.TryGetValue(mid, out MediaView.Info? m))
                throw Error(ResultCode.VBOX_E_OBJECT_NOT_FOUND, $"The medium {{{mid:D}}} attached to '{dev.Controller.Name}' port {dev.Port} device {dev.Device} is not in any media registry");
            if (!TakesDiff(m))
                continue;
            if (!cfg.MediaRegistry.Contains(m.Id))
                throw Error(ResultCode.VBOX_E_INVALID_OBJECT_STATE,
                    $"The medium '{m.Location}' is not in the media registry of the machine '{cfg.Name}' (it belongs to another machine); detach and attach it again first");
            (Guid id, string path) = CreateSnapshotDiff(media, m, created);
            switches.Add((dev, m, id, path));
        }
        // The snapshot records the state as it is; then the current state moves onto the new diffs.
        cfg.AddSnapshot(snapshotId, name, description, DateTime.UtcNow, snapState);
        foreach (var sw in switches)
        {
            StorageControllerXml? c = cfg.FindStorageController(sw.Device.Controller.Name);
            AttachedDeviceXml d = c?.FindDevice(sw.Device.Port, sw.Device.Device) ?? throw new InvalidOperationException("attachment vanished");
            d.ImageId = sw.NewId;
            cfg.MediaRegistry.Add(new MediumEntry { Id = sw.NewId, Location = sw.NewPath, Format = "VDI", DeviceType = DeviceType.HardDisk, Type = MediumType.Normal }, sw.Parent.Id);
        }
        SaveWithApiLock();
    }

    /// <summary>
    /// A snapshot of a running VM (this is the VM session's machine): the VM is paused, its state saved
    /// into the snapshot folder, its disk images closed while the settings and differencing images are
    /// recorded and then reopened (now the new differencing images), and the VM resumed. A live take
    /// differs only in the state reported meanwhile (LiveSnapshotting).
    /// </summary>
    private TakeSnapshotResult TakeSnapshotOnline(string name, string description, bool pause)
    {
        VmProcessInfo p = _vbox.VmProcessOf(_id) ?? throw Error(ResultCode.VBOX_E_INVALID_VM_STATE, "The machine is not running");
        MachineState before = _vbox.LiveStateOf(_id) ?? MachineState.Null;
        if (before is not (MachineState.Running or MachineState.Paused))
            throw Error(ResultCode.VBOX_E_INVALID_VM_STATE, $"Cannot take a snapshot of the machine while it is {before}");
        Guid snapshotId = Guid.NewGuid();
        Directory.CreateDirectory(SnapshotFolder);
        string stateFile = ComposeSavedStateFilename();
        _vbox.VmReportsState(_id, pause ? MachineState.OnlineSnapshotting : MachineState.LiveSnapshotting);
        string vmName = Name;
        IProgress progress = Progress.Start($"Taking snapshot of virtual machine '{vmName}'", Component, Iface, pr =>
        {
            bool paused = false;
            try
            {
                // Paused also for --live: the saved state and the disks' switch to new differencing
                // images must be at the same instant (the save itself stops the VM anyway).
                if (before == MachineState.Running)
                {
                    Expect(VmControlClient.Send(p.ControlSocket, "pause", TimeSpan.FromSeconds(60)), "pause");
                    paused = true;
                }
                pr.Report(10);
                Expect(VmControlClient.Send(p.ControlSocket, "savestate-continue " + stateFile, TimeSpan.FromMinutes(10)), "save the state");
                pr.Report(80);
                // The VM holds its images locked: it closes them while the differencing images are
                // made over them, then opens what the settings name (the new ones, or the old ones
                // again if recording the snapshot failed).
                Expect(VmControlClient.Send(p.ControlSocket, "disks-close", TimeSpan.FromMinutes(2)), "close its disk images");
                try
                {
                    lock (_vbox.ApiLock)
                    {
                        Transaction(created =>
                        {
                            created.Add(stateFile);
                            RecordSnapshot(snapshotId, name, description, StoredPath(stateFile), created);
                            return 0;
                        });
                        _vbox.Fire(VBoxEventType.SnapshotTaken, _id, snapshotId: snapshotId);
                    }
                }
                finally
                {
                    Expect(VmControlClient.Send(p.ControlSocket, "disks-open", TimeSpan.FromMinutes(2)), "open its disk images again");
                }
            }
            finally
            {
                if (paused)
                {
                    try { VmControlClient.Send(p.ControlSocket, "resume", TimeSpan.FromSeconds(60)); }
                    catch (VBoxException) { }
                }
                lock (_vbox.ApiLock)
                    if (_vbox.LiveStateOf(_id) is MachineState.OnlineSnapshotting or MachineState.LiveSnapshotting)
                        _vbox.VmReportsState(_id, before);
            }
        });
        return new TakeSnapshotResult(snapshotId, progress);
    }

    private static void Expect(string reply, string what)
    {
        if (!reply.StartsWith("ok", StringComparison.Ordinal))
            throw Error(ResultCode.VBOX_E_VM_ERROR, $"The VM could not {what}: {(reply.StartsWith("error: ", StringComparison.Ordinal) ? reply[7..] : reply.Length == 0 ? "no answer" : reply)}");
    }

    /// <summary>Records the saved state the VM process wrote (it ends Saved); on the VM session's machine.</summary>
    internal void RecordStateFile(string full)
    {
        Mut();
        MachineConfig cfg = Cfg;
        cfg.StateFile = StoredPath(full);
        cfg.LastStateChange = DateTime.UtcNow;
        SaveSettings();
    }

    /// <summary>controlvm setlinkstate: the cable setting of the running VM, kept in its settings.</summary>
    internal void SetCableConnectedAtRuntime(uint slot, bool connected)
    {
        Mut();
        GetNetworkAdapter(slot).CableConnected = connected;
        SaveSettings();
    }

    // ---- Start -------------------------------------------------------------------------------------

    public IProgress LaunchVMProcess(ISession session, string type, IReadOnlyList<string> environment)
    {
        if (session is not Session s)
            throw Error(ResultCode.E_INVALIDARG, "Invalid session object");
        if (s.IsLocked)
            throw Error(ResultCode.VBOX_E_INVALID_OBJECT_STATE, "The given session is busy");
        if (!_registered || _isSnapshotView)
            throw Error(ResultCode.VBOX_E_INVALID_OBJECT_STATE, "Cannot start a machine that is not registered");
        MachineConfig cfg = Cfg;
        string frontend = string.IsNullOrEmpty(type) ? "headless" : type.ToLowerInvariant();
        if (frontend != "headless")
            throw Error(ResultCode.VBOX_E_NOT_SUPPORTED, $"The front end '{type}' is not available: SharpBox runs VMs headless (use --type headless)");
        if (_vbox.WriteSessionOf(_id) != null)
            throw Error(ResultCode.VBOX_E_INVALID_OBJECT_STATE, $"The machine '{cfg.Name}' is already locked by a session (or being locked or unlocked)");
        MachineState st = State;
        if (st is not (MachineState.PoweredOff or MachineState.Saved or MachineState.Aborted or MachineState.AbortedSaved or MachineState.Teleported))
            throw Error(ResultCode.VBOX_E_INVALID_VM_STATE, $"The machine '{cfg.Name}' is not powered off (machine state: {st})");
        IVmLauncher launcher = _vbox.Launcher
            ?? throw Error(ResultCode.VBOX_E_NOT_SUPPORTED, "Starting VMs is done by VBoxSVC (VBoxManage and other clients ask it)");
        string name = cfg.Name;
        bool restoring = st is MachineState.Saved or MachineState.AbortedSaved;
        _vbox.SetLiveState(_id, restoring ? MachineState.Restoring : MachineState.Starting);
        int pid;
        try
        {
            pid = launcher.Launch(_id, name, frontend, environment);
        }
        catch
        {
            _vbox.SetLiveState(_id, null);
            throw;
        }
        return Progress.Start($"Starting virtual machine '{name}'", Component, Iface, p =>
        {
            var sw = Stopwatch.StartNew();
            while (true)
            {
                lock (_vbox.ApiLock)
                {
                    MachineState? live = _vbox.LiveStateOf(_id);
                    VmProcessInfo? proc = _vbox.VmProcessOf(_id);
                    if (proc != null && live is MachineState.Running or MachineState.Paused)
                    {
                        // The client's session becomes a shared one next to the VM (its console).
                        if (!s.IsLocked)
                        {
                            s.Attach(_vbox, _id, this, null, SessionType.Shared, LockType.Shared);
                            _vbox.SessionStarted(_id, s, shared: true);
                        }
                        return;
                    }
                    bool exited = launcher.HasExited(pid, out string lastError);
                    if (exited && (proc == null || live == null))
                    {
                        if (live is MachineState.Starting or MachineState.Restoring && proc == null)
                            _vbox.SetLiveState(_id, null);
                        throw Error(ResultCode.VBOX_E_VM_ERROR,
                            $"The VM process for '{name}' (pid {pid}) ended before the VM ran" + (lastError.Length > 0 ? $": {lastError}" : ""));
                    }
                }
                if (sw.Elapsed > TimeSpan.FromMinutes(2))
                    throw Error(ResultCode.VBOX_E_VM_ERROR, $"The VM process for '{name}' (pid {pid}) did not get the VM running within 2 minutes");
                Thread.Sleep(5);
                p.Report((int)Math.Min(90, sw.ElapsedMilliseconds / 50));
            }
        });
    }

    // ---- Restore -------------------------------------------------------------------------------------

    public IProgress RestoreSnapshot(ISnapshot snapshot)
    {
        if (_vbox.LiveStateOf(_id) is MachineState live)
            throw Error(ResultCode.VBOX_E_INVALID_VM_STATE, $"Cannot restore a snapshot of the running machine '{DisplayName}' (machine state: {live}); power it off first");
        Mut();
        if (snapshot is not Snapshot s || s.Owner._id != _id)
            throw Error(ResultCode.E_INVALIDARG, "The snapshot does not belong to this machine");
        RequireOffline("restore a snapshot");
        MachineConfig cfg0 = Cfg;
        SnapshotXml snap0 = cfg0.FindSnapshot(s.Id) ?? throw Error(ResultCode.VBOX_E_OBJECT_NOT_FOUND, $"Could not find a snapshot with UUID {{{s.Id:D}}}");
        string snapName = snap0.Name;
        MachineState before = State;
        var toDelete = new List<string>();
        Transaction(created =>
        {
            MachineConfig cfg = Cfg;
            SnapshotXml snap = cfg.FindSnapshot(s.Id)!;
            var media = new MediaView(_vbox, cfg);
            var oldDisks = HardDisks(cfg).Select(x => x.Medium).ToList();
            string oldState = FullPath(cfg.StateFile);

            cfg.RestoreStateElements(snap);
            foreach ((AttachedDeviceXml dev, Guid mid) in HardDisks(cfg).ToList())
            {
                if (!media.ById.TryGetValue(mid, out MediaView.Info? m))
                    throw Error(ResultCode.VBOX_E_OBJECT_NOT_FOUND, $"The medium {{{mid:D}}} of snapshot '{snap.Name}' is not in any media registry");
                if (!TakesDiff(m))
                    continue;
                (Guid id, string path) = CreateSnapshotDiff(media, m, created);
                dev.ImageId = id;
                cfg.MediaRegistry.Add(new MediumEntry { Id = id, Location = path, Format = "VDI", DeviceType = DeviceType.HardDisk, Type = MediumType.Normal }, m.Id);
            }
            // The old current state's own differencing images go (those no snapshot and nothing else uses).
            foreach (Guid old in oldDisks.Distinct())
            {
                if (!media.ById.TryGetValue(old, out MediaView.Info? m) || m.Parent == null || !TakesDiff(m))
                    continue;
                if (CountRefs(cfg, old) > 0 || media.ChildrenOf(old).Count > 0 || !cfg.MediaRegistry.Contains(old))
                    continue;
                cfg.MediaRegistry.Remove(old);
                toDelete.Add(m.Location);
            }
            // The saved state: the snapshot's (copied) for an online snapshot, none otherwise.
            if (oldState.Length > 0 && !cfg.AllSnapshots().Any(x => FullPath(x.StateFile) == oldState))
                toDelete.Add(oldState);
            cfg.StateFile = "";
            if (snap.StateFile.Length > 0)
            {
                string src = FullPath(snap.StateFile);
                if (!File.Exists(src))
                    throw Error(ResultCode.VBOX_E_FILE_ERROR, $"The saved state file '{src}' of snapshot '{snap.Name}' does not exist");
                string dst = ComposeSavedStateFilename();
                File.Copy(src, dst);
                created.Add(dst);
                cfg.StateFile = StoredPath(dst);
            }
            cfg.Aborted = false;
            cfg.CurrentSnapshotId = snap.Id;
            cfg.CurrentStateModified = false;
            cfg.LastStateChange = DateTime.UtcNow;
            SaveWithApiLock();
            return 0;
        });
        DeleteFilesQuietly(toDelete);
        lock (_vbox.ApiLock)
        {
            _vbox.Fire(VBoxEventType.SnapshotRestored, _id, snapshotId: s.Id);
            MachineState after = SettingsState;
            if (after != before)
                _vbox.Fire(VBoxEventType.MachineStateChanged, _id, state: after);
        }
        return Progress.Completed100($"Restoring snapshot '{snapName}'");
    }

    private void DeleteFilesQuietly(IEnumerable<string> files)
    {
        foreach (string f in files)
        {
            try
            {
                if (!File.Exists(f))
                    continue;
                if (f.EndsWith(".sav", StringComparison.OrdinalIgnoreCase))
                    File.Delete(f);
                else
                    _vbox.Backend.Delete(f);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or MediumBackendException)
            {
                // Left behind; the settings no longer refer to it.
            }
        }
    }

    // ---- Delete --------------------------------------------------------------------------------------

    public IProgress DeleteSnapshot(Guid id)
    {
        if (_vbox.LiveStateOf(_id) is MachineState live)
            throw Error(ResultCode.VBOX_E_INVALID_VM_STATE, $"Cannot delete a snapshot of the running machine '{DisplayName}' (machine state: {live}); power it off first");
        Mut();
        RequireOffline("delete a snapshot");
        MachineConfig cfg0 = Cfg;
        SnapshotXml snap0 = cfg0.FindSnapshot(id) ?? throw Error(ResultCode.VBOX_E_OBJECT_NOT_FOUND, $"Could not find a snapshot with UUID {{{id:D}}}");
        string snapName = snap0.Name;
        int childCount = snap0.Children.Count;
        if (childCount > 1)
            throw Error(ResultCode.VBOX_E_INVALID_OBJECT_STATE,
                $"Snapshot '{snapName}' of the machine '{cfg0.Name}' cannot be deleted, because it has {childCount} child snapshots, which is more than the one snapshot allowed for deletion");

        // Plan (and check) every merge before touching anything.
        var media0 = new MediaView(_vbox, cfg0);
        var merges = new List<(MediaView.Info Target, MediaView.Info Source, IReadOnlyList<Guid> Grandchildren)>();
        var drops = new List<MediaView.Info>();
        foreach ((AttachedDeviceXml _, Guid mid) in HardDisks(snap0.AsMachineConfig()))
        {
            if (!media0.ById.TryGetValue(mid, out MediaView.Info? m) || !TakesDiff(m))
                continue;
            if (merges.Any(x => x.Target.Id == mid) || drops.Any(x => x.Id == mid))
                continue;
            IReadOnlyList<Guid> children = media0.ChildrenOf(mid);
            int refs = CountRefs(cfg0, mid);
            if (children.Count > 1)
                throw Error(ResultCode.VBOX_E_INVALID_OBJECT_STATE,
                    $"Hard disk '{m.Location}' of snapshot '{snapName}' has more than one child hard disk ({children.Count}); the snapshot cannot be deleted");
            if (refs > 1)
                throw Error(ResultCode.VBOX_E_INVALID_OBJECT_STATE,
                    $"Hard disk '{m.Location}' of snapshot '{snapName}' is also used by another state of the machine; the snapshot cannot be deleted");
            if (children.Count == 1)
            {
                MediaView.Info child = media0.ById[children[0]];
                if (!cfg0.MediaRegistry.Contains(child.Id) || !cfg0.MediaRegistry.Contains(m.Id))
                    throw Error(ResultCode.VBOX_E_INVALID_OBJECT_STATE,
                        $"Hard disk '{child.Location}' is not in the media registry of the machine '{cfg0.Name}'; the snapshot cannot be deleted");
                if (!string.Equals(child.Format, "VDI", StringComparison.OrdinalIgnoreCase))
                    throw Error(ResultCode.VBOX_E_NOT_SUPPORTED, $"Hard disk '{child.Location}' is not a VDI differencing image; it cannot be merged");
                merges.Add((m, child, media0.ChildrenOf(child.Id)));
            }
            else if (m.Parent != null && cfg0.MediaRegistry.Contains(m.Id))
                drops.Add(m); // Only this snapshot used it.
        }

        return Progress.Start($"Deleting snapshot '{snapName}'", Component, Iface, p =>
        {
            var toDelete = new List<string>();
            int step = 0, steps = Math.Max(1, merges.Count);
            // 1. Merge each child image into the snapshot's image. A crash here leaves the current
            //    state intact: only blocks the child holds (and that the child shows) are copied.
            foreach (var mg in merges)
            {
                int done = step++;
                try
                {
                    _vbox.Backend.MergeIntoParent(mg.Source.Location, media0.Resolve, pct => p.Report((done * 100 + pct) / steps * 90 / 100));
                    foreach (Guid gc in mg.Grandchildren)
                        _vbox.Backend.SetParent(media0.ById[gc].Location, mg.Target.Location);
                }
                catch (MediumBackendException e)
                {
                    throw Error(ResultCode.VBOX_E_FILE_ERROR, $"Could not merge '{mg.Source.Location}' into '{mg.Target.Location}': {e.Message}");
                }
            }
            // 2. The settings: references to the merged children now name the snapshot's images.
            lock (_vbox.ApiLock)
            {
                Transaction(_ =>
                {
                    MachineConfig cfg = Cfg;
                    SnapshotXml snap = cfg.FindSnapshot(id) ?? throw Error(ResultCode.VBOX_E_OBJECT_NOT_FOUND, $"Could not find a snapshot with UUID {{{id:D}}}");
                    string snapState = FullPath(snap.StateFile);
                    Guid? parentId = snap.Parent?.Id;
                    Guid? current = cfg.CurrentSnapshotId;
                    cfg.RemoveSnapshot(snap);
                    if (current == id)
                        cfg.CurrentSnapshotId = parentId;
                    foreach (var mg in merges)
                    {
                        foreach (XElement img in AllImageRefs(cfg))
                            if (XmlUtil.TryParseUuid(img.Attr("uuid") ?? "", out Guid g) && g == mg.Source.Id)
                                img.SetAttributeValue("uuid", XmlUtil.FormatUuid(mg.Target.Id));
                        cfg.MediaRegistry.MoveChildren(mg.Source.Id, mg.Target.Id);
                        cfg.MediaRegistry.Remove(mg.Source.Id);
                        toDelete.Add(mg.Source.Location);
                    }
                    foreach (MediaView.Info d in drops)
                    {
                        if (CountRefs(cfg, d.Id) > 0)
                            continue;
                        cfg.MediaRegistry.Remove(d.Id);
                        toDelete.Add(d.Location);
                    }
                    if (snapState.Length > 0 && FullPath(cfg.StateFile) != snapState)
                        toDelete.Add(snapState);
                    SaveSettings();
                    return 0;
                });
                _vbox.Fire(VBoxEventType.SnapshotDeleted, _id, snapshotId: id);
            }
            // 3. The merged children and the snapshot's own files are no longer referenced.
            DeleteFilesQuietly(toDelete);
            lock (_snapshots)
                _snapshots.Remove(id);
            p.Report(99);
        });
    }

    // ---- Saved state ---------------------------------------------------------------------------------

    public void DiscardSavedState(bool removeFile)
    {
        Mut();
        MachineState st = State;
        if (st is not (MachineState.Saved or MachineState.AbortedSaved))
            throw Error(ResultCode.VBOX_E_INVALID_VM_STATE, $"Cannot discard the saved state as the machine is not in the Saved state (machine state: {st})");
        MachineConfig cfg = Cfg;
        string file = FullPath(cfg.StateFile);
        Transaction(_ =>
        {
            cfg.StateFile = "";
            cfg.LastStateChange = DateTime.UtcNow;
            SaveWithApiLock();
            return 0;
        });
        if (removeFile && file.Length > 0 && !Cfg.AllSnapshots().Any(x => FullPath(x.StateFile) == file))
            DeleteFilesQuietly(new[] { file });
        lock (_vbox.ApiLock)
            _vbox.Fire(VBoxEventType.MachineStateChanged, _id, state: SettingsState);
    }

    public void AdoptSavedState(string savedStateFile)
    {
        Mut();
        MachineState st = State;
        if (st is not (MachineState.PoweredOff or MachineState.Aborted))
            throw Error(ResultCode.VBOX_E_INVALID_VM_STATE, $"Cannot adopt the saved machine state as the machine is not in Powered Off or Aborted state (machine state: {st})");
        if (string.IsNullOrEmpty(savedStateFile))
            throw Error(ResultCode.E_INVALIDARG, "The saved state file name must not be empty");
        string full = Path.GetFullPath(savedStateFile, MachineFolderPath);
        if (!File.Exists(full))
            throw Error(ResultCode.VBOX_E_FILE_ERROR, $"Saved state file '{full}' does not exist (VERR_FILE_NOT_FOUND)");
        string? problem = SavedStateFile.Check(full);
        if (problem != null)
            throw Error(ResultCode.VBOX_E_FILE_ERROR, $"'{full}' is not a saved state file: {problem}");
        MachineConfig cfg = Cfg;
        Transaction(_ =>
        {
            cfg.StateFile = StoredPath(full);
            cfg.LastStateChange = DateTime.UtcNow;
            SaveWithApiLock();
            return 0;
        });
        lock (_vbox.ApiLock)
            _vbox.Fire(VBoxEventType.MachineStateChanged, _id, state: SettingsState);
    }
}

/// <summary>A snapshot of a machine, addressed by its UUID; reads go to the owning machine's settings.</summary>
internal sealed class Snapshot : ISnapshot
{
    internal Machine Owner { get; }
    public Guid Id { get; }

    public Snapshot(Machine owner, Guid id)
    {
        Owner = owner;
        Id = id;
    }

    private static VBoxException Error(int rc, string message) => new(rc, message, "SnapshotWrap", "ISnapshot");

    private SnapshotXml X => Owner.Cfg.FindSnapshot(Id)
        ?? throw Error(ResultCode.VBOX_E_OBJECT_NOT_FOUND, $"The snapshot {{{Id:D}}} no longer exists");

    public string Name
    {
        get => X.Name;
        set
        {
            if (string.IsNullOrWhiteSpace(value))
                throw Error(ResultCode.E_INVALIDARG, "The snapshot name must not be empty");
            Owner.ChangeSnapshot(this, x => x.Name = value);
        }
    }

    public string Description
    {
        get => X.Description;
        set => Owner.ChangeSnapshot(this, x => x.Description = value ?? "");
    }

    public DateTime TimeStamp => X.TimeStamp;
    public bool Online => X.StateFile.Length > 0;
    public IMachine Machine => Owner.SnapshotMachine(X);
    public ISnapshot? Parent => X.Parent is SnapshotXml p ? Owner.SnapshotObject(p.Id) : null;
    public IReadOnlyList<ISnapshot> Children => X.Children.Select(c => (ISnapshot)Owner.SnapshotObject(c.Id)).ToList();
    public uint ChildrenCount => (uint)X.Children.Count;
}
