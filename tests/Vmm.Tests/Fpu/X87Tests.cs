using SharpBox.Vmm.Iem.Fpu;

namespace SharpBox.Vmm.Tests.Fpu;

public unsafe class X87Tests
{
    static X87Pointers Ptr(byte op, byte modrm, ulong ip = 0x1000, ulong dp = 0x2000) =>
        new() { Fop = (ushort)(((op & 7) << 8) | modrm), Fip = ip, Fcs = 0x33, Fdp = dp, Fds = 0x2B };

    static X87Result Run(byte* fx, byte op, byte modrm, Span<byte> mem, ulong rflags = 2)
    {
        fixed (byte* m = mem) return X87.ExecuteHost(fx, op, modrm, m, rflags, Ptr(op, modrm));
    }

    [Fact]
    public void LoadAddStore_Double()
    {
        using var fx = new FxBuffer();
        Span<byte> m = stackalloc byte[16];
        BitConverter.TryWriteBytes(m, 1.5);
        Assert.False(Run(fx.P, 0xDD, 0x00, m).Faulted);           // fld qword
        BitConverter.TryWriteBytes(m, 2.25);
        Assert.False(Run(fx.P, 0xDC, 0x00, m).Faulted);           // fadd qword
        m.Clear();
        var r = Run(fx.P, 0xDD, 0x18, m);                          // fstp qword
        Assert.False(r.Faulted);
        Assert.Equal(3.75, BitConverter.ToDouble(m));
        Assert.Equal(0, FxLayout.Top(fx.P));
        Assert.Equal(0, fx.P[FxLayout.Ftw]);
        // Pointers are the guest's, not the host's.
        Assert.Equal(0x518, *(ushort*)(fx.P + FxLayout.Fop));
        Assert.Equal(0x1000UL, *(ulong*)(fx.P + FxLayout.Fip));
        Assert.Equal(0x2000UL, *(ulong*)(fx.P + FxLayout.Fdp));
    }

    [Fact]
    public void Transcendental_UsesHostFpu()
    {
        using var fx = new FxBuffer();
        Span<byte> m = stackalloc byte[16];
        BitConverter.TryWriteBytes(m, Math.PI / 6);
        Run(fx.P, 0xDD, 0x00, m);                                   // fld qword
        Run(fx.P, 0xD9, 0xFE, default);                             // fsin
        Run(fx.P, 0xDD, 0x18, m);                                   // fstp qword
        Assert.Equal(0.5, BitConverter.ToDouble(m), 15);
    }

    [Fact]
    public void DivideByZero_MaskedAndUnmasked()
    {
        using var fx = new FxBuffer();
        Span<byte> m = stackalloc byte[16];
        BitConverter.TryWriteBytes(m, 1.0);
        Run(fx.P, 0xDD, 0x00, m);
        m.Clear();                                                  // 0.0
        var r = Run(fx.P, 0xDC, 0x30, m);                           // fdiv qword 0.0 (masked)
        Assert.Equal(FxLayout.FswZE, r.Fsw & 0xFF);
        Assert.False(FxLayout.X87ExceptionPending(fx.P));
        Run(fx.P, 0xDD, 0x18, m);
        Assert.Equal(double.PositiveInfinity, BitConverter.ToDouble(m));

        X87.Fninit(fx.P);
        X87.Fldcw(fx.P, 0x37B);                                     // unmask ZE
        BitConverter.TryWriteBytes(m, 1.0);
        Run(fx.P, 0xDD, 0x00, m);
        m.Clear();
        r = Run(fx.P, 0xDC, 0x30, m);
        Assert.Equal(FxLayout.FswZE | FxLayout.FswES, r.Fsw & 0xFF);
        Assert.True((r.Fsw & FxLayout.FswB) != 0);
        Assert.True(FxLayout.X87ExceptionPending(fx.P));            // #MF due at the next waiting instruction
        // Unmasked: the destination keeps its operand.
        Assert.Equal(0x3FFF, *(ushort*)(FxLayout.St(fx.P, 0) + 8));
    }

    [Fact]
    public void Fcomi_ReturnsFlags_AndFcmovReadsThem()
    {
        using var fx = new FxBuffer();
        Span<byte> m = stackalloc byte[16];
        BitConverter.TryWriteBytes(m, 2.0); Run(fx.P, 0xDD, 0x00, m);
        BitConverter.TryWriteBytes(m, 1.0); Run(fx.P, 0xDD, 0x00, m);   // st0 = 1, st1 = 2
        var r = Run(fx.P, 0xDB, 0xF1, default, 0x8D5 | 2);              // fcomi st0, st1 -> CF=1 (below)
        Assert.Equal(1u, r.Rflags & 0x8D5);
        r = Run(fx.P, 0xDA, 0xC1, default, 0x2 | 1);                    // fcmovb st0, st1 with CF=1
        Run(fx.P, 0xDD, 0x18, m);
        Assert.Equal(2.0, BitConverter.ToDouble(m));
    }

    [Fact]
    public void HostUndefinedOpcode_IsReportedNotFatal()
    {
        using var fx = new FxBuffer();
        var before = fx.Span.ToArray();
        var r = Run(fx.P, 0xD9, 0xD1, default);                     // reserved: #UD on the host
        Assert.True(r.Faulted);
        Assert.Equal(HostFaultTrap.SIGILL, r.Signal);
        Assert.Equal(before, fx.Span.ToArray());
        Assert.Equal(X87Op.Invalid, X87Forms.Classify(0xD9, 0xD1).Op);
    }

    [Fact]
    public void ManagedDivideByZero_StillThrows_AfterTrapInstalled()
    {
        HostFaultTrap.EnsureInstalled();
        int zero = Environment.ProcessorCount - Environment.ProcessorCount;
        Assert.Throws<DivideByZeroException>(() => 1 / zero);
    }

    [Fact]
    public void Fldcw_NormalizesAndRaisesEs()
    {
        using var fx = new FxBuffer();
        X87.Fldcw(fx.P, 0xFFFF);
        Assert.Equal(0x1F7F, X87.Fnstcw(fx.P));
        X87.Fldcw(fx.P, 0);
        Assert.Equal(0x0040, X87.Fnstcw(fx.P));
        X87.Fldcw(fx.P, 0x37F);
        *(ushort*)(fx.P + FxLayout.Fsw) = FxLayout.FswZE;
        X87.Fldcw(fx.P, 0x37B);
        Assert.Equal(FxLayout.FswZE | FxLayout.FswES | FxLayout.FswB, X87.Fnstsw(fx.P));
        X87.Fnclex(fx.P);
        Assert.Equal(0, X87.Fnstsw(fx.P));
    }

    [Fact]
    public void FullTagWord_ClassifiesContents()
    {
        using var fx = new FxBuffer();
        // TOP = 6: ST0 = R6 (valid 1.0), ST1 = R7 (zero), ST2 = R0 (infinity), R1..R5 empty.
        *(ushort*)(fx.P + FxLayout.Fsw) = 6 << 11;
        fx.P[FxLayout.Ftw] = 0b1100_0001;
        *(ulong*)FxLayout.St(fx.P, 0) = 1UL << 63; *(ushort*)(FxLayout.St(fx.P, 0) + 8) = 0x3FFF;
        *(ulong*)FxLayout.St(fx.P, 2) = 1UL << 63; *(ushort*)(FxLayout.St(fx.P, 2) + 8) = 0x7FFF;
        Assert.Equal(0b0100_1111_1111_1110, FxLayout.FullTagWord(fx.P));
        Assert.Equal(0b1100_0001, FxLayout.AbridgedFromFull(0b0100_1111_1111_1110));
    }
}
