using System.Runtime.Versioning;
using SharpBox.Runtime.Linux;
using SharpBox.Vmm.Pdm;

namespace SharpBox.Vmm.Hm;

/// <summary>
/// A device's interrupt line wired to KVM's in-kernel irqchip (<see cref="HmOptions.InKernelIrqchip"/>):
/// the level goes to GSI <see cref="Gsi"/> with KVM_IRQ_LINE, no user-space interrupt controller involved.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class KvmIrqLine(KvmVm vm, uint gsi) : IIrqLine
{
    public uint Gsi => gsi;
    public void SetLevel(bool high) => vm.SetIrqLine(gsi, high);
}

/// <summary>
/// An edge-triggered line through an irqfd: each <see cref="Pulse"/> is one 8-byte write to the eventfd,
/// which the kernel turns into an interrupt on the GSI without a system call into KVM (any thread, e.g.
/// the I/O thread completing a request).
/// </summary>
[SupportedOSPlatform("linux")]
public sealed unsafe class KvmIrqfdLine : IIrqLine, IDisposable
{
    private readonly KvmVm _vm;
    private readonly int _fd;
    public uint Gsi { get; }

    public KvmIrqfdLine(KvmVm vm, uint gsi)
    {
        _vm = vm;
        Gsi = gsi;
        _fd = vm.AddIrqfd(gsi);
    }

    public void Pulse()
    {
        ulong one = 1;
        KvmNative.Write(_fd, &one, 8);
    }

    /// <summary>Edge semantics: a rising level pulses the line; falling does nothing.</summary>
    public void SetLevel(bool high) { if (high) Pulse(); }

    public void Dispose() => _vm.RemoveIrqfd(Gsi);
}
