using System.Buffers.Binary;
using System.Diagnostics;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Em;
using SharpBox.Vmm.Iem;

namespace SharpBox.Bench.Iem;

/// <summary>
/// Guest instructions per second of IEM on two payloads (a tight integer loop, a memory-heavy loop),
/// with QEMU TCG and Bochs running the same payload in the same invocation. Each engine runs the
/// payload twice, with the real iteration count and with 1, and the difference in wall time is
/// divided into the difference in instructions (so boot and start-up costs cancel out).
/// </summary>
public static class Program
{
    private sealed record Payload(string Name, string Description, long InstrPerIter, long IemIters, long QemuIters, long BochsIters);

    public static int Main(string[] args)
    {
        bool quick = false, noQemu = false, noBochs = false, noKernel = false;
        string? kernelPath = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--quick": quick = true; break;
                case "--no-qemu": noQemu = true; break;
                case "--no-bochs": noBochs = true; break;
                case "--no-kernel": noKernel = true; break;
                case "--kernel" when i + 1 < args.Length: kernelPath = args[++i]; break;
                default:
                    Console.Error.WriteLine($"iembench: bad argument '{args[i]}'\nusage: iembench [--quick] [--no-qemu] [--no-bochs] [--no-kernel] [--kernel BZIMAGE]");
                    return 2;
            }
        }
        int div = quick ? 10 : 1;
        var payloads = new[]
        {
            new Payload("int", "tight integer loop (add/xor/dec/jnz)", 4, 150_000_000 / div, 1_000_000_000 / div, 40_000_000 / div),
            new Payload("mem", "memory loop (load/add/store/inc/cmp/jb over 2x32 KiB)", 24579, 20_000 / div, 100_000 / div, 6_000 / div),
        };
        string dir = PayloadDir();
        byte[] boot = Assemble(dir, "boot");
        Console.WriteLine($"iembench{(quick ? " --quick" : "")}: guest instructions per second (M/s), same payload on every engine");
        Console.WriteLine($"{"payload",-6} {"engine",-10} {"instructions",14} {"seconds",8} {"M instr/s",10} {"IEM ratio",10}");
        int failures = 0;
        foreach (var p in payloads)
        {
            byte[] code = Assemble(dir, p.Name);
            double iem = 0;
            try
            {
                iem = RunIem(code, p, p.IemIters);
            }
            catch (Exception e) { Console.WriteLine($"{p.Name,-6} IEM        failed: {e.Message}"); failures++; continue; }
            if (!noQemu)
            {
                var q = Measure(() => RunQemu(boot, code, p.QemuIters), () => RunQemu(boot, code, 1), p.QemuIters * p.InstrPerIter);
                Print(p.Name, "QEMU TCG", q, iem);
            }
            if (!noBochs)
            {
                if (!File.Exists("/usr/bin/bochs") || !File.Exists("/usr/share/bochs/BIOS-bochs-latest"))
                    Console.WriteLine($"{p.Name,-6} {"Bochs",-10} skipped: bochs not installed (apt-get install bochs bochsbios vgabios bochs-term)");
                else
                {
                    var b = Measure(() => RunBochs(boot, code, p.BochsIters), () => RunBochs(boot, code, 1), p.BochsIters * p.InstrPerIter);
                    Print(p.Name, "Bochs", b, iem);
                }
            }
        }
        if (!noKernel) failures += RunKernel(kernelPath, noQemu, noBochs, dir);
        return failures == 0 ? 0 : 1;
    }

    /// <summary>Payload (c): the kernel's XZ decompressor (see <see cref="KernelBench"/>).</summary>
    private static int RunKernel(string? kernelPath, bool noQemu, bool noBochs, string payloadDir)
    {
        string? kernel;
        try { kernel = KernelBench.FindKernel(kernelPath); }
        catch (FileNotFoundException e) { Console.WriteLine($"xz     IEM        failed: {e.Message}"); return 1; }
        if (kernel == null)
        {
            Console.WriteLine("xz     skipped: no bzImage (give --kernel, or fetch the standard guest into .cache/guest/vmlinuz)");
            return 0;
        }
        long instr; double secs;
        try { (instr, secs) = KernelBench.RunIem(File.ReadAllBytes(kernel)); }
        catch (Exception e) when (e is InvalidOperationException or InvalidDataException or IOException)
        {
            Console.WriteLine($"xz     IEM        failed: {e.Message}");
            return 1;
        }
        double iem = instr / secs / 1e6;
        Console.WriteLine($"{"xz",-6} {"IEM",-10} {instr,14:N0} {secs,8:F2} {iem,10:F1} {1.0,10:F2}   ({Path.GetFileName(kernel)} decompressor)");
        if (!noQemu)
        {
            try
            {
                double q = KernelBench.RunQemu(kernel);
                Print("xz", "QEMU TCG", (instr, q, null), iem);
            }
            catch (Exception e) when (e is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception)
            {
                Console.WriteLine($"xz     QEMU TCG   skipped: {e.Message}");
            }
        }
        if (!noBochs)
        {
            if (!File.Exists("/usr/bin/bochs") || !File.Exists("/usr/share/bochs/BIOS-bochs-latest"))
                Console.WriteLine("xz     Bochs      skipped: bochs not installed (apt-get install bochs bochsbios vgabios bochs-term)");
            else
            {
                try
                {
                    double b = KernelBench.RunBochs(kernel, Assemble(payloadDir, "linuxboot"));
                    Print("xz", "Bochs", (instr, b, null), iem);
                }
                catch (Exception e) when (e is InvalidOperationException or TimeoutException or IOException)
                {
                    Console.WriteLine($"xz     Bochs      skipped: {e.Message}");
                }
            }
        }
        return 0;
    }

    private static void Print(string payload, string engine, (long instr, double secs, string? error) r, double iemMips)
    {
        if (r.error != null) { Console.WriteLine($"{payload,-6} {engine,-10} skipped: {r.error}"); return; }
        double mips = r.instr / r.secs / 1e6;
        Console.WriteLine($"{payload,-6} {engine,-10} {r.instr,14:N0} {r.secs,8:F2} {mips,10:F1} {iemMips / mips,10:F2}");
    }

    private static (long, double, string?) Measure(Func<double> full, Func<double> empty, long instructions)
    {
        try
        {
            double t0 = empty();
            double t1 = full();
            return (instructions, Math.Max(t1 - t0, 1e-6), null);
        }
        catch (Exception e) { return (0, 0, e.Message); }
    }

    private static byte[] Patch(byte[] code, long iters)
    {
        var c = (byte[])code.Clone();
        BinaryPrimitives.WriteInt64LittleEndian(c.AsSpan(8), iters);
        return c;
    }

    private static unsafe double RunIem(byte[] code, Payload p, long iters)
    {
        double Once(long n, out long executed)
        {
            using var bus = new FlatRamBus(64 << 20);
            Patch(code, n).CopyTo(bus.RamSpan(0x8000, code.Length));
            IemCpu? cpu = null;
            bool exited = false;
            bus.PortWrite = (port, size, value) => { if (port == 0xF4) { exited = true; cpu!.RequestStop(); } };
            var machine = new IemMachine(bus, new CpuModel());
            cpu = new IemCpu(machine, 0);
            var ctx = CpuContext.PowerOn();
            for (int i = 0; i < 6; i++) ctx.Seg[i] = SegmentRegister.RealMode(0, i == SegIdx.CS);
            ctx.Rip = 0x8000;
            ctx.Idtr = new DescriptorTableRegister { Base = 0, Limit = 0x3FF };
            ctx.Cr0 = Cr0.ET;
            cpu.SetState(in ctx);
            cpu.SetA20(true);
            executed = 0;
            var sw = Stopwatch.StartNew();
            while (!exited)
            {
                var exit = cpu.Run(long.MaxValue);
                executed += exit.Instructions;
                if (exit.Reason is not (VcpuExitReason.Stopped or VcpuExitReason.BudgetExhausted))
                    throw new InvalidOperationException($"IEM stopped with {exit.Reason} at RIP {cpu.Rip:X}");
            }
            double s = sw.Elapsed.TotalSeconds;
            cpu.Dispose();
            return s;
        }
        Once(Math.Max(1, iters / 100), out _);                     // warm-up (JIT tiers)
        double t0 = Once(1, out long e0);
        double t1 = Once(iters, out long e1);
        long instr = e1 - e0;
        double secs = Math.Max(t1 - t0, 1e-6);
        double mips = instr / secs / 1e6;
        long expect = (iters - 1) * p.InstrPerIter;
        if (instr != expect) throw new InvalidOperationException($"IEM executed {instr} instructions, expected {expect}");
        Console.WriteLine($"{p.Name,-6} {"IEM",-10} {instr,14:N0} {secs,8:F2} {mips,10:F1} {1.0,10:F2}");
        return mips;
    }

    private static string MakeImage(byte[] boot, byte[] code, long iters, string tag)
    {
        const int size = 2 * 16 * 63 * 512;            // 2 cylinders, 16 heads, 63 sectors
        var img = new byte[size];
        boot.CopyTo(img, 0);
        Patch(code, iters).CopyTo(img, 512);
        string path = Path.Combine(Path.GetTempPath(), $"iembench-{Environment.ProcessId}-{tag}.img");
        File.WriteAllBytes(path, img);
        return path;
    }

    private static double RunQemu(byte[] boot, byte[] code, long iters)
    {
        string img = MakeImage(boot, code, iters, "qemu");
        try
        {
            return TimeProcess("qemu-system-x86_64", new[] { "-accel", "tcg", "-M", "pc", "-m", "64", "-drive", $"file={img},format=raw,if=ide",
                "-display", "none", "-serial", "none", "-monitor", "none", "-no-reboot",
                "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04" }, expectExit: 1);
        }
        finally { File.Delete(img); }
    }

    private static double RunBochs(byte[] boot, byte[] code, long iters)
    {
        string img = MakeImage(boot, code, iters, "bochs");
        string rc = Path.Combine(Path.GetTempPath(), $"iembench-{Environment.ProcessId}.bochsrc");
        string cmd = Path.Combine(Path.GetTempPath(), $"iembench-{Environment.ProcessId}.bochscmd");
        File.WriteAllText(rc, $"""
            megs: 64
            romimage: file=/usr/share/bochs/BIOS-bochs-latest
            vgaromimage: file=/usr/share/bochs/VGABIOS-lgpl-latest
            ata0-master: type=disk, path={img}, mode=flat, cylinders=2, heads=16, spt=63
            boot: disk
            display_library: term
            log: /dev/null
            panic: action=fatal
            info: action=ignore
            clock: sync=none
            """);
        File.WriteAllText(cmd, "c\n");
        try
        {
            // Debian's Bochs has the debugger built in (-rc feeds it "continue") and the term GUI wants a tty (script provides one).
            return TimeProcess("script", new[] { "-qec", $"bochs -q -f {rc} -rc {cmd}", "/dev/null" }, expectExit: null);
        }
        finally { File.Delete(img); File.Delete(rc); File.Delete(cmd); }
    }

    private static double TimeProcess(string exe, string[] args, int? expectExit)
    {
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var sw = Stopwatch.StartNew();
        using var proc = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {exe}");
        var so = proc.StandardOutput.ReadToEndAsync();
        var se = proc.StandardError.ReadToEndAsync();
        if (!proc.WaitForExit(300_000)) { proc.Kill(true); throw new TimeoutException($"{exe} did not finish in 300 s"); }
        double s = sw.Elapsed.TotalSeconds;
        string output = so.Result + se.Result;
        if (expectExit is int e && proc.ExitCode != e)
            throw new InvalidOperationException($"{exe} exited with {proc.ExitCode}: {Tail(output)}");
        if (expectExit == null && !output.Contains("Shutdown port: shutdown requested"))
            throw new InvalidOperationException($"{exe} did not reach the payload's shutdown: {Tail(output)}");
        return s;
    }

    private static string Tail(string s) => s.Length > 300 ? s[^300..] : s;

    private static string PayloadDir()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "SharpBox.slnx"))) dir = dir.Parent;
        if (dir == null) throw new InvalidOperationException("repository root (SharpBox.slnx) not found");
        return Path.Combine(dir.FullName, "bench", "IemBench", "payloads");
    }

    private static byte[] Assemble(string dir, string name)
    {
        string outFile = Path.Combine(Path.GetTempPath(), $"iembench-{name}-{Environment.ProcessId}.bin");
        var psi = new ProcessStartInfo("nasm", new[] { "-f", "bin", "-I", dir + "/", "-o", outFile, Path.Combine(dir, name + ".asm") })
        { RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"nasm failed on {name}.asm: {err}");
        byte[] b = File.ReadAllBytes(outFile);
        File.Delete(outFile);
        return b;
    }
}
