using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace SharpBox.Bench.Svc;

/// <summary>
/// VM lifecycle latencies through VBoxSVC (issue 6) beside QEMU's equivalents, with the same guest on
/// both (payloads/memfill.asm: "GO" at its first instructions, fills 238 MiB of its 256 MiB with
/// incompressible data, then "TICK n" every 20 ms):
///   start    `VBoxManage startvm --type headless` (VBoxSVC running) vs `qemu-system-x86_64 -M pc
///            -accel tcg -kernel`: command start → the guest's "GO" on the serial port; for SharpBox also
///            → its first guest instruction (VBox.log) and → the command's return;
///   save     `controlvm savestate` vs QMP `migrate` to "exec:cat > F" + quit: command → the VM
///            process has exited with the state on disk;
///   restore  `startvm` of the saved machine vs `qemu-system-x86_64 ... -incoming "exec:cat F"`:
///            command start → the guest's next "TICK" on the serial port.
/// Runs alternate between the two. Usage: svcbench [--runs N]
/// </summary>
public static class Program
{
    private sealed record Run(double GoMs, double FirstInstrMs, double CommandMs, double SaveMs, double RestoreMs, long StateBytes);

    private static string Root = "";
    private static string Work = "";
    private static string Payload = "";

    public static int Main(string[] args)
    {
        int runs = 3;
        for (int i = 0; i < args.Length; i++)
        {
            if (!(args[i] == "--runs" && i + 1 < args.Length && int.TryParse(args[++i], NumberStyles.None, CultureInfo.InvariantCulture, out runs) && runs > 0))
            {
                Console.Error.WriteLine($"svcbench: bad argument '{args[i]}'; usage: svcbench [--runs N]");
                return 2;
            }
        }
        Root = FindRoot();
        Work = Directory.CreateTempSubdirectory("sbx-svcbench-").FullName;
        string home = Path.Combine(Work, "home");
        int svcPid = 0;
        try
        {
            Payload = Path.Combine(Work, "memfill.bin");
            Exec("nasm", ["-f", "bin", "-w-zeroing", Path.Combine(Root, "bench/SvcBench/payloads/memfill.asm"), "-o", Payload]);
            Directory.CreateDirectory(home);
            Environment.SetEnvironmentVariable("VBOX_USER_HOME", home);
            // The service stays for the whole bench (the usual case: a client finds it running).
            Environment.SetEnvironmentVariable("SHARPBOX_SVC_SHUTDOWN_DELAY_MS", "600000");
            Vbm("setproperty", "machinefolder", Path.Combine(Work, "vms"));
            Vbm("createvm", "--name", "bench", "--register");
            Vbm("modifyvm", "bench", "--memory", "256", "--hwvirtex", "off", "--boot-kernel", Payload,
                "--uart1", "0x3f8", "4", "--uart-mode1", "file", Path.Combine(Work, "sb.ser"));
            svcPid = int.Parse(Regex.Matches(File.ReadAllText(Path.Combine(home, "VBoxSVC.log")), @"VBoxSVC starting: pid (\d+)")[^1].Groups[1].Value, CultureInfo.InvariantCulture);
            Console.WriteLine($"host: {Environment.ProcessorCount} CPUs, load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}; guest: 256 MiB, memfill payload; {runs} runs each, alternating; SharpBox on its software CPU (--hwvirtex off), QEMU {QemuVersion()} TCG");
            var sb = new List<Run>();
            var q = new List<Run>();
            for (int r = 0; r < runs; r++)
            {
                sb.Add(RunSharpBox(home));
                Console.WriteLine($"  run {r + 1} SharpBox: go {sb[^1].GoMs:F0} ms (first instruction {sb[^1].FirstInstrMs:F0} ms, startvm returned {sb[^1].CommandMs:F0} ms), savestate {sb[^1].SaveMs:F0} ms, restore {sb[^1].RestoreMs:F0} ms, state {sb[^1].StateBytes >> 20} MiB");
                q.Add(RunQemu());
                Console.WriteLine($"  run {r + 1} QEMU:     go {q[^1].GoMs:F0} ms, migrate to file {q[^1].SaveMs:F0} ms, incoming {q[^1].RestoreMs:F0} ms, state {q[^1].StateBytes >> 20} MiB");
            }
            Console.WriteLine();
            Console.WriteLine("| medians | SharpBox | QEMU TCG | SharpBox/QEMU |");
            Console.WriteLine("|---|---|---|---|");
            Row("start: command → guest's first output", sb.Select(s => s.GoMs), q.Select(s => s.GoMs));
            Console.WriteLine($"| start: startvm → first guest instruction (VBox.log) | {Median(sb.Select(s => s.FirstInstrMs)):F0} ms | | |");
            Console.WriteLine($"| start: startvm command returns (VM running) | {Median(sb.Select(s => s.CommandMs)):F0} ms | | |");
            Row("save: savestate / migrate to file, until the process is gone", sb.Select(s => s.SaveMs), q.Select(s => s.SaveMs));
            Row("restore: startvm / -incoming, until the guest's next output", sb.Select(s => s.RestoreMs), q.Select(s => s.RestoreMs));
            Console.WriteLine($"| state file | {Median(sb.Select(s => (double)s.StateBytes)) / (1 << 20):F0} MiB | {Median(q.Select(s => (double)s.StateBytes)) / (1 << 20):F0} MiB | |");
            return 0;
        }
        finally
        {
            if (svcPid != 0)
                try { Process.GetProcessById(svcPid).Kill(); } catch (ArgumentException) { } catch (InvalidOperationException) { }
            Directory.Delete(Work, true);
        }
    }

