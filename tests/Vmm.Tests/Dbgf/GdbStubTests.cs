using System.Diagnostics;
using SharpBox.Vmm.Dbgf;
using SharpBox.Vmm.Em;
using SharpBox.Vmm.Tests.Hm;
using Xunit.Abstractions;

namespace SharpBox.Vmm.Tests.Dbgf;

/// <summary>
/// Debian's gdb in batch mode against the stub: a real-mode payload with symbols (linked into an ELF),
/// on the software CPU and on KVM: break at a symbol, read registers (general, segment, control) and
/// memory by linear and physical address, step, watch a store, list the vCPUs, run to the end.
/// </summary>
public class GdbStubTests(ITestOutputHelper output)
{
    private static readonly object s_buildLock = new();
    private static (string Elf, byte[] Bin)? s_built;

    internal static (string Elf, byte[] Bin) BuildTarget()
    {
        lock (s_buildLock)
        {
            if (s_built is { } b) return b;
            string dir = Path.Combine(Path.GetTempPath(), $"sbx-gdbtarget-{Environment.ProcessId}");
            Directory.CreateDirectory(dir);
            string src = Path.GetFullPath(Path.Combine(Payloads.Dir, "..", "..", "Dbgf", "Payloads", "gdbtarget.asm"));
            Run("nasm", $"-f elf64 -o {dir}/t.o {src}");
            Run("ld", $"-m elf_x86_64 -Ttext=0x8000 -e start -o {dir}/t.elf {dir}/t.o");
            Run("objcopy", $"-O binary {dir}/t.elf {dir}/t.bin");
            s_built = (Path.Combine(dir, "t.elf"), File.ReadAllBytes(Path.Combine(dir, "t.bin")));
            return s_built.Value;
        }
    }

    internal static string Run(string exe, string args, int timeoutMs = 60_000)
    {
        var p = Process.Start(new ProcessStartInfo(exe, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutMs)) { p.Kill(true); throw new TimeoutException($"{exe} did not finish in {timeoutMs / 1000} s: {o.Result}{e.Result}"); }
        if (p.ExitCode != 0 && exe != "gdb") throw new InvalidOperationException($"{exe} {args} failed: {e.Result}");
        return o.Result + e.Result;
    }

    private sealed class Rig : IDisposable
    {
        public readonly PayloadBus Bus = new();
        public readonly PayloadMachine Machine;
        public readonly ThreadedDebugTarget Target;
        public readonly GdbStub Stub;

        public Rig(EngineKind kind, byte[] bin)
        {
            Bus.Load(bin);
            Machine = new PayloadMachine(kind, Bus);
            Machine.Start();
            Target = new ThreadedDebugTarget(new[] { Machine.Cpu }, Bus);
            Bus.OnExit = code => Target.GuestExited(0, code);
            Stub = new GdbStub(Target);
        }

        public void Dispose() { Stub.Dispose(); Target.Dispose(); Machine.Dispose(); Bus.Dispose(); }
    }

