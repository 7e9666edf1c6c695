using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Pdm;
using SharpBox.Vmm.Ssm;

namespace SharpBox.Vmm.Gim;

/// <summary>The paravirtualization interfaces VirtualBox offers (VBoxManage modifyvm --paravirt-provider); "default" and "legacy" are resolved by Main.</summary>
public enum GimProviderKind { None, Minimal, Kvm, HyperV }

/// <summary>The VM's clocks as a paravirt provider needs them.</summary>
public interface IGimClock
{
    /// <summary>The frequency of the guest's TSC.</summary>
    ulong TscHz { get; }
    /// <summary>
    /// The virtual clock (ns since power-on, standing still while paused) and vCPU <paramref name="cpu"/>'s
    /// TSC at the same instant: the pair a pvclock structure or a reference TSC page is built from.
    /// </summary>
    void Now(int cpu, out long ns, out ulong tsc);
    /// <summary>The wall-clock time (ns since the Unix epoch) at which the virtual clock read 0.</summary>
    long WallClockAtZeroNs { get; }
}

/// <summary>Everything a provider works with: the CPU model it extends, guest memory for its shared pages, the clocks, the log.</summary>
public sealed class GimEnvironment
{
    public required CpuModel Model { get; init; }
    public required int CpuCount { get; init; }
    public required IGuestMemory Memory { get; init; }
    public required IGimClock Clock { get; init; }
    public Action<string> Log { get; init; } = _ => { };
    /// <summary>
    /// The guest's TSC is <see cref="IGimClock"/>'s (the software CPU). False on the KVM engine, where the
    /// guest reads the host's TSC: TSC-based shared pages are then left invalid so the guest uses the MSRs.
    /// </summary>
    public bool TscIsClock { get; set; } = true;
    /// <summary>
    /// MSR access of the vCPUs' engine for MSRs it implements natively (the KVM engine's in-kernel
    /// kvmclock), used to save and restore them; null when the provider serves every MSR itself.
    /// </summary>
    public IEngineMsrs? EngineMsrs { get; set; }
}

/// <summary>MSRs an execution engine implements itself (read and written while the vCPUs are stopped).</summary>
public interface IEngineMsrs
{
    bool TryReadMsr(int cpu, uint msr, out ulong value);
    bool TryWriteMsr(int cpu, uint msr, ulong value);
}

/// <summary>
/// A paravirtualization interface (GIM provider): its hypervisor CPUID leaves, the MSRs it serves
/// (through the platform bus, on either engine), and its saved state.
/// </summary>
public abstract class GimProvider : IHypervisorCpuid
{
    protected GimEnvironment Env { get; }

    protected GimProvider(GimEnvironment env) { Env = env; }

    public abstract string Name { get; }
    public abstract GimProviderKind Kind { get; }
    public abstract bool Cpuid(uint leaf, uint subLeaf, out uint eax, out uint ebx, out uint ecx, out uint edx);
    public abstract IReadOnlyList<uint> Leaves { get; }
    public virtual IReadOnlyList<(uint First, uint Count)> SoftwareMsrRanges => Array.Empty<(uint, uint)>();

    /// <summary>RDMSR of one of its MSRs; false: not its MSR (or #GP).</summary>
    public abstract bool TryReadMsr(int cpu, uint msr, out ulong value);
    /// <summary>WRMSR of one of its MSRs; false: not its MSR (or #GP).</summary>
    public abstract bool TryWriteMsr(int cpu, uint msr, ulong value);

    public virtual uint StateVersion => 1;
    public virtual void Save(SsmWriter w) { }
    public virtual void Load(SsmReader r, uint version) { }
    /// <summary>The clock was restored or resumed: rewrite the shared time structures.</summary>
    public virtual void ClockChanged() { }

    /// <summary>Makes the provider the model's hypervisor leaves and sets CPUID.1:ECX[31] (hypervisor present), as VirtualBox's GIM does.</summary>
    public void Attach()
    {
        Env.Model.Paravirt = this;
        Env.Model.Std1Ecx |= CpuModel.Hypervisor;
    }

    /// <summary>The provider for a kind; None clears the hypervisor-present bit and installs nothing.</summary>
    public static GimProvider? Create(GimProviderKind kind, GimEnvironment env)
    {
        GimProvider? p = kind switch
        {
            GimProviderKind.Minimal => new GimMinimal(env),
            GimProviderKind.Kvm => new GimKvm(env),
            GimProviderKind.HyperV => new GimHyperV(env),
            _ => null,
        };
        if (p is null)
        {
            env.Model.Paravirt = null;
            env.Model.Std1Ecx &= ~CpuModel.Hypervisor;
            env.Log("GIM: paravirtualization provider: none (no hypervisor CPUID leaves, hypervisor-present bit clear)");
            return null;
        }
        p.Attach();
        env.Log($"GIM: paravirtualization provider: {p.Name}");
        return p;
    }

    /// <summary>Parses a provider name as VBoxManage and the .vbox spell it (none, minimal, kvm, hyperv; case-insensitive).</summary>
    public static GimProviderKind Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "none" or "" => GimProviderKind.None,
        "minimal" => GimProviderKind.Minimal,
        "kvm" => GimProviderKind.Kvm,
        "hyperv" or "hyper-v" => GimProviderKind.HyperV,
        _ => throw new ArgumentException($"GIM: unknown paravirtualization provider '{name}' (expected none, minimal, kvm or hyperv; default and legacy are resolved before the VM starts)"),
    };

    /// <summary>Four ASCII characters as CPUID returns them in a register.</summary>
    protected static uint Sig(string four) => (uint)four[0] | (uint)four[1] << 8 | (uint)four[2] << 16 | (uint)four[3] << 24;
}

/// <summary>
/// The pvclock scale: ns = ((tsc_delta shifted by <see cref="Shift"/>) × <see cref="Mul"/>) >> 32, the
/// form kvmclock's pvclock_vcpu_time_info carries (tsc_to_system_mul, tsc_shift).
/// </summary>
public readonly record struct PvclockScale(uint Mul, sbyte Shift)
{
    /// <summary>The scale converting ticks of <paramref name="tscHz"/> to nanoseconds: mul is below 2^32, as large as possible.</summary>
    public static PvclockScale For(ulong tscHz)
    {
        if (tscHz == 0) throw new ArgumentOutOfRangeException(nameof(tscHz), "TSC frequency of 0");
        // Find the shift that puts 1e9 / (tscHz * 2^shift) in [0.5, 1): mul = that ratio × 2^32.
        int shift = 0;
        UInt128 num = 1_000_000_000, den = tscHz;
        while (num >= den) { den <<= 1; shift++; }     // ratio >= 1 (a TSC slower than 1 GHz): shift the delta left
        while (num * 2 < den) { num <<= 1; shift--; }  // ratio < 0.5: shift the delta right, keep mul's precision
        ulong mul = (ulong)((num << 32) / den);
        return new PvclockScale((uint)Math.Min(mul, uint.MaxValue), (sbyte)shift);
    }

    /// <summary>Applies the scale as the guest does (pvclock_scale_delta).</summary>
    public ulong Apply(ulong delta)
    {
        if (Shift < 0) delta >>= -Shift; else delta <<= Shift;
        return (ulong)(((UInt128)delta * Mul) >> 32);
    }
}
