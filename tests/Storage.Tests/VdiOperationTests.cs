namespace SharpBox.Storage.Tests;

public class VdiOperationTests
{
    private const int MiB = 1 << 20;

    [Fact]
    public void DifferencingImageReadsThroughAndCopiesPartialBlocksOnWrite()
    {
        using var dir = new TempDir();
        string basePath = dir.File("base.vdi"), childPath = dir.File("child.vdi");
        long size = 6 * MiB;
        var model = new Model(size);
        Guid baseUuid;
        using (var parent = DiskImage.Create(basePath, DiskFormat.Vdi, size))
        {
            baseUuid = parent.Uuid;
            model.Write(parent, 0, Data.Random(3 * MiB, 1));
        }
        string baseSha = Data.Sha(basePath);

        Guid childUuid;
        using (var parent = DiskImage.Open(basePath, readOnly: true))
        using (var child = DiskImage.CreateDifferencing(childPath, parent))
        {
            childUuid = child.Uuid;
            Assert.Equal(DiskVariant.Diff, child.Variant);
            Assert.Equal(baseUuid, child.ParentUuid);
            Assert.Same(parent, child.Parent);
            Assert.Equal("differencing default", DiskImage.GetInfo(child).VariantText);
            Assert.Equal(DiskImage.GetInfo(parent).ModificationUuid, DiskImage.GetInfo(child).ParentModificationUuid);
            model.Verify(child);                                        // all from the parent
            model.Write(child, MiB + 1000, Data.Random(5000, 2));     // partial block over parent data
            model.Write(child, 4 * MiB + 7, Data.Random(10, 3));      // partial block over nothing
            model.Write(child, 2 * MiB, Data.Random(MiB, 4));         // whole block
            model.Verify(child);
        }
        Assert.Equal(baseSha, Data.Sha(basePath)); // the parent is never written

        string? Resolve(Guid u) => u == baseUuid ? basePath : null;
        using (var child = DiskImage.Open(childPath, readOnly: true, resolveParent: Resolve))
        {
            Assert.Equal(childUuid, child.Uuid);
            Assert.NotNull(child.Parent);
            model.Verify(child);
        }
        // Without a resolver the header is readable, but data the child lacks is not.
        using (var child = DiskImage.Open(childPath, readOnly: true))
        {
            Assert.Null(child.Parent);
            Assert.Equal(baseUuid, child.ParentUuid);
            var e = Assert.Throws<DiskImageException>(() => child.Read(0, new byte[512]));
            Assert.Contains("no parent", e.Message);
        }
        // An unknown parent is a clear error naming the child.
        var err = Assert.Throws<DiskImageException>(() => DiskImage.Open(childPath, true, _ => null));
        Assert.Contains(childPath, err.Message);
        Assert.Contains(baseUuid.ToString(), err.Message);
    }

    [Fact]
    public void ChainsOfSeveralDiffsResolveAndCloneFlattens()
    {
        using var dir = new TempDir();
        var paths = new Dictionary<Guid, string>();
        long size = 3 * MiB;
        var model = new Model(size);
        string basePath = dir.File("0.vdi");
        using (var b = DiskImage.Create(basePath, DiskFormat.Vdi, size))
        {
            paths[b.Uuid] = basePath;
            model.Write(b, 0, Data.Random((int)size, 10));
        }
        string last = basePath;
        for (int i = 1; i <= 3; i++)
        {
            string p = dir.File($"{i}.vdi");
            using var parent = DiskImage.Open(last, readOnly: true, u => paths.GetValueOrDefault(u));
            using var child = DiskImage.CreateDifferencing(p, parent);
            paths[child.Uuid] = p;
            model.Write(child, i * 700_000, Data.Random(300_000, i));
            last = p;
        }
        using (var top = DiskImage.Open(last, readOnly: true, u => paths.GetValueOrDefault(u)))
        {
            model.Verify(top);
            DiskImage.Clone(top, dir.File("flat.vdi"), DiskFormat.Vdi, DiskVariant.Standard);
        }
        Qemu.Check(dir.File("flat.vdi"), "vdi");
        Qemu.Compare(dir.File("flat.vdi"), "vdi", model.SaveRaw(dir.File("m.raw")), "raw");
    }

