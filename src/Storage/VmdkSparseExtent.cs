using System.Buffers.Binary;
using System.IO.Compression;
using Microsoft.Win32.SafeHandles;

namespace SharpBox.Storage;

/// <summary>
/// A hosted sparse VMDK extent. Header (512 bytes, little endian): magic "KDMV", version, flags,
/// capacity, grainSize, descriptorOffset, descriptorSize (all in sectors), numGTEsPerGT, rgdOffset,
/// gdOffset, overHead, then the newline-check characters and compressAlgorithm. Grain directory
/// entries give the sector of each grain table; grain-table entries the sector of each grain
/// (0 = never written; 1 = zero grain when flag bit 2 is set). streamOptimized extents (flag bits 16
/// and 17) store each grain zlib-compressed behind a 12-byte marker (lba, size), and may keep the
/// real grain directory offset in a footer copy of the header 1024 bytes before the end of the file.
/// </summary>
internal sealed class VmdkSparseExtent : VmdkExtent
{
    private const ulong GdAtEnd = ulong.MaxValue;
    private const uint FlagNewlineCheck = 1, FlagRedundantTable = 2, FlagZeroGrain = 4;
    private const uint FlagCompressed = 1 << 16, FlagMarkers = 1 << 17;
    private const int GrainSectors = 128;   // 64 KiB grains, as VirtualBox and qemu create them
    private const int TableEntries = 512;
    /// <summary>Above this many grain-table bytes, tables load on first use instead of at open.</summary>
    private const long EagerTableBytes = 64L << 20;

    private readonly SafeFileHandle _file;
    private readonly string _path;
    private readonly bool _ownsHandle;
    private readonly uint _flags;
    private readonly int _grainSectors;
    private readonly int _grainShift;
    private readonly int _tableEntries;
    private readonly long _gdOffset;       // bytes
    private readonly uint[] _gd;
    private readonly uint[]? _rgd;
    private readonly long _rgdOffset;      // bytes
    private readonly uint[]?[] _tables;
    private long _fileLength;
    private byte[]? _grainCache;           // last inflated grain (streamOptimized)
    private long _grainCacheIndex = -1;
    private byte[]? _compressed;

    private VmdkSparseExtent(SafeFileHandle file, string path, bool ownsHandle, bool readOnly, ReadOnlySpan<byte> h,
                             long gdOffset, long length)
    {
        _file = file;
        _path = path;
        _ownsHandle = ownsHandle;
        ReadOnly = readOnly;
        _fileLength = length;
        _flags = BinaryPrimitives.ReadUInt32LittleEndian(h[8..]);
        CapacitySectors = (long)BinaryPrimitives.ReadUInt64LittleEndian(h[12..]);
        _grainSectors = (int)BinaryPrimitives.ReadUInt64LittleEndian(h[20..]);
        DescriptorOffset = (long)BinaryPrimitives.ReadUInt64LittleEndian(h[28..]) * 512;
        DescriptorSize = (long)BinaryPrimitives.ReadUInt64LittleEndian(h[36..]) * 512;
        _tableEntries = (int)BinaryPrimitives.ReadUInt32LittleEndian(h[44..]);
        _rgdOffset = (long)BinaryPrimitives.ReadUInt64LittleEndian(h[48..]) * 512;
        _gdOffset = gdOffset;
        GrainBytes = _grainSectors * 512;
        _grainShift = System.Numerics.BitOperations.Log2((uint)GrainBytes);
        Length = CapacitySectors * 512;
        long grainsPerTable = (long)_grainSectors * _tableEntries;
        long gdEntries = (CapacitySectors + grainsPerTable - 1) / grainsPerTable;
        _gd = new uint[gdEntries];
        _tables = new uint[]?[gdEntries];
        if ((_flags & FlagRedundantTable) != 0 && _rgdOffset != 0 && !Compressed)
            _rgd = new uint[gdEntries];
    }

    public long CapacitySectors { get; }
    public int GrainBytes { get; }
    public long DescriptorOffset { get; }
    public long DescriptorSize { get; }
    public bool Compressed => (_flags & FlagCompressed) != 0;

