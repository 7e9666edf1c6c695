namespace SharpBox.Storage.Tests;

/// <summary>Each kind of damage is refused with a message naming the file and the problem; the file is never written.</summary>
public class CorruptVdiTests
{
    private const int MiB = 1 << 20;
    private const int MapOffset = MiB; // where our images keep the block map

    /// <summary>A 4-block image with blocks 0 and 1 allocated, damaged by <paramref name="damage"/>.</summary>
    private static void AssertRefused(Action<FileStream> damage, string expectedProblem, long? truncateTo = null)
    {
        using var dir = new TempDir();
        string path = dir.File("bad.vdi");
        using (var img = DiskImage.Create(path, DiskFormat.Vdi, 4 * MiB))
        {
            img.Write(0, new byte[] { 1 });
            img.Write(MiB, new byte[] { 2 });
        }
        using (var fs = new FileStream(path, FileMode.Open))
        {
            damage(fs);
            if (truncateTo is long len)
                fs.SetLength(len);
        }
        string sha = Data.Sha(path);
        foreach (bool ro in new[] { false, true })
        {
            var e = Assert.Throws<DiskImageException>(() => DiskImage.Open(path, readOnly: ro).Dispose());
            Assert.Contains(path, e.Message);
            Assert.Contains(expectedProblem, e.Message);
            Assert.Equal(path, e.FilePath);
        }
        Assert.Equal(sha, Data.Sha(path));
    }

    private static void Put(FileStream fs, long offset, uint value)
    {
        fs.Position = offset;
        fs.Write(BitConverter.GetBytes(value));
    }

    private static void Put64(FileStream fs, long offset, ulong value)
    {
        fs.Position = offset;
        fs.Write(BitConverter.GetBytes(value));
    }

    [Fact]
    public void BadSignature()
    {
        // Content detection no longer sees a VDI: the .vdi name makes Open read it as one anyway.
        AssertRefused(fs => Put(fs, 0x40, 0xDEADBEEF), "bad VDI signature 0xdeadbeef");
        // And a caller that knows the format (the media registry) gets the same answer for any name.
        using var dir = new TempDir();
        string path = dir.File("disk.img");
        DiskImage.Create(path, DiskFormat.Vdi, MiB).Dispose();
        using (var fs = new FileStream(path, FileMode.Open))
            Put(fs, 0x40, 0xDEADBEEF);
        string sha = Data.Sha(path);
        var e = Assert.Throws<DiskImageException>(() => DiskImage.OpenAs(path, DiskFormat.Vdi).Dispose());
        Assert.Contains("bad VDI signature", e.Message);
        Assert.Contains(path, e.Message);
        Assert.Equal(sha, Data.Sha(path));
    }

    [Fact]
    public void UnsupportedVersion() =>
        AssertRefused(fs => Put(fs, 0x44, 0x00050000), "unsupported VDI version");

    [Fact]
    public void BlockMapPointingPastTheEnd() =>
        AssertRefused(fs => Put(fs, MapOffset + 4, 3), "past the end of the file");

    [Fact]
    public void BlockMapPointingPastTheMap() =>
        AssertRefused(fs => Put(fs, MapOffset + 4, 9), "past the end of the map");

    [Fact]
    public void DuplicateBlockMapEntries() =>
        AssertRefused(fs => Put(fs, MapOffset + 8, 1), "duplicate block map entries");

    [Fact]
    public void AbsurdDiskSize() =>
        AssertRefused(fs => Put64(fs, 0x170, 1UL << 60), "does not fit");

    [Fact]
    public void AbsurdBlockSize() =>
        AssertRefused(fs => Put(fs, 0x178, 12345), "absurd VDI block size");

    [Fact]
    public void AbsurdBlockCount() =>
        AssertRefused(fs => Put(fs, 0x180, 0x7FFFFFFF), "absurd VDI block count");

    [Fact]
    public void ZeroDiskSize() =>
        AssertRefused(fs => Put64(fs, 0x170, 0), "absurd VDI disk size");

    [Fact]
    public void TruncatedHeader() =>
        AssertRefused(_ => { }, "truncated VDI header", truncateTo: 300);

    [Fact]
    public void TruncatedBlockMap() =>
        AssertRefused(_ => { }, "truncated VDI block map", truncateTo: MapOffset + 6);

    [Fact]
    public void TruncatedData() =>
        AssertRefused(_ => { }, "past the end of the file", truncateTo: 2 * MiB + MiB / 2);

    [Fact]
    public void DataOffsetOverlappingTheMap() =>
        AssertRefused(fs => Put(fs, 0x158, MapOffset + 8), "overlaps the block map");

    [Fact]
    public void NullUuid() =>
        AssertRefused(fs => { fs.Position = 0x188; fs.Write(new byte[16]); }, "UUID is null");

    [Fact]
    public void BadImageType() =>
        AssertRefused(fs => Put(fs, 0x4C, 9), "bad VDI image type");
}