    private string Gdb(string elf, int port, params string[] commands)
    {
        var args = new List<string> { "-nx", "-batch", "-ex", "set pagination off", "-ex", "set confirm off", "-ex", $"file {elf}", "-ex", $"target remote 127.0.0.1:{port}" };
        foreach (var c in commands) { args.Add("-ex"); args.Add(c); }
        var psi = new ProcessStartInfo("gdb") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000)) { p.Kill(true); Assert.Fail($"gdb hung: {o.Result}{e.Result}"); }
        string text = o.Result + e.Result;
        output.WriteLine(text);
        return text;
    }

    [Theory]
    [InlineData(EngineKind.Iem)]
    [InlineData(EngineKind.Kvm)]
    public void GdbBreaksStepsReadsAndContinues(EngineKind kind)
    {
        if (kind == EngineKind.Kvm && !KvmTestEnv.Usable(output, "gdb on KVM")) return;
        var (elf, bin) = BuildTarget();
        using var rig = new Rig(kind, bin);
        string o = Gdb(elf, rig.Stub.Port,
            "break bp_target", "continue",
            "printf \"AT %lx\\n\", $pc",
            "printf \"AX %x CS %x CR0 %lx\\n\", $rax & 0xffff, $cs, $cr0",
            "stepi", "printf \"STEP %lx AX %x\\n\", $pc, $rax & 0xffff",
            "stepi", "printf \"STEP %lx BX %x\\n\", $pc, $rbx & 0xffff",
            "x/3xb bp_target",
            "monitor phys on", "x/4cb 0xfff00004", "monitor phys off",
            "set var $rcx = 1",
            "info threads",
            "delete", "continue");
        Assert.Contains("Breakpoint 1, 0x000000000000800e in bp_target", o);
        Assert.Contains("AT 800e", o);
        Assert.Contains("AX 0 CS 0 CR0 10", o);                // real mode: CR0.ET only
        Assert.Contains("STEP 800f AX 1", o);                   // inc ax ran
        Assert.Contains("STEP 8012 BX 2", o);                   // add bx, 2 ran
        Assert.Contains("<bp_target>:\t0x40\t0x83\t0xc3", o);  // linear read
        Assert.Contains("0xfff00004:\t82 'R'\t79 'O'\t77 'M'\t33 '!'", o);   // physical read of the ROM
        Assert.Contains("memory accesses now use guest-physical addresses", o);
        Assert.Contains("Thread 1", o);
        Assert.Contains("[Inferior 1 (Remote target) exited normally]", o);   // CX=1: the loop ends, the payload exits 0
        Assert.Equal("D", rig.Bus.Output);
    }

    [Theory]
    [InlineData(EngineKind.Iem)]
    [InlineData(EngineKind.Kvm)]
    public void GdbWatchpointCatchesTheStore(EngineKind kind)
    {
        if (kind == EngineKind.Kvm && !KvmTestEnv.Usable(output, "gdb watchpoints on KVM")) return;
        var (elf, bin) = BuildTarget();
        using var rig = new Rig(kind, bin);
        string o = Gdb(elf, rig.Stub.Port, "watch *(short*)counter", "continue", "printf \"PC %lx\\n\", $pc", "continue", "delete", "continue");
        // Where the host delivers no data breakpoints (kvm-pvm) the stub single-steps and compares instead.
        output.WriteLine($"watchpoints by {(kind == EngineKind.Kvm && KvmTestEnv.Info.DataBreakpoints ? "debug registers" : "single steps")}");
        Assert.Contains("atchpoint 1: *(short*)counter", o);
        Assert.Contains("Old value = 0", o);
        Assert.Contains("New value = 1", o);
        Assert.Contains("PC 8015", o);                          // stopped after the store, at after_store
        Assert.Contains("New value = 2", o);
        Assert.Contains("[Inferior 1 (Remote target) exited normally]", o);
    }

    /// <summary>
    /// hbreak (Z1), awatch (Z4) and rwatch (Z3): in the engine's debug registers where the host
    /// delivers data breakpoints, else by single steps that decode each instruction's data accesses.
    /// </summary>
    [Theory]
    [InlineData(EngineKind.Iem)]
    [InlineData(EngineKind.Kvm)]
    public void GdbHardwareBreakpointAndReadAndAccessWatchpoints(EngineKind kind)
    {
        if (kind == EngineKind.Kvm && !KvmTestEnv.Usable(output, "gdb hardware breakpoints on KVM")) return;
        var (elf, bin) = BuildTarget();
        using var rig = new Rig(kind, bin);
        string o = Gdb(elf, rig.Stub.Port,
            "hbreak after_store", "continue", "printf \"HB %lx\\n\", $pc", "delete",
            "awatch *(short*)counter", "continue", "printf \"AW %lx\\n\", $pc", "delete",
            "rwatch *(short*)counter", "continue", "printf \"RW %lx DX %x\\n\", $pc, $rdx & 0xffff", "delete",
            "continue");
        Assert.Contains("Hardware assisted breakpoint 1 at 0x8015", o);
        Assert.Contains("HB 8015", o);                          // the first store done
        Assert.Contains("atchpoint 2: *(short*)counter", o);   // access watchpoint: the second store
        Assert.Contains("New value = 2", o);
        Assert.Contains("AW 8015", o);
        Assert.Contains("read watchpoint 3: *(short*)counter", o);
        Assert.Contains("Value = 3", o);
        Assert.Contains($"RW {AfterRead(elf):x} DX 3", o);    // stopped after the load
        Assert.Contains("[Inferior 1 (Remote target) exited normally]", o);
    }

    /// <summary>Every vCPU is a gdb thread: listed, selectable, with its own registers.</summary>
    [Theory]
    [InlineData(EngineKind.Iem)]
    [InlineData(EngineKind.Kvm)]
    public void EveryVcpuIsAGdbThread(EngineKind kind)
    {
        if (kind == EngineKind.Kvm && !KvmTestEnv.Usable(output, "gdb threads on KVM")) return;
        var (elf, bin) = BuildTarget();
        using var bus = new PayloadBus();
        bus.Load(bin);
        using var m = new PayloadMachine(kind, bus);
        m.Start();
        IVirtualCpu ap = kind == EngineKind.Kvm ? m.Hm!.CreateCpu(1) : new SharpBox.Vmm.Iem.IemCpu(new SharpBox.Vmm.Iem.IemMachine(bus, m.Cpu.Model), 1);
        using var apOwner = (IDisposable)ap;
        var c = PayloadMachine.RealModeStart(0x9000);
        c.Gpr[3] = 0x4242;
        c.Halted = true;                                        // an AP that waits (IF=0: nothing wakes it)
        ap.SetState(in c);
        using var target = new ThreadedDebugTarget(new[] { m.Cpu, ap }, bus);
        bus.OnExit = code => target.GuestExited(0, code);
        using var stub = new GdbStub(target);
        string o = Gdb(elf, stub.Port, "info threads", "thread 2", "printf \"BX2 %x PC2 %lx\\n\", $rbx, $pc",
            "thread 1", "printf \"PC1 %lx\\n\", $pc", "continue");
        Assert.Contains("Thread 1 (vCPU 0)", o);
        Assert.Contains("Thread 2 (vCPU 1)", o);
        Assert.Contains("[Switching to thread 2", o);
        Assert.Contains("BX2 4242 PC2 9000", o);
        Assert.Contains("PC1 8000", o);
        Assert.Contains("[Inferior 1 (Remote target) exited normally]", o);
    }

    private static ulong AfterRead(string elf)
    {
        foreach (var line in Run("nm", elf).Split('\n'))
            if (line.EndsWith(" after_read", StringComparison.Ordinal)) return Convert.ToUInt64(line[..16], 16);
        throw new InvalidOperationException("no after_read symbol");
    }

    [Fact]
    public void TargetXmlDescribesSegmentAndControlRegisters()
    {
        string xml = GdbRegisters.TargetXml;
        foreach (var r in new[] { "rax", "rip", "eflags", "cs", "gs", "st0", "fctrl", "xmm15", "mxcsr", "fs_base", "gs_base", "cr0", "cr3", "cr4", "efer", "gdtr_base" })
            Assert.Contains($"name=\"{r}\"", xml);
        Assert.Contains("<architecture>i386:x86-64</architecture>", xml);
        Assert.Equal(GdbRegisters.FirstSys, GdbRegisters.IndexOf("k_gs_base"));
    }

    [Fact]
    public void PortInUseIsAClearError()
    {
        var (_, bin) = BuildTarget();
        using var rig = new Rig(EngineKind.Iem, bin);
        var e = Assert.Throws<IOException>(() => new GdbStub(rig.Target, rig.Stub.Port));
        Assert.Contains($"127.0.0.1:{rig.Stub.Port}", e.Message);
    }
}
