namespace SharpBox.Main.Api;

// Enumerations of the Main API, named and numbered as VirtualBox's XIDL names them so that a later
// remote transport can carry them as plain integers or names.

public enum MachineState
{
    Null = 0, PoweredOff = 1, Saved = 2, Teleported = 3, Aborted = 4, AbortedSaved = 5, Running = 6, Paused = 7, Stuck = 8,
    Teleporting = 9, LiveSnapshotting = 10, Starting = 11, Stopping = 12, Saving = 13, Restoring = 14,
    TeleportingPausedVM = 15, TeleportingIn = 16, DeletingSnapshotOnline = 17, DeletingSnapshotPaused = 18,
    OnlineSnapshotting = 19, RestoringSnapshot = 20, DeletingSnapshot = 21, SettingUp = 22, Snapshotting = 23,
}

public enum SessionState { Null = 0, Unlocked = 1, Locked = 2, Spawning = 3, Unlocking = 4 }
public enum SessionType { Null = 0, WriteLock = 1, Remote = 2, Shared = 3 }
public enum LockType { Null = 0, Shared = 1, Write = 2, VM = 3 }

public enum DeviceType { Null = 0, Floppy = 1, DVD = 2, HardDisk = 3, Network = 4, USB = 5, SharedFolder = 6, Graphics3D = 7 }
public enum AccessMode { ReadOnly = 1, ReadWrite = 2 }

public enum StorageBus { Null = 0, IDE = 1, SATA = 2, SCSI = 3, Floppy = 4, SAS = 5, USB = 6, PCIe = 7, VirtioSCSI = 8 }

public enum StorageControllerType
{
    Null = 0, LsiLogic = 1, BusLogic = 2, IntelAhci = 3, PIIX3 = 4, PIIX4 = 5, ICH6 = 6, I82078 = 7, LsiLogicSas = 8,
    USB = 9, NVMe = 10, VirtioSCSI = 11,
}

public enum ChipsetType { Null = 0, PIIX3 = 1, ICH9 = 2 }
public enum FirmwareType { BIOS = 1, EFI = 2, EFI32 = 3, EFI64 = 4, EFIDUAL = 5 }
public enum BiosBootMenuMode { Disabled = 0, MenuOnly = 1, MessageAndMenu = 2 }
public enum ApicMode { Disabled = 0, APIC = 1, X2APIC = 2 }
public enum ParavirtProvider { None = 0, Default = 1, Legacy = 2, Minimal = 3, HyperV = 4, KVM = 5 }
public enum GraphicsControllerType { Null = 0, VBoxVGA = 1, VMSVGA = 2, VBoxSVGA = 3 }
public enum PointingHIDType { None = 1, PS2Mouse = 2, USBMouse = 3, USBTablet = 4, ComboMouse = 5, USBMultiTouch = 6, USBMultiTouchScreenPlusPad = 7 }
public enum KeyboardHIDType { None = 1, PS2Keyboard = 2, USBKeyboard = 3, ComboKeyboard = 4 }
public enum AudioControllerType { AC97 = 0, SB16 = 1, HDA = 2 }
public enum AudioCodecType { Null = 0, SB16 = 1, STAC9700 = 2, AD1980 = 3, STAC9221 = 4 }

public enum CpuPropertyType { Null = 0, PAE = 1, LongMode = 2, TripleFaultReset = 3, APIC = 4, X2APIC = 5, IBPBOnVMExit = 6, IBPBOnVMEntry = 7, HWVirt = 8, SpecCtrl = 9, SpecCtrlByHost = 10, L1DFlushOnEMTScheduling = 11, L1DFlushOnVMEntry = 12, MDSClearOnEMTScheduling = 13, MDSClearOnVMEntry = 14 }
public enum HWVirtExPropertyType { Null = 0, Enabled = 1, VPID = 2, NestedPaging = 3, UnrestrictedExecution = 4, LargePages = 5, Force = 6, UseNativeApi = 7, VirtVmsaveVmload = 8 }

public enum NetworkAdapterType
{
    Null = 0, Am79C970A = 1, Am79C973 = 2, I82540EM = 3, I82543GC = 4, I82545EM = 5, Virtio = 6, Am79C960 = 7,
    NE2000 = 8, NE1000 = 9, WD8013 = 10, WD8003 = 11, ELNK2 = 12, ELNK1 = 13,
}

public enum NetworkAttachmentType { Null = 0, NAT = 1, Bridged = 2, Internal = 3, HostOnly = 4, Generic = 5, NATNetwork = 6, Cloud = 7, HostOnlyNetwork = 8 }
public enum NetworkAdapterPromiscModePolicy { Deny = 1, AllowNetwork = 2, AllowAll = 3 }
public enum PortMode { Disconnected = 0, HostPipe = 1, HostDevice = 2, RawFile = 3, TCP = 4 }
public enum UartType { U16450 = 0, U16550A = 1, U16750 = 2 }

public enum MediumType { Normal = 0, Immutable = 1, Writethrough = 2, Shareable = 3, Readonly = 4, MultiAttach = 5 }
public enum MediumState { NotCreated = 0, Created = 1, LockedRead = 2, LockedWrite = 3, Inaccessible = 4, Creating = 5, Deleting = 6 }

[Flags]
public enum MediumVariant
{
    Standard = 0,
    VmdkSplit2G = 0x01,
    VmdkRawDisk = 0x02,
    VmdkStreamOptimized = 0x04,
    VmdkESX = 0x08,
    VdiZeroExpand = 0x100,
    Fixed = 0x10000,
    Diff = 0x20000,
    NoCreateDir = 0x40000000,
}

public enum CleanupMode { UnregisterOnly = 1, DetachAllReturnNone = 2, DetachAllReturnHardDisksOnly = 3, Full = 4, DetachAllReturnHardDisksAndVMRemovable = 5 }
public enum CloneMode { MachineState = 1, MachineAndChildStates = 2, AllStates = 3 }
public enum CloneOptions { Link = 1, KeepAllMACs = 2, KeepNATMACs = 3, KeepDiskNames = 4, KeepHwUUIDs = 5 }
public enum ClipboardMode { Disabled = 0, HostToGuest = 1, GuestToHost = 2, Bidirectional = 3 }
public enum DnDMode { Disabled = 0, HostToGuest = 1, GuestToHost = 2, Bidirectional = 3 }

/// <summary>What runs a VM's CPUs (IMachineDebugger.ExecutionEngine), VirtualBox 7.0's values: SharpBox's software CPU is Emulated, its KVM engine NativeApi (as VirtualBox's KVM backend).</summary>
public enum VMExecutionEngine
{
    NotSet = 0,
    Emulated = 1,
    HwVirt = 2,
    NativeApi = 3,
}
