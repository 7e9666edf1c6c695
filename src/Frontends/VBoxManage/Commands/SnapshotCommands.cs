using SharpBox.Main.Api;
using VBoxManage.Cli;

namespace VBoxManage.Commands;

/// <summary>
/// snapshot take|delete|restore|restorecurrent|edit|list|showvminfo, discardstate and adoptstate,
/// with VirtualBox's messages. snapshot locks the machine with a shared lock (a write lock when no
/// VM runs it, as in VirtualBox); discardstate and adoptstate take a write lock.
/// </summary>
internal static class SnapshotCommands
{
    private static readonly OptDef TakeDescription = new(new[] { "--description", "-description", "-desc" }, ArgKind.String);
    private static readonly OptDef TakePause = new("--pause", ArgKind.None);
    private static readonly OptDef TakeLive = new("--live", ArgKind.None);
    private static readonly OptDef TakeUnique = new("--uniquename", ArgKind.String);
    private static readonly OptDef EditCurrent = new(new[] { "--current", "-current" }, ArgKind.None);
    private static readonly OptDef EditName = new(new[] { "--name", "-name", "-newname" }, ArgKind.String);
    private static readonly OptDef EditDescription = new(new[] { "--description", "-description", "-desc" }, ArgKind.String);
    private static readonly OptDef ListDetails = new("--details", ArgKind.None);
    private static readonly OptDef ListMachineReadable = new("--machinereadable", ArgKind.None);

    public static int Snapshot(Ctx c)
    {
        if (c.Args.Count < 2)
            return c.SyntaxError("Not enough parameters");
        IMachine machine = c.VBox.FindMachine(c.Args[0]);
        ISession session = c.VBox.CreateSession();
        machine.LockMachine(session, LockType.Shared);
        try
        {
            IMachine sm = session.Machine;
            string sub = c.Args[1];
            IReadOnlyList<string> rest = c.Args.Skip(2).ToList();
            return sub switch
            {
                "take" => Take(c, sm, rest),
                "delete" => DeleteOrRestore(c, sm, rest, delete: true, current: false),
                "restore" => DeleteOrRestore(c, sm, rest, delete: false, current: false),
                "restorecurrent" => DeleteOrRestore(c, sm, rest, delete: false, current: true),
                "edit" => Edit(c, sm, rest),
                "list" => List(c, sm, rest),
                "showvminfo" => ShowVmInfo(c, sm, rest),
                _ => c.SyntaxError($"Invalid parameter '{sub}'"),
            };
        }
        finally
        {
            session.UnlockMachine();
        }
    }

    private static int Take(Ctx c, IMachine sm, IReadOnlyList<string> args)
    {
        if (args.Count < 1)
            return c.SyntaxError("Missing snapshot name");
        string name = args[0];
        string description = "";
        bool pause = true;
        string? unique = null;
        var opts = new GetOpt(args.Skip(1).ToList(), new[] { TakeDescription, TakePause, TakeLive, TakeUnique });
        while (opts.Next(out OptItem o))
        {
            if (o.Def == TakeDescription) description = o.Value;
            else if (o.Def == TakePause) pause = true;
            else if (o.Def == TakeLive) pause = false;
            else if (o.Def == TakeUnique) unique = o.Value;
            else return c.SyntaxError($"Invalid parameter '{o.Value}'");
        }
        if (unique != null)
        {
            string? n = UniqueName(c, sm, name, unique);
            if (n == null)
                return Exit.Syntax;
            name = n;
        }
        TakeSnapshotResult r = sm.TakeSnapshot(name, description, pause);
        if (c.ShowProgress(r.Progress) == ResultCode.S_OK)
        {
            c.Out.WriteLine($"Snapshot taken. UUID: {r.Id:D}");
            return Exit.Success;
        }
        c.PrintError("Failed to take snapshot");
        if (r.Progress.ErrorInfo is VBoxErrorInfo info)
            c.PrintApiError(info, null);
        return Exit.Failure;
    }

