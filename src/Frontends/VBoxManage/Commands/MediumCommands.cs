using System.Globalization;
using SharpBox.Main.Api;
using SharpBox.Main.Impl;
using VBoxManage.Cli;

namespace VBoxManage.Commands;

/// <summary>createmedium, showmediuminfo, modifymedium, clonemedium, closemedium and convertfromraw.</summary>
internal static class MediumCommands
{
    private const long MiB = 1024 * 1024;

    private static readonly OptDef Disk = new("disk", ArgKind.None);
    private static readonly OptDef Dvd = new("dvd", ArgKind.None);
    private static readonly OptDef Floppy = new("floppy", ArgKind.None);

    /// <summary>Handles the "disk | dvd | floppy" word; returns false when it is not one.</summary>
    private static bool TakeCategory(OptItem o, ref DeviceType? type)
    {
        DeviceType t;
        if (o.Def == Disk) t = DeviceType.HardDisk;
        else if (o.Def == Dvd) t = DeviceType.DVD;
        else if (o.Def == Floppy) t = DeviceType.Floppy;
        else return false;
        if (type != null)
            throw new SyntaxException($"Only one command can be specified: '{o.Raw}'", showUsage: true);
        type = t;
        return true;
    }

    /// <summary>Parses --variant as VBoxManage does: comma-separated words; "standard" resets, others add.</summary>
    internal static MediumVariant ParseVariant(string value, MediumVariant start = MediumVariant.Standard)
    {
        MediumVariant v = start;
        foreach (string part in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            v = part.ToLowerInvariant() switch
            {
                "standard" => MediumVariant.Standard,
                "fixed" or "static" => v | MediumVariant.Fixed,
                "diff" => v | MediumVariant.Diff,
                "split2g" => v | MediumVariant.VmdkSplit2G,
                "stream" or "streamoptimized" => v | MediumVariant.VmdkStreamOptimized,
                "esx" => v | MediumVariant.VmdkESX,
                "raw" or "rawdisk" => v | MediumVariant.VmdkRawDisk,
                "formatted" => throw new SyntaxException($"Invalid medium variant '{value}' (Formatted is for floppy images, which SharpBox cannot create)"),
                _ => throw new SyntaxException($"Invalid medium variant '{value}'"),
            };
        }
        return v;
    }

    internal static MediumType ParseMediumType(string value) => value.ToLowerInvariant() switch
    {
        "normal" => MediumType.Normal,
        "immutable" => MediumType.Immutable,
        "writethrough" => MediumType.Writethrough,
        "shareable" => MediumType.Shareable,
        "readonly" => MediumType.Readonly,
        "multiattach" => MediumType.MultiAttach,
        _ => throw new SyntaxException($"Invalid medium type '{value}'"),
    };

    /// <summary>Opens by UUID or path (made absolute first, as VBoxManage does).</summary>
    internal static IMedium Open(Ctx c, string nameOrUuid, DeviceType type, AccessMode access)
    {
        string arg = Guid.TryParse(nameOrUuid.Trim('{', '}'), out _) ? nameOrUuid : Path.GetFullPath(nameOrUuid);
        return c.VBox.OpenMedium(arg, type, access, false);
    }

    // ---- createmedium -----------------------------------------------------------------------------

    private static readonly OptDef CmFilename = new(new[] { "--filename", "-filename" }, ArgKind.String);
    private static readonly OptDef CmDiffParent = new("--diffparent", ArgKind.String);
    private static readonly OptDef CmSize = new(new[] { "--size", "-size" }, ArgKind.UInt64);
    private static readonly OptDef CmSizeByte = new("--sizebyte", ArgKind.UInt64);
    private static readonly OptDef CmFormat = new(new[] { "--format", "-format" }, ArgKind.String);
    private static readonly OptDef CmStatic = new(new[] { "--static", "-static" }, ArgKind.None);
    private static readonly OptDef CmVariant = new(new[] { "--variant", "-variant" }, ArgKind.String);
    private static readonly OptDef CmProperty = new(new[] { "--property", "--property-file" }, ArgKind.String);

