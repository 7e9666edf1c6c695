using System.Diagnostics;
using System.Text;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Em;
using SharpBox.Vmm.Iem;

namespace SharpBox.Vmm.Tests.Iem;

/// <summary>
/// A guest test program: a flat binary started in real mode at CS:IP = 0:LoadAddress with every
/// other register zero, on a machine with RAM from 0 and three ports: 0xE9 (a byte of output),
/// 0xF4 (exit with the written code) and 0xF1 (assert the interrupt line; the next acknowledge
/// returns the written vector). Any engine that can run such a machine can run the same payloads.
/// </summary>
public sealed record GuestImage(string Name, byte[] Code, ulong LoadAddress = 0x8000, ulong RamSize = 32UL << 20, long InstructionLimit = 50_000_000);

public sealed class GuestRun
{
    public string Output = "";
    public int? ExitCode;
    public string? Failure;
    public long Instructions;
    /// <summary>The last exceptions/interrupts delivered (for failure messages).</summary>
    public string Events = "";
}

/// <summary>An execution engine the guest tests can run on (IEM always; KVM where usable).</summary>
public interface IGuestEngine
{
    string Name { get; }
    GuestRun Run(GuestImage image);
}

public static class GuestPorts
{
    public const ushort Output = 0xE9, Exit = 0xF4, RaiseIrq = 0xF1;
}

/// <summary>Runs guest images on IEM with <see cref="FlatRamBus"/>.</summary>
public sealed unsafe class IemGuestEngine : IGuestEngine
{
    public string Name => "IEM";

    public GuestRun Run(GuestImage image)
    {
        var run = new GuestRun();
        using var bus = new FlatRamBus(image.RamSize);
        image.Code.CopyTo(bus.RamSpan(image.LoadAddress, image.Code.Length));
        var output = new StringBuilder();
        IemCpu? cpuRef = null;
        int pendingVector = -1;
        bus.PortWrite = (port, size, value) =>
        {
            switch (port)
            {
                case GuestPorts.Output: output.Append((char)(byte)value); break;
                case GuestPorts.Exit: run.ExitCode = (int)(value & 0xFF); cpuRef!.RequestStop(); break;
                case GuestPorts.RaiseIrq: pendingVector = (int)(value & 0xFF); cpuRef!.SetInterruptLine(true); break;
            }
        };
        bus.Acknowledge = () =>
        {
            int v = pendingVector;
            pendingVector = -1;
            cpuRef!.SetInterruptLine(false);
            return v;
        };
        var machine = new IemMachine(bus, new CpuModel());
        using var cpu = new IemCpu(machine, 0);
        cpuRef = cpu;
        var events = new Queue<string>();
        cpu.OnEvent = (v, e, rip, t) => { events.Enqueue($"{t} {v:X2} err {e:X} rip {rip:X}"); if (events.Count > 8) events.Dequeue(); };
        var ctx = CpuContext.PowerOn();
        for (int i = 0; i < 6; i++) ctx.Seg[i] = SegmentRegister.RealMode(0, i == SegIdx.CS);
        ctx.Rip = image.LoadAddress;
        ctx.Gpr[2] = 0;
        ctx.Idtr = new DescriptorTableRegister { Base = 0, Limit = 0x3FF };
        ctx.Cr0 = Cr0.ET;
        cpu.SetState(in ctx);
        cpu.SetA20(true);
        long left = image.InstructionLimit;
        while (true)
        {
            var exit = cpu.Run(Math.Min(left, 1_000_000));
            left -= exit.Instructions;
            run.Instructions += exit.Instructions;
            if (exit.Reason == VcpuExitReason.Stopped) break;
            if (exit.Reason == VcpuExitReason.Shutdown) { run.Failure = "triple fault (shutdown)"; break; }
            if (exit.Reason == VcpuExitReason.Halted)
            {
                if (!cpu.WaitForWakeup(0)) { run.Failure = "halted with nothing to wake it"; break; }
                continue;
            }
            if (left <= 0) { run.Failure = $"instruction limit ({image.InstructionLimit}) reached"; break; }
        }
        run.Output = output.ToString();
        run.Events = string.Join("; ", events);
        if (run.Failure != null)
        {
            var c = new CpuContext();
            cpu.GetState(ref c);
            run.Failure += $" at {c.Seg[SegIdx.CS].Selector:X4}:{c.Rip:X} (mode {cpu.Mode}, CPL {cpu.Cpl}); last events: {string.Join("; ", events)}";
        }
        return run;
    }
}

/// <summary>Assembles the guest sources in tests/Vmm.Tests/Iem/Guests with nasm (at test time).</summary>
public static class GuestAssembler
{
    public static string GuestDir
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir != null && !File.Exists(Path.Combine(dir.FullName, "SharpBox.slnx"))) dir = dir.Parent;
            if (dir == null) throw new InvalidOperationException($"repository root (SharpBox.slnx) not found above {AppContext.BaseDirectory}");
            return Path.Combine(dir.FullName, "tests", "Vmm.Tests", "Iem", "Guests");
        }
    }

    public static IEnumerable<string> Sources() =>
        Directory.GetFiles(GuestDir, "*.asm").Select(Path.GetFileNameWithoutExtension).Order(StringComparer.Ordinal)!;

    public static byte[] Assemble(string name)
    {
        string src = Path.Combine(GuestDir, name + ".asm");
        string outFile = Path.Combine(Path.GetTempPath(), $"sbx-guest-{name}-{Environment.ProcessId}.bin");
        var psi = new ProcessStartInfo("nasm", new[] { "-f", "bin", "-I", GuestDir + "/", "-o", outFile, src })
        { RedirectStandardError = true, RedirectStandardOutput = true };
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e) { throw new InvalidOperationException("nasm not found (scripts/deps.sh installs it): " + e.Message); }
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"nasm failed on {src}:\n{err}");
        byte[] bin = File.ReadAllBytes(outFile);
        File.Delete(outFile);
        return bin;
    }

    /// <summary>The expected output: the text of every "; EXPECT: " line, each followed by a newline.</summary>
    public static string Expected(string name)
    {
        var sb = new StringBuilder();
        foreach (var line in File.ReadLines(Path.Combine(GuestDir, name + ".asm")))
        {
            const string tag = "; EXPECT: ";
            if (line.StartsWith(tag, StringComparison.Ordinal)) sb.Append(line[tag.Length..]).Append('\n');
        }
        return sb.ToString();
    }
}
