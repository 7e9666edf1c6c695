using System.Buffers.Binary;

namespace SharpBox.Storage.Tests;

/// <summary>Damaged VMDK and VHD images are refused with the file and the problem named, and never written.</summary>
public class CorruptVmdkVhdTests
{
    private const int MiB = 1 << 20;

    private static string MakeImage(TempDir dir, string name, DiskFormat format, long size, DiskVariant variant = DiskVariant.Standard)
    {
        string path = dir.File(name);
        using var img = DiskImage.Create(path, format, size, variant);
        img.Write(0, Data.Random(70_000, 1));
        img.Write(3 * MiB, Data.Random(1000, 2));
        return path;
    }

    private static void AssertRefused(string path, string expectedProblem, string? namedFile = null)
    {
        var shas = Directory.GetFiles(Path.GetDirectoryName(path)!).ToDictionary(f => f, Data.Sha);
        foreach (bool ro in new[] { false, true })
        {
            var e = Assert.Throws<DiskImageException>(() => DiskImage.Open(path, readOnly: ro).Dispose());
            Assert.Contains(namedFile ?? path, e.Message);
            Assert.Contains(expectedProblem, e.Message);
        }
        foreach (var (f, sha) in shas)
            Assert.Equal(sha, Data.Sha(f));
    }

