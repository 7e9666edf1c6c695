using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Em;
using SharpBox.Vmm.Hm;
using SharpBox.Vmm.Iem;
using SharpBox.Vmm.Tests.Iem;

namespace SharpBox.Vmm.Tests.Hm;

/// <summary>
/// The machine the HM payloads run on, identical for both engines: 32 MiB RAM at 0, a 4 KiB ROM at
/// <see cref="RomBase"/>, a register-file MMIO device at <see cref="MmioBase"/> (everything else is
/// unassigned), and ports: 0xE9 output, 0xF4 exit, 0xF1 assert INTR with a vector, 0xF2 NMI,
/// 0xF3 checkpoint, 0xF0 echo (reads return the last write inverted), 0xF8 counter (each read returns
/// the next value).
/// </summary>
public sealed unsafe class PayloadBus : ICpuBus, IDisposable
{
    public const ulong RamSize = 32UL << 20, RomBase = 0xFFF00000, MmioBase = 0xE0000000, MmioSize = 0x1000;
    public const ushort PortEcho = 0xF0, PortNmi = 0xF2, PortCheckpoint = 0xF3, PortCounter = 0xF8;

    public byte* Ram { get; }
    public byte* Rom { get; }
    private readonly ulong* _regs = (ulong*)NativeMemory.AllocZeroed((nuint)MmioSize);
    private uint _echo, _counter;
    private ulong _cr8;
    private int _pendingVector = -1;
    private readonly StringBuilder _out = new();
    private long _tsc;

    public IVirtualCpu? Cpu { get; set; }
    public int? ExitCode { get; private set; }
    public int Checkpoints { get; private set; }
    /// <summary>Called on the exit port instead of stopping the vCPU (a debug target reports the exit itself).</summary>
    public Action<int>? OnExit { get; set; }
    /// <summary>Called on a checkpoint write (port 0xF3) with its ordinal.</summary>
    public Action<int>? OnCheckpoint { get; set; }
    /// <summary>Every MMIO access as "R4 010=..." / "W8 018=...".</summary>
    public List<string> MmioLog { get; } = new();
    public string Output { get { lock (_out) return _out.ToString(); } }

    public PayloadBus()
    {
        Ram = (byte*)NativeMemory.AlignedAlloc((nuint)RamSize, 4096);
        NativeMemory.Clear(Ram, (nuint)RamSize);
        Rom = (byte*)NativeMemory.AlignedAlloc(4096, 4096);
        for (int i = 0; i < 4096; i++) Rom[i] = (byte)(0xA5 ^ i);
        "ROM!"u8.CopyTo(new Span<byte>(Rom + 4, 4));
    }

    public GuestMemoryRange[] MemoryRanges => new[]
    {
        new GuestMemoryRange(0, RamSize, (nint)Ram, false),
        new GuestMemoryRange(RomBase, 4096, (nint)Rom, true),
    };

    public void Load(byte[] code, ulong at = 0x8000) => code.CopyTo(new Span<byte>(Ram + at, code.Length));

    public PhysPageKind LookupPage(ulong gpa, out byte* host)
    {
        host = null;
        if (gpa < RamSize) { host = Ram + (gpa & ~0xFFFUL); return PhysPageKind.Ram; }
        if (gpa >= RomBase && gpa < RomBase + 4096) { host = Rom; return PhysPageKind.Rom; }
        if (gpa >= MmioBase && gpa < MmioBase + MmioSize) return PhysPageKind.Mmio;
        return PhysPageKind.Unassigned;
    }

    public ulong MmioRead(ulong gpa, int size)
    {
        ulong off = gpa - MmioBase;
        ulong v = 0;
        Buffer.MemoryCopy((byte*)_regs + off, &v, 8, size);
        lock (MmioLog) MmioLog.Add($"R{size} {off:X3}={v:X}");
        return v;
    }

