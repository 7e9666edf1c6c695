using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Em;
using SharpBox.Vmm.Iem;

namespace SharpBox.Vmm.Tests.Iem;

/// <summary>Unit tests of IEM pieces that the guest programs do not reach directly.</summary>
public unsafe class CpuUnitTests
{
    private static (FlatRamBus bus, IemMachine machine) NewMachine(int cpus = 1) =>
        NewMachineWith(new FlatRamBus(4 << 20), cpus);

    private static (FlatRamBus, IemMachine) NewMachineWith(FlatRamBus bus, int cpus) =>
        (bus, new IemMachine(bus, new CpuModel { CpuCount = cpus }) { ApsWaitForSipi = true });

    /// <summary>Real mode at 0:addr with RAM holding code; flat segments.</summary>
    private static void StartReal(IemCpu cpu, ulong addr)
    {
        var c = CpuContext.PowerOn();
        for (int i = 0; i < 6; i++) c.Seg[i] = SegmentRegister.RealMode(0, i == SegIdx.CS);
        c.Rip = addr;
        c.Idtr = new DescriptorTableRegister { Base = 0, Limit = 0x3FF };
        c.Cr0 = Cr0.ET;
        cpu.SetState(in c);
    }

    [Fact]
    public void LazyFlagsRoundTripEveryArithmeticCombination()
    {
        var (bus, m) = NewMachine();
        using var busLifetime = bus;
        using var cpu = new IemCpu(m, 0);
        // Every combination of CF PF AF ZF SF OF set explicitly must read back unchanged.
        for (uint bits = 0; bits < 64; bits++)
        {
            uint f = 0;
            if ((bits & 1) != 0) f |= RFlags.CF;
            if ((bits & 2) != 0) f |= RFlags.PF;
            if ((bits & 4) != 0) f |= RFlags.AF;
            if ((bits & 8) != 0) f |= RFlags.ZF;
            if ((bits & 16) != 0) f |= RFlags.SF;
            if ((bits & 32) != 0) f |= RFlags.OF;
            cpu.SetArithFlags(f);
            Assert.Equal(f, cpu.ArithFlags());
        }
    }

    [Theory]
    [InlineData(0x7FFFFFFFu, 1u, 0x80000000u, RFlags.OF | RFlags.SF | RFlags.AF | RFlags.PF)]
    [InlineData(0xFFFFFFFFu, 1u, 0u, RFlags.CF | RFlags.ZF | RFlags.AF | RFlags.PF)]
    [InlineData(1u, 2u, 3u, RFlags.PF)]
    public void AddFlags32(uint a, uint b, uint r, uint expected)
    {
        var (bus, m) = NewMachine();
        using var busLifetime = bus;
        using var cpu = new IemCpu(m, 0);
        cpu.FlagsAdd<S32>(a, b, r);
        Assert.Equal(expected, cpu.ArithFlags());
    }

    [Fact]
    public void SubFlagsMatchCmpSemanticsForAllByteOperands()
    {
        var (bus, m) = NewMachine();
        using var busLifetime = bus;
        using var cpu = new IemCpu(m, 0);
        for (int a = 0; a < 256; a += 7)
            for (int b = 0; b < 256; b += 5)
            {
                ulong r = (ulong)(a - b) & 0xFF;
                cpu.FlagsSub<S8>((ulong)a, (ulong)b, r);
                Assert.Equal(a < b, cpu.CF == 1);
                Assert.Equal(r == 0, cpu.ZF == 1);
                Assert.Equal((sbyte)a < (sbyte)b, cpu.Cond(0xC));            // JL
                Assert.Equal(a <= b, cpu.Cond(0x6));                          // JBE
                Assert.Equal((((a ^ b) & (a ^ (int)r)) & 0x80) != 0, cpu.OF == 1);
                Assert.Equal(((a ^ b ^ (int)r) & 0x10) != 0, cpu.AF == 1);
            }
    }

