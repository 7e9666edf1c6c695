namespace SharpBox.Storage.Tests;

/// <summary>Every kind of image we write passes qemu-img check/compare; every kind qemu writes reads back right in ours.</summary>
public class InteropTests
{
    private const int MiB = 1 << 20;

    public static TheoryData<DiskFormat, DiskVariant> AllKinds() => new()
    {
        { DiskFormat.Vdi, DiskVariant.Standard }, { DiskFormat.Vdi, DiskVariant.Fixed },
        { DiskFormat.Vmdk, DiskVariant.Standard }, { DiskFormat.Vmdk, DiskVariant.Fixed },
        { DiskFormat.Vhd, DiskVariant.Standard }, { DiskFormat.Vhd, DiskVariant.Fixed },
        { DiskFormat.Raw, DiskVariant.Standard }, { DiskFormat.Raw, DiskVariant.Fixed },
    };

    internal static string QemuName(DiskFormat f) => f switch
    {
        DiskFormat.Vdi => "vdi",
        DiskFormat.Vmdk => "vmdk",
        DiskFormat.Vhd => "vpc",
        _ => "raw",
    };

    internal static bool QemuChecks(DiskFormat f) => f is DiskFormat.Vdi or DiskFormat.Vmdk;

    /// <summary>Odd offsets and lengths over block, grain and extent boundaries.</summary>
    private static void Scribble(IDiskImage img, Model model, int seed)
    {
        var rng = new Random(seed);
        foreach (long off in new long[] { 0, 777, 64 * 1024 - 5, 2 * MiB - 100, 5 * MiB + 3, img.Size - 4097 })
        {
            int len = (int)Math.Min(rng.Next(1, 3 * MiB), img.Size - off);
            model.Write(img, off, Data.Random(len, rng.Next()));
        }
        // Rewrite inside already written areas, and a few single bytes.
        model.Write(img, 100, Data.Random(300, rng.Next()));
        model.Write(img, 5 * MiB + 10, Data.Random(1, rng.Next()));
    }

    [Theory]
    [MemberData(nameof(AllKinds))]
    public void ImagesWeCreatePassQemuCheckAndCompare(DiskFormat format, DiskVariant variant)
    {
        using var dir = new TempDir();
        string path = dir.File("disk" + DiskImage.DefaultExtension(format));
        long size;
        Model model;
        using (var img = DiskImage.Create(path, format, 12 * MiB + 512, variant))
        {
            size = img.Size;
            Assert.True(size >= 12 * MiB + 512);
            Assert.Equal(format, img.Format);
            Assert.Equal(variant == DiskVariant.Fixed || format == DiskFormat.Raw ? DiskVariant.Fixed : DiskVariant.Standard, img.Variant);
            model = new Model(size);
            model.Verify(img);
            Scribble(img, model, 7);
            model.Verify(img);
        }
        Assert.Equal(format, DiskImage.DetectFormat(path));
        using (var img = DiskImage.Open(path, readOnly: true))
        {
            Assert.Equal(size, img.Size);
            model.Verify(img);
            if (format != DiskFormat.Raw)
                Assert.NotEqual(Guid.Empty, img.Uuid);
        }
        if (QemuChecks(format))
            Qemu.Check(path, QemuName(format));
        Assert.Equal(size, Qemu.VirtualSize(path, QemuName(format)));
        Qemu.Compare(path, QemuName(format), model.SaveRaw(dir.File("expected.raw")), "raw");
    }

