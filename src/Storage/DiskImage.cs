using System.Text;

namespace SharpBox.Storage;

/// <summary>
/// The VD layer's entry points: detect, open, create, clone, convert, compact, resize and merge disk
/// images, and read or change the header facts the media registry keeps in step (UUIDs, variant).
///
/// Every operation that makes a new image writes it under a scratch name beside the target and moves
/// it into place only when complete, so a failure never leaves a half-written target. Every error is a
/// <see cref="DiskImageException"/> naming the file and the problem.
///
/// Header access for Main and VBoxManage:
/// <list type="bullet">
/// <item><see cref="GetInfo"/> — format and variant names as VBoxManage prints them, sizes, the four UUIDs, files.</item>
/// <item><see cref="SetUuid"/>, <see cref="SetParentUuid"/>, <see cref="SetModificationUuid"/>,
///   <see cref="SetParentModificationUuid"/> — rewrite the header (VDI, VMDK descriptor, VHD footer).</item>
/// <item><see cref="FormatName"/>, <see cref="ParseFormat"/>, <see cref="DefaultExtension"/> — format names.</item>
/// </list>
/// </summary>
public static class DiskImage
{
    /// <summary>How deep a differencing chain may go before it is taken for a loop.</summary>
    private const int MaxChainDepth = 256;

    // ------------------------------------------------------------------ detect / open

    /// <summary>Recognises the format by the file's content. Unsupported formats (qcow2, VHDX, QED) are refused.</summary>
    public static DiskFormat DetectFormat(string path)
    {
        using var file = DiskImageBase.OpenFile(path, readOnly: true);
        long length = DiskImageBase.FileLength(file, path);
        Span<byte> head = stackalloc byte[512];
        int n = (int)Math.Min(length, head.Length);
        DiskImageBase.ReadExact(file, path, head[..n], 0);
        head = head[..n];

        if (n >= 0x48 && System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(head[0x40..]) == VdiImage.Signature)
            return DiskFormat.Vdi;
        if (head.StartsWith("KDMV"u8) || head.StartsWith("COWD"u8))
            return DiskFormat.Vmdk;
        if (head.StartsWith("conectix"u8))
            return DiskFormat.Vhd;
        if (head.StartsWith(QcowMagic))
            throw new DiskImageException(path, "QCOW images are not supported (convert with qemu-img convert -O vdi)");
        if (head.StartsWith("QED\0"u8))
            throw new DiskImageException(path, "QED images are not supported");
        if (head.StartsWith("vhdxfile"u8))
            throw new DiskImageException(path, "VHDX images are not supported");
        if (LooksLikeVmdkDescriptor(head))
            return DiskFormat.Vmdk;
        if (length >= 512)
        {
            Span<byte> tail = stackalloc byte[512];
            DiskImageBase.ReadExact(file, path, tail, length - 512);
            if (tail.StartsWith("conectix"u8))
                return DiskFormat.Vhd;
        }
        return DiskFormat.Raw;
    }

    private static ReadOnlySpan<byte> QcowMagic => new byte[] { (byte)'Q', (byte)'F', (byte)'I', 0xFB };

    private static bool LooksLikeVmdkDescriptor(ReadOnlySpan<byte> head)
    {
        // A descriptor file starts with comment lines, the first being "# Disk DescriptorFile".
        string text = Encoding.ASCII.GetString(head);
        foreach (var raw in text.Split('\n'))
        {
            string line = raw.Trim();
            if (line.Length == 0)
                continue;
            return line.StartsWith("# Disk DescriptorFile", StringComparison.OrdinalIgnoreCase);
        }
        return false;
    }

    /// <summary>
    /// Opens an image of any supported format. A differencing image looks up its parent by UUID through
    /// <paramref name="resolveParent"/> (which returns the parent's path, or null when unknown); the
    /// parents are opened read-only and closed with the child. Without a resolver a differencing image
    /// opens with no parent: its header is readable, but reads of blocks it does not hold fail.
    /// </summary>
    /// <remarks>
    /// A file whose content matches no format opens as raw, except when its name ends in .vdi, .vmdk
    /// or .vhd: then it is read as that format, so a damaged header is reported rather than ignored.
    /// </remarks>
    public static IDiskImage Open(string path, bool readOnly = false, Func<Guid, string?>? resolveParent = null)
        => OpenChain(path, null, readOnly, resolveParent, new List<string>());