    [Fact]
    public void MergeWritesTheChildsBlocksIntoItsParent()
    {
        using var dir = new TempDir();
        string basePath = dir.File("base.vdi"), childPath = dir.File("child.vdi");
        long size = 5 * MiB;
        var model = new Model(size);
        Guid baseUuid;
        using (var b = DiskImage.Create(basePath, DiskFormat.Vdi, size))
        {
            baseUuid = b.Uuid;
            model.Write(b, 0, Data.Random((int)size, 20));
        }
        using (var parent = DiskImage.Open(basePath, readOnly: true))
        using (var child = DiskImage.CreateDifferencing(childPath, parent))
        {
            model.Write(child, MiB / 2, Data.Random(MiB, 21));
            model.Write(child, 4 * MiB + 3, Data.Random(77, 22));
        }
        // Mark one child block as explicit zeros (what compact does to a zero block of a diff).
        using (var child = DiskImage.Open(childPath, false, u => u == baseUuid ? basePath : null))
        {
            model.Write(child, 3 * MiB, new byte[MiB]);
            DiskImage.Compact(child);
            model.Verify(child);
        }
        using (var child = DiskImage.Open(childPath, false, u => u == baseUuid ? basePath : null))
        {
            Assert.True(child.Parent!.IsReadOnly);
            var sink = new PercentSink();
            DiskImage.MergeIntoParent(child, sink);
            Assert.Equal(100, sink.Seen[^1]);
            Assert.False(child.Parent!.IsReadOnly);
            model.Verify(child);
        }
        using (var merged = DiskImage.Open(basePath, readOnly: true))
            model.Verify(merged);
        Qemu.Check(basePath, "vdi");
        Qemu.Compare(basePath, "vdi", model.SaveRaw(dir.File("m.raw")), "raw");
    }

    [Fact]
    public void MergeRefusesBaseImages()
    {
        using var dir = new TempDir();
        using var b = DiskImage.Create(dir.File("b.vdi"), DiskFormat.Vdi, MiB);
        Assert.Throws<DiskImageException>(() => DiskImage.MergeIntoParent(b));
    }

    [Fact]
    public void GrowKeepsDataAndMovesBlocksOutOfTheWayOfALargerMap()
    {
        // qemu puts the data right after a small map (offData 0x400 here), so growing must move blocks.
        using var dir = new TempDir();
        string path = dir.File("g.vdi");
        Qemu.Img("create", "-q", "-f", "vdi", path, "4M");
        var model = new Model(4 * MiB);
        using (var img = DiskImage.Open(path))
        {
            for (int i = 3; i >= 0; i--) // allocate in reverse so data block order differs from disk order
                model.Write(img, (long)i * MiB + 100, Data.Random(MiB - 200, 30 + i));
            DiskImage.Resize(img, 200 * MiB);
            Assert.Equal(200 * MiB, img.Size);
            var grown = new Model(200 * MiB);
            model.Bytes.CopyTo(grown.Bytes, 0);
            grown.Write(img, 199 * MiB, Data.Random(MiB, 39));
            grown.Verify(img);
            model = grown;
        }
        Qemu.Check(path, "vdi");
        Assert.Equal(200 * MiB, Qemu.VirtualSize(path, "vdi"));
        Qemu.Compare(path, "vdi", model.SaveRaw(dir.File("m.raw")), "raw");
    }