    /// <summary>--uniquename Number|Timestamp[,Space][,Force]: VirtualBox's rules for a name no snapshot has yet.</summary>
    private static string? UniqueName(Ctx c, IMachine sm, string name, string flags)
    {
        bool number = false, timestamp = false, space = false, force = false;
        foreach (string f in flags.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if ("number".StartsWith(f, StringComparison.OrdinalIgnoreCase)) number = true;
            else if ("timestamp".StartsWith(f, StringComparison.OrdinalIgnoreCase)) timestamp = true;
            else if ("space".StartsWith(f, StringComparison.OrdinalIgnoreCase)) space = true;
            else if ("force".StartsWith(f, StringComparison.OrdinalIgnoreCase)) force = true;
            else
            {
                c.ArgumentError($"Invalid unique name description '{flags}'");
                return null;
            }
        }
        if (!number && !timestamp)
            return name;
        var existing = new HashSet<string>(StringComparer.Ordinal);
        void Walk(ISnapshot s)
        {
            existing.Add(s.Name);
            foreach (ISnapshot ch in s.Children)
                Walk(ch);
        }
        if (sm.SnapshotCount > 0)
            Walk(sm.FindSnapshot(null));
        if (!existing.Contains(name) && !force)
            return name;
        DateTime now = DateTime.UtcNow;
        for (int count = number ? (force ? 1 : 2) : 0; count < 500; count++)
        {
            string suffix = number ? count.ToString(System.Globalization.CultureInfo.InvariantCulture)
                : now.AddSeconds(count).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
            string candidate = space ? $"{name} {suffix}" : name + suffix;
            if (!existing.Contains(candidate))
                return candidate;
        }
        c.ArgumentError("Failed to generate a unique snapshot name");
        return null;
    }

    private static int DeleteOrRestore(Ctx c, IMachine sm, IReadOnlyList<string> args, bool delete, bool current)
    {
        if (current && args.Count > 0)
            return c.SyntaxError("Too many arguments");
        if (!current && args.Count != 1)
            return c.SyntaxError("Expecting snapshot name only");
        ISnapshot snap;
        if (current)
        {
            ISnapshot? cur = sm.CurrentSnapshot;
            if (cur == null)
            {
                c.Out.WriteLine("This machine does not have any snapshots");
                return Exit.Failure;
            }
            snap = cur;
        }
        else
            snap = sm.FindSnapshot(args[0]);
        Guid id = snap.Id;
        c.Out.WriteLine($"{(delete ? "Deleting" : "Restoring")} snapshot '{snap.Name}' ({id:D})");
        c.Out.Flush();
        IProgress p = delete ? sm.DeleteSnapshot(id) : sm.RestoreSnapshot(snap);
        return c.RunProgress(p, "Snapshot operation failed") ? Exit.Success : Exit.Failure;
    }

    private static int Edit(Ctx c, IMachine sm, IReadOnlyList<string> args)
    {
        if (args.Count < 1)
            return c.SyntaxError("Missing snapshot name");
        ISnapshot? snap = null;
        var opts = new GetOpt(args, new[] { EditCurrent, EditName, EditDescription });
        while (opts.Next(out OptItem o))
        {
            if (o.Def == EditCurrent)
            {
                snap = sm.CurrentSnapshot;
                if (snap == null)
                {
                    c.Out.WriteLine("This machine does not have any snapshots");
                    return Exit.Failure;
                }
            }
            else if (o.Def == EditName || o.Def == EditDescription)
            {
                if (snap == null)
                    return c.SyntaxError($"{o.Raw}: name the snapshot (or give --current) first");
                if (o.Def == EditName) snap.Name = o.Value;
                else snap.Description = o.Value;
            }
            else if (o.Def == null)
                snap = sm.FindSnapshot(o.Value);
            else return c.SyntaxError($"Invalid parameter '{o.Value}'");
        }
        return Exit.Success;
    }