    private DiskImageException Bad(string problem) => new(_path, problem);

    public static VmdkSparseExtent Open(SafeFileHandle file, string path, bool ownsHandle, bool readOnly)
    {
        long length = DiskImageBase.FileLength(file, path);
        if (length < 512)
            throw new DiskImageException(path, $"truncated VMDK sparse header (file is {length} bytes)");
        Span<byte> h = stackalloc byte[512];
        DiskImageBase.ReadExact(file, path, h, 0);
        if (!h.StartsWith("KDMV"u8))
            throw new DiskImageException(path, "bad VMDK sparse extent signature (expected \"KDMV\")");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(h[4..]);
        if (version is < 1 or > 3)
            throw new DiskImageException(path, $"unsupported VMDK sparse extent version {version}");
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(h[8..]);
        ulong capacity = BinaryPrimitives.ReadUInt64LittleEndian(h[12..]);
        ulong grain = BinaryPrimitives.ReadUInt64LittleEndian(h[20..]);
        uint entries = BinaryPrimitives.ReadUInt32LittleEndian(h[44..]);
        ulong gdOffset = BinaryPrimitives.ReadUInt64LittleEndian(h[56..]);
        if (capacity == 0 || capacity > 1UL << 40)
            throw new DiskImageException(path, $"absurd VMDK capacity {capacity} sectors");
        if (grain == 0 || grain > 2048 || (grain & (grain - 1)) != 0)
            throw new DiskImageException(path, $"absurd VMDK grain size {grain} sectors (must be a power of two up to 2048)");
        if (entries == 0 || entries > 65536)
            throw new DiskImageException(path, $"absurd VMDK grain table size {entries} entries");
        if ((flags & FlagCompressed) != 0)
        {
            ushort algorithm = BinaryPrimitives.ReadUInt16LittleEndian(h[77..]);
            if (algorithm != 1)
                throw new DiskImageException(path, $"unsupported VMDK compression algorithm {algorithm}");
            if ((flags & FlagMarkers) == 0)
                throw new DiskImageException(path, "compressed VMDK grains without markers are not supported");
        }
        if (gdOffset == GdAtEnd)
        {
            // streamOptimized: the footer (a copy of the header with the real offset) sits 1 KiB before the end.
            if ((flags & FlagCompressed) == 0 || length < 1536)
                throw new DiskImageException(path, "VMDK grain directory is \"at the end\" but there is no footer");
            Span<byte> footer = stackalloc byte[512];
            DiskImageBase.ReadExact(file, path, footer, length - 1024);
            if (!footer.StartsWith("KDMV"u8))
                throw new DiskImageException(path, "VMDK footer missing or damaged (truncated streamOptimized image?)");
            gdOffset = BinaryPrimitives.ReadUInt64LittleEndian(footer[56..]);
            if (gdOffset == GdAtEnd)
                throw new DiskImageException(path, "VMDK footer has no grain directory offset");
        }
        if (gdOffset == 0 || gdOffset > (ulong)length / 512)
            throw new DiskImageException(path, $"VMDK grain directory offset {gdOffset} (sectors) lies outside the file ({length} bytes)");

        var extent = new VmdkSparseExtent(file, path, ownsHandle, readOnly, h, (long)gdOffset * 512, length);
        extent.LoadDirectory();
        return extent;
    }

    private void LoadDirectory()
    {
        ReadDirectory(_gd, _gdOffset, "grain directory");
        if (_rgd != null)
        {
            if (_rgdOffset + 4L * _rgd.Length > _fileLength)
                throw Bad($"VMDK redundant grain directory at {_rgdOffset} lies outside the file");
            ReadDirectory(_rgd, _rgdOffset, "redundant grain directory");
        }
        long tableBytes = 4L * _tableEntries;
        var seen = new Dictionary<uint, int>();
        for (int i = 0; i < _gd.Length; i++)
        {
            uint e = _gd[i];
            if (e == 0)
                continue;
            if (e * 512L + tableBytes > _fileLength)
                throw Bad($"grain directory entry {i} points to a grain table at sector {e}, past the end of the file ({_fileLength} bytes)");
            if (!seen.TryAdd(e, i))
                throw Bad($"duplicate grain directory entries: {seen[e]} and {i} both point to sector {e}");
        }
        if ((long)_gd.Length * tableBytes <= EagerTableBytes)
            for (int i = 0; i < _gd.Length; i++)
                if (_gd[i] != 0)
                    _tables[i] = LoadTable(i);
    }

