using System.Runtime.InteropServices;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Hm;
using Xunit.Abstractions;

namespace SharpBox.Vmm.Tests.Hm;

/// <summary>Whole-state set/get on the KVM engine, and the engine's error paths.</summary>
public class HmStateTests(ITestOutputHelper output)
{
    internal static CpuContext Distinctive()
    {
        var c = CpuContext.PowerOn();
        for (int i = 0; i < 16; i++) c.Gpr[i] = 0x0101010101010101UL * (ulong)(i + 1) ^ 0x8000000000000000UL;
        c.Rip = 0x0000123456789ABC;
        c.Rflags = RFlags.Fixed1 | RFlags.CF | RFlags.ZF | RFlags.OF | RFlags.DF;
        c.Cr0 = Cr0.PE | Cr0.MP | Cr0.ET | Cr0.NE | Cr0.WP | Cr0.AM | Cr0.PG;
        c.Cr2 = 0xFFFF800012345000;
        c.Cr3 = 0x0000000000ABC000;
        c.Cr4 = Cr4.PAE | Cr4.PGE | Cr4.OSFXSR | Cr4.OSXMMEXCPT | Cr4.FSGSBASE;
        c.Efer = Efer.LME | Efer.LMA | Efer.SCE | Efer.NXE;
        uint code0 = SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.CodeReadable | SegAttr.Accessed | SegAttr.L | SegAttr.G;
        uint data0 = SegAttr.P | SegAttr.S | SegAttr.DataWritable | SegAttr.Accessed | SegAttr.DB | SegAttr.G;
        c.Seg[SegIdx.CS] = new SegmentRegister(0x10, 0, 0xFFFFFFFF, code0);
        c.Seg[SegIdx.SS] = new SegmentRegister(0x18, 0, 0xFFFFFFFF, data0);
        c.Seg[SegIdx.DS] = new SegmentRegister(0x18, 0, 0xFFFFFFFF, data0);
        c.Seg[SegIdx.ES] = new SegmentRegister(0x18, 0, 0xFFFFFFFF, data0);
        c.Seg[SegIdx.FS] = new SegmentRegister(0x18, 0x00007F0012340000, 0xFFFFFFFF, data0);
        c.Seg[SegIdx.GS] = new SegmentRegister(0x18, 0xFFFF888000001000, 0xFFFFFFFF, data0);
        c.Ldtr = new SegmentRegister(0x28, 0x5000, 0x7F, SegAttr.P | 2);
        c.Tr = new SegmentRegister(0x38, 0x6000, 0x67, SegAttr.P | 11);
        c.Gdtr = new DescriptorTableRegister { Base = 0xFFFFFE0000001000, Limit = 0x7F };
        c.Idtr = new DescriptorTableRegister { Base = 0xFFFFFE0000002000, Limit = 0xFFF };
        c.Dr[0] = 0x1000; c.Dr[1] = 0x2000; c.Dr[2] = 0x3000; c.Dr[3] = 0x4000; c.Dr[7] = 0x400 | 0x2;
        c.SysenterCs = 0x10; c.SysenterEsp = 0xFFFF880000010000; c.SysenterEip = 0xFFFFFFFF81000000;
        c.Star = 0x0023001000000000; c.Lstar = 0xFFFFFFFF81800000; c.Cstar = 0xFFFFFFFF81900000; c.Sfmask = 0x47700;
        c.KernelGsBase = 0xFFFF888007C00000; c.Pat = 0x0007010600070106; c.TscAux = 3;
        c.MtrrDefType = 0xC06; c.MtrrFixed[0] = 0x0606060606060606; c.MtrrVar[0] = 0x80000006; c.MtrrVar[1] = 0xFF80000800;
        c.Fx[0] = 0x7F; c.Fx[1] = 0x03;                       // FCW 037F
        c.Fx[24] = 0x80; c.Fx[25] = 0x1F;                     // MXCSR 1F80
        for (int i = 0; i < 16; i++) c.Fx[160 + i] = (byte)(0xA0 + i);   // XMM0
        for (int i = 0; i < 10; i++) c.Fx[32 + i] = (byte)(i + 1);       // ST0 bytes
        c.Xcr0 = 1;
        c.InterruptShadow = false; c.NmiBlocked = true;
        return c;
    }

