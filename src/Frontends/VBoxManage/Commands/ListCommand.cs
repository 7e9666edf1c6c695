using System.Globalization;
using SharpBox.Main.Api;
using VBoxManage.Cli;

namespace VBoxManage.Commands;

/// <summary>VBoxManage list.</summary>
internal static class ListCommand
{
    private static readonly string[] KnownLists =
    {
        "vms", "runningvms", "ostypes", "hostdvds", "hostfloppies", "intnets", "hostifs", "bridgedifs", "hostonlyifs", "hostonlynets",
        "cloudnets", "natnetworks", "natnets", "hostinfo", "hostcpuids", "hddbackends", "hdds", "dvds", "floppies", "usbhost",
        "usbfilters", "systemproperties", "updates", "dhcpservers", "extpacks", "groups", "webcams", "screenshotformats",
        "cloudproviders", "cloudprofiles", "cpu-profiles", "hostdrives",
    };

    private static readonly OptDef Long = new(new[] { "--long", "-l" }, ArgKind.None);
    private static readonly OptDef Sorted = new(new[] { "--sorted", "-s" }, ArgKind.None);
    private static readonly OptDef Multiple = new(new[] { "--multiple", "-m" }, ArgKind.None);

    public static int Run(Ctx c)
    {
        bool longFormat = false, sorted = false, multiple = false;
        var lists = new List<string>();
        var opts = new GetOpt(c.Args, new[] { Long, Sorted, Multiple });
        while (opts.Next(out OptItem o))
        {
            if (o.Def == Long) longFormat = true;
            else if (o.Def == Sorted) sorted = true;
            else if (o.Def == Multiple) multiple = true;
            else if (Array.IndexOf(KnownLists, o.Value) >= 0)
            {
                if (lists.Count > 0 && !multiple)
                    return c.SyntaxError($"Too many subcommands for \"list\" command.\n");
                lists.Add(o.Value);
            }
            else
                return c.SyntaxError($"Invalid parameter '{o.Value}'");
        }
        if (lists.Count == 0)
            return c.SyntaxError("Missing subcommand for \"list\" command.\n");

        bool first = true;
        foreach (string list in lists)
        {
            if (!first)
                c.Out.WriteLine();
            first = false;
            int rc = Produce(c, list, longFormat, sorted);
            if (rc != Exit.Success)
                return rc;
        }
        return Exit.Success;
    }

    private static int Produce(Ctx c, string list, bool longFormat, bool sorted)
    {
        switch (list)
        {
            case "vms": return ListVms(c, longFormat, sorted, runningOnly: false);
            case "runningvms": return ListVms(c, longFormat, sorted, runningOnly: true);
            case "ostypes": ListOsTypes(c); return Exit.Success;
            case "hdds": ListMedia(c, c.VBox.HardDisks, "base", longFormat); return Exit.Success;
            case "dvds": ListMedia(c, c.VBox.DVDImages, null, longFormat); return Exit.Success;
            case "floppies": ListMedia(c, c.VBox.FloppyImages, null, longFormat); return Exit.Success;
            case "systemproperties": ListSystemProperties(c); return Exit.Success;
            case "hostinfo": ListHostInfo(c); return Exit.Success;
            case "hddbackends": ListHddBackends(c); return Exit.Success;
            case "groups": ListGroups(c); return Exit.Success;
            default:
                return c.Failure($"Listing '{list}' is not supported by SharpBox yet");
        }
    }

    private static readonly MachineState[] RunningStates =
    {
        MachineState.Running, MachineState.Teleporting, MachineState.LiveSnapshotting, MachineState.Paused, MachineState.TeleportingPausedVM,
    };

