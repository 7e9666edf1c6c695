namespace SharpBox.Main.Api;

// The Main API as clients (VBoxManage, later the web manager) see it. It mirrors the shape of
// VirtualBox's IVirtualBox/IMachine/IMedium/ISession/IProgress so that front-end code reads like
// VirtualBox's. The rules that keep it transport-friendly for the VBoxSVC issue:
//  * every object is identified by plain data (machine and medium UUIDs, progress id, controller
//    name within a machine), so a remote proxy needs only that identity;
//  * arguments and results are strings, numbers, enums, Guids, records or other API interfaces;
//  * there are no callbacks: long operations return an IProgress that the client polls, and events
//    are fetched from an IEventSource by passive listeners (VirtualBox's pull model), which a remote
//    transport feeds by pushing;
//  * errors are VBoxException carrying a plain VBoxErrorInfo.

/// <summary>A guest OS type with VirtualBox's recommended defaults (plain data).</summary>
public sealed record GuestOSType(
    string FamilyId,
    string FamilyDescription,
    string Id,
    string Description,
    bool Is64Bit,
    bool RecommendedIOAPIC,
    bool RecommendedVirtEx,
    bool RecommendedPAE,
    bool RecommendedX2APIC,
    bool RecommendedRTCUseUTC,
    bool RecommendedEFI,
    bool RecommendedHPET,
    bool RecommendedUSBTablet,
    bool RecommendedUSB3,
    bool RecommendedUSB,
    bool RecommendedFloppy,
    uint RecommendedCPUCount,
    uint RecommendedRAM,
    uint RecommendedVRAM,
    long RecommendedHDD,
    GraphicsControllerType RecommendedGraphicsController,
    NetworkAdapterType AdapterType,
    StorageControllerType RecommendedDVDStorageController,
    StorageBus RecommendedDVDStorageBus,
    StorageControllerType RecommendedHDStorageController,
    StorageBus RecommendedHDStorageBus,
    ChipsetType RecommendedChipset,
    AudioControllerType RecommendedAudioController,
    AudioCodecType RecommendedAudioCodec);

/// <summary>
/// One entry of the machine registry, cheap to list (no .vbox parsing beyond its Machine element):
/// the state is the live one while a VM process runs the machine, else what the file says
/// (saved, aborted, powered off).
/// </summary>
public sealed record MachineSummary(Guid Id, string Name, string SettingsFilePath, bool Accessible, MachineState State = MachineState.Null);

public interface IVirtualBox
{
    /// <summary>Product version string, e.g. "7.0.20".</summary>
    string Version { get; }
    uint Revision { get; }
    string APIVersion { get; }
    /// <summary>The global configuration directory (VBOX_USER_HOME and friends).</summary>
    string HomeFolder { get; }
    string SettingsFilePath { get; }
    ISystemProperties SystemProperties { get; }
    IHost Host { get; }

    /// <summary>All registered machines, in registry order.</summary>
    IReadOnlyList<IMachine> Machines { get; }
    /// <summary>Names and UUIDs of all registered machines without loading them fully.</summary>
    IReadOnlyList<MachineSummary> GetMachineSummaries();
    IMachine FindMachine(string nameOrId);
    string ComposeMachineFilename(string name, string? group, string? createFlags, string? baseFolder);
    IMachine CreateMachine(string? settingsFile, string name, IReadOnlyList<string> groups, string? osTypeId, string? createFlags);
    IMachine OpenMachine(string settingsFile);
    void RegisterMachine(IMachine machine);
    ISession CreateSession();

    IReadOnlyList<GuestOSType> GuestOSTypes { get; }
    GuestOSType? GetGuestOSType(string id);

    IReadOnlyList<IMedium> HardDisks { get; }
    IReadOnlyList<IMedium> DVDImages { get; }
    IReadOnlyList<IMedium> FloppyImages { get; }
    IMedium OpenMedium(string locationOrId, DeviceType deviceType, AccessMode accessMode, bool forceNewUuid);
    IMedium CreateMedium(string format, string location, AccessMode accessMode, DeviceType deviceType);

    IReadOnlyList<string> GetExtraDataKeys();
    string GetExtraData(string key);
    void SetExtraData(string key, string? value);

    /// <summary>Events of this VirtualBox (machine state and settings, registrations, media, snapshots, sessions).</summary>
    IEventSource EventSource { get; }
}

