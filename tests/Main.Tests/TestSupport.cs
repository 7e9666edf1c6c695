using System.Diagnostics;
using System.Text;

namespace SharpBox.Main.Tests;

/// <summary>A temporary directory removed on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; }

    public TempDir(string prefix = "sbx-main")
    {
        Path = Directory.CreateTempSubdirectory(prefix + "-").FullName;
    }

    public string this[string relative] => System.IO.Path.Combine(Path, relative);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

/// <summary>Result of one VBoxManage run.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

/// <summary>
/// Runs the built VBoxManage (artifacts/bin/VBoxManage/release/VBoxManage) as a separate process
/// with its own VBOX_USER_HOME, as a script would. The machine folder is set inside the temporary
/// directory so nothing outside it is touched (for root, the home directory comes from the account
/// database, so $HOME alone would not isolate the default machine folder).
/// </summary>
public sealed class VBoxManageHome : IDisposable
{
    private static readonly Lazy<string> ExePath = new(FindExe);

    /// <summary>How long the test's VBoxSVC stays after its last client (long enough to span a test's steps).</summary>
    public const string ServiceShutdownDelayMs = "2000";

    public TempDir Dir { get; } = new("sbx-cli");
    public string Home => Dir["config"];
    public string MachineFolder => Dir["vms"];

    public VBoxManageHome(bool setMachineFolder = true)
    {
        Directory.CreateDirectory(Home);
        if (setMachineFolder)
            Ok("setproperty", "machinefolder", MachineFolder);
    }

    public static string RepoRoot
    {
        get
        {
            string? d = AppContext.BaseDirectory;
            while (d != null && !File.Exists(System.IO.Path.Combine(d, "SharpBox.slnx")))
                d = System.IO.Path.GetDirectoryName(d);
            return d ?? throw new InvalidOperationException("Cannot find the repository root (SharpBox.slnx) above " + AppContext.BaseDirectory);
        }
    }

    private static string FindExe()
    {
        string exe = System.IO.Path.Combine(RepoRoot, "artifacts", "bin", "VBoxManage", "release", "VBoxManage");
        if (!File.Exists(exe))
            throw new InvalidOperationException($"VBoxManage is not built at {exe}; run scripts/build.sh first");
        return exe;
    }

    public CliResult Run(params string[] args) => RunWithInput(null, args);

    public CliResult RunWithInput(byte[]? stdin, params string[] args)
    {
        var psi = new ProcessStartInfo(ExePath.Value)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin != null,
            UseShellExecute = false,
            WorkingDirectory = Dir.Path,
        };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        psi.Environment["VBOX_USER_HOME"] = Home;
        psi.Environment["HOME"] = Dir.Path;
        psi.Environment["XDG_CONFIG_HOME"] = Dir["xdg"];
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        // VBoxManage talks to a VBoxSVC of this home; let it go soon after the test.
        psi.Environment["SHARPBOX_SVC_SHUTDOWN_DELAY_MS"] = ServiceShutdownDelayMs;
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start VBoxManage");
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        if (stdin != null)
        {
            p.StandardInput.BaseStream.Write(stdin);
            p.StandardInput.Close();
        }
        if (!p.WaitForExit(120_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("VBoxManage " + string.Join(' ', args) + " did not finish in 120 s");
        }
        p.WaitForExit();
        return new CliResult(p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>
    /// Starts a bash script in the background with this home's environment; "$VBM" in the script is
    /// the VBoxManage binary. Used to run several VBoxManage processes at the same time.
    /// </summary>
    public Process StartScript(string script)
    {
        var psi = new ProcessStartInfo("bash", new[] { "-c", script })
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Dir.Path,
        };
        psi.Environment["VBOX_USER_HOME"] = Home;
        psi.Environment["HOME"] = Dir.Path;
        psi.Environment["VBM"] = ExePath.Value;
        psi.Environment["SHARPBOX_SVC_SHUTDOWN_DELAY_MS"] = ServiceShutdownDelayMs;
        return Process.Start(psi) ?? throw new InvalidOperationException("cannot start bash");
    }

    /// <summary>Runs and asserts exit code 0.</summary>
    public CliResult Ok(params string[] args)
    {
        CliResult r = Run(args);
        Assert.True(r.ExitCode == 0, $"VBoxManage {string.Join(' ', args)} failed:\n{r}");
        return r;
    }

    /// <summary>Runs and asserts the exit code, returning the result for message checks.</summary>
    public CliResult Fails(int exitCode, params string[] args)
    {
        CliResult r = Run(args);
        Assert.True(r.ExitCode == exitCode, $"VBoxManage {string.Join(' ', args)}: expected exit {exitCode}:\n{r}");
        Assert.Contains("VBoxManage: error: ", r.Stderr);
        return r;
    }

    /// <summary>showvminfo --machinereadable parsed into key/value pairs (quotes removed).</summary>
    public Dictionary<string, string> Info(string vm)
    {
        CliResult r = Ok("showvminfo", vm, "--machinereadable");
        return ParseMachineReadable(r.Stdout);
    }

    public static Dictionary<string, string> ParseMachineReadable(string text)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = FindSeparator(line);
            if (eq < 0)
                continue;
            d[Unquote(line[..eq])] = Unquote(line[(eq + 1)..]);
        }
        return d;
    }

    private static int FindSeparator(string line)
    {
        if (!line.StartsWith('"'))
            return line.IndexOf('=');
        for (int i = 1; i < line.Length; i++)
        {
            if (line[i] == '\\') { i++; continue; }
            if (line[i] == '"')
                return i + 1 < line.Length && line[i + 1] == '=' ? i + 1 : -1;
        }
        return -1;
    }

    private static string Unquote(string s)
    {
        if (s.Length < 2 || s[0] != '"' || s[^1] != '"')
            return s;
        var b = new StringBuilder();
        for (int i = 1; i < s.Length - 1; i++)
        {
            if (s[i] == '\\' && i + 1 < s.Length - 1)
                i++;
            b.Append(s[i]);
        }
        return b.ToString();
    }

    /// <summary>Creates and registers a VM and returns its UUID.</summary>
    public string CreateVm(string name, params string[] extra)
    {
        var args = new List<string> { "createvm", "--name", name, "--register" };
        args.AddRange(extra);
        CliResult r = Ok(args.ToArray());
        string line = r.Stdout.Split('\n').First(l => l.StartsWith("UUID: ", StringComparison.Ordinal));
        return line["UUID: ".Length..].Trim();
    }

    public string VboxPath(string name) => System.IO.Path.Combine(MachineFolder, name, name + ".vbox");

    public void Dispose() => Dir.Dispose();
}

/// <summary>Runs an external tool (qemu-img, flock) and returns exit code and output.</summary>
public static class Tool
{
    public static bool Exists(string name)
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':'))
            if (dir.Length > 0 && File.Exists(System.IO.Path.Combine(dir, name)))
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
