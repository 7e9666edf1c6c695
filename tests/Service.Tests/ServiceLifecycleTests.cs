using System.Diagnostics;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace SharpBox.Service.Tests;

/// <summary>
/// VBoxSVC's life: started by the first client, one per configuration directory, a 0600 socket,
/// logs of its start, idling and exit (rotated at the next start), exit after the idle delay.
/// </summary>
public class ServiceLifecycleTests
{
    private static int CountStarts(string log) => Regex.Matches(log, "VBoxSVC starting: pid").Count;

    [Fact]
    public void FirstClientStartsItAndItLeavesWhenIdle()
    {
        using var h = new SvcHome(setMachineFolder: false);
        Assert.False(File.Exists(h.SocketPath));
        h.Ok("list", "vms");
        Assert.True(File.Exists(h.SocketPath), "the socket is created by the auto-started service");
        // Mode 0600, a socket, owned by us.
        UnixFileMode mode = File.GetUnixFileMode(h.SocketPath);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, mode);
        Assert.Contains("srw-------", Tool.Run("ls", "-l", h.SocketPath).Stdout);
        Assert.True(File.Exists(Path.Combine(h.Home, "VBoxSVC.lock")));
        int pid = h.ServicePid();
        Assert.True(SvcHome.ProcessAlive(pid));
        Assert.Contains($"VBoxSVC starting: pid {pid}", h.Log);
        Assert.Contains("Client #1 connected: VBoxManage", h.Log);

        // No client, no VM: it goes after the delay, says why, and removes its socket.
        Assert.True(SvcHome.WaitFor(() => !SvcHome.ProcessAlive(pid), SvcHome.ShutdownDelayMs + 10_000), "VBoxSVC did not exit when idle");
        Assert.False(File.Exists(h.SocketPath));
        Assert.Contains("Idle: no clients, no running VMs", h.Log);
        Assert.Matches("VBoxSVC exiting: idle for [0-9]+ ms", h.Log);

        // The next client starts a new one; the old log is rotated as VirtualBox rotates VBoxSVC.log.
        h.Ok("list", "vms");
        Assert.True(File.Exists(h.LogPath + ".1"));
        Assert.Contains($"VBoxSVC starting: pid {pid}", File.ReadAllText(h.LogPath + ".1"));
        Assert.DoesNotContain($"VBoxSVC starting: pid {pid},", h.Log);
    }

    [Fact]
    public void ConcurrentClientsShareOneService()
    {
        using var h = new SvcHome(setMachineFolder: false);
        // Eight clients race to start the service of a fresh directory.
        var psis = Enumerable.Range(0, 8).Select(i =>
        {
            var psi = new ProcessStartInfo(SvcHome.VBoxManageExe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add("setextradata");
            psi.ArgumentList.Add("global");
            psi.ArgumentList.Add($"k{i}");
            psi.ArgumentList.Add($"v{i}");
            h.Environment(psi);
            return psi;
        }).ToList();
        var procs = psis.Select(p => Process.Start(p)!).ToList();
        foreach (Process p in procs)
        {
            string err = p.StandardError.ReadToEnd();
            Assert.True(p.WaitForExit(60_000));
            Assert.True(p.ExitCode == 0, err);
            p.Dispose();
        }
        Assert.Equal(1, CountStarts(h.Log));
        string keys = h.Ok("getextradata", "global", "enumerate").Stdout;
        for (int i = 0; i < 8; i++)
            Assert.Contains($"Key: k{i}, Value: v{i}", keys);

        // A second VBoxSVC started by hand for the same directory does not take over.
        var psi2 = new ProcessStartInfo(SvcHome.VBoxSvcExe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        h.Environment(psi2);
        using Process second = Process.Start(psi2)!;
        string err2 = second.StandardError.ReadToEnd();
        Assert.True(second.WaitForExit(20_000));
        Assert.Equal(1, second.ExitCode);
        Assert.Contains("another VBoxSVC already serves", err2);
        Assert.Equal(1, CountStarts(h.Log));
    }

    [Fact]
    public void KilledServiceIsReplacedByTheNextClient()
    {
        using var h = new SvcHome();
        h.CreateVm("survivor");
        int pid = h.ServicePid();
        Process.GetProcessById(pid).Kill(); // SIGKILL: the socket file stays behind, stale.
        Assert.True(SvcHome.WaitFor(() => !SvcHome.ProcessAlive(pid), 10_000));
        Assert.True(File.Exists(h.SocketPath));
        Assert.Contains("\"survivor\"", h.Ok("list", "vms").Stdout);
        Assert.NotEqual(pid, h.ServicePid());
    }

    [Fact]
    public void TermSignalStopsItCleanly()
    {
        using var h = new SvcHome(setMachineFolder: false);
        h.Ok("list", "vms");
        int pid = h.ServicePid();
        Assert.Equal(0, Tool.Run("kill", "-TERM", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)).ExitCode);
        Assert.True(SvcHome.WaitFor(() => !SvcHome.ProcessAlive(pid), 10_000));
        Assert.Contains("VBoxSVC exiting: SIGTERM received", h.Log);
        Assert.False(File.Exists(h.SocketPath));
    }

    [Fact]
    public void LongConfigurationPathsWork()
    {
        // A socket path longer than sun_path (108 bytes) is reached through /proc/self/fd.
        string deep = string.Join('/', Enumerable.Repeat("a-rather-long-folder-name", 6));
        using var h = new SvcHome(homeName: deep);
        Assert.True(h.SocketPath.Length > 108);
        string uuid = h.CreateVm("deep");
        Assert.Contains(uuid, h.Ok("list", "vms").Stdout);
        Assert.True(File.Exists(h.SocketPath));
    }

    [Fact]
    public void HelpAndBadOptions()
    {
        CliResult help = Tool.Run(SvcHome.VBoxSvcExe, "--help");
        Assert.Equal(0, help.ExitCode);
        Assert.Contains("--shutdown-delay", help.Stdout);
        CliResult bad = Tool.Run(SvcHome.VBoxSvcExe, "--shutdown-delay", "soon");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("VBoxSVC: error: --shutdown-delay: 'soon' is not a valid number of milliseconds", bad.Stderr);
        CliResult unknown = Tool.Run(SvcHome.VBoxSvcExe, "--frobnicate");
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("unknown option '--frobnicate'", unknown.Stderr);
    }

    [Fact]
    public void GarbageOnTheSocketIsDroppedNotFatal()
    {
        using var h = new SvcHome(setMachineFolder: false);
        h.Ok("list", "vms");
        int pid = h.ServicePid();
        foreach (byte[] junk in new[]
                 {
                     new byte[] { 5, 0, 0, 0, (byte)'{', (byte)'x', (byte)'x', (byte)'x', (byte)'x' },  // not JSON
                     new byte[] { 0xff, 0xff, 0xff, 0x7f },                                             // 2 GiB frame
                     System.Text.Encoding.UTF8.GetBytes("GET / HTTP/1.0\r\n\r\n"),
                 })
        {
            using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            s.Connect(new UnixDomainSocketEndPoint(h.SocketPath));
            s.Send(junk);
            s.ReceiveTimeout = 10_000;
            var buf = new byte[4096];
            int n;
            try { while ((n = s.Receive(buf)) > 0) { } }
            catch (SocketException) { }
        }
        Assert.True(SvcHome.ProcessAlive(pid));
        Assert.Equal(pid, h.ServicePid());
        h.Ok("list", "vms");
    }
}