    public static int CreateMedium(Ctx c)
    {
        DeviceType? type = null;
        string? filename = null, diffParent = null, format = null;
        long size = 0;
        MediumVariant variant = MediumVariant.Standard;
        var opts = new GetOpt(c.Args, new[] { Disk, Dvd, Floppy, CmFilename, CmDiffParent, CmSize, CmSizeByte, CmFormat, CmStatic, CmVariant, CmProperty });
        while (opts.Next(out OptItem o))
        {
            if (TakeCategory(o, ref type)) continue;
            if (o.Def == CmFilename) filename = o.Value;
            else if (o.Def == CmDiffParent) diffParent = o.Value;
            else if (o.Def == CmSize)
            {
                if (o.UInt64 > long.MaxValue / MiB)
                    return c.ArgumentError($"Invalid --size value '{o.Value}' (too large)");
                size = (long)o.UInt64 * MiB;
            }
            else if (o.Def == CmSizeByte)
            {
                if (o.UInt64 > long.MaxValue)
                    return c.ArgumentError($"Invalid --sizebyte value '{o.Value}' (too large)");
                size = (long)o.UInt64;
            }
            else if (o.Def == CmFormat) format = o.Value;
            else if (o.Def == CmStatic) variant |= MediumVariant.Fixed;
            else if (o.Def == CmVariant) variant = ParseVariant(o.Value, variant);
            else if (o.Def == CmProperty)
                return c.Failure($"Property '{o.Value.Split('=')[0]}' was not found in the list of medium properties for the requested medium format ({format ?? "VDI"}).");
            else return c.SyntaxError($"Invalid parameter '{o.Value}'");
        }
        DeviceType dt = type ?? DeviceType.HardDisk;
        if (string.IsNullOrEmpty(filename))
            return c.SyntaxError("Parameter --filename is required");
        if (dt != DeviceType.HardDisk)
            return c.Failure($"Creating {(dt == DeviceType.DVD ? "DVD" : "floppy")} images is not supported by SharpBox; create a raw image file and attach it");

        IMedium? parent = null;
        if (diffParent == null)
        {
            if (size == 0)
                return c.SyntaxError("Parameter --size is required");
            if (string.IsNullOrEmpty(format))
                format = "VDI";
        }
        else
        {
            variant = MediumVariant.Diff;
            if (string.IsNullOrEmpty(format))
            {
                string ext = Path.GetExtension(filename).TrimStart('.');
                format = ext.Length == 0 ? "VDI" : ext;
            }
            parent = Open(c, diffParent, DeviceType.HardDisk, AccessMode.ReadWrite);
            if (parent.State == MediumState.Inaccessible && parent.RefreshState() == MediumState.Inaccessible)
                return c.Failure($"The parent medium '{parent.Location}' is inaccessible: {parent.LastAccessError}");
        }
        if (Path.GetExtension(filename).Length == 0)
        {
            filename += format.ToUpperInvariant() switch { "VMDK" => ".vmdk", "VHD" => ".vhd", _ => ".vdi" };
        }

        IMedium medium = c.VBox.CreateMedium(format, Path.GetFullPath(filename), AccessMode.ReadWrite, DeviceType.HardDisk);
        IProgress progress = parent == null ? medium.CreateBaseStorage(size, variant) : parent.CreateDiffStorage(medium, variant);
        if (!c.RunProgress(progress, "Failed to create medium"))
            return Exit.Failure;
        c.Out.WriteLine($"Medium created. UUID: {medium.Id:D}");
        return Exit.Success;
    }

    // ---- showmediuminfo ---------------------------------------------------------------------------

    public static int ShowMediumInfo(Ctx c)
    {
        DeviceType? type = null;
        string? target = null;
        var opts = new GetOpt(c.Args, new[] { Disk, Dvd, Floppy });
        while (opts.Next(out OptItem o))
        {
            if (TakeCategory(o, ref type)) continue;
            if (target == null) target = o.Value;
            else return c.SyntaxError($"Invalid parameter '{o.Value}'");
        }
        if (target == null)
            return c.SyntaxError("Medium name or UUID required");
        IMedium m = Open(c, target, type ?? DeviceType.HardDisk, AccessMode.ReadOnly);
        PrintMediumInfo(c, m, m.Parent?.Id.ToString("D") ?? "base", longFormat: true);
        return Exit.Success;
    }