    [Fact]
    public void GrowPastTheReservedMapAreaOfOurOwnImages()
    {
        // Our map area is 1 MiB (262144 blocks); 300 GiB needs more, so data blocks move.
        using var dir = new TempDir();
        string path = dir.File("big.vdi");
        var a = Data.Random(MiB, 40);
        var b = Data.Random(4096, 41);
        using (var img = DiskImage.Create(path, DiskFormat.Vdi, 64 * MiB))
        {
            img.Write(0, a);
            img.Write(63 * MiB, b);
            DiskImage.Resize(img, 300L * 1024 * MiB);
            img.Write(300L * 1024 * MiB - 4096, b);
        }
        using (var img = DiskImage.Open(path, readOnly: true))
        {
            Assert.Equal(300L * 1024 * MiB, img.Size);
            var buf = new byte[MiB];
            img.Read(0, buf);
            Assert.Equal(a, buf);
            var small = new byte[4096];
            img.Read(63 * MiB, small);
            Assert.Equal(b, small);
            img.Read(300L * 1024 * MiB - 4096, small);
            Assert.Equal(b, small);
            img.Read(100L * 1024 * MiB, small);
            Assert.False(small.AsSpan().ContainsAnyExcept((byte)0));
        }
        Qemu.Check(path, "vdi");
    }

    [Fact]
    public void GrowFixedImageAllocatesTheNewBlocks()
    {
        using var dir = new TempDir();
        string path = dir.File("f.vdi");
        using (var img = DiskImage.Create(path, DiskFormat.Vdi, 2 * MiB, DiskVariant.Fixed))
        {
            img.Write(MiB, new byte[] { 5 });
            DiskImage.Resize(img, 5 * MiB);
            Assert.Equal(DiskVariant.Fixed, img.Variant);
        }
        Qemu.Check(path, "vdi");
        var raw = new byte[5 * MiB];
        raw[MiB] = 5;
        File.WriteAllBytes(dir.File("r.raw"), raw);
        Qemu.Compare(path, "vdi", dir.File("r.raw"), "raw");
        Assert.True(new FileInfo(path).Length >= 5 * MiB);
    }

    [Fact]
    public void CompactDropsZeroBlocksAndShrinksTheFile()
    {
        using var dir = new TempDir();
        string path = dir.File("c.vdi");
        var model = new Model(10 * MiB);
        using (var img = DiskImage.Create(path, DiskFormat.Vdi, 10 * MiB))
        {
            for (int i = 0; i < 10; i++)
                model.Write(img, (long)i * MiB, i % 3 == 0 ? Data.Random(MiB, 50 + i) : new byte[MiB]);
            long before = img.AllocatedSize;
            var sink = new PercentSink();
            DiskImage.Compact(img, sink);
            Assert.Equal(before - 6 * MiB, img.AllocatedSize);
            Assert.Equal(new FileInfo(path).Length, img.AllocatedSize);
            Assert.Equal(100, sink.Seen[^1]);
            Assert.Equal(sink.Seen.OrderBy(x => x), sink.Seen);
            model.Verify(img);
            model.Write(img, 5 * MiB + 1, new byte[] { 1 }); // allocation still works after compact
            model.Verify(img);
        }
        Qemu.Check(path, "vdi");
        Qemu.Compare(path, "vdi", model.SaveRaw(dir.File("m.raw")), "raw");
    }

    [Fact]
    public void CompactRefusesFixedAndOtherFormats()
    {
        using var dir = new TempDir();
        using (var f = DiskImage.Create(dir.File("f.vdi"), DiskFormat.Vdi, MiB, DiskVariant.Fixed))
            Assert.Contains("fixed", Assert.Throws<DiskImageException>(() => DiskImage.Compact(f)).Message);
        using var r = DiskImage.Create(dir.File("r.img"), DiskFormat.Raw, MiB);
        Assert.Contains("VDI", Assert.Throws<DiskImageException>(() => DiskImage.Compact(r)).Message);
        Assert.Throws<DiskImageException>(() => DiskImage.Resize(r, MiB - 512));
    }
}

public class EdgeCaseTests
{
    private const int MiB = 1 << 20;

