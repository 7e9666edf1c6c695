using System.Buffers.Binary;
using System.Text;
using SharpBox.Devices.Storage;
using SharpBox.Storage;
using SharpBox.Vmm.Ssm;

namespace SharpBox.Devices.Tests.Storage;

/// <summary>
/// The PIIX IDE controller at register level, as a guest driver sees it: PCI identity, signatures,
/// IDENTIFY DEVICE, PIO and DMA transfers against real image files, LBA28/LBA48/CHS addressing,
/// multiple mode, SRST, nIEN, error outputs, and saved state taken in the middle of a transfer.
/// </summary>
public sealed class IdeTests : IDisposable
{
    private const ushort Data = 0x1F0, ErrFeat = 0x1F1, Count = 0x1F2, LbaLo = 0x1F3, LbaMid = 0x1F4, LbaHi = 0x1F5, Dev = 0x1F6, StatCmd = 0x1F7, Ctl = 0x3F6;
    private const ushort Bm = DevPiix3Ide.BusMasterBase;
    private readonly string _dir = Directory.CreateTempSubdirectory("sbx-ide-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>A raw image whose sector n holds bytes (n * 7 + i) & 0xFF, so every sector is distinct.</summary>
    private string RawDisk(string name, int sectors)
    {
        string path = Path.Combine(_dir, name);
        var b = new byte[sectors * 512];
        for (int s = 0; s < sectors; s++)
            for (int i = 0; i < 512; i++) b[s * 512 + i] = (byte)(s * 7 + i);
        File.WriteAllBytes(path, b);
        return path;
    }

    private static byte Pattern(long sector, int i) => (byte)(sector * 7 + i);

    private static PcMachineConfig Config(string type = "PIIX4", bool busMaster = true, params IdeDiskConfig[] disks) => new()
    {
        RamBytes = 32UL << 20,
        Ide = new IdeControllerConfig(type, "IDE") { Disks = disks, BusMaster = busMaster },
    };

    private static IdeDiskConfig Disk(string path, int channel = 0, int device = 0, bool readOnly = false, string? format = "RAW")
        => new(channel, device, path, format, readOnly) { Uuid = new Guid("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0") };

    private static DevPiix3Ide Ide(TestMachine m) => m.Dev<DevPiix3Ide>();

    private static void Lba28(TestMachine m, byte cmd, uint lba, byte count, int dev = 0)
    {
        m.Out8(Dev, (byte)(0xE0 | (dev << 4) | (int)((lba >> 24) & 0x0F)));
        m.Out8(Count, count);
        m.Out8(LbaLo, (byte)lba);
        m.Out8(LbaMid, (byte)(lba >> 8));
        m.Out8(LbaHi, (byte)(lba >> 16));
        m.Out8(StatCmd, cmd);
    }

    private static void Lba48(TestMachine m, byte cmd, ulong lba, ushort count)
    {
        m.Out8(Dev, 0x40);
        m.Out8(Count, (byte)(count >> 8)); m.Out8(Count, (byte)count);
        m.Out8(LbaLo, (byte)(lba >> 24)); m.Out8(LbaLo, (byte)lba);
        m.Out8(LbaMid, (byte)(lba >> 32)); m.Out8(LbaMid, (byte)(lba >> 8));
        m.Out8(LbaHi, (byte)(lba >> 40)); m.Out8(LbaHi, (byte)(lba >> 16));
        m.Out8(StatCmd, cmd);
    }

    private static byte[] ReadWords(TestMachine m, int bytes)
    {
        var b = new byte[bytes];
        for (int i = 0; i < bytes; i += 2) BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(i), m.In16(Data));
        return b;
    }

    private static byte[] Identify(TestMachine m, int dev = 0)
    {
        m.Out8(Dev, (byte)(0xA0 | (dev << 4)));
        m.Out8(StatCmd, 0xEC);
        Assert.Equal(0x58, m.In8(StatCmd));   // DRDY DSC DRQ
        return ReadWords(m, 512);
    }

    private static ushort Word(byte[] id, int w) => BinaryPrimitives.ReadUInt16LittleEndian(id.AsSpan(w * 2));