    /// <summary>
    /// Opens an image read-only without taking its lock, to read its header facts while another
    /// process (a running VM) holds it for writing. What it reads may be stale a moment later; never
    /// use it for data.
    /// </summary>
    public static IDiskImage OpenUnlocked(string path, Func<Guid, string?>? resolveParent = null)
        => DiskImageBase.WithoutLocks(() => Open(path, readOnly: true, resolveParent));

    /// <summary>
    /// Opens an image that must be of <paramref name="format"/> (as the media registry records it):
    /// a file of another format is refused, naming what is wrong with it as a <paramref name="format"/> image.
    /// </summary>
    public static IDiskImage OpenAs(string path, DiskFormat format, bool readOnly = false, Func<Guid, string?>? resolveParent = null)
        => OpenChain(path, format, readOnly, resolveParent, new List<string>());

    private static DiskFormat? FormatFromExtension(string path) =>
        System.IO.Path.GetExtension(path).ToLowerInvariant() switch
        {
            ".vdi" => DiskFormat.Vdi,
            ".vmdk" => DiskFormat.Vmdk,
            ".vhd" => DiskFormat.Vhd,
            _ => null,
        };

    private static IDiskImage OpenChain(string path, DiskFormat? expected, bool readOnly,
                                        Func<Guid, string?>? resolveParent, List<string> chain)
    {
        string full = System.IO.Path.GetFullPath(path);
        if (chain.Contains(full))
            throw new DiskImageException(path, "the differencing chain loops back to this image");
        if (chain.Count >= MaxChainDepth)
            throw new DiskImageException(path, $"the differencing chain is deeper than {MaxChainDepth} images");
        chain.Add(full);

        var format = DetectFormat(path);
        if (expected is DiskFormat want && want != format && format != DiskFormat.Raw)
            throw new DiskImageException(path, $"is a {FormatName(format)} image, not {FormatName(want)}");
        if (format == DiskFormat.Raw)
            format = expected ?? FormatFromExtension(path) ?? DiskFormat.Raw;
        DiskImageBase image = format switch
        {
            DiskFormat.Vdi => VdiImage.Open(path, readOnly),
            DiskFormat.Raw => RawImage.Open(path, readOnly),
            DiskFormat.Vmdk => VmdkImage.Open(path, readOnly),
            DiskFormat.Vhd => VhdImage.Open(path, readOnly),
            _ => throw new DiskImageException(path, $"unknown format {format}"),
        };
        if (image is VdiImage vdi && vdi.Variant == DiskVariant.Diff && resolveParent != null)
        {
            try
            {
                vdi.Resolver = resolveParent;
                string? parentPath = resolveParent(vdi.ParentUuid)
                    ?? throw new DiskImageException(path, $"parent image {{{vdi.ParentUuid}}} is not known (not registered)");
                if (!System.IO.Path.IsPathRooted(parentPath))
                    parentPath = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(full) ?? ".", parentPath);
                var parent = OpenChain(parentPath, null, readOnly: true, resolveParent, chain);
                try
                {
                    vdi.AttachParent(parent, owns: true);
                }
                catch
                {
                    parent.Dispose();
                    throw;
                }
            }
            catch
            {
                image.Dispose();
                throw;
            }
        }
        return image;
    }

    // ------------------------------------------------------------------ create

    /// <summary>Creates a new base image (Standard = dynamic, Fixed = preallocated) and returns it open for writing.</summary>
    public static IDiskImage Create(string path, DiskFormat format, long sizeBytes,
                                    DiskVariant variant = DiskVariant.Standard, Guid? uuid = null)
        => Create(path, format, sizeBytes, ToMediumVariant(path, variant), uuid);

    /// <summary>
    /// Creates a new base image from VirtualBox's variant bits (`createmedium --variant`): Standard,
    /// Fixed, and for VMDK also VmdkSplit2G (with or without Fixed). Other bits are refused by name.
    /// </summary>
    public static IDiskImage Create(string path, DiskFormat format, long sizeBytes, MediumVariant variant, Guid? uuid = null)
    {
        CheckVariant(path, format, variant);
        CheckSize(path, sizeBytes);
        using (var target = new TempTarget(path))
        {
            CreateFiles(target, path, format, sizeBytes, variant, uuid ?? Guid.NewGuid());
            target.Commit();
        }
        return Open(path);
    }

    private static MediumVariant ToMediumVariant(string path, DiskVariant variant) => variant switch
    {
        DiskVariant.Standard => MediumVariant.Standard,
        DiskVariant.Fixed => MediumVariant.Fixed,
        _ => throw new DiskImageException(path, "differencing images are made with CreateDifferencing"),
    };

    private static void CheckVariant(string path, DiskFormat format, MediumVariant variant)
    {
        if ((variant & MediumVariant.Diff) != 0)
            throw new DiskImageException(path, "differencing images are made with CreateDifferencing");
        var unsupported = variant & ~(MediumVariant.Fixed | MediumVariant.VmdkSplit2G);
        if (unsupported != 0)
            throw new DiskImageException(path, $"the {unsupported} variant is not supported for new images");
        if ((variant & MediumVariant.VmdkSplit2G) != 0 && format != DiskFormat.Vmdk)
            throw new DiskImageException(path, $"the Split2G variant applies to VMDK images only, not {FormatName(format)}");
    }

    /// <summary>
    /// Creates a VDI differencing image on top of <paramref name="parent"/> (which must have a UUID) and
    /// returns it open for writing, attached to that parent. The caller keeps ownership of the parent.
    /// </summary>
    public static IDiskImage CreateDifferencing(string path, IDiskImage parent, Guid? uuid = null)
    {
        ArgumentNullException.ThrowIfNull(parent);
        if (parent.Uuid == Guid.Empty)
            throw new DiskImageException(path, $"parent {parent.Path} has no UUID ({FormatName(parent.Format)} images cannot be parents)");
        Guid parentModification = parent is DiskImageBase b ? b.ModificationUuid : Guid.Empty;
        using (var target = new TempTarget(path))
        {
            VdiImage.CreateFile(target.Add(path), parent.Size, fixedSize: false, uuid ?? Guid.NewGuid(), parent.Uuid, parentModification);
            target.Commit();
        }
        var child = VdiImage.Open(path, readOnly: false);
        try
        {
            child.AttachParent(parent, owns: false);
        }
        catch
        {
            child.Dispose();
            throw;
        }
        return child;
    }

    private static void CheckSize(string path, long sizeBytes)
    {
        if (sizeBytes <= 0)
            throw new DiskImageException(path, $"invalid disk size {sizeBytes} bytes (must be positive)");
    }

    /// <summary>Writes the files of a new empty image into the scratch folder of <paramref name="target"/>.</summary>
    private static void CreateFiles(TempTarget target, string path, DiskFormat format, long size, MediumVariant variant, Guid uuid)
    {
        bool fixedSize = (variant & MediumVariant.Fixed) != 0;
        switch (format)
        {
            case DiskFormat.Vdi:
                VdiImage.CreateFile(target.Add(path), size, fixedSize, uuid);
                break;
            case DiskFormat.Raw:
                RawImage.CreateFile(target.Add(path), size, fixedSize);
                break;
            case DiskFormat.Vmdk:
                VmdkImage.CreateFiles(target, path, size, fixedSize, uuid, split: (variant & MediumVariant.VmdkSplit2G) != 0);
                break;
            case DiskFormat.Vhd:
                VhdImage.CreateFile(target.Add(path), size, fixedSize, uuid);
                break;
            default:
                throw new DiskImageException(path, $"unknown format {format}");
        }
    }

    /// <summary>Opens a freshly written image from its scratch location (VMDK descriptors find their extents there).</summary>
    private static DiskImageBase OpenScratch(string scratchPath, DiskFormat format) => format switch
    {
        DiskFormat.Vdi => VdiImage.Open(scratchPath, readOnly: false),
        DiskFormat.Raw => RawImage.Open(scratchPath, readOnly: false),
        DiskFormat.Vmdk => VmdkImage.Open(scratchPath, readOnly: false),
        DiskFormat.Vhd => VhdImage.Open(scratchPath, readOnly: false),
        _ => throw new DiskImageException(scratchPath, $"unknown format {format}"),
    };

    // ------------------------------------------------------------------ clone / convert

    /// <summary>
    /// Copies the disk contents of <paramref name="source"/> (a differencing image is flattened through
    /// its chain) into a new image. The target must not exist; it gets a new UUID unless one is given.
    /// </summary>
    public static void Clone(IDiskImage source, string targetPath, DiskFormat format, DiskVariant variant,
                             IProgressSink? progress = null, Guid? uuid = null)
    {
        if (variant == DiskVariant.Diff)
            throw new DiskImageException(targetPath, "a clone cannot be a differencing image; choose Standard or Fixed");
        Clone(source, targetPath, format, ToMediumVariant(targetPath, variant), progress, uuid);
    }

    /// <summary>Clone with VirtualBox's variant bits (`clonemedium --variant`); see <see cref="Create(string, DiskFormat, long, MediumVariant, Guid?)"/>.</summary>
    public static void Clone(IDiskImage source, string targetPath, DiskFormat format, MediumVariant variant,
                             IProgressSink? progress = null, Guid? uuid = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        CheckVariant(targetPath, format, variant);
        var reporter = new ProgressReporter(progress);
        reporter.Report(0, 1, 0, 0);
        using (var target = new TempTarget(targetPath))
        {
            CreateFiles(target, targetPath, format, source.Size, variant, uuid ?? Guid.NewGuid());
            using (var dest = OpenScratch(target.ScratchPath(targetPath), format))
            {
                if (dest.Size < source.Size)
                    throw new DiskImageException(targetPath, $"target holds {dest.Size} bytes, less than the source's {source.Size}");
                CopyData(source, dest, reporter, 0, 100);
            }
            target.Commit();
        }
        reporter.Report(1, 1, 0, 100);
    }

    /// <summary>Makes a new image from a raw disk file (VBoxManage convertfromraw).</summary>
    public static void ConvertFromRaw(string rawPath, string targetPath, DiskFormat format,
                                      DiskVariant variant, IProgressSink? progress = null, Guid? uuid = null)
        => ConvertFromRaw(rawPath, targetPath, format, ToMediumVariant(targetPath, variant), progress, uuid);

    /// <summary>ConvertFromRaw with VirtualBox's variant bits (`convertfromraw --variant`).</summary>
    public static void ConvertFromRaw(string rawPath, string targetPath, DiskFormat format,
                                      MediumVariant variant, IProgressSink? progress = null, Guid? uuid = null)
    {
        using var source = RawImage.Open(rawPath, readOnly: true);
        if (source.Size == 0)
            throw new DiskImageException(rawPath, "the raw file is empty");
        Clone(source, targetPath, format, variant, progress, uuid);
    }

    /// <summary>Copies every non-zero chunk; zero chunks are skipped (a new target reads zeros there already).</summary>
    private static void CopyData(IDiskImage source, IDiskImage dest, ProgressReporter reporter, int from, int to)
    {
        const int Chunk = 1 << 20;
        var buffer = new byte[Chunk];
        var src = source as DiskImageBase;
        long size = source.Size;
        for (long off = 0; off < size; off += Chunk)
        {
            int n = (int)Math.Min(Chunk, size - off);
            if (src == null || !src.IsZeroRange(off, n))
            {
                var span = buffer.AsSpan(0, n);
                source.Read(off, span);
                if (span.ContainsAnyExcept((byte)0))
                    dest.Write(off, span);
            }
            reporter.Report(off + n, size, from, to);
        }
        dest.Flush();
    }

    /// <summary>
    /// Deletes every file of an image (VMDK: the extents, then the descriptor). The image is opened
    /// for writing first, so an image in use elsewhere (locked) is refused and nothing is deleted.
    /// </summary>
    public static void Delete(string path)
    {
        IReadOnlyList<string> files;
        using (var image = OpenChain(path, null, readOnly: false, resolveParent: null, new List<string>()))
            files = image is DiskImageBase b ? b.Files : new[] { image.Path };
        for (int i = files.Count - 1; i >= 0; i--)
        {
            try
            {
                File.Delete(files[i]);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new DiskImageException(files[i], "cannot delete: " + e.Message, e);
            }
        }
    }

    // ------------------------------------------------------------------ compact / resize / merge

    /// <summary>Drops all-zero blocks of a dynamic VDI image and shrinks its file.</summary>
    public static void Compact(IDiskImage image, IProgressSink? progress = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (image is not VdiImage vdi)
            throw new DiskImageException(image.Path, $"compacting is supported for VDI images only, not {FormatName(image.Format)}");
        vdi.Compact(progress);
    }

    /// <summary>Grows the disk to <paramref name="newSizeBytes"/> (VDI, VHD, raw, VMDK flat); shrinking is refused.</summary>
    public static void Resize(IDiskImage image, long newSizeBytes)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (newSizeBytes < image.Size)
            throw new DiskImageException(image.Path, $"shrinking is not supported (from {image.Size} to {newSizeBytes} bytes)");
        switch (image)
        {
            case VdiImage vdi: vdi.Grow(newSizeBytes); break;
            case RawImage raw: raw.Grow(newSizeBytes); break;
            case VhdImage vhd: vhd.Grow(newSizeBytes); break;
            case VmdkImage vmdk: vmdk.Grow(newSizeBytes); break;
            default: throw new DiskImageException(image.Path, "resizing is not supported for this image");
        }
    }

    /// <summary>
    /// Writes every block a VDI differencing image holds into its parent, so the parent alone then has
    /// the child's contents. The child is left as it was; the caller deletes it and points any images
    /// based on it at the parent (<see cref="SetParentUuid"/>). A read-only parent the child opened
    /// itself is reopened for writing.
    /// </summary>
    public static void MergeIntoParent(IDiskImage child, IProgressSink? progress = null)
    {
        ArgumentNullException.ThrowIfNull(child);
        if (child is not VdiImage vdi || vdi.Variant != DiskVariant.Diff)
            throw new DiskImageException(child.Path, "only a VDI differencing image can be merged into its parent");
        var parent = vdi.Parent ?? throw new DiskImageException(child.Path, "the differencing image has no parent attached");
        if (parent.IsReadOnly)
            parent = vdi.ReopenParentWritable();
        if (parent.Size < child.Size)
            Resize(parent, child.Size);

        var reporter = new ProgressReporter(progress);
        reporter.Report(0, 1, 0, 0);
        var buffer = new byte[vdi.BlockSize];
        uint blocks = vdi.BlockCount;
        for (uint b = 0; b < blocks; b++)
        {
            long off = (long)b * vdi.BlockSize;
            int n = (int)Math.Min(vdi.BlockSize, child.Size - off);
            if (n > 0)
            {
                var state = vdi.StateOf(b);
                var span = buffer.AsSpan(0, n);
                if (state == VdiImage.BlockState.Data)
                {
                    child.Read(off, span);
                    parent.Write(off, span);
                }
                else if (state == VdiImage.BlockState.Zero
                         && !(parent is DiskImageBase pb && pb.IsZeroRange(off, n)))
                {
                    span.Clear();
                    parent.Write(off, span);
                }
            }
            reporter.Report(b + 1, blocks, 0, 99);
        }
        parent.Flush();
        reporter.Report(1, 1, 0, 100);
    }

    // ------------------------------------------------------------------ header access

    public static DiskImageInfo GetInfo(IDiskImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var b = image as DiskImageBase;
        var mv = image.Variant switch
        {
            DiskVariant.Fixed => MediumVariant.Fixed,
            DiskVariant.Diff => MediumVariant.Diff,
            _ => MediumVariant.Standard,
        } | (MediumVariant)(b?.ExtraVariantFlags ?? 0);
        return new DiskImageInfo
        {
            Format = image.Format,
            FormatName = FormatName(image.Format),
            Variant = image.Variant,
            MediumVariant = mv,
            VariantText = VariantText(mv),
            LogicalSize = image.Size,
            AllocatedSize = image.AllocatedSize,
            Uuid = image.Uuid,
            ParentUuid = image.ParentUuid,
            ModificationUuid = b?.ModificationUuid ?? Guid.Empty,
            ParentModificationUuid = b?.ParentModificationUuid ?? Guid.Empty,
            BlockSize = b?.BlockSize ?? 0,
            Files = b?.Files ?? new[] { image.Path },
        };
    }

    /// <summary>VBoxManage's "Format variant:" wording for a MediumVariant combination.</summary>
    public static string VariantText(MediumVariant variant)
    {
        string sub = (variant & ~(MediumVariant.Fixed | MediumVariant.Diff)) switch
        {
            MediumVariant.VmdkSplit2G => "split2G",
            MediumVariant.VmdkStreamOptimized => "streamOptimized",
            MediumVariant.VmdkESX => "ESX",
            MediumVariant.Standard => "default",
            _ => "unknown",
        };
        string type = (variant & MediumVariant.Fixed) != 0 ? "fixed"
                    : (variant & MediumVariant.Diff) != 0 ? "differencing" : "dynamic";
        return type + " " + sub;
    }

    public static void SetUuid(IDiskImage image, Guid uuid) => Identity(image).SetUuid(uuid);
    public static void SetParentUuid(IDiskImage image, Guid uuid) => Identity(image).SetParentUuid(uuid);
    public static void SetModificationUuid(IDiskImage image, Guid uuid) => Identity(image).SetModificationUuid(uuid);
    public static void SetParentModificationUuid(IDiskImage image, Guid uuid) => Identity(image).SetParentModificationUuid(uuid);

    private static IUuidHeader Identity(IDiskImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (image.IsReadOnly)
            throw new DiskImageException(image.Path, "the image is open read-only");
        return image as IUuidHeader
            ?? throw new DiskImageException(image.Path, $"{FormatName(image.Format)} images have no UUIDs to set");
    }

    /// <summary>The format as VirtualBox names it ("VDI", "VMDK", "VHD", "RAW").</summary>
    public static string FormatName(DiskFormat format) => format switch
    {
        DiskFormat.Vdi => "VDI",
        DiskFormat.Vmdk => "VMDK",
        DiskFormat.Vhd => "VHD",
        DiskFormat.Raw => "RAW",
        _ => format.ToString(),
    };

    /// <summary>Parses a --format argument ("VDI", "vmdk", "VHD", "RAW"; case-insensitive); null if unknown.</summary>
    public static DiskFormat? ParseFormat(string name) => name.ToUpperInvariant() switch
    {
        "VDI" => DiskFormat.Vdi,
        "VMDK" => DiskFormat.Vmdk,
        "VHD" => DiskFormat.Vhd,
        "RAW" => DiskFormat.Raw,
        _ => null,
    };

    /// <summary>The usual file extension, with the dot.</summary>
    public static string DefaultExtension(DiskFormat format) => format switch
    {
        DiskFormat.Vdi => ".vdi",
        DiskFormat.Vmdk => ".vmdk",
        DiskFormat.Vhd => ".vhd",
        _ => ".img",
    };
}

/// <summary>Formats whose header carries VirtualBox's four UUIDs (VDI, VMDK; VHD has only the image UUID).</summary>
internal interface IUuidHeader
{
    void SetUuid(Guid uuid);
    void SetParentUuid(Guid uuid);
    void SetModificationUuid(Guid uuid);
    void SetParentModificationUuid(Guid uuid);
}
