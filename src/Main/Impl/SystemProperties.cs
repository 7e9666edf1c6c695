using SharpBox.Main.Api;
using SharpBox.Runtime;

namespace SharpBox.Main.Impl;

/// <summary>System properties: fixed limits of the emulated hardware plus the settings kept in VirtualBox.xml.</summary>
internal sealed class SystemProperties : ISystemProperties
{
    private readonly VirtualBox _vbox;

    public SystemProperties(VirtualBox vbox) => _vbox = vbox;

    public uint MinGuestRAM => 4;
    public uint MaxGuestRAM => 2097152;
    public uint MinGuestVRAM => 0;
    public uint MaxGuestVRAM => 256;
    public uint MinGuestCPUCount => 1;
    public uint MaxGuestCPUCount => 64;
    public uint MaxGuestMonitors => 64;
    public long InfoVDSize => 2199022206976;
    public uint SerialPortCount => 4;
    public uint ParallelPortCount => 2;
    public uint MaxBootPosition => 4;
    public bool RawModeSupported => false;
    public bool ExclusiveHwVirt
    {
        get => _vbox.Global.ExclusiveHwVirt;
        set => _vbox.UpdateGlobal(g => g.SetSystemProperty("exclusiveHwVirt", value ? "true" : "false"));
    }

    public uint GetMaxNetworkAdapters(ChipsetType chipset) => chipset switch
    {
        ChipsetType.PIIX3 => 8,
        ChipsetType.ICH9 => 36,
        _ => 0,
    };

    public uint GetMaxInstancesOfStorageBus(ChipsetType chipset, StorageBus bus) => bus switch
    {
        StorageBus.IDE or StorageBus.Floppy => 1,
        StorageBus.SATA or StorageBus.SCSI or StorageBus.SAS or StorageBus.PCIe or StorageBus.VirtioSCSI => chipset == ChipsetType.ICH9 ? 8u : 1u,
        StorageBus.USB => 8,
        _ => 0,
    };

    public uint GetMaxPortCountForStorageBus(StorageBus bus) => bus switch
    {
        StorageBus.IDE => 2,
        StorageBus.SATA => 30,
        StorageBus.SCSI => 16,
        StorageBus.Floppy => 1,
        StorageBus.SAS => 255,
        StorageBus.USB => 8,
        StorageBus.PCIe => 255,
        StorageBus.VirtioSCSI => 256,
        _ => 0,
    };

    public uint GetMinPortCountForStorageBus(StorageBus bus) => bus switch
    {
        StorageBus.IDE => 2,
        StorageBus.SCSI => 16,
        StorageBus.Floppy => 1,
        StorageBus.USB => 8,
        _ => 1,
    };

    public uint GetMaxDevicesPerPortForStorageBus(StorageBus bus) => bus switch
    {
        StorageBus.IDE or StorageBus.Floppy => 2,
        StorageBus.Null => 0,
        _ => 1,
    };

    public IReadOnlyList<DeviceType> GetDeviceTypesForStorageBus(StorageBus bus) => bus switch
    {
        StorageBus.IDE or StorageBus.SATA or StorageBus.SCSI or StorageBus.SAS or StorageBus.USB or StorageBus.VirtioSCSI
            => new[] { DeviceType.DVD, DeviceType.HardDisk },
        StorageBus.Floppy => new[] { DeviceType.Floppy },
        StorageBus.PCIe => new[] { DeviceType.HardDisk },
        _ => Array.Empty<DeviceType>(),
    };

    public string DefaultMachineFolder
    {
        get => _vbox.Global.DefaultMachineFolder;
        set
        {
            string? folder = string.IsNullOrEmpty(value) ? null : value;
            // As in VirtualBox, a relative folder is taken relative to the configuration directory.
            if (folder != null)
                folder = Path.GetFullPath(Path.IsPathRooted(folder) ? folder : Path.Combine(_vbox.HomeFolder, folder));
            if (folder != null)
            {
                try { Directory.CreateDirectory(folder); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new VBoxException(ResultCode.VBOX_E_FILE_ERROR,
                        $"Could not create the folder '{folder}' ({e.Message})", "SystemPropertiesWrap", "ISystemProperties");
                }
            }
            _vbox.UpdateGlobal(g => g.DefaultMachineFolder = folder ?? "");
        }
    }

    public string DefaultHardDiskFormat => _vbox.Global.SystemProperty("defaultHardDiskFormat", "VDI");

    private void Set(string attribute, string? value) => _vbox.UpdateGlobal(g => g.SetSystemProperty(attribute, value));

    private static VBoxException Invalid(string message) => new(ResultCode.E_INVALIDARG, message, "SystemPropertiesWrap", "ISystemProperties");

