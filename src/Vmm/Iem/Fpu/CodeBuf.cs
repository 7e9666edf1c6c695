namespace SharpBox.Vmm.Iem.Fpu;

/// <summary>A tiny byte emitter for the host stubs (machine code written out by hand, no assembler).</summary>
public ref struct CodeBuf
{
    readonly Span<byte> _buf;
    int _n;

    public CodeBuf(Span<byte> buf) { _buf = buf; _n = 0; }

    public readonly int Length => _n;
    public readonly ReadOnlySpan<byte> Code => _buf[.._n];

    public void B(ReadOnlySpan<byte> bytes) { bytes.CopyTo(_buf[_n..]); _n += bytes.Length; }
    public void B(byte b) { _buf[_n++] = b; }
    public void D(int v) { BitConverter.TryWriteBytes(_buf[_n..], v); _n += 4; }
    public void Q(long v) { BitConverter.TryWriteBytes(_buf[_n..], v); _n += 8; }

    /// <summary>Emits a short jump opcode with a placeholder displacement; returns the fixup position.</summary>
    public int Jcc8(byte opcode) { B(opcode); B(0); return _n - 1; }
    /// <summary>Points the rel8 at <paramref name="at"/> to the current position.</summary>
    public void Bind8(int at) => _buf[at] = checked((byte)(sbyte)(_n - (at + 1)));

    /// <summary>lea r11, [rip + rel32] with a placeholder; returns the fixup position.</summary>
    public int LeaR11Rip() { B([0x4C, 0x8D, 0x1D]); D(0); return _n - 4; }
    /// <summary>Points the rel32 at <paramref name="at"/> to the current position.</summary>
    public void Bind32(int at) => BitConverter.TryWriteBytes(_buf[at..], _n - (at + 4));
}