    public void MmioWrite(ulong gpa, int size, ulong value)
    {
        ulong off = gpa - MmioBase;
        Buffer.MemoryCopy(&value, (byte*)_regs + off, size, size);
        lock (MmioLog) MmioLog.Add($"W{size} {off:X3}={value:X}");
    }

    public uint IoRead(ushort port, int size)
    {
        uint mask = size == 4 ? uint.MaxValue : (1u << (size * 8)) - 1;
        return port switch
        {
            PortEcho => ~_echo & mask,
            PortCounter => ++_counter & mask,
            _ => mask,
        };
    }

    public void IoWrite(ushort port, int size, uint value)
    {
        switch (port)
        {
            case GuestPorts.Output: lock (_out) _out.Append((char)(byte)value); break;
            case GuestPorts.Exit:
                ExitCode = (int)(value & 0xFF);
                if (OnExit is { } onExit) onExit(ExitCode.Value); else Cpu!.RequestStop();
                break;
            case GuestPorts.RaiseIrq: _pendingVector = (int)(value & 0xFF); Cpu!.SetInterruptLine(true); break;
            case PortNmi: InjectNmi(); break;
            case PortCheckpoint: Checkpoints++; OnCheckpoint?.Invoke(Checkpoints); break;
            case PortEcho: _echo = value; break;
        }
    }

    public void InjectNmi() => Cpu!.InjectNmi();

    /// <summary>Asserts the interrupt line from outside the guest (another thread).</summary>
    public void RaiseInterrupt(int vector)
    {
        _pendingVector = vector;
        Cpu!.SetInterruptLine(true);
    }

    public int AcknowledgeInterrupt(int cpuIndex)
    {
        int v = _pendingVector;
        _pendingVector = -1;
        Cpu!.SetInterruptLine(false);
        return v;
    }

    public ulong ReadTsc() => (ulong)Interlocked.Add(ref _tsc, 1000);
    public const uint TestMsr = 0x40000123;
    private ulong _testMsr;

    public bool TryReadMsr(int cpuIndex, uint msr, out ulong value)
    {
        value = msr == TestMsr ? _testMsr : 0;
        return msr == TestMsr;
    }

    public bool TryWriteMsr(int cpuIndex, uint msr, ulong value)
    {
        if (msr == TestMsr) { _testMsr = value; return true; }
        return msr == Msr.ApicBase;
    }
    public ulong ReadCr8(int cpuIndex) => _cr8;
    public void WriteCr8(int cpuIndex, ulong value) => _cr8 = value;

    public void Dispose()
    {
        NativeMemory.AlignedFree(Ram);
        NativeMemory.AlignedFree(Rom);
        NativeMemory.Free(_regs);
    }
}

public enum EngineKind { Iem, Kvm }

/// <summary>One engine's vCPU on a <see cref="PayloadBus"/>, started like the guest tests: real mode at 0000:8000.</summary>
public sealed class PayloadMachine : IDisposable
{
    public PayloadBus Bus { get; }
    public IVirtualCpu Cpu { get; }
    public EngineKind Kind { get; }
    private readonly HmMachine? _hm;

    public PayloadMachine(EngineKind kind, PayloadBus bus, HmOptions? options = null, CpuModel? model = null)
    {
        Kind = kind;
        Bus = bus;
        model ??= new CpuModel();
        if (kind == EngineKind.Kvm)
        {
            _hm = HmMachine.Create(bus, model, bus.MemoryRanges, options);
            Cpu = _hm.CreateCpu(0);
        }
        else Cpu = new IemCpu(new IemMachine(bus, model), 0);
        bus.Cpu = Cpu;
    }

    public HmMachine? Hm => _hm;

