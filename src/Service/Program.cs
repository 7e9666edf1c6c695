using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Reflection;
using System.Runtime.InteropServices;
using SharpBox.Main.Api;
using SharpBox.Main.Impl;
using SharpBox.Main.Remote;
using SharpBox.Runtime;

namespace SharpBox.Service;

/// <summary>
/// VBoxSVC: the per-user service that owns the configuration directory (VirtualBox.xml, every .vbox,
/// the media registry) and the live state of the VMs, and serves the Main API to every client over a
/// Unix socket. Options as VirtualBox's VBoxSVC: clients start it with --automate (in the background,
/// exits when idle); by hand it runs in the foreground unless --daemonize is given.
/// </summary>
public static class Program
{
    private const string Usage = """
        SharpBox VBoxSVC {0}

        By default the service runs in the foreground; clients start it by themselves.

        Usage:
          VBoxSVC [options]

        Options:
          -a, --automate            Started by a client: detach, report READY, shut down when idle.
          -A, --auto-shutdown       Shut down when no client is connected and no VM runs.
          -d, --daemonize           Start the service in the background.
          -D, --shutdown-delay <ms> Idle time before an automatic shutdown (default 5000, or
                                    $SHARPBOX_SVC_SHUTDOWN_DELAY_MS).
          -F, --logfile <path>      Log file (default: VBoxSVC.log in the configuration directory).
          -R, --logrotate <count>   Number of old log files to keep (default 10).
          -S, --logsize <bytes>     Rotate the log when it grows past this size (default 100 MiB).
          -I, --loginterval <s>     Rotate the log after this many seconds (default 1 day).
          -V, --version             Print the version.
          -h, --help                Show this help.

        The configuration directory is $VBOX_USER_HOME, else ~/.VirtualBox if it exists, else
        $XDG_CONFIG_HOME/VirtualBox or ~/.config/VirtualBox.
        """;

    private static string Version => typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "1.0";