    [Theory]
    [InlineData(DiskFormat.Vdi)]
    [InlineData(DiskFormat.Vmdk)]
    [InlineData(DiskFormat.Vhd)]
    public void ConvertingARawFileOfOddLengthKeepsEveryByte(DiskFormat format)
    {
        using var dir = new TempDir();
        string raw = dir.File("odd.raw");
        var bytes = Data.Random(1_000_003, 8);
        File.WriteAllBytes(raw, bytes);
        string target = dir.File("odd" + DiskImage.DefaultExtension(format));
        DiskImage.ConvertFromRaw(raw, target, format, DiskVariant.Standard);
        using (var img = DiskImage.Open(target, readOnly: true))
        {
            Assert.True(img.Size >= bytes.Length);
            var all = Data.ReadAll(img);
            Assert.Equal(bytes, all.AsSpan(0, bytes.Length).ToArray());
            Assert.False(all.AsSpan(bytes.Length).ContainsAnyExcept((byte)0));
        }
        Qemu.Compare(target, InteropTests.QemuName(format), raw, "raw");
    }

    [Fact]
    public void AVdiChildOverAVmdkParentReadsThroughAndMergesBack()
    {
        using var dir = new TempDir();
        string basePath = dir.File("base.vmdk"), childPath = dir.File("child.vdi");
        var model = new Model(4 * MiB);
        Guid baseUuid;
        using (var b = DiskImage.Create(basePath, DiskFormat.Vmdk, 4 * MiB))
        {
            baseUuid = b.Uuid;
            model.Write(b, 0, Data.Random(4 * MiB, 1));
        }
        using (var parent = DiskImage.Open(basePath, readOnly: true))
        using (var child = DiskImage.CreateDifferencing(childPath, parent))
        {
            Assert.Equal(baseUuid, child.ParentUuid);
            Assert.Equal(DiskImage.GetInfo(parent).ModificationUuid, DiskImage.GetInfo(child).ParentModificationUuid);
            model.Write(child, MiB + 3, Data.Random(50_000, 2));
            model.Verify(child);
        }
        using (var child = DiskImage.Open(childPath, false, u => u == baseUuid ? "base.vmdk" : null)) // relative to the child
        {
            model.Verify(child);
            DiskImage.MergeIntoParent(child);
        }
        Qemu.Check(basePath, "vmdk");
        Qemu.Compare(basePath, "vmdk", model.SaveRaw(dir.File("m.raw")), "raw");
    }

    [Fact]
    public void ARawImageCannotBeAParent()
    {
        using var dir = new TempDir();
        using var raw = DiskImage.Create(dir.File("r.img"), DiskFormat.Raw, MiB);
        var e = Assert.Throws<DiskImageException>(() => DiskImage.CreateDifferencing(dir.File("c.vdi"), raw));
        Assert.Contains("no UUID", e.Message);
        Assert.False(File.Exists(dir.File("c.vdi")));
    }

    [Fact]
    public void ADiffChainThatLoopsIsRefused()
    {
        using var dir = new TempDir();
        string a = dir.File("a.vdi");
        Guid au;
        using (var baseImg = DiskImage.Create(dir.File("base.vdi"), DiskFormat.Vdi, MiB))
        using (var child = DiskImage.CreateDifferencing(a, baseImg))
            au = child.Uuid;
        // Point the child at itself.
        using (var child = DiskImage.Open(a))
            DiskImage.SetParentUuid(child, au);
        var e = Assert.Throws<DiskImageException>(() => DiskImage.Open(a, true, u => u == au ? a : null));
        Assert.Contains("loops", e.Message);
    }
}

public class FailureAndBitmapTests
{
    private const int MiB = 1 << 20;

