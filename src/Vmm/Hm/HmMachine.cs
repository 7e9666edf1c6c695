using SharpBox.Runtime.Linux;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Em;

namespace SharpBox.Vmm.Hm;

/// <summary>Guest-physical memory backed by host memory, as the platform hands it to a hardware engine.</summary>
public readonly record struct GuestMemoryRange(ulong GuestPhys, ulong Size, nint Host, bool ReadOnly);

/// <summary>How the KVM engine is set up for one VM.</summary>
public sealed class HmOptions
{
    /// <summary>
    /// Use KVM's in-kernel PIC/IOAPIC/LAPIC instead of the platform's devices. Devices then raise
    /// interrupts through <see cref="KvmIrqLine"/> (or irqfd), HLT waits in the kernel, and
    /// <see cref="IVirtualCpu.SetInterruptLine"/> is not used. Off by default: the platform's interrupt
    /// controllers are shared with the software engine and saved the same way.
    /// </summary>
    public bool InKernelIrqchip { get; init; }
    /// <summary>Also create the in-kernel i8254 (needs <see cref="InKernelIrqchip"/>).</summary>
    public bool InKernelPit { get; init; }
    /// <summary>MSR ranges (e.g. a paravirt provider's) to take from the kernel and serve through <see cref="ICpuBus"/>.</summary>
    public IReadOnlyList<(uint First, uint Count)> UserSpaceMsrRanges { get; init; } = Array.Empty<(uint, uint)>();
    /// <summary>Where log lines go (the VM's release log); null: nowhere.</summary>
    public Action<string>? Log { get; init; }
    /// <summary>The device node (tests point it elsewhere to check the error paths).</summary>
    public string DevicePath { get; init; } = KvmSystem.DefaultPath;
}

/// <summary>
/// What the vCPUs of one VM share on the KVM engine: the KVM VM, its memory slots, the CPUID and MSR
/// lists derived from the VM's <see cref="CpuModel"/>, and the platform bus that serves exits.
/// </summary>
public sealed class HmMachine : IDisposable
{
    // Real-mode TSS and EPT identity map for Intel VMX: three pages plus one, below the BIOS, where QEMU puts them.
    private const uint TssAddress = 0xFEFFD000;
    private const ulong IdentityMapAddress = 0xFEFFC000;

    private readonly List<HmCpu> _cpus = new();
    private readonly uint[] _stateMsrs;
    private uint _nextSlot;

    public KvmSystem Kvm { get; }
    public KvmVm Vm { get; }
    public ICpuBus Bus { get; }
    public CpuModel Model { get; }
    public HmOptions Options { get; }
    /// <summary>Host TSC frequency as KVM reports it: the rate the guest's TSC runs at on this engine.</summary>
    public ulong GuestTscHz { get; private set; }
    /// <summary>CPUID feature bits of the model the host cannot virtualise (left out of the guest's CPUID).</summary>
    public string DroppedFeatures { get; private set; } = "";
    /// <summary>MSR accesses the kernel sends to user space (KVM_CAP_X86_USER_SPACE_MSR): served through the bus.</summary>
    public bool UserSpaceMsrs { get; }

    private HmMachine(KvmSystem kvm, KvmVm vm, ICpuBus bus, CpuModel model, HmOptions options)
    {
        Kvm = kvm; Vm = vm; Bus = bus; Model = model; Options = options;
        vm.SetTssAddress(TssAddress);
        try { vm.SetIdentityMapAddress(IdentityMapAddress); } catch (KvmException) { /* AMD and PVM hosts do not need it */ }
        if (options.InKernelIrqchip)
        {
            if (!vm.TryCreateIrqchip(out var err)) throw new KvmException($"KVM: in-kernel irqchip requested but {err}");
            if (options.InKernelPit && !vm.TryCreatePit(out err)) throw new KvmException($"KVM: in-kernel PIT requested but {err}");
        }
        // MSRs KVM does not implement (and any the caller asks for) come to the bus, like they do on IEM.
        if (kvm.CheckExtension(KvmIoctl.CapX86UserSpaceMsr) != 0)
        {
            UserSpaceMsrs = vm.TryEnableCap(KvmIoctl.CapX86UserSpaceMsr,
                KvmConst.MsrExitReasonUnknown | KvmConst.MsrExitReasonInval | KvmConst.MsrExitReasonFilter);
            if (UserSpaceMsrs && options.UserSpaceMsrRanges.Count > 0)
            {
                var ranges = options.UserSpaceMsrRanges.ToArray();
                if (!vm.TryRouteMsrsToUserSpace(ranges, out var err)) throw new KvmException($"KVM: cannot route paravirt MSRs to user space: {err}");
            }
        }
        if (!UserSpaceMsrs && options.UserSpaceMsrRanges.Count > 0)
            throw new KvmException("KVM: the host cannot send MSR accesses to user space (KVM_CAP_X86_USER_SPACE_MSR)");
        _stateMsrs = SelectStateMsrs(kvm);
    }

    /// <summary>Opens /dev/kvm and creates the VM with its memory. Throws <see cref="KvmException"/> when the host cannot.</summary>
    public static HmMachine Create(ICpuBus bus, CpuModel model, IReadOnlyList<GuestMemoryRange> memory, HmOptions? options = null)
    {
        options ??= new HmOptions();
        var kvm = KvmSystem.Open(options.DevicePath);
        KvmVm? vm = null;
        try
        {
            vm = kvm.CreateVm();
            var m = new HmMachine(kvm, vm, bus, model, options);
            m.SetMemoryMap(memory);
            return m;
        }
        catch
        {
            vm?.Dispose();
            kvm.Dispose();
            throw;
        }
    }