    private static void Row(string what, IEnumerable<double> ours, IEnumerable<double> peer)
    {
        double a = Median(ours), b = Median(peer);
        Console.WriteLine($"| {what} | {a:F0} ms | {b:F0} ms | {a / b:F2} |");
    }

    private static double Median(IEnumerable<double> v)
    {
        var a = v.OrderBy(x => x).ToArray();
        return a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2;
    }

    private static Run RunSharpBox(string home)
    {
        string serial = Path.Combine(Work, "sb.ser");
        File.Delete(serial);
        DateTime t0 = DateTime.UtcNow;
        var sw = Stopwatch.StartNew();
        using Process start = Spawn(Path.Combine(Root, "bin/VBoxManage"), ["startvm", "bench", "--type", "headless"]);
        double go = WaitFor(serial, "GO\n", sw, 60_000);
        start.WaitForExit();
        double command = sw.Elapsed.TotalMilliseconds;
        if (start.ExitCode != 0)
            throw new InvalidOperationException($"startvm failed: {start.StandardError.ReadToEnd()}");
        double first = FirstInstruction(Path.Combine(Work, "vms", "bench", "Logs", "VBox.log"), t0);
        WaitFor(serial, "TICK 5\n", sw, 300_000);

        int vmPid = int.Parse(Regex.Matches(File.ReadAllText(Path.Combine(home, "VBoxSVC.log")), @"Started VM process pid (\d+) for 'bench'")[^1].Groups[1].Value, CultureInfo.InvariantCulture);
        sw.Restart();
        Vbm("controlvm", "bench", "savestate");
        WaitGone(vmPid);
        double save = sw.Elapsed.TotalMilliseconds;
        string sav = Directory.GetFiles(Path.Combine(Work, "vms", "bench", "Snapshots"), "*.sav").Single();
        long size = new FileInfo(sav).Length;

        File.Delete(serial);
        sw.Restart();
        using Process restore = Spawn(Path.Combine(Root, "bin/VBoxManage"), ["startvm", "bench", "--type", "headless"]);
        double restored = WaitFor(serial, "TICK ", sw, 120_000);
        restore.WaitForExit();
        if (File.ReadAllText(serial).Contains("GO\n", StringComparison.Ordinal))
            throw new InvalidOperationException("the saved guest started afresh instead of going on");
        Vbm("controlvm", "bench", "poweroff");
        return new Run(go, first, command, save, restored, size);
    }

    private static Run RunQemu()
    {
        string serial = Path.Combine(Work, "q.ser"), serial2 = Path.Combine(Work, "q2.ser");
        string monitor = Path.Combine(Work, "q.mon"), monitor2 = Path.Combine(Work, "q2.mon");
        string state = Path.Combine(Work, "q.state");
        foreach (string f in new[] { serial, serial2, monitor, monitor2, state })
            File.Delete(f);
        string[] common = ["-M", "pc", "-accel", "tcg", "-m", "256", "-kernel", Payload, "-display", "none", "-no-reboot"];
        var sw = Stopwatch.StartNew();
        using Process qemu = Spawn("qemu-system-x86_64", [.. common, "-serial", "file:" + serial, "-qmp", $"unix:{monitor},server=on,wait=off"]);
        double go = WaitFor(serial, "GO\n", sw, 60_000);
        WaitFor(serial, "TICK 5\n", sw, 300_000);

        using (var qmp = new Qmp(monitor))
        {
            // QEMU throttles migration to 128 MiB/s by default; a save to a local file should not be.
            qmp.Execute("{\"execute\":\"migrate-set-parameters\",\"arguments\":{\"max-bandwidth\":1099511627776}}");
            sw.Restart();
            qmp.Execute($"{{\"execute\":\"migrate\",\"arguments\":{{\"uri\":\"exec:cat > {state}\"}}}}");
            while (true)
            {
                string info = qmp.Execute("{\"execute\":\"query-migrate\"}");
                if (info.Contains("\"status\": \"completed\"", StringComparison.Ordinal))
                    break;
                if (info.Contains("\"status\": \"failed\"", StringComparison.Ordinal))
                    throw new InvalidOperationException("QEMU's migration failed: " + info);
                Thread.Sleep(2);
            }
            qmp.Quit();
        }
        qemu.WaitForExit();
        double save = sw.Elapsed.TotalMilliseconds;
        long size = new FileInfo(state).Length;

        sw.Restart();
        using Process q2 = Spawn("qemu-system-x86_64", [.. common, "-serial", "file:" + serial2, "-qmp", $"unix:{monitor2},server=on,wait=off", "-incoming", $"exec:cat {state}"]);
        double restored = WaitFor(serial2, "TICK ", sw, 120_000);
        using (var qmp = new Qmp(monitor2))
            qmp.Quit();
        q2.WaitForExit();
        return new Run(go, double.NaN, double.NaN, save, restored, size);
    }

