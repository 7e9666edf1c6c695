using SharpBox.Main.Api;
using VBoxManage.Cli;

namespace VBoxManage.Commands;

/// <summary>storagectl and storageattach.</summary>
internal static class StorageCommands
{
    // ---- storagectl -------------------------------------------------------------------------------

    private static readonly OptDef ScName = new("--name", ArgKind.String);
    private static readonly OptDef ScAdd = new("--add", ArgKind.String);
    private static readonly OptDef ScController = new("--controller", ArgKind.String);
    private static readonly OptDef ScPortCount = new(new[] { "--portcount", "--sataportcount" }, ArgKind.UInt32);
    private static readonly OptDef ScRemove = new("--remove", ArgKind.None);
    private static readonly OptDef ScRename = new("--rename", ArgKind.String);
    private static readonly OptDef ScHostIoCache = new("--hostiocache", ArgKind.String);
    private static readonly OptDef ScBootable = new("--bootable", ArgKind.String);

    private static StorageBus ParseBus(string v) => v.ToLowerInvariant() switch
    {
        "ide" => StorageBus.IDE,
        "sata" => StorageBus.SATA,
        "scsi" => StorageBus.SCSI,
        "floppy" => StorageBus.Floppy,
        "sas" => StorageBus.SAS,
        "usb" => StorageBus.USB,
        "pcie" => StorageBus.PCIe,
        "virtio" or "virtio-scsi" => StorageBus.VirtioSCSI,
        _ => throw new SyntaxException($"Invalid --add argument '{v}'"),
    };

    private static StorageControllerType ParseControllerType(string v) => v.ToLowerInvariant() switch
    {
        "lsilogic" => StorageControllerType.LsiLogic,
        "buslogic" => StorageControllerType.BusLogic,
        "intelahci" => StorageControllerType.IntelAhci,
        "piix3" => StorageControllerType.PIIX3,
        "piix4" => StorageControllerType.PIIX4,
        "ich6" => StorageControllerType.ICH6,
        "i82078" => StorageControllerType.I82078,
        "lsilogicsas" => StorageControllerType.LsiLogicSas,
        "usb" => StorageControllerType.USB,
        "nvme" => StorageControllerType.NVMe,
        "virtio" or "virtioscsi" or "virtio-scsi" => StorageControllerType.VirtioSCSI,
        _ => throw new SyntaxException($"Invalid --type argument '{v}'"),
    };

    private static bool ParseOnOff(string option, string v) => v.ToLowerInvariant() switch
    {
        "on" => true,
        "off" => false,
        _ => throw new SyntaxException($"Invalid {option} argument '{v}'"),
    };

    public static int StorageCtl(Ctx c)
    {
        if (c.Args.Count < 3)
            return c.SyntaxError("Too few parameters");
        string vm = c.Args[0];
        string? name = null, rename = null;
        StorageBus? bus = null;
        StorageControllerType? ctlType = null;
        uint? portCount = null;
        bool? hostIoCache = null, bootable = null;
        bool remove = false;
        var opts = new GetOpt(c.Args, new[] { ScName, ScAdd, ScController, ScPortCount, ScRemove, ScRename, ScHostIoCache, ScBootable }, start: 1);
        while (opts.Next(out OptItem o))
        {
            if (o.Def == ScName) name = o.Value;
            else if (o.Def == ScAdd) bus = ParseBus(o.Value);
            else if (o.Def == ScController) ctlType = ParseControllerType(o.Value);
            else if (o.Def == ScPortCount) portCount = o.UInt32;
            else if (o.Def == ScRemove) remove = true;
            else if (o.Def == ScRename) rename = o.Value;
            else if (o.Def == ScHostIoCache) hostIoCache = ParseOnOff("--hostiocache", o.Value);
            else if (o.Def == ScBootable) bootable = ParseOnOff("--bootable", o.Value);
            else return c.SyntaxError($"Invalid parameter '{o.Value}'");
        }
        if (name == null)
            return c.SyntaxError("Storage controller name not specified");

        IMachine machine = c.VBox.FindMachine(vm);
        ISession session = c.VBox.CreateSession();
        machine.LockMachine(session, LockType.Write);
        try
        {
            IMachine m = session.Machine;
            if (remove)
                m.RemoveStorageController(name);
            else
            {
                IStorageController ctl = bus is StorageBus b ? m.AddStorageController(name, b) : m.GetStorageControllerByName(name);
                if (ctlType is StorageControllerType t)
                    ctl.ControllerType = t;
                if (portCount is uint pc)
                    ctl.PortCount = pc;
                if (hostIoCache is bool hc)
                    ctl.UseHostIOCache = hc;
                if (bootable is bool bo)
                    ctl.Bootable = bo;
                if (rename != null)
                    ctl.Name = rename;
            }
            m.SaveSettings();
        }
        finally
        {
            session.UnlockMachine();
        }
        return Exit.Success;
    }

    // ---- storageattach ----------------------------------------------------------------------------