    private static byte[] ReadAt(string path, long offset, int count)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read);
        fs.Position = offset;
        var b = new byte[count];
        fs.ReadExactly(b);
        return b;
    }

    private static void WriteAt(string path, long offset, byte[] data)
    {
        using var fs = new FileStream(path, FileMode.Open);
        fs.Position = offset;
        fs.Write(data);
    }

    private static byte[] Le32(uint v) { var b = new byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); return b; }
    private static byte[] Be32(uint v) { var b = new byte[4]; BinaryPrimitives.WriteUInt32BigEndian(b, v); return b; }

    private static long GdOffset(string vmdk) => (long)BinaryPrimitives.ReadUInt64LittleEndian(ReadAt(vmdk, 56, 8)) * 512;

    // ------------------------------------------------------------------ VMDK

    [Fact]
    public void VmdkBadSignature()
    {
        using var dir = new TempDir();
        string path = MakeImage(dir, "s.vmdk", DiskFormat.Vmdk, 4 * MiB);
        WriteAt(path, 0, "XXXX"u8.ToArray());
        AssertRefused(path, "not a VMDK image");
    }

    [Fact]
    public void VmdkGrainDirectoryPointingPastTheEnd()
    {
        using var dir = new TempDir();
        string path = MakeImage(dir, "g.vmdk", DiskFormat.Vmdk, 4 * MiB);
        WriteAt(path, GdOffset(path), Le32(0x00F00000));
        AssertRefused(path, "past the end of the file");
    }

    [Fact]
    public void VmdkGrainTablePointingPastTheEnd()
    {
        using var dir = new TempDir();
        string path = MakeImage(dir, "t.vmdk", DiskFormat.Vmdk, 4 * MiB);
        uint gt = BinaryPrimitives.ReadUInt32LittleEndian(ReadAt(path, GdOffset(path), 4));
        WriteAt(path, gt * 512L + 4 * 5, Le32(0x00F00000));
        AssertRefused(path, "grain table 0 entry 5 points to sector");
    }

    [Fact]
    public void VmdkDuplicateGrainTables()
    {
        using var dir = new TempDir();
        string path = MakeImage(dir, "d.vmdk", DiskFormat.Vmdk, 64 * MiB);
        var first = ReadAt(path, GdOffset(path), 4);
        WriteAt(path, GdOffset(path) + 4, first);
        AssertRefused(path, "duplicate grain directory entries");
    }

    [Fact]
    public void VmdkAbsurdCapacity()
    {
        using var dir = new TempDir();
        string path = MakeImage(dir, "c.vmdk", DiskFormat.Vmdk, 4 * MiB);
        WriteAt(path, 12, BitConverter.GetBytes(1UL << 50));
        AssertRefused(path, "absurd VMDK capacity");
    }

    [Fact]
    public void VmdkTruncatedHeader()
    {
        using var dir = new TempDir();
        string path = MakeImage(dir, "h.vmdk", DiskFormat.Vmdk, 4 * MiB);
        using (var fs = new FileStream(path, FileMode.Open))
            fs.SetLength(300);
        // 300 bytes starting with KDMV: too short for the sparse header.
        AssertRefused(path, "truncated VMDK sparse header");
    }

    [Fact]
    public void VmdkMissingOrTruncatedFlatExtent()
    {
        using var dir = new TempDir();
        string path = MakeImage(dir, "f.vmdk", DiskFormat.Vmdk, 4 * MiB, DiskVariant.Fixed);
        string flat = dir.File("f-flat.vmdk");
        using (var fs = new FileStream(flat, FileMode.Open))
            fs.SetLength(MiB);
        AssertRefused(path, "flat VMDK extent is truncated", flat);
        File.Delete(flat);
        AssertRefused(path, "file not found", flat);
    }

    [Fact]
    public void VmdkDescriptorSyntaxErrorNamesTheLine()
    {
        using var dir = new TempDir();
        string path = dir.File("x.vmdk");
        File.WriteAllText(path, "# Disk DescriptorFile\nversion=1\nRW 100 SPARSE \"a.vmdk\"\nthis line is nonsense\n");
        AssertRefused(path, "line 4");
    }

    // ------------------------------------------------------------------ VHD

    private static void FixFooterChecksum(string path, long at)
    {
        var f = ReadAt(path, at, 512);
        uint sum = 0;
        for (int i = 0; i < 512; i++)
            if (i is < 64 or >= 68)
                sum += f[i];
        WriteAt(path, at + 64, Be32(~sum));
    }

    [Fact]
    public void VhdBadCookie()
    {
        using var dir = new TempDir();
        string path = MakeImage(dir, "c.vhd", DiskFormat.Vhd, 4 * MiB);
        long len = new FileInfo(path).Length;
        WriteAt(path, len - 512, "garbage!"u8.ToArray());
        WriteAt(path, 0, "garbage!"u8.ToArray());
        AssertRefused(path, "bad VHD footer");
    }

    [Fact]
    public void VhdChecksumMismatch()
    {
        using var dir = new TempDir();
        string path = MakeImage(dir, "k.vhd", DiskFormat.Vhd, 4 * MiB, DiskVariant.Fixed);
        long len = new FileInfo(path).Length;
        WriteAt(path, len - 512 + 24, new byte[] { 1, 2, 3, 4 });
        AssertRefused(path, "checksum mismatch");
    }

    [Fact]
    public void VhdBlockTablePointingPastTheEnd()
    {
        using var dir = new TempDir();
        string path = MakeImage(dir, "p.vhd", DiskFormat.Vhd, 4 * MiB);
        WriteAt(path, 1536, Be32(0x00F00000));
        AssertRefused(path, "past the end of the file");
    }

    [Fact]
    public void VhdDuplicateBlocks()
    {
        using var dir = new TempDir();
        string path = MakeImage(dir, "d.vhd", DiskFormat.Vhd, 4 * MiB);
        WriteAt(path, 1536 + 4, ReadAt(path, 1536, 4));
        AssertRefused(path, "duplicate VHD block table entries");
    }

    [Fact]
    public void VhdAbsurdSize()
    {
        using var dir = new TempDir();
        string path = MakeImage(dir, "a.vhd", DiskFormat.Vhd, 4 * MiB, DiskVariant.Fixed);
        long at = new FileInfo(path).Length - 512;
        WriteAt(path, at + 48, BitConverter.GetBytes(BinaryPrimitives.ReverseEndianness(1UL << 50)));
        FixFooterChecksum(path, at);
        AssertRefused(path, "absurd VHD disk size");
    }

    [Fact]
    public void VhdTruncatedFixedImage()
    {
        using var dir = new TempDir();
        string path = MakeImage(dir, "t.vhd", DiskFormat.Vhd, 4 * MiB, DiskVariant.Fixed);
        using (var fs = new FileStream(path, FileMode.Open))
            fs.SetLength(fs.Length - 4096);
        AssertRefused(path, "bad VHD footer");
    }

    [Fact]
    public void DynamicVhdWithADamagedEndFooterIsRepairedFromItsCopy()
    {
        using var dir = new TempDir();
        string path = dir.File("r.vhd");
        var data = Data.Random(5000, 9);
        using (var img = DiskImage.Create(path, DiskFormat.Vhd, 4 * MiB))
            img.Write(MiB, data);
        long len = new FileInfo(path).Length;
        WriteAt(path, len - 512, new byte[512]);
        using (var img = DiskImage.Open(path, readOnly: true))
        {
            var back = new byte[5000];
            img.Read(MiB, back);
            Assert.Equal(data, back);
        }
        DiskImage.Open(path).Dispose(); // writable open puts the footer back
        Assert.Equal("conectix", System.Text.Encoding.ASCII.GetString(ReadAt(path, len - 512, 8)));
        Assert.Equal(0, Qemu.Run("qemu-img", "compare", "-f", "vpc", "-F", "vpc", path, path).Code);
    }

    // ------------------------------------------------------------------ detection

    [Fact]
    public void UnsupportedFormatsAreNamed()
    {
        using var dir = new TempDir();
        string q = dir.File("x.qcow2");
        Qemu.Img("create", "-q", "-f", "qcow2", q, "1M");
        var e = Assert.Throws<DiskImageException>(() => DiskImage.Open(q));
        Assert.Contains("QCOW", e.Message);
        Assert.Contains(q, e.Message);
        string missing = dir.File("nope.vdi");
        Assert.Contains("file not found", Assert.Throws<DiskImageException>(() => DiskImage.Open(missing)).Message);
        Assert.Contains("not VMDK", Assert.Throws<DiskImageException>(
            () => DiskImage.OpenAs(MakeImage(dir, "v.vdi", DiskFormat.Vdi, 4 * MiB), DiskFormat.Vmdk)).Message);
    }
}
