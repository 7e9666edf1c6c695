using System.Diagnostics;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Em;
using SharpBox.Vmm.Hm;
using Xunit.Abstractions;

namespace SharpBox.Vmm.Tests.Hm;

/// <summary>
/// The HM payloads (tests/Vmm.Tests/Hm/Payloads) on both engines: real-mode and 32-bit port I/O,
/// MMIO, 64-bit ring-3 loops, interrupt and NMI injection, HLT wake-up, KVM's in-kernel irqchip and
/// PIT, debugging, and state moved between the engines mid-run. IEM always runs; KVM where usable.
/// </summary>
public class HmPayloadTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    private (string Output, List<string> Mmio) RunOn(EngineKind kind, string payload, Action<PayloadMachine>? setup = null, HmOptions? options = null)
    {
        using var bus = new PayloadBus();
        bus.Load(Payloads.Assemble(payload));
        using var m = new PayloadMachine(kind, bus, options);
        setup?.Invoke(m);
        if (payload.EndsWith("_64", StringComparison.Ordinal)) m.StartLongModeUser();
        else m.Start();
        var sw = Stopwatch.StartNew();
        string? failure = m.Run(Limit);
        output.WriteLine($"{payload} on {kind}: {sw.ElapsedMilliseconds} ms");
        Assert.True(failure == null, $"{payload} on {kind}: {failure}");
        Assert.True(bus.ExitCode == 0, $"{payload} on {kind}: exit code {bus.ExitCode}, output:\n{bus.Output}");
        return (bus.Output, bus.MmioLog);
    }

    private void BothEngines(string payload, Action<PayloadMachine>? setup = null)
    {
        string expected = Payloads.Expected(payload);
        var iem = RunOn(EngineKind.Iem, payload, setup);
        Assert.Equal(expected, iem.Output);
        if (!KvmTestEnv.Usable(output, $"{payload} on KVM")) return;
        var kvm = RunOn(EngineKind.Kvm, payload, setup);
        Assert.Equal(expected, kvm.Output);
        Assert.Equal(iem.Mmio, kvm.Mmio);   // the device saw the same accesses, in the same order and sizes
    }

    [Fact] public void RealModePortIo() => BothEngines("io16");

    [Fact] public void PlatformMsrsAndGp() => BothEngines("msr16");

    /// <summary>The KVM engine's exit counters (debugvm statistics) count what the guest did.</summary>
    [Fact]
    public void ExitCountersForStatistics()
    {
        if (!KvmTestEnv.Usable(output, "KVM exit counters")) return;
        using var bus = new PayloadBus();
        bus.Load(Payloads.Assemble("mmio32"));
        using var m = new PayloadMachine(EngineKind.Kvm, bus);
        m.Start();
        Assert.Null(m.Run(Limit));
        var stats = new List<(string Name, long Value, string Unit, string Description)>();
        ((SharpBox.Vmm.Dbgf.IVcpuStatistics)m.Cpu).CollectStatistics(stats);
        var c = stats.ToDictionary(x => x.Name, x => x.Value);
        Assert.Equal(bus.Output.Length + bus.Checkpoints + 1, c["/HM/CPU0/ExitIo"]);   // one OUT per output byte and checkpoint, plus the exit port
        Assert.True(c["/HM/CPU0/ExitMmio"] >= bus.MmioLog.Count, $"{c["/HM/CPU0/ExitMmio"]} MMIO exits for {bus.MmioLog.Count} device accesses");
        Assert.True(c["/HM/CPU0/Exits"] >= c["/HM/CPU0/ExitIo"] + c["/HM/CPU0/ExitMmio"]);
    }

    [Fact]
    public void Mmio32()
    {
        BothEngines("mmio32");
    }

    [Fact]
    public void Ring3Loop64WithMmio() => BothEngines("ring3_64");

    [Fact]
    public void InterruptsNmiAndHaltWakeup()
    {
        BothEngines("irq16", m => m.Bus.OnCheckpoint = n =>
        {
            var bus = m.Bus;
            new Thread(() =>
            {
                Thread.Sleep(20);
                if (n == 3) bus.InjectNmi();
                else bus.RaiseInterrupt(0x40);
            }) { IsBackground = true }.Start();
        });
    }

    [Fact]
    public void InKernelIrqchipPitAndIrqfd()
    {
        if (!KvmTestEnv.Usable(output, "in-kernel irqchip")) return;
        if (!KvmTestEnv.Info.Irqchip || !KvmTestEnv.Info.Pit)
        {
            output.WriteLine($"SKIPPED in-kernel irqchip: the host has irqchip={KvmTestEnv.Info.Irqchip}, PIT={KvmTestEnv.Info.Pit}");
            return;
        }
        KvmIrqfdLine? irq4 = null;
        var opts = new HmOptions { InKernelIrqchip = true, InKernelPit = true };
        var r = RunOn(EngineKind.Kvm, "pic16", m =>
        {
            var irq3 = new KvmIrqLine(m.Hm!.Vm, 3);          // a device's IIrqLine on the in-kernel PIC
            irq4 = new KvmIrqfdLine(m.Hm.Vm, 4);               // and one through an irqfd
            m.Bus.OnCheckpoint = n => new Thread(() =>
            {
                Thread.Sleep(20);
                if (n == 1) { irq3.SetLevel(true); irq3.SetLevel(false); }
                else irq4.Pulse();
            }) { IsBackground = true }.Start();
        }, opts);
        irq4?.Dispose();
        Assert.Equal(Payloads.Expected("pic16"), r.Output);
    }

    /// <summary>Guest writes to a port bound to an ioeventfd signal the eventfd and never reach the bus.</summary>
    [Fact]
    public unsafe void IoeventfdTakesWritesWithoutExits()
    {
        if (!KvmTestEnv.Usable(output, "ioeventfd")) return;
        using var bus = new PayloadBus();
        bus.Load(Payloads.Assemble("evt16"));
        using var m = new PayloadMachine(EngineKind.Kvm, bus);
        int efd = m.Hm!.Vm.AddIoeventfd(0xF6, 1, pio: true);
        int matched = m.Hm.Vm.AddIoeventfd(0xF7, 1, pio: true, datamatch: 0x42);
        m.Start();
        Assert.Null(m.Run(Limit));
        Assert.Equal(Payloads.Expected("evt16"), bus.Output);
        ulong count = 0;
        Assert.Equal(8, (long)SharpBox.Runtime.Linux.KvmNative.Read(efd, &count, 8));
        Assert.Equal(3UL, count);                              // three writes to 0xF6, summed by the eventfd
        Assert.Equal(8, (long)SharpBox.Runtime.Linux.KvmNative.Read(matched, &count, 8));
        Assert.Equal(1UL, count);                              // one of the two writes to 0xF7 had the value 0x42
        m.Hm.Vm.RemoveIoeventfd(efd);
        m.Hm.Vm.RemoveIoeventfd(matched);
    }

    /// <summary>
    /// An interrupt queued with KVM_INTERRUPT when a stop arrives before the entry that delivers it is
    /// still delivered before Run returns (the vector was already taken from the controller).
    /// </summary>
    [Fact]
    public unsafe void QueuedInterruptIsDeliveredBeforeAStop()
    {
        if (!KvmTestEnv.Usable(output, "queued interrupt on stop")) return;
        using var bus = new PayloadBus();
        bus.Load(Payloads.Assemble("irq16"));
        using var m = new PayloadMachine(EngineKind.Kvm, bus);
        m.Start();
        bus.OnCheckpoint = n => m.Cpu.RequestStop();          // checkpoint 1: spinning with IF=1, waiting for vector 0x40
        Assert.Equal(VcpuExitReason.Stopped, m.Cpu.Run(long.MaxValue).Reason);
        var hm = (HmCpu)m.Cpu;
        hm.Kvm.Interrupt(0x40);                               // queued in KVM, as after an acknowledge
        m.Cpu.RequestStop();                                  // and a stop before the next entry
        Assert.Equal(VcpuExitReason.Stopped, m.Cpu.Run(long.MaxValue).Reason);
        hm.Kvm.GetVcpuEvents(out var ev);
        Assert.Equal(0, ev.InterruptInjected);
        var c = new CpuContext();
        m.Cpu.GetState(ref c);
        Assert.Equal(*(ushort*)(bus.Ram + 0x40 * 4), (ushort)c.Rip);     // at the handler's first instruction
        ushort* frame = (ushort*)(bus.Ram + c.Gpr[4]);
        Assert.Equal(0x7000UL - 6, c.Gpr[4]);                            // one real-mode frame: IP, CS, FLAGS
        Assert.Equal(0x8026, frame[0]);                                  // returns after the checkpoint's OUT
        Assert.Equal(RFlags.IF, frame[2] & (RFlags.IF | RFlags.TF));     // the guest's flags, no trap flag
        Assert.Equal(0UL, c.Rflags & RFlags.IF);
        // The handler counts it, so the spin loop ends; checkpoint 2 (where the payload would wait in
        // HLT for a second interrupt this test does not raise) stops the run.
        bus.OnCheckpoint = n => { if (n == 2) m.Cpu.RequestStop(); };
        Assert.Null(m.Run(Limit));
        Assert.Equal(2, bus.Checkpoints);
        Assert.Equal("spin: irq taken\n", bus.Output);
    }

    /// <summary>The in-kernel local APIC's register page goes out and back in (KVM_GET/SET_LAPIC).</summary>
    [Fact]
    public void InKernelLapicStateRoundTrips()
    {
        if (!KvmTestEnv.Usable(output, "in-kernel LAPIC state") || !KvmTestEnv.Info.Irqchip) return;
        using var bus = new PayloadBus();
        using var m = new PayloadMachine(EngineKind.Kvm, bus, new HmOptions { InKernelIrqchip = true });
        var v = ((HmCpu)m.Cpu).Kvm;
        v.GetLapic(out var l);
        l.Regs[0x80] = 0x50;                                  // TPR
        l.Regs[0x380] = 0x78; l.Regs[0x381] = 0x56;           // timer initial count
        v.SetLapic(in l);
        v.GetLapic(out var back);
        Assert.Equal(0x50, back.Regs[0x80]);
        Assert.Equal(0x5678, back.Regs[0x380] | back.Regs[0x381] << 8);
    }

    /// <summary>Runs ring3_64, stops at checkpoint 2 (mid-loop, in ring 3), moves the state to the other engine and finishes there.</summary>
    [Theory]
    [InlineData(EngineKind.Kvm, EngineKind.Iem)]
    [InlineData(EngineKind.Iem, EngineKind.Kvm)]
    public void StateMovesBetweenEnginesMidRun(EngineKind first, EngineKind second)
    {
        if (!KvmTestEnv.Usable(output, $"state transfer {first}->{second}")) return;
        using var bus = new PayloadBus();
        bus.Load(Payloads.Assemble("ring3_64"));
        var ctx = new CpuContext();
        using (var a = new PayloadMachine(first, bus))
        {
            a.StartLongModeUser();
            bus.OnCheckpoint = n => { if (n == 2) a.Cpu.RequestStop(); };
            Assert.Null(a.Run(Limit));
            Assert.Null(bus.ExitCode);
            Assert.Equal(2, bus.Checkpoints);
            a.Cpu.GetState(ref ctx);
        }
        Assert.Equal(3, ctx.Seg[SegIdx.CS].Selector & 3);    // stopped in ring 3
        bus.OnCheckpoint = null;
        using (var b = new PayloadMachine(second, bus))
        {
            b.Cpu.SetState(in ctx);
            var back = new CpuContext();
            b.Cpu.GetState(ref back);
            Assert.Equal(ctx.Rip, back.Rip);
            Assert.Equal(ctx.Gpr[0], back.Gpr[0]);
            Assert.Null(b.Run(Limit));
        }
        Assert.Equal(0, bus.ExitCode);
        Assert.Equal(4, bus.Checkpoints);
        Assert.Equal(Payloads.Expected("ring3_64"), bus.Output);
    }

    [Theory]
    [InlineData(EngineKind.Iem)]
    [InlineData(EngineKind.Kvm)]
    public void BreakpointThenSingleSteps(EngineKind kind)
    {
        if (kind == EngineKind.Kvm && !KvmTestEnv.Usable(output, "KVM breakpoints")) return;
        using var bus = new PayloadBus();
        bus.Load(Payloads.Assemble("dbg16"));
        using var m = new PayloadMachine(kind, bus);
        m.Start();
        m.Cpu.SetDebugBreakpoints(new ulong[] { 0x8100 });
        var exit = m.Cpu.Run(long.MaxValue);
        Assert.Equal(VcpuExitReason.Breakpoint, exit.Reason);
        var c = new CpuContext();
        m.Cpu.GetState(ref c);
        Assert.Equal(0x8100UL, c.Rip);
        Assert.Equal(0UL, c.Gpr[0] & 0xFFFF);
        m.Cpu.SetDebugBreakpoints(ReadOnlySpan<ulong>.Empty);
        ulong[] rips = { 0x8101, 0x8104, 0x8107, 0x8100 };
        foreach (ulong rip in rips)
        {
            m.Cpu.DebugSingleStep = true;   // one instruction per request
            exit = m.Cpu.Run(long.MaxValue);
            Assert.Equal(VcpuExitReason.SingleStep, exit.Reason);
            m.Cpu.GetState(ref c);
            Assert.Equal(rip, c.Rip);
        }
        Assert.Equal(1UL, c.Gpr[0] & 0xFFFF);   // inc ax ran once
        Assert.Equal(2UL, c.Gpr[3] & 0xFFFF);   // add bx, 2 ran once
        Assert.False(m.Cpu.DebugSingleStep);
        Assert.Null(m.Run(Limit));
        Assert.Equal(Payloads.Expected("dbg16"), bus.Output);
    }
}
