using System.Buffers.Binary;
using SharpBox.Vmm.Ssm;

namespace SharpBox.Vmm.Gim;

/// <summary>
/// KVM's paravirtual interface as Linux knows it: the "KVMKVMKVM" signature, and kvmclock — per-vCPU
/// pvclock_vcpu_time_info structures (system time, TSC scale, stable bit) and the pvclock_wall_clock,
/// at guest-physical addresses the guest writes to the kvmclock MSRs. On the software CPU this class
/// serves those MSRs; on the KVM engine the host kernel implements kvmclock itself, and this class
/// reads and writes the MSRs through the engine only to save and restore them.
/// </summary>
public sealed class GimKvm : GimProvider
{
    public const uint MsrWallClock = 0x11, MsrSystemTime = 0x12, MsrWallClockNew = 0x4B564D00, MsrSystemTimeNew = 0x4B564D01,
        MsrAsyncPfEn = 0x4B564D02, MsrStealTime = 0x4B564D03, MsrPvEoiEn = 0x4B564D04, MsrPollControl = 0x4B564D05;
    public const uint FeatureClocksource = 1u << 0, FeatureNopIoDelay = 1u << 1, FeatureClocksource2 = 1u << 3,
        FeatureClocksourceStable = 1u << 24;
    public const byte PvclockTscStable = 1;

    private static readonly uint[] s_leaves = { 0x40000000, 0x40000001 };
    private readonly ulong[] _systemTime;       // the MSR value per vCPU: GPA | enable
    private ulong _wallClock;                    // the last wall-clock GPA written
    private readonly object _lock = new();

    public GimKvm(GimEnvironment env) : base(env) { _systemTime = new ulong[Math.Max(1, env.CpuCount)]; }

    public override string Name => "KVM";
    public override GimProviderKind Kind => GimProviderKind.Kvm;
    public override IReadOnlyList<uint> Leaves => s_leaves;

    public override bool Cpuid(uint leaf, uint subLeaf, out uint eax, out uint ebx, out uint ecx, out uint edx)
    {
        eax = ebx = ecx = edx = 0;
        switch (leaf)
        {
            case 0x40000000:
                eax = 0x40000001;
                ebx = Sig("KVMK"); ecx = Sig("VMKV"); edx = Sig("M\0\0\0");
                return true;
            case 0x40000001:
                eax = FeatureClocksource | FeatureNopIoDelay | FeatureClocksource2 | FeatureClocksourceStable;
                return true;
        }
        return false;
    }

    public override bool TryReadMsr(int cpu, uint msr, out ulong value)
    {
        lock (_lock)
        {
            switch (msr)
            {
                case MsrSystemTime or MsrSystemTimeNew: value = _systemTime[Cpu(cpu)]; return true;
                case MsrWallClock or MsrWallClockNew: value = _wallClock; return true;
                case MsrAsyncPfEn or MsrPvEoiEn or MsrStealTime: value = 0; return true;   // features not offered: read as off
            }
        }
        value = 0;
        return false;
    }

    public override bool TryWriteMsr(int cpu, uint msr, ulong value)
    {
        lock (_lock)
        {
            switch (msr)
            {
                case MsrSystemTime or MsrSystemTimeNew:
                    _systemTime[Cpu(cpu)] = value;
                    if ((value & 1) != 0) WriteTimeInfo(Cpu(cpu));
                    return true;
                case MsrWallClock or MsrWallClockNew:
                    _wallClock = value;
                    WriteWallClock(value);
                    return true;
                case MsrAsyncPfEn or MsrPvEoiEn or MsrStealTime:
                    return value == 0;                    // switching an unoffered feature off is fine; on is #GP
            }
        }
        return false;
    }

    private int Cpu(int cpu) => (uint)cpu < (uint)_systemTime.Length ? cpu : 0;