    public static int Main(string[] args)
    {
        bool automate = false, autoShutdown = false, daemonize = false, backgroundChild = false;
        TimeSpan delay = TimeSpan.FromMilliseconds(5000);
        if (Environment.GetEnvironmentVariable("SHARPBOX_SVC_SHUTDOWN_DELAY_MS") is string env && env.Length > 0)
        {
            if (!uint.TryParse(env, NumberStyles.None, CultureInfo.InvariantCulture, out uint ms))
                return Fail(2, $"SHARPBOX_SVC_SHUTDOWN_DELAY_MS='{env}' is not a number of milliseconds");
            delay = TimeSpan.FromMilliseconds(ms);
        }
        string? logFile = null;
        int history = 10;
        long logSize = 100L << 20;
        TimeSpan logAge = TimeSpan.FromDays(1);
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string Value()
            {
                if (i + 1 >= args.Length)
                    throw new ArgumentException($"{a} needs a value");
                return args[++i];
            }
            ulong Number(string v, string what)
                => ulong.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out ulong n) ? n : throw new ArgumentException($"{a}: '{v}' is not a valid {what}");
            try
            {
                switch (a)
                {
                    case "-a": case "--automate": automate = true; autoShutdown = true; break;
                    case "-A": case "--auto-shutdown": autoShutdown = true; break;
                    case "-d": case "--daemonize": daemonize = true; break;
                    case "--background-child": backgroundChild = true; break;
                    case "-D": case "--shutdown-delay": delay = TimeSpan.FromMilliseconds(Number(Value(), "number of milliseconds")); break;
                    case "-F": case "--logfile": logFile = Value(); break;
                    case "-R": case "--logrotate": history = (int)Math.Min(Number(Value(), "count"), 1000); break;
                    case "-S": case "--logsize": logSize = (long)Math.Min(Number(Value(), "size in bytes"), long.MaxValue); break;
                    case "-I": case "--loginterval": logAge = TimeSpan.FromSeconds(Number(Value(), "number of seconds")); break;
                    case "-V": case "--version": Console.WriteLine($"{VirtualBox.ProductVersion}r{VirtualBox.ProductRevision}"); return 0;
                    case "-h": case "--help": Console.WriteLine(string.Format(CultureInfo.InvariantCulture, Usage, Version)); return 0;
                    default: return Fail(2, $"unknown option '{a}' (see --help)");
                }
            }
            catch (ArgumentException e)
            {
                return Fail(2, e.Message);
            }
        }

        if (daemonize && !backgroundChild)
            return Daemonize(args);

        string home;
        try
        {
            home = Path.GetFullPath(UserHome.EnsureConfigDirectory());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            return Fail(1, $"the configuration directory is not usable: {e.Message}");
        }
        bool background = automate || backgroundChild;
        if (background)
            Native.SetSid(); // Own session: the client's terminal and its signals are not ours.
        var options = new ServiceOptions(home, autoShutdown, delay, logFile ?? Path.Combine(home, Protocol.LogName), history, logSize, logAge);
        return Serve(options, background);
    }

    private static int Fail(int code, string message)
    {
        Console.Error.WriteLine($"VBoxSVC: error: {message}");
        return code;
    }

    /// <summary>--daemonize: start ourselves in the background and wait for its READY.</summary>
    private static int Daemonize(string[] args)
    {
        var psi = new ProcessStartInfo(Environment.ProcessPath!)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string a in args)
            if (a is not ("-d" or "--daemonize"))
                psi.ArgumentList.Add(a);
        psi.ArgumentList.Add("--background-child");
        using Process p = Process.Start(psi)!;
        p.StandardInput.Close();
        string? line = p.StandardOutput.ReadLine();
        if (line == "READY")
        {
            Console.WriteLine($"VBoxSVC started in the background (pid {p.Id})");
            return 0;
        }
        p.WaitForExit(2000);
        return Fail(1, $"the background service failed: {p.StandardError.ReadToEnd().Trim()}");
    }

    private static int Serve(ServiceOptions options, bool background)
    {
        // One service per configuration directory: the lock is held until the process exits.
        string lockPath = Path.Combine(options.Home, Protocol.LockName);
        int lockFd = Posix.Open(lockPath, Posix.O_RDWR | Posix.O_CREAT | Posix.O_CLOEXEC, 0x180);
        if (lockFd < 0)
            return Fail(1, $"cannot open '{lockPath}': {Posix.StrError(Marshal.GetLastPInvokeError())}");
        var sw = Stopwatch.StartNew();
        while (Posix.Flock(lockFd, Posix.LOCK_EX | Posix.LOCK_NB) != 0)
        {
            // Another VBoxSVC has the directory. If it serves, our client can use it; if it is on its
            // way out, wait for it to go.
            if (CanConnect(Path.Combine(options.Home, Protocol.SocketName)))
            {
                if (background)
                    Console.Out.WriteLine("READY");
                else
                    Console.Error.WriteLine($"VBoxSVC: another VBoxSVC already serves '{options.Home}'");
                Console.Out.Flush();
                return background ? 0 : 1;
            }
            if (sw.Elapsed > TimeSpan.FromSeconds(15))
                return Fail(1, $"'{lockPath}' is held by another VBoxSVC that does not answer");
            Thread.Sleep(20);
        }

        ServiceLog log;
        try
        {
            log = new ServiceLog(options.LogFile, options.LogHistory, options.LogMaxBytes, options.LogMaxAge, $"SharpBox VBoxSVC {Version} ({VirtualBox.ProductVersion} API)");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Fail(1, $"cannot open the log '{options.LogFile}': {e.Message}");
        }
        using (log)
        {
            log.Write($"VBoxSVC starting: pid {Environment.ProcessId}, uid {Native.GetEuid()}, configuration directory '{options.Home}'");
            log.Write($"Auto-shutdown: {(options.AutoShutdown ? $"after {options.ShutdownDelay.TotalMilliseconds:0} ms idle" : "off")}; .NET {Environment.Version}");
            Directory.SetCurrentDirectory(options.Home); // Relative API paths resolve against the home, as VirtualBox's do.

            VirtualBox vbox;
            try
            {
                vbox = VirtualBox.Open(new StorageMediumBackend(), options.Home);
            }
            catch (VBoxException e)
            {
                log.Write($"Cannot open the configuration: {e.Message}");
                return Fail(1, e.Message);
            }

            vbox.Launcher = new VmLauncher(log, options.Home);
            vbox.ServiceLog = log.Write;
            using var host = new ServiceHost(options, vbox, log);
            try
            {
                host.Listen();
            }
            catch (Exception e) when (e is IOException or SocketException or UnauthorizedAccessException)
            {
                log.Write($"Cannot listen on '{Path.Combine(options.Home, Protocol.SocketName)}': {e.Message}");
                return Fail(1, $"cannot listen on '{Path.Combine(options.Home, Protocol.SocketName)}': {e.Message}");
            }
            log.Write($"Listening on '{Path.Combine(options.Home, Protocol.SocketName)}'");

            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; host.Stop("SIGTERM received"); });
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; host.Stop("SIGINT received"); });
            if (background)
            {
                Console.Out.WriteLine("READY");
                Console.Out.Flush();
                Native.DetachStdio();
            }
            else
            {
                Console.Out.WriteLine($"SharpBox VBoxSVC {Version} serving '{options.Home}' (pid {Environment.ProcessId}); press Ctrl-C to quit");
                Console.Out.Flush();
            }
            string reason = host.Run();
            log.Write($"VBoxSVC exiting: {reason}");
        }
        return 0;
    }

    private static bool CanConnect(string socketPath)
    {
        try
        {
            using RemoteConnection c = RemoteConnection.Connect(socketPath, "VBoxSVC");
            return true;
        }
        catch (Exception e) when (e is IOException or VBoxException)
        {
            return false;
        }
    }
}
