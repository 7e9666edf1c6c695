using SharpBox.Main.Api;
using VBoxManage.Cli;

namespace VBoxManage.Commands;

/// <summary>
/// debugvm: the running VM's debugger (IConsole.Debugger) through VBoxSVC, with VirtualBox's
/// sub-commands, output layout and errors. The logger, guest-stack and sampling sub-commands have
/// no SharpBox counterpart and say so.
/// </summary>
internal static class DebugVmCommand
{
    private static readonly OptDef Cpu = new("--cpu", ArgKind.UInt32);
    private static readonly OptDef Filename = new("--filename", ArgKind.String);
    private static readonly OptDef Compression = new("--compression", ArgKind.String);
    private static readonly OptDef Descriptions = new("--descriptions", ArgKind.None);
    private static readonly OptDef Pattern = new("--pattern", ArgKind.String);
    private static readonly OptDef Reset = new("--reset", ArgKind.None);

    public static int Run(Ctx c)
    {
        if (c.Args.Count < 2)
            return c.SyntaxError("No subcommand specified");
        string vm = c.Args[0];
        string sub = c.Args[1];
        IMachine machine = c.VBox.FindMachine(vm);
        ISession session = c.VBox.CreateSession();
        machine.LockMachine(session, LockType.Shared);
        try
        {
            // A shared lock on a machine no VM process holds is a plain write lock: no console.
            if (session.Type != SessionType.Shared)
            {
                c.PrintError($"Machine '{vm}' is not currently running.");
                return Exit.Failure;
            }
            IMachineDebugger dbg = session.Console.Debugger;
            return sub switch
            {
                "dumpvmcore" => DumpVmCore(c, dbg),
                "getregisters" => GetRegisters(c, dbg),
                "setregisters" => SetRegisters(c, dbg),
                "info" => Info(c, dbg),
                "injectnmi" => NoArgs(c, () => dbg.InjectNMI()),
                "osdetect" => NoArgs(c, () => c.Out.WriteLine($"Detected: {dbg.DetectOS()}")),
                "osinfo" => NoArgs(c, () =>
                {
                    string name = dbg.OSName, version = dbg.OSVersion;
                    c.Out.WriteLine($"Name:    {name}");
                    c.Out.WriteLine($"Version: {version}");
                }),
                "statistics" => Statistics(c, dbg),
                "log" or "logdest" or "logflags" or "show" =>
                    c.Failure($"debugvm {sub}: SharpBox has no debug logger with groups, flags and destinations (the release log is the VM's Logs/VBox.log)"),
                "osdmesg" or "stack" or "guestsample" =>
                    c.Failure($"debugvm {sub} is not supported by SharpBox (it needs the guest kernel's symbols)"),
                _ => c.SyntaxError($"Unknown sub-command: {sub}"),
            };
        }
        finally
        {
            if (session.State == SessionState.Locked)
            {
                try { session.UnlockMachine(); }
                catch (VBoxException) { }
            }
        }
    }

    private static int NoArgs(Ctx c, Action a)
    {
        if (c.Args.Count > 2)
            return c.SyntaxError($"Too many parameters: '{c.Args[2]}'");
        a();
        return Exit.Success;
    }

    private static int Info(Ctx c, IMachineDebugger dbg)
    {
        string? item = null, args = null;
        var opts = new GetOpt(c.Args, Array.Empty<OptDef>(), 2);
        while (opts.Next(out OptItem o))
        {
            if (item == null) item = o.Value;
            else if (args == null) args = o.Value;
            else return c.SyntaxError($"Too many parameters: '{o.Value}'");
        }
        if (item == null)
            return c.SyntaxError("Must specify info item to display");
        c.Out.Write(dbg.Info(item, args ?? ""));
        return Exit.Success;
    }

