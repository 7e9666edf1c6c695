using System.Diagnostics;
using SharpBox.Main.Api;
using SharpBox.Runtime;

namespace SharpBox.Main.Remote;

/// <summary>
/// How a client reaches VBoxSVC: the service of a configuration directory listens on
/// &lt;config dir&gt;/VBoxSVC.socket; a client that finds nobody there starts the service
/// (VBoxSVC --automate: detached, in the background, exits when idle), waits for its "READY" and
/// connects. The returned IVirtualBox is also IDisposable (closing the connection).
/// </summary>
public static class VBoxClient
{
    /// <summary>Environment variable naming the VBoxSVC executable to start (default: found beside the client's build).</summary>
    public const string ServicePathVariable = "SHARPBOX_VBOXSVC";

    private static VBoxException Error(string message) => new(ResultCode.E_FAIL, message, "VirtualBoxClientWrap", "IVirtualBoxClient");

    /// <summary>The configuration directory a client uses (VBOX_USER_HOME and friends), created 0700 when missing.</summary>
    public static string DefaultHome()
    {
        try { return UserHome.EnsureConfigDirectory(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            throw new VBoxException(ResultCode.E_ACCESSDENIED, $"Failed to initialize because the global settings directory is not accessible: {e.Message}", "VirtualBoxClientWrap", "IVirtualBoxClient");
        }
    }

    public static string SocketPath(string home) => Path.Combine(home, Protocol.SocketName);

    /// <summary>Connects to the service of <paramref name="home"/> (default: the user's), starting it when needed.</summary>
    public static IVirtualBox Connect(string clientName, string? home = null, bool autoStart = true)
        => ConnectRaw(clientName, home, autoStart).Root;

    public static RemoteConnection ConnectRaw(string clientName, string? home = null, bool autoStart = true)
    {
        home = Path.GetFullPath(home ?? DefaultHome());
        string socket = SocketPath(home);
        Exception? last = null;
        var sw = Stopwatch.StartNew();
        bool started = false;
        while (true)
        {
            try
            {
                return RemoteConnection.Connect(socket, clientName);
            }
            catch (UnixSocketChannel.ConnectException e) when (e.AccessDenied)
            {
                throw new VBoxException(ResultCode.E_ACCESSDENIED,
                    $"Access to VBoxSVC's socket '{socket}' is denied (it belongs to another user)", "VirtualBoxClientWrap", "IVirtualBoxClient");
            }
            catch (IOException e)
            {
                // No socket, nobody listening on it (a service that died), or a service that went
                // away between accept and hello (it was shutting down).
                last = e;
            }
            if (!autoStart)
                throw Error($"VBoxSVC is not running for '{home}' ({last?.Message})");
            if (sw.Elapsed > TimeSpan.FromSeconds(20))
                throw Error($"Could not connect to VBoxSVC at '{socket}' within 20 s: {last?.Message}");
            if (!started)
            {
                StartService(home);
                started = true;
            }
            else
            {
                // A service that was shutting down as we came; or one that lost a start race.
                Thread.Sleep(20);
                if (sw.Elapsed > TimeSpan.FromSeconds(2) && !File.Exists(socket))
                    started = false;
            }
        }
    }

    /// <summary>The VBoxSVC executable: $SHARPBOX_VBOXSVC, else the newest build found beside this client's.</summary>
    public static string FindServiceExecutable()
    {
        string? env = Environment.GetEnvironmentVariable(ServicePathVariable);
        if (!string.IsNullOrEmpty(env))
        {
            if (!File.Exists(env))
                throw Error($"{ServicePathVariable} names '{env}', which does not exist");
            return env;
        }
        string b = AppContext.BaseDirectory;
        string[] candidates =
        {
            Path.Combine(b, "VBoxSVC"),
            Path.GetFullPath(Path.Combine(b, "..", "VBoxSVC", "VBoxSVC")),
            Path.GetFullPath(Path.Combine(b, "..", "..", "VBoxSVC", "release", "VBoxSVC")),
            Path.GetFullPath(Path.Combine(b, "..", "..", "bin", "VBoxSVC", "release", "VBoxSVC")),
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
        return best ?? throw Error($"VBoxSVC is not built (looked for {string.Join(", ", candidates)}); run scripts/build.sh");
    }

    /// <summary>Starts VBoxSVC --automate for <paramref name="home"/> and waits until it says READY.</summary>
    public static void StartService(string home)
    {
        string exe = FindServiceExecutable();
        var psi = new ProcessStartInfo(exe)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = home,
        };
        psi.ArgumentList.Add("--automate");
        psi.Environment["VBOX_USER_HOME"] = home;
        using Process p = Process.Start(psi) ?? throw Error($"Could not start '{exe}'");
        p.StandardInput.Close();
        Task<string?> line = p.StandardOutput.ReadLineAsync();
        if (!line.Wait(TimeSpan.FromSeconds(20)))
            throw Error($"VBoxSVC ('{exe}', pid {p.Id}) did not get ready within 20 s");
        if (line.Result != "READY")
        {
            string err = "";
            if (p.WaitForExit(2000))
                err = p.StandardError.ReadToEnd().Trim();
            throw Error($"VBoxSVC failed to start: {(err.Length > 0 ? err : line.Result ?? "it exited without a word")}");
        }
    }
}