    private static string StateName(MediumState s) => s switch
    {
        MediumState.NotCreated => "not created",
        MediumState.Created => "created",
        MediumState.LockedRead => "locked read",
        MediumState.LockedWrite => "locked write",
        MediumState.Inaccessible => "inaccessible",
        MediumState.Creating => "creating",
        MediumState.Deleting => "deleting",
        _ => "unknown",
    };

    /// <summary>The block showmediuminfo and list hdds/dvds/floppies print for one medium.</summary>
    public static void PrintMediumInfo(Ctx c, IMedium m, string? parentUuid, bool longFormat)
    {
        TextWriter o = c.Out;
        o.WriteLine($"UUID:           {m.Id:D}");
        if (parentUuid != null)
            o.WriteLine($"Parent UUID:    {parentUuid}");
        MediumState state = m.RefreshState();
        o.WriteLine($"State:          {StateName(state)}");
        if (longFormat && state == MediumState.Inaccessible)
            o.WriteLine($"Access Error:   {m.LastAccessError}");
        if (longFormat && m.Description.Length > 0)
            o.WriteLine($"Description:    {m.Description}");
        bool differencing = parentUuid != null && Guid.TryParse(parentUuid, out _);
        string typeName = m.Type switch
        {
            MediumType.Normal => differencing ? "normal (differencing)" : "normal (base)",
            MediumType.Immutable => "immutable",
            MediumType.Writethrough => "writethrough",
            MediumType.Shareable => "shareable",
            MediumType.Readonly => "readonly",
            MediumType.MultiAttach => "multiattach",
            _ => "unknown",
        };
        o.WriteLine($"Type:           {typeName}");
        if (longFormat && differencing)
            o.WriteLine($"Auto-Reset:     {(m.AutoReset ? "on" : "off")}");
        o.WriteLine($"Location:       {m.Location}");
        o.WriteLine($"Storage format: {m.Format}");
        if (longFormat)
        {
            MediumVariant v = m.Variant;
            string kind = (v & ~(MediumVariant.Fixed | MediumVariant.Diff)) switch
            {
                MediumVariant.VmdkSplit2G => "split2G",
                MediumVariant.VmdkStreamOptimized => "streamOptimized",
                MediumVariant.VmdkESX => "ESX",
                MediumVariant.Standard => "default",
                _ => "unknown",
            };
            string alloc = (v & MediumVariant.Fixed) != 0 ? "fixed" : (v & MediumVariant.Diff) != 0 ? "differencing" : "dynamic";
            o.WriteLine($"Format variant: {alloc} {kind}");
        }
        o.WriteLine($"Capacity:       {(m.LogicalSize >> 20).ToString(CultureInfo.InvariantCulture)} MBytes");
        if (longFormat)
            o.WriteLine($"Size on disk:   {(m.Size >> 20).ToString(CultureInfo.InvariantCulture)} MBytes");
        o.WriteLine("Encryption:     disabled");
        if (longFormat)
        {
            bool first = true;
            foreach (Guid id in m.MachineIds)
            {
                string name;
                try { name = c.VBox.FindMachine(id.ToString("D")).Name; }
                catch (VBoxException) { name = "<inaccessible>"; }
                o.WriteLine($"{(first ? "In use by VMs:  " : "                ")}{name} (UUID: {id:D})");
                first = false;
            }
            first = true;
            foreach (IMedium child in m.Children)
            {
                o.WriteLine($"{(first ? "Child UUIDs:    " : "                ")}{child.Id:D}");
                first = false;
            }
        }
    }

    // ---- modifymedium -----------------------------------------------------------------------------

