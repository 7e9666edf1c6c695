using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Em;
using SharpBox.Vmm.Hm;

namespace SharpBox.Bench.Kvm;

/// <summary>
/// Port-I/O exit round trip (KVM_RUN → user space → KVM_RUN) through the KVM engine's own loop
/// (HmCpu.Run dispatching to an ICpuBus), beside a minimal C program doing the same (peer.c), with
/// the same guest ("out 0x10, al; jmp back" in real mode, or in 64-bit ring 3 with --ring3). Rounds
/// alternate between the two so the shared machine's noise hits both; the medians and the ratio
/// ours/C are printed. Goal: at most 1.1.
/// Usage: kvmbench [--exits N] [--rounds R] [--ring3]
/// </summary>
public static unsafe class Program
{
    public static int Main(string[] args)
    {
        long exits = 100_000;
        int rounds = 7;
        bool ring3 = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--exits" when i + 1 < args.Length && long.TryParse(args[i + 1], out var e) && e > 0: exits = e; i++; break;
                case "--rounds" when i + 1 < args.Length && int.TryParse(args[i + 1], out var r) && r > 0: rounds = r; i++; break;
                case "--ring3": ring3 = true; break;
                default:
                    Console.Error.WriteLine($"kvmbench: unknown or invalid argument '{args[i]}' (usage: kvmbench [--exits N] [--rounds R] [--ring3])");
                    return 2;
            }
        }
        var info = KvmProbe.Probe();
        if (!info.Usable)
        {
            Console.Error.WriteLine($"kvmbench: cannot run: {info.Reason}");
            return 1;
        }
        string peer = BuildPeer();
        Console.WriteLine($"kvmbench: {exits} port-write exits per round, {rounds} rounds, guest in {(ring3 ? "64-bit ring 3" : "real mode")}, host KVM {info.Backend}");

        using var bus = new BenchBus();
        using var machine = HmMachine.Create(bus, new CpuModel(), new[] { new GuestMemoryRange(0, BenchBus.RamSize, (nint)bus.Ram, false) });
        using var cpu = machine.CreateCpu(0);
        bus.Cpu = cpu;
        bus.Prepare();
        cpu.SetState(ring3 ? BenchBus.Ring3State() : BenchBus.RealModeState());

        // Warm-up: JIT the loop, fault in the pages, start the peer once.
        Ours(cpu, bus, Math.Min(exits, 20_000), out _);
        Peer(peer, Math.Min(exits, 20_000), ring3);

        var ours = new List<double>();
        var c = new List<double>();
        long allocated = 0;
        for (int r = 0; r < rounds; r++)
        {
            double p = Peer(peer, exits, ring3);
            double o = Ours(cpu, bus, exits, out long alloc);
            allocated += alloc;
            c.Add(p);
            ours.Add(o);
            Console.WriteLine($"round {r + 1}: C {p:F0} ns/exit, SharpBox {o:F0} ns/exit ({o / p:F3}x)");
        }
        double mc = Median(c), mo = Median(ours);
        Console.WriteLine($"median: C {mc:F0} ns/exit, SharpBox {mo:F0} ns/exit");
        Console.WriteLine($"ratio SharpBox/C: {mo / mc:F3} (goal <= 1.1)");
        Console.WriteLine($"allocated in SharpBox's loop: {allocated} bytes over {rounds * exits} exits");
        return 0;
    }

    private static double Ours(HmCpu cpu, BenchBus bus, long exits, out long allocated)
    {
        bus.Arm(exits);
        long a0 = GC.GetAllocatedBytesForCurrentThread();
        long t0 = Stopwatch.GetTimestamp();
        var exit = cpu.Run(long.MaxValue);
        long t1 = Stopwatch.GetTimestamp();
        allocated = GC.GetAllocatedBytesForCurrentThread() - a0;
        if (exit.Reason != VcpuExitReason.Stopped || bus.Count != exits)
            throw new InvalidOperationException($"the guest stopped with {exit.Reason} after {bus.Count} exits: {exit.Message}");
        return (t1 - t0) * 1e9 / Stopwatch.Frequency / exits;
    }

    private static double Peer(string exe, long exits, bool ring3)
    {
        string args = exits.ToString(CultureInfo.InvariantCulture) + (ring3 ? " ring3" : "");
        var p = Process.Start(new ProcessStartInfo(exe, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        string o = p.StandardOutput.ReadToEnd(), e = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0 || !o.StartsWith("ns-per-exit ", StringComparison.Ordinal))
            throw new InvalidOperationException($"the C peer failed ({p.ExitCode}): {e}{o}");
        return double.Parse(o["ns-per-exit ".Length..].Trim(), CultureInfo.InvariantCulture);
    }

    private static string BuildPeer()
    {
        string src = Path.Combine(AppContext.BaseDirectory, "peer.c");
        string exe = Path.Combine(Path.GetTempPath(), $"sbx-kvmbench-peer-{Environment.ProcessId}");
        var p = Process.Start(new ProcessStartInfo("gcc", $"-O2 -o {exe} {src}") { RedirectStandardError = true })!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"gcc failed on {src}: {err}");
        AppDomain.CurrentDomain.ProcessExit += (_, _) => File.Delete(exe);
        return exe;
    }

    private static double Median(List<double> v)
    {
        var s = v.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}