    [Fact]
    public void FullStateRoundTripsThroughKvm()
    {
        if (!KvmTestEnv.Usable(output, "KVM state round trip")) return;
        using var bus = new PayloadBus();
        using var m = new PayloadMachine(EngineKind.Kvm, bus);
        var set = Distinctive();
        set.Cr8 = 5;
        m.Cpu.SetState(in set);
        var got = new CpuContext();
        m.Cpu.GetState(ref got);
        var diffs = new List<string>();
        void Eq(string what, ulong a, ulong b) { if (a != b) diffs.Add($"{what}: set {a:X} got {b:X}"); }
        for (int i = 0; i < 16; i++) Eq($"GPR{i}", set.Gpr[i], got.Gpr[i]);
        Eq("RIP", set.Rip, got.Rip); Eq("RFLAGS", set.Rflags, got.Rflags);
        for (int i = 0; i < 6; i++)
        {
            Eq($"seg{i}.sel", set.Seg[i].Selector, got.Seg[i].Selector); Eq($"seg{i}.base", set.Seg[i].Base, got.Seg[i].Base);
            Eq($"seg{i}.limit", set.Seg[i].Limit, got.Seg[i].Limit); Eq($"seg{i}.attr", set.Seg[i].Attributes, got.Seg[i].Attributes);
        }
        Eq("LDTR.base", set.Ldtr.Base, got.Ldtr.Base); Eq("LDTR.sel", set.Ldtr.Selector, got.Ldtr.Selector);
        Eq("TR.base", set.Tr.Base, got.Tr.Base); Eq("TR.limit", set.Tr.Limit, got.Tr.Limit); Eq("TR.attr", set.Tr.Attributes, got.Tr.Attributes);
        Eq("GDTR", set.Gdtr.Base, got.Gdtr.Base); Eq("GDTR.limit", set.Gdtr.Limit, got.Gdtr.Limit);
        Eq("IDTR", set.Idtr.Base, got.Idtr.Base); Eq("IDTR.limit", set.Idtr.Limit, got.Idtr.Limit);
        Eq("CR0", set.Cr0, got.Cr0); Eq("CR2", set.Cr2, got.Cr2); Eq("CR3", set.Cr3, got.Cr3); Eq("CR4", set.Cr4, got.Cr4);
        Eq("CR8", set.Cr8, got.Cr8); Eq("EFER", set.Efer, got.Efer); Eq("XCR0", set.Xcr0, got.Xcr0);
        for (int i = 0; i < 4; i++) Eq($"DR{i}", set.Dr[i], got.Dr[i]);
        Eq("DR7", set.Dr[7], got.Dr[7]);
        Eq("SYSENTER_CS", set.SysenterCs, got.SysenterCs); Eq("SYSENTER_ESP", set.SysenterEsp, got.SysenterEsp);
        Eq("SYSENTER_EIP", set.SysenterEip, got.SysenterEip); Eq("STAR", set.Star, got.Star); Eq("LSTAR", set.Lstar, got.Lstar);
        Eq("CSTAR", set.Cstar, got.Cstar); Eq("SFMASK", set.Sfmask, got.Sfmask); Eq("KERNEL_GS_BASE", set.KernelGsBase, got.KernelGsBase);
        Eq("PAT", set.Pat, got.Pat);
        output.WriteLine($"CPUID bits the host cannot virtualise: {(m.Hm!.DroppedFeatures == "" ? "none" : m.Hm.DroppedFeatures)}");
        if (m.Hm.Model.HasExt1Edx(CpuModel.Rdtscp)) Eq("TSC_AUX", set.TscAux, got.TscAux);
        Eq("MTRR_DEF_TYPE", set.MtrrDefType, got.MtrrDefType); Eq("MTRR_FIX64K", set.MtrrFixed[0], got.MtrrFixed[0]);
        Eq("MTRR_PHYSBASE0", set.MtrrVar[0], got.MtrrVar[0]); Eq("MTRR_PHYSMASK0", set.MtrrVar[1], got.MtrrVar[1]);
        Eq("NmiBlocked", set.NmiBlocked ? 1UL : 0, got.NmiBlocked ? 1UL : 0);
        var fxSet = MemoryMarshal.AsBytes(new ReadOnlySpan<FxSaveBytes>(in set.Fx));
        var fxGot = MemoryMarshal.AsBytes(new ReadOnlySpan<FxSaveBytes>(in got.Fx));
        Eq("FCW", BitConverter.ToUInt16(fxSet[0..2]), BitConverter.ToUInt16(fxGot[0..2]));
        Eq("MXCSR", BitConverter.ToUInt32(fxSet[24..28]), BitConverter.ToUInt32(fxGot[24..28]));
        Eq("XMM0.lo", BitConverter.ToUInt64(fxSet[160..168]), BitConverter.ToUInt64(fxGot[160..168]));
        Eq("XMM0.hi", BitConverter.ToUInt64(fxSet[168..176]), BitConverter.ToUInt64(fxGot[168..176]));
        Eq("ST0", BitConverter.ToUInt64(fxSet[32..40]), BitConverter.ToUInt64(fxGot[32..40]));
        // The TSC keeps running between set and get (and the bus clock advances per read): the offset stays close.
        if (m.Hm!.TscSettable) Assert.InRange(got.TscOffset - set.TscOffset, -1_000_000_000L, 1_000_000_000L);
        else output.WriteLine($"{KvmTestEnv.Info.Backend}: the host does not offset the guest TSC; TscOffset not compared");
        Assert.True(diffs.Count == 0, string.Join("\n", diffs));
    }

