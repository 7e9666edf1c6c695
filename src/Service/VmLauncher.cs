using System.Collections.Concurrent;
using System.Diagnostics;
using SharpBox.Main.Api;
using SharpBox.Main.Impl;

namespace SharpBox.Service;

/// <summary>
/// Starts VM processes for LaunchVMProcess: VBoxHeadless --startvm UUID, in VBoxSVC's own session (so
/// a terminal's Ctrl-C never reaches them) and surviving VBoxSVC (no parent-death signal). Their output
/// goes to VBoxSVC.log; the last error line explains a VM that fails to start.
/// </summary>
internal sealed class VmLauncher : IVmLauncher
{
    private sealed class Child
    {
        public required Process Process { get; init; }
        public string LastError = "";
        public bool HasOwnError;
        public volatile bool Exited;
    }

    private readonly ServiceLog _log;
    private readonly string _home;
    private readonly ConcurrentDictionary<int, Child> _children = new();

    public VmLauncher(ServiceLog log, string home)
    {
        _log = log;
        _home = home;
    }

    /// <summary>Environment variable naming the VBoxHeadless executable (default: the newest build beside VBoxSVC's).</summary>
    public const string HeadlessPathVariable = "SHARPBOX_VBOXHEADLESS";

    public static string FindHeadless()
    {
        string? env = Environment.GetEnvironmentVariable(HeadlessPathVariable);
        if (!string.IsNullOrEmpty(env))
            return File.Exists(env) ? env
                : throw new VBoxException(ResultCode.VBOX_E_FILE_ERROR, $"{HeadlessPathVariable} names '{env}', which does not exist", "MachineWrap", "IMachine");
        string b = AppContext.BaseDirectory;
        string[] candidates =
        {
            Path.Combine(b, "VBoxHeadless"),
            Path.GetFullPath(Path.Combine(b, "..", "VBoxHeadless", "VBoxHeadless")),
            Path.GetFullPath(Path.Combine(b, "..", "..", "VBoxHeadless", "release", "VBoxHeadless")),
            Path.GetFullPath(Path.Combine(b, "..", "..", "bin", "VBoxHeadless", "release", "VBoxHeadless")),
        };
        string? best = null;
        DateTime bestTime = DateTime.MinValue;
        foreach (string c in candidates)
        {
            if (!File.Exists(c))
                continue;
            DateTime t = File.GetLastWriteTimeUtc(File.Exists(c + ".dll") ? c + ".dll" : c);
            if (best == null || t > bestTime)
            {
                best = c;
                bestTime = t;
            }
        }
        return best ?? throw new VBoxException(ResultCode.VBOX_E_FILE_ERROR,
            $"VBoxHeadless is not built (looked for {string.Join(", ", candidates)}); run scripts/build.sh", "MachineWrap", "IMachine");
    }

    public int Launch(Guid machineId, string machineName, string type, IReadOnlyList<string> environment)
    {
        string exe = FindHeadless();
        var psi = new ProcessStartInfo(exe)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _home,
        };
        psi.ArgumentList.Add("--startvm");
        psi.ArgumentList.Add(machineId.ToString("D"));
        psi.Environment["VBOX_USER_HOME"] = _home;
        foreach (string kv in environment)
        {
            int eq = kv.IndexOf('=');
            if (eq <= 0)
                throw new VBoxException(ResultCode.E_INVALIDARG, $"Invalid environment entry '{kv}' (NAME=VALUE expected)", "MachineWrap", "IMachine");
            psi.Environment[kv[..eq]] = kv[(eq + 1)..];
        }
        Process p;
        try
        {
            p = Process.Start(psi) ?? throw new InvalidOperationException("Process.Start returned nothing");
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            throw new VBoxException(ResultCode.VBOX_E_IPRT_ERROR, $"Could not start the VM process '{exe}': {e.Message}", "MachineWrap", "IMachine");
        }
        p.StandardInput.Close();
        var child = new Child { Process = p };
        int pid = p.Id;
        _children[pid] = child;
        _log.Write($"Started VM process pid {pid} for '{machineName}' {{{machineId:D}}}: {exe} --startvm {machineId:D}");
        Drain(child, p.StandardOutput, pid, isError: false);
        Drain(child, p.StandardError, pid, isError: true);
        p.EnableRaisingEvents = true;
        p.Exited += (_, _) =>
        {
            child.Exited = true;
            int code = -1;
            try { code = p.ExitCode; } catch (InvalidOperationException) { }
            _log.Write($"VM process pid {pid} ('{machineName}') exited with status {code}");
        };
        return pid;
    }

    private void Drain(Child child, StreamReader reader, int pid, bool isError)
    {
        var t = new Thread(() =>
        {
            try
            {
                string? line;
                while ((line = reader.ReadLine()) != null)
                {
                    if (line.Length == 0)
                        continue;
                    _log.Write($"VM process pid {pid}: {line}");
                    // The VM process' own one-line error explains a failed start best; other output
                    // (the first line of a crash) only when there is nothing better.
                    if (isError && line.StartsWith("VBoxHeadless: error: ", StringComparison.Ordinal))
                    {
                        child.LastError = line["VBoxHeadless: error: ".Length..];
                        child.HasOwnError = true;
                    }
                    else if (isError && !child.HasOwnError && child.LastError.Length == 0)
                        child.LastError = line.Trim();
                }
            }
            catch (IOException) { }
        })
        { IsBackground = true, Name = $"VM {pid} output" };
        t.Start();
    }

    public bool HasExited(int pid, out string lastError)
    {
        if (!_children.TryGetValue(pid, out Child? c))
        {
            lastError = "";
            return true;
        }
        bool exited = c.Exited || c.Process.HasExited;
        if (exited)
        {
            // Let the output threads catch the last lines.
            c.Process.WaitForExit(200);
        }
        lastError = c.LastError;
        return exited;
    }
}