public interface ISystemProperties
{
    uint MinGuestRAM { get; }
    uint MaxGuestRAM { get; }
    uint MinGuestVRAM { get; }
    uint MaxGuestVRAM { get; }
    uint MinGuestCPUCount { get; }
    uint MaxGuestCPUCount { get; }
    uint MaxGuestMonitors { get; }
    long InfoVDSize { get; }
    uint SerialPortCount { get; }
    uint ParallelPortCount { get; }
    uint MaxBootPosition { get; }
    bool RawModeSupported { get; }
    bool ExclusiveHwVirt { get; set; }
    uint GetMaxNetworkAdapters(ChipsetType chipset);
    uint GetMaxInstancesOfStorageBus(ChipsetType chipset, StorageBus bus);
    uint GetMaxPortCountForStorageBus(StorageBus bus);
    uint GetMinPortCountForStorageBus(StorageBus bus);
    uint GetMaxDevicesPerPortForStorageBus(StorageBus bus);
    IReadOnlyList<DeviceType> GetDeviceTypesForStorageBus(StorageBus bus);
    /// <summary>The default machine folder; setting null or empty restores the default.</summary>
    string DefaultMachineFolder { get; set; }
    string DefaultHardDiskFormat { get; }
    string VRDEAuthLibrary { get; set; }
    string WebServiceAuthLibrary { get; set; }
    string DefaultVRDEExtPack { get; set; }
    string DefaultCryptoExtPack { get; }
    uint LogHistoryCount { get; set; }
    string DefaultFrontend { get; set; }
    string AutostartDatabasePath { get; set; }
    string DefaultAdditionsISO { get; }
    string LoggingLevel { get; set; }
    string ProxyMode { get; set; }
    string ProxyURL { get; set; }
    string LanguageId { get; set; }
    IReadOnlyList<string> MediumFormats { get; }
}

/// <summary>Host facts (plain values).</summary>
public interface IHost
{
    DateTime UTCTime { get; }
    uint ProcessorOnlineCount { get; }
    uint ProcessorCount { get; }
    uint ProcessorOnlineCoreCount { get; }
    uint ProcessorCoreCount { get; }
    bool GetProcessorFeature(string feature);
    uint GetProcessorSpeed(uint cpu);
    string GetProcessorDescription(uint cpu);
    uint MemorySize { get; }
    uint MemoryAvailable { get; }
    string OperatingSystem { get; }
    string OSVersion { get; }
}

public interface IProgress
{
    Guid Id { get; }
    string Description { get; }
    bool Cancelable { get; }
    uint Percent { get; }
    bool Completed { get; }
    bool Canceled { get; }
    /// <summary>Result code once completed (0 on success).</summary>
    int ResultCode { get; }
    VBoxErrorInfo? ErrorInfo { get; }
    uint OperationCount { get; }
    uint Operation { get; }
    string OperationDescription { get; }
    uint OperationPercent { get; }
    int TimeRemaining { get; }
    /// <summary>Waits up to <paramref name="timeoutMs"/> milliseconds (negative: forever) for completion or a change of percent.</summary>
    void WaitForCompletion(int timeoutMs);
    void Cancel();
}

public interface ISession
{
    SessionState State { get; }
    SessionType Type { get; }
    /// <summary>The mutable machine while the session holds a lock.</summary>
    IMachine Machine { get; }
    /// <summary>The console of the running VM (a shared session next to the VM process, or the VM's own).</summary>
    IConsole Console { get; }
    /// <summary>For the VM process only (a LockType.VM session): how it reports to VBoxSVC.</summary>
    IInternalMachineControl Control { get; }
    /// <summary>Releases the lock; unsaved changes are discarded.</summary>
    void UnlockMachine();
}

