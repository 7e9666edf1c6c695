using System.Runtime.Versioning;
using SharpBox.Runtime.Linux;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Em;

namespace SharpBox.Vmm.Hm;

/// <summary>Guest-physical memory backed by host memory, as the platform hands it to a hardware engine.</summary>
public readonly record struct GuestMemoryRange(ulong GuestPhys, ulong Size, nint Host, bool ReadOnly);

/// <summary>How the KVM engine is set up for one VM.</summary>
[SupportedOSPlatform("linux")]
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
[SupportedOSPlatform("linux")]
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
    /// <summary>CPUID feature bits the host cannot virtualise, cleared from the shared model at creation (<see cref="ClampModel"/>).</summary>
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
            // A paravirt interface served in software (Hyper-V) keeps its MSRs away from the kernel's own.
            var wanted = options.UserSpaceMsrRanges.Concat(model.Paravirt?.SoftwareMsrRanges ?? Array.Empty<(uint, uint)>()).ToArray();
            if (UserSpaceMsrs && wanted.Length > 0)
            {
                var ranges = wanted;
                if (!vm.TryRouteMsrsToUserSpace(ranges, out var err)) throw new KvmException($"KVM: cannot route paravirt MSRs to user space: {err}");
            }
        }
        if (!UserSpaceMsrs && (options.UserSpaceMsrRanges.Count > 0 || model.Paravirt?.SoftwareMsrRanges.Count > 0))
            throw new KvmException("KVM: the host cannot send MSR accesses to user space (KVM_CAP_X86_USER_SPACE_MSR)");
        _stateMsrs = SelectStateMsrs(kvm);
        DroppedFeatures = ClampModel(model, kvm.GetSupportedCpuid());
        if (DroppedFeatures.Length > 0)
            options.Log?.Invoke($"HM: CPUID bits the host cannot virtualise, hidden from the guest on both engines: {DroppedFeatures}");
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
                    TscSettable = ProbeTscWrite(v);
                    if (!TscSettable)
                        Options.Log?.Invoke("HM: the host does not offset the guest TSC (it runs RDTSC natively): the guest sees the host's TSC, and a saved TSC is not restored on this engine");
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

    /// <summary>Writes to the TSC MSR take effect (VT-x/AMD-V offset it; kvm-pvm runs RDTSC natively and does not).</summary>
    public bool TscSettable { get; private set; }

    private static bool ProbeTscWrite(KvmVcpu v)
    {
        Span<uint> idx = stackalloc uint[] { Msr.Tsc };
        Span<ulong> val = stackalloc ulong[] { 1UL << 20 };
        if (v.SetMsrs(idx, val) != 1) return false;
        if (v.GetMsrs(idx, val) != 1) return false;
        return val[0] < 1UL << 40;   // a few seconds past 1 Mi ticks, not the host's uptime in ticks
    }

    /// <summary>
    /// Clears the feature bits of <paramref name="model"/> the host's KVM cannot virtualise, so the guest
    /// sees one CPU whichever engine runs it (the software CPU shares the model). Returns what was
    /// cleared ("" when nothing), e.g. "1:ecx=00800000".
    /// </summary>
    public static string ClampModel(CpuModel model, KvmCpuidEntry2[] supported)
    {
        uint Have(uint leaf, string reg)
        {
            foreach (var e in supported)
                if (e.Function == leaf && e.Index == 0)
                    return reg switch { "ebx" => e.Ebx, "ecx" => e.Ecx, _ => e.Edx };
            return 0;
        }
        var dropped = new List<string>();
        uint Clamp(uint leaf, string reg, uint want, uint keepAlways)
        {
            uint result = want & (Have(leaf, reg) | keepAlways);
            if (result != want) dropped.Add($"{leaf:X}:{reg}={want & ~result:X8}");
            return result;
        }
        // The hypervisor bit is ours to set; the APIC is the platform's, whoever emulates it; HTT follows the vCPU count.
        model.Std1Ecx = Clamp(1, "ecx", model.Std1Ecx, CpuModel.Hypervisor);
        model.Std1Edx = Clamp(1, "edx", model.Std1Edx, CpuModel.Apic | CpuModel.Htt);
        model.Std7Ebx = Clamp(7, "ebx", model.Std7Ebx, 0);
        model.Ext1Ecx = Clamp(0x80000001, "ecx", model.Ext1Ecx, 0);
        model.Ext1Edx = Clamp(0x80000001, "edx", model.Ext1Edx, 0);
        return string.Join(", ", dropped);
    }

    /// <summary>The guest's CPUID for one vCPU: every leaf of the (clamped) model, as the software CPU answers them.</summary>
    internal KvmCpuidEntry2[] BuildCpuid(uint apicId)
    {
        var leaves = Model.AllLeaves(apicId);
        var list = new KvmCpuidEntry2[leaves.Count];
        for (int i = 0; i < leaves.Count; i++)
        {
            var l = leaves[i];
            list[i] = new KvmCpuidEntry2
            {
                Function = l.Leaf, Index = l.SubLeaf, Flags = l.Indexed ? KvmConst.CpuidFlagSignificantIndex : 0,
                Eax = l.Eax, Ebx = l.Ebx, Ecx = l.Ecx, Edx = l.Edx,
            };
        }
        return list;
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