    private static int DumpVmCore(Ctx c, IMachineDebugger dbg)
    {
        string? file = null, compression = null;
        var opts = new GetOpt(c.Args, new[] { Filename, Compression }, 2);
        while (opts.Next(out OptItem o))
        {
            if (o.Def == Filename)
            {
                if (file != null) return c.SyntaxError("The --filename option has already been given");
                file = o.Value;
            }
            else if (o.Def == Compression)
            {
                if (compression != null) return c.SyntaxError("The --compression option has already been given");
                compression = o.Value;
            }
            else return c.SyntaxError($"Invalid parameter '{o.Value}'");
        }
        if (file == null)
            return c.SyntaxError("The --filename option is required");
        dbg.DumpGuestCore(Path.GetFullPath(file), compression ?? "");
        return Exit.Success;
    }

    private static int GetRegisters(Ctx c, IMachineDebugger dbg)
    {
        uint cpu = 0;
        int count = 0;
        var opts = new GetOpt(c.Args, new[] { Cpu }, 2);
        while (opts.Next(out OptItem o))
        {
            if (o.Def == Cpu) { cpu = o.UInt32; continue; }
            if (o.Value.Equals("all", StringComparison.OrdinalIgnoreCase))
            {
                IReadOnlyList<DebuggerRegister> regs = dbg.GetRegisters(cpu);
                int width = Math.Max(8, regs.Count == 0 ? 0 : regs.Max(r => r.Name.Length));
                foreach (DebuggerRegister r in regs)
                    c.Out.WriteLine($"{r.Name.PadRight(width)} = {r.Value}");
            }
            else
                c.Out.WriteLine($"{o.Value} = {dbg.GetRegister(cpu, o.Value)}");
            count++;
        }
        if (count == 0)
            return c.SyntaxError("The getregisters sub-command takes at least one register name");
        return Exit.Success;
    }

    private static int SetRegisters(Ctx c, IMachineDebugger dbg)
    {
        uint cpu = 0;
        var names = new List<string>();
        var values = new List<string>();
        var opts = new GetOpt(c.Args, new[] { Cpu }, 2);
        while (opts.Next(out OptItem o))
        {
            if (o.Def == Cpu) { cpu = o.UInt32; continue; }
            int eq = o.Value.IndexOf('=');
            if (eq < 0)
                return c.SyntaxError($"setregisters expects input on the form 'register=value' got '{o.Value}'");
            names.Add(o.Value[..eq]);
            values.Add(o.Value[(eq + 1)..]);
        }
        if (names.Count == 0)
            return c.SyntaxError("The setregisters sub-command takes at least one register name");
        if (names.Count == 1)
        {
            dbg.SetRegister(cpu, names[0], values[0]);
            c.Out.WriteLine($"Successfully set {names[0]}");
        }
        else
        {
            dbg.SetRegisters(cpu, names, values);
            c.Out.WriteLine($"Successfully set {names.Count} registers");
        }
        return Exit.Success;
    }

    private static int Statistics(Ctx c, IMachineDebugger dbg)
    {
        bool descriptions = false, reset = false;
        string? pattern = null;
        var opts = new GetOpt(c.Args, new[] { Descriptions, Pattern, Reset }, 2);
        while (opts.Next(out OptItem o))
        {
            if (o.Def == Descriptions) descriptions = true;
            else if (o.Def == Reset) reset = true;
            else if (o.Def == Pattern)
            {
                if (pattern != null) return c.SyntaxError("Multiple --pattern options are not permitted");
                pattern = o.Value;
            }
            else return c.SyntaxError($"Invalid parameter '{o.Value}'");
        }
        if (reset && descriptions)
            return c.SyntaxError("The --reset and --descriptions options does not mix");
        if (reset)
            return c.Failure("debugvm statistics --reset: SharpBox's counters count from power-on and cannot be reset");
        c.Out.WriteLine(dbg.GetStats(pattern ?? "", descriptions).TrimEnd('\n'));
        return Exit.Success;
    }
}