    private static readonly OptDef MmType = new(new[] { "--type", "-type", "settype" }, ArgKind.String);
    private static readonly OptDef MmAutoReset = new(new[] { "--autoreset", "-autoreset", "autoreset" }, ArgKind.String);
    private static readonly OptDef MmProperty = new("--property", ArgKind.String);
    private static readonly OptDef MmCompact = new(new[] { "--compact", "-compact", "compact" }, ArgKind.None);
    private static readonly OptDef MmResize = new("--resize", ArgKind.UInt64);
    private static readonly OptDef MmResizeByte = new("--resizebyte", ArgKind.UInt64);
    private static readonly OptDef MmMove = new("--move", ArgKind.String);
    private static readonly OptDef MmSetLocation = new("--setlocation", ArgKind.String);
    private static readonly OptDef MmDescription = new("--description", ArgKind.String);

    private static bool ParseBool(string v, out bool b)
    {
        switch (v.ToLowerInvariant())
        {
            case "on" or "yes" or "true" or "1" or "enable" or "enabled": b = true; return true;
            case "off" or "no" or "false" or "0" or "disable" or "disabled": b = false; return true;
            default: b = false; return false;
        }
    }

    public static int ModifyMedium(Ctx c)
    {
        DeviceType? type = null;
        string? target = null, description = null;
        MediumType? newType = null;
        bool? autoReset = null;
        bool compact = false, resizeInMB = false;
        long? resize = null;
        var opts = new GetOpt(c.Args, new[] { Disk, Dvd, Floppy, MmType, MmAutoReset, MmProperty, MmCompact, MmResize, MmResizeByte, MmMove, MmSetLocation, MmDescription });
        while (opts.Next(out OptItem o))
        {
            if (TakeCategory(o, ref type)) continue;
            if (o.Def == MmType) newType = ParseMediumType(o.Value);
            else if (o.Def == MmAutoReset)
            {
                if (!ParseBool(o.Value, out bool b))
                    return c.ArgumentError($"Invalid autoreset parameter '{o.Value}'");
                autoReset = b;
            }
            else if (o.Def == MmCompact) compact = true;
            else if (o.Def == MmResize)
            {
                if (o.UInt64 > long.MaxValue / MiB)
                    return c.ArgumentError($"Invalid --resize value '{o.Value}' (too large)");
                resize = (long)o.UInt64 * MiB;
                resizeInMB = true;
            }
            else if (o.Def == MmResizeByte)
            {
                if (o.UInt64 > long.MaxValue)
                    return c.ArgumentError($"Invalid --resizebyte value '{o.Value}' (too large)");
                resize = (long)o.UInt64;
            }
            else if (o.Def == MmDescription) description = o.Value;
            else if (o.Def == MmMove || o.Def == MmSetLocation || o.Def == MmProperty)
                return c.Failure($"{o.Def.Primary} is not supported by SharpBox yet");
            else if (target == null) target = o.Value;
            else return c.SyntaxError($"Invalid parameter '{o.Value}'");
        }
        if (target == null)
            return c.SyntaxError("Medium name or UUID required");
        if (newType == null && autoReset == null && !compact && resize == null && description == null)
            return c.SyntaxError("No operation specified");

        DeviceType dt = type ?? DeviceType.HardDisk;
        IMedium m = Open(c, target, dt, dt == DeviceType.DVD ? AccessMode.ReadOnly : AccessMode.ReadWrite);
        if (resize is long bytes && resizeInMB)
        {
            // VBoxManage's guard against --resize given in bytes by mistake.
            m.RefreshState();
            long logical = m.LogicalSize;
            if (bytes > logical * 1000)
                return c.Failure($"Error: Attempt to resize the medium from {logical / MiB}.{logical % MiB / (MiB / 10)} MB to {bytes / MiB}.{bytes % MiB / (MiB / 10)} MB. Use --resizebyte if this is intended!");
        }
        bool ok = true;
        if (newType is MediumType t && m.Type != t)
            m.Type = t;
        if (autoReset is bool ar)
            m.AutoReset = ar;
        if (compact)
            ok &= c.RunProgress(m.Compact(), "Failed to compact medium");
        if (ok && resize is long size)
            ok &= c.RunProgress(m.Resize(size), "Failed to resize medium");
        if (ok && description != null)
        {
            m.Description = description;
            c.Out.WriteLine("Medium description has been changed.");
        }
        return ok ? Exit.Success : Exit.Failure;
    }

    // ---- clonemedium ------------------------------------------------------------------------------

