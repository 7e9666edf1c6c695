using SharpBox.Vmm.Pdm;
using SharpBox.Vmm.Pgm;

namespace SharpBox.Vmm.Tests.Pgm;

public class IoPortSpaceTests
{
    private sealed class Dev : IIoPortDevice
    {
        public readonly List<string> Log = new();
        public uint IoRead(ushort offset, int size) { Log.Add($"r{offset}/{size}"); return 0x11223344u >> (8 * (4 - size)) ; }
        public void IoWrite(ushort offset, int size, uint value) => Log.Add($"w{offset}/{size}={value:X}");
    }

    [Fact]
    public void DispatchesByOffsetAndSplitsNarrowDevices()
    {
        var io = new IoPortSpace();
        var wide = new Dev();
        var narrow = new Dev();
        io.Register("wide", 0xCF8, 8, wide, new Lock());
        io.Register("narrow", 0x70, 2, narrow, new Lock(), IoWidths.Byte);
        io.Write(0xCFC, 4, 0xDEADBEEF);
        Assert.Equal("w4/4=DEADBEEF", wide.Log[^1]);
        io.Write(0x70, 2, 0x1234);
        Assert.Equal(new[] { "w0/1=34", "w1/1=12" }, narrow.Log);
        Assert.Equal(0xFFu, io.Read(0x1234, 1));                 // unclaimed
        Assert.Equal(0xFFFF_FFFFu, io.Read(0x1234, 4));
        Assert.Equal(1, io.UnclaimedAccesses > 0 ? 1 : 0);
        // A dword straddling the end of a range goes byte by byte to whatever owns each port.
        narrow.Log.Clear();
        uint v = io.Read(0x71, 4);
        Assert.Equal(new[] { "r1/1" }, narrow.Log);
        Assert.Equal(0xFFFF_FF00u, v & 0xFFFF_FF00u);
    }

    [Fact]
    public void RefusesOverlapsAndFreesOnUnregister()
    {
        var io = new IoPortSpace();
        var r = io.Register("a", 0x60, 1, new Dev(), new Lock());
        var e = Assert.Throws<InvalidOperationException>(() => io.Register("b", 0x5F, 4, new Dev(), new Lock()));
        Assert.Contains("0x60", e.Message);
        Assert.Contains("a", e.Message);
        io.Unregister(r);
        Assert.NotNull(io.TryRegister("b", 0x5F, 4, new Dev(), new Lock(), IoWidths.All, out _));
        Assert.Null(io.TryRegister("c", 0xFFFF, 2, new Dev(), new Lock(), IoWidths.All, out var why));
        Assert.Contains("outside", why);
    }

    [Fact]
    public void DispatchAllocatesNothing()
    {
        var io = new IoPortSpace();
        io.Register("dev", 0x3F8, 8, new NullDev(), new Lock(), IoWidths.Byte);
        // The least of several rounds: an allocation per access shows in every round, while the JIT's
        // one-time work (tier-up, on-stack replacement of this loop) lands in one round only.
        uint s = 0;
        long least = long.MaxValue;
        for (int round = 0; round < 5; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 100_000; i++) { io.Write(0x3F8, 1, (uint)i); s += io.Read((ushort)(0x3F8 + (i & 7)), 1); s += io.Read(0x3F8, 2); }
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.Equal(0, least);
        Assert.NotEqual(0u, s + 1);
    }

    private sealed class NullDev : IIoPortDevice
    {
        public uint IoRead(ushort offset, int size) => offset;
        public void IoWrite(ushort offset, int size, uint value) { }
    }
}
