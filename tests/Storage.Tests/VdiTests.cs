namespace SharpBox.Storage.Tests;

public class VdiTests
{
    private const int MiB = 1 << 20;

    /// <summary>Writes at odd offsets and lengths, across block boundaries, in a few blocks only.</summary>
    private static void Scribble(IDiskImage image, Model model, int seed)
    {
        var rng = new Random(seed);
        long[] offsets = { 0, 511, MiB - 3, 5 * MiB + 12345, image.Size - 700 };
        foreach (long off in offsets)
        {
            int len = (int)Math.Min(rng.Next(1, 3 * MiB / 2), image.Size - off);
            model.Write(image, off, Data.Random(len, rng.Next()));
        }
    }

    [Theory]
    [InlineData(DiskVariant.Standard)]
    [InlineData(DiskVariant.Fixed)]
    public void WritesReadBackAtAnyOffsetAndUnwrittenAreasAreZero(DiskVariant variant)
    {
        using var dir = new TempDir();
        string path = dir.File("a.vdi");
        long size = 16 * MiB + 4096;
        var model = new Model(size);
        using (var img = DiskImage.Create(path, DiskFormat.Vdi, size, variant))
        {
            Assert.Equal(size, img.Size);
            Assert.Equal(variant, img.Variant);
            Assert.Equal(DiskFormat.Vdi, img.Format);
            model.Verify(img); // all zeros
            Scribble(img, model, 1);
            model.Verify(img);
        }
        Assert.Equal(DiskFormat.Vdi, DiskImage.DetectFormat(path));
        using (var img = DiskImage.Open(path, readOnly: true))
            model.Verify(img);
        Qemu.Check(path, "vdi");
        Qemu.Compare(path, "vdi", model.SaveRaw(dir.File("expected.raw")), "raw");
    }

    [Fact]
    public void DynamicImageGrowsOnlyWithWrittenBlocks()
    {
        using var dir = new TempDir();
        string path = dir.File("d.vdi");
        using var img = DiskImage.Create(path, DiskFormat.Vdi, 1024L * MiB);
        long empty = img.AllocatedSize;
        Assert.True(empty <= 2 * MiB, $"empty 1 GiB image takes {empty} bytes");
        img.Write(100 * MiB + 5, new byte[] { 1, 2, 3 });
        Assert.Equal(empty + MiB, img.AllocatedSize);
        img.Write(100 * MiB + 900_000, new byte[10]);
        Assert.Equal(empty + MiB, img.AllocatedSize);
        var info = DiskImage.GetInfo(img);
        Assert.Equal("dynamic default", info.VariantText);
        Assert.Equal(MiB, info.BlockSize);
        Assert.Equal("VDI", info.FormatName);
    }

    [Fact]
    public void FixedImageIsFullyAllocatedAndNamedFixed()
    {
        using var dir = new TempDir();
        string path = dir.File("f.vdi");
        using var img = DiskImage.Create(path, DiskFormat.Vdi, 8 * MiB, DiskVariant.Fixed);
        Assert.True(new FileInfo(path).Length >= 8 * MiB);
        Assert.Equal("fixed default", DiskImage.GetInfo(img).VariantText);
        Assert.Equal(MediumVariant.Fixed, DiskImage.GetInfo(img).MediumVariant);
    }

    [Fact]
    public void UuidsAreKeptAndModificationUuidChangesOnFirstWriteAfterOpen()
    {
        using var dir = new TempDir();
        string path = dir.File("u.vdi");
        var uuid = Guid.NewGuid();
        Guid mod0;
        using (var img = DiskImage.Create(path, DiskFormat.Vdi, 4 * MiB, uuid: uuid))
        {
            Assert.Equal(uuid, img.Uuid);
            Assert.Equal(Guid.Empty, img.ParentUuid);
            mod0 = DiskImage.GetInfo(img).ModificationUuid;
            Assert.NotEqual(Guid.Empty, mod0);
        }
        Guid mod1;
        using (var img = DiskImage.Open(path))
        {
            Assert.Equal(mod0, DiskImage.GetInfo(img).ModificationUuid); // opening alone changes nothing
            img.Write(0, new byte[] { 7 });
            mod1 = DiskImage.GetInfo(img).ModificationUuid;
            Assert.NotEqual(mod0, mod1);
            img.Write(1, new byte[] { 8 });
            Assert.Equal(mod1, DiskImage.GetInfo(img).ModificationUuid); // once per open
        }
        using (var img = DiskImage.Open(path, readOnly: true))
        {
            Assert.Equal(uuid, img.Uuid);
            Assert.Equal(mod1, DiskImage.GetInfo(img).ModificationUuid);
        }
    }

    [Fact]
    public void SetUuidsRewritesTheHeader()
    {
        using var dir = new TempDir();
        string path = dir.File("s.vdi");
        var (u, p, m, pm) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        using (var img = DiskImage.Create(path, DiskFormat.Vdi, 2 * MiB))
        {
            DiskImage.SetUuid(img, u);
            DiskImage.SetParentUuid(img, p);
            DiskImage.SetModificationUuid(img, m);
            DiskImage.SetParentModificationUuid(img, pm);
        }
        using var again = DiskImage.Open(path, readOnly: true);
        var info = DiskImage.GetInfo(again);
        Assert.Equal((u, p, m, pm), (info.Uuid, info.ParentUuid, info.ModificationUuid, info.ParentModificationUuid));
        Assert.Throws<DiskImageException>(() => DiskImage.SetUuid(again, Guid.NewGuid()));
    }