    private static readonly OptDef SaStorageCtl = new("--storagectl", ArgKind.String);
    private static readonly OptDef SaPort = new("--port", ArgKind.UInt32);
    private static readonly OptDef SaDevice = new("--device", ArgKind.UInt32);
    private static readonly OptDef SaType = new("--type", ArgKind.String);
    private static readonly OptDef SaMedium = new("--medium", ArgKind.String);
    private static readonly OptDef SaMType = new("--mtype", ArgKind.String);
    private static readonly OptDef SaPassthrough = new("--passthrough", ArgKind.String);
    private static readonly OptDef SaTempEject = new("--tempeject", ArgKind.String);
    private static readonly OptDef SaNonRotational = new("--nonrotational", ArgKind.String);
    private static readonly OptDef SaDiscard = new("--discard", ArgKind.String);
    private static readonly OptDef SaHotPluggable = new("--hotpluggable", ArgKind.String);
    private static readonly OptDef SaBandwidthGroup = new("--bandwidthgroup", ArgKind.String);
    private static readonly OptDef SaForceUnmount = new("--forceunmount", ArgKind.None);
    private static readonly OptDef SaComment = new("--comment", ArgKind.String);
    private static readonly OptDef SaSetUuid = new("--setuuid", ArgKind.String);
    private static readonly OptDef SaSetParentUuid = new("--setparentuuid", ArgKind.String);
    private static readonly OptDef[] SaIscsi =
    {
        new("--server", ArgKind.String), new("--target", ArgKind.String), new("--tport", ArgKind.String), new("--lun", ArgKind.String),
        new("--encodedlun", ArgKind.String), new("--username", ArgKind.String), new("--password", ArgKind.String),
        new("--passwordfile", ArgKind.String), new("--initiator", ArgKind.String), new("--intnet", ArgKind.None),
    };

