using System.Diagnostics;
using System.Text;
using SharpBox.Main.Api;
using SharpBox.Main.Remote;

namespace SharpBox.Service.Tests;

public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

/// <summary>
/// A configuration directory of its own (VBOX_USER_HOME) with a machine folder inside it, and ways to
/// reach its VBoxSVC: the built VBoxManage as a process, or an in-process client connection.
/// The service it starts leaves <see cref="ShutdownDelayMs"/> after its last client.
/// </summary>
public sealed class SvcHome : IDisposable
{
    public const int ShutdownDelayMs = 1500;

    public string Root { get; }
    public string Home { get; }
    public string MachineFolder => Path.Combine(Root, "vms");
    public string SocketPath => Path.Combine(Home, "VBoxSVC.socket");
    public string LogPath => Path.Combine(Home, "VBoxSVC.log");

    public SvcHome(string? homeName = null, bool setMachineFolder = true)
    {
        Root = Directory.CreateTempSubdirectory("sbx-svc-").FullName;
        Home = Path.Combine(Root, homeName ?? "config");
        Directory.CreateDirectory(Home);
        if (setMachineFolder)
            Ok("setproperty", "machinefolder", MachineFolder);
    }

    public static string RepoRoot
    {
        get
        {
            string? d = AppContext.BaseDirectory;
            while (d != null && !File.Exists(Path.Combine(d, "SharpBox.slnx")))
                d = Path.GetDirectoryName(d);
            return d ?? throw new InvalidOperationException("Cannot find the repository root above " + AppContext.BaseDirectory);
        }
    }

    public static string VBoxManageExe => Path.Combine(RepoRoot, "artifacts", "bin", "VBoxManage", "release", "VBoxManage");
    public static string VBoxSvcExe => Path.Combine(RepoRoot, "artifacts", "bin", "VBoxSVC", "release", "VBoxSVC");
    public static string VBoxHeadlessExe => Path.Combine(RepoRoot, "artifacts", "bin", "VBoxHeadless", "release", "VBoxHeadless");

    public void Environment(ProcessStartInfo psi)
    {
        psi.Environment["VBOX_USER_HOME"] = Home;
        psi.Environment["HOME"] = Root;
        psi.Environment["SHARPBOX_SVC_SHUTDOWN_DELAY_MS"] = ShutdownDelayMs.ToString(System.Globalization.CultureInfo.InvariantCulture);
        psi.Environment["SHARPBOX_VBOXSVC"] = VBoxSvcExe;
        psi.Environment["SHARPBOX_VBOXHEADLESS"] = VBoxHeadlessExe;
    }

