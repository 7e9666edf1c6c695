using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace SharpBox.Bench.Boot;

/// <summary>
/// Boots the standard test guest (Debian's kernel + the busybox initramfs, console=ttyS0 quiet panic=-1,
/// 256 MiB) on SharpBox (VBoxManage + VBoxHeadless, software CPU) and on QEMU TCG (-M pc) in the same
/// run, alternating, several times each, as a bzImage and as an uncompressed vmlinux (PVH). For each:
/// process start → "INIT-READY" on the serial port (wall), the process's CPU time, and the memory
/// overhead at that moment (RSS minus the resident part of the guest-RAM mapping). For SharpBox also
/// the time from process start to the first guest instruction (from VBox.log). Prints medians and
/// ratios. Usage: bootbench [--runs N] [--kernel bzimage|vmlinux|both]
/// </summary>
public static class Program
{
    private sealed record Sample(double Seconds, double CpuSeconds, long OverheadKiB, double StartMs);

    private static string Root = "";
    private static string Guest = "";
    private static string Work = "";

    public static int Main(string[] args)
    {
        int runs = 3;
        string which = "both";
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--runs" && i + 1 < args.Length) runs = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--kernel" && i + 1 < args.Length) which = args[++i];
            else { Console.Error.WriteLine("usage: bootbench [--runs N] [--kernel bzimage|vmlinux|both]"); return 2; }
        }
        Root = FindRoot();
        Guest = RunCapture(Path.Combine(Root, "scripts/fetch-guest.sh"), []).Trim();
        Work = Directory.CreateTempSubdirectory("sbx-bootbench-").FullName;
        try
        {
            Environment.SetEnvironmentVariable("VBOX_USER_HOME", Path.Combine(Work, "home"));
            Directory.CreateDirectory(Path.Combine(Work, "home"));
            Vbm("setproperty", "machinefolder", Path.Combine(Work, "vms"));
            var kernels = which switch
            {
                "bzimage" => new[] { "vmlinuz" },
                "vmlinux" => new[] { "vmlinux" },
                _ => new[] { "vmlinuz", "vmlinux" },
            };
            Console.WriteLine($"host: {Environment.ProcessorCount} CPUs; guest: {File.ReadAllText(Path.Combine(Guest, "kernel-package")).Trim()}, 256 MiB, \"console=ttyS0 quiet panic=-1\"; {runs} runs each, alternating");
            foreach (var k in kernels)
            {
                string kernel = Path.Combine(Guest, k);
                string vm = "bench-" + k;
                Vbm("createvm", "--name", vm, "--register");
                Vbm("modifyvm", vm, "--memory", "256", "--hwvirtex", "off", "--boot-kernel", kernel,
                    "--boot-initrd", Path.Combine(Guest, "initramfs.cpio.gz"), "--boot-cmdline", "console=ttyS0 quiet panic=-1",
                    "--uart1", "0x3f8", "4", "--uart-mode1", "file", Path.Combine(Work, vm + ".log"));
                var sb = new List<Sample>();
                var qemu = new List<Sample>();
                for (int r = 0; r < runs; r++)
                {
                    sb.Add(RunSharpBox(vm));
                    Console.WriteLine($"  {k} run {r + 1}: SharpBox {sb[^1].Seconds:F2} s ({sb[^1].CpuSeconds:F2} s CPU)");
                    qemu.Add(RunQemu(kernel));
                    Console.WriteLine($"  {k} run {r + 1}: QEMU TCG {qemu[^1].Seconds:F2} s ({qemu[^1].CpuSeconds:F2} s CPU)");
                }
                Report(k == "vmlinuz" ? "bzImage" : "vmlinux (PVH)", sb, qemu);
            }
            return 0;
        }
        finally
        {
            Directory.Delete(Work, true);
        }
    }

    private static double Median(IEnumerable<double> v)
    {
        var a = v.OrderBy(x => x).ToArray();
        return a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2;
    }

    private static void Report(string what, List<Sample> sb, List<Sample> q)
    {
        double sw = Median(sb.Select(s => s.Seconds)), qw = Median(q.Select(s => s.Seconds));
        double sc = Median(sb.Select(s => s.CpuSeconds)), qc = Median(q.Select(s => s.CpuSeconds));
        double so = Median(sb.Select(s => (double)s.OverheadKiB)), qo = Median(q.Select(s => (double)s.OverheadKiB));
        Console.WriteLine();
        Console.WriteLine($"| {what} | SharpBox | QEMU TCG | SharpBox/QEMU |");
        Console.WriteLine("|---|---|---|---|");
        Console.WriteLine($"| process start → INIT-READY, wall (median) | {sw:F2} s | {qw:F2} s | {sw / qw:F2} |");
        Console.WriteLine($"| same, CPU time of the VM process (median) | {sc:F2} s | {qc:F2} s | {sc / qc:F2} |");
        Console.WriteLine($"| memory overhead at INIT-READY: RSS − resident guest RAM (median) | {so / 1024:F1} MiB | {qo / 1024:F1} MiB | {so / qo:F2} |");
        Console.WriteLine($"| process start → first guest instruction (median) | {Median(sb.Select(s => s.StartMs)):F0} ms | | |");
        Console.WriteLine();
    }

    private static Sample RunSharpBox(string vm)
    {
        string serial = Path.Combine(Work, vm + ".log");
        File.Delete(serial);                      // the last run's INIT-READY must not count
        var psi = new ProcessStartInfo(Path.Combine(Root, "bin/VBoxHeadless"), ["--startvm", vm])
        { RedirectStandardOutput = true, RedirectStandardError = true };
        var (wall, cpu, overhead) = Measure(psi, () => FileHas(serial, "INIT-READY"), 256L << 10);
        string log = File.ReadAllText(Path.Combine(Work, "vms", vm, "Logs", "VBox.log"));
        var m = Regex.Match(log, @"starting guest execution (\d+) ms after process start");
        return new Sample(wall, cpu, overhead, m.Success ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : double.NaN);
    }

    private static Sample RunQemu(string kernel)
    {
        var output = new StringBuilder();
        var psi = new ProcessStartInfo("qemu-system-x86_64",
            ["-accel", "tcg", "-M", "pc", "-m", "256", "-kernel", kernel, "-initrd", Path.Combine(Guest, "initramfs.cpio.gz"),
             "-append", "console=ttyS0 quiet panic=-1", "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot"])
        { RedirectStandardOutput = true, RedirectStandardError = true };
        var (wall, cpu, overhead) = Measure(psi, () => { lock (output) return output.ToString().Contains("INIT-READY"); }, 256L << 10, output);
        return new Sample(wall, cpu, overhead, double.NaN);
    }

    /// <summary>Starts the process, waits until <paramref name="done"/>, samples CPU and memory there, then waits for the exit.</summary>
    private static (double Wall, double Cpu, long OverheadKiB) Measure(ProcessStartInfo psi, Func<bool> done, long ramKiB, StringBuilder? capture = null)
    {
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, e) => { if (e.Data is not null && capture is not null) lock (capture) capture.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        while (!done())
        {
            if (p.HasExited && !done()) throw new InvalidOperationException($"{psi.FileName} exited ({p.ExitCode}) before INIT-READY");
            if (sw.Elapsed > TimeSpan.FromMinutes(15)) { p.Kill(true); throw new TimeoutException($"{psi.FileName}: no INIT-READY in 15 minutes"); }
            Thread.Sleep(5);
        }
        double wall = sw.Elapsed.TotalSeconds;
        double cpu = CpuSeconds(p.Id);
        long overhead = OverheadKiB(p.Id, ramKiB);
        if (!p.WaitForExit(120_000)) p.Kill(true);
        p.WaitForExit();
        return (wall, cpu, overhead);
    }

    /// <summary>utime + stime of a live process from /proc/PID/stat (clock ticks of 10 ms on Linux).</summary>
    private static double CpuSeconds(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture)) / 100.0;
        }
        catch (IOException) { return double.NaN; }
    }

    /// <summary>VmRSS minus the resident part of the guest-RAM mapping (the anonymous mapping of the guest's size).</summary>
    private static long OverheadKiB(int pid, long ramKiB)
    {
        try
        {
            long rss = 0, ramRss = 0;
            foreach (var l in File.ReadLines($"/proc/{pid}/status"))
                if (l.StartsWith("VmRSS:", StringComparison.Ordinal)) rss = long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
            long size = 0;
            foreach (var l in File.ReadLines($"/proc/{pid}/smaps"))
            {
                if (l.StartsWith("Size:", StringComparison.Ordinal)) size = long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
                else if (l.StartsWith("Rss:", StringComparison.Ordinal) && size >= ramKiB && size <= ramKiB + 4096)
                    ramRss += long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
            }
            return rss - ramRss;
        }
        catch (IOException) { return -1; }
    }

    private static bool FileHas(string path, string text)
    {
        try { return File.Exists(path) && File.ReadAllText(path).Contains(text, StringComparison.Ordinal); }
        catch (IOException) { return false; }
    }

    private static void Vbm(params string[] args)
    {
        var r = RunCapture(Path.Combine(Root, "bin/VBoxManage"), args);
        _ = r;
    }

    private static string RunCapture(string file, string[] args)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        string o = p.StandardOutput.ReadToEnd();
        string e = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)}: exit {p.ExitCode}: {e}");
        return o;
    }

    private static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "SharpBox.slnx"))) return d.FullName;
        throw new InvalidOperationException("cannot find the repository root (SharpBox.slnx) above " + AppContext.BaseDirectory);
    }
}