/// <summary>
/// The console of a running VM: what VBoxManage controlvm does. VBoxSVC forwards each call to the VM
/// process. Long operations (power down, save state) return a progress that completes when the VM
/// process has done them.
/// </summary>
public interface IConsole
{
    IMachine Machine { get; }
    MachineState State { get; }
    void Pause();
    void Resume();
    void Reset();
    /// <summary>Presses the ACPI power button (the guest decides what to do).</summary>
    void PowerButton();
    /// <summary>Powers the VM off (like pulling the plug); completes when the VM process has ended.</summary>
    IProgress PowerDown();
    /// <summary>Saves the VM's state to a file in the snapshot folder (recorded as the machine's stateFile) and ends the VM process.</summary>
    IProgress SaveState();
    /// <summary>Sends PC keyboard scancodes (set 1, as VirtualBox's IKeyboard) to the guest.</summary>
    void PutScancodes(IReadOnlyList<int> scancodes);
    /// <summary>Plugs or unplugs the cable of a network adapter (slot 0..N-1); the setting is kept.</summary>
    void SetLinkState(uint slot, bool connected);
    /// <summary>A PNG of the guest screen (only when the VM has a display).</summary>
    byte[] TakeScreenshotPng(uint screen);
    /// <summary>The VM's debugger (VBoxManage debugvm).</summary>
    IMachineDebugger Debugger { get; }
}

/// <summary>One register as <see cref="IMachineDebugger.GetRegisters"/> lists it (DBGF's name, 0x-prefixed hex value).</summary>
public sealed record DebuggerRegister(string Name, string Value);

/// <summary>
/// The debugger of a running VM (VirtualBox's IMachineDebugger, as VBoxManage debugvm uses it). Each
/// call goes to the VM process; calls that read or change vCPU state stop the guest for that moment.
/// </summary>
public interface IMachineDebugger
{
    /// <summary>An info item (registers, cpuid, mmio, ioports, devices, timers, help) as text.</summary>
    string Info(string name, string args);
    /// <summary>Names the guest OS from what is in its memory; VBOX_E_VM_ERROR when none is recognised.</summary>
    string DetectOS();
    string OSName { get; }
    string OSVersion { get; }
    /// <summary>Writes an ELF core of the VM (registers of every vCPU, all RAM) to an absolute path that does not exist yet.</summary>
    void DumpGuestCore(string filename, string compression);
    string GetRegister(uint cpuId, string name);
    IReadOnlyList<DebuggerRegister> GetRegisters(uint cpuId);
    void SetRegister(uint cpuId, string name, string value);
    void SetRegisters(uint cpuId, IReadOnlyList<string> names, IReadOnlyList<string> values);
    void InjectNMI();
    /// <summary>Counters as XML (VirtualBox's getStats layout); pattern: globs separated by |, empty for all.</summary>
    string GetStats(string pattern, bool withDescriptions);
    /// <summary>The engine running the vCPUs: Emulated (software CPU) or NativeApi (KVM).</summary>
    VMExecutionEngine ExecutionEngine { get; }
    /// <summary>Nested paging (EPT/NPT) in effect: the host's KVM module reports it active (false on the software CPU or when the module does not say).</summary>
    bool HWVirtExNestedPagingEnabled { get; }
    bool HWVirtExVPIDEnabled { get; }
    bool HWVirtExUXEnabled { get; }
    /// <summary>SharpBox: guest RAM is backed by 2 MiB host pages where the host allows (--large-pages on the KVM engine).</summary>
    bool HWVirtExLargePagesEnabled { get; }
    /// <summary>SharpBox: the engine facts as the VM process reports them, "key=value" per line (engine, nestedpaging, vpid, unrestricted, largepages: on/off/unknown; reason).</summary>
    string EngineInfo { get; }
}

/// <summary>
/// What a VM process (VBoxHeadless) tells VBoxSVC about the VM it runs, through its LockType.VM
/// session (VirtualBox's IInternalMachineControl). VBoxSVC drives the VM through the control socket
/// the process registers.
/// </summary>
public interface IInternalMachineControl
{
    /// <summary>The VM process is up: its pid, the Unix socket it takes control commands on, and its state.</summary>
    void RegisterVmProcess(int pid, string controlSocket, MachineState state);
    /// <summary>The VM changed state (Running, Paused, Saving, Restoring, Stopping, PoweredOff ...).</summary>
    void UpdateState(MachineState state);
    /// <summary>The VM was restored from the machine's saved state: VBoxSVC forgets (and deletes) it.</summary>
    void StateRestored();
    /// <summary>The VM saved its state to <paramref name="stateFile"/> and stops: the machine becomes Saved.</summary>
    void StateSaved(string stateFile);
    /// <summary>A new saved-state file name in the snapshot folder (VirtualBox's timestamp naming).</summary>
    string ComposeSavedStateFilename();
}

