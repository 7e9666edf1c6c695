using System.Buffers.Binary;
using SharpBox.Vmm.Ssm;

namespace SharpBox.Vmm.Gim;

/// <summary>
/// Microsoft Hyper-V's interface (TLFS): the "Microsoft Hv" leaves with features and recommendations
/// (relaxed timing), the guest OS id and hypercall MSRs (the hypercall page answers every call with
/// HV_STATUS_INVALID_HYPERCALL_CODE: no hypercall is offered), the VP index, the partition reference
/// counter and reference TSC page, the TSC and APIC frequency MSRs, and the crash MSRs (a guest crash
/// report goes to the VM's log). Served in software on both engines.
/// </summary>
public sealed class GimHyperV : GimProvider
{
    public const uint MsrGuestOsId = 0x40000000, MsrHypercall = 0x40000001, MsrVpIndex = 0x40000002, MsrReset = 0x40000003,
        MsrTimeRefCount = 0x40000020, MsrReferenceTsc = 0x40000021, MsrTscFrequency = 0x40000022, MsrApicFrequency = 0x40000023,
        MsrVpAssistPage = 0x40000073, MsrCrashP0 = 0x40000100, MsrCrashP4 = 0x40000104, MsrCrashCtl = 0x40000105;
    public const uint TimeRefCountAvailable = 1u << 1, HypercallAvailable = 1u << 5, VpIndexAvailable = 1u << 6,
        ReferenceTscAvailable = 1u << 9, FrequencyMsrsAccess = 1u << 11;
    public const uint FrequencyMsrsAvailable = 1u << 8, GuestCrashMsrsAvailable = 1u << 10;
    public const uint RelaxedTimingRecommended = 1u << 5;
    public const ulong CrashNotify = 1UL << 63;

    private static readonly uint[] s_leaves = { 0x40000000, 0x40000001, 0x40000002, 0x40000003, 0x40000004, 0x40000005, 0x40000006 };
    private static readonly (uint, uint)[] s_msrs = { (0x40000000, 0x200) };
    private readonly object _lock = new();
    private ulong _guestOsId, _hypercall, _referenceTsc, _crashCtl;
    private readonly ulong[] _crash = new ulong[5];
    private readonly ulong[] _vpAssist;
    private uint _tscSequence;

    public GimHyperV(GimEnvironment env) : base(env) { _vpAssist = new ulong[Math.Max(1, env.CpuCount)]; }

    private int Cpu(int cpu) => (uint)cpu < (uint)_vpAssist.Length ? cpu : 0;

    public override string Name => "Hyper-V";
    public override GimProviderKind Kind => GimProviderKind.HyperV;
    public override IReadOnlyList<uint> Leaves => s_leaves;
    public override IReadOnlyList<(uint First, uint Count)> SoftwareMsrRanges => s_msrs;

    public override bool Cpuid(uint leaf, uint subLeaf, out uint eax, out uint ebx, out uint ecx, out uint edx)
    {
        eax = ebx = ecx = edx = 0;
        switch (leaf)
        {
            case 0x40000000: eax = 0x40000006; ebx = Sig("Micr"); ecx = Sig("osof"); edx = Sig("t Hv"); return true;
            case 0x40000001: eax = Sig("Hv#1"); return true;
            case 0x40000002: eax = 14393; ebx = 10u << 16; return true;          // build 14393, version 10.0
            case 0x40000003:
                eax = TimeRefCountAvailable | HypercallAvailable | VpIndexAvailable | ReferenceTscAvailable | FrequencyMsrsAccess;
                edx = FrequencyMsrsAvailable | GuestCrashMsrsAvailable;
                return true;
            case 0x40000004: eax = RelaxedTimingRecommended; ebx = 0xFFFFFFFF; return true;   // never notify long spin waits
            case 0x40000005: eax = (uint)Env.CpuCount; ebx = (uint)Env.CpuCount; return true;
            case 0x40000006: return true;
        }
        return false;
    }

    public override bool TryReadMsr(int cpu, uint msr, out ulong value)
    {
        lock (_lock)
        {
            switch (msr)
            {
                case MsrGuestOsId: value = _guestOsId; return true;
                case MsrHypercall: value = _hypercall; return true;
                case MsrVpIndex: value = (ulong)cpu; return true;
                case MsrTimeRefCount:
                    Env.Clock.Now(cpu, out long ns, out _);
                    value = (ulong)ns / 100;
                    return true;
                case MsrReferenceTsc: value = _referenceTsc; return true;
                case MsrVpAssistPage: value = _vpAssist[Cpu(cpu)]; return true;
                case MsrTscFrequency: value = Env.Clock.TscHz; return true;
                case MsrApicFrequency: value = GimMinimal.ApicTimerHz; return true;
                case >= MsrCrashP0 and <= MsrCrashP4: value = _crash[msr - MsrCrashP0]; return true;
                case MsrCrashCtl: value = CrashNotify; return true;                          // the notifications we support
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
                case MsrGuestOsId:
                    _guestOsId = value;
                    if (value == 0) _hypercall &= ~1UL;          // clearing the OS id disables the hypercall page
                    return true;
                case MsrHypercall:
                    _hypercall = value;                          // enable (bit 0), locked (bit 1), page (bits 12+)
                    if ((value & 1) != 0)
                    {
                        if (_guestOsId == 0) { _hypercall &= ~1UL; return true; }   // TLFS: needs a guest OS id first
                        WriteHypercallPage(value & ~0xFFFUL);
                    }
                    return true;
                case MsrReferenceTsc:
                    _referenceTsc = value;
                    if ((value & 1) != 0) WriteTscPage();
                    return true;
                case MsrVpAssistPage:
                    // Every Hyper-V has it (Linux enables it on each CPU); nothing we offer uses the page.
                    _vpAssist[Cpu(cpu)] = value;
                    return true;
                case >= MsrCrashP0 and <= MsrCrashP4: _crash[msr - MsrCrashP0] = value; return true;
                case MsrCrashCtl:
                    _crashCtl = value;
                    if ((value & CrashNotify) != 0)
                        Env.Log($"GIM: Hyper-V: the guest reports a crash: P0=0x{_crash[0]:X16} P1=0x{_crash[1]:X16} P2=0x{_crash[2]:X16} P3=0x{_crash[3]:X16} P4=0x{_crash[4]:X16}");
                    return true;
            }
        }
        return false;
    }