    [Fact]
    public void ReadOnlyImageRefusesWritesAndOutOfRangeAccessIsRefused()
    {
        using var dir = new TempDir();
        string path = dir.File("r.vdi");
        DiskImage.Create(path, DiskFormat.Vdi, 2 * MiB).Dispose();
        string before = Data.Sha(path);
        using (var img = DiskImage.Open(path, readOnly: true))
        {
            var e = Assert.Throws<DiskImageException>(() => img.Write(0, new byte[1]));
            Assert.Contains(path, e.Message);
            Assert.Throws<DiskImageException>(() => img.Read(2 * MiB - 1, new byte[2]));
            Assert.Throws<DiskImageException>(() => img.Read(-1, new byte[1]));
        }
        Assert.Equal(before, Data.Sha(path));
    }

    [Fact]
    public void AWriterLocksTheImageAgainstOtherOpens()
    {
        using var dir = new TempDir();
        string path = dir.File("l.vdi");
        using var writer = DiskImage.Create(path, DiskFormat.Vdi, 2 * MiB);
        var e = Assert.Throws<DiskImageException>(() => DiskImage.Open(path));
        Assert.Contains("locked", e.Message);
        Assert.Throws<DiskImageException>(() => DiskImage.Open(path, readOnly: true));
    }

    [Fact]
    public void CreateRefusesExistingTargetsAndLeavesNothingOnFailure()
    {
        using var dir = new TempDir();
        string path = dir.File("x.vdi");
        File.WriteAllText(path, "precious");
        Assert.Throws<DiskImageException>(() => DiskImage.Create(path, DiskFormat.Vdi, MiB));
        Assert.Equal("precious", File.ReadAllText(path));
        Assert.Throws<DiskImageException>(() => DiskImage.Create(dir.File("y.vdi"), DiskFormat.Vdi, -5));
        Assert.Throws<DiskImageException>(() => DiskImage.Create(dir.File("z.vdi"), DiskFormat.Vdi, 1L << 62));
        Assert.Equal(new[] { "x.vdi" }, Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void ReadsImagesQemuWrote()
    {
        using var dir = new TempDir();
        foreach (var (name, opts) in new[] { ("dyn.vdi", "static=off"), ("static.vdi", "static=on") })
        {
            string path = dir.File(name);
            Qemu.Img("create", "-q", "-f", "vdi", "-o", opts, path, "24M");
            Qemu.Io(path, "vdi", "write -P 0x5a 1536k 100k", "write -P 0xa5 20M 4096", "write -P 0x11 0 512");
            using var img = DiskImage.Open(path, readOnly: true);
            Assert.Equal(24 * MiB, img.Size);
            var all = Data.ReadAll(img);
            var expected = new byte[24 * MiB];
            expected.AsSpan(1536 * 1024, 100 * 1024).Fill(0x5a);
            expected.AsSpan(20 * MiB, 4096).Fill(0xa5);
            expected.AsSpan(0, 512).Fill(0x11);
            Data.AssertSame(expected, all);
        }
    }

    [Fact]
    public void WritesIntoQemuImagesStayValidForQemu()
    {
        using var dir = new TempDir();
        string path = dir.File("q.vdi");
        Qemu.Img("create", "-q", "-f", "vdi", path, "8M");
        Qemu.Io(path, "vdi", "write -P 0x33 3M 1M");
        var model = new Model(8 * MiB);
        model.Bytes.AsSpan(3 * MiB, MiB).Fill(0x33);
        using (var img = DiskImage.Open(path))
        {
            model.Write(img, 6 * MiB + 17, Data.Random(70_000, 3));
            model.Write(img, 3 * MiB + 100, Data.Random(100, 4));
            model.Verify(img);
        }
        Qemu.Check(path, "vdi");
        Qemu.Compare(path, "vdi", model.SaveRaw(dir.File("m.raw")), "raw");
    }

    [Fact]
    public void QemuDiscardedBlocksReadAsZeros()
    {
        using var dir = new TempDir();
        string path = dir.File("z.vdi");
        DiskImage.Create(path, DiskFormat.Vdi, 4 * MiB).Dispose();
        // Mark block 2 as "zero" (0xFFFFFFFE) in the map by hand: the map starts at offBlocks (1 MiB).
        using (var fs = new FileStream(path, FileMode.Open))
        {
            fs.Position = MiB + 2 * 4;
            fs.Write(BitConverter.GetBytes(0xFFFFFFFEu));
        }
        using var img = DiskImage.Open(path);
        var b = new byte[MiB];
        b.AsSpan().Fill(1);
        img.Read(2 * MiB, b);
        Assert.False(b.AsSpan().ContainsAnyExcept((byte)0));
        img.Write(2 * MiB + 10, new byte[] { 9 });
        img.Read(2 * MiB, b);
        Assert.Equal(9, b[10]);
        Assert.Equal(1, b.Count(x => x != 0));
    }
}
