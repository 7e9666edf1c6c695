using System.Text;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Em;
using SharpBox.Vmm.Hm;
using SharpBox.Vmm.Tests.Iem;

namespace SharpBox.Vmm.Tests.Hm;

/// <summary>Runs the IEM guest programs (tests/Vmm.Tests/Iem/Guests) on the KVM engine, with the same machine: RAM from 0 and the three test ports.</summary>
public sealed unsafe class KvmGuestEngine : IGuestEngine
{
    public string Name => "KVM";
    /// <summary>Wall-clock limit per guest (KVM counts no instructions).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);
    public HmOptions Options { get; init; } = new();

    public GuestRun Run(GuestImage image)
    {
        var run = new GuestRun();
        using var bus = new FlatRamBus(image.RamSize);
        image.Code.CopyTo(bus.RamSpan(image.LoadAddress, image.Code.Length));
        var output = new StringBuilder();
        HmCpu? cpuRef = null;
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
        using var machine = HmMachine.Create(bus, new CpuModel(), new[] { new GuestMemoryRange(0, bus.RamSize, (nint)bus.Ram, false) }, Options);
        using var cpu = machine.CreateCpu(0);
        cpuRef = cpu;
        var ctx = CpuContext.PowerOn();
        for (int i = 0; i < 6; i++) ctx.Seg[i] = SegmentRegister.RealMode(0, i == SegIdx.CS);
        ctx.Rip = image.LoadAddress;
        ctx.Gpr[2] = 0;
        ctx.Idtr = new DescriptorTableRegister { Base = 0, Limit = 0x3FF };
        ctx.Cr0 = Cr0.ET;
        cpu.SetState(in ctx);
        var deadline = DateTime.UtcNow + Timeout;
        using var watchdog = new Timer(_ => cpu.RequestStop(), null, Timeout, System.Threading.Timeout.InfiniteTimeSpan);
        while (true)
        {
            var exit = cpu.Run(long.MaxValue);
            if (exit.Reason == VcpuExitReason.Stopped)
            {
                if (run.ExitCode == null) run.Failure = $"no exit within {Timeout.TotalSeconds} s";
                break;
            }
            if (exit.Reason == VcpuExitReason.Shutdown) { run.Failure = "triple fault (shutdown)"; break; }
            if (exit.Reason == VcpuExitReason.Halted)
            {
                if (!cpu.WaitForWakeup(0)) { run.Failure = "halted with nothing to wake it"; break; }
                continue;
            }
            if (exit.Reason == VcpuExitReason.InternalError) { run.Failure = exit.Message; break; }
            run.Failure = $"unexpected exit {exit.Reason}";
            break;
        }
        run.Output = output.ToString();
        if (run.Failure != null)
        {
            var c = new CpuContext();
            cpu.GetState(ref c);
            run.Failure += $" at {c.Seg[SegIdx.CS].Selector:X4}:{c.Rip:X} CR0={c.Cr0:X} EFER={c.Efer:X} ({cpu.Exits} exits)";
        }
        return run;
    }
}
