using System.Globalization;
using SharpBox.Main.Api;
using VBoxManage.Cli;

namespace VBoxManage.Commands;

/// <summary>
/// startvm and controlvm: VBoxSVC starts the VM process (VBoxHeadless) and forwards console requests
/// to it. Messages and exit codes as VirtualBox's VBoxManage.
/// </summary>
internal static class RuntimeCommands
{
    private static readonly OptDef StType = new(new[] { "--type", "-type" }, ArgKind.String);
    private static readonly OptDef StPutEnv = new(new[] { "--putenv", "-E" }, ArgKind.String);
    private static readonly OptDef StPassword = new("--password", ArgKind.String);
    private static readonly OptDef StPasswordId = new("--password-id", ArgKind.String);

    public static int StartVm(Ctx c)
    {
        var vms = new List<string>();
        string type = "headless";
        var env = new List<string>();
        var opts = new GetOpt(c.Args, new[] { StType, StPutEnv, StPassword, StPasswordId });
        while (opts.Next(out OptItem o))
        {
            if (o.Def == StType)
            {
                type = o.Value;
                if (type is not ("gui" or "headless" or "sdl" or "separate" or ""))
                    return c.ArgumentError($"Invalid session type '{type}'");
            }
            else if (o.Def == StPutEnv)
                env.Add(o.Value.Contains('=') ? o.Value : o.Value + "=");
            else if (o.Def == StPassword || o.Def == StPasswordId)
                return c.Failure("Encrypted machines are not supported by SharpBox");
            else if (o.Def == null)
                vms.Add(o.Value);
            else
                return c.SyntaxError($"Invalid parameter '{o.Value}'");
        }
        if (vms.Count == 0)
            return c.SyntaxError("at least one VM name or UUID required");
        int rc = Exit.Success;
        foreach (string vm in vms)
        {
            IMachine m;
            try { m = c.VBox.FindMachine(vm); }
            catch (VBoxException e)
            {
                c.ApiError(e, $"FindMachine(Bstr(VMName).raw(), machine.asOutParam())");
                rc = Exit.Failure;
                continue;
            }
            ISession session = c.VBox.CreateSession();
            IProgress p;
            try { p = m.LaunchVMProcess(session, type, env); }
            catch (VBoxException e)
            {
                c.ApiError(e, "LaunchVMProcess(a->session, sessionType.raw(), ComSafeArrayAsInParam(aBstrEnv), progress.asOutParam())");
                rc = Exit.Failure;
                continue;
            }
            string name = m.Name;
            c.Out.WriteLine($"Waiting for VM \"{name}\" to power on...");
            c.Out.Flush();
            p.WaitForCompletion(-1);
            if (p.ResultCode != ResultCode.S_OK)
            {
                if (p.ErrorInfo is VBoxErrorInfo info)
                    c.PrintApiError(info, null);
                else
                    c.PrintError($"Failed to start VM \"{name}\"");
                rc = Exit.Failure;
                continue;
            }
            c.Out.WriteLine($"VM \"{name}\" has been successfully started.");
            if (session.State == SessionState.Locked)
                session.UnlockMachine();
        }
        return rc;
    }

    public static int ControlVm(Ctx c)
    {
        if (c.Args.Count < 2)
            return c.SyntaxError("Not enough parameters");
        IMachine machine = c.VBox.FindMachine(c.Args[0]);
        string name = machine.Name;
        string sub = c.Args[1];
        IReadOnlyList<string> rest = c.Args.Skip(2).ToList();
        ISession session = c.VBox.CreateSession();
        machine.LockMachine(session, LockType.Shared);
        try
        {
            // A shared lock on a machine no VM process holds is a plain write lock: nothing to control.
            if (session.Type != SessionType.Shared)
            {
                c.PrintError($"Machine '{name}' is not currently running.");
                return Exit.Failure;
            }
            IConsole console = session.Console;
            switch (sub)
            {
                case "pause": console.Pause(); return Exit.Success;
                case "resume": console.Resume(); return Exit.Success;
                case "reset": console.Reset(); return Exit.Success;
                case "acpipowerbutton": console.PowerButton(); return Exit.Success;
                case "poweroff":
                    return c.RunProgress(console.PowerDown(), "Failed to power off machine") ? Exit.Success : Exit.Failure;
                case "savestate":
                    return c.RunProgress(console.SaveState(), "Failed to save machine state") ? Exit.Success : Exit.Failure;
                case "keyboardputscancode":
                    {
                        if (rest.Count == 0)
                            return c.SyntaxError("Missing argument to 'keyboardputscancode'. Expected IBM PC AT set 2 keyboard scancode(s).");
                        var codes = new List<int>();
                        foreach (string h in rest)
                        {
                            if (h.Length != 2 || !byte.TryParse(h, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out byte b))
                                return c.Failure($"Error: '{h}' is not a hex byte!");
                            codes.Add(b);
                        }
                        console.PutScancodes(codes);
                        return Exit.Success;
                    }
                case "screenshotpng":
                    {
                        if (rest.Count is < 1 or > 2)
                            return c.SyntaxError("Incorrect number of parameters");
                        uint display = 0;
                        if (rest.Count == 2 && !uint.TryParse(rest[1], NumberStyles.None, CultureInfo.InvariantCulture, out display))
                            return c.ArgumentError($"Invalid display number '{rest[1]}'");
                        byte[] png = console.TakeScreenshotPng(display);
                        File.WriteAllBytes(Path.GetFullPath(rest[0]), png);
                        return Exit.Success;
                    }
                default:
                    if (sub.StartsWith("setlinkstate", StringComparison.Ordinal)
                        && uint.TryParse(sub["setlinkstate".Length..], NumberStyles.None, CultureInfo.InvariantCulture, out uint n) && n >= 1)
                    {
                        if (rest.Count != 1 || rest[0] is not ("on" or "off"))
                            return c.SyntaxError($"Invalid link state '{(rest.Count > 0 ? rest[0] : "")}' (on or off)");
                        console.SetLinkState(n - 1, rest[0] == "on");
                        return Exit.Success;
                    }
                    return c.SyntaxError($"Invalid parameter '{sub}'");
            }
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
}
