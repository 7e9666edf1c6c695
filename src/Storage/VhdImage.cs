using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace SharpBox.Storage;

/// <summary>
/// Microsoft's VHD (the format qemu calls "vpc"), fixed and dynamic. All fields big endian.
/// Footer (512 bytes, at the end; dynamic images keep a copy at offset 0): "conectix", features,
/// version, data offset (dynamic header), timestamp, creator, original and current size, CHS
/// geometry, disk type (2 fixed, 3 dynamic, 4 differencing), checksum (ones' complement of the byte
/// sum), unique id. Dynamic header (1024 bytes, "cxsparse"): BAT offset, entry count, block size.
/// BAT entries are sector numbers of blocks (0xFFFFFFFF = none); each block is a sector bitmap
/// (bit set = sector written, most significant bit first) padded to a sector, then the data.
///
/// Sizes are rounded up to a whole CHS geometry when created (as Virtual PC and qemu do), so that
/// readers that size the disk by geometry and those that use the size field agree. New blocks get an
/// all-ones bitmap and zeroed data; sectors whose bit is clear read as zeros.
/// </summary>
internal sealed class VhdImage : DiskImageBase, IUuidHeader
{
    private const int TypeFixed = 2, TypeDynamic = 3, TypeDiff = 4;
    private const uint Unallocated = 0xFFFFFFFF;
    private const int DefaultBlockSize = 2 << 20;
    private const long MaxChsSectors = 65535L * 16 * 255;
    /// <summary>Dynamic VHDs address blocks by 32-bit sector numbers: 2 TiB of file.</summary>
    private const long MaxDynamicSize = 2040L << 30;
    private static readonly DateTime Epoch = new(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    private readonly SafeFileHandle _file;
    private readonly byte[] _footer;
    private readonly int _type;
    // Dynamic images only:
    private readonly byte[]? _header;
    private readonly long _headerOffset;
    private long _batOffset;
    private uint[] _bat = Array.Empty<uint>();
    private readonly int _blockSize;
    private readonly int _blockShift;
    private readonly int _bitmapBytes;
    private byte[] _bitmapState = Array.Empty<byte>(); // 0 unknown, 1 every sector written, 2 some not
    private byte[]? _bitmap;
    private long _dataEnd;                               // where the next block (or the footer) goes
    private bool _footerDirty;

    private const byte BitmapUnknown = 0, BitmapFull = 1, BitmapPartial = 2;

    private VhdImage(string path, bool readOnly, SafeFileHandle file, byte[] footer, byte[]? header, long headerOffset)
        : base(path, readOnly)
    {
        _file = file;
        _footer = footer;
        _type = (int)BE32(footer, 60);
        Size = (long)BE64(footer, 48);
        _header = header;
        _headerOffset = headerOffset;
        if (header != null)
        {
            _batOffset = (long)BE64(header, 16);
            _blockSize = (int)BE32(header, 32);
            _blockShift = System.Numerics.BitOperations.Log2((uint)Math.Max(_blockSize, 1));
            _bitmapBytes = ((_blockSize / 512 + 7) / 8 + 511) & ~511;
        }
    }

    public override DiskFormat Format => DiskFormat.Vhd;
    public override DiskVariant Variant => _type == TypeFixed ? DiskVariant.Fixed : DiskVariant.Standard;
    public override long AllocatedSize => FileLength(_file, Path);
    public override Guid Uuid => new(_footer.AsSpan(68, 16));
    public override int BlockSize => _header != null ? _blockSize : 0;
    private bool Dynamic => _header != null;

    // ------------------------------------------------------------------ open

    internal static VhdImage Open(string path, bool readOnly)
    {
        var file = OpenFile(path, readOnly);
        try
        {
            return Load(path, readOnly, file);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static VhdImage Load(string path, bool readOnly, SafeFileHandle file)
    {
        long length = FileLength(file, path);
        if (length < 512)
            throw new DiskImageException(path, $"truncated VHD (file is {length} bytes, the footer alone needs 512)");
        var footer = new byte[512];
        ReadExact(file, path, footer, length - 512);
        bool footerAtEnd = footer.AsSpan().StartsWith("conectix"u8);
        if (!footerAtEnd)
        {
            // A dynamic image keeps a copy of the footer at the start; use it if the end is damaged.
            ReadExact(file, path, footer, 0);
            if (!footer.AsSpan().StartsWith("conectix"u8))
                throw new DiskImageException(path, "bad VHD footer (no \"conectix\" cookie at the end or the start); not a VHD image");
            if (BE32(footer, 60) == TypeFixed)
                throw new DiskImageException(path, "fixed VHD without its footer at the end (truncated image)");
        }
        CheckFooter(path, footer);
        int type = (int)BE32(footer, 60);
        byte[]? header = null;
        long headerOffset = 0;
        if (type == TypeDynamic)
        {
            ulong off = BE64(footer, 16);
            if (off == ulong.MaxValue || off + 1024 > (ulong)length)
                throw new DiskImageException(path, $"VHD dynamic header offset {off} lies outside the file ({length} bytes)");
            headerOffset = (long)off;
            header = new byte[1024];
            ReadExact(file, path, header, headerOffset);
        }
        var image = new VhdImage(path, readOnly, file, footer, header, headerOffset);
        if (type == TypeFixed)
        {
            if (image.Size > length - 512)
                throw new DiskImageException(path, $"truncated fixed VHD: the footer says {image.Size} bytes of data, the file holds {Math.Max(0, length - 512)}");
            image._dataEnd = image.Size;
        }
        else
        {
            image.LoadDynamic(length, footerAtEnd);
        }
        return image;
    }

    private static void CheckFooter(string path, byte[] f)
    {
        uint stored = BE32(f, 64);
        uint computed = Checksum(f, 64);
        if (stored != computed)
            throw new DiskImageException(path, $"VHD footer checksum mismatch (stored 0x{stored:x8}, computed 0x{computed:x8})");
        uint version = BE32(f, 12);
        if (version >> 16 != 1)
            throw new DiskImageException(path, $"unsupported VHD version {version >> 16}.{version & 0xFFFF}");
        uint type = BE32(f, 60);
        if (type == TypeDiff)
            throw new DiskImageException(path, "differencing VHD images are not supported");
        if (type is not (TypeFixed or TypeDynamic))
            throw new DiskImageException(path, $"bad VHD disk type {type}");
        ulong size = BE64(f, 48);
        if (size == 0 || size > 1UL << 44)
            throw new DiskImageException(path, $"absurd VHD disk size {size}");
    }

    private void LoadDynamic(long length, bool footerAtEnd)
    {
        var h = _header!;
        if (!h.AsSpan().StartsWith("cxsparse"u8))
            throw Bad("bad VHD dynamic header cookie (expected \"cxsparse\")");
        uint stored = BE32(h, 36), computed = Checksum(h, 36);
        if (stored != computed)
            throw Bad($"VHD dynamic header checksum mismatch (stored 0x{stored:x8}, computed 0x{computed:x8})");
        if (BE32(h, 24) >> 16 != 1)
            throw Bad($"unsupported VHD dynamic header version 0x{BE32(h, 24):x8}");
        if (_blockSize < 512 || _blockSize > 256 << 20 || (_blockSize & (_blockSize - 1)) != 0)
            throw Bad($"absurd VHD block size {(uint)_blockSize}");
        if (Size > MaxDynamicSize + (1L << 30))
            throw Bad($"absurd size {Size} for a dynamic VHD");
        uint entries = BE32(h, 28);
        if ((ulong)entries * (ulong)_blockSize < (ulong)Size)
            throw Bad($"VHD block table has {entries} entries of {_blockSize} bytes, too few for {Size} bytes");
        if (entries > 1u << 24)
            throw Bad($"absurd VHD block table size {entries} entries");
        if (_batOffset < 0 || _batOffset + 4L * entries > length)
            throw Bad($"VHD block table at {_batOffset} ({4L * entries} bytes) runs past the end of the file ({length} bytes)");

        _bat = new uint[entries];
        var raw = System.Runtime.InteropServices.MemoryMarshal.AsBytes(_bat.AsSpan());
        ReadExact(_file, Path, raw, _batOffset);
        if (BitConverter.IsLittleEndian)
            BinaryPrimitives.ReverseEndianness(_bat, _bat);
        _bitmapState = new byte[entries];

        long limit = footerAtEnd ? length - 512 : length;
        long span = (long)_bitmapBytes + _blockSize;
        long batEnd = (_batOffset + 4L * entries + 511) & ~511L;
        long dataEnd = Math.Max(batEnd, _headerOffset + 1024);
        var starts = new List<(long Start, int Index)>();
        for (int i = 0; i < _bat.Length; i++)
        {
            uint e = _bat[i];
            if (e == Unallocated)
                continue;
            long start = e * 512L;
            if (start + span > limit)
                throw Bad($"VHD block table entry {i} points to sector {e}, past the end of the file ({length} bytes)");
            if (start < batEnd && start + span > _batOffset)
                throw Bad($"VHD block table entry {i} points into the block table itself");
            starts.Add((start, i));
            dataEnd = Math.Max(dataEnd, start + span);
        }
        starts.Sort();
        for (int k = 1; k < starts.Count; k++)
            if (starts[k].Start < starts[k - 1].Start + span)
                throw Bad(starts[k].Start == starts[k - 1].Start
                    ? $"duplicate VHD block table entries: {starts[k - 1].Index} and {starts[k].Index} point to the same block"
                    : $"VHD block table entries {starts[k - 1].Index} and {starts[k].Index} overlap");
        _dataEnd = footerAtEnd ? Math.Max(dataEnd, length - 512) : dataEnd;
        if (!footerAtEnd && !IsReadOnly)
            _footerDirty = true; // put the footer back at the end on the next flush
    }

    private DiskImageException Bad(string problem) => new(Path, problem);

    // ------------------------------------------------------------------ I/O

    protected override void ReadCore(long offset, Span<byte> buffer)
    {
        if (!Dynamic)
        {
            ReadExact(_file, Path, buffer, offset);
            return;
        }
        long mask = _blockSize - 1;
        while (buffer.Length > 0)
        {
            long block = offset >> _blockShift;
            int inBlock = (int)(offset & mask);
            int n = Math.Min(buffer.Length, _blockSize - inBlock);
            uint e = _bat[block];
            if (e == Unallocated)
            {
                buffer[..n].Clear();
            }
            else if (BitmapStateOf(block) == BitmapFull)
            {
                long span = (long)_bitmapBytes + _blockSize;
                long k = 1;
                while (n < buffer.Length && block + k < _bat.Length && _bat[block + k] == e + k * (span / 512)
                       && BitmapStateOf(block + k) == BitmapFull)
                {
                    n += Math.Min(buffer.Length - n, _blockSize);
                    k++;
                }
                ReadExact(_file, Path, buffer[..n], e * 512L + _bitmapBytes + inBlock);
            }
            else
            {
                ReadPartial(e, inBlock, buffer[..n]);
            }
            offset += n;
            buffer = buffer[n..];
        }
    }

    /// <summary>Reads within one block whose bitmap has clear bits: runs of written sectors come from the file, the rest is zero.</summary>
    private void ReadPartial(uint blockSector, int inBlock, Span<byte> buffer)
    {
        var bitmap = LoadBitmap(blockSector);
        long dataStart = blockSector * 512L + _bitmapBytes;
        int pos = inBlock, end = inBlock + buffer.Length;
        while (pos < end)
        {
            bool set = IsSet(bitmap, pos / 512);
            int runEnd = (pos / 512 + 1) * 512;
            while (runEnd < end && IsSet(bitmap, runEnd / 512) == set)
                runEnd += 512;
            runEnd = Math.Min(runEnd, end);
            var part = buffer.Slice(pos - inBlock, runEnd - pos);
            if (set)
                ReadExact(_file, Path, part, dataStart + pos);
            else
                part.Clear();
            pos = runEnd;
        }
    }

    private static bool IsSet(byte[] bitmap, int sector) => (bitmap[sector >> 3] & (0x80 >> (sector & 7))) != 0;

    private byte[] LoadBitmap(uint blockSector)
    {
        var bitmap = _bitmap ??= new byte[_bitmapBytes];
        ReadExact(_file, Path, bitmap, blockSector * 512L);
        return bitmap;
    }

    private byte BitmapStateOf(long block)
    {
        byte s = _bitmapState[block];
        if (s != BitmapUnknown)
            return s;
        var bitmap = LoadBitmap(_bat[block]);
        int sectors = _blockSize / 512;
        bool full = true;
        for (int i = 0; i < sectors && full; i++)
            full = IsSet(bitmap, i);
        return _bitmapState[block] = full ? BitmapFull : BitmapPartial;
    }

    protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer)
    {
        if (!Dynamic)
        {
            WriteAt(_file, Path, buffer, offset);
            return;
        }
        long mask = _blockSize - 1;
        while (buffer.Length > 0)
        {
            long block = offset >> _blockShift;
            int inBlock = (int)(offset & mask);
            int n = Math.Min(buffer.Length, _blockSize - inBlock);
            uint e = _bat[block];
            if (e == Unallocated)
            {
                AllocateAndWrite((int)block, inBlock, buffer[..n]);
            }
            else if (BitmapStateOf(block) == BitmapFull)
            {
                WriteAt(_file, Path, buffer[..n], e * 512L + _bitmapBytes + inBlock);
            }
            else
            {
                WritePartial((int)block, inBlock, buffer[..n]);
            }
            offset += n;
            buffer = buffer[n..];
        }
    }

    /// <summary>
    /// Writes into a block with unwritten sectors: those the write touches but does not cover are
    /// zeroed in the file first (they may hold stale bytes), then the data, then the bitmap bits.
    /// </summary>
    private void WritePartial(int block, int inBlock, ReadOnlySpan<byte> data)
    {
        uint e = _bat[block];
        var bitmap = LoadBitmap(e);
        long dataStart = e * 512L + _bitmapBytes;
        int first = inBlock / 512, last = (inBlock + data.Length - 1) / 512;
        ZeroIfStale(bitmap, dataStart, first, inBlock, data.Length);
        if (last != first)
            ZeroIfStale(bitmap, dataStart, last, inBlock, data.Length);
        WriteAt(_file, Path, data, dataStart + inBlock);
        for (int s = first; s <= last; s++)
            bitmap[s >> 3] |= (byte)(0x80 >> (s & 7));
        WriteAt(_file, Path, bitmap, e * 512L);
        _bitmapState[block] = BitmapUnknown;
    }

    private void ZeroIfStale(byte[] bitmap, long dataStart, int sector, int inBlock, int length)
    {
        bool covered = sector * 512 >= inBlock && (sector + 1) * 512 <= inBlock + length;
        if (!IsSet(bitmap, sector) && !covered)
            WriteZeros(_file, Path, dataStart + sector * 512L, 512);
    }

    /// <summary>New block where the footer was: bitmap (all written), zeroed data, new data, footer, then the BAT entry.</summary>
    private void AllocateAndWrite(int block, int inBlock, ReadOnlySpan<byte> data)
    {
        long pos = (_dataEnd + 511) & ~511L;
        long blockEnd = pos + _bitmapBytes + _blockSize;
        if (pos / 512 >= Unallocated)
            throw Bad("the dynamic VHD is full (block offsets would pass 2 TiB)");
        var bitmap = _bitmap ??= new byte[_bitmapBytes];
        bitmap.AsSpan().Clear();
        bitmap.AsSpan(0, (_blockSize / 512 + 7) / 8).Fill(0xFF);
        SetLength(_file, Path, blockEnd + 512);
        WriteAt(_file, Path, bitmap, pos);
        WriteAt(_file, Path, data, pos + _bitmapBytes + inBlock);
        _dataEnd = blockEnd;
        WriteFooter();
        _bat[block] = (uint)(pos / 512);
        _bitmapState[block] = BitmapFull;
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, _bat[block]);
        WriteAt(_file, Path, b, _batOffset + 4L * block);
    }

    internal override bool IsZeroRange(long offset, long length)
    {
        if (!Dynamic)
            return false;
        for (long b = offset >> _blockShift, last = (offset + length - 1) >> _blockShift; b <= last; b++)
            if (_bat[b] != Unallocated)
                return false;
        return true;
    }

    protected override void FlushCore()
    {
        if (_footerDirty)
            WriteFooter();
        Sync(_file, Path);
    }

    protected override void CloseCore() => _file.Dispose();

    /// <summary>Writes the footer at the end of the data (and its copy at offset 0 for dynamic images).</summary>
    private void WriteFooter()
    {
        BinaryPrimitives.WriteUInt32BigEndian(_footer.AsSpan(64), 0);
        BinaryPrimitives.WriteUInt32BigEndian(_footer.AsSpan(64), Checksum(_footer, 64));
        WriteAt(_file, Path, _footer, _dataEnd);
        if (Dynamic)
            WriteAt(_file, Path, _footer, 0);
        _footerDirty = false;
    }

    private void WriteHeader()
    {
        var h = _header!;
        BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(36), 0);
        BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(36), Checksum(h, 36));
        WriteAt(_file, Path, h, _headerOffset);
    }

    // ------------------------------------------------------------------ UUIDs

    public void SetUuid(Guid uuid)
    {
        if (IsReadOnly)
            throw Bad("the image is open read-only");
        uuid.TryWriteBytes(_footer.AsSpan(68, 16));
        WriteFooter();
        Sync(_file, Path);
    }

    public void SetParentUuid(Guid uuid) => throw Bad("VHD images here are never differencing images; they have no parent UUID");
    public void SetModificationUuid(Guid uuid) => throw Bad("the VHD format has no modification UUID");
    public void SetParentModificationUuid(Guid uuid) => throw Bad("the VHD format has no parent modification UUID");

    // ------------------------------------------------------------------ grow

    /// <summary>
    /// Grows the disk (rounded up to a whole CHS geometry). A dynamic image whose block table is too
    /// small gets a larger one; blocks in the way are first copied to the end of the file.
    /// </summary>
    internal void Grow(long newSize)
    {
        if (IsReadOnly)
            throw Bad("the image is open read-only");
        var (size, c, h, s) = RoundToGeometry(newSize);
        if (size <= Size)
            return;
        if (!Dynamic)
        {
            // The old footer's place becomes disk data, so clear it before the footer moves.
            SetLength(_file, Path, size + 512);
            WriteZeros(_file, Path, Size, 512);
            _dataEnd = size;
        }
        else
        {
            if (size > MaxDynamicSize)
                throw Bad($"size {size} is too large for a dynamic VHD");
            uint needed = (uint)((size + _blockSize - 1) / _blockSize);
            if (needed > _bat.Length)
                GrowTable(needed);
        }
        SetSizeFields(_footer, size, c, h, s, keepOriginal: true);
        Size = size;
        WriteFooter();
        Sync(_file, Path);
    }

    private void GrowTable(uint entries)
    {
        long span = (long)_bitmapBytes + _blockSize;
        long newEnd = (_batOffset + 4L * entries + 511) & ~511L;
        // Move every block that starts inside the new table's area to the end of the file.
        var buf = new byte[span];
        Span<byte> b = stackalloc byte[4];
        for (int i = 0; i < _bat.Length; i++)
        {
            uint e = _bat[i];
            if (e == Unallocated || e * 512L >= newEnd)
                continue;
            long to = (Math.Max(_dataEnd, newEnd) + 511) & ~511L;
            ReadExact(_file, Path, buf, e * 512L);
            SetLength(_file, Path, to + span + 512);
            WriteAt(_file, Path, buf, to);
            _dataEnd = to + span;
            WriteFooter();
            Sync(_file, Path);
            _bat[i] = (uint)(to / 512);
            BinaryPrimitives.WriteUInt32BigEndian(b, _bat[i]);
            WriteAt(_file, Path, b, _batOffset + 4L * i);
        }
        if (_dataEnd < newEnd)
        {
            SetLength(_file, Path, newEnd + 512);
            _dataEnd = newEnd;
        }
        var grown = new uint[entries];
        Array.Fill(grown, Unallocated);
        _bat.CopyTo(grown, 0);
        var raw = new byte[newEnd - _batOffset];
        raw.AsSpan().Fill(0xFF);
        for (int i = 0; i < grown.Length; i++)
            BinaryPrimitives.WriteUInt32BigEndian(raw.AsSpan(4 * i), grown[i]);
        Sync(_file, Path);
        WriteAt(_file, Path, raw, _batOffset);
        _bat = grown;
        var state = new byte[entries];
        _bitmapState.CopyTo(state, 0);
        _bitmapState = state;
        BinaryPrimitives.WriteUInt32BigEndian(_header!.AsSpan(28), entries);
        WriteHeader();
    }

    // ------------------------------------------------------------------ create

    internal static void CreateFile(string path, long size, bool fixedSize, Guid uuid)
    {
        var (rounded, c, h, s) = RoundToGeometry(size);
        if (!fixedSize && rounded > MaxDynamicSize)
            throw new DiskImageException(path, $"disk size {size} is too large for a dynamic VHD (at most {MaxDynamicSize} bytes)");
        if (rounded > 1L << 44)
            throw new DiskImageException(path, $"disk size {size} is too large for VHD");
        var footer = new byte[512];
        "conectix"u8.CopyTo(footer);
        BinaryPrimitives.WriteUInt32BigEndian(footer.AsSpan(8), 2);           // features: reserved bit
        BinaryPrimitives.WriteUInt32BigEndian(footer.AsSpan(12), 0x00010000);  // version 1.0
        BinaryPrimitives.WriteUInt64BigEndian(footer.AsSpan(16), fixedSize ? ulong.MaxValue : 512);
        BinaryPrimitives.WriteUInt32BigEndian(footer.AsSpan(24), (uint)(DateTime.UtcNow - Epoch).TotalSeconds);
        // VirtualBox's creator tag; readers that size such disks by geometry get the same size (see RoundToGeometry).
        "vbox"u8.CopyTo(footer.AsSpan(28));
        BinaryPrimitives.WriteUInt32BigEndian(footer.AsSpan(32), 0x00070000);
        "Wi2k"u8.CopyTo(footer.AsSpan(36));
        SetSizeFields(footer, rounded, c, h, s, keepOriginal: false);
        BinaryPrimitives.WriteUInt32BigEndian(footer.AsSpan(60), (uint)(fixedSize ? TypeFixed : TypeDynamic));
        uuid.TryWriteBytes(footer.AsSpan(68, 16));
        BinaryPrimitives.WriteUInt32BigEndian(footer.AsSpan(64), Checksum(footer, 64));

        if (fixedSize)
        {
            using var file = CreateFile(path, rounded + 512);
            SetLength(file, path, rounded + 512);
            WriteAt(file, path, footer, rounded);
            Sync(file, path);
            return;
        }
        uint entries = (uint)((rounded + DefaultBlockSize - 1) / DefaultBlockSize);
        var header = new byte[1024];
        "cxsparse"u8.CopyTo(header);
        BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(8), ulong.MaxValue);
        BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(16), 1536);        // BAT right after the header
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(24), 0x00010000);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(28), entries);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(32), DefaultBlockSize);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(36), Checksum(header, 36));
        var bat = new byte[(4L * entries + 511) & ~511L];
        bat.AsSpan().Fill(0xFF);
        long footerAt = 1536 + bat.Length;
        using (var file = CreateFile(path))
        {
            WriteAt(file, path, footer, 0);
            WriteAt(file, path, header, 512);
            WriteAt(file, path, bat, 1536);
            WriteAt(file, path, footer, footerAt);
            Sync(file, path);
        }
    }

    private static void SetSizeFields(byte[] footer, long size, int c, int h, int s, bool keepOriginal)
    {
        if (!keepOriginal)
            BinaryPrimitives.WriteUInt64BigEndian(footer.AsSpan(40), (ulong)size);
        BinaryPrimitives.WriteUInt64BigEndian(footer.AsSpan(48), (ulong)size);
        BinaryPrimitives.WriteUInt16BigEndian(footer.AsSpan(56), (ushort)c);
        footer[58] = (byte)h;
        footer[59] = (byte)s;
    }

    /// <summary>
    /// The VHD specification's CHS geometry for a sector count (sectors per track 17, 31, 63 or 255).
    /// </summary>
    internal static (int C, int H, int S) Geometry(long totalSectors)
    {
        totalSectors = Math.Min(totalSectors, MaxChsSectors);
        int spt, heads;
        long cth;
        if (totalSectors >= 65535L * 16 * 63)
        {
            spt = 255; heads = 16; cth = totalSectors / spt;
        }
        else
        {
            spt = 17; cth = totalSectors / spt;
            heads = (int)Math.Max(4, (cth + 1023) / 1024);
            if (cth >= heads * 1024L || heads > 16)
            {
                spt = 31; heads = 16; cth = totalSectors / spt;
            }
            if (cth >= heads * 1024L)
            {
                spt = 63; heads = 16; cth = totalSectors / spt;
            }
        }
        return ((int)(cth / heads), heads, spt);
    }

    /// <summary>
    /// Rounds a size up to the smallest whole geometry holding it (Virtual PC's and qemu's rule), or,
    /// past the largest geometry, to a whole sector with the maximum geometry recorded.
    /// </summary>
    internal static (long Size, int C, int H, int S) RoundToGeometry(long size)
    {
        long sectors = (size + 511) / 512;
        if (sectors >= MaxChsSectors)
            return (sectors * 512, 65535, 16, 255);
        for (long i = 0; ; i++)
        {
            var (c, h, s) = Geometry(sectors + i);
            long product = (long)c * h * s;
            if (product >= sectors)
                return (product * 512, c, h, s);
        }
    }

    private static uint Checksum(byte[] data, int checksumOffset)
    {
        uint sum = 0;
        for (int i = 0; i < data.Length; i++)
            if (i < checksumOffset || i >= checksumOffset + 4)
                sum += data[i];
        return ~sum;
    }

    private static uint BE32(byte[] b, int off) => BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(off));
    private static ulong BE64(byte[] b, int off) => BinaryPrimitives.ReadUInt64BigEndian(b.AsSpan(off));
}