    private void ReadDirectory(uint[] dir, long offset, string what)
    {
        long bytes = 4L * dir.Length;
        if (offset + bytes > _fileLength)
            throw Bad($"VMDK {what} ({bytes} bytes at {offset}) runs past the end of the file ({_fileLength} bytes)");
        DiskImageBase.ReadExact(_file, _path, System.Runtime.InteropServices.MemoryMarshal.AsBytes(dir.AsSpan()), offset);
        if (!BitConverter.IsLittleEndian)
            BinaryPrimitives.ReverseEndianness(dir, dir);
    }

    private uint[] LoadTable(int gdIndex)
    {
        var table = new uint[_tableEntries];
        DiskImageBase.ReadExact(_file, _path, System.Runtime.InteropServices.MemoryMarshal.AsBytes(table.AsSpan()), _gd[gdIndex] * 512L);
        if (!BitConverter.IsLittleEndian)
            BinaryPrimitives.ReverseEndianness(table, table);
        bool zeroGrain = (_flags & FlagZeroGrain) != 0;
        for (int j = 0; j < table.Length; j++)
        {
            uint e = table[j];
            if (e == 0 || (e == 1 && zeroGrain))
                continue;
            if (e * 512L >= _fileLength)
                throw Bad($"grain table {gdIndex} entry {j} points to sector {e}, past the end of the file ({_fileLength} bytes)");
        }
        return table;
    }

    /// <summary>The grain-table entry of a grain (0 when its table does not exist).</summary>
    private uint Entry(long grain)
    {
        long gdIndex = grain / _tableEntries;
        var table = _tables[gdIndex];
        if (table == null)
        {
            if (_gd[gdIndex] == 0)
                return 0;
            table = _tables[gdIndex] = LoadTable((int)gdIndex);
        }
        return table[grain % _tableEntries];
    }

    private bool IsUnwritten(uint e) => e == 0 || (e == 1 && (_flags & FlagZeroGrain) != 0);

    public override void Read(long offset, Span<byte> buffer)
    {
        long mask = GrainBytes - 1;
        while (buffer.Length > 0)
        {
            long grain = offset >> _grainShift;
            int inGrain = (int)(offset & mask);
            int n = Math.Min(buffer.Length, GrainBytes - inGrain);
            uint e = Entry(grain);
            if (IsUnwritten(e))
            {
                buffer[..n].Clear();
            }
            else if (Compressed)
            {
                ReadCompressed(grain, e, inGrain, buffer[..n]);
            }
            else
            {
                // Grains laid out one after another on disk are read in one go.
                long k = 1;
                while (n < buffer.Length && (grain + k) * GrainBytes < Length && Entry(grain + k) == e + k * _grainSectors)
                {
                    n += Math.Min(buffer.Length - n, GrainBytes);
                    k++;
                }
                DiskImageBase.ReadOrZero(_file, _path, buffer[..n], e * 512L + inGrain);
            }
            offset += n;
            buffer = buffer[n..];
        }
    }