    [Fact]
    public void CpuidVendorBrandAndFeatures()
    {
        var model = new CpuModel();
        model.Cpuid(0, 0, 0, out uint a, out uint b, out uint c, out uint d);
        Assert.True(a >= 7);
        string vendor = System.Text.Encoding.ASCII.GetString(BitConverter.GetBytes(b)) +
                        System.Text.Encoding.ASCII.GetString(BitConverter.GetBytes(d)) +
                        System.Text.Encoding.ASCII.GetString(BitConverter.GetBytes(c));
        Assert.Equal("GenuineIntel", vendor);
        model.Cpuid(1, 0, 3, out a, out b, out c, out d);
        Assert.Equal(3u, b >> 24);                                            // APIC id
        Assert.True((d & (CpuModel.Sse2 | CpuModel.Fxsr | CpuModel.Pae | CpuModel.Cx8)) == (CpuModel.Sse2 | CpuModel.Fxsr | CpuModel.Pae | CpuModel.Cx8));
        model.Cpuid(0x80000001, 0, 0, out _, out _, out _, out d);
        Assert.True((d & CpuModel.Lm) != 0 && (d & CpuModel.Nx) != 0 && (d & CpuModel.Syscall) != 0);
        model.Cpuid(0x80000008, 0, 0, out a, out _, out _, out _);
        Assert.Equal(40u, a & 0xFF);
        Assert.Equal(48u, (a >> 8) & 0xFF);
        var leaves = model.AllLeaves(0);
        Assert.Contains(leaves, l => l.Leaf == 0x80000004);
        Assert.Contains(leaves, l => l.Leaf == 4 && l.SubLeaf == 2 && l.Indexed);
    }

    [Fact]
    public void MsrsRoundTripAndRejectBadValues()
    {
        var (bus, m) = NewMachine();
        using var busLifetime = bus;
        using var cpu = new IemCpu(m, 0);
        Assert.True(cpu.TryWriteMsr(Msr.Lstar, 0xFFFFFFFF81000000));
        Assert.True(cpu.TryReadMsr(Msr.Lstar, out ulong v));
        Assert.Equal(0xFFFFFFFF81000000, v);
        Assert.False(cpu.TryWriteMsr(Msr.Lstar, 0x0000800000000000));          // non-canonical
        Assert.False(cpu.TryWriteMsr(Msr.Pat, 0x0202020202020202));            // PAT type 2 is reserved
        Assert.True(cpu.TryWriteMsr(Msr.Pat, 0x0007040600070406));
        Assert.False(cpu.TryWriteMsr(Msr.Efer, 1UL << 20));                    // reserved EFER bit
        Assert.False(cpu.TryReadMsr(0x12345, out _));                          // unknown, and the bus declines
        // TSC: writing sets an offset against the platform clock.
        Assert.True(cpu.TryWriteMsr(Msr.Tsc, 1_000_000_000));
        Assert.True(cpu.TryReadMsr(Msr.Tsc, out ulong t));
        Assert.InRange(t, 1_000_000_000UL, 1_000_100_000UL);
    }

    [Fact]
    public void StateRoundTripsThroughCpuContext()
    {
        var (bus, m) = NewMachine();
        using var busLifetime = bus;
        using var cpu = new IemCpu(m, 0);
        var c = CpuContext.PowerOn();
        for (int i = 0; i < 16; i++) c.Gpr[i] = 0x1111111111111111UL * (ulong)(i + 1);
        c.Rflags = RFlags.Fixed1 | RFlags.CF | RFlags.ZF | RFlags.OF | RFlags.DF | RFlags.IF;
        c.Star = 0x0023001000000000; c.KernelGsBase = 0xFFFF888000000000;
        c.Fx[160] = 0xAB;
        cpu.SetState(in c);
        var back = new CpuContext();
        cpu.GetState(ref back);
        for (int i = 0; i < 16; i++) Assert.Equal(c.Gpr[i], back.Gpr[i]);
        Assert.Equal(c.Rflags, back.Rflags);
        Assert.Equal(c.Star, back.Star);
        Assert.Equal(c.KernelGsBase, back.KernelGsBase);
        Assert.Equal(0xAB, back.Fx[160]);
        Assert.Equal(0xAB, cpu.Fx[160]);
        Assert.Equal(c.Seg[SegIdx.CS].Base, back.Seg[SegIdx.CS].Base);
        // Inconsistent states are refused with a clear error.
        c.Cr0 = Cr0.PG;
        var e = Assert.Throws<ArgumentException>(() => cpu.SetState(in c));
        Assert.Contains("CR0.PG", e.Message);
    }

