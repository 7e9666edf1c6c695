using System.Runtime.InteropServices;
using SharpBox.Vmm.Iem.Fpu;

namespace SharpBox.Vmm.Tests.Fpu;

/// <summary>A 16-byte aligned FXSAVE area for tests, freed on dispose.</summary>
public sealed unsafe class FxBuffer : IDisposable
{
    public byte* P { get; private set; }
    public FxBuffer() { P = (byte*)NativeMemory.AlignedAlloc(512, 64); FxLayout.Reset(P); }
    public void Dispose() { if (P != null) { NativeMemory.AlignedFree(P); P = null; } }
    public Span<byte> Span => new(P, 512);
}

/// <summary>Builds native reference routines (the real instruction sequence on the host) for tests.</summary>
public static unsafe class HostRef
{
    /// <summary>
    /// Wraps <paramref name="body"/> as void f(byte* rdi, byte* rsi): saves host FCW/MXCSR, runs the body,
    /// FNINITs and restores them. The body may use rdi/rsi, rax, rcx, rdx, r8-r11 and xmm0-15 freely.
    /// </summary>
    public static delegate* unmanaged<byte*, byte*, void> Routine(ReadOnlySpan<byte> body)
    {
        var c = new byte[body.Length + 64];
        int n = 0;
        void B(params byte[] b) { b.CopyTo(c, n); n += b.Length; }
        B(0x48, 0x83, 0xEC, 0x18);              // sub rsp, 24
        B(0xD9, 0x3C, 0x24);                    // fnstcw [rsp]
        B(0x0F, 0xAE, 0x5C, 0x24, 0x04);        // stmxcsr [rsp+4]
        body.CopyTo(c.AsSpan(n)); n += body.Length;
        B(0xDB, 0xE2);                          // fnclex
        B(0xDB, 0xE3);                          // fninit
        B(0xD9, 0x2C, 0x24);                    // fldcw [rsp]
        B(0x0F, 0xAE, 0x54, 0x24, 0x04);        // ldmxcsr [rsp+4]
        B(0x48, 0x83, 0xC4, 0x18);              // add rsp, 24
        B(0xC3);
        return (delegate* unmanaged<byte*, byte*, void>)HostCode.Emit(c.AsSpan(0, n));
    }
}
