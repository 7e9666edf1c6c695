using SharpBox.Main.Api;
using VBoxManage.Cli;

namespace VBoxManage.Commands;

/// <summary>createvm, registervm, unregistervm and clonevm.</summary>
internal static class VmCommands
{
    // ---- createvm ---------------------------------------------------------------------------------

    private static readonly OptDef CvName = new(new[] { "--name", "-name" }, ArgKind.String);
    private static readonly OptDef CvGroups = new("--groups", ArgKind.String);
    private static readonly OptDef CvBaseFolder = new(new[] { "--basefolder", "-basefolder" }, ArgKind.String);
    private static readonly OptDef CvOsType = new(new[] { "--ostype", "-ostype" }, ArgKind.String);
    private static readonly OptDef CvUuid = new(new[] { "--uuid", "-uuid" }, ArgKind.Uuid);
    private static readonly OptDef CvRegister = new(new[] { "--register", "-register" }, ArgKind.None);
    private static readonly OptDef CvDefault = new("--default", ArgKind.None);
    private static readonly OptDef CvCipher = new("--cipher", ArgKind.String);
    private static readonly OptDef CvPasswordId = new("--password-id", ArgKind.String);
    private static readonly OptDef CvPassword = new("--password", ArgKind.String);

    /// <summary>Splits "--groups /a,/b" as VBoxManage does (empty entries are dropped).</summary>
    internal static List<string> ParseGroups(string value)
        => value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();

    public static int CreateVm(Ctx c)
    {
        string? name = null, baseFolder = null, osType = null, uuid = null;
        List<string> groups = new();
        bool register = false, applyDefaults = false;
        var opts = new GetOpt(c.Args, new[] { CvName, CvGroups, CvBaseFolder, CvOsType, CvUuid, CvRegister, CvDefault, CvCipher, CvPasswordId, CvPassword });
        while (opts.Next(out OptItem o))
        {
            if (o.Def == CvName) name = o.Value;
            else if (o.Def == CvGroups) groups = ParseGroups(o.Value);
            else if (o.Def == CvBaseFolder) baseFolder = o.Value;
            else if (o.Def == CvOsType) osType = o.Value;
            else if (o.Def == CvUuid) uuid = o.Value;
            else if (o.Def == CvRegister) register = true;
            else if (o.Def == CvDefault) applyDefaults = true;
            else if (o.Def == CvCipher || o.Def == CvPasswordId || o.Def == CvPassword)
                return c.Failure("Encrypted machines are not supported by SharpBox");
            else return c.SyntaxError($"Invalid parameter '{o.Value}'");
        }
        if (name == null)
            return c.SyntaxError("Parameter --name is required");
        if (name.Length == 0)
            return c.ArgumentError("The machine name must not be empty");
        if (baseFolder != null && baseFolder.Length == 0)
            return c.ArgumentError("The base folder must not be empty");

        IVirtualBox vbox = c.VBox;
        string? flags = uuid != null ? $"UUID={uuid}" : null;
        if (baseFolder != null)
            baseFolder = Path.GetFullPath(baseFolder);
        string settingsFile = vbox.ComposeMachineFilename(name, groups.Count > 0 ? groups[0] : null, flags, baseFolder);
        IMachine m = vbox.CreateMachine(settingsFile, name, groups, osType, flags);
        if (applyDefaults)
            m.ApplyDefaults(null);
        m.SaveSettings();
        if (register)
            vbox.RegisterMachine(m);
        c.Out.WriteLine($"Virtual machine '{m.Name}' is created{(register ? " and registered" : "")}.");
        c.Out.WriteLine($"UUID: {m.Id:D}");
        c.Out.WriteLine($"Settings file: '{m.SettingsFilePath}'");
        return Exit.Success;
    }

    // ---- registervm -------------------------------------------------------------------------------

    private static readonly OptDef RvPassword = new("--password", ArgKind.String);

    public static int RegisterVm(Ctx c)
    {
        string? file = null;
        var opts = new GetOpt(c.Args, new[] { RvPassword });
        while (opts.Next(out OptItem o))
        {
            if (o.Def == RvPassword)
                return c.Failure("Encrypted machines are not supported by SharpBox");
            if (file == null) file = o.Value;
            else return c.SyntaxError($"Invalid parameter '{o.Value}'");
        }
        if (file == null)
            return c.SyntaxError("No settings file given");
        // Relative paths are taken from the current directory (VirtualBox would use its home folder
        // when VBoxSVC runs elsewhere; scripts pass paths relative to where they run).
        IMachine m = c.VBox.OpenMachine(Path.GetFullPath(file));
        c.VBox.RegisterMachine(m);
        return Exit.Success;
    }

    // ---- unregistervm -----------------------------------------------------------------------------

    private static readonly OptDef UvDelete = new(new[] { "--delete", "-delete" }, ArgKind.None);
    private static readonly OptDef UvDeleteAll = new("--delete-all", ArgKind.None);