    public static CpuContext RealModeStart(ulong rip = 0x8000)
    {
        var ctx = CpuContext.PowerOn();
        for (int i = 0; i < 6; i++) ctx.Seg[i] = SegmentRegister.RealMode(0, i == SegIdx.CS);
        ctx.Rip = rip;
        ctx.Gpr[2] = 0;
        ctx.Idtr = new DescriptorTableRegister { Base = 0, Limit = 0x3FF };
        ctx.Cr0 = Cr0.ET;
        return ctx;
    }

    public void Start(ulong rip = 0x8000)
    {
        var ctx = RealModeStart(rip);
        Cpu.SetState(in ctx);
    }

    /// <summary>
    /// Enters 64-bit ring 3 at <paramref name="rip"/> directly, the way a boot loader hands over a
    /// prepared CPU: page tables at 0x100000 (first GiB identity-mapped with 2 MiB user pages, plus
    /// the MMIO device), a GDT at 0x1000, IOPL 3, stack 0x60000.
    /// </summary>
    public unsafe void StartLongModeUser(ulong rip = 0x8000)
    {
        byte* ram = Bus.Ram;
        ulong* pml4 = (ulong*)(ram + 0x100000), pdpt = (ulong*)(ram + 0x101000), pd0 = (ulong*)(ram + 0x102000), pd3 = (ulong*)(ram + 0x103000);
        new Span<byte>(ram + 0x100000, 0x4000).Clear();
        pml4[0] = 0x101000 | 7;
        pdpt[0] = 0x102000 | 7;
        pdpt[3] = 0x103000 | 7;
        for (ulong i = 0; i < 512; i++) pd0[i] = (i << 21) | 0x87;             // P | W | U | PS
        pd3[(PayloadBus.MmioBase >> 21) & 511] = PayloadBus.MmioBase | 0x87;
        ulong* gdt = (ulong*)(ram + 0x1000);
        gdt[0] = 0;
        gdt[1] = 0x00AF9A000000FFFF;   // 08 code64 DPL0
        gdt[2] = 0x00CF92000000FFFF;   // 10 data DPL0
        gdt[5] = 0x00CFF2000000FFFF;   // 28 data DPL3
        gdt[6] = 0x00AFFA000000FFFF;   // 30 code64 DPL3
        var c = CpuContext.PowerOn();
        c.Cr0 = Cr0.PE | Cr0.ET | Cr0.NE | Cr0.WP | Cr0.PG | Cr0.MP;
        c.Cr4 = Cr4.PAE | Cr4.OSFXSR | Cr4.OSXMMEXCPT;
        c.Efer = Efer.LME | Efer.LMA | Efer.SCE | Efer.NXE;
        c.Cr3 = 0x100000;
        c.Gdtr = new DescriptorTableRegister { Base = 0x1000, Limit = 8 * 8 - 1 };
        c.Idtr = new DescriptorTableRegister { Base = 0, Limit = 0 };
        uint code3 = SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.CodeReadable | SegAttr.Accessed | (3u << 5) | SegAttr.L | SegAttr.G;
        uint data3 = SegAttr.P | SegAttr.S | SegAttr.DataWritable | SegAttr.Accessed | (3u << 5) | SegAttr.DB | SegAttr.G;
        c.Seg[SegIdx.CS] = new SegmentRegister(0x33, 0, 0xFFFFFFFF, code3);
        c.Seg[SegIdx.SS] = new SegmentRegister(0x2B, 0, 0xFFFFFFFF, data3);
        c.Seg[SegIdx.DS] = new SegmentRegister(0x2B, 0, 0xFFFFFFFF, data3);
        c.Seg[SegIdx.ES] = new SegmentRegister(0x2B, 0, 0xFFFFFFFF, data3);
        c.Seg[SegIdx.FS] = new SegmentRegister(0, 0, 0, SegAttr.Unusable);
        c.Seg[SegIdx.GS] = new SegmentRegister(0, 0, 0, SegAttr.Unusable);
        c.Tr = new SegmentRegister(0, 0, 0xFFFF, SegAttr.P | 11);
        c.Rip = rip;
        c.Gpr[4] = 0x60000;
        c.Rflags = RFlags.Fixed1 | (3u << RFlags.IoplShift);
        Cpu.SetState(in c);
    }