    /// <summary>The absolute time of VBox.log's "starting guest execution" line, in ms after <paramref name="t0"/>.</summary>
    private static double FirstInstruction(string log, DateTime t0)
    {
        string text = File.ReadAllText(log);
        Match open = Regex.Match(text, @"^(\d\d):(\d\d):(\d\d\.\d+) .* log opened (\S+)Z", RegexOptions.Multiline);
        Match run = Regex.Match(text, @"^(\d\d):(\d\d):(\d\d\.\d+) VM: starting guest execution", RegexOptions.Multiline);
        if (!open.Success || !run.Success)
            throw new InvalidOperationException("VBox.log has no start-of-execution line");
        DateTime opened = DateTime.Parse(open.Groups[4].Value, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal);
        double at = (opened - t0).TotalMilliseconds + (Rel(run) - Rel(open)) * 1000;
        return at;

        static double Rel(Match m) => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) * 3600 + int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture) * 60
            + double.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture);
    }

    /// <summary>Polls a file (every 2 ms) until it contains the text; the elapsed time then.</summary>
    private static double WaitFor(string path, string text, Stopwatch sw, int timeoutMs)
    {
        byte[] needle = Encoding.ASCII.GetBytes(text);
        while (sw.ElapsedMilliseconds < timeoutMs)
        {
            try
            {
                if (File.Exists(path) && File.ReadAllBytes(path).AsSpan().IndexOf(needle) >= 0)
                    return sw.Elapsed.TotalMilliseconds;
            }
            catch (IOException) { }
            Thread.Sleep(2);
        }
        throw new TimeoutException($"'{text.Trim()}' did not appear in {path} within {timeoutMs} ms");
    }

    private static void WaitGone(int pid)
    {
        var sw = Stopwatch.StartNew();
        while (Directory.Exists($"/proc/{pid}") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal))
        {
            if (sw.ElapsedMilliseconds > 60_000)
                throw new TimeoutException($"VM process {pid} did not exit after savestate");
            Thread.Sleep(2);
        }
    }

    /// <summary>QEMU's QMP monitor over its Unix socket (one JSON object per line): commands and their "return".</summary>
    private sealed class Qmp : IDisposable
    {
        private readonly Socket _s = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        private readonly StringBuilder _buf = new();

        public Qmp(string path)
        {
            var sw = Stopwatch.StartNew();
            while (true)
            {
                try { _s.Connect(new UnixDomainSocketEndPoint(path)); break; }
                catch (SocketException) when (sw.ElapsedMilliseconds < 10_000) { Thread.Sleep(5); }
            }
            ReadLine(); // the greeting
            Execute("{\"execute\":\"qmp_capabilities\"}");
        }

        /// <summary>Sends a command and returns its reply line (events that arrive first are skipped).</summary>
        public string Execute(string json)
        {
            _s.Send(Encoding.UTF8.GetBytes(json + "\n"));
            while (true)
            {
                string line = ReadLine();
                if (line.StartsWith("{\"return\"", StringComparison.Ordinal))
                    return line;
                if (line.StartsWith("{\"error\"", StringComparison.Ordinal))
                    throw new InvalidOperationException($"QMP {json}: {line}");
            }
        }

        /// <summary>Quits QEMU; waits for the answer, since QEMU drops the queued commands of a client that hangs up.</summary>
        public void Quit()
        {
            try { Execute("{\"execute\":\"quit\"}"); }
            catch (Exception e) when (e is IOException or SocketException) { }
        }

        private string ReadLine()
        {
            var chunk = new byte[4096];
            while (true)
            {
                string s = _buf.ToString();
                int nl = s.IndexOf('\n', StringComparison.Ordinal);
                if (nl >= 0)
                {
                    _buf.Remove(0, nl + 1);
                    return s[..nl].Trim();
                }
                int n = _s.Receive(chunk);
                if (n == 0)
                    throw new IOException("QEMU's QMP socket closed");
                _buf.Append(Encoding.UTF8.GetString(chunk, 0, n));
            }
        }

        public void Dispose() => _s.Dispose();
    }

    private static Process Spawn(string file, string[] args)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        return Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + file);
    }

    private static void Vbm(params string[] args) => Exec(Path.Combine(Root, "bin/VBoxManage"), args);

    private static string QemuVersion()
    {
        string v = Exec("qemu-system-x86_64", ["--version"]);
        Match m = Regex.Match(v, @"version (\d+\.\d+)");
        return m.Success ? m.Groups[1].Value : "?";
    }

    private static string Exec(string file, string[] args)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + file);
        Task<string> err = p.StandardError.ReadToEndAsync();
        string o = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', args)}: exit {p.ExitCode}: {err.Result}");
        return o;
    }

    private static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "SharpBox.slnx"))) return d.FullName;
        throw new InvalidOperationException("cannot find the repository root (SharpBox.slnx) above " + AppContext.BaseDirectory);
    }
}
