namespace SharpBox.Vmm.Gim;

/// <summary>
/// Minimal: announces a virtualized environment (hypervisor-present bit, a signature leaf) and gives
/// the TSC and APIC timer frequencies in the timing leaf 0x40000010 (the VMware-style leaf other
/// hypervisors use too), so the guest need not calibrate them. No MSRs.
/// </summary>
public sealed class GimMinimal(GimEnvironment env) : GimProvider(env)
{
    /// <summary>The APIC timer runs at 1 GHz (the platform's local APIC counts virtual nanoseconds).</summary>
    public const ulong ApicTimerHz = 1_000_000_000;
    private static readonly uint[] s_leaves = { 0x40000000, 0x40000010 };

    public override string Name => "Minimal";
    public override GimProviderKind Kind => GimProviderKind.Minimal;
    public override IReadOnlyList<uint> Leaves => s_leaves;

    public override bool Cpuid(uint leaf, uint subLeaf, out uint eax, out uint ebx, out uint ecx, out uint edx)
    {
        eax = ebx = ecx = edx = 0;
        switch (leaf)
        {
            case 0x40000000:
                eax = 0x40000010;
                ebx = Sig("VBox"); ecx = Sig("VBox"); edx = Sig("VBox");
                return true;
            case 0x40000010:
                eax = (uint)(Env.Clock.TscHz / 1000);        // TSC frequency, kHz
                ebx = (uint)(ApicTimerHz / 1000);            // APIC timer (bus) frequency, kHz
                return true;
        }
        return false;
    }

    public override bool TryReadMsr(int cpu, uint msr, out ulong value) { value = 0; return false; }
    public override bool TryWriteMsr(int cpu, uint msr, ulong value) => false;
}