    [Fact]
    public void ApplicationProcessorWaitsForStartupIpi()
    {
        var (bus, m) = NewMachine(2);
        using var busLifetime = bus;
        using var bsp = new IemCpu(m, 0);
        using var ap = new IemCpu(m, 1);
        Assert.False(bsp.WaitingForSipi);
        Assert.True(ap.WaitingForSipi);
        // AP code at 0x9000: mov ax, 0x1234 ; hlt
        byte[] code = { 0xB8, 0x34, 0x12, 0xF4 };
        code.CopyTo(bus.RamSpan(0x9000, code.Length));
        ap.SetInterruptLine(true);                                  // interrupts do not wake a waiting AP
        Assert.Equal(VcpuExitReason.Halted, ap.Run(100).Reason);
        ap.SetInterruptLine(false);
        ap.Sipi(0x09);
        Assert.True(ap.WaitForWakeup(0));
        var exit = ap.Run(100);
        Assert.Equal(VcpuExitReason.Halted, exit.Reason);
        Assert.False(ap.WaitingForSipi);
        var c = new CpuContext();
        ap.GetState(ref c);
        Assert.Equal(0x1234UL, c.Gpr[0] & 0xFFFF);
        Assert.Equal((ushort)0x0900, c.Seg[SegIdx.CS].Selector);
        Assert.Equal(4UL, c.Rip);
        // INIT puts it back into wait-for-SIPI, keeping the MTRRs.
        Assert.True(ap.TryWriteMsr(Msr.MtrrDefType, 0xC06));
        ap.Init();
        Assert.True(ap.WaitingForSipi);
        Assert.True(ap.TryReadMsr(Msr.MtrrDefType, out ulong def));
        Assert.Equal(0xC06UL, def);
    }

    [Fact]
    public void TripleFaultIsReportedAsShutdown()
    {
        var (bus, m) = NewMachine();
        using var busLifetime = bus;
        using var cpu = new IemCpu(m, 0);
        // An empty IDT in real mode (limit 0): any exception becomes #DF, then a triple fault.
        byte[] code = { 0x31, 0xC9, 0xF7, 0xF1 };                     // xor cx, cx ; div cx
        code.CopyTo(bus.RamSpan(0x8000, code.Length));
        StartReal(cpu, 0x8000);
        var c = new CpuContext();
        cpu.GetState(ref c);
        c.Idtr.Limit = 0;
        cpu.SetState(in c);
        Assert.Equal(VcpuExitReason.Shutdown, cpu.Run(100).Reason);
    }

    [Fact]
    public void BudgetStopsAtInstructionGranularityForSmallBudgets()
    {
        var (bus, m) = NewMachine();
        using var busLifetime = bus;
        using var cpu = new IemCpu(m, 0);
        byte[] code = { 0x40, 0x40, 0x40, 0x40, 0x40, 0xF4 };         // inc ax x5 ; hlt (16-bit)
        code.CopyTo(bus.RamSpan(0x8000, code.Length));
        StartReal(cpu, 0x8000);
        var exit = cpu.Run(3);
        Assert.Equal(VcpuExitReason.BudgetExhausted, exit.Reason);
        Assert.Equal(3, exit.Instructions);
        Assert.Equal(0x8003UL, cpu.Rip);
        exit = cpu.Run(100);
        Assert.Equal(VcpuExitReason.Halted, exit.Reason);
        Assert.Equal(3, exit.Instructions);
    }

    [Fact]
    public void DmaWriteInvalidatesDecodedCode()
    {
        var (bus, m) = NewMachine();
        using var busLifetime = bus;
        using var cpu = new IemCpu(m, 0);
        byte[] code = { 0xB8, 0x11, 0x00, 0xF4 };                     // mov ax, 0x11 ; hlt
        code.CopyTo(bus.RamSpan(0x8000, code.Length));
        StartReal(cpu, 0x8000);
        cpu.Run(100);
        Assert.Equal(0x11UL, cpu.R(0) & 0xFFFF);
        bus.RamSpan(0x8001, 1)[0] = 0x22;                                // behind the CPU's back
        m.NotifyPhysicalWrite(0x8001, 1);
        StartReal(cpu, 0x8000);
        cpu.Run(100);
        Assert.Equal(0x22UL, cpu.R(0) & 0xFFFF);
    }
}