    // mov eax, 2 (HV_STATUS_INVALID_HYPERCALL_CODE; zero-extends RAX); xor edx, edx (EDX:EAX for 32-bit callers); ret
    private static ReadOnlySpan<byte> HypercallStub => [0xB8, 0x02, 0x00, 0x00, 0x00, 0x31, 0xD2, 0xC3];

    private void WriteHypercallPage(ulong gpa)
    {
        Span<byte> page = stackalloc byte[4096];
        page.Fill(0xCC);
        HypercallStub.CopyTo(page);
        try { Env.Memory.Write(gpa, page); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Env.Log($"GIM: Hyper-V: hypercall page at 0x{gpa:X} is not in guest RAM ({e.Message})");
        }
    }

    /// <summary>
    /// The reference TSC page: reference time (100 ns units) = ((TSC × scale) >> 64) + offset. Where the
    /// guest's TSC is not the VM clock's (the KVM engine), the sequence is 0: the guest then reads the
    /// reference counter MSR instead, as the TLFS specifies.
    /// </summary>
    private void WriteTscPage()
    {
        ulong gpa = _referenceTsc & ~0xFFFUL;
        Span<byte> b = stackalloc byte[24];
        uint seq = 0;
        ulong scale = 0;
        long offset = 0;
        if (Env.TscIsClock)
        {
            scale = (ulong)(((UInt128)10_000_000 << 64) / Env.Clock.TscHz);
            Env.Clock.Now(0, out long ns, out ulong tsc);
            ulong fromTsc = (ulong)(((UInt128)tsc * scale) >> 64);
            offset = ns / 100 - (long)fromTsc;
            _tscSequence = _tscSequence + 1 is 0 or 0xFFFFFFFF ? 1 : _tscSequence + 1;
            seq = _tscSequence;
        }
        try
        {
            // Invalidate, write scale and offset, then publish the new sequence.
            BinaryPrimitives.WriteUInt32LittleEndian(b, 0);
            Env.Memory.Write(gpa, b[..4]);
            Thread.MemoryBarrier();
            BinaryPrimitives.WriteUInt32LittleEndian(b[4..], 0);
            BinaryPrimitives.WriteUInt64LittleEndian(b[8..], scale);
            BinaryPrimitives.WriteInt64LittleEndian(b[16..], offset);
            Env.Memory.Write(gpa + 4, b[4..]);
            Thread.MemoryBarrier();
            BinaryPrimitives.WriteUInt32LittleEndian(b, seq);
            Env.Memory.Write(gpa, b[..4]);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Env.Log($"GIM: Hyper-V: reference TSC page at 0x{gpa:X} is not in guest RAM ({e.Message})");
        }
    }

    public override void ClockChanged()
    {
        lock (_lock) if ((_referenceTsc & 1) != 0) WriteTscPage();
    }

    public override void Save(SsmWriter w)
    {
        lock (_lock)
        {
            w.PutU64(_guestOsId); w.PutU64(_hypercall); w.PutU64(_referenceTsc); w.PutU64(_crashCtl);
            foreach (ulong c in _crash) w.PutU64(c);
            w.PutU32(_tscSequence);
            w.PutU32((uint)_vpAssist.Length);
            foreach (ulong v in _vpAssist) w.PutU64(v);
        }
    }

    public override void Load(SsmReader r, uint version)
    {
        lock (_lock)
        {
            _guestOsId = r.GetU64(); _hypercall = r.GetU64(); _referenceTsc = r.GetU64(); _crashCtl = r.GetU64();
            for (int i = 0; i < _crash.Length; i++) _crash[i] = r.GetU64();
            _tscSequence = r.GetU32();
            uint n = r.GetU32();
            if (n != _vpAssist.Length) throw r.Error($"GIM Hyper-V state for {n} vCPUs, the VM has {_vpAssist.Length}");
            for (int i = 0; i < n; i++) _vpAssist[i] = r.GetU64();
            if ((_referenceTsc & 1) != 0) WriteTscPage();   // the restored clock may relate differently to the TSC
        }
    }
}