    public static int UnregisterVm(Ctx c)
    {
        string? vm = null;
        bool delete = false, deleteAll = false;
        var opts = new GetOpt(c.Args, new[] { UvDelete, UvDeleteAll });
        while (opts.Next(out OptItem o))
        {
            if (o.Def == UvDelete) delete = true;
            else if (o.Def == UvDeleteAll) { delete = true; deleteAll = true; }
            else if (vm == null) vm = o.Value;
            else return c.SyntaxError($"Invalid parameter '{o.Value}'");
        }
        if (vm == null)
            return c.SyntaxError("VM name or UUID required");

        IMachine m = c.VBox.FindMachine(vm);
        if (delete && !m.Accessible)
        {
            // Never delete what cannot be read: the files may be all that is left of the machine.
            if (m.AccessError is VBoxErrorInfo err)
                c.PrintApiError(err, null);
            return c.Failure($"The machine {{{m.Id:D}}} is inaccessible; its files are not deleted. Fix '{m.SettingsFilePath}' or unregister without --delete");
        }
        CleanupMode mode = !delete ? CleanupMode.DetachAllReturnNone
            : deleteAll ? CleanupMode.DetachAllReturnHardDisksAndVMRemovable
            : CleanupMode.DetachAllReturnHardDisksOnly;
        IReadOnlyList<IMedium> media = m.Unregister(mode);
        if (delete)
        {
            if (!c.RunProgress(m.DeleteConfig(media), "Machine delete failed"))
                return Exit.Failure;
        }
        else
        {
            // Media the machine returned are closed; one still used elsewhere just stays open.
            foreach (IMedium medium in media)
            {
                try { medium.Close(); }
                catch (VBoxException) { }
            }
        }
        return Exit.Success;
    }

    // ---- clonevm ----------------------------------------------------------------------------------

    private static readonly OptDef ClSnapshot = new("--snapshot", ArgKind.String);
    private static readonly OptDef ClName = new("--name", ArgKind.String);
    private static readonly OptDef ClGroups = new("--groups", ArgKind.String);
    private static readonly OptDef ClBaseFolder = new("--basefolder", ArgKind.String);
    private static readonly OptDef ClMode = new("--mode", ArgKind.String);
    private static readonly OptDef ClOptions = new(new[] { "--options", "--option" }, ArgKind.String);
    private static readonly OptDef ClUuid = new("--uuid", ArgKind.Uuid);
    private static readonly OptDef ClRegister = new("--register", ArgKind.None);

    public static int CloneVm(Ctx c)
    {
        string? src = null, name = null, baseFolder = null, uuid = null, snapshot = null;
        List<string> groups = new();
        CloneMode mode = CloneMode.MachineState;
        var options = new List<CloneOptions>();
        bool register = false;
        var opts = new GetOpt(c.Args, new[] { ClSnapshot, ClName, ClGroups, ClBaseFolder, ClMode, ClOptions, ClUuid, ClRegister });
        while (opts.Next(out OptItem o))
        {
            if (o.Def == ClSnapshot) snapshot = o.Value;
            else if (o.Def == ClName) name = o.Value;
            else if (o.Def == ClGroups) groups = ParseGroups(o.Value);
            else if (o.Def == ClBaseFolder) baseFolder = o.Value;
            else if (o.Def == ClUuid) uuid = o.Value;
            else if (o.Def == ClRegister) register = true;
            else if (o.Def == ClMode)
            {
                mode = o.Value.ToLowerInvariant() switch
                {
                    "machine" => CloneMode.MachineState,
                    "machineandchildren" or "machinechildren" => CloneMode.MachineAndChildStates,
                    "all" => CloneMode.AllStates,
                    _ => throw new SyntaxException($"Invalid clone mode '{o.Value}'"),
                };
            }
            else if (o.Def == ClOptions)
            {
                foreach (string opt in o.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    CloneOptions co = opt.ToLowerInvariant() switch
                    {
                        "link" => CloneOptions.Link,
                        "keepallmacs" => CloneOptions.KeepAllMACs,
                        "keepnatmacs" => CloneOptions.KeepNATMACs,
                        "keepdisknames" => CloneOptions.KeepDiskNames,
                        "keephwuuids" => CloneOptions.KeepHwUUIDs,
                        _ => throw new SyntaxException($"Invalid clone options '{o.Value}'"),
                    };
                    if (!options.Contains(co))
                        options.Add(co);
                }
            }
            else if (src == null) src = o.Value;
            else return c.SyntaxError($"Invalid parameter '{o.Value}'");
        }
        if (src == null)
            return c.SyntaxError("Mandatory parameter VM missing");
        IVirtualBox vbox = c.VBox;
        IMachine source = vbox.FindMachine(src);
        name ??= $"{source.Name} Clone";
        // A snapshot's machine is the state to clone (and the only source a linked clone can have).
        if (snapshot != null)
            source = source.FindSnapshot(snapshot).Machine;
        if (baseFolder != null)
            baseFolder = Path.GetFullPath(baseFolder);
        string? flags = uuid != null ? $"UUID={uuid}" : null;
        string file = vbox.ComposeMachineFilename(name, groups.Count > 0 ? groups[0] : null, flags, baseFolder);
        IMachine target = vbox.CreateMachine(file, name, groups, null, flags);
        if (!c.RunProgress(source.CloneTo(target, mode, options), "Clone VM failed"))
            return Exit.Failure;
        if (register)
            vbox.RegisterMachine(target);
        c.Out.WriteLine($"Machine has been successfully cloned as \"{name}\"");
        return Exit.Success;
    }
}