    [Theory]
    [MemberData(nameof(AllKinds))]
    public void CloneFromVdiAndConvertFromRawToEveryKind(DiskFormat format, DiskVariant variant)
    {
        using var dir = new TempDir();
        long size = 9 * MiB;
        var model = new Model(size);
        string src = dir.File("src.vdi");
        using (var img = DiskImage.Create(src, DiskFormat.Vdi, size))
        {
            model.Write(img, 3 * MiB + 5, Data.Random(2 * MiB, 1));
            model.Write(img, 8 * MiB, Data.Random(MiB, 2));
        }
        string raw = model.SaveRaw(dir.File("src.raw"));
        string ext = DiskImage.DefaultExtension(format);
        var uuid = Guid.NewGuid();
        var sink = new PercentSink();
        using (var source = DiskImage.Open(src, readOnly: true))
            DiskImage.Clone(source, dir.File("clone" + ext), format, variant, sink, uuid);
        Assert.Equal(0, sink.Seen[0]);
        Assert.Equal(100, sink.Seen[^1]);
        Assert.Equal(sink.Seen.Distinct().OrderBy(x => x), sink.Seen);
        DiskImage.ConvertFromRaw(raw, dir.File("conv" + ext), format, variant);

        foreach (string name in new[] { "clone" + ext, "conv" + ext })
        {
            string path = dir.File(name);
            using (var img = DiskImage.Open(path, readOnly: true))
            {
                Assert.True(img.Size >= size);
                Data.AssertSame(model.Bytes, Data.ReadAll(img).AsSpan(0, (int)size).ToArray());
                if (name.StartsWith("clone") && format != DiskFormat.Raw)
                    Assert.Equal(uuid, img.Uuid);
            }
            if (QemuChecks(format))
                Qemu.Check(path, QemuName(format));
            Qemu.Compare(path, QemuName(format), raw, "raw");
        }
        // No scratch folders or stray files are left behind.
        Assert.DoesNotContain(Directory.GetFileSystemEntries(dir.Path), e => Path.GetFileName(e).StartsWith('.'));
    }

    public static TheoryData<string, string> QemuKinds() => new()
    {
        { "vdi", "static=off" }, { "vdi", "static=on" },
        { "vmdk", "subformat=monolithicSparse" }, { "vmdk", "subformat=monolithicFlat" },
        { "vmdk", "subformat=twoGbMaxExtentSparse" }, { "vmdk", "subformat=twoGbMaxExtentFlat" },
        { "vmdk", "subformat=streamOptimized" },
        { "vpc", "subformat=dynamic" }, { "vpc", "subformat=fixed" },
        { "raw", "" },
    };

    [Theory]
    [MemberData(nameof(QemuKinds))]
    public void ImagesQemuWritesReadBackInOurs(string qemuFormat, string options)
    {
        using var dir = new TempDir();
        long size = 20 * MiB;
        var model = new byte[size];
        var rng = new Random(99);
        foreach (long off in new long[] { 0, 65536 * 3 + 17, 3 * MiB, 11 * MiB + 4321, size - 70_000 })
            Data.Random(60_000, rng.Next()).CopyTo(model, off);
        string raw = dir.File("pattern.raw");
        File.WriteAllBytes(raw, model);
        string path = dir.File("q." + (qemuFormat == "vpc" ? "vhd" : qemuFormat == "raw" ? "img" : qemuFormat));
        var args = new List<string> { "convert", "-q", "-f", "raw", "-O", qemuFormat };
        if (options.Length > 0)
            args.AddRange(new[] { "-o", options });
        args.AddRange(new[] { raw, path });
        Qemu.Img(args.ToArray());

        using var img = DiskImage.Open(path, readOnly: true);
        Assert.Equal(Qemu.VirtualSize(path, qemuFormat), img.Size);
        Assert.True(img.Size >= size);
        var all = Data.ReadAll(img);
        Data.AssertSame(model, all.AsSpan(0, (int)size).ToArray());
        Assert.False(all.AsSpan((int)size).ContainsAnyExcept((byte)0));
        var info = DiskImage.GetInfo(img);
        if (options.Contains("twoGb"))
            Assert.StartsWith(options.Contains("Flat") ? "fixed split2G" : "dynamic split2G", info.VariantText);
        if (options.Contains("streamOptimized"))
            Assert.Equal("dynamic streamOptimized", info.VariantText);
        if (options.Contains("static=on") || options.Contains("=fixed") || options.Contains("Flat"))
            Assert.Equal(DiskVariant.Fixed, img.Variant);
    }

