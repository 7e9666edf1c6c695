using SharpBox.Main.Api;
using VBoxManage.Cli;

namespace VBoxManage.Commands;

/// <summary>getextradata, setextradata and setproperty.</summary>
internal static class MiscCommands
{
    public static int GetExtraData(Ctx c)
    {
        if (c.Args.Count != 2)
            return c.SyntaxError("Incorrect number of parameters");
        string target = c.Args[0], key = c.Args[1];
        IReadOnlyList<string> keys;
        Func<string, string> get;
        if (target == "global")
        {
            keys = key == "enumerate" ? c.VBox.GetExtraDataKeys() : Array.Empty<string>();
            get = c.VBox.GetExtraData;
        }
        else
        {
            IMachine m = c.VBox.FindMachine(target);
            keys = key == "enumerate" ? m.GetExtraDataKeys() : Array.Empty<string>();
            get = m.GetExtraData;
        }
        if (key == "enumerate")
        {
            foreach (string k in keys)
                c.Out.WriteLine($"Key: {k}, Value: {get(k)}");
            return Exit.Success;
        }
        string value = get(key);
        c.Out.WriteLine(value.Length > 0 ? $"Value: {value}" : "No value set!");
        return Exit.Success;
    }

    public static int SetExtraData(Ctx c)
    {
        if (c.Args.Count < 2)
            return c.SyntaxError("Not enough parameters");
        if (c.Args.Count > 3)
            return c.SyntaxError("Too many parameters");
        string target = c.Args[0], key = c.Args[1];
        string? value = c.Args.Count == 3 ? c.Args[2] : null;
        if (target == "global")
        {
            c.VBox.SetExtraData(key, value);
            return Exit.Success;
        }
        // As VirtualBox's: extra data is set on the machine itself, no session needed (also while it runs).
        IMachine machine = c.VBox.FindMachine(target);
        machine.SetExtraData(key, value);
        return Exit.Success;
    }

    /// <summary>The settable global properties: name, and how the value is applied.</summary>
    private static readonly (string Name, Action<ISystemProperties, string> Apply)[] Properties =
    {
        ("machinefolder", (sp, v) => sp.DefaultMachineFolder = v == "default" ? "" : v),
        ("hwvirtexclusive", (sp, v) => sp.ExclusiveHwVirt = v switch
        {
            "on" => true,
            "off" => false,
            _ => throw new SyntaxException($"Invalid hwvirtexclusive argument '{v}'"),
        }),
        ("vrdeauthlibrary", (sp, v) => sp.VRDEAuthLibrary = v == "default" ? "" : v),
        ("vrdeextpack", (sp, v) => sp.DefaultVRDEExtPack = v == "null" ? "" : v),
        ("websrvauthlibrary", (sp, v) => sp.WebServiceAuthLibrary = v == "default" ? "" : v),
        ("loghistorycount", (sp, v) => sp.LogHistoryCount = GetOpt.TryParseUnsigned(v, out ulong n) && n <= uint.MaxValue
            ? (uint)n : throw new SyntaxException($"Invalid loghistorycount argument '{v}'")),
        ("autostartdbpath", (sp, v) => sp.AutostartDatabasePath = v == "null" ? "" : v),
        ("defaultfrontend", (sp, v) => sp.DefaultFrontend = v == "default" ? "" : v),
        ("logginglevel", (sp, v) => sp.LoggingLevel = v),
        ("proxymode", (sp, v) => sp.ProxyMode = v),
        ("proxyurl", (sp, v) => sp.ProxyURL = v),
        ("language", (sp, v) => sp.LanguageId = v),
    };

    public static int SetProperty(Ctx c)
    {
        if (c.Args.Count != 2)
            return c.SyntaxError("Incorrect number of parameters");
        string name = c.Args[0], value = c.Args[1];
        foreach (var (prop, apply) in Properties)
        {
            if (!string.Equals(prop, name, StringComparison.Ordinal) && !(name == "vrdpauthlibrary" && prop == "vrdeauthlibrary"))
                continue;
            apply(c.VBox.SystemProperties, value);
            return Exit.Success;
        }
        return c.SyntaxError($"Invalid parameter '{name}'");
    }
}
