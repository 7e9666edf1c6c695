using System.Buffers.Binary;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Gim;
using SharpBox.Vmm.Pdm;

namespace SharpBox.Vmm.Tests.Gim;

/// <summary>A clock the test moves by hand: TSC = ns × hz / 1e9 + offset.</summary>
internal sealed class ManualClock(ulong hz) : IGimClock
{
    public long Ns;
    public ulong TscOffset = 123_456_789;
    public ulong TscHz => hz;
    public ulong TscAt(long ns) => (ulong)((UInt128)(ulong)ns * hz / 1_000_000_000) + TscOffset;
    public void Now(int cpu, out long ns, out ulong tsc) { ns = Ns; tsc = TscAt(Ns); }
    public long WallClockAtZeroNs { get; set; } = 1_700_000_000_123_456_789;
}

/// <summary>64 KiB of guest RAM at 0; anything else is outside RAM.</summary>
internal sealed class SmallRam : IGuestMemory
{
    public readonly byte[] Bytes = new byte[0x10000];
    public ulong RamSize => (ulong)Bytes.Length;
    public void Read(ulong gpa, Span<byte> buffer)
    {
        if (gpa + (ulong)buffer.Length > RamSize) throw new ArgumentOutOfRangeException(nameof(gpa), $"0x{gpa:X} outside RAM");
        Bytes.AsSpan((int)gpa, buffer.Length).CopyTo(buffer);
    }
    public void Write(ulong gpa, ReadOnlySpan<byte> buffer)
    {
        if (gpa + (ulong)buffer.Length > RamSize) throw new ArgumentOutOfRangeException(nameof(gpa), $"0x{gpa:X} outside RAM");
        buffer.CopyTo(Bytes.AsSpan((int)gpa));
    }
}

public class GimTests
{
    private static (GimProvider? P, CpuModel Model, ManualClock Clock, SmallRam Ram, List<string> Log) Make(GimProviderKind kind, ulong hz = 2_000_000_000, int cpus = 2)
    {
        var model = new CpuModel { CpuCount = cpus };
        var clock = new ManualClock(hz) { Ns = 5_000_000_000 };
        var ram = new SmallRam();
        var log = new List<string>();
        var p = GimProvider.Create(kind, new GimEnvironment { Model = model, CpuCount = cpus, Memory = ram, Clock = clock, Log = log.Add });
        return (p, model, clock, ram, log);
    }

    private static string Signature(CpuModel m)
    {
        m.Cpuid(0x40000000, 0, 0, out _, out uint b, out uint c, out uint d);
        Span<byte> s = stackalloc byte[12];
        BinaryPrimitives.WriteUInt32LittleEndian(s, b);
        BinaryPrimitives.WriteUInt32LittleEndian(s[4..], c);
        BinaryPrimitives.WriteUInt32LittleEndian(s[8..], d);
        return System.Text.Encoding.ASCII.GetString(s).TrimEnd('\0');
    }

    [Theory]
    [InlineData(1_000_000_000UL)]
    [InlineData(2_000_000_000UL)]
    [InlineData(2_596_130_000UL)]
    [InlineData(3_300_000_000UL)]
    [InlineData(100_000_000UL)]
    [InlineData(25_000_000UL)]
    public void PvclockScaleConvertsTicksToNanoseconds(ulong hz)
    {
        var s = PvclockScale.For(hz);
        Assert.True(s.Mul >= 1u << 31, $"mul {s.Mul:X} is not normalised (shift {s.Shift})");
        // pvclock truncates the delta by the shift and mul to 32 bits: within 2 ns plus 1 ppb, as KVM's own scale.
        foreach (ulong delta in new ulong[] { 1, 1000, 123_456_789, hz, hz * 3600 })
        {
            double exact = delta * 1e9 / hz;
            double got = s.Apply(delta);
            Assert.True(Math.Abs(got - exact) <= 2 + exact * 1e-9, $"{hz} Hz: {delta} ticks -> {got} ns, expected {exact}");
        }
    }

    [Fact]
    public void NoneClearsTheHypervisorBitAndLeaves()
    {
        var (p, model, _, _, log) = Make(GimProviderKind.None);
        Assert.Null(p);
        Assert.False(model.Has1Ecx(CpuModel.Hypervisor));
        model.Cpuid(0x40000000, 0, 0, out uint a, out uint b, out _, out _);
        Assert.Equal(0u, a | b);
        Assert.Contains(log, l => l.Contains("provider: none"));
    }

    [Fact]
    public void MinimalAnnouncesTimingLeaves()
    {
        var (p, model, _, _, _) = Make(GimProviderKind.Minimal, hz: 2_000_000_000);
        Assert.True(model.Has1Ecx(CpuModel.Hypervisor));
        Assert.Equal("VBoxVBoxVBox", Signature(model));
        model.Cpuid(0x40000010, 0, 0, out uint tscKhz, out uint apicKhz, out _, out _);
        Assert.Equal(2_000_000u, tscKhz);
        Assert.Equal(1_000_000u, apicKhz);
        Assert.False(p!.TryReadMsr(0, 0x4B564D01, out _));
        Assert.Contains(model.AllLeaves(0), l => l.Leaf == 0x40000010);
    }