    public CliResult Run(params string[] args)
    {
        var psi = new ProcessStartInfo(VBoxManageExe)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Root,
        };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        Environment(psi);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start VBoxManage");
        Task<string> o = p.StandardOutput.ReadToEndAsync();
        Task<string> e = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("VBoxManage " + string.Join(' ', args) + " did not finish in 120 s");
        }
        p.WaitForExit();
        return new CliResult(p.ExitCode, o.Result, e.Result);
    }

    public CliResult Ok(params string[] args)
    {
        CliResult r = Run(args);
        Assert.True(r.ExitCode == 0, $"VBoxManage {string.Join(' ', args)} failed:\n{r}");
        return r;
    }

    public CliResult Fails(int exitCode, params string[] args)
    {
        CliResult r = Run(args);
        Assert.True(r.ExitCode == exitCode, $"VBoxManage {string.Join(' ', args)}: expected exit {exitCode}:\n{r}");
        return r;
    }

    public string CreateVm(string name)
    {
        CliResult r = Ok("createvm", "--name", name, "--register");
        return r.Stdout.Split('\n').First(l => l.StartsWith("UUID: ", StringComparison.Ordinal))["UUID: ".Length..].Trim();
    }

    /// <summary>An in-process client of this home's service (started if needed).</summary>
    public RemoteConnection Connect(string clientName = "Service.Tests")
    {
        lock (s_envGate)
        {
            System.Environment.SetEnvironmentVariable("SHARPBOX_SVC_SHUTDOWN_DELAY_MS", ShutdownDelayMs.ToString(System.Globalization.CultureInfo.InvariantCulture));
            System.Environment.SetEnvironmentVariable("SHARPBOX_VBOXSVC", VBoxSvcExe);
            System.Environment.SetEnvironmentVariable("SHARPBOX_VBOXHEADLESS", VBoxHeadlessExe);
            return VBoxClient.ConnectRaw(clientName, Home);
        }
    }

    private static readonly object s_envGate = new();

    /// <summary>Pid of the VBoxSVC serving this home (from a fresh connection's hello).</summary>
    public int ServicePid()
    {
        using RemoteConnection c = Connect();
        return c.Service.Pid;
    }

    public string Log => File.Exists(LogPath) ? File.ReadAllText(LogPath) : "";

    /// <summary>Waits until <paramref name="condition"/> holds or the time is up.</summary>
    public static bool WaitFor(Func<bool> condition, int timeoutMs)
    {
        var sw = Stopwatch.StartNew();
        while (sw.ElapsedMilliseconds < timeoutMs)
        {
            if (condition())
                return true;
            Thread.Sleep(25);
        }
        return condition();
    }

    public static bool ProcessAlive(int pid)
    {
        try
        {
            using Process p = Process.GetProcessById(pid);
            return !p.HasExited && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal);
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
        catch (IOException) { return false; }
    }

    public void Dispose()
    {
        // Stop our service now rather than letting it wait for its delay.
        foreach (string line in Log.Split('\n'))
        {
            int i = line.IndexOf("VBoxSVC starting: pid ", StringComparison.Ordinal);
            if (i < 0)
                continue;
            string rest = line[(i + "VBoxSVC starting: pid ".Length)..];
            if (int.TryParse(rest.Split(',')[0], out int pid) && ProcessAlive(pid))
            {
                try { Process.GetProcessById(pid).Kill(); } catch (Exception e) when (e is ArgumentException or InvalidOperationException) { }
            }
        }
        try { Directory.Delete(Root, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

/// <summary>Runs a tool and returns exit code and output.</summary>
public static class Tool
{
    public static bool Exists(string name)
    {
        foreach (string dir in (System.Environment.GetEnvironmentVariable("PATH") ?? "").Split(':'))
            if (dir.Length > 0 && File.Exists(Path.Combine(dir, name)))
                return true;
        return false;
    }

    public static CliResult Run(string exe, params string[] args)
    {
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + exe);
        Task<string> o = p.StandardOutput.ReadToEndAsync();
        Task<string> e = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        return new CliResult(p.ExitCode, o.Result, e.Result);
    }
}

/// <summary>Collects events from a connection's event source.</summary>
public sealed class EventCollector
{
    private readonly IEventSource _source;
    private readonly IEventListener _listener;

    public EventCollector(IVirtualBox vbox, params VBoxEventType[] types)
    {
        _source = vbox.EventSource;
        _listener = _source.CreateListener();
        _source.RegisterListener(_listener, types.Length == 0 ? new[] { VBoxEventType.Any } : types, false);
    }

    /// <summary>Waits for an event matching <paramref name="match"/>; returns it or null.</summary>
    public VBoxEvent? WaitFor(Func<VBoxEvent, bool> match, int timeoutMs = 10_000)
    {
        var sw = Stopwatch.StartNew();
        while (sw.ElapsedMilliseconds < timeoutMs)
        {
            VBoxEvent? e = _source.GetEvent(_listener, (int)Math.Max(1, timeoutMs - sw.ElapsedMilliseconds));
            if (e != null && match(e))
                return e;
        }
        return null;
    }
}

public static class Text
{
    public static string Lines(IEnumerable<string> lines)
    {
        var b = new StringBuilder();
        foreach (string l in lines)
            b.Append(l).Append('\n');
        return b.ToString();
    }
}
