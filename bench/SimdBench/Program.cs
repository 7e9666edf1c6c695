using System.Buffers.Binary;
using System.Diagnostics;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Em;
using SharpBox.Vmm.Iem;

namespace SharpBox.Bench.Simd;

/// <summary>
/// Guest instructions per second on SSE2 string and copy loops (glibc-style strlen: MOVDQA/PXOR/PCMPEQB/
/// PMOVMSKB; memcpy: MOVDQU load/store), on IEM and on QEMU TCG with the same guest image in the same run.
/// The guest is a multiboot flat binary assembled with nasm; QEMU's start-up is measured with a 1-iteration
/// run and subtracted; instruction counts are IEM's exact counts.
/// </summary>
public static unsafe class Program
{
    const int IterOffset = 32, WorkloadOffset = 36;

    public static int Main(string[] args)
    {
        int iterations = 20000, runs = 3;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--iterations" && i + 1 < args.Length && int.TryParse(args[++i], out iterations) && iterations > 7) continue;
            if (args[i] == "--runs" && i + 1 < args.Length && int.TryParse(args[++i], out runs) && runs > 0) continue;
            Console.Error.WriteLine("usage: sbx-simdbench [--iterations N (>7)] [--runs R]");
            return 2;
        }
        string dir = Path.Combine(Path.GetTempPath(), $"sbx-simdbench-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        try
        {
            string image = Path.Combine(dir, "guest.bin");
            var asm = Process.Start(new ProcessStartInfo("nasm", ["-f", "bin", "-o", image, Path.Combine(AppContext.BaseDirectory, "simd-guest.asm")])
                { RedirectStandardError = true })!;
            string err = asm.StandardError.ReadToEnd();
            asm.WaitForExit();
            if (asm.ExitCode != 0) { Console.Error.WriteLine($"sbx-simdbench: nasm failed: {err}"); return 1; }
            byte[] guest = File.ReadAllBytes(image);

            Measure(dir, guest, 0, "SSE2 integer: strlen (MOVDQA/PXOR/PCMPEQB/PMOVMSKB) + memcpy (MOVDQU)", iterations, runs);
            Measure(dir, guest, 1, "floating point: ADDPS/MULPS + FADD/FMUL (host stubs)", iterations / 4, runs);
            return 0;
        }
        finally { Directory.Delete(dir, true); }
    }

    static void Measure(string dir, byte[] guest, int workload, string name, int iterations, int runs)
    {
        var g = (byte[])guest.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(g.AsSpan(WorkloadOffset), workload);
        long perIter = IemRun(g, 2, out _) - IemRun(g, 1, out _);
        QemuRun(dir, g, 1);                                         // warm the page cache
        var iem = new List<double>(); var qemu = new List<double>();
        long instr = 0;
        for (int r = 0; r < runs; r++)
        {
            instr = IemRun(g, iterations, out double secs);
            iem.Add(instr / secs);
            double q = QemuRun(dir, g, iterations) - QemuRun(dir, g, 1);
            if (q <= 0) throw new InvalidOperationException("QEMU's run was shorter than its start-up noise: use more --iterations");
            qemu.Add((iterations - 1) * (double)perIter / q);
        }
        double mi = Median(iem), mq = Median(qemu);
        Console.WriteLine($"{name}: {instr / 1e6:F1} M guest instructions per run, median of {runs}");
        Console.WriteLine($"  IEM        {mi / 1e6,8:F1} M instructions/s");
        Console.WriteLine($"  QEMU TCG   {mq / 1e6,8:F1} M instructions/s");
        Console.WriteLine($"  ratio IEM/QEMU = {mi / mq:F2}");
    }

    static double Median(List<double> v) { v.Sort(); return v[v.Count / 2]; }

    static byte[] Patch(byte[] guest, int iterations)
    {
        var g = (byte[])guest.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(g.AsSpan(IterOffset), iterations);
        return g;
    }

    /// <summary>Runs the guest on IEM in 32-bit protected mode as a multiboot loader leaves it; returns the instruction count.</summary>
    static long IemRun(byte[] guest, int iterations, out double seconds)
    {
        var g = Patch(guest, iterations);
        uint loadAddr = BinaryPrimitives.ReadUInt32LittleEndian(g.AsSpan(16));
        uint entry = BinaryPrimitives.ReadUInt32LittleEndian(g.AsSpan(28));
        using var bus = new FlatRamBus(4 << 20);
        g.CopyTo(bus.RamSpan(loadAddr, g.Length));
        var machine = new IemMachine(bus, new CpuModel());
        using var cpu = new IemCpu(machine, 0);
        var ctx = CpuContext.PowerOn();
        const uint code = SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.CodeReadable | SegAttr.Accessed | SegAttr.DB | SegAttr.G;
        const uint data = SegAttr.P | SegAttr.S | SegAttr.DataWritable | SegAttr.Accessed | SegAttr.DB | SegAttr.G;
        ctx.Seg[SegIdx.CS] = new SegmentRegister(0x10, 0, 0xFFFFFFFF, code);
        foreach (int s in new[] { SegIdx.DS, SegIdx.ES, SegIdx.SS, SegIdx.FS, SegIdx.GS }) ctx.Seg[s] = new SegmentRegister(0x18, 0, 0xFFFFFFFF, data);
        ctx.Cr0 = Cr0.PE | Cr0.ET;
        ctx.Rip = entry;
        ctx.Gpr[0] = 0x2BADB002;
        cpu.SetState(in ctx);
        var sw = Stopwatch.StartNew();
        long n = 0;
        while (true)
        {
            var exit = cpu.Run(long.MaxValue);
            n += exit.Instructions;
            if (exit.Reason == VcpuExitReason.Halted) break;
            if (exit.Reason is VcpuExitReason.Shutdown or VcpuExitReason.InternalError)
                throw new InvalidOperationException($"the benchmark guest stopped with {exit.Reason} {exit.Message}");
        }
        seconds = sw.Elapsed.TotalSeconds;
        return n;
    }

    /// <summary>Wall time of QEMU TCG running the guest to its isa-debug-exit write.</summary>
    static double QemuRun(string dir, byte[] guest, int iterations)
    {
        string img = Path.Combine(dir, $"g{iterations}.bin");
        File.WriteAllBytes(img, Patch(guest, iterations));
        var psi = new ProcessStartInfo("qemu-system-x86_64", ["-accel", "tcg", "-M", "pc", "-m", "64", "-kernel", img, "-display", "none",
            "-serial", "none", "-monitor", "none", "-no-reboot", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
            { RedirectStandardError = true, RedirectStandardOutput = true };
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start qemu-system-x86_64");
        p.StandardOutput.ReadToEnd(); string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        double t = sw.Elapsed.TotalSeconds;
        if (p.ExitCode != 1) throw new InvalidOperationException($"qemu-system-x86_64 exited with {p.ExitCode} (expected the guest's exit 1): {err}");
        return t;
    }
}