    /// <summary>
    /// Runs until the guest exits, stops (a checkpoint handler may call RequestStop), faults or times
    /// out. Returns null when it stopped normally, else what went wrong.
    /// </summary>
    public string? Run(TimeSpan timeout, Func<VcpuExit, bool>? onOtherExit = null)
    {
        var sw = Stopwatch.StartNew();
        using var watchdog = new Timer(_ => { TimedOut = true; Cpu.RequestStop(); }, null, timeout, Timeout.InfiniteTimeSpan);
        while (true)
        {
            var exit = Cpu.Run(1_000_000);
            switch (exit.Reason)
            {
                case VcpuExitReason.BudgetExhausted: continue;
                case VcpuExitReason.Stopped:
                    return TimedOut ? $"timed out after {timeout.TotalSeconds} s{Where()}" : null;
                case VcpuExitReason.Halted:
                    if (Cpu.WaitForWakeup((int)Math.Max(1, (timeout - sw.Elapsed).TotalMilliseconds))) continue;
                    return $"halted with nothing to wake it{Where()}";
                case VcpuExitReason.Shutdown: return $"triple fault{Where()}";
                case VcpuExitReason.InternalError: return $"{exit.Message}{Where()}";
                default:
                    if (onOtherExit != null && onOtherExit(exit)) continue;
                    return $"unexpected exit {exit.Reason} at {exit.Address:X}{Where()}";
            }
        }
    }

    public volatile bool TimedOut;

    private string Where()
    {
        var c = new CpuContext();
        Cpu.GetState(ref c);
        return $" at {c.Seg[SegIdx.CS].Selector:X4}:{c.Rip:X} ({Kind}); output so far: {Bus.Output}";
    }

    public void Dispose()
    {
        (Cpu as IDisposable)?.Dispose();
        _hm?.Dispose();
    }
}

/// <summary>Assembles tests/Vmm.Tests/Hm/Payloads/*.asm (with the IEM guests' include files on the path).</summary>
public static class Payloads
{
    public static string Dir => Path.Combine(Path.GetDirectoryName(GuestAssembler.GuestDir)!, "..", "Hm", "Payloads");

    private static readonly Dictionary<string, byte[]> s_cache = new();

    public static byte[] Assemble(string name)
    {
        lock (s_cache)
        {
            if (s_cache.TryGetValue(name, out var b)) return b;
            string src = Path.GetFullPath(Path.Combine(Dir, name + ".asm"));
            string outFile = Path.Combine(Path.GetTempPath(), $"sbx-hm-{name}-{Environment.ProcessId}.bin");
            var psi = new ProcessStartInfo("nasm", new[] { "-f", "bin", "-I", GuestAssembler.GuestDir + "/", "-I", Path.GetDirectoryName(src) + "/", "-o", outFile, src })
            { RedirectStandardError = true, RedirectStandardOutput = true };
            Process p;
            try { p = Process.Start(psi)!; }
            catch (System.ComponentModel.Win32Exception e) { throw new InvalidOperationException("nasm not found (scripts/deps.sh installs it): " + e.Message); }
            string err = p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0) throw new InvalidOperationException($"nasm failed on {src}:\n{err}");
            b = File.ReadAllBytes(outFile);
            File.Delete(outFile);
            return s_cache[name] = b;
        }
    }

    public static string Expected(string name)
    {
        var sb = new StringBuilder();
        foreach (var line in File.ReadLines(Path.Combine(Dir, name + ".asm")))
        {
            const string tag = "; EXPECT: ";
            if (line.StartsWith(tag, StringComparison.Ordinal)) sb.Append(line[tag.Length..]).Append('\n');
        }
        return sb.ToString();
    }
}