    private static int ListVms(Ctx c, bool longFormat, bool sorted, bool runningOnly)
    {
        if (!longFormat)
        {
            // The common case reads only the registry and each machine file's root element; the
            // summaries carry the live state that VBoxSVC knows, for runningvms.
            IEnumerable<MachineSummary> summaries = c.VBox.GetMachineSummaries();
            if (runningOnly)
                summaries = summaries.Where(s => Array.IndexOf(RunningStates, s.State) >= 0);
            if (sorted)
                summaries = summaries.OrderBy(s => s.Name, StringComparer.Ordinal);
            foreach (MachineSummary s in summaries)
                c.Out.WriteLine($"\"{s.Name}\" {{{s.Id:D}}}");
            return Exit.Success;
        }
        IEnumerable<IMachine> machines = c.VBox.Machines;
        if (runningOnly)
            machines = machines.Where(m => Array.IndexOf(RunningStates, m.State) >= 0);
        if (sorted)
            machines = machines.OrderBy(m => m.Accessible ? m.Name : "<inaccessible>", StringComparer.Ordinal);
        foreach (IMachine m in machines)
        {
            if (longFormat)
            {
                ShowVmInfoCommand.Show(c, m, ShowVmInfoCommand.Details.Standard, live: true);
                c.Out.WriteLine();
            }
            else
                ShowVmInfoCommand.Show(c, m, ShowVmInfoCommand.Details.Compact);
        }
        return Exit.Success;
    }

    private static void ListOsTypes(Ctx c)
    {
        foreach (GuestOSType t in c.VBox.GuestOSTypes)
        {
            c.Out.WriteLine($"ID:          {t.Id}");
            c.Out.WriteLine($"Description: {t.Description}");
            c.Out.WriteLine($"Family ID:   {t.FamilyId}");
            c.Out.WriteLine($"Family Desc: {t.FamilyDescription}");
            c.Out.WriteLine($"64 bit:      {(t.Is64Bit ? "true" : "false")}");
            c.Out.WriteLine();
        }
    }

    private static void ListMedia(Ctx c, IReadOnlyList<IMedium> media, string? parent, bool longFormat)
    {
        foreach (IMedium m in media)
        {
            MediumCommands.PrintMediumInfo(c, m, parent, longFormat);
            c.Out.WriteLine();
            if (m.Children.Count > 0)
                ListMedia(c, m.Children, m.Id.ToString("D"), longFormat);
        }
    }

    private static void ListGroups(Ctx c)
    {
        var groups = new SortedSet<string>(StringComparer.Ordinal);
        foreach (IMachine m in c.VBox.Machines)
            if (m.Accessible)
                foreach (string g in m.Groups)
                    groups.Add(g);
        foreach (string g in groups)
            c.Out.WriteLine($"\"{g}\"");
    }

    private static void ListHddBackends(Ctx c)
    {
        c.Out.WriteLine("Supported hard disk backends:");
        c.Out.WriteLine();
        (string Id, string Desc, int Caps, string Ext)[] backends =
        {
            ("VDI", "Virtual Disk Image", 0x57, "vdi (HardDisk)"),
            ("VMDK", "Virtual Machine Disk", 0x47, "vmdk (HardDisk)"),
            ("VHD", "Virtual Hard Disk", 0x47, "vhd (HardDisk)"),
            ("RAW", "Raw disk image", 0x42, "iso (DVD),img (Floppy),ima (Floppy),img (HardDisk),raw (HardDisk)"),
        };
        int i = 0;
        foreach (var b in backends)
            c.Out.WriteLine($"Backend {i++}: id='{b.Id}' description='{b.Desc}' capabilities=0x{b.Caps:x4} extensions='{b.Ext}' properties=()");
    }