    [Theory]
    [InlineData("vmdk", "subformat=monolithicSparse")]
    [InlineData("vmdk", "subformat=monolithicFlat")]
    [InlineData("vmdk", "subformat=twoGbMaxExtentSparse")]
    [InlineData("vpc", "subformat=dynamic")]
    [InlineData("vpc", "subformat=fixed")]
    public void OurWritesIntoQemuImagesStayValidForQemu(string qemuFormat, string options)
    {
        using var dir = new TempDir();
        string path = dir.File("q." + (qemuFormat == "vpc" ? "vhd" : qemuFormat));
        Qemu.Img("create", "-q", "-f", qemuFormat, "-o", options, path, "10M");
        Qemu.Io(path, qemuFormat, "write -P 0x61 1M 200k", "write -P 0x62 7M 3k");
        long size = Qemu.VirtualSize(path, qemuFormat);
        var model = new Model(size);
        model.Bytes.AsSpan(MiB, 200 * 1024).Fill(0x61);
        model.Bytes.AsSpan(7 * MiB, 3 * 1024).Fill(0x62);
        using (var img = DiskImage.Open(path))
        {
            model.Verify(img);
            model.Write(img, MiB + 100_000, Data.Random(300_000, 5));   // over qemu's data and past it
            model.Write(img, 9 * MiB + 1, Data.Random(5000, 6));         // a new grain / block
            model.Write(img, 7 * MiB + 1000, Data.Random(10, 7));        // inside a qemu block
            model.Verify(img);
            Assert.NotEqual(Guid.Empty, img.Uuid);
        }
        if (qemuFormat == "vmdk")
            Qemu.Check(path, "vmdk");
        Qemu.Compare(path, qemuFormat, model.SaveRaw(dir.File("m.raw")), "raw");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(10)]
    [InlineData(64)]
    [InlineData(100)]
    [InlineData(1000)]
    [InlineData(3000)]
    public void VhdSizesMatchQemusGeometryRounding(int mib)
    {
        using var dir = new TempDir();
        string q = dir.File("q.vhd"), ours = dir.File("o.vhd");
        Qemu.Img("create", "-q", "-f", "vpc", q, $"{mib}M");
        using var img = DiskImage.Create(ours, DiskFormat.Vhd, (long)mib * MiB);
        Assert.Equal(Qemu.VirtualSize(q, "vpc"), img.Size);
    }

    [Fact]
    public void StreamOptimizedIsReadOnly()
    {
        using var dir = new TempDir();
        string path = dir.File("s.vmdk");
        Qemu.Img("create", "-q", "-f", "vmdk", "-o", "subformat=streamOptimized", path, "4M");
        var e = Assert.Throws<DiskImageException>(() => DiskImage.Open(path));
        Assert.Contains("read-only", e.Message);
        using var img = DiskImage.Open(path, readOnly: true);
        Assert.Equal(4 * MiB, img.Size);
    }

    [Fact]
    public void VmdkAndVhdUuidsCanBeSet()
    {
        using var dir = new TempDir();
        var u = Guid.NewGuid();
        foreach (var (name, fmt, variant) in new[] { ("a.vmdk", DiskFormat.Vmdk, DiskVariant.Standard),
                                                    ("b.vmdk", DiskFormat.Vmdk, DiskVariant.Fixed),
                                                    ("c.vhd", DiskFormat.Vhd, DiskVariant.Standard) })
        {
            string path = dir.File(name);
            using (var img = DiskImage.Create(path, fmt, 3 * MiB, variant))
            {
                DiskImage.SetUuid(img, u);
                // The rewritten descriptor (renamed into place for flat VMDK) is still locked.
                Assert.Contains("locked", Assert.Throws<DiskImageException>(() => DiskImage.Open(path, readOnly: true)).Message);
                if (fmt == DiskFormat.Vmdk)
                    DiskImage.SetParentModificationUuid(img, u);
                else
                    Assert.Throws<DiskImageException>(() => DiskImage.SetParentUuid(img, u));
            }
            using (var img = DiskImage.Open(path, readOnly: true))
            {
                Assert.Equal(u, img.Uuid);
                if (fmt == DiskFormat.Vmdk)
                    Assert.Equal(u, DiskImage.GetInfo(img).ParentModificationUuid);
            }
            if (fmt == DiskFormat.Vmdk)
                Qemu.Check(path, "vmdk");
            else
                Assert.Equal(0, Qemu.Run("qemu-img", "info", "-f", "vpc", path).Code);
        }
    }

    [Fact]
    public void FlatVmdkListsBothFilesAndCloneRefusesExistingExtent()
    {
        using var dir = new TempDir();
        using (var img = DiskImage.Create(dir.File("f.vmdk"), DiskFormat.Vmdk, 2 * MiB, DiskVariant.Fixed))
        {
            var files = DiskImage.GetInfo(img).Files;
            Assert.Equal(new[] { dir.File("f.vmdk"), dir.File("f-flat.vmdk") }, files);
            Assert.Equal("fixed default", DiskImage.GetInfo(img).VariantText);
        }
        File.WriteAllText(dir.File("g-flat.vmdk"), "precious");
        using var src = DiskImage.Open(dir.File("f.vmdk"), readOnly: true);
        Assert.Throws<DiskImageException>(() => DiskImage.Clone(src, dir.File("g.vmdk"), DiskFormat.Vmdk, DiskVariant.Fixed));
        Assert.False(File.Exists(dir.File("g.vmdk")));
        Assert.Equal("precious", File.ReadAllText(dir.File("g-flat.vmdk")));
    }