    private static readonly OptDef ClFormat = new(new[] { "--format", "-format" }, ArgKind.String);
    private static readonly OptDef ClStatic = new(new[] { "--static", "-static" }, ArgKind.None);
    private static readonly OptDef ClExisting = new("--existing", ArgKind.None);
    private static readonly OptDef ClVariant = new(new[] { "--variant", "-variant" }, ArgKind.String);
    private static readonly OptDef ClResize = new("--resize", ArgKind.UInt64);

    public static int CloneMedium(Ctx c)
    {
        DeviceType? type = null;
        string? src = null, dst = null, format = null;
        MediumVariant variant = MediumVariant.Standard;
        bool existing = false;
        long? resize = null;
        var opts = new GetOpt(c.Args, new[] { Disk, Dvd, Floppy, ClFormat, ClStatic, ClExisting, ClVariant, ClResize });
        while (opts.Next(out OptItem o))
        {
            if (TakeCategory(o, ref type)) continue;
            if (o.Def == ClFormat) format = o.Value;
            else if (o.Def == ClStatic) variant |= MediumVariant.Fixed;
            else if (o.Def == ClExisting) existing = true;
            else if (o.Def == ClVariant) variant = ParseVariant(o.Value, variant);
            else if (o.Def == ClResize)
            {
                if (o.UInt64 > long.MaxValue / MiB)
                    return c.ArgumentError($"Invalid --resize value '{o.Value}' (too large)");
                resize = (long)o.UInt64 * MiB;
            }
            else if (src == null) src = o.Value;
            else if (dst == null) dst = o.Value;
            else return c.SyntaxError($"Invalid parameter '{o.Value}'");
        }
        if (src == null)
            return c.SyntaxError("Mandatory UUID or input file parameter missing");
        if (dst == null)
            return c.SyntaxError("Mandatory output file parameter missing");
        if (existing && (format != null || variant != MediumVariant.Standard))
            return c.SyntaxError("Specified options which cannot be used with --existing");
        DeviceType dt = type ?? DeviceType.HardDisk;
        if (dt != DeviceType.HardDisk)
            return c.Failure("Cloning DVD and floppy images is not supported by SharpBox; copy the file instead");
        if (existing)
            return c.Failure("--existing is not supported by SharpBox yet");

        IMedium source = Open(c, src, dt, AccessMode.ReadOnly);
        format ??= source.Format;
        IMedium target = c.VBox.CreateMedium(format, Path.GetFullPath(dst), AccessMode.ReadWrite, dt);
        if (!c.RunProgress(source.CloneTo(target, variant, null), "Failed to clone medium"))
            return Exit.Failure;
        if (resize is long size && size > target.LogicalSize && !c.RunProgress(target.Resize(size), "Failed to resize medium"))
            return Exit.Failure;
        c.Out.WriteLine($"Clone medium created in format '{format}'. UUID: {target.Id:D}");
        return Exit.Success;
    }

    // ---- closemedium ------------------------------------------------------------------------------

    private static readonly OptDef CloseDelete = new("--delete", ArgKind.None);

    public static int CloseMedium(Ctx c)
    {
        DeviceType? type = null;
        string? target = null;
        bool delete = false;
        var opts = new GetOpt(c.Args, new[] { Disk, Dvd, Floppy, CloseDelete });
        while (opts.Next(out OptItem o))
        {
            if (TakeCategory(o, ref type)) continue;
            if (o.Def == CloseDelete) delete = true;
            else if (target == null) target = o.Value;
            else return c.SyntaxError($"Invalid parameter '{o.Value}'");
        }
        if (target == null)
            return c.SyntaxError("Medium name or UUID required");
        DeviceType dt = type ?? DeviceType.HardDisk;
        IMedium m = Open(c, target, dt, dt == DeviceType.DVD ? AccessMode.ReadOnly : AccessMode.ReadWrite);
        if (delete)
        {
            if (!c.RunProgress(m.DeleteStorage(), "Failed to delete medium"))
                return Exit.Failure;
        }
        m.Close();
        return Exit.Success;
    }

    // ---- convertfromraw ---------------------------------------------------------------------------