    public string VRDEAuthLibrary
    {
        get => _vbox.Global.SystemProperty("VRDEAuthLibrary", "VBoxAuth");
        set => Set("VRDEAuthLibrary", string.IsNullOrEmpty(value) ? "VBoxAuth" : value);
    }

    public string WebServiceAuthLibrary
    {
        get => _vbox.Global.SystemProperty("webServiceAuthLibrary", "VBoxAuth");
        set => Set("webServiceAuthLibrary", string.IsNullOrEmpty(value) ? "VBoxAuth" : value);
    }

    public string DefaultVRDEExtPack
    {
        get => _vbox.Global.SystemProperty("defaultVRDEExtPack", "");
        set => Set("defaultVRDEExtPack", value);
    }

    public string DefaultCryptoExtPack => _vbox.Global.SystemProperty("defaultCryptoExtPack", "");

    public uint LogHistoryCount
    {
        get => _vbox.Global.LogHistoryCount;
        set => Set("LogHistoryCount", value.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    public string DefaultFrontend
    {
        get => _vbox.Global.SystemProperty("defaultFrontend", "");
        set => Set("defaultFrontend", value);
    }

    public string AutostartDatabasePath
    {
        get => _vbox.Global.SystemProperty("autostartDatabasePath", "");
        set
        {
            if (!string.IsNullOrEmpty(value) && !Directory.Exists(value))
                throw Invalid($"The autostart database path '{value}' does not exist");
            Set("autostartDatabasePath", string.IsNullOrEmpty(value) ? null : Path.GetFullPath(value));
        }
    }

    public string DefaultAdditionsISO => "";

    public string LoggingLevel
    {
        get => _vbox.Global.SystemProperty("LoggingLevel", "all");
        set => Set("LoggingLevel", value);
    }

    private static readonly string[] ProxyModes = { "System", "NoProxy", "Manual" };

    public string ProxyMode
    {
        get => _vbox.Global.SystemProperty("proxyMode", "0") switch { "1" => "NoProxy", "2" => "Manual", _ => "System" };
        set
        {
            int i = Array.FindIndex(ProxyModes, m => string.Equals(m, value, StringComparison.OrdinalIgnoreCase));
            if (i < 0)
                throw Invalid($"Invalid proxy mode '{value}' (expected System, NoProxy or Manual)");
            Set("proxyMode", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    public string ProxyURL
    {
        get => _vbox.Global.SystemProperty("proxyUrl", "");
        set => Set("proxyUrl", value);
    }

    public string LanguageId
    {
        get => _vbox.Global.SystemProperty("LanguageId", "C");
        set => Set("LanguageId", value);
    }

    public IReadOnlyList<string> MediumFormats => _vbox.Backend.CreatableFormats;
}

/// <summary>Host facts from /proc.</summary>
internal sealed class Host : IHost
{
    private readonly Lazy<IReadOnlyList<HostSystem.Processor>> _cpus = new(HostSystem.Processors);

    public DateTime UTCTime => DateTime.UtcNow;
    public uint ProcessorOnlineCount => (uint)HostSystem.OnlineProcessorCount;
    public uint ProcessorCount => (uint)Math.Max(_cpus.Value.Count, HostSystem.OnlineProcessorCount);
    public uint ProcessorOnlineCoreCount => (uint)HostSystem.CoreCount(_cpus.Value);
    public uint ProcessorCoreCount => (uint)HostSystem.CoreCount(_cpus.Value);

    private IReadOnlySet<string> Flags => _cpus.Value.Count > 0 ? _cpus.Value[0].Flags : new HashSet<string>();

    public bool GetProcessorFeature(string feature) => feature switch
    {
        "HWVirtEx" => (Flags.Contains("vmx") || Flags.Contains("svm")) && HostSystem.KvmUsable(),
        "PAE" => Flags.Contains("pae"),
        "LongMode" => Flags.Contains("lm"),
        "NestedPaging" => Flags.Contains("ept") || Flags.Contains("npt"),
        "UnrestrictedGuest" => Flags.Contains("vmx") ? Flags.Contains("ept") : Flags.Contains("svm"),
        "NestedHWVirt" => false,
        "VirtVmsaveVmload" => Flags.Contains("v_vmsave_vmload"),
        _ => false,
    };

    public uint GetProcessorSpeed(uint cpu) => cpu < _cpus.Value.Count ? _cpus.Value[(int)cpu].SpeedMHz : 0;
    public string GetProcessorDescription(uint cpu) => cpu < _cpus.Value.Count ? _cpus.Value[(int)cpu].Description : "";
    public uint MemorySize => (uint)HostSystem.Memory().TotalMiB;
    public uint MemoryAvailable => (uint)HostSystem.Memory().AvailableMiB;
    public string OperatingSystem => "Linux";
    public string OSVersion => HostSystem.KernelVersion();
}