    private void ReadCompressed(long grain, uint sector, int inGrain, Span<byte> dest)
    {
        if (_grainCacheIndex != grain)
        {
            var cache = _grainCache ??= new byte[GrainBytes];
            Span<byte> marker = stackalloc byte[12];
            long pos = sector * 512L;
            DiskImageBase.ReadExact(_file, _path, marker, pos);
            ulong lba = BinaryPrimitives.ReadUInt64LittleEndian(marker);
            uint size = BinaryPrimitives.ReadUInt32LittleEndian(marker[8..]);
            if (lba != (ulong)(grain * _grainSectors))
                throw Bad($"compressed grain at sector {sector} is marked for sector {lba}, expected {grain * _grainSectors}");
            if (size == 0 || size > 2 * GrainBytes + 4096 || pos + 12 + size > _fileLength)
                throw Bad($"compressed grain at sector {sector} has a bad size {size}");
            if (_compressed == null || _compressed.Length < size)
                _compressed = new byte[size];
            DiskImageBase.ReadExact(_file, _path, _compressed.AsSpan(0, (int)size), pos + 12);
            try
            {
                using var z = new ZLibStream(new MemoryStream(_compressed, 0, (int)size), CompressionMode.Decompress);
                int got = 0, r;
                while (got < cache.Length && (r = z.Read(cache, got, cache.Length - got)) > 0)
                    got += r;
                cache.AsSpan(got).Clear();
            }
            catch (InvalidDataException e)
            {
                _grainCacheIndex = -1;
                throw Bad($"compressed grain at sector {sector} does not inflate: {e.Message}");
            }
            _grainCacheIndex = grain;
        }
        _grainCache.AsSpan(inGrain, dest.Length).CopyTo(dest);
    }

    public override void Write(long offset, ReadOnlySpan<byte> buffer)
    {
        if (ReadOnly || Compressed)
            throw Bad("this VMDK extent cannot be written");
        long mask = GrainBytes - 1;
        while (buffer.Length > 0)
        {
            long grain = offset >> _grainShift;
            int inGrain = (int)(offset & mask);
            int n = Math.Min(buffer.Length, GrainBytes - inGrain);
            uint e = Entry(grain);
            if (IsUnwritten(e))
            {
                AllocateAndWrite(grain, inGrain, buffer[..n]);
            }
            else
            {
                long k = 1;
                while (n < buffer.Length && (grain + k) * GrainBytes < Length && Entry(grain + k) == e + k * _grainSectors)
                {
                    n += Math.Min(buffer.Length - n, GrainBytes);
                    k++;
                }
                DiskImageBase.WriteAt(_file, _path, buffer[..n], e * 512L + inGrain);
            }
            offset += n;
            buffer = buffer[n..];
        }
    }

