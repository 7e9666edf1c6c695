using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace SharpBox.Storage;

/// <summary>
/// VMware's VMDK: a text descriptor listing extents (FLAT, SPARSE, ZERO, VMFS), either in its own file
/// (monolithicFlat, twoGbMaxExtent*, vmfs) or embedded in a hosted sparse extent (monolithicSparse,
/// streamOptimized). Sparse extents ("KDMV" header, little endian, sizes in 512-byte sectors) map
/// grains through a grain directory of grain tables; grain-table entry 0 means "not written".
///
/// Reads cover every hosted variant, including streamOptimized (zlib-compressed grains, directory at
/// the end). Writes cover flat and uncompressed sparse extents: a new grain goes at the end of the
/// extent file, then its grain-table entry (and the redundant table's) is written. Creating makes
/// monolithicSparse (Standard) or monolithicFlat (Fixed), with VirtualBox's ddb.uuid.* keys.
/// </summary>
internal sealed class VmdkImage : DiskImageBase, IUuidHeader
{
    private readonly VmdkDescriptor _descriptor;
    private SafeFileHandle _mainFile;                  // descriptor file, or the sparse file holding it
    private readonly long _embeddedDescriptorOffset;   // bytes; 0 when the descriptor is its own file
    private readonly long _embeddedDescriptorSpace;
    private readonly VmdkExtent[] _extents;
    private readonly long[] _extentStart;              // byte offset of each extent on the disk
    private readonly List<string> _files;
    private bool _modificationBumped;

    private VmdkImage(string path, bool readOnly, VmdkDescriptor descriptor, SafeFileHandle mainFile,
                      long embeddedOffset, long embeddedSpace, VmdkExtent[] extents, List<string> files)
        : base(path, readOnly)
    {
        _descriptor = descriptor;
        _mainFile = mainFile;
        _embeddedDescriptorOffset = embeddedOffset;
        _embeddedDescriptorSpace = embeddedSpace;
        _extents = extents;
        _files = files;
        _extentStart = new long[extents.Length];
        long pos = 0;
        for (int i = 0; i < extents.Length; i++)
        {
            _extentStart[i] = pos;
            pos += extents[i].Length;
        }
        Size = pos;
    }

    public override DiskFormat Format => DiskFormat.Vmdk;

    private string CreateType => _descriptor.CreateType;

    public override DiskVariant Variant =>
        Array.TrueForAll(_extents, e => e is not VmdkSparseExtent) ? DiskVariant.Fixed : DiskVariant.Standard;

    public override uint ExtraVariantFlags => CreateType.ToLowerInvariant() switch
    {
        "twogbmaxextentsparse" or "twogbmaxextentflat" => (uint)MediumVariant.VmdkSplit2G,
        "streamoptimized" => (uint)MediumVariant.VmdkStreamOptimized,
        "vmfs" => (uint)MediumVariant.VmdkESX,
        _ => 0,
    };

    public override long AllocatedSize
    {
        get
        {
            long total = 0;
            foreach (var f in _files)
                total += new FileInfo(f).Length;
            return total;
        }
    }

    public override IReadOnlyList<string> Files => _files;
    public override int BlockSize => _extents.OfType<VmdkSparseExtent>().FirstOrDefault()?.GrainBytes ?? 0;
    public override Guid Uuid => GuidKey("ddb.uuid.image");
    public override Guid ParentUuid => GuidKey("ddb.uuid.parent");
    public override Guid ModificationUuid => GuidKey("ddb.uuid.modification");
    public override Guid ParentModificationUuid => GuidKey("ddb.uuid.parentmodification");

    private Guid GuidKey(string key) => Guid.TryParse(_descriptor.Get(key), out var g) ? g : Guid.Empty;

    // ------------------------------------------------------------------ open