    [Fact]
    public void KvmClockStructureIsWhatTheGuestReads()
    {
        var (p, model, clock, ram, _) = Make(GimProviderKind.Kvm, hz: 2_596_130_000);
        Assert.Equal("KVMKVMKVM", Signature(model));
        model.Cpuid(0x40000001, 0, 0, out uint feat, out _, out _, out _);
        Assert.True((feat & GimKvm.FeatureClocksource2) != 0 && (feat & GimKvm.FeatureClocksourceStable) != 0);

        Assert.True(p!.TryWriteMsr(1, GimKvm.MsrSystemTimeNew, 0x2000 | 1));
        var info = ram.Bytes.AsSpan(0x2000, 32);
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(info);
        Assert.Equal(0u, version & 1);
        Assert.NotEqual(0u, version);
        ulong tscTs = BinaryPrimitives.ReadUInt64LittleEndian(info[8..]);
        ulong sysTime = BinaryPrimitives.ReadUInt64LittleEndian(info[16..]);
        var scale = new PvclockScale(BinaryPrimitives.ReadUInt32LittleEndian(info[24..]), (sbyte)info[28]);
        Assert.Equal(clock.TscAt(clock.Ns), tscTs);
        Assert.Equal((ulong)clock.Ns, sysTime);
        Assert.Equal(GimKvm.PvclockTscStable, info[29]);
        // The guest's clock, one hour later, from the structure alone (pvclock_clocksource_read).
        long later = clock.Ns + 3_600_000_000_000;
        ulong guestNs = sysTime + scale.Apply(clock.TscAt(later) - tscTs);
        Assert.InRange((long)guestNs - later, -2000, 2000);

        Assert.True(p.TryWriteMsr(0, GimKvm.MsrWallClockNew, 0x3000));
        var wc = ram.Bytes.AsSpan(0x3000, 12);
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(wc) & 1);
        Assert.Equal((uint)(clock.WallClockAtZeroNs / 1_000_000_000), BinaryPrimitives.ReadUInt32LittleEndian(wc[4..]));
        Assert.Equal((uint)(clock.WallClockAtZeroNs % 1_000_000_000), BinaryPrimitives.ReadUInt32LittleEndian(wc[8..]));

        Assert.True(p.TryReadMsr(1, GimKvm.MsrSystemTimeNew, out ulong v) && v == (0x2000 | 1));
        Assert.False(p.TryWriteMsr(0, GimKvm.MsrAsyncPfEn, 1));   // not offered: #GP
        Assert.True(p.TryWriteMsr(0, GimKvm.MsrAsyncPfEn, 0));