    [Theory]
    [InlineData(DiskFormat.Vhd, DiskVariant.Standard, 5)]
    [InlineData(DiskFormat.Vhd, DiskVariant.Fixed, 5)]
    [InlineData(DiskFormat.Vhd, DiskVariant.Standard, 300)]
    [InlineData(DiskFormat.Vmdk, DiskVariant.Fixed, 5)]
    [InlineData(DiskFormat.Raw, DiskVariant.Standard, 5)]
    public void ResizeGrowsOtherFormats(DiskFormat format, DiskVariant variant, int newMiB)
    {
        using var dir = new TempDir();
        string path = dir.File("r" + DiskImage.DefaultExtension(format));
        var data = Data.Random(3 * MiB, 3);
        long size;
        using (var img = DiskImage.Create(path, format, 3 * MiB, variant))
        {
            img.Write(0, data);
            DiskImage.Resize(img, (long)newMiB * MiB);
            size = img.Size;
            Assert.True(size >= (long)newMiB * MiB);
            img.Write(size - 4096, data.AsSpan(0, 4096));
        }
        var model = new Model(size);
        data.CopyTo(model.Bytes, 0);
        data.AsSpan(0, 4096).CopyTo(model.Bytes.AsSpan((int)(size - 4096)));
        using (var img = DiskImage.Open(path, readOnly: true))
            model.Verify(img);
        Assert.Equal(size, Qemu.VirtualSize(path, QemuName(format)));
        if (QemuChecks(format))
            Qemu.Check(path, QemuName(format));
        Qemu.Compare(path, QemuName(format), model.SaveRaw(dir.File("m.raw")), "raw");
    }

    [Fact]
    public void SparseVmdkResizeIsRefusedClearly()
    {
        using var dir = new TempDir();
        using var img = DiskImage.Create(dir.File("s.vmdk"), DiskFormat.Vmdk, 2 * MiB);
        var e = Assert.Throws<DiskImageException>(() => DiskImage.Resize(img, 4 * MiB));
        Assert.Contains("monolithicFlat", e.Message);
    }
}

public class SplitVmdkTests
{
    private const long MiB = 1 << 20;

    [Theory]
    [InlineData(MediumVariant.VmdkSplit2G, "dynamic split2G", "s")]
    [InlineData(MediumVariant.VmdkSplit2G | MediumVariant.Fixed, "fixed split2G", "f")]
    public void SplitImagesCutAt2047MiBAndQemuReadsThem(MediumVariant variant, string text, string letter)
    {
        using var dir = new TempDir();
        string path = dir.File("split.vmdk");
        var pattern = new byte[MiB];
        Array.Fill(pattern, (byte)0xAB);
        long boundary = 2047 * MiB;
        using (var img = DiskImage.Create(path, DiskFormat.Vmdk, 2100 * MiB, variant))
        {
            Assert.Equal(2100 * MiB, img.Size);
            var info = DiskImage.GetInfo(img);
            Assert.Equal(text, info.VariantText);
            Assert.Equal(new[] { path, dir.File($"split-{letter}001.vmdk"), dir.File($"split-{letter}002.vmdk") }, info.Files);
            img.Write(boundary - MiB / 2, pattern);
            img.Write(0, pattern.AsSpan(0, 4096));
            var back = new byte[MiB];
            img.Read(boundary - MiB / 2, back);
            Assert.Equal(pattern, back);
        }
        if (letter == "s")
            Qemu.Check(path, "vmdk");
        Qemu.Io(path, "vmdk", $"read -P 0xab {boundary - MiB / 2} {MiB}", "read -P 0xab 0 4096", $"read -P 0 {1000 * MiB} {MiB}");
    }

    [Fact]
    public void VariantBitsWeCannotMakeAreRefusedByName()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<DiskImageException>(() => DiskImage.Create(dir.File("a.vdi"), DiskFormat.Vdi, MiB, MediumVariant.VmdkSplit2G));
        Assert.Contains("VMDK images only", e.Message);
        e = Assert.Throws<DiskImageException>(() => DiskImage.Create(dir.File("b.vmdk"), DiskFormat.Vmdk, MiB, MediumVariant.VmdkStreamOptimized));
        Assert.Contains("VmdkStreamOptimized", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }
}