    internal static VmdkImage Open(string path, bool readOnly)
    {
        var main = OpenFile(path, readOnly);
        var opened = new List<VmdkExtent>();
        try
        {
            long length = FileLength(main, path);
            Span<byte> head = stackalloc byte[4];
            if (length >= 4)
                ReadExact(main, path, head, 0);
            VmdkDescriptor descriptor;
            long embOffset = 0, embSpace = 0;
            VmdkSparseExtent? self = null;
            if (length >= 4 && head.SequenceEqual("COWD"u8))
                throw new DiskImageException(path, "ESX sparse (COWD) VMDK extents are not supported");
            if (length >= 4 && head.SequenceEqual("KDMV"u8))
            {
                self = VmdkSparseExtent.Open(main, path, ownsHandle: false, readOnly);
                opened.Add(self);
                if (self.DescriptorOffset == 0)
                    throw new DiskImageException(path, "this is a VMDK sparse extent without a descriptor; open the descriptor file that names it");
                embOffset = self.DescriptorOffset;
                embSpace = self.DescriptorSize;
                if (embSpace <= 0 || embSpace > 1 << 20 || embOffset + embSpace > length)
                    throw new DiskImageException(path, $"embedded VMDK descriptor at {embOffset} size {embSpace} lies outside the file");
                var bytes = new byte[embSpace];
                ReadExact(main, path, bytes, embOffset);
                int end = Array.IndexOf(bytes, (byte)0);
                descriptor = VmdkDescriptor.Parse(Encoding.UTF8.GetString(bytes, 0, end < 0 ? bytes.Length : end), path);
            }
            else
            {
                if (length > 1 << 20)
                    throw new DiskImageException(path, $"not a VMDK image (no sparse header, and {length} bytes is too large for a descriptor)");
                var bytes = new byte[length];
                ReadExact(main, path, bytes, 0);
                // Tools may pad the descriptor file with NULs (qemu pads to a sector); anything else is binary.
                int end = Array.IndexOf(bytes, (byte)0);
                if (end >= 0 && bytes.AsSpan(end).ContainsAnyExcept((byte)0))
                    throw new DiskImageException(path, "not a VMDK image (binary data where a text descriptor was expected)");
                descriptor = VmdkDescriptor.Parse(Encoding.UTF8.GetString(bytes, 0, end < 0 ? bytes.Length : end), path);
            }

            string parentCid = descriptor.Get("parentCID") ?? "ffffffff";
            if (!parentCid.Equals("ffffffff", StringComparison.OrdinalIgnoreCase))
                throw new DiskImageException(path, "VMDK differencing (delta) images are not supported");

            var files = new List<string> { path };
            string folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) ?? ".";
            var extents = new List<VmdkExtent>();
            for (int i = 0; i < descriptor.Extents.Count; i++)
            {
                var line = descriptor.Extents[i];
                if (line.Access == "NOACCESS")
                    throw new DiskImageException(path, $"VMDK extent {i + 1} is marked NOACCESS");
                bool extentReadOnly = readOnly || line.Access == "RDONLY";
                if (line.Sectors <= 0 || line.Sectors > 1L << 40)
                    throw new DiskImageException(path, $"absurd VMDK extent size {line.Sectors} sectors (extent {i + 1})");
                VmdkExtent extent;
                if (line.Type == "ZERO")
                {
                    extent = new VmdkZeroExtent(line.Sectors * 512);
                }
                else if (self != null)
                {
                    // The embedded descriptor's extent is the file itself, whatever name it records.
                    if (descriptor.Extents.Count != 1 || line.Type != "SPARSE")
                        throw new DiskImageException(path, "an embedded VMDK descriptor must list exactly one SPARSE extent");
                    if (line.Sectors != self.CapacitySectors)
                        throw new DiskImageException(path, $"VMDK descriptor says {line.Sectors} sectors but the sparse header says {self.CapacitySectors}");
                    extent = self;
                }
                else
                {
                    string extentPath = System.IO.Path.Combine(folder, line.FileName!);
                    if (line.Type is "FLAT" or "VMFS")
                    {
                        var h = OpenFile(extentPath, extentReadOnly);
                        extent = new VmdkFlatExtent(h, extentPath, line.OffsetSectors * 512, line.Sectors * 512, extentReadOnly);
                        opened.Add(extent);
                        ((VmdkFlatExtent)extent).Validate();
                    }
                    else if (line.Type == "SPARSE")
                    {
                        var h = OpenFile(extentPath, extentReadOnly);
                        VmdkSparseExtent sparse;
                        try
                        {
                            sparse = VmdkSparseExtent.Open(h, extentPath, ownsHandle: true, extentReadOnly);
                        }
                        catch
                        {
                            h.Dispose();
                            throw;
                        }
                        opened.Add(sparse);
                        if (sparse.CapacitySectors != line.Sectors)
                            throw new DiskImageException(extentPath, $"sparse extent holds {sparse.CapacitySectors} sectors, the descriptor says {line.Sectors}");
                        extent = sparse;
                    }
                    else
                    {
                        throw new DiskImageException(path, $"VMDK extent type {line.Type} is not supported (extent {i + 1})");
                    }
                    if (!files.Contains(extentPath))
                        files.Add(extentPath);
                }
                extents.Add(extent);
            }
            if (!readOnly && extents.Exists(e => e is VmdkSparseExtent { Compressed: true }))
                throw new DiskImageException(path, "streamOptimized (compressed) VMDK images can only be opened read-only; clone them to write");
            if (!readOnly && extents.Exists(e => e.ReadOnly))
                throw new DiskImageException(path, "the VMDK has read-only (RDONLY) extents; open it read-only");

            var image = new VmdkImage(path, readOnly, descriptor, main, embOffset, embSpace, extents.ToArray(), files);
            if (!readOnly && (image.Uuid == Guid.Empty || image.ModificationUuid == Guid.Empty))
            {
                // Like VirtualBox: an image from another tool gets its UUIDs on first writable open.
                if (image.Uuid == Guid.Empty)
                    descriptor.Set("ddb.uuid.image", Guid.NewGuid().ToString());
                if (image.ModificationUuid == Guid.Empty)
                    descriptor.Set("ddb.uuid.modification", Guid.NewGuid().ToString());
                if (image.ParentUuid == Guid.Empty && descriptor.Get("ddb.uuid.parent") == null)
                    descriptor.Set("ddb.uuid.parent", Guid.Empty.ToString());
                if (descriptor.Get("ddb.uuid.parentmodification") == null)
                    descriptor.Set("ddb.uuid.parentmodification", Guid.Empty.ToString());
                image.WriteDescriptor();
            }
            return image;
        }
        catch
        {
            foreach (var e in opened)
                e.Dispose();
            main.Dispose();
            throw;
        }
    }

    // ------------------------------------------------------------------ I/O

    private int ExtentAt(long offset)
    {
        if (_extents.Length == 1)
            return 0;
        int i = Array.BinarySearch(_extentStart, offset);
        return i >= 0 ? i : ~i - 1;
    }

    protected override void ReadCore(long offset, Span<byte> buffer)
    {
        while (buffer.Length > 0)
        {
            int i = ExtentAt(offset);
            long rel = offset - _extentStart[i];
            int n = (int)Math.Min(buffer.Length, _extents[i].Length - rel);
            _extents[i].Read(rel, buffer[..n]);
            offset += n;
            buffer = buffer[n..];
        }
    }

    protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer)
    {
        if (!_modificationBumped)
        {
            _modificationBumped = true;
            _descriptor.Set("ddb.uuid.modification", Guid.NewGuid().ToString());
            _descriptor.Set("CID", VmdkDescriptor.NewCid(), quoted: false);
            WriteDescriptor();
        }
        while (buffer.Length > 0)
        {
            int i = ExtentAt(offset);
            long rel = offset - _extentStart[i];
            int n = (int)Math.Min(buffer.Length, _extents[i].Length - rel);
            _extents[i].Write(rel, buffer[..n]);
            offset += n;
            buffer = buffer[n..];
        }
    }

    internal override bool IsZeroRange(long offset, long length)
    {
        while (length > 0)
        {
            int i = ExtentAt(offset);
            long rel = offset - _extentStart[i];
            long n = Math.Min(length, _extents[i].Length - rel);
            if (!_extents[i].IsZero(rel, n))
                return false;
            offset += n;
            length -= n;
        }
        return true;
    }

    protected override void FlushCore()
    {
        foreach (var e in _extents)
            e.Flush();
        Sync(_mainFile, Path);
    }

    protected override void CloseCore()
    {
        foreach (var e in _extents)
            e.Dispose();
        _mainFile.Dispose();
    }

    // ------------------------------------------------------------------ descriptor updates

    private void WriteDescriptor()
    {
        var bytes = Encoding.UTF8.GetBytes(_descriptor.ToText());
        if (_embeddedDescriptorOffset != 0)
        {
            if (bytes.Length >= _embeddedDescriptorSpace)
                throw new DiskImageException(Path, $"the VMDK descriptor ({bytes.Length} bytes) no longer fits its {_embeddedDescriptorSpace}-byte slot");
            var slot = new byte[_embeddedDescriptorSpace];
            bytes.CopyTo(slot, 0);
            WriteAt(_mainFile, Path, slot, _embeddedDescriptorOffset);
        }
        else
        {
            // A separate descriptor is replaced whole: written beside it, synced, renamed over it. The
            // new file is locked before the rename, so the exclusive lock moves with the name.
            string temp = Path + ".sharpbox-tmp";
            SafeFileHandle next;
            try { File.Delete(temp); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new DiskImageException(Path, $"cannot remove stale {temp}: {e.Message}", e);
            }
            next = CreateFile(temp);
            try
            {
                WriteAt(next, temp, bytes, 0);
                Sync(next, temp);
                File.Move(temp, Path, overwrite: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or DiskImageException)
            {
                next.Dispose();
                try { File.Delete(temp); } catch (IOException) { }
                throw e as DiskImageException ?? new DiskImageException(Path, "cannot replace the descriptor: " + e.Message, e);
            }
            _mainFile.Dispose();
            _mainFile = next;
            return;
        }
        Sync(_mainFile, Path);
    }

    private void EditKey(string key, Guid value)
    {
        if (IsReadOnly)
            throw new DiskImageException(Path, "the image is open read-only");
        _descriptor.Set(key, value.ToString());
        WriteDescriptor();
    }

    public void SetUuid(Guid uuid) => EditKey("ddb.uuid.image", uuid);
    public void SetParentUuid(Guid uuid) => EditKey("ddb.uuid.parent", uuid);
    public void SetModificationUuid(Guid uuid) => EditKey("ddb.uuid.modification", uuid);
    public void SetParentModificationUuid(Guid uuid) => EditKey("ddb.uuid.parentmodification", uuid);

    /// <summary>Grows a single-extent flat VMDK (the extent file and the descriptor's sector count).</summary>
    internal void Grow(long newSize)
    {
        if (IsReadOnly)
            throw new DiskImageException(Path, "the image is open read-only");
        if (_extents.Length != 1 || _extents[0] is not VmdkFlatExtent flat)
            throw new DiskImageException(Path, $"resizing is supported for monolithicFlat VMDK images only, not {CreateType}");
        if (newSize % 512 != 0)
            newSize = (newSize + 511) / 512 * 512;
        flat.Grow(newSize);
        long sectors = newSize / 512;
        _descriptor.SetExtentSectors(0, sectors);
        _descriptor.Set("ddb.geometry.cylinders", VmdkDescriptor.Geometry(sectors).C.ToString(CultureInfo.InvariantCulture));
        WriteDescriptor();
        Size = newSize;
    }

    // ------------------------------------------------------------------ create

    /// <summary>Extents of a split image: 2047 MiB each, as VirtualBox and VMware cut them.</summary>
    private const long SplitExtentSectors = 2047L * 2048;

    /// <summary>
    /// Writes a new VMDK into the scratch folder of <paramref name="target"/>: monolithicSparse
    /// (Standard), monolithicFlat (Fixed: descriptor plus "name-flat.vmdk"), or with
    /// <paramref name="split"/> twoGbMaxExtentSparse/Flat ("name-s001.vmdk"... / "name-f001.vmdk"...).
    /// </summary>
    internal static void CreateFiles(TempTarget target, string path, long size, bool fixedSize, Guid uuid, bool split = false)
    {
        long sectors = (size + 511) / 512;
        if (sectors > 1L << 40)
            throw new DiskImageException(path, $"disk size {size} is too large for VMDK");
        string name = System.IO.Path.GetFileName(path);
        string stem = System.IO.Path.GetFileNameWithoutExtension(name);
        string folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) ?? ".";
        if (!fixedSize && !split)
        {
            string scratch = target.Add(path);
            var d = VmdkDescriptor.Create("monolithicSparse", new[] { new VmdkExtentLine("RW", sectors, "SPARSE", name, 0, 0) },
                                          sectors, uuid, Guid.NewGuid());
            VmdkSparseExtent.CreateFile(scratch, sectors, Encoding.UTF8.GetBytes(d.ToText()));
            return;
        }

        // A descriptor file and one or more extent files beside it.
        string descScratch = target.Add(path);
        var lines = new List<VmdkExtentLine>();
        long chunk = split ? SplitExtentSectors : sectors;
        int n = 0;
        for (long done = 0; done < sectors; done += chunk)
        {
            long part = Math.Min(chunk, sectors - done);
            n++;
            string extentName = split
                ? $"{stem}-{(fixedSize ? 'f' : 's')}{n:D3}.vmdk"
                : $"{stem}-flat.vmdk";
            string scratch = target.Add(System.IO.Path.Combine(folder, extentName));
            if (fixedSize)
            {
                using var flat = CreateFile(scratch, part * 512);
                SetLength(flat, scratch, part * 512);
                Sync(flat, scratch);
            }
            else
            {
                VmdkSparseExtent.CreateFile(scratch, part, null);
            }
            lines.Add(new VmdkExtentLine("RW", part, fixedSize ? "FLAT" : "SPARSE", extentName, 0, 0));
        }
        string type = split ? (fixedSize ? "twoGbMaxExtentFlat" : "twoGbMaxExtentSparse") : "monolithicFlat";
        var descriptor = VmdkDescriptor.Create(type, lines, sectors, uuid, Guid.NewGuid());
        using var desc = CreateFile(descScratch);
        WriteAt(desc, descScratch, Encoding.UTF8.GetBytes(descriptor.ToText()), 0);
        Sync(desc, descScratch);
    }
}