    private static readonly OptDef CrFormat = new(new[] { "--format", "-format" }, ArgKind.String);
    private static readonly OptDef CrStatic = new(new[] { "--static", "-static" }, ArgKind.None);
    private static readonly OptDef CrVariant = new(new[] { "--variant", "-variant" }, ArgKind.String);
    private static readonly OptDef CrUuid = new("--uuid", ArgKind.String);

    /// <summary>
    /// Like VirtualBox's, this runs in the client with the image library directly (no API call): the
    /// new image is not registered anywhere.
    /// </summary>
    public static int ConvertFromRaw(Ctx c)
    {
        string format = "VDI";
        string? src = null, dst = null, sizeArg = null;
        MediumVariant variant = MediumVariant.Standard;
        Guid? uuid = null;
        bool fromStdin = false;
        var opts = new GetOpt(c.Args, new[] { CrFormat, CrStatic, CrVariant, CrUuid });
        while (opts.Next(out OptItem o))
        {
            if (o.Def == CrFormat) format = o.Value;
            else if (o.Def == CrStatic) variant |= MediumVariant.Fixed;
            else if (o.Def == CrVariant) variant = ParseVariant(o.Value, variant);
            else if (o.Def == CrUuid)
            {
                if (!Guid.TryParse(o.Value.Trim('{', '}'), out Guid g))
                    return c.SyntaxError($"Invalid UUID '{o.Value}'");
                uuid = g;
            }
            else if (src == null)
            {
                src = o.Value;
                fromStdin = src == "stdin";
            }
            else if (dst == null) dst = o.Value;
            else if (fromStdin && sizeArg == null) sizeArg = o.Value;
            else return c.SyntaxError($"Invalid parameter '{o.Value}'");
        }
        if (src == null || dst == null || (fromStdin && sizeArg == null))
            return c.SyntaxError("Incorrect number of parameters");
        c.Err.WriteLine($"Converting from raw image file=\"{src}\" to file=\"{dst}\"...");

        var backend = new StorageMediumBackend();
        string? canonical = backend.CreatableFormats.FirstOrDefault(f => string.Equals(f, format, StringComparison.OrdinalIgnoreCase));
        if (canonical == null || canonical == "RAW")
            return c.Failure($"Cannot create the disk image \"{dst}\": unsupported format '{format}' (use VDI, VMDK or VHD)");
        string target = Path.GetFullPath(dst);
        if (File.Exists(target))
            return c.Failure($"Cannot create the disk image \"{dst}\": the file already exists (VERR_ALREADY_EXISTS)");

        string raw = src;
        string? temp = null;
        try
        {
            long size;
            if (fromStdin)
            {
                if (!GetOpt.TryParseUnsigned(sizeArg!, out ulong n) || n == 0 || n > long.MaxValue)
                    return c.SyntaxError($"Invalid size '{sizeArg}'");
                size = (long)n;
                // The image library converts from a file; spool stdin next to the target first.
                temp = target + ".stdin-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + ".raw";
                using (Stream input = Console.OpenStandardInput())
                using (var output = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
                {
                    byte[] buffer = new byte[1 << 20];
                    long left = size;
                    while (left > 0)
                    {
                        int r = input.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
                        if (r == 0)
                            break;
                        output.Write(buffer, 0, r);
                        left -= r;
                    }
                    output.SetLength(size);
                }
                raw = temp;
            }
            else
            {
                if (!File.Exists(src))
                    return c.Failure($"Cannot open file \"{src}\": VERR_FILE_NOT_FOUND");
                size = new FileInfo(src).Length;
            }
            c.Err.WriteLine($"Creating {((variant & MediumVariant.Fixed) != 0 ? "fixed" : "dynamic")} image with size {size} bytes ({(size + MiB - 1) / MiB}MB)...");
            try
            {
                backend.ConvertFromRaw(raw, target, canonical, variant, uuid, _ => { });
            }
            catch (MediumBackendException e)
            {
                return c.Failure($"Cannot create the disk image \"{dst}\": {e.Message}");
            }
            return Exit.Success;
        }
        finally
        {
            if (temp != null && File.Exists(temp))
                File.Delete(temp);
        }
    }
}
