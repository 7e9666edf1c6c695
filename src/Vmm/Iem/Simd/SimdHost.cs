using System.Runtime.Intrinsics.X86;

namespace SharpBox.Vmm.Iem.Simd;

/// <summary>
/// What the host contributes to the CPU model: the SSE3/SSSE3/SSE4.x kernels and floating-point stubs use
/// the host's own instructions, so those extensions are advertised only when the host has them.
/// </summary>
public static class SimdHost
{
    /// <summary>CPUID.1:ECX bits (SSE3, SSSE3, SSE4.1, SSE4.2) this host lets the model advertise.</summary>
    public static uint Std1Ecx { get; } =
        (Sse3.IsSupported ? Cpum.CpuModel.Sse3 : 0) |
        (Ssse3.IsSupported ? Cpum.CpuModel.Ssse3 : 0) |
        (Sse41.IsSupported ? Cpum.CpuModel.Sse41 : 0) |
        (Sse42.IsSupported ? Cpum.CpuModel.Sse42 : 0);
}
