namespace SharpBox.Vmm.Cpum;

/// <summary>
/// The hypervisor CPUID range (0x40000000-0x4FFFFFFF) of a paravirtualization interface (GIM's
/// provider), answered by <see cref="CpuModel"/> on both engines.
/// </summary>
public interface IHypervisorCpuid
{
    /// <summary>Fills the registers for a hypervisor leaf; leaves it answers with zeros return false.</summary>
    bool Cpuid(uint leaf, uint subLeaf, out uint eax, out uint ebx, out uint ecx, out uint edx);
    /// <summary>Every leaf it defines, for engines that load CPUID up front (KVM_SET_CPUID2).</summary>
    IReadOnlyList<uint> Leaves { get; }
    /// <summary>
    /// MSR ranges the interface implements in software: a hardware engine must send guest accesses to
    /// them to user space (the platform bus) instead of letting its kernel answer.
    /// </summary>
    IReadOnlyList<(uint First, uint Count)> SoftwareMsrRanges { get; }
}