    private static void ListSystemProperties(Ctx c)
    {
        ISystemProperties sp = c.VBox.SystemProperties;
        TextWriter o = c.Out;
        o.WriteLine($"API version:                     {c.VBox.APIVersion}");
        o.WriteLine($"Minimum guest RAM size:          {sp.MinGuestRAM} Megabytes");
        o.WriteLine($"Maximum guest RAM size:          {sp.MaxGuestRAM} Megabytes");
        o.WriteLine($"Minimum video RAM size:          {sp.MinGuestVRAM} Megabytes");
        o.WriteLine($"Maximum video RAM size:          {sp.MaxGuestVRAM} Megabytes");
        o.WriteLine($"Maximum guest monitor count:     {sp.MaxGuestMonitors}");
        o.WriteLine($"Minimum guest CPU count:         {sp.MinGuestCPUCount}");
        o.WriteLine($"Maximum guest CPU count:         {sp.MaxGuestCPUCount}");
        o.WriteLine($"Virtual disk limit (info):       {sp.InfoVDSize} Bytes");
        o.WriteLine($"Maximum Serial Port count:       {sp.SerialPortCount}");
        o.WriteLine($"Maximum Parallel Port count:     {sp.ParallelPortCount}");
        o.WriteLine($"Maximum Boot Position:           {sp.MaxBootPosition}");
        o.WriteLine($"Maximum PIIX3 Network Adapter count:   {sp.GetMaxNetworkAdapters(ChipsetType.PIIX3)}");
        o.WriteLine($"Maximum ICH9 Network Adapter count:   {sp.GetMaxNetworkAdapters(ChipsetType.ICH9)}");
        o.WriteLine($"Maximum PIIX3 IDE Controllers:   {sp.GetMaxInstancesOfStorageBus(ChipsetType.PIIX3, StorageBus.IDE)}");
        o.WriteLine($"Maximum ICH9 IDE Controllers:    {sp.GetMaxInstancesOfStorageBus(ChipsetType.ICH9, StorageBus.IDE)}");
        o.WriteLine($"Maximum IDE Port count:          {sp.GetMaxPortCountForStorageBus(StorageBus.IDE)}");
        o.WriteLine($"Maximum Devices per IDE Port:    {sp.GetMaxDevicesPerPortForStorageBus(StorageBus.IDE)}");
        o.WriteLine($"Maximum PIIX3 SATA Controllers:  {sp.GetMaxInstancesOfStorageBus(ChipsetType.PIIX3, StorageBus.SATA)}");
        o.WriteLine($"Maximum ICH9 SATA Controllers:   {sp.GetMaxInstancesOfStorageBus(ChipsetType.ICH9, StorageBus.SATA)}");
        o.WriteLine($"Maximum SATA Port count:         {sp.GetMaxPortCountForStorageBus(StorageBus.SATA)}");
        o.WriteLine($"Maximum Devices per SATA Port:   {sp.GetMaxDevicesPerPortForStorageBus(StorageBus.SATA)}");
        o.WriteLine($"Maximum PIIX3 SCSI Controllers:  {sp.GetMaxInstancesOfStorageBus(ChipsetType.PIIX3, StorageBus.SCSI)}");
        o.WriteLine($"Maximum ICH9 SCSI Controllers:   {sp.GetMaxInstancesOfStorageBus(ChipsetType.ICH9, StorageBus.SCSI)}");
        o.WriteLine($"Maximum SCSI Port count:         {sp.GetMaxPortCountForStorageBus(StorageBus.SCSI)}");
        o.WriteLine($"Maximum Devices per SCSI Port:   {sp.GetMaxDevicesPerPortForStorageBus(StorageBus.SCSI)}");
        o.WriteLine($"Maximum SAS PIIX3 Controllers:   {sp.GetMaxInstancesOfStorageBus(ChipsetType.PIIX3, StorageBus.SAS)}");
        o.WriteLine($"Maximum SAS ICH9 Controllers:    {sp.GetMaxInstancesOfStorageBus(ChipsetType.ICH9, StorageBus.SAS)}");
        o.WriteLine($"Maximum SAS Port count:          {sp.GetMaxPortCountForStorageBus(StorageBus.SAS)}");
        o.WriteLine($"Maximum Devices per SAS Port:    {sp.GetMaxDevicesPerPortForStorageBus(StorageBus.SAS)}");
        o.WriteLine($"Maximum NVMe PIIX3 Controllers:  {sp.GetMaxInstancesOfStorageBus(ChipsetType.PIIX3, StorageBus.PCIe)}");
        o.WriteLine($"Maximum NVMe ICH9 Controllers:   {sp.GetMaxInstancesOfStorageBus(ChipsetType.ICH9, StorageBus.PCIe)}");
        o.WriteLine($"Maximum NVMe Port count:         {sp.GetMaxPortCountForStorageBus(StorageBus.PCIe)}");
        o.WriteLine($"Maximum Devices per NVMe Port:   {sp.GetMaxDevicesPerPortForStorageBus(StorageBus.PCIe)}");
        o.WriteLine($"Maximum virtio-scsi PIIX3 Controllers:  {sp.GetMaxInstancesOfStorageBus(ChipsetType.PIIX3, StorageBus.VirtioSCSI)}");
        o.WriteLine($"Maximum virtio-scsi ICH9 Controllers:   {sp.GetMaxInstancesOfStorageBus(ChipsetType.ICH9, StorageBus.VirtioSCSI)}");
        o.WriteLine($"Maximum virtio-scsi Port count:         {sp.GetMaxPortCountForStorageBus(StorageBus.VirtioSCSI)}");
        o.WriteLine($"Maximum Devices per virtio-scsi Port:   {sp.GetMaxDevicesPerPortForStorageBus(StorageBus.VirtioSCSI)}");
        o.WriteLine($"Maximum PIIX3 Floppy Controllers:{sp.GetMaxInstancesOfStorageBus(ChipsetType.PIIX3, StorageBus.Floppy)}");
        o.WriteLine($"Maximum ICH9 Floppy Controllers: {sp.GetMaxInstancesOfStorageBus(ChipsetType.ICH9, StorageBus.Floppy)}");
        o.WriteLine($"Maximum Floppy Port count:       {sp.GetMaxPortCountForStorageBus(StorageBus.Floppy)}");
        o.WriteLine($"Maximum Devices per Floppy Port: {sp.GetMaxDevicesPerPortForStorageBus(StorageBus.Floppy)}");
        o.WriteLine($"Default machine folder:          {sp.DefaultMachineFolder}");
        o.WriteLine($"Raw-mode Supported:              {(sp.RawModeSupported ? "yes" : "no")}");
        o.WriteLine($"Exclusive HW virtualization use: {(sp.ExclusiveHwVirt ? "on" : "off")}");
        o.WriteLine($"Default hard disk format:        {sp.DefaultHardDiskFormat}");
        o.WriteLine($"VRDE auth library:               {sp.VRDEAuthLibrary}");
        o.WriteLine($"Webservice auth. library:        {sp.WebServiceAuthLibrary}");
        o.WriteLine($"Remote desktop ExtPack:          {sp.DefaultVRDEExtPack}");
        o.WriteLine($"VM encryption ExtPack:           {sp.DefaultCryptoExtPack}");
        o.WriteLine($"Log history count:               {sp.LogHistoryCount}");
        o.WriteLine($"Default frontend:                {sp.DefaultFrontend}");
        o.WriteLine($"Default audio driver:            Null");
        o.WriteLine($"Autostart database path:         {sp.AutostartDatabasePath}");
        o.WriteLine($"Default Guest Additions ISO:     {sp.DefaultAdditionsISO}");
        o.WriteLine($"Logging Level:                   {sp.LoggingLevel}");
        o.WriteLine($"Proxy Mode:                      {sp.ProxyMode}");
        o.WriteLine($"Proxy URL:                       {sp.ProxyURL}");
        o.WriteLine($"User language:                   {sp.LanguageId}");
    }