    /// <summary>pvclock_vcpu_time_info (32 bytes): version, pad, tsc_timestamp, system_time, tsc_to_system_mul, tsc_shift, flags.</summary>
    private void WriteTimeInfo(int cpu)
    {
        ulong gpa = _systemTime[cpu] & ~1UL;
        Span<byte> b = stackalloc byte[32];
        try { Env.Memory.Read(gpa, b); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Env.Log($"GIM: KVM: vCPU {cpu}'s kvmclock area at 0x{gpa:X} is not in guest RAM ({e.Message}); not updated");
            return;
        }
        // An odd version while the fields change; the guest retries reads that see an odd or changed version.
        uint version = (BinaryPrimitives.ReadUInt32LittleEndian(b) + 1) | 1;
        BinaryPrimitives.WriteUInt32LittleEndian(b, version);
        Env.Memory.Write(gpa, b[..4]);
        Thread.MemoryBarrier();
        Env.Clock.Now(cpu, out long ns, out ulong tsc);
        var scale = PvclockScale.For(Env.Clock.TscHz);
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], 0);
        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], tsc);
        BinaryPrimitives.WriteUInt64LittleEndian(b[16..], (ulong)ns);
        BinaryPrimitives.WriteUInt32LittleEndian(b[24..], scale.Mul);
        b[28] = (byte)scale.Shift;
        b[29] = PvclockTscStable;                     // one TSC for all vCPUs, derived from one clock
        b[30] = 0; b[31] = 0;
        Env.Memory.Write(gpa + 4, b[4..]);
        Thread.MemoryBarrier();
        BinaryPrimitives.WriteUInt32LittleEndian(b, version + 1);
        Env.Memory.Write(gpa, b[..4]);
    }

    /// <summary>pvclock_wall_clock (12 bytes): version, sec, nsec of the wall-clock time at system time 0.</summary>
    private void WriteWallClock(ulong gpa)
    {
        Span<byte> b = stackalloc byte[12];
        try { Env.Memory.Read(gpa, b); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Env.Log($"GIM: KVM: wall-clock area at 0x{gpa:X} is not in guest RAM ({e.Message}); not written");
            return;
        }
        uint version = (BinaryPrimitives.ReadUInt32LittleEndian(b) + 1) | 1;
        BinaryPrimitives.WriteUInt32LittleEndian(b, version);
        Env.Memory.Write(gpa, b[..4]);
        Thread.MemoryBarrier();
        long wall = Env.Clock.WallClockAtZeroNs;
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], (uint)(wall / 1_000_000_000));
        BinaryPrimitives.WriteUInt32LittleEndian(b[8..], (uint)(wall % 1_000_000_000));
        Env.Memory.Write(gpa + 4, b[4..]);
        Thread.MemoryBarrier();
        BinaryPrimitives.WriteUInt32LittleEndian(b, version + 1);
        Env.Memory.Write(gpa, b[..4]);
    }

    public override void ClockChanged()
    {
        lock (_lock)
            for (int i = 0; i < _systemTime.Length; i++)
                if ((_systemTime[i] & 1) != 0) WriteTimeInfo(i);
    }

    public override void Save(SsmWriter w)
    {
        lock (_lock)
        {
            if (Env.EngineMsrs is { } e)
            {
                // The engine's kernel served the MSRs: take their current values from it.
                for (int i = 0; i < _systemTime.Length; i++)
                    if (e.TryReadMsr(i, MsrSystemTimeNew, out ulong v)) _systemTime[i] = v;
                if (e.TryReadMsr(0, MsrWallClockNew, out ulong wc)) _wallClock = wc;
            }
            w.PutU32((uint)_systemTime.Length);
            foreach (ulong v in _systemTime) w.PutU64(v);
            w.PutU64(_wallClock);
        }
    }

    public override void Load(SsmReader r, uint version)
    {
        uint n = r.GetU32();
        if (n != _systemTime.Length) throw r.Error($"GIM KVM state for {n} vCPUs, the VM has {_systemTime.Length}");
        lock (_lock)
        {
            for (int i = 0; i < n; i++) _systemTime[i] = r.GetU64();
            _wallClock = r.GetU64();
            if (Env.EngineMsrs is { } e)
            {
                for (int i = 0; i < n; i++) e.TryWriteMsr(i, MsrSystemTimeNew, _systemTime[i]);
                if (_wallClock != 0) e.TryWriteMsr(0, MsrWallClockNew, _wallClock);
            }
            else
            {
                for (int i = 0; i < n; i++) if ((_systemTime[i] & 1) != 0) WriteTimeInfo(i);
            }
        }
    }
}
