using System.Buffers.Binary;
using System.Text;
using SharpBox.Devices.Pc;

namespace SharpBox.Devices.Tests.Pc;

public sealed class MiscDeviceTests : IDisposable
{
    private readonly TestMachine _m = new(new PcMachineConfig { RamBytes = 64UL << 20, Cpus = 3, Uuid = Guid.Parse("01234567-89ab-cdef-0123-456789abcdef"), DebugExitPort = 0xF4 });
    public void Dispose() => _m.Dispose();

    private byte[] FwCfg(ushort key, int n)
    {
        _m.Out16(0x510, key);
        var b = new byte[n];
        for (int i = 0; i < n; i++) b[i] = _m.In8(0x511);
        return b;
    }

    [Fact]
    public void FwCfgItemsAndDirectory()
    {
        Assert.Equal("QEMU", Encoding.ASCII.GetString(FwCfg(0, 4)));
        Assert.Equal(3u, BinaryPrimitives.ReadUInt32LittleEndian(FwCfg(1, 4)));
        Assert.Equal(64UL << 20, BinaryPrimitives.ReadUInt64LittleEndian(FwCfg(3, 8)));
        Assert.Equal(3, BinaryPrimitives.ReadUInt16LittleEndian(FwCfg(5, 2)));
        Assert.Equal(new byte[] { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab }, FwCfg(2, 6));
        _m.Dev<DevFwCfg>().AddFile("etc/test", [1, 2, 3]);
        var dir = FwCfg(0x19, 4 + 64);
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32BigEndian(dir));
        Assert.Equal(3u, BinaryPrimitives.ReadUInt32BigEndian(dir.AsSpan(4)));
        ushort sel = BinaryPrimitives.ReadUInt16BigEndian(dir.AsSpan(8));
        Assert.Equal("etc/test", Encoding.ASCII.GetString(dir, 12, 8));
        Assert.Equal(new byte[] { 1, 2, 3, 0 }, FwCfg(sel, 4));          // past the end reads zero
        Assert.Equal("QEMU CFG", Encoding.ASCII.GetString(BitConverter.GetBytes(((ulong)_m.In32(0x518) << 32) | _m.In32(0x514))).Length == 8
            ? Encoding.ASCII.GetString(new[] { (byte)_m.In8(0x514), (byte)_m.In8(0x515), (byte)_m.In8(0x516), (byte)_m.In8(0x517), (byte)_m.In8(0x518), (byte)_m.In8(0x519), (byte)_m.In8(0x51A), (byte)_m.In8(0x51B) })
            : "");
    }

    [Fact]
    public void FwCfgDmaReadsIntoGuestMemoryAndFlagsBadAddresses()
    {
        var mem = _m.Vm.Pdm.GuestMemory;
        var desc = new byte[16];
        BinaryPrimitives.WriteUInt32BigEndian(desc, (0u << 16) | 0x08 | 0x02);   // select signature, read
        BinaryPrimitives.WriteUInt32BigEndian(desc.AsSpan(4), 4);
        BinaryPrimitives.WriteUInt64BigEndian(desc.AsSpan(8), 0x3000);
        mem.Write(0x2000, desc);
        _m.Out32(0x514, 0);                                                      // high half (big-endian)
        _m.Out32(0x518, BinaryPrimitives.ReverseEndianness(0x2000u));            // low half starts the transfer
        var got = new byte[4];
        mem.Read(0x3000, got);
        Assert.Equal("QEMU", Encoding.ASCII.GetString(got));
        mem.Read(0x2000, got);
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(got));             // done, no error
        BinaryPrimitives.WriteUInt64BigEndian(desc.AsSpan(8), 0xFFFF_FFFF_0000);  // outside RAM
        mem.Write(0x2000, desc);
        _m.Out32(0x514, 0);
        _m.Out32(0x518, BinaryPrimitives.ReverseEndianness(0x2000u));
        mem.Read(0x2000, got);
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32BigEndian(got));             // error bit
    }

    [Fact]
    public void DebugExitAndBootMarker()
    {
        _m.Out8(0xF4, 0x10);
        Assert.True(_m.Requests.Any("exit 33"));
        _m.Out8(0x3F0, 1);
        Assert.False(_m.Requests.Any("booted"));
        _m.Out8(0x3F0, DevBootMarker.Magic);
        Assert.True(_m.Requests.Any("booted"));
        Assert.Contains(_m.Log, l => l.Contains("Guest-boot-time = "));
    }
}