    private static void ListHostInfo(Ctx c)
    {
        IHost h = c.VBox.Host;
        TextWriter o = c.Out;
        o.WriteLine("Host Information:");
        o.WriteLine();
        o.WriteLine($"Host time: {h.UTCTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff", CultureInfo.InvariantCulture)}00Z");
        o.WriteLine($"Processor online count: {h.ProcessorOnlineCount}");
        o.WriteLine($"Processor count: {h.ProcessorCount}");
        o.WriteLine($"Processor online core count: {h.ProcessorOnlineCoreCount}");
        o.WriteLine($"Processor core count: {h.ProcessorCoreCount}");
        (string Feature, string Name)[] features =
        {
            ("HWVirtEx", "HW virtualization"), ("PAE", "PAE"), ("LongMode", "long mode"), ("NestedPaging", "nested paging"),
            ("UnrestrictedGuest", "unrestricted guest"), ("NestedHWVirt", "nested HW virtualization"), ("VirtVmsaveVmload", "virt. vmsave/vmload"),
        };
        foreach (var f in features)
            o.WriteLine($"Processor supports {f.Name}: {(h.GetProcessorFeature(f.Feature) ? "yes" : "no")}");
        for (uint i = 0; i < h.ProcessorCount; i++)
        {
            uint speed = h.GetProcessorSpeed(i);
            o.WriteLine(speed != 0 ? $"Processor#{i} speed: {speed} MHz" : $"Processor#{i} speed: unknown");
            o.WriteLine($"Processor#{i} description: {h.GetProcessorDescription(i)}");
        }
        o.WriteLine($"Memory size: {h.MemorySize} MByte");
        o.WriteLine($"Memory available: {h.MemoryAvailable} MByte");
        o.WriteLine($"Operating system: {h.OperatingSystem}");
        o.WriteLine($"Operating system version: {h.OSVersion}");
    }
}