/// <summary>One attachment slot on a storage controller (plain data).</summary>
public sealed record MediumAttachment(
    string Controller,
    int Port,
    int Device,
    DeviceType Type,
    Guid? MediumId,
    string? HostDrive,
    bool Passthrough,
    bool TemporaryEject,
    bool IsEjected,
    bool NonRotational,
    bool Discard,
    bool HotPluggable,
    string? BandwidthGroup);

public interface IStorageController
{
    string Name { get; set; }
    StorageBus Bus { get; }
    StorageControllerType ControllerType { get; set; }
    uint Instance { get; }
    uint PortCount { get; set; }
    uint MaxPortCount { get; }
    uint MinPortCount { get; }
    uint MaxDevicesPerPortCount { get; }
    bool UseHostIOCache { get; set; }
    bool Bootable { get; set; }
}

public interface INetworkAdapter
{
    uint Slot { get; }
    bool Enabled { get; set; }
    NetworkAdapterType AdapterType { get; set; }
    string MACAddress { get; set; }
    bool CableConnected { get; set; }
    uint LineSpeed { get; set; }
    NetworkAttachmentType AttachmentType { get; set; }
    string BridgedInterface { get; set; }
    string InternalNetwork { get; set; }
    string HostOnlyInterface { get; set; }
    string NATNetwork { get; set; }
    string GenericDriver { get; set; }
    uint BootPriority { get; set; }
    NetworkAdapterPromiscModePolicy PromiscModePolicy { get; set; }
    bool TraceEnabled { get; set; }
    string TraceFile { get; set; }
}

public interface ISerialPort
{
    uint Slot { get; }
    bool Enabled { get; set; }
    uint IOBase { get; set; }
    uint IRQ { get; set; }
    PortMode HostMode { get; set; }
    string Path { get; set; }
    bool Server { get; set; }
    UartType UartType { get; set; }
}

public interface IMachine
{
    Guid Id { get; }
    bool Accessible { get; }
    /// <summary>Why the machine is inaccessible (null when accessible).</summary>
    VBoxErrorInfo? AccessError { get; }
    string Name { get; set; }
    string Description { get; set; }
    IReadOnlyList<string> Groups { get; set; }
    string OSTypeId { get; set; }
    string SettingsFilePath { get; }
    string SettingsFileVersion { get; }
    string SnapshotFolder { get; set; }
    string LogFolder { get; }
    Guid HardwareUUID { get; set; }
    uint MemorySize { get; set; }
    bool PageFusionEnabled { get; set; }
    uint CPUCount { get; set; }
    uint CPUExecutionCap { get; set; }
    bool HPETEnabled { get; set; }
    string CPUProfile { get; }
    ChipsetType ChipsetType { get; set; }
    FirmwareType FirmwareType { get; set; }
    bool GetCPUProperty(CpuPropertyType property);
    void SetCPUProperty(CpuPropertyType property, bool value);
    bool GetHWVirtExProperty(HWVirtExPropertyType property);
    void SetHWVirtExProperty(HWVirtExPropertyType property, bool value);
    ParavirtProvider ParavirtProvider { get; set; }
    string ParavirtDebug { get; set; }
    ParavirtProvider GetEffectiveParavirtProvider();
    uint CPUIDPortabilityLevel { get; }
    MachineState State { get; }
    DateTime LastStateChange { get; }
    string StateFilePath { get; }
    bool RTCUseUTC { get; set; }

    // Sessions (who holds the machine's lock)
    SessionState SessionState { get; }
    /// <summary>The kind of client holding the write lock ("headless", "VBoxManage", ...); empty when unlocked.</summary>
    string SessionName { get; }
    /// <summary>Process id of the client holding the write lock (0 when unlocked).</summary>
    uint SessionPID { get; }

    // Snapshots
    ISnapshot? CurrentSnapshot { get; }
    uint SnapshotCount { get; }
    bool CurrentStateModified { get; }
    /// <summary>Finds a snapshot by UUID or name (null or empty: the root snapshot).</summary>
    ISnapshot FindSnapshot(string? nameOrId);

    // Firmware settings (IBIOSSettings in VirtualBox)
    bool ACPIEnabled { get; set; }
    bool IOAPICEnabled { get; set; }
    BiosBootMenuMode BootMenuMode { get; set; }
    ApicMode APICMode { get; set; }
    long TimeOffset { get; set; }
    DeviceType GetBootOrder(uint position);
    void SetBootOrder(uint position, DeviceType device);

