using SharpBox.Vmm.Iem.Fpu;

namespace SharpBox.Vmm.Tests.Fpu;

/// <summary>
/// The guest-visible x87 save formats, checked against the host CPU executing the real instruction on the
/// same state (64-bit user mode gives the protected-mode 32-bit format, and the 16-bit one with 66h).
/// The pointer fields (FIP/FCS/FOP/FDP/FDS) are the host's there, so they are compared separately.
/// </summary>
public unsafe class X87FormatTests
{
    static readonly byte[] s_interesting16 = [0x00, 0x01, 0x3F, 0x40, 0x7F, 0x80, 0xC0, 0xFF];

    /// <summary>A random but loadable FXSAVE image with the x87 values that matter for tags and formats.</summary>
    static byte[] Image(Random rng)
    {
        var img = new byte[512];
        rng.NextBytes(img);
        img[5] = 0;
        BitConverter.TryWriteBytes(img.AsSpan(24), (uint)(rng.Next() & 0xFFFF));      // valid MXCSR
        for (int i = 0; i < 8; i++)
        {
            var r = img.AsSpan(32 + 16 * i, 16);
            ulong mant = (ulong)rng.NextInt64();
            int kind = rng.Next(8);
            ushort exp = kind switch
            {
                0 => 0, 1 => 0x7FFF, 2 => 0x3FFF, 3 => (ushort)rng.Next(1, 0x7FFF),
                _ => (ushort)rng.Next(0, 0x8000),
            };
            if (kind == 0 && rng.Next(2) == 0) mant = 0;
            if (rng.Next(2) == 0) exp |= 0x8000;
            BitConverter.TryWriteBytes(r, mant);
            BitConverter.TryWriteBytes(r[8..], exp);
        }
        return img;
    }

    /// <summary>Masks what the image leaves pending: the host would raise #MF at the next waiting instruction.</summary>
    static void NoPending(byte[] img) => img[0] |= (byte)(img[2] & 0x3F);