    public static int StorageAttach(Ctx c)
    {
        string vm = c.Args[0];
        string? ctlName = null, mediumArg = null, comment = null, bandwidth = null;
        string? passthrough = null, tempEject = null, nonRotational = null, discard = null, hotPluggable = null;
        uint? port = null, device = null;
        DeviceType requested = DeviceType.Null;
        MediumType? mtype = null;
        bool forceUnmount = false;
        var defs = new List<OptDef>
        {
            SaStorageCtl, SaPort, SaDevice, SaType, SaMedium, SaMType, SaPassthrough, SaTempEject, SaNonRotational, SaDiscard,
            SaHotPluggable, SaBandwidthGroup, SaForceUnmount, SaComment, SaSetUuid, SaSetParentUuid,
        };
        defs.AddRange(SaIscsi);
        var opts = new GetOpt(c.Args, defs, start: 1);
        while (opts.Next(out OptItem o))
        {
            if (o.Def == SaStorageCtl) ctlName = o.Value;
            else if (o.Def == SaPort) port = o.UInt32;
            else if (o.Def == SaDevice) device = o.UInt32;
            else if (o.Def == SaMedium) mediumArg = o.Value;
            else if (o.Def == SaType)
            {
                requested = o.Value.ToLowerInvariant() switch
                {
                    "hdd" => DeviceType.HardDisk,
                    "fdd" => DeviceType.Floppy,
                    "dvddrive" => DeviceType.DVD,
                    _ => throw new SyntaxException($"Invalid --type argument '{o.Value}'"),
                };
            }
            else if (o.Def == SaMType) mtype = MediumCommands.ParseMediumType(o.Value);
            else if (o.Def == SaPassthrough) passthrough = o.Value;
            else if (o.Def == SaTempEject) tempEject = o.Value;
            else if (o.Def == SaNonRotational) nonRotational = o.Value;
            else if (o.Def == SaDiscard) discard = o.Value;
            else if (o.Def == SaHotPluggable) hotPluggable = o.Value;
            else if (o.Def == SaBandwidthGroup) bandwidth = o.Value;
            else if (o.Def == SaForceUnmount) forceUnmount = true;
            else if (o.Def == SaComment) comment = o.Value;
            else if (o.Def == SaSetUuid || o.Def == SaSetParentUuid)
                return c.Failure($"{o.Def.Primary} is not supported by SharpBox yet");
            else if (o.Def != null && Array.IndexOf(SaIscsi, o.Def) >= 0)
                return c.Failure("iSCSI media are not supported by SharpBox");
            else return c.SyntaxError($"Invalid parameter '{o.Value}'");
        }
        if (ctlName == null)
            return c.SyntaxError("Storage controller name not specified");

        IVirtualBox vbox = c.VBox;
        ISystemProperties sp = vbox.SystemProperties;
        IMachine machine = vbox.FindMachine(vm);
        ISession session = vbox.CreateSession();
        machine.LockMachine(session, LockType.Write);
        try
        {
            IMachine m = session.Machine;
            IStorageController ctl;
            try { ctl = m.GetStorageControllerByName(ctlName); }
            catch (VBoxException) { return c.ArgumentError($"Could not find a controller named '{ctlName}'"); }

            StorageBus bus = ctl.Bus;
            if (port == null)
            {
                if (sp.GetMaxPortCountForStorageBus(bus) == 1) port = 0;
                else return c.SyntaxError("Port not specified");
            }
            if (device == null)
            {
                if (sp.GetMaxDevicesPerPortForStorageBus(bus) == 1) device = 0;
                else return c.SyntaxError("Device not specified");
            }
            int p = (int)port.Value, d = (int)device.Value;
            // Grow the port count to reach the requested port, as VBoxManage does.
            if (ctl.PortCount != ctl.MaxPortCount && port >= ctl.PortCount && port < ctl.MaxPortCount)
                ctl.PortCount = port.Value + 1;
            MediumAttachment? existing = m.GetMediumAttachmentsOfController(ctlName).FirstOrDefault(a => a.Port == p && a.Device == d);
            IReadOnlyList<DeviceType> supported = sp.GetDeviceTypesForStorageBus(bus);

            if (mediumArg != null && mediumArg.Equals("none", StringComparison.OrdinalIgnoreCase))
            {
                m.DetachDevice(ctlName, p, d);
            }
            else if (mediumArg != null && mediumArg.Equals("emptydrive", StringComparison.OrdinalIgnoreCase))
            {
                if (!supported.Contains(DeviceType.DVD) && !supported.Contains(DeviceType.Floppy))
                    return c.ArgumentError($"The attachment is not supported by the storage controller '{ctlName}'");
                DeviceType driveType = bus == StorageBus.Floppy ? DeviceType.Floppy : DeviceType.DVD;
                if (existing != null)
                    m.DetachDevice(ctlName, p, d);
                m.AttachDeviceWithoutMedium(ctlName, p, d, driveType);
            }
            else
            {
                if (ctl.ControllerType == StorageControllerType.I82078)
                    requested = DeviceType.Floppy;
                else if (requested == DeviceType.Null && existing != null)
                    requested = existing.Type;
                if (requested == DeviceType.Null)
                    return c.ArgumentError("Argument --type must be specified");
                if (!supported.Contains(requested))
                    return c.ArgumentError($"The given attachment is not supported by the storage controller '{ctlName}'");

                IMedium? medium = null;
                if (mediumArg == null)
                {
                    if (existing == null)
                        return c.ArgumentError("Missing --medium argument");
                }
                else if (mediumArg.StartsWith("host:", StringComparison.OrdinalIgnoreCase))
                    return c.Failure($"Host drives are not supported by SharpBox ('{mediumArg}')");
                else if (mediumArg.Equals("additions", StringComparison.OrdinalIgnoreCase))
                    return c.ArgumentError("Cannot find the Guest Additions ISO image");
                else
                {
                    try
                    {
                        medium = MediumCommands.Open(c, mediumArg, requested, requested == DeviceType.DVD ? AccessMode.ReadOnly : AccessMode.ReadWrite);
                    }
                    catch (VBoxException e)
                    {
                        c.PrintApiError(e.Info, null);
                        return c.ArgumentError($"Invalid UUID or filename \"{mediumArg}\"");
                    }
                }
                if (medium != null && mtype is MediumType mt && medium.Type != mt)
                    medium.Type = mt;
                if (medium != null && comment != null)
                    medium.Description = comment;

                if (mediumArg != null)
                {
                    if (requested is DeviceType.DVD or DeviceType.Floppy)
                    {
                        if (existing == null)
                            m.AttachDeviceWithoutMedium(ctlName, p, d, requested);
                        else if (existing.Type != requested)
                        {
                            m.DetachDevice(ctlName, p, d);
                            m.AttachDeviceWithoutMedium(ctlName, p, d, requested);
                        }
                        if (medium != null)
                            m.MountMedium(ctlName, p, d, medium, forceUnmount);
                    }
                    else
                    {
                        if (existing != null)
                            m.DetachDevice(ctlName, p, d);
                        m.AttachDevice(ctlName, p, d, DeviceType.HardDisk, medium);
                    }
                }
            }

            if (passthrough != null)
                m.PassthroughDevice(ctlName, p, d, ParseOnOff("--passthrough", passthrough));
            if (tempEject != null)
                m.TemporaryEjectDevice(ctlName, p, d, ParseOnOff("--tempeject", tempEject));
            if (nonRotational != null)
                m.NonRotationalDevice(ctlName, p, d, ParseOnOff("--nonrotational", nonRotational));
            if (discard != null)
                m.SetAutoDiscardForDevice(ctlName, p, d, ParseOnOff("--discard", discard));
            if (hotPluggable != null)
                m.SetHotPluggableForDevice(ctlName, p, d, ParseOnOff("--hotpluggable", hotPluggable));
            if (bandwidth != null && !bandwidth.Equals("none", StringComparison.OrdinalIgnoreCase))
                return c.Failure($"Could not find a bandwidth group named '{bandwidth}' (bandwidth groups are not supported by SharpBox yet)");
            m.SaveSettings();
        }
        finally
        {
            session.UnlockMachine();
        }
        return Exit.Success;
    }
}