/// <summary>2 MiB of RAM with the guest and its page tables; port 0x10 counts writes and stops the vCPU at the target.</summary>
internal sealed unsafe class BenchBus : ICpuBus, IDisposable
{
    public const ulong RamSize = 0x200000;
    public byte* Ram { get; } = (byte*)NativeMemory.AlignedAlloc((nuint)RamSize, 4096);
    public IVirtualCpu? Cpu;
    public long Count;
    private long _target;

    public void Prepare()
    {
        NativeMemory.Clear(Ram, (nuint)RamSize);
        ulong* pml4 = (ulong*)(Ram + 0x100000), pdpt = (ulong*)(Ram + 0x101000), pd = (ulong*)(Ram + 0x102000);
        pml4[0] = 0x101000 | 7; pdpt[0] = 0x102000 | 7; pd[0] = 0x87;
        ReadOnlySpan<byte> code = [0xE6, 0x10, 0xEB, 0xFC];   // out 0x10, al; jmp $-2
        code.CopyTo(new Span<byte>(Ram + 0x8000, code.Length));
    }

    public static CpuContext Ring3State()
    {
        var c = CpuContext.PowerOn();
        c.Cr0 = 0x80050033; c.Cr3 = 0x100000; c.Cr4 = 0x620; c.Efer = 0xD01;
        uint code3 = SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.CodeReadable | SegAttr.Accessed | (3u << 5) | SegAttr.L | SegAttr.G;
        uint data3 = SegAttr.P | SegAttr.S | SegAttr.DataWritable | SegAttr.Accessed | (3u << 5) | SegAttr.DB | SegAttr.G;
        c.Seg[SegIdx.CS] = new SegmentRegister(0x33, 0, 0xFFFFFFFF, code3);
        for (int i = 0; i < 6; i++) if (i != SegIdx.CS) c.Seg[i] = new SegmentRegister(0x2B, 0, 0xFFFFFFFF, data3);
        c.Rip = 0x8000; c.Gpr[4] = 0x60000; c.Rflags = 0x3002;
        return c;
    }

    public static CpuContext RealModeState()
    {
        var c = CpuContext.PowerOn();
        for (int i = 0; i < 6; i++) c.Seg[i] = SegmentRegister.RealMode(0, i == SegIdx.CS);
        c.Rip = 0x8000; c.Gpr[4] = 0x7000; c.Gpr[2] = 0;
        return c;
    }

    public void Arm(long target) { Count = 0; _target = target; }

    public PhysPageKind LookupPage(ulong gpa, out byte* host)
    {
        host = gpa < RamSize ? Ram + (gpa & ~0xFFFUL) : null;
        return gpa < RamSize ? PhysPageKind.Ram : PhysPageKind.Unassigned;
    }

    public void IoWrite(ushort port, int size, uint value)
    {
        if (port == 0x10 && ++Count == _target) Cpu!.RequestStop();
    }

    public uint IoRead(ushort port, int size) => 0xFFFFFFFF;
    public ulong MmioRead(ulong gpa, int size) => ulong.MaxValue;
    public void MmioWrite(ulong gpa, int size, ulong value) { }
    public int AcknowledgeInterrupt(int cpuIndex) => -1;
    public ulong ReadTsc() => (ulong)Stopwatch.GetTimestamp();
    public bool TryReadMsr(int cpuIndex, uint msr, out ulong value) { value = 0; return false; }
    public bool TryWriteMsr(int cpuIndex, uint msr, ulong value) => msr == Msr.ApicBase;
    public ulong ReadCr8(int cpuIndex) => 0;
    public void WriteCr8(int cpuIndex, ulong value) { }
    public void Dispose() => NativeMemory.AlignedFree(Ram);
}