    private static int List(Ctx c, IMachine sm, IReadOnlyList<string> args)
    {
        bool mr = false;
        var opts = new GetOpt(args, new[] { ListDetails, ListMachineReadable });
        while (opts.Next(out OptItem o))
        {
            if (o.Def == ListDetails) { }
            else if (o.Def == ListMachineReadable) mr = true;
            else return c.SyntaxError($"Invalid parameter '{o.Value}'");
        }
        if (sm.SnapshotCount == 0)
        {
            c.Out.WriteLine("This machine does not have any snapshots");
            return Exit.Failure;
        }
        PrintTree(c.Out, sm.FindSnapshot(null), sm.CurrentSnapshot?.Id, mr, "");
        return Exit.Success;
    }

    private static int ShowVmInfo(Ctx c, IMachine sm, IReadOnlyList<string> args)
    {
        if (args.Count != 1)
            return c.SyntaxError("Expecting snapshot name only");
        ISnapshot snap = sm.FindSnapshot(args[0]);
        ShowVmInfoCommand.Show(c, snap.Machine, ShowVmInfoCommand.Details.Standard);
        return Exit.Success;
    }

    /// <summary>
    /// The snapshot tree as VBoxManage prints it: indented "Name: X (UUID: Y)" lines with " *" at the
    /// current one, or SnapshotName-1-2="X" keys with CurrentSnapshotName/UUID/Node.
    /// </summary>
    internal static void PrintTree(TextWriter o, ISnapshot snap, Guid? current, bool machineReadable, string prefix)
    {
        string name = snap.Name, description = snap.Description;
        Guid id = snap.Id;
        bool isCurrent = current == id;
        if (machineReadable)
        {
            o.WriteLine($"SnapshotName{prefix}=\"{Escape(name)}\"");
            o.WriteLine($"SnapshotUUID{prefix}=\"{id:D}\"");
            if (description.Length > 0)
                o.WriteLine($"SnapshotDescription{prefix}=\"{Escape(description)}\"");
            if (isCurrent)
            {
                o.WriteLine($"CurrentSnapshotName=\"{Escape(name)}\"");
                o.WriteLine($"CurrentSnapshotUUID=\"{id:D}\"");
                o.WriteLine($"CurrentSnapshotNode=\"SnapshotName{prefix}\"");
            }
        }
        else
        {
            o.WriteLine($"   {prefix}Name: {name} (UUID: {id:D}){(isCurrent ? " *" : "")}");
            if (description.Length > 0 && !description.Contains('\n'))
                o.WriteLine($"   {prefix}Description: {description}");
            else if (description.Length > 0)
                o.WriteLine($"   {prefix}Description:\n{description}");
        }
        IReadOnlyList<ISnapshot> children = snap.Children;
        for (int i = 0; i < children.Count; i++)
            PrintTree(o, children[i], current, machineReadable, machineReadable ? $"{prefix}-{i + 1}" : prefix + "   ");
    }

    private static string Escape(string s) => s.Replace("\\", "\\\\").Replace("\"", "\\\"");

    // ---- discardstate / adoptstate ---------------------------------------------------------------

    public static int DiscardState(Ctx c)
    {
        if (c.Args.Count != 1)
            return c.SyntaxError("Incorrect number of parameters");
        IMachine machine = c.VBox.FindMachine(c.Args[0]);
        ISession session = c.VBox.CreateSession();
        machine.LockMachine(session, LockType.Write);
        try
        {
            session.Machine.DiscardSavedState(true);
        }
        finally
        {
            session.UnlockMachine();
        }
        return Exit.Success;
    }

    public static int AdoptState(Ctx c)
    {
        if (c.Args.Count != 2)
            return c.SyntaxError("Incorrect number of parameters");
        IMachine machine = c.VBox.FindMachine(c.Args[0]);
        string file = Path.GetFullPath(c.Args[1]);
        ISession session = c.VBox.CreateSession();
        machine.LockMachine(session, LockType.Write);
        try
        {
            session.Machine.AdoptSavedState(file);
        }
        finally
        {
            session.UnlockMachine();
        }
        return Exit.Success;
    }
}