    [Fact]
    public void InvalidStateIsRefusedWithAReason()
    {
        if (!KvmTestEnv.Usable(output, "KVM state validation")) return;
        using var bus = new PayloadBus();
        using var m = new PayloadMachine(EngineKind.Kvm, bus);
        var c = Distinctive();
        c.Cr0 &= ~Cr0.PE;   // PG without PE
        var e = Assert.Throws<ArgumentException>(() => m.Cpu.SetState(in c));
        Assert.Contains("CR0.PG set without CR0.PE", e.Message);
    }

    [Fact]
    public void MissingDeviceGivesAClearError()
    {
        var info = KvmProbe.Probe("/nonexistent/kvm");
        Assert.False(info.Usable);
        Assert.Contains("/nonexistent/kvm does not exist", info.Reason);
        var e = Assert.Throws<KvmException>(() => KvmSystem.Open("/dev/null"));
        Assert.Contains("/dev/null", e.Message);
        using var bus = new PayloadBus();
        var e2 = Assert.Throws<KvmException>(() => HmMachine.Create(bus, new CpuModel(), bus.MemoryRanges, new HmOptions { DevicePath = "/nonexistent/kvm" }));
        Assert.Contains("does not exist", e2.Message);
    }

    [Fact]
    public void MisalignedMemoryIsRefused()
    {
        if (!KvmTestEnv.Usable(output, "KVM memory slot checks")) return;
        using var bus = new PayloadBus();
        var ranges = new[] { new GuestMemoryRange(0x800, 0x1000, bus.MemoryRanges[0].Host, false) };
        var e = Assert.Throws<ArgumentException>(() => HmMachine.Create(bus, new CpuModel(), ranges));
        Assert.Contains("not page aligned", e.Message);
    }

    [Fact]
    public void ProbeReportsTheHost()
    {
        var info = KvmProbe.Probe();
        output.WriteLine(info.ToString());
        if (!info.Usable) { Assert.False(string.IsNullOrEmpty(info.Reason)); return; }
        Assert.Equal("ok", info.Reason);
        Assert.True(info.MaxVcpus >= 1);
        Assert.Contains(info.Backend, new[] { "kvm_intel", "kvm_amd", "kvm_pvm", "unknown" });
    }
}