    // Graphics, input
    GraphicsControllerType GraphicsControllerType { get; set; }
    uint VRAMSize { get; set; }
    uint MonitorCount { get; set; }
    bool Accelerate3DEnabled { get; set; }
    PointingHIDType PointingHIDType { get; set; }
    KeyboardHIDType KeyboardHIDType { get; set; }

    // Miscellaneous settings shown by showvminfo
    bool AudioEnabled { get; }
    bool AudioEnabledIn { get; }
    bool AudioEnabledOut { get; }
    AudioControllerType AudioController { get; }
    /// <summary>The host audio driver name as stored (Null, Pulse, ALSA, OSS, Default).</summary>
    string AudioDriver { get; }
    /// <summary>Types of the USB controllers (OHCI, EHCI, XHCI).</summary>
    IReadOnlyList<string> USBControllerTypes { get; }
    AudioCodecType AudioCodec { get; }
    ClipboardMode ClipboardMode { get; }
    DnDMode DnDMode { get; }
    uint MemoryBalloonSize { get; }
    bool TeleporterEnabled { get; }
    uint TeleporterPort { get; }
    string TeleporterAddress { get; }
    bool AutostartEnabled { get; }
    uint AutostartDelay { get; }
    string DefaultFrontend { get; }
    bool VRDEEnabled { get; }

    // Storage
    IReadOnlyList<IStorageController> StorageControllers { get; }
    IStorageController GetStorageControllerByName(string name);
    IStorageController AddStorageController(string name, StorageBus bus);
    void RemoveStorageController(string name);
    IReadOnlyList<MediumAttachment> MediumAttachments { get; }
    IReadOnlyList<MediumAttachment> GetMediumAttachmentsOfController(string name);
    MediumAttachment GetMediumAttachment(string controller, int port, int device);
    IMedium? GetMedium(string controller, int port, int device);
    void AttachDevice(string controller, int port, int device, DeviceType type, IMedium? medium);
    void AttachDeviceWithoutMedium(string controller, int port, int device, DeviceType type);
    void DetachDevice(string controller, int port, int device);
    void MountMedium(string controller, int port, int device, IMedium? medium, bool force);
    void UnmountMedium(string controller, int port, int device, bool force);
    void PassthroughDevice(string controller, int port, int device, bool passthrough);
    void TemporaryEjectDevice(string controller, int port, int device, bool temporaryEject);
    void NonRotationalDevice(string controller, int port, int device, bool nonRotational);
    void SetAutoDiscardForDevice(string controller, int port, int device, bool discard);
    void SetHotPluggableForDevice(string controller, int port, int device, bool hotPluggable);

    INetworkAdapter GetNetworkAdapter(uint slot);
    uint NetworkAdapterCount { get; }
    ISerialPort GetSerialPort(uint slot);

    IReadOnlyList<string> GetExtraDataKeys();
    string GetExtraData(string key);
    void SetExtraData(string key, string? value);

    /// <summary>Writes the session machine's changes to its settings file (atomically, under the machine lock).</summary>
    void SaveSettings();
    void LockMachine(ISession session, LockType lockType);
    /// <summary>Applies the OS type's recommended hardware (createvm --default).</summary>
    void ApplyDefaults(string? flags);
    /// <summary>Removes the machine from the registry; returns the media that were attached (for DeleteConfig).</summary>
    IReadOnlyList<IMedium> Unregister(CleanupMode cleanupMode);
    /// <summary>Deletes the settings file, its backups, logs and the given media; removes empty folders.</summary>
    IProgress DeleteConfig(IReadOnlyList<IMedium> media);
    IProgress CloneTo(IMachine target, CloneMode mode, IReadOnlyList<CloneOptions> options);

    /// <summary>
    /// Takes a snapshot of the session machine: the hardware and storage as they are, and new
    /// differencing images for the writable hard disks in the snapshot folder. An online snapshot of a
    /// running VM includes its saved state.
    /// </summary>
    TakeSnapshotResult TakeSnapshot(string name, string description, bool pause);
    /// <summary>Brings back the snapshot's hardware, disks (new differencing images) and, for online snapshots, its saved state.</summary>
    IProgress RestoreSnapshot(ISnapshot snapshot);
    /// <summary>Deletes a snapshot, merging its differencing images into their parents (also in the middle of the tree).</summary>
    IProgress DeleteSnapshot(Guid id);
    /// <summary>Forgets the saved state (deleting the file when <paramref name="removeFile"/>); the machine becomes PoweredOff.</summary>
    void DiscardSavedState(bool removeFile);
    /// <summary>Makes a saved-state file the machine's saved state; the machine becomes Saved.</summary>
    void AdoptSavedState(string savedStateFile);
    /// <summary>
    /// Starts the VM process (type "headless") for this machine; the progress completes when the VM
    /// runs, and then <paramref name="session"/> is a shared session with the VM's console.
    /// </summary>
    IProgress LaunchVMProcess(ISession session, string type, IReadOnlyList<string> environment);
}