    private static string AtaString(byte[] id, int word, int chars)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < chars; i++) sb.Append((char)id[word * 2 + (i ^ 1)]);
        return sb.ToString();
    }

    [Theory]
    [InlineData("PIIX3", 0x7010)]
    [InlineData("PIIX4", 0x7111)]
    [InlineData("ICH6", 0x269E)]
    public void PciFunctionIdentifiesAsTheConfiguredController(string type, int deviceId)
    {
        using var m = new TestMachine(Config(type, true, Disk(RawDisk("d.img", 64))));
        Assert.Equal((uint)(deviceId << 16 | 0x8086), m.PciRead(1, 1, 0x00));
        Assert.Equal(0x0101_80u, m.PciRead(1, 1, 0x08) >> 8);               // IDE, legacy mode, bus master
        Assert.Equal(0xC001u, m.PciRead(1, 1, 0x20));                         // BAR4: I/O at 0xC000
        Assert.Equal(0x8000_8000u, m.PciRead(1, 1, 0x40));                    // both channels decode
        Assert.Equal(5u, m.PciRead(1, 1, 0x04) & 5);                          // I/O space and bus master on
        Assert.Equal(0x80u, m.PciRead(1, 0, 0x0C) >> 16 & 0x80);              // 00:01.0 is multi-function
        Assert.Equal(type == "ICH6" ? 0xF0u : 0u, m.PciRead(1, 1, 0x54) & 0xFF);  // ICH: 80-conductor cables reported
        // BAR4 sizes as 16 ports.
        m.PciWrite(1, 1, 0x20, 4, 0xFFFF_FFFF);
        Assert.Equal(0xFFFF_FFF1u, m.PciRead(1, 1, 0x20));
    }

    [Fact]
    public void WithoutBusMasterBar4IsZeroAndIdentifyOffersNoDma()
    {
        using var m = new TestMachine(Config("PIIX4", false, Disk(RawDisk("d.img", 64))));
        Assert.Equal(0u, m.PciRead(1, 1, 0x20));
        Assert.Equal(0xFFu, (uint)m.In8(Bm));                                // nothing at the bus-master ports
        var id = Identify(m);
        Assert.Equal(0, Word(id, 49) & 0x100);
        Assert.Equal(0, Word(id, 63));
        Assert.Equal(0, Word(id, 88));
        Lba28(m, 0xC8, 0, 1);                                                  // READ DMA: aborted
        Assert.Equal(0x51, m.In8(StatCmd));
        Assert.Equal(0x04, m.In8(ErrFeat));
    }

    [Fact]
    public void PowerOnSignatureAndMissingDevices()
    {
        using var m = new TestMachine(Config(disks: Disk(RawDisk("d.img", 64))));
        Assert.Equal(0x50, m.In8(StatCmd));
        Assert.Equal(0x01, m.In8(ErrFeat));
        Assert.Equal((1, 1, 0, 0), (m.In8(Count), m.In8(LbaLo), m.In8(LbaMid), m.In8(LbaHi)));
        // Device 1 is missing: it latches the task file, but status and error read zero.
        m.Out8(Dev, 0xB0);
        m.Out8(Count, 0x55); m.Out8(LbaLo, 0xAA);
        Assert.Equal(0x55, m.In8(Count));
        Assert.Equal(0xAA, m.In8(LbaLo));
        Assert.Equal(0, m.In8(StatCmd));
        Assert.Equal(0, m.In8(Ctl));
        Assert.Equal(0, m.In8(ErrFeat));
        m.Out8(StatCmd, 0xEC);                                                 // no device, no answer
        Assert.False(Ide(m).Channels[0].IrqLevel);
        Assert.Equal(0, m.In8(StatCmd));
        // The secondary channel has no device at all: every register reads zero.
        m.Out8(0x172, 0x55);
        Assert.Equal(0, m.In8(0x172));
        Assert.Equal(0, m.In8(0x177));
        Assert.Equal(0, m.In8(0x376));
        // Turning the channel's decode off (IDETIM bit 15) leaves the bus floating.
        m.PciWrite(1, 1, 0x41, 1, 0x00);
        Assert.Equal(0xFF, m.In8(StatCmd));
        m.PciWrite(1, 1, 0x41, 1, 0x80);
        m.Out8(Dev, 0xA0);
        Assert.Equal(0x50, m.In8(StatCmd));
    }

    [Fact]
    public void IdentifyDescribesTheDisk()
    {
        const long sectors = 300_000_000;     // more than LBA28 reaches
        string path = Path.Combine(_dir, "big.img");
        using (var f = File.Create(path)) f.SetLength(sectors * 512);
        using var m = new TestMachine(Config(disks: new IdeDiskConfig(0, 0, path, "RAW") { Uuid = new Guid("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"), NonRotational = true }));
        var ide = Ide(m);
        Assert.True(ide.Channels[0].IrqLevel == false);
        m.Out8(Dev, 0xA0);
        m.Out8(StatCmd, 0xEC);
        Assert.True(ide.Channels[0].IrqLevel);                                // INTRQ for the data block
        Assert.Equal(0x58, m.In8(StatCmd));
        Assert.False(ide.Channels[0].IrqLevel);
        var id = ReadWords(m, 512);
        Assert.Equal(0x0040, Word(id, 0));
        Assert.Equal((16383, 16, 63), (Word(id, 1), Word(id, 3), Word(id, 6)));
        Assert.Equal("SHARPBOX HARDDISK".PadRight(40), AtaString(id, 27, 40));
        Assert.Equal(DevPiix3Ide.DefaultSerial(new Guid("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")).PadRight(20), AtaString(id, 10, 20));
        Assert.Equal("1.0     ", AtaString(id, 23, 8));
        Assert.Equal(0x8010, Word(id, 47));                                   // READ/WRITE MULTIPLE up to 16
        Assert.Equal(0x0110, Word(id, 59));                                   // currently 16
        Assert.Equal(0x0FFF_FFFFu, (uint)(Word(id, 60) | Word(id, 61) << 16)); // LBA28 capacity clamped
        Assert.Equal(sectors, Word(id, 100) | (long)Word(id, 101) << 16 | (long)Word(id, 102) << 32 | (long)Word(id, 103) << 48);
        Assert.NotEqual(0, Word(id, 83) & (1 << 10));                         // 48-bit addresses
        Assert.NotEqual(0, Word(id, 83) & (1 << 13));                         // FLUSH CACHE EXT
        Assert.NotEqual(0, Word(id, 49) & (1 << 9));                          // LBA
        Assert.NotEqual(0, Word(id, 49) & (1 << 8));                          // DMA (bus master present)
        Assert.Equal(0x0007, Word(id, 63) & 0xFF);
        Assert.Equal(0x003F, Word(id, 88) & 0xFF);
        Assert.Equal(1, Word(id, 217));                                       // non-rotational
        Assert.Equal(0xA5, id[510]);
        byte sum = 0;
        foreach (byte b in id) sum += b;
        Assert.Equal(0, sum);
        // The transfer ended: DRQ gone, no interrupt after the last word of a data-in command.
        Assert.Equal(0x50, m.In8(StatCmd));
        Assert.False(ide.Channels[0].IrqLevel);
    }

    [Fact]
    public void PioReadRaisesIrq14PerSectorAndReturnsTheImagesBytes()
    {
        using var m = new TestMachine(Config(disks: Disk(RawDisk("d.img", 64))));
        var ch = Ide(m).Channels[0];
        Lba28(m, 0x20, 5, 3);                                                  // READ SECTORS 5..7
        for (int s = 5; s < 8; s++)
        {
            Assert.True(ch.IrqLevel, $"no interrupt for sector {s}");
            // Alternate status does not acknowledge; status does.
            Assert.Equal(0x58, m.In8(Ctl));
            Assert.True(ch.IrqLevel);
            Assert.Equal(0x58, m.In8(StatCmd));
            Assert.False(ch.IrqLevel);
            var b = ReadWords(m, 512);
            for (int i = 0; i < 512; i++) Assert.Equal(Pattern(s, i), b[i]);
        }
        Assert.False(ch.IrqLevel);
        Assert.Equal(0x50, m.In8(StatCmd));
        // The task file holds the last sector read.
        Assert.Equal((7, 0, 0), (m.In8(LbaLo), m.In8(LbaMid), m.In8(LbaHi)));
        // The line reaches the slave PIC (IRQ 14 = slave input 6): IRR shows the edge.
        Lba28(m, 0x20, 1, 1);
        m.Out8(0xA0, 0x0A);
        Assert.NotEqual(0, m.In8(0xA0) & 0x40);
        // 32-bit data accesses move two words at a time.
        var dw = new byte[512];
        for (int i = 0; i < 512; i += 4) BinaryPrimitives.WriteUInt32LittleEndian(dw.AsSpan(i), m.In32(Data));
        for (int i = 0; i < 512; i++) Assert.Equal(Pattern(1, i), dw[i]);
    }

    [Fact]
    public void PioWriteRoundTripsThroughTheImage()
    {
        string path = RawDisk("d.img", 64);
        using (var m = new TestMachine(Config(disks: Disk(path))))
        {
            var ch = Ide(m).Channels[0];
            Lba28(m, 0x30, 10, 2);                                             // WRITE SECTORS 10, 11
            Assert.Equal(0x58, m.In8(StatCmd));
            Assert.False(ch.IrqLevel);                                         // no interrupt before the first block
            for (int s = 0; s < 2; s++)
            {
                for (int i = 0; i < 256; i++) m.Out16(Data, (ushort)(0xA000 + s * 256 + i));
                Assert.True(ch.IrqLevel);
                Assert.Equal(s == 0 ? 0x58 : 0x50, m.In8(StatCmd));
            }
            Lba28(m, 0x20, 10, 2);
            m.In8(StatCmd);
            var back = ReadWords(m, 512);
            m.In8(StatCmd);
            back = [.. back, .. ReadWords(m, 512)];
            for (int i = 0; i < 512; i++)
                Assert.Equal((ushort)(0xA000 + i), BinaryPrimitives.ReadUInt16LittleEndian(back.AsSpan(2 * i)));
            m.Out8(StatCmd, 0xE7);                                             // FLUSH CACHE
            Assert.Equal(0x50, m.In8(StatCmd));
        }
        // The image file holds the sectors after the VM is gone; the neighbours are untouched.
        var file = File.ReadAllBytes(path);
        Assert.Equal(0xA000, BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(10 * 512)));
        Assert.Equal(0xA1FF, BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(12 * 512 - 2)));
        Assert.Equal(Pattern(9, 511), file[10 * 512 - 1]);
        Assert.Equal(Pattern(12, 0), file[12 * 512]);
    }

    [Fact]
    public void Lba48ReachesPastTheLba28LimitAndReadsBackTheHighBytes()
    {
        const long sectors = 0x1_0000_1000;   // 2 TiB + 2 MiB, sparse
        const long target = 0x1_0000_0800;
        string path = Path.Combine(_dir, "huge.img");
        using (var f = File.Create(path))
        {
            f.SetLength(sectors * 512);
            f.Position = target * 512;
            var s = new byte[1024];
            for (int i = 0; i < s.Length; i++) s[i] = (byte)(i ^ 0x5A);
            f.Write(s);
        }
        using var m = new TestMachine(Config(disks: Disk(path)));
        Lba48(m, 0x24, target, 2);                                             // READ SECTORS EXT
        m.In8(StatCmd);
        var a = ReadWords(m, 512);
        m.In8(StatCmd);
        var b = ReadWords(m, 512);
        for (int i = 0; i < 512; i++) { Assert.Equal((byte)(i ^ 0x5A), a[i]); Assert.Equal((byte)((i + 512) ^ 0x5A), b[i]); }
        Assert.Equal(0x50, m.In8(StatCmd));
        // The address of the last sector, low bytes and (with HOB) high bytes.
        Assert.Equal((0x01, 0x08, 0x00), (m.In8(LbaLo), m.In8(LbaMid), m.In8(LbaHi)));
        m.Out8(Ctl, 0x80);
        Assert.Equal((0x00, 0x01, 0x00), (m.In8(LbaLo), m.In8(LbaMid), m.In8(LbaHi)));
        m.Out8(Count, 0);                                                      // any task-file write clears HOB
        Assert.Equal(0x00, Ide(m).Channels[0].DeviceControl & 0x80);
        // An LBA28 command cannot reach that far: past its limit is IDNF.
        Lba28(m, 0x20, 0x0FFF_FFFF, 2);
        Assert.Equal(0x51, m.In8(StatCmd));
        Assert.Equal(0x10, m.In8(ErrFeat));
        // READ VERIFY EXT of the last sector is fine, one past the end is not.
        Lba48(m, 0x42, sectors - 1, 1);
        Assert.Equal(0x50, m.In8(StatCmd));
        Lba48(m, 0x42, sectors - 1, 2);
        Assert.Equal(0x51, m.In8(StatCmd));
        Assert.Equal(0x10, m.In8(ErrFeat));
    }

    [Fact]
    public void MultipleModeMovesBlocksOfTheSetCount()
    {
        using var m = new TestMachine(Config(disks: Disk(RawDisk("d.img", 64))));
        var ch = Ide(m).Channels[0];
        m.Out8(Dev, 0xE0);
        m.Out8(Count, 4);
        m.Out8(StatCmd, 0xC6);                                                 // SET MULTIPLE MODE 4
        Assert.True(ch.IrqLevel);
        Assert.Equal(0x50, m.In8(StatCmd));
        Assert.Equal(0x0104, Word(Identify(m), 59));
        Lba28(m, 0xC4, 20, 10);                                                // READ MULTIPLE: 4 + 4 + 2 sectors
        int irqs = 0;
        for (int block = 0; block < 3; block++)
        {
            if (ch.IrqLevel) irqs++;
            Assert.Equal(0x58, m.In8(StatCmd));
            int n = block < 2 ? 4 : 2;
            var b = ReadWords(m, n * 512);
            for (int s = 0; s < n; s++) Assert.Equal(Pattern(20 + block * 4 + s, 3), b[s * 512 + 3]);
            Assert.Equal(block < 2 ? 0x58 : 0x50, m.In8(Ctl));
        }
        Assert.Equal(3, irqs);
        // WRITE MULTIPLE EXT: one interrupt per block, the data lands in order.
        Lba48(m, 0x39, 40, 6);
        for (int block = 0; block < 2; block++)
        {
            Assert.Equal(0x58, m.In8(StatCmd));
            int n = block == 0 ? 4 : 2;
            for (int i = 0; i < n * 256; i++) m.Out16(Data, (ushort)(block * 4096 + i));
            Assert.True(ch.IrqLevel);
        }
        Assert.Equal(0x50, m.In8(StatCmd));
        Lba28(m, 0x20, 44, 1);
        m.In8(StatCmd);
        Assert.Equal(4096, m.In16(Data));
        // Invalid counts are aborted; 0 turns multiple mode off, and then READ MULTIPLE is aborted.
        m.Out8(Count, 3);
        m.Out8(StatCmd, 0xC6);
        Assert.Equal(0x51, m.In8(StatCmd));
        Assert.Equal(0x04, m.In8(ErrFeat));
        m.Out8(Count, 0);
        m.Out8(StatCmd, 0xC6);
        Assert.Equal(0x50, m.In8(StatCmd));
        Assert.Equal(0, Word(Identify(m), 59));
        Lba28(m, 0xC4, 0, 1);
        Assert.Equal(0x51, m.In8(StatCmd));
        Assert.Equal(0x04, m.In8(ErrFeat));
    }

    [Fact]
    public void SoftResetAbortsTheTransferAndRestoresTheSignature()
    {
        using var m = new TestMachine(Config(disks: Disk(RawDisk("d.img", 64))));
        var ch = Ide(m).Channels[0];
        Lba28(m, 0x20, 3, 4);
        ReadWords(m, 100);
        m.Out8(Ctl, 0x06);                                                     // SRST + nIEN
        Assert.Equal(0x80, m.In8(Ctl));                                        // busy while held in reset
        Assert.Equal(0x80, m.In8(StatCmd));
        m.Out8(Ctl, 0x02);
        Assert.Equal(0x50, m.In8(StatCmd));
        Assert.Equal(0x01, m.In8(ErrFeat));
        Assert.Equal((1, 1, 0, 0), (m.In8(Count), m.In8(LbaLo), m.In8(LbaMid), m.In8(LbaHi)));
        Assert.Equal(0, m.In8(Dev) & 0x10);
        Assert.Equal(0xFFFF, m.In16(Data));                                    // no data phase any more
        Assert.False(ch.IrqLevel);
        // Settings survive a soft reset (multiple mode stays what was set).
        m.Out8(Count, 8);
        m.Out8(StatCmd, 0xC6);
        m.Out8(Ctl, 0x04); m.Out8(Ctl, 0x00);
        Assert.Equal(0x0108, Word(Identify(m), 59));
        // EXECUTE DEVICE DIAGNOSTIC: signature, error 01h, device 0 interrupts.
        m.In8(StatCmd);
        m.Out8(Count, 0x33);
        m.Out8(StatCmd, 0x90);
        Assert.True(ch.IrqLevel);
        Assert.Equal(0x01, m.In8(ErrFeat));
        Assert.Equal(1, m.In8(Count));
        Assert.Equal(0x50, m.In8(StatCmd));
    }

    [Fact]
    public void NienHoldsTheInterruptBack()
    {
        using var m = new TestMachine(Config(disks: Disk(RawDisk("d.img", 64))));
        var ch = Ide(m).Channels[0];
        m.Out8(Ctl, 0x02);                                                     // nIEN
        Lba28(m, 0x40, 0, 8);                                                  // READ VERIFY SECTORS
        Assert.False(ch.IrqLevel);
        m.Out8(Ctl, 0x00);                                                     // the pending interrupt shows
        Assert.True(ch.IrqLevel);
        m.In8(StatCmd);
        Assert.False(ch.IrqLevel);
    }

    [Fact]
    public void ErrorOutputsAreExact()
    {
        string ro = RawDisk("ro.img", 64);
        using var m = new TestMachine(Config(disks: [Disk(RawDisk("d.img", 64)), Disk(ro, 1, 0, readOnly: true)]));
        // NOP, IDENTIFY PACKET DEVICE, SMART and an unknown opcode: ERR with ABRT, DRDY stays.
        foreach (byte cmd in new byte[] { 0x00, 0xA1, 0xB0, 0xFF })
        {
            m.Out8(Dev, 0xA0);
            m.Out8(StatCmd, cmd);
            Assert.Equal(0x51, m.In8(StatCmd));
            Assert.Equal(0x04, m.In8(ErrFeat));
        }
        // SET FEATURES: write cache off/on and transfer modes are accepted; others are aborted.
        foreach ((byte feature, byte count, byte status) in new (byte, byte, byte)[] { (0x82, 0, 0x50), (0x02, 0, 0x50), (0x03, 0x0C, 0x50), (0x03, 0x45, 0x50), (0x03, 0x46, 0x51), (0x03, 0x22, 0x50), (0x77, 0, 0x51) })
        {
            m.Out8(ErrFeat, feature);
            m.Out8(Count, count);
            m.Out8(StatCmd, 0xEF);
            Assert.Equal(status, m.In8(StatCmd));
        }
        Assert.Equal(0x0400, Word(Identify(m), 63) & 0xFF00);                  // MWDMA2 selected last
        m.In8(StatCmd);
        // Past the end of the disk: IDNF.
        Lba28(m, 0x20, 63, 2);
        Assert.Equal(0x51, m.In8(StatCmd));
        Assert.Equal(0x10, m.In8(ErrFeat));
        // CHS beyond the translation: IDNF; sector 0 does not exist.
        m.Out8(Dev, 0xA0); m.Out8(Count, 1); m.Out8(LbaLo, 0); m.Out8(LbaMid, 0); m.Out8(LbaHi, 0);
        m.Out8(StatCmd, 0x20);
        Assert.Equal(0x51, m.In8(StatCmd));
        Assert.Equal(0x10, m.In8(ErrFeat));
        // A read-only image refuses writes with ABRT, and nothing changes on the host.
        byte[] before = File.ReadAllBytes(ro);
        m.Out8(0x176, 0xE0); m.Out8(0x172, 1); m.Out8(0x173, 0); m.Out8(0x174, 0); m.Out8(0x175, 0);
        m.Out8(0x177, 0x30);
        Assert.Equal(0x51, m.In8(0x177));
        Assert.Equal(0x04, m.In8(0x171));
        Assert.Equal(before, File.ReadAllBytes(ro));
        // Power management: STANDBY → CHECK POWER MODE says 00h, IDLE → FFh.
        m.Out8(Dev, 0xA0);
        m.Out8(StatCmd, 0xE0);
        Assert.Equal(0x50, m.In8(StatCmd));
        m.Out8(StatCmd, 0xE5);
        Assert.Equal(0x50, m.In8(StatCmd));
        Assert.Equal(0x00, m.In8(Count));
        m.Out8(StatCmd, 0xE3);
        m.Out8(StatCmd, 0xE5);
        Assert.Equal(0xFF, m.In8(Count));
        // SLEEP: only a reset wakes the device; commands meanwhile are aborted.
        m.Out8(StatCmd, 0xE6);
        Assert.Equal(0x50, m.In8(StatCmd));
        m.Out8(StatCmd, 0xE5);
        Assert.Equal(0x51, m.In8(StatCmd));
        m.Out8(Ctl, 0x04); m.Out8(Ctl, 0x00);
        m.Out8(StatCmd, 0xE5);
        Assert.Equal(0x50, m.In8(StatCmd));
    }

    [Fact]
    public void ChsAddressingFollowsInitializeDeviceParameters()
    {
        using var m = new TestMachine(Config(disks: Disk(RawDisk("d.img", 2048))));
        // 4 heads, 8 sectors per track: C/H/S 2/3/5 = ((2 * 4) + 3) * 8 + 4 = LBA 92.
        m.Out8(Dev, 0xA3);
        m.Out8(Count, 8);
        m.Out8(StatCmd, 0x91);
        Assert.Equal(0x50, m.In8(StatCmd));
        var id = Identify(m);
        Assert.Equal((2048 / 32, 4, 8), (Word(id, 54), Word(id, 55), Word(id, 56)));
        m.In8(StatCmd);
        m.Out8(Dev, 0xA3); m.Out8(Count, 1); m.Out8(LbaLo, 5); m.Out8(LbaMid, 2); m.Out8(LbaHi, 0);
        m.Out8(StatCmd, 0x20);
        Assert.Equal(0x58, m.In8(StatCmd));
        var b = ReadWords(m, 512);
        Assert.Equal(Pattern(92, 0), b[0]);
        Assert.Equal(Pattern(92, 511), b[511]);
        // Head 4 does not exist with 4 heads.
        m.Out8(Dev, 0xA4); m.Out8(Count, 1); m.Out8(LbaLo, 1);
        m.Out8(StatCmd, 0x20);
        Assert.Equal(0x51, m.In8(StatCmd));
        Assert.Equal(0x10, m.In8(ErrFeat));
    }

    [Fact]
    public void BusMasterDmaMovesDataThroughThePrdTable()
    {
        string path = RawDisk("d.img", 64);
        using var m = new TestMachine(Config(disks: Disk(path)));
        var ch = Ide(m).Channels[0];
        var mem = m.Vm.Pdm.GuestMemory;
        // Two PRD entries: 1000 bytes at 0x10000, the rest of 3 sectors (536 bytes) at 0x20000.
        Span<byte> prd = stackalloc byte[16];
        BinaryPrimitives.WriteUInt32LittleEndian(prd, 0x10000);
        BinaryPrimitives.WriteUInt32LittleEndian(prd[4..], 1000);
        BinaryPrimitives.WriteUInt32LittleEndian(prd[8..], 0x20000);
        BinaryPrimitives.WriteUInt32LittleEndian(prd[12..], 0x8000_0000u | 536);
        mem.Write(0x8000, prd);
        m.Out32(Bm + 4, 0x8000);
        m.Out8(Bm, 0x08);                                                      // direction: to memory
        Lba28(m, 0xC8, 2, 3);                                                  // READ DMA
        Assert.Equal(0x58, m.In8(Ctl));                                        // waiting for the engine
        Assert.False(ch.IrqLevel);
        m.Out8(Bm, 0x09);                                                      // start
        Assert.True(ch.IrqLevel);
        Assert.Equal(0x04 | 0x20, m.In8(Bm + 2));                              // done (table used exactly), interrupt, drive 0 DMA capable
        Assert.Equal(0x50, m.In8(StatCmd));
        var a = new byte[1000];
        var b = new byte[536];
        mem.Read(0x10000, a);
        mem.Read(0x20000, b);
        var got = a.Concat(b).ToArray();
        for (int i = 0; i < got.Length; i++) Assert.Equal(Pattern(2 + i / 512, i % 512), got[i]);
        m.Out8(Bm + 2, 0x24);                                                  // clear the interrupt bit (keep "drive 0 can DMA")
        m.Out8(Bm, 0x00);
        Assert.Equal(0x20, m.In8(Bm + 2));

        // WRITE DMA (EXT) from one 1 KiB buffer; a larger table leaves Active set.
        var src = new byte[1024];
        for (int i = 0; i < src.Length; i++) src[i] = (byte)(255 - i);
        mem.Write(0x30000, src);
        BinaryPrimitives.WriteUInt32LittleEndian(prd, 0x30000);
        BinaryPrimitives.WriteUInt32LittleEndian(prd[4..], 0x8000_0000u | 4096);
        mem.Write(0x8000, prd[..8]);
        m.Out8(Bm, 0x00);
        Lba48(m, 0x35, 30, 2);
        m.Out8(Bm, 0x01);
        Assert.True(ch.IrqLevel);
        Assert.Equal(0x50, m.In8(StatCmd));
        Assert.Equal(0x01 | 0x04 | 0x20, m.In8(Bm + 2));
        m.Out8(Bm, 0x00);
        Lba28(m, 0x20, 30, 2);                                                 // read back with PIO
        m.In8(StatCmd);
        var back = ReadWords(m, 512);
        m.In8(StatCmd);
        Assert.Equal(src, back.Concat(ReadWords(m, 512)).ToArray());

        // A table that points outside RAM: the engine reports an error and the command fails.
        BinaryPrimitives.WriteUInt32LittleEndian(prd, 0xF000_0000);
        BinaryPrimitives.WriteUInt32LittleEndian(prd[4..], 0x8000_0000u | 512);
        mem.Write(0x8000, prd[..8]);
        m.Out8(Bm + 2, 0x26);
        m.Out8(Bm, 0x08);
        Lba28(m, 0xC8, 0, 1);
        m.Out8(Bm, 0x09);
        Assert.Equal(0x02 | 0x04 | 0x20, m.In8(Bm + 2));
        Assert.Equal(0x51, m.In8(StatCmd));
        m.Out8(Bm, 0x00);
    }

    [Fact]
    public void SavedStateContinuesATransferInTheMiddle()
    {
        string path = RawDisk("d.img", 64);
        string sav = Path.Combine(_dir, "ide.sav");
        var cfg = Config(disks: Disk(path));
        byte[] firstHalf;
        using (var m = new TestMachine(cfg))
        {
            m.Out8(Count, 2);
            m.Out8(StatCmd, 0xC6);                                             // multiple mode 2
            m.In8(StatCmd);
            Lba28(m, 0xC4, 8, 4);                                              // READ MULTIPLE 8..11
            m.In8(StatCmd);
            firstHalf = ReadWords(m, 700);                                     // stop inside the first block
            var ssm = new SavedStateManager();
            ssm.Register(m.Vm.Ssm.Units.Single(u => u.Name == "piix3ide"));
            ssm.Save(sav);
        }
        using (var fresh = new TestMachine(cfg, start: false))
        {
            var ssm = new SavedStateManager();
            ssm.Register(fresh.Vm.Ssm.Units.Single(u => u.Name == "piix3ide"));
            ssm.Load(sav);
            Assert.Equal(0x58, fresh.In8(Ctl));
            var rest = ReadWords(fresh, 1024 - 700);
            fresh.In8(StatCmd);
            var second = ReadWords(fresh, 1024);
            var all = firstHalf.Concat(rest).Concat(second).ToArray();
            for (int i = 0; i < all.Length; i++) Assert.Equal(Pattern(8 + i / 512, i % 512), all[i]);
            Assert.Equal(0x50, fresh.In8(StatCmd));
            Assert.Equal(0x0102, Word(Identify(fresh), 59));
        }
        // A write half done when saved: the restored VM finishes it into the image.
        using (var m = new TestMachine(cfg))
        {
            Lba28(m, 0x30, 50, 1);
            for (int i = 0; i < 100; i++) m.Out16(Data, 0xBEEF);
            var ssm = new SavedStateManager();
            ssm.Register(m.Vm.Ssm.Units.Single(u => u.Name == "piix3ide"));
            ssm.Save(sav);
        }
        using (var fresh = new TestMachine(cfg, start: false))
        {
            var ssm = new SavedStateManager();
            ssm.Register(fresh.Vm.Ssm.Units.Single(u => u.Name == "piix3ide"));
            ssm.Load(sav);
            for (int i = 100; i < 256; i++) fresh.Out16(Data, 0xCAFE);
            Assert.Equal(0x50, fresh.In8(StatCmd));
        }
        var file = File.ReadAllBytes(path);
        Assert.Equal(0xBEEF, BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(50 * 512 + 198)));
        Assert.Equal(0xCAFE, BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(50 * 512 + 200)));
        // A machine whose disk is missing or of another size refuses the saved state.
        using (var other = new TestMachine(Config(disks: Disk(RawDisk("other.img", 32))), start: false))
        {
            var ssm = new SavedStateManager();
            ssm.Register(other.Vm.Ssm.Units.Single(u => u.Name == "piix3ide"));
            var e = Assert.Throws<SsmException>(() => ssm.Load(sav));
            Assert.Contains("64 sectors", e.Message);
        }
    }

    [Fact]
    public void DifferencingChainsOpenThroughTheirParentsAndImagesAreLocked()
    {
        string basePath = Path.Combine(_dir, "base.vdi"), diffPath = Path.Combine(_dir, "diff.vdi");
        Guid baseId = Guid.NewGuid();
        using (var img = DiskImage.Create(basePath, DiskFormat.Vdi, 4 << 20, DiskVariant.Standard, baseId))
        {
            img.Write(0, Enumerable.Repeat((byte)0x11, 512).ToArray());
            img.Write(512, Enumerable.Repeat((byte)0x22, 512).ToArray());
            using var child = DiskImage.CreateDifferencing(diffPath, img);
            child.Write(512, Enumerable.Repeat((byte)0x33, 512).ToArray());
        }
        var disk = new IdeDiskConfig(0, 0, diffPath, "VDI") { Parents = [new DiskImageRef(baseId, basePath, "VDI")] };
        using (var m = new TestMachine(Config(disks: disk)))
        {
            Lba28(m, 0x20, 0, 2);
            m.In8(StatCmd);
            Assert.Equal(0x1111, m.In16(Data));                                // from the parent
            ReadWords(m, 510);
            m.In8(StatCmd);
            Assert.Equal(0x3333, m.In16(Data));                                // from the child
            // While the VM runs the image is locked for writing by anyone else.
            var e = Assert.Throws<DiskImageException>(() => DiskImage.Open(diffPath, readOnly: false, id => id == baseId ? basePath : null));
            Assert.True(e.Locked, e.Message);
            // Closing and reopening (online snapshot): the same chain goes on serving.
            var ide = Ide(m);
            Assert.Equal(1, ide.CloseDisks());
            using (var again = DiskImage.Open(diffPath, readOnly: true, id => id == baseId ? basePath : null)) Assert.Equal(4 << 20, again.Size);
            Assert.Single(ide.OpenDisks([PcConfig.IdeLunConfig(disk), null, null, null]));
            Lba28(m, 0x20, 1, 1);
            m.In8(StatCmd);
            Assert.Equal(0x3333, m.In16(Data));
        }
        // Without the parent in the registry the chain cannot be opened: the error names the file.
        var bad = new IdeDiskConfig(0, 0, diffPath, "VDI");
        var ex = Assert.ThrowsAny<Exception>(() => new TestMachine(Config(disks: bad)));
        Assert.Contains("diff.vdi", ex.Message);
        Assert.Contains("primary master", ex.Message);
        var missing = new IdeDiskConfig(0, 1, Path.Combine(_dir, "nope.vdi"), "VDI");
        ex = Assert.ThrowsAny<Exception>(() => new TestMachine(Config(disks: missing)));
        Assert.Contains("nope.vdi", ex.Message);
        Assert.Contains("primary slave", ex.Message);
    }

    [Fact]
    public void PioDataPathAllocatesNothing()
    {
        using var m = new TestMachine(Config(disks: Disk(RawDisk("d.img", 256))));
        void Work()
        {
            Lba28(m, 0xC4, 0, 64);
            for (int block = 0; block < 4; block++)
            {
                m.In8(StatCmd);
                for (int i = 0; i < 16 * 256; i++) m.In16(Data);
            }
            Lba28(m, 0xC5, 100, 16);
            m.In8(StatCmd);
            for (int i = 0; i < 16 * 256; i++) m.Out16(Data, (ushort)i);
            m.In8(StatCmd);
        }
        for (int i = 0; i < 20; i++) Work();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 50; i++) Work();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void RandomAccessesFromAHostileGuestNeverThrow()
    {
        string path = RawDisk("d.img", 512);
        using var m = new TestMachine(Config(disks: [Disk(path), Disk(RawDisk("s.img", 64), 0, 1), Disk(RawDisk("t.img", 64), 1, 0)]));
        var rng = new Random(12345);
        ushort[] ports = [0x1F0, 0x1F1, 0x1F2, 0x1F3, 0x1F4, 0x1F5, 0x1F6, 0x1F7, 0x3F6, 0x170, 0x172, 0x176, 0x177, 0x376,
                          Bm, Bm + 2, Bm + 4, Bm + 6, Bm + 8, Bm + 10, Bm + 12];
        byte[] commands = [0x20, 0x24, 0x29, 0x30, 0x34, 0x39, 0x40, 0x91, 0xC4, 0xC5, 0xC6, 0xC8, 0xCA, 0x25, 0x35, 0xE5, 0xE6, 0xEC, 0xEF, 0x90, 0x00];
        for (int i = 0; i < 200_000; i++)
        {
            ushort port = ports[rng.Next(ports.Length)];
            int size = rng.Next(3) switch { 0 => 1, 1 => 2, _ => 4 };
            switch (rng.Next(6))
            {
                case 0: m.Vm.Ports.Read(port, size); break;
                case 1: m.Vm.Ports.Write(port, size, (uint)rng.Next()); break;
                case 2: m.Out8((ushort)(port < 0x200 ? (port & ~7) | 7 : 0x1F7), commands[rng.Next(commands.Length)]); break;
                case 3: m.PciWrite(1, 1, rng.Next(0x60) & ~3, 4, (uint)rng.Next()); break;
                case 4: m.Vm.Pdm.GuestMemory.Write(((ulong)rng.Next(0x80000) & ~7ul) | (rng.Next(2) == 0 ? 0ul : 0x100000ul), BitConverter.GetBytes(rng.NextInt64())); break;   // PRD tables and buffers anywhere in RAM
                default: for (int k = 0; k < 300; k++) m.In16(0x1F0); break;
            }
            if (i % 50_000 == 0) m.Vm.Pdm.Reset();
        }
        // Afterwards a reset brings the controller back to a working state.
        m.Vm.Pdm.Reset();
        Lba28(m, 0x20, 7, 1);
        Assert.Equal(0x58, m.In8(StatCmd));
    }

    [Fact]
    public void CfgmErrorsNameThePlace()
    {
        var e = Assert.ThrowsAny<Exception>(() => new TestMachine(Config("SATA", true, Disk(RawDisk("d.img", 64)))));
        Assert.Contains("'SATA' is not an IDE controller type", e.Message);
        e = Assert.ThrowsAny<Exception>(() => PcConfig.Build(Config(disks: [Disk(RawDisk("a.img", 64)), Disk(RawDisk("b.img", 64))])));
        Assert.Contains("port 0 device 0 has two disks", e.Message);
        e = Assert.ThrowsAny<Exception>(() => PcConfig.Build(Config(disks: Disk(RawDisk("c.img", 64), 2, 0))));
        Assert.Contains("port 2 device 0 does not exist", e.Message);
        string tiny = Path.Combine(_dir, "tiny.img");
        File.WriteAllBytes(tiny, new byte[100]);
        e = Assert.ThrowsAny<Exception>(() => new TestMachine(Config(disks: Disk(tiny))));
        Assert.Contains("less than one sector", e.Message);
    }
}
