using System.Text;
using SharpBox.Main.Api;
using SharpBox.Main.Impl;
using SharpBox.Main.Remote;
using VBoxManage.Cli;
using VBoxManage.Commands;

namespace VBoxManage;

/// <summary>A VBoxManage command: its name, the help topic it shares with its aliases, and its handler.</summary>
internal sealed record CommandDef(string Name, string HelpTopic, Func<Ctx, int> Handler);

public static class Program
{
    /// <summary>
    /// The command table. Adding a command is one line here, a handler, and a help topic in
    /// <see cref="Help"/>; old names (createhd, showhdinfo, ...) map to the same handler.
    /// </summary>
    private static readonly CommandDef[] Commands =
    {
        new("list", "list", ListCommand.Run),
        new("showvminfo", "showvminfo", ShowVmInfoCommand.Run),
        new("registervm", "registervm", VmCommands.RegisterVm),
        new("unregistervm", "unregistervm", VmCommands.UnregisterVm),
        new("createvm", "createvm", VmCommands.CreateVm),
        new("modifyvm", "modifyvm", ModifyVmCommand.Run),
        new("clonevm", "clonevm", VmCommands.CloneVm),
        new("createmedium", "createmedium", MediumCommands.CreateMedium),
        new("createhd", "createmedium", MediumCommands.CreateMedium),
        new("createvdi", "createmedium", MediumCommands.CreateMedium),
        new("modifymedium", "modifymedium", MediumCommands.ModifyMedium),
        new("modifyhd", "modifymedium", MediumCommands.ModifyMedium),
        new("modifyvdi", "modifymedium", MediumCommands.ModifyMedium),
        new("clonemedium", "clonemedium", MediumCommands.CloneMedium),
        new("clonehd", "clonemedium", MediumCommands.CloneMedium),
        new("clonevdi", "clonemedium", MediumCommands.CloneMedium),
        new("showmediuminfo", "showmediuminfo", MediumCommands.ShowMediumInfo),
        new("showhdinfo", "showmediuminfo", MediumCommands.ShowMediumInfo),
        new("showvdiinfo", "showmediuminfo", MediumCommands.ShowMediumInfo),
        new("closemedium", "closemedium", MediumCommands.CloseMedium),
        new("convertfromraw", "convertfromraw", MediumCommands.ConvertFromRaw),
        new("convertdd", "convertfromraw", MediumCommands.ConvertFromRaw),
        new("storagectl", "storagectl", StorageCommands.StorageCtl),
        new("storageattach", "storageattach", StorageCommands.StorageAttach),
        new("getextradata", "getextradata", MiscCommands.GetExtraData),
        new("setextradata", "setextradata", MiscCommands.SetExtraData),
        new("setproperty", "setproperty", MiscCommands.SetProperty),
        new("startvm", "startvm", RuntimeCommands.StartVm),
        new("controlvm", "controlvm", RuntimeCommands.ControlVm),
        new("debugvm", "debugvm", DebugVmCommand.Run),
        new("snapshot", "snapshot", SnapshotCommands.Snapshot),
        new("discardstate", "discardstate", SnapshotCommands.DiscardState),
        new("adoptstate", "adoptstate", SnapshotCommands.AdoptState),
    };

    public static int Main(string[] args)
    {
        var stdout = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false), 1 << 16) { AutoFlush = false, NewLine = "\n" };
        var stderr = new StreamWriter(Console.OpenStandardError(), new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };
        IVirtualBox? connection = null;
        try
        {
            // Everything goes through VBoxSVC (started on first use), as VirtualBox's VBoxManage does.
            return Run(args, stdout, stderr, () => connection = VBoxClient.Connect("VBoxManage"));
        }
        finally
        {
            stdout.Flush();
            (connection as IDisposable)?.Dispose();
        }
    }

    private static bool IsHelpWord(string a) => a is "help" or "--help" or "-?" or "-h" or "-help";

    /// <summary>Runs one VBoxManage invocation against the API the factory creates; returns the exit code.</summary>
    internal static int Run(string[] args, TextWriter stdout, TextWriter stderr, Func<IVirtualBox> factory)
    {
        bool showHelp = false;
        bool detailedProgress = false;
        int cmd = 0;
        while (true)
        {
            if (cmd >= args.Length)
            {
                Help.PrintAll(stdout, Commands.Select(c => c.HelpTopic).Distinct());
                return Exit.Success;
            }
            string a = args[cmd];
            if (IsHelpWord(a))
            {
                showHelp = true;
                cmd++;
                continue;
            }
            if (a is "-V" or "--version" or "-v" or "-version" or "-Version")
            {
                stdout.WriteLine($"{VirtualBox.ProductVersion}r{VirtualBox.ProductRevision}");
                return Exit.Success;
            }
            if (a == "--dump-build-type")
            {
                stdout.WriteLine("release");
                return Exit.Success;
            }
            if (a is "--nologo" or "-q" or "-nologo")
            {
                cmd++;
                continue;
            }
            if (a is "--detailed-progress" or "-d")
            {
                detailedProgress = true;
                cmd++;
                continue;
            }
            if (a is "--settingspw" or "--settingspwfile")
            {
                stderr.WriteLine($"VBoxManage: error: {a} is for encrypted settings, which SharpBox does not support");
                return Exit.Failure;
            }
            break;
        }

        string name = args[cmd];
        CommandDef? def = Array.Find(Commands, c => c.Name == name);
        if (def == null)
        {
            if (name == "commands")
            {
                stdout.WriteLine("commands:");
                foreach (CommandDef c in Commands.DistinctBy(c => c.HelpTopic))
                    stdout.WriteLine($"    {c.Name}");
                return Exit.Success;
            }
            stderr.WriteLine($"VBoxManage: error: Invalid command '{name}'");
            stderr.WriteLine();
            stderr.WriteLine("Run 'VBoxManage help' for the list of commands.");
            return Exit.Syntax;
        }

        string[] rest = args[(cmd + 1)..];
        if (showHelp)
        {
            Help.PrintFull(def.HelpTopic, stdout);
            return Exit.Failure; // As VBoxManage: "help <command>" exits with 1.
        }
        if (rest.Length == 0)
        {
            Help.PrintUsage(def.HelpTopic, stdout);
            return Exit.Failure;
        }
        if (rest.Any(r => r is "--help" or "-h" or "-?"))
        {
            Help.PrintFull(def.HelpTopic, stdout);
            return Exit.Success;
        }

        var ctx = new Ctx(def, rest, factory, stdout, stderr) { DetailedProgress = detailedProgress };
        try
        {
            return def.Handler(ctx);
        }
        catch (SyntaxException e)
        {
            return e.ShowUsage ? ctx.SyntaxError(e.Message) : ctx.ArgumentError(e.Message);
        }
        catch (VBoxException e)
        {
            return ctx.ApiError(e, null);
        }
    }
}