/// <summary>What TakeSnapshot returns: the new snapshot's UUID and the operation.</summary>
public sealed record TakeSnapshotResult(Guid Id, IProgress Progress);

/// <summary>
/// A snapshot: a point in the machine's history with the hardware and storage of that time. Name and
/// description can be changed through a snapshot found on a locked session machine; changes are
/// saved at once, as VirtualBox does.
/// </summary>
public interface ISnapshot
{
    Guid Id { get; }
    string Name { get; set; }
    string Description { get; set; }
    DateTime TimeStamp { get; }
    /// <summary>Whether the snapshot includes the VM's saved state (taken while it ran).</summary>
    bool Online { get; }
    /// <summary>The machine as it was when the snapshot was taken (read-only).</summary>
    IMachine Machine { get; }
    ISnapshot? Parent { get; }
    IReadOnlyList<ISnapshot> Children { get; }
    uint ChildrenCount { get; }
}

/// <summary>Event kinds, named as VirtualBox's VBoxEventType values (without the "On").</summary>
public enum VBoxEventType
{
    Any = 1, MachineStateChanged = 32, MachineDataChanged = 33, ExtraDataChanged = 34, MediumRegistered = 36, MachineRegistered = 37,
    SessionStateChanged = 38, SnapshotTaken = 39, SnapshotDeleted = 40, SnapshotChanged = 41, MediumChanged = 46, SnapshotRestored = 97,
}

/// <summary>
/// One event (plain data; fields that do not apply to the kind are left at their defaults). Sequence
/// numbers grow by one per event of a VirtualBox object, so a listener can tell when it missed some.
/// </summary>
public sealed record VBoxEvent(
    VBoxEventType Type,
    long Sequence,
    Guid MachineId,
    MachineState State = MachineState.Null,
    SessionState SessionState = SessionState.Null,
    Guid MediumId = default,
    DeviceType MediumType = DeviceType.Null,
    bool Registered = false,
    Guid SnapshotId = default,
    string? Key = null,
    string? Value = null);

/// <summary>A passive listener: it collects the events it registered for until fetched with GetEvent.</summary>
public interface IEventListener
{
    Guid Id { get; }
}

public interface IEventSource
{
    IEventListener CreateListener();
    /// <summary>Starts collecting events of the given kinds (Any: all). Only passive listeners exist (<paramref name="active"/> must be false).</summary>
    void RegisterListener(IEventListener listener, IReadOnlyList<VBoxEventType> interesting, bool active);
    void UnregisterListener(IEventListener listener);
    /// <summary>The next event for the listener, waiting up to <paramref name="timeoutMs"/> (negative: forever); null on timeout.</summary>
    VBoxEvent? GetEvent(IEventListener listener, int timeoutMs);
}

public interface IMedium
{
    Guid Id { get; }
    string Description { get; set; }
    MediumState State { get; }
    MediumVariant Variant { get; }
    string Location { get; }
    string Name { get; }
    DeviceType DeviceType { get; }
    bool HostDrive { get; }
    long Size { get; }
    string Format { get; }
    MediumType Type { get; set; }
    IMedium? Parent { get; }
    IReadOnlyList<IMedium> Children { get; }
    IMedium Base { get; }
    bool ReadOnly { get; }
    long LogicalSize { get; }
    bool AutoReset { get; set; }
    string LastAccessError { get; }
    IReadOnlyList<Guid> MachineIds { get; }
    MediumState RefreshState();
    IProgress CreateBaseStorage(long logicalSize, MediumVariant variant);
    IProgress CreateDiffStorage(IMedium target, MediumVariant variant);
    IProgress CloneTo(IMedium target, MediumVariant variant, IMedium? parent);
    IProgress Compact();
    IProgress Resize(long logicalSize);
    IProgress DeleteStorage();
    void Close();
}