    /// <summary>A source that fails part-way, as a disk with a bad sector would.</summary>
    private sealed class FailingSource : IDiskImage
    {
        public string Path => "/failing/source";
        public DiskFormat Format => DiskFormat.Raw;
        public DiskVariant Variant => DiskVariant.Fixed;
        public long Size => 8 * MiB;
        public long AllocatedSize => Size;
        public bool IsReadOnly => true;
        public Guid Uuid => Guid.Empty;
        public Guid ParentUuid => Guid.Empty;
        public IDiskImage? Parent => null;
        public void Read(long offset, Span<byte> buffer)
        {
            if (offset >= 5 * MiB)
                throw new DiskImageException(Path, $"read error at offset {offset}");
            buffer.Fill(0x42);
        }
        public void Write(long offset, ReadOnlySpan<byte> buffer) => throw new NotSupportedException();
        public void Flush() { }
        public void Dispose() { }
    }

    [Theory]
    [InlineData(DiskFormat.Vdi)]
    [InlineData(DiskFormat.Vmdk)]
    [InlineData(DiskFormat.Vhd)]
    [InlineData(DiskFormat.Raw)]
    public void AFailedCloneLeavesNothingBehind(DiskFormat format)
    {
        using var dir = new TempDir();
        string target = dir.File("t" + DiskImage.DefaultExtension(format));
        var sink = new PercentSink();
        var e = Assert.Throws<DiskImageException>(() =>
            DiskImage.Clone(new FailingSource(), target, format, DiskVariant.Fixed, sink));
        Assert.Contains("/failing/source", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
        Assert.True(sink.Seen.Count > 0 && sink.Seen[^1] < 100);
    }

    [Fact]
    public void VhdSectorsWhoseBitmapBitIsClearReadAsZerosAndArePaddedOnWrite()
    {
        using var dir = new TempDir();
        string path = dir.File("b.vhd");
        var data = Data.Random(2 * MiB, 4);
        using (var img = DiskImage.Create(path, DiskFormat.Vhd, 4 * MiB))
            img.Write(0, data);
        // Block 0's bitmap sits right after the BAT; clear the bits of sectors 8..15 (byte 1).
        long bitmapAt;
        using (var fs = new FileStream(path, FileMode.Open))
        {
            var bat = new byte[4];
            fs.Position = 1536;
            fs.ReadExactly(bat);
            bitmapAt = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(bat) * 512L;
            fs.Position = bitmapAt + 1;
            fs.WriteByte(0);
        }
        var expected = (byte[])data.Clone();
        expected.AsSpan(8 * 512, 8 * 512).Clear();
        using (var img = DiskImage.Open(path))
        {
            var back = new byte[2 * MiB];
            img.Read(0, back);
            Assert.Equal(expected, back);
            // Write 10 bytes into sector 9: the rest of that sector must read as zeros, not stale data.
            var ten = Data.Random(10, 5);
            img.Write(9 * 512 + 100, ten);
            ten.CopyTo(expected, 9 * 512 + 100);
            img.Read(0, back);
            Assert.Equal(expected, back);
        }
        // Reopened, the bitmap bits set by that write are on disk (qemu ignores bitmaps, so it is no judge here).
        using (var img = DiskImage.Open(path, readOnly: true))
        {
            var back = new byte[2 * MiB];
            img.Read(0, back);
            Assert.Equal(expected, back);
        }
    }
}

public class DeleteTests
{
    [Fact]
    public void DeleteRemovesEveryFileButNotAnImageInUse()
    {
        using var dir = new TempDir();
        string flat = dir.File("f.vmdk");
        DiskImage.Create(flat, DiskFormat.Vmdk, 1 << 20, DiskVariant.Fixed).Dispose();
        Assert.True(File.Exists(dir.File("f-flat.vmdk")));
        DiskImage.Delete(flat);
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));

        string vdi = dir.File("busy.vdi");
        using (var busy = DiskImage.Create(vdi, DiskFormat.Vdi, 1 << 20))
            Assert.Contains("locked", Assert.Throws<DiskImageException>(() => DiskImage.Delete(vdi)).Message);
        Assert.True(File.Exists(vdi));
        DiskImage.Delete(vdi);
        Assert.False(File.Exists(vdi));
    }
}