/// <summary>One extent of a VMDK: a byte range of the disk held by a file (or by nothing, for ZERO).</summary>
internal abstract class VmdkExtent : IDisposable
{
    public long Length { get; protected set; }
    public bool ReadOnly { get; protected init; }
    public abstract void Read(long offset, Span<byte> buffer);
    public abstract void Write(long offset, ReadOnlySpan<byte> buffer);
    public virtual bool IsZero(long offset, long length) => false;
    public virtual void Flush() { }
    public virtual void Dispose() { }
}

internal sealed class VmdkZeroExtent : VmdkExtent
{
    public VmdkZeroExtent(long length) => Length = length;
    public override void Read(long offset, Span<byte> buffer) => buffer.Clear();
    public override void Write(long offset, ReadOnlySpan<byte> buffer) =>
        throw new InvalidOperationException("a ZERO extent cannot be written");
    public override bool IsZero(long offset, long length) => true;
}

internal sealed class VmdkFlatExtent : VmdkExtent
{
    private readonly SafeFileHandle _file;
    private readonly string _path;
    private readonly long _base;

    public VmdkFlatExtent(SafeFileHandle file, string path, long baseOffset, long length, bool readOnly)
    {
        _file = file;
        _path = path;
        _base = baseOffset;
        Length = length;
        ReadOnly = readOnly;
    }

    public void Validate()
    {
        long fileLength = DiskImageBase.FileLength(_file, _path);
        if (_base + Length > fileLength)
            throw new DiskImageException(_path, $"flat VMDK extent is truncated: {fileLength} bytes, the descriptor needs {_base + Length}");
    }

    public override void Read(long offset, Span<byte> buffer) => DiskImageBase.ReadExact(_file, _path, buffer, _base + offset);
    public override void Write(long offset, ReadOnlySpan<byte> buffer) => DiskImageBase.WriteAt(_file, _path, buffer, _base + offset);
    public override void Flush() => DiskImageBase.Sync(_file, _path);
    public override void Dispose() => _file.Dispose();

    public void Grow(long newLength)
    {
        if (_base != 0)
            throw new DiskImageException(_path, "cannot grow a flat extent that does not start at offset 0");
        DiskImageBase.SetLength(_file, _path, newLength);
        DiskImageBase.Sync(_file, _path);
        Length = newLength;
    }
}