    static void SameExcept(byte[] expected, byte[] actual, int len, params (int from, int to)[] skip)
    {
        for (int i = 0; i < len; i++)
        {
            bool skipped = false;
            foreach (var (f, t) in skip) if (i >= f && i < t) skipped = true;
            if (!skipped && expected[i] != actual[i])
                Assert.Fail($"byte {i}: host {expected[i]:X2}, ours {actual[i]:X2}\nhost {Convert.ToHexString(expected, 0, len)}\nours {Convert.ToHexString(actual, 0, len)}");
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Fnstenv_MatchesHost(bool op16)
    {
        // fxrstor [rdi]; [66] fnstenv [rsi+512]; fxsave [rdi]
        var body = op16 ? new byte[] { 0x0F, 0xAE, 0x0F, 0x66, 0xD9, 0xB6, 0x00, 0x02, 0, 0, 0x0F, 0xAE, 0x07 }
                        : new byte[] { 0x0F, 0xAE, 0x0F, 0xD9, 0xB6, 0x00, 0x02, 0, 0, 0x0F, 0xAE, 0x07 };
        var native = HostRef.Routine(body);
        var fmt = op16 ? FpuEnvFormat.Protected16 : FpuEnvFormat.Protected32;
        var rng = new Random(1234 + (op16 ? 1 : 0));
        using var fx = new FxBuffer();
        using var host = new FxBuffer();
        var hostOut = new byte[1024];
        for (int n = 0; n < 300; n++)
        {
            var img = Image(rng);
            Assert.True(X87.FxrstorImage(fx.P, img, rexW: false, 16, osfxsr: true));
            var ours = new byte[28];
            X87.Fnstenv(fx.P, ours, fmt);

            img.CopyTo(host.Span);
            fixed (byte* o = hostOut) native(host.P, o);
            var hostEnv = hostOut.AsSpan(512, 28).ToArray();
            if (op16) SameExcept(hostEnv, ours, 14, (6, 14));
            else SameExcept(hostEnv, ours, 28, (12, 28));
            // FNSTENV masks all exceptions afterwards (and ES follows).
            Assert.Equal(*(ushort*)host.P, *(ushort*)fx.P);
            Assert.Equal(*(ushort*)(host.P + 2), *(ushort*)(fx.P + 2));
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Fldenv_MatchesHost(bool op16)
    {
        // fxrstor [rdi]; [66] fldenv [rsi]; fxsave [rdi]
        var body = op16 ? new byte[] { 0x0F, 0xAE, 0x0F, 0x66, 0xD9, 0x26, 0x0F, 0xAE, 0x07 }
                        : new byte[] { 0x0F, 0xAE, 0x0F, 0xD9, 0x26, 0x0F, 0xAE, 0x07 };
        var native = HostRef.Routine(body);
        var fmt = op16 ? FpuEnvFormat.Protected16 : FpuEnvFormat.Protected32;
        var rng = new Random(99 + (op16 ? 1 : 0));
        using var fx = new FxBuffer();
        using var host = new FxBuffer();
        for (int n = 0; n < 300; n++)
        {
            var img = Image(rng);
            NoPending(img);
            var env = new byte[28];
            rng.NextBytes(env);
            Assert.True(X87.FxrstorImage(fx.P, img, false, 16, true));
            X87.Fldenv(fx.P, env, fmt);
            var ours = new byte[512];
            X87.FxsaveImage(fx.P, ours, false, 16, true);

            img.CopyTo(host.Span);
            fixed (byte* e = env) native(host.P, e);
            SameExcept(host.Span.ToArray(), ours, 416, (6, 24), (28, 32));
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FnsaveFrstor_MatchHost(bool op16)
    {
        // fxrstor [rdi]; [66] fnsave [rsi]; [66] frstor [rsi+128]; fxsave [rdi]
        var p = op16 ? new byte[] { 0x66 } : [];
        var body = new List<byte> { 0x0F, 0xAE, 0x0F };
        body.AddRange(p); body.AddRange([0xDD, 0x36]);
        body.AddRange(p); body.AddRange([0xDD, 0xA6, 0x80, 0, 0, 0]);
        body.AddRange([0x0F, 0xAE, 0x07]);
        var native = HostRef.Routine(body.ToArray());
        var fmt = op16 ? FpuEnvFormat.Protected16 : FpuEnvFormat.Protected32;
        int size = X87.SaveSize(fmt), env = X87.EnvSize(fmt);
        var rng = new Random(7 + (op16 ? 1 : 0));
        using var fx = new FxBuffer();
        using var host = new FxBuffer();
        var hostMem = new byte[256];
        for (int n = 0; n < 300; n++)
        {
            var img = Image(rng);
            rng.NextBytes(hostMem);
            var restore = hostMem.AsSpan(128, size).ToArray();
            // Ours
            Assert.True(X87.FxrstorImage(fx.P, img, false, 16, true));
            var saved = new byte[size];
            X87.Fnsave(fx.P, saved, fmt);
            Assert.Equal(FxLayout.FcwDefault, X87.Fnstcw(fx.P));
            X87.Frstor(fx.P, restore, fmt);
            var ours = new byte[512];
            X87.FxsaveImage(fx.P, ours, false, 16, true);
            // Host
            img.CopyTo(host.Span);
            fixed (byte* m = hostMem) native(host.P, m);
            var hostSaved = hostMem.AsSpan(0, size).ToArray();
            var skip = op16 ? (6, 14) : (12, 28);
            SameExcept(hostSaved, saved, size, skip);
            SameExcept(host.Span.ToArray(), ours, 416, (6, 24), (28, 32));
        }
    }

    [Fact]
    public void FxsaveFxrstor_MatchHost()
    {
        // fxrstor64 [rdi]; fxsave64 [rsi]
        var native = HostRef.Routine([0x48, 0x0F, 0xAE, 0x0F, 0x48, 0x0F, 0xAE, 0x06]);
        var rng = new Random(5);
        using var fx = new FxBuffer();
        using var host = new FxBuffer();
        using var hostOutBuf = new FxBuffer();
        for (int n = 0; n < 300; n++)
        {
            var img = Image(rng);
            Assert.True(X87.FxrstorImage(fx.P, img, true, 16, true));
            var ours = new byte[512];
            var pattern = (byte)rng.Next(256);
            ours.AsSpan().Fill(pattern);
            hostOutBuf.Span.Fill(pattern);
            X87.FxsaveImage(fx.P, ours, true, 16, true);
            img.CopyTo(host.Span);
            native(host.P, hostOutBuf.P);
            var hostOut = hostOutBuf.Span.ToArray();
            // FOP/FIP/FDP: this AMD host stores them only with an exception pending; MXCSR_MASK: the host
            // also implements AMD's misaligned-SSE bit, which this CPU model does not advertise.
            SameExcept(hostOut, ours, 512, (6, 24), (28, 32));
        }
    }

    [Fact]
    public void Fninit_KeepsPhysicalRegisters()
    {
        // fxrstor [rdi]; fninit; fxsave [rdi]
        var native = HostRef.Routine([0x0F, 0xAE, 0x0F, 0xDB, 0xE3, 0x0F, 0xAE, 0x07]);
        var rng = new Random(11);
        using var fx = new FxBuffer();
        using var host = new FxBuffer();
        for (int n = 0; n < 100; n++)
        {
            var img = Image(rng);
            Assert.True(X87.FxrstorImage(fx.P, img, false, 16, true));
            X87.Fninit(fx.P);
            var ours = new byte[512];
            X87.FxsaveImage(fx.P, ours, false, 16, true);
            img.CopyTo(host.Span);
            native(host.P, null);
            SameExcept(host.Span.ToArray(), ours, 416, (28, 32));
        }
    }

    [Fact]
    public void Fxrstor_RejectsReservedMxcsrBits()
    {
        using var fx = new FxBuffer();
        var img = new byte[512];
        BitConverter.TryWriteBytes(img.AsSpan(24), 0x10000u);
        *(ushort*)fx.P = 0x1234;
        Assert.False(X87.FxrstorImage(fx.P, img, false, 16, true));
        Assert.Equal(0x1234, *(ushort*)fx.P);
    }

    [Fact]
    public void RealModeFormats_PackLinearPointers()
    {
        using var fx = new FxBuffer();
        *(ushort*)(fx.P + FxLayout.Fop) = 0x5A5;
        *(ulong*)(fx.P + FxLayout.Fip) = 0xABCDE;        // 20-bit linear
        *(ulong*)(fx.P + FxLayout.Fdp) = 0x12345;
        var e16 = new byte[14];
        X87.Fnstenv(fx.P, e16, FpuEnvFormat.Real16);
        Assert.Equal(0xBCDE, BitConverter.ToUInt16(e16, 6));
        Assert.Equal(0xA5A5, BitConverter.ToUInt16(e16, 8));
        Assert.Equal(0x2345, BitConverter.ToUInt16(e16, 10));
        Assert.Equal(0x1000, BitConverter.ToUInt16(e16, 12));
        var e32 = new byte[28];
        X87.Fnstenv(fx.P, e32, FpuEnvFormat.Real32);
        Assert.Equal(0xFFFFBCDEu, BitConverter.ToUInt32(e32, 12));
        Assert.Equal(0x0000A5A5u, BitConverter.ToUInt32(e32, 16));
        Assert.Equal(0x00001000u, BitConverter.ToUInt32(e32, 24));
        // Round trip through FLDENV.
        using var fx2 = new FxBuffer();
        X87.Fldenv(fx2.P, e32, FpuEnvFormat.Real32);
        Assert.Equal(0xABCDEUL, *(ulong*)(fx2.P + FxLayout.Fip));
        Assert.Equal(0x12345UL, *(ulong*)(fx2.P + FxLayout.Fdp));
        Assert.Equal(0x5A5, *(ushort*)(fx2.P + FxLayout.Fop));
    }
}