        // A second update bumps the version (the guest notices the change).
        clock.Ns += 1000;
        p.ClockChanged();
        Assert.Equal(version + 2, BinaryPrimitives.ReadUInt32LittleEndian(info));
    }

    [Fact]
    public void KvmClockStateSurvivesSaveAndLoad()
    {
        var (p, _, clock, ram, _) = Make(GimProviderKind.Kvm);
        p!.TryWriteMsr(0, GimKvm.MsrSystemTimeNew, 0x4000 | 1);
        var ms = new MemoryStream();
        var w = new SharpBox.Vmm.Ssm.SsmWriter(ms);
        p.Save(w);
        var (q, _, clock2, ram2, _) = Make(GimProviderKind.Kvm);
        clock2.Ns = clock.Ns + 7_000_000;
        ms.Position = 0;
        q!.Load(new SharpBox.Vmm.Ssm.SsmReader(ms, ms.Length, "test"), 1);
        Assert.True(q.TryReadMsr(0, GimKvm.MsrSystemTimeNew, out ulong v) && v == (0x4000 | 1));
        Assert.Equal((ulong)clock2.Ns, BinaryPrimitives.ReadUInt64LittleEndian(ram2.Bytes.AsSpan(0x4000 + 16)));   // rewritten on load
    }

    [Fact]
    public void HyperVPassesLinuxsDetectionAndServesItsMsrs()
    {
        var (p, model, clock, ram, log) = Make(GimProviderKind.HyperV, hz: 2_000_000_000, cpus: 2);
        Assert.Equal("Microsoft Hv", Signature(model));
        model.Cpuid(0x40000000, 0, 0, out uint max, out _, out _, out _);
        Assert.InRange(max, 0x40000005u, 0x4000FFFFu);                          // HYPERV_CPUID_MIN..MAX
        model.Cpuid(0x40000001, 0, 0, out uint iface, out _, out _, out _);
        Assert.Equal(0x31237648u, iface);                                          // "Hv#1"
        model.Cpuid(0x40000003, 0, 0, out uint feat, out _, out _, out uint misc);
        Assert.True((feat & GimHyperV.HypercallAvailable) != 0 && (feat & GimHyperV.VpIndexAvailable) != 0);
        Assert.True((misc & GimHyperV.GuestCrashMsrsAvailable) != 0);
        model.Cpuid(0x40000004, 0, 0, out uint hints, out _, out _, out _);
        Assert.True((hints & GimHyperV.RelaxedTimingRecommended) != 0);

        Assert.True(p!.TryReadMsr(1, GimHyperV.MsrVpIndex, out ulong vp) && vp == 1);
        Assert.True(p.TryReadMsr(0, GimHyperV.MsrTimeRefCount, out ulong rc) && rc == (ulong)clock.Ns / 100);
        Assert.True(p.TryReadMsr(0, GimHyperV.MsrTscFrequency, out ulong f) && f == 2_000_000_000);
        Assert.True(p.TryReadMsr(0, GimHyperV.MsrApicFrequency, out ulong af) && af == 1_000_000_000);
        Assert.False(p.TryReadMsr(0, 0x40000080, out _));                         // SynIC not offered: #GP

        // Hypercall page: ignored until a guest OS id is set, then a stub that fails every call.
        Assert.True(p.TryWriteMsr(0, GimHyperV.MsrHypercall, 0x5000 | 1));
        Assert.True(p.TryReadMsr(0, GimHyperV.MsrHypercall, out ulong hc) && (hc & 1) == 0);
        Assert.True(p.TryWriteMsr(0, GimHyperV.MsrGuestOsId, 0x8100_0006_0100_0000));
        Assert.True(p.TryWriteMsr(0, GimHyperV.MsrHypercall, 0x5000 | 1));
        Assert.Equal(new byte[] { 0xB8, 0x02, 0, 0, 0, 0x31, 0xD2, 0xC3 }, ram.Bytes.AsSpan(0x5000, 8).ToArray());

        // Reference TSC page: the guest's reference time from the page matches the counter later on.
        Assert.True(p.TryWriteMsr(0, GimHyperV.MsrReferenceTsc, 0x6000 | 1));
        var page = ram.Bytes.AsSpan(0x6000, 24);
        uint seq = BinaryPrimitives.ReadUInt32LittleEndian(page);
        Assert.NotEqual(0u, seq);
        ulong scale = BinaryPrimitives.ReadUInt64LittleEndian(page[8..]);
        long offset = BinaryPrimitives.ReadInt64LittleEndian(page[16..]);
        long later = clock.Ns + 86_400_000_000_000;                               // a day later
        long refTime = (long)(ulong)(((UInt128)clock.TscAt(later) * scale) >> 64) + offset;
        Assert.InRange(refTime - later / 100, -2, 2);

        // Crash MSRs: parameters logged when the guest notifies.
        for (uint i = 0; i < 5; i++) Assert.True(p.TryWriteMsr(0, GimHyperV.MsrCrashP0 + i, 0x1111 * (i + 1)));
        Assert.True(p.TryReadMsr(0, GimHyperV.MsrCrashCtl, out ulong ctl) && (ctl & GimHyperV.CrashNotify) != 0);
        Assert.True(p.TryWriteMsr(0, GimHyperV.MsrCrashCtl, GimHyperV.CrashNotify));
        Assert.Contains(log, l => l.Contains("guest reports a crash") && l.Contains("P0=0x0000000000001111") && l.Contains("P4=0x0000000000005555"));
        Assert.Contains((0x40000000u, 0x200u), p.SoftwareMsrRanges);
    }

    [Fact]
    public void HyperVTscPageIsInvalidWhereTheGuestTscIsNotTheClocks()
    {
        var model = new CpuModel();
        var ram = new SmallRam();
        var env = new GimEnvironment { Model = model, CpuCount = 1, Memory = ram, Clock = new ManualClock(1_000_000_000), TscIsClock = false };
        var p = GimProvider.Create(GimProviderKind.HyperV, env)!;
        ram.Bytes[0x6000] = 0x55;
        Assert.True(p.TryWriteMsr(0, GimHyperV.MsrReferenceTsc, 0x6000 | 1));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(ram.Bytes.AsSpan(0x6000)));   // sequence 0: use the MSR
    }

    [Fact]
    public void StructuresOutsideRamAreLoggedNotWritten()
    {
        var (p, _, _, _, log) = Make(GimProviderKind.Kvm);
        Assert.True(p!.TryWriteMsr(0, GimKvm.MsrSystemTimeNew, 0xF0000000 | 1));
        Assert.Contains(log, l => l.Contains("not in guest RAM"));
    }

    [Theory]
    [InlineData("none", GimProviderKind.None)]
    [InlineData("KVM", GimProviderKind.Kvm)]
    [InlineData("HyperV", GimProviderKind.HyperV)]
    [InlineData("Minimal", GimProviderKind.Minimal)]
    public void ParsesProviderNames(string name, GimProviderKind kind) => Assert.Equal(kind, GimProvider.Parse(name));

    [Fact]
    public void UnknownProviderNameIsAnError()
    {
        var e = Assert.Throws<ArgumentException>(() => GimProvider.Parse("xen"));
        Assert.Contains("'xen'", e.Message);
    }
}