    /// <summary>A new grain at the end of the file; its table entries are written after its data.</summary>
    private void AllocateAndWrite(long grain, int inGrain, ReadOnlySpan<byte> data)
    {
        int gdIndex = (int)(grain / _tableEntries);
        int gtIndex = (int)(grain % _tableEntries);
        if (_gd[gdIndex] == 0)
            AllocateTable(gdIndex);
        var table = _tables[gdIndex] ??= LoadTable(gdIndex);

        long pos = (_fileLength + 511) & ~511L;
        long end = pos + GrainBytes;
        if (end / 512 > uint.MaxValue)
            throw Bad("the sparse VMDK extent is full (grain offsets would pass 2 TiB)");
        if (data.Length != GrainBytes)
            DiskImageBase.SetLength(_file, _path, end); // the rest of the grain reads as zeros
        DiskImageBase.WriteAt(_file, _path, data, pos + inGrain);
        _fileLength = end;

        uint sector = (uint)(pos / 512);
        table[gtIndex] = sector;
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, sector);
        DiskImageBase.WriteAt(_file, _path, b, _gd[gdIndex] * 512L + 4L * gtIndex);
        if (_rgd != null && _rgd[gdIndex] != 0)
            DiskImageBase.WriteAt(_file, _path, b, _rgd[gdIndex] * 512L + 4L * gtIndex);
    }

    private void AllocateTable(int gdIndex)
    {
        long bytes = (4L * _tableEntries + 511) & ~511L;
        uint NewTable()
        {
            long pos = (_fileLength + 511) & ~511L;
            DiskImageBase.WriteZeros(_file, _path, pos, bytes);
            _fileLength = pos + bytes;
            return (uint)(pos / 512);
        }
        Span<byte> b = stackalloc byte[4];
        if (_rgd != null)
        {
            _rgd[gdIndex] = NewTable();
            BinaryPrimitives.WriteUInt32LittleEndian(b, _rgd[gdIndex]);
            DiskImageBase.WriteAt(_file, _path, b, _rgdOffset + 4L * gdIndex);
        }
        _gd[gdIndex] = NewTable();
        BinaryPrimitives.WriteUInt32LittleEndian(b, _gd[gdIndex]);
        DiskImageBase.WriteAt(_file, _path, b, _gdOffset + 4L * gdIndex);
        _tables[gdIndex] = new uint[_tableEntries];
    }

    public override bool IsZero(long offset, long length)
    {
        for (long g = offset >> _grainShift, last = (offset + length - 1) >> _grainShift; g <= last; g++)
            if (!IsUnwritten(Entry(g)))
                return false;
        return true;
    }

    public override void Flush()
    {
        if (!ReadOnly)
            DiskImageBase.Sync(_file, _path);
    }

    public override void Dispose()
    {
        if (_ownsHandle)
            _file.Dispose();
    }

    /// <summary>
    /// A new sparse extent file: header, the embedded descriptor (monolithicSparse; null for the
    /// extents of a split image), redundant and primary grain directories with all grain tables
    /// preallocated (as qemu and VirtualBox lay it out), grains after.
    /// </summary>
    public static void CreateFile(string path, long capacitySectors, byte[]? descriptor)
    {
        long perTable = (long)GrainSectors * TableEntries;
        long gdEntries = (capacitySectors + perTable - 1) / perTable;
        long descSectors = descriptor == null ? 0 : Math.Max(20, (descriptor.Length + 1 + 511) / 512 + 4);
        long gdSectors = (4 * gdEntries + 511) / 512;
        long tableSectors = (4L * TableEntries + 511) / 512;
        long rgdOffset = 1 + descSectors;
        long rgtStart = rgdOffset + gdSectors;
        long gdOffset = rgtStart + gdEntries * tableSectors;
        long gtStart = gdOffset + gdSectors;
        long end = gtStart + gdEntries * tableSectors;
        long overhead = (end + GrainSectors - 1) / GrainSectors * GrainSectors;
        if (overhead + capacitySectors > uint.MaxValue)
            throw new DiskImageException(path, $"disk size {capacitySectors * 512} is too large for a sparse VMDK (at most about 2 TiB)");

        var h = new byte[512];
        "KDMV"u8.CopyTo(h);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(4), 1);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(8), FlagNewlineCheck | FlagRedundantTable);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(12), (ulong)capacitySectors);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(20), GrainSectors);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(28), descriptor == null ? 0UL : 1UL);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(36), (ulong)descSectors);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(44), TableEntries);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(48), (ulong)rgdOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(56), (ulong)gdOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(64), (ulong)overhead);
        h[72] = 0;                                  // clean shutdown
        h[73] = (byte)'\n'; h[74] = (byte)' '; h[75] = (byte)'\r'; h[76] = (byte)'\n';

        var rgd = new byte[gdSectors * 512];
        var gd = new byte[gdSectors * 512];
        for (long i = 0; i < gdEntries; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(rgd.AsSpan((int)(4 * i)), (uint)(rgtStart + i * tableSectors));
            BinaryPrimitives.WriteUInt32LittleEndian(gd.AsSpan((int)(4 * i)), (uint)(gtStart + i * tableSectors));
        }
        var desc = new byte[descSectors * 512];
        descriptor?.CopyTo(desc, 0);

        using var file = DiskImageBase.CreateFile(path);
        DiskImageBase.SetLength(file, path, overhead * 512);  // grain tables start out zero
        DiskImageBase.WriteAt(file, path, h, 0);
        if (desc.Length > 0)
            DiskImageBase.WriteAt(file, path, desc, 512);
        DiskImageBase.WriteAt(file, path, rgd, rgdOffset * 512);
        DiskImageBase.WriteAt(file, path, gd, gdOffset * 512);
        DiskImageBase.Sync(file, path);
    }
}