    /// <summary>Replaces every memory slot (the platform's map changed). Safe while vCPUs run.</summary>
    public void SetMemoryMap(IReadOnlyList<GuestMemoryRange> memory)
    {
        lock (_cpus)
        {
            Vm.RemoveAllMemory();
            _nextSlot = 0;
            foreach (var r in memory)
                if (r.Size != 0) Vm.SetMemory(_nextSlot++, r.GuestPhys, r.Size, r.Host, r.ReadOnly);
        }
    }

    public HmCpu CreateCpu(int index)
    {
        lock (_cpus)
        {
            var v = Vm.CreateVcpu(index);
            try
            {
                v.SetCpuid(BuildCpuid((uint)index));
                if (GuestTscHz == 0)
                {
                    int khz = KvmNative.Ioctl(v.Fd, KvmIoctl.GetTscKhz, 0);
                    GuestTscHz = khz > 0 ? (ulong)khz * 1000 : Model.TscHz;
                }
                var cpu = new HmCpu(this, v, index);
                _cpus.Add(cpu);
                return cpu;
            }
            catch { v.Dispose(); throw; }
        }
    }

    public IReadOnlyList<HmCpu> Cpus { get { lock (_cpus) return _cpus.ToArray(); } }

    internal ReadOnlySpan<uint> StateMsrs => _stateMsrs;

    /// <summary>
    /// The guest's CPUID for one vCPU: the model's leaves (the same the software CPU answers), with the
    /// feature bits the host cannot virtualise cleared (reported once in <see cref="DroppedFeatures"/>).
    /// </summary>
    internal KvmCpuidEntry2[] BuildCpuid(uint apicId)
    {
        var supported = Kvm.GetSupportedCpuid();
        KvmCpuidEntry2? Find(uint f, uint i)
        {
            foreach (var e in supported) if (e.Function == f && (e.Index == i || (e.Flags & KvmConst.CpuidFlagSignificantIndex) == 0)) return e;
            return null;
        }
        var dropped = new List<string>();
        uint Mask(uint leaf, uint sub, string reg, uint want, uint keepAlways)
        {
            var s = Find(leaf, sub);
            uint have = s is null ? 0 : reg switch { "eax" => s.Value.Eax, "ebx" => s.Value.Ebx, "ecx" => s.Value.Ecx, _ => s.Value.Edx };
            uint result = want & (have | keepAlways);
            if (result != want) dropped.Add($"{leaf:X}.{sub}:{reg}={want & ~result:X8}");
            return result;
        }
        var leaves = Model.AllLeaves(apicId);
        var list = new List<KvmCpuidEntry2>(leaves.Count);
        foreach (var l in leaves)
        {
            var e = new KvmCpuidEntry2
            {
                Function = l.Leaf, Index = l.SubLeaf, Flags = l.Indexed ? KvmConst.CpuidFlagSignificantIndex : 0,
                Eax = l.Eax, Ebx = l.Ebx, Ecx = l.Ecx, Edx = l.Edx,
            };
            switch (l.Leaf)
            {
                case 1:
                    // The hypervisor bit is ours to set; the APIC is the platform's, whoever emulates it.
                    e.Ecx = Mask(1, 0, "ecx", e.Ecx, CpuModel.Hypervisor);
                    e.Edx = Mask(1, 0, "edx", e.Edx, CpuModel.Apic | CpuModel.Htt);
                    break;
                case 7 when l.SubLeaf == 0:
                    e.Ebx = Mask(7, 0, "ebx", e.Ebx, 0);
                    e.Ecx = Mask(7, 0, "ecx", e.Ecx, 0);
                    e.Edx = Mask(7, 0, "edx", e.Edx, 0);
                    break;
                case 0x80000001:
                    e.Ecx = Mask(0x80000001, 0, "ecx", e.Ecx, 0);
                    e.Edx = Mask(0x80000001, 0, "edx", e.Edx, 0);
                    break;
            }
            list.Add(e);
        }
        if (apicId == 0 && dropped.Count > 0)
        {
            DroppedFeatures = string.Join(", ", dropped);
            Options.Log?.Invoke($"HM: CPUID bits the host cannot virtualise, hidden from the guest: {DroppedFeatures}");
        }
        return list.ToArray();
    }

    /// <summary>The architectural MSRs of <see cref="CpuContext"/> that this host's KVM saves and restores.</summary>
    private static uint[] SelectStateMsrs(KvmSystem kvm)
    {
        var known = new HashSet<uint>(kvm.GetMsrIndexList());
        var want = new List<uint>
        {
            Msr.Tsc, Msr.SysenterCs, Msr.SysenterEsp, Msr.SysenterEip, Msr.Star, Msr.Lstar, Msr.Cstar, Msr.Sfmask,
            Msr.KernelGsBase, Msr.Pat, Msr.TscAux, Msr.MiscEnable, Msr.FeatureControl, Msr.SpecCtrl, Msr.MtrrDefType,
            Msr.MtrrFix64K, Msr.MtrrFix16K80, Msr.MtrrFix16KA0,
        };
        for (uint m = Msr.MtrrFix4KC0; m <= Msr.MtrrFix4KF8; m++) want.Add(m);
        for (uint m = Msr.MtrrPhysBase0; m <= Msr.MtrrPhysMask7; m++) want.Add(m);
        // KVM emulates PAT, MTRRs and MISC_ENABLE itself but does not always list them; keep those always.
        return want.Where(m => known.Contains(m) || m == Msr.Pat || m == Msr.MiscEnable || (m >= 0x200 && m <= 0x2FF)).ToArray();
    }

    internal void Forget(HmCpu cpu) { lock (_cpus) _cpus.Remove(cpu); }

    public void Dispose()
    {
        foreach (var c in Cpus) c.Dispose();
        Vm.Dispose();
        Kvm.Dispose();
    }
}
