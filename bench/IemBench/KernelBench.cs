using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Em;
using SharpBox.Vmm.Iem;

namespace SharpBox.Bench.Iem;

/// <summary>
/// Benchmark (c): the Debian kernel's XZ decompressor (arch/x86/boot/compressed). The bzImage is
/// booted with "earlyprintk=ttyS0 nokaslr"; the decompressor prints "KASLR disabled" just before it
/// decompresses, and the kernel's early console prints "Linux version" shortly after it starts: the
/// time between the two serial lines is the workload on every engine. IEM loads the kernel itself (32-bit boot protocol entry) on a
/// bare RAM machine and counts the instructions between the two messages exactly; QEMU TCG boots the
/// same file with -kernel; the count from IEM gives QEMU's rate (the code path between the messages
/// is the same). Bochs boots it from a disk image through payloads/linuxboot.asm.
/// </summary>
public static class KernelBench
{
    private const string Cmdline = "console=ttyS0 earlyprintk=ttyS0 nokaslr";
    // The decompressor's first message (printed just before it starts decompressing) and the kernel's
    // first early-console line (printed in setup_arch, some 0.1% of the work later).
    private const string StartMark = "KASLR disabled", EndMark = "Linux version";

    public static string? FindKernel(string? explicitPath)
    {
        if (explicitPath != null) return File.Exists(explicitPath) ? explicitPath : throw new FileNotFoundException($"kernel '{explicitPath}' not found");
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "SharpBox.slnx"))) dir = dir.Parent;
        if (dir != null)
        {
            string cached = Path.Combine(dir.FullName, ".cache", "guest", "vmlinuz");
            if (File.Exists(cached)) return cached;
        }
        if (Directory.Exists("/boot"))
            foreach (var f in Directory.GetFiles("/boot", "vmlinuz-*").Order()) return f;
        return null;
    }

    /// <summary>Runs the decompressor on IEM: returns (instructions, seconds) between the two marks.</summary>
    public static unsafe (long Instructions, double Seconds) RunIem(byte[] bz)
    {
        if (bz.Length < 0x300 || Encoding.ASCII.GetString(bz, 0x202, 4) != "HdrS") throw new InvalidDataException("not a bzImage (no HdrS header)");
        int setupSects = bz[0x1F1] == 0 ? 4 : bz[0x1F1];
        int pmOffset = (setupSects + 1) * 512;
        const ulong ram = 256UL << 20, bootParams = 0x10000, cmdAddr = 0x20000, gdtAddr = 0x30000, kernelAt = 0x100000;
        using var bus = new FlatRamBus(ram);
        // Protected-mode kernel at 1 MiB; the zero page with the setup header, an E820 map and the command line.
        bz.AsSpan(pmOffset).CopyTo(bus.RamSpan(kernelAt, bz.Length - pmOffset));
        var bp = bus.RamSpan(bootParams, 4096);
        int hdrEnd = 0x202 + bz[0x201];
        bz.AsSpan(0x1F1, hdrEnd - 0x1F1).CopyTo(bp[0x1F1..]);
        bp[0x210] = 0xFF;                                              // type_of_loader: undefined
        bp[0x211] |= 0x01;                                             // LOADED_HIGH
        BinaryPrimitives.WriteUInt32LittleEndian(bp[0x228..], (uint)cmdAddr);
        Encoding.ASCII.GetBytes(Cmdline + "\0").CopyTo(bus.RamSpan(cmdAddr, Cmdline.Length + 1));
        void E820(int i, ulong a, ulong s, uint t)
        {
            var e = bus.RamSpan(bootParams + 0x2D0 + (ulong)(i * 20), 20);
            BinaryPrimitives.WriteUInt64LittleEndian(e, a); BinaryPrimitives.WriteUInt64LittleEndian(e[8..], s); BinaryPrimitives.WriteUInt32LittleEndian(e[16..], t);
        }
        E820(0, 0, 0x9F000, 1); E820(1, 0x100000, ram - 0x100000, 1);
        bp[0x1E8] = 2;
        // GDT: 10 = __BOOT_CS, 18 = __BOOT_DS (flat 32-bit).
        var gdt = bus.RamSpan(gdtAddr, 32);
        BinaryPrimitives.WriteUInt64LittleEndian(gdt[16..], 0x00CF9A000000FFFF);
        BinaryPrimitives.WriteUInt64LittleEndian(gdt[24..], 0x00CF92000000FFFF);

        var serial = new StringBuilder();
        IemCpu? cpu = null;
        int marksSeen = 0;
        bus.PortWrite = (port, size, value) =>
        {
            if (port != 0x3F8) return;
            serial.Append((char)(byte)value);
            if (marksSeen == 0 && serial.ToString().Contains(StartMark)) { marksSeen = 1; cpu!.RequestStop(); }
            else if (marksSeen == 1 && value == '\n' && serial.ToString().Contains(EndMark)) { marksSeen = 2; cpu!.RequestStop(); }
        };
        var machine = new IemMachine(bus, new CpuModel());
        cpu = new IemCpu(machine, 0);
        var c = CpuContext.PowerOn();
        var code = new SegmentRegister(0x10, 0, 0xFFFFFFFF, SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.CodeReadable | SegAttr.Accessed | SegAttr.DB | SegAttr.G);
        var data = new SegmentRegister(0x18, 0, 0xFFFFFFFF, SegAttr.P | SegAttr.S | SegAttr.DataWritable | SegAttr.Accessed | SegAttr.DB | SegAttr.G);
        for (int i = 0; i < 6; i++) c.Seg[i] = data;
        c.Seg[SegIdx.CS] = code;
        c.Gdtr = new DescriptorTableRegister { Base = gdtAddr, Limit = 31 };
        c.Cr0 = Cr0.PE | Cr0.ET;
        c.Rip = kernelAt;
        c.Gpr[6] = bootParams;                                         // ESI = boot_params
        c.Gpr[2] = 0;
        cpu.SetState(in c);
        cpu.SetA20(true);
        long before = 0, during = 0;
        double seconds = 0;
        var sw = new Stopwatch();
        for (int guard = 0; marksSeen < 2; guard++)
        {
            var exit = cpu.Run(Environment.GetEnvironmentVariable("IEMBENCH_TRACE") != null ? 200_000_000 : long.MaxValue);
            if (marksSeen == 1 && !sw.IsRunning) { before += exit.Instructions; sw.Start(); continue; }
            if (marksSeen == 2) { during += exit.Instructions; seconds = sw.Elapsed.TotalSeconds; break; }
            if (marksSeen == 0) before += exit.Instructions; else during += exit.Instructions;
            if (exit.Reason is not (VcpuExitReason.Stopped or VcpuExitReason.BudgetExhausted))
                throw new InvalidOperationException($"IEM stopped with {exit.Reason} at RIP {cpu.Rip:X} after {before + during} instructions; serial: {Tail(serial.ToString())}");
            if (guard > 1000) throw new InvalidOperationException("the decompressor never finished");
            if (Environment.GetEnvironmentVariable("IEMBENCH_TRACE") != null)
                Console.Error.WriteLine($"[run {guard}: {exit.Reason} {exit.Instructions} rip={cpu.Rip:X} mode={cpu.Mode} serial='{Tail(serial.ToString())}']");
        }
        cpu.Dispose();
        return (during, seconds);
    }

    /// <summary>Seconds QEMU TCG spends between the two marks (wall clock, output read as it comes).</summary>
    public static double RunQemu(string kernel)
    {
        var psi = new ProcessStartInfo("qemu-system-x86_64") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in new[] { "-accel", "tcg", "-M", "pc", "-m", "256", "-kernel", kernel, "-append", Cmdline, "-display", "none",
                     "-serial", "stdio", "-monitor", "none", "-no-reboot" })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start qemu-system-x86_64");
        _ = p.StandardError.ReadToEndAsync();
        var sw = Stopwatch.StartNew();
        var text = new StringBuilder();
        double tStart = -1, tEnd = -1;
        var buf = new char[4096];
        try
        {
            while (tEnd < 0)
            {
                var read = p.StandardOutput.ReadAsync(buf, 0, buf.Length);
                if (!read.Wait(120_000)) throw new TimeoutException("QEMU printed nothing for 120 s");
                int n = read.Result;
                if (n == 0) throw new InvalidOperationException($"QEMU exited before the decompressor finished: {Tail(text.ToString())}");
                text.Append(buf, 0, n);
                string s = text.ToString();
                if (tStart < 0 && s.Contains(StartMark)) tStart = sw.Elapsed.TotalSeconds;
                if (tStart >= 0 && s.Contains(EndMark)) tEnd = sw.Elapsed.TotalSeconds;
            }
        }
        finally { try { p.Kill(true); } catch (InvalidOperationException) { } }
        return tEnd - tStart;
    }

    /// <summary>
    /// Seconds Bochs spends between the two marks: the kernel on a disk image behind our own boot
    /// sector (payloads/linuxboot.asm, 16-bit boot protocol), COM1 to a file polled for the marks.
    /// </summary>
    public static double RunBochs(string kernel, byte[] loader)
    {
        byte[] bz = File.ReadAllBytes(kernel);
        int sectors = (bz.Length + 511) / 512;
        const int heads = 16, spt = 63, cylBytes = heads * spt * 512;
        int cyls = (512 + sectors * 512 + cylBytes - 1) / cylBytes;
        var img = new byte[cyls * cylBytes];
        loader.CopyTo(img, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(img.AsSpan(3), (uint)sectors);
        bz.CopyTo(img, 512);
        string tmp = Path.Combine(Path.GetTempPath(), $"iembench-{Environment.ProcessId}-kernel");
        string imgPath = tmp + ".img", rc = tmp + ".bochsrc", cmd = tmp + ".cmd", com = tmp + ".com1";
        File.WriteAllBytes(imgPath, img);
        File.WriteAllText(com, "");
        File.WriteAllLines(rc, new[]
        {
            "megs: 256",
            "romimage: file=/usr/share/bochs/BIOS-bochs-latest",
            "vgaromimage: file=/usr/share/bochs/VGABIOS-lgpl-latest",
            $"ata0-master: type=disk, path={imgPath}, mode=flat, cylinders={cyls}, heads={heads}, spt={spt}",
            "boot: disk",
            "display_library: term",
            "log: /dev/null",
            "panic: action=fatal",
            "info: action=ignore",
            "clock: sync=none",
            $"com1: enabled=1, mode=file, dev={com}",
        });
        File.WriteAllText(cmd, "c\n");
        var psi = new ProcessStartInfo("script") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in new[] { "-qec", $"bochs -q -f {rc} -rc {cmd}", "/dev/null" }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start bochs");
        _ = p.StandardOutput.ReadToEndAsync();
        _ = p.StandardError.ReadToEndAsync();
        var sw = Stopwatch.StartNew();
        double tStart = -1, tEnd = -1;
        try
        {
            while (tEnd < 0)
            {
                Thread.Sleep(50);
                string s = File.ReadAllText(com);
                if (tStart < 0 && s.Contains(StartMark)) tStart = sw.Elapsed.TotalSeconds;
                if (tStart >= 0 && s.Contains(EndMark)) tEnd = sw.Elapsed.TotalSeconds;
                if (p.HasExited) throw new InvalidOperationException($"Bochs exited before the decompressor finished: {Tail(s)}");
                if (sw.Elapsed.TotalSeconds > 900) throw new TimeoutException("Bochs did not finish the decompressor in 15 minutes");
            }
        }
        finally
        {
            try { p.Kill(true); } catch (InvalidOperationException) { }
            p.WaitForExit(5000);
            foreach (var f in new[] { imgPath, rc, cmd, com }) File.Delete(f);
        }
        return tEnd - tStart;
    }

    private static string Tail(string s) => s.Length > 300 ? s[^300..] : s;
}
