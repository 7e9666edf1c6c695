using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace SharpBox.Storage;

/// <summary>
/// VirtualBox's native VDI format, version 1.1.
///
/// Layout (facts from VirtualBox's VDICore.h; all integers little endian, UUIDs in IPRT byte order,
/// which is .NET's Guid byte order): a 72-byte pre-header (64 bytes of text, signature 0xBEDA107F,
/// version 0x00010001), then the v1 header (cbHeader 384, or 400 with the LCHS geometry), the block
/// map at offBlocks (one uint32 per block: a data-block index, 0xFFFFFFFF = never written,
/// 0xFFFFFFFE = reads as zeros), and data blocks of cbBlockExtra+cbBlock bytes from offData.
/// VirtualBox aligns offBlocks and offData to 1 MiB; blocks are 1 MiB.
///
/// The whole block map lives in memory. A newly allocated block's map entry is written at once
/// (after its data); the header (allocated-block count) is rewritten on Flush/Dispose, and once on
/// the first write after open to store a fresh modification UUID, as VirtualBox does.
/// </summary>
internal sealed class VdiImage : DiskImageBase, IUuidHeader
{
    internal const uint Signature = 0xBEDA107F;
    private const uint Version11 = 0x00010001;
    private const int PreHeaderSize = 72;
    private const int Header1Size = 384;      // VDIHEADER1
    private const int Header1PlusSize = 400;  // VDIHEADER1PLUS (adds LCHS geometry)
    internal const uint BlockFree = 0xFFFFFFFF;
    internal const uint BlockZero = 0xFFFFFFFE;
    private const int TypeNormal = 1, TypeFixed = 2, TypeUndo = 3, TypeDiff = 4;
    internal const int DefaultBlockSize = 1 << 20;
    private const int DataAlign = 1 << 20;
    /// <summary>qemu's and VirtualBox's ceiling on the number of blocks (the map must stay addressable).</summary>
    private const uint MaxBlocks = 0x3FFFFFFF;
    private const string FileInfoText = "<<< Oracle VirtualBox Disk Image >>>\n";

    // Absolute file offsets of the v1 header fields.
    private const int OffSignature = 0x40, OffVersion = 0x44, OffCbHeader = 0x48, OffType = 0x4C, OffFlags = 0x50,
        OffBlocks = 0x154, OffData = 0x158, OffLegacySectorSize = 0x168, OffCbDisk = 0x170, OffCbBlock = 0x178,
        OffCbBlockExtra = 0x17C, OffCBlocks = 0x180, OffCBlocksAllocated = 0x184, OffUuidCreate = 0x188,
        OffUuidModify = 0x198, OffUuidLinkage = 0x1A8, OffUuidParentModify = 0x1B8, OffLchsSectorSize = 0x1D4;

    private readonly SafeFileHandle _file;
    private readonly byte[] _header;        // pre-header + header exactly as on disk; unknown bytes kept
    private uint[] _map;
    private long _offBlocks;
    private long _offData;
    private readonly int _cbBlock;
    private readonly int _cbExtra;
    private readonly long _cbTotal;         // cbExtra + cbBlock: distance between data blocks
    private readonly int _blockShift;
    private uint _cBlocks;
    private uint _allocated;
    private uint _nextSlot;                 // data-block index past the highest one in use
    private readonly Stack<uint> _freeSlots = new(); // holes below _nextSlot (left by other writers)
    private long _fileLength;
    private int _type;
    private IDiskImage? _parent;
    private bool _ownsParent;
    private bool _headerDirty;
    private bool _modificationBumped;
    private byte[]? _blockBuffer;           // copy-on-write staging, allocated on first partial diff write

    private VdiImage(string path, bool readOnly, SafeFileHandle file, byte[] header) : base(path, readOnly)
    {
        _file = file;
        _header = header;
        _type = (int)U32(OffType);
        _offBlocks = U32(OffBlocks);
        _offData = U32(OffData);
        Size = (long)U64(OffCbDisk);
        _cbBlock = (int)U32(OffCbBlock);
        _cbExtra = (int)U32(OffCbBlockExtra);
        _cbTotal = (long)_cbBlock + _cbExtra;
        _blockShift = System.Numerics.BitOperations.Log2((uint)_cbBlock);
        _cBlocks = U32(OffCBlocks);
        _map = Array.Empty<uint>();
    }

    public override DiskFormat Format => DiskFormat.Vdi;
    public override DiskVariant Variant => _type switch
    {
        TypeFixed => DiskVariant.Fixed,
        TypeDiff => DiskVariant.Diff,
        _ => DiskVariant.Standard,
    };
    public override long AllocatedSize => _fileLength;
    public override Guid Uuid => GuidAt(OffUuidCreate);
    public override Guid ModificationUuid => GuidAt(OffUuidModify);
    public override Guid ParentUuid => GuidAt(OffUuidLinkage);
    public override Guid ParentModificationUuid => GuidAt(OffUuidParentModify);
    public override IDiskImage? Parent => _parent;
    public override int BlockSize => _cbBlock;
    internal uint BlockCount => _cBlocks;
    private bool IsDiff => _type == TypeDiff;

    // ---------------------------------------------------------------- open

    internal static VdiImage Open(string path, bool readOnly)
    {
        var file = OpenFile(path, readOnly);
        try
        {
            var image = Load(path, readOnly, file);
            return image;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static VdiImage Load(string path, bool readOnly, SafeFileHandle file)
    {
        long length = FileLength(file, path);
        if (length < PreHeaderSize + Header1Size)
            throw new DiskImageException(path, $"truncated VDI header (file is {length} bytes, the header needs {PreHeaderSize + Header1Size})");
        Span<byte> pre = stackalloc byte[PreHeaderSize + 4];
        ReadExact(file, path, pre, 0);
        uint sig = BinaryPrimitives.ReadUInt32LittleEndian(pre[OffSignature..]);
        if (sig != Signature)
            throw new DiskImageException(path, $"bad VDI signature 0x{sig:x8} (expected 0x{Signature:x8}); not a VDI image");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(pre[OffVersion..]);
        if (version >> 16 != 1)
            throw new DiskImageException(path, $"unsupported VDI version {version >> 16}.{version & 0xFFFF} (only 1.x is supported)");
        uint cbHeader = BinaryPrimitives.ReadUInt32LittleEndian(pre[OffCbHeader..]);
        if (cbHeader < Header1Size || cbHeader > 4096)
            throw new DiskImageException(path, $"bad VDI header size {cbHeader} (expected {Header1Size}..4096)");
        if (length < PreHeaderSize + cbHeader)
            throw new DiskImageException(path, $"truncated VDI header (file is {length} bytes, the header needs {PreHeaderSize + cbHeader})");

        var header = new byte[PreHeaderSize + cbHeader];
        ReadExact(file, path, header, 0);
        var image = new VdiImage(path, readOnly, file, header);
        image.Validate(length, cbHeader);
        image.LoadMap(length);
        return image;
    }

    private void Validate(long length, uint cbHeader)
    {
        if (_type is < TypeNormal or > TypeDiff)
            throw Bad($"bad VDI image type {_type}");
        if (_type == TypeUndo)
            throw Bad("VDI undo images (type 3) are not supported");
        if (_cbBlock < 512 || _cbBlock > 256 << 20 || (_cbBlock & (_cbBlock - 1)) != 0)
            throw Bad($"absurd VDI block size {(uint)_cbBlock} (must be a power of two from 512 bytes to 256 MiB)");
        if (_cbExtra < 0 || _cbExtra > 1 << 20 || (_cbExtra != 0 && (_cbExtra & (_cbExtra - 1)) != 0))
            throw Bad($"absurd VDI block extra size {(uint)_cbExtra}");
        if (Size <= 0)
            throw Bad($"absurd VDI disk size {(ulong)Size}");
        if (_cBlocks == 0 || _cBlocks > MaxBlocks)
            throw Bad($"absurd VDI block count {_cBlocks}");
        if ((ulong)Size > (ulong)_cBlocks * (ulong)_cbBlock)
            throw Bad($"VDI disk size {Size} does not fit its {_cBlocks} blocks of {_cbBlock} bytes");
        if (U32(OffCBlocksAllocated) > _cBlocks)
            throw Bad($"VDI header claims {U32(OffCBlocksAllocated)} allocated blocks out of {_cBlocks}");
        if (_offBlocks < PreHeaderSize + cbHeader)
            throw Bad($"VDI block map offset {_offBlocks} overlaps the header");
        if (_offData < _offBlocks + 4L * _cBlocks)
            throw Bad($"VDI data offset {_offData} overlaps the block map (map ends at {_offBlocks + 4L * _cBlocks})");
        if (length < _offBlocks + 4L * _cBlocks)
            throw Bad($"truncated VDI block map (file is {length} bytes, map ends at {_offBlocks + 4L * _cBlocks})");
        if (cbHeader >= Header1PlusSize && U32(OffLchsSectorSize) is not (0 or 512))
            throw Bad($"bad VDI sector size {U32(OffLchsSectorSize)} (only 512 is supported)");
        if (Uuid == Guid.Empty)
            throw Bad("VDI image UUID is null");
        if (ModificationUuid == Guid.Empty)
            throw Bad("VDI modification UUID is null");
        if (IsDiff && ParentUuid == Guid.Empty)
            throw Bad("differencing VDI image without a parent UUID");
    }

    private void LoadMap(long length)
    {
        _fileLength = length;
        _map = new uint[_cBlocks];
        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(_map.AsSpan());
        ReadExact(_file, Path, bytes, _offBlocks);
        if (!BitConverter.IsLittleEndian)
            BinaryPrimitives.ReverseEndianness(_map, _map);

        // Every allocated entry must name a distinct data block inside the file.
        var owner = new uint[_cBlocks];
        Array.Fill(owner, BlockFree);
        uint allocated = 0, next = 0;
        for (uint i = 0; i < _cBlocks; i++)
        {
            uint e = _map[i];
            if (e >= BlockZero)
                continue;
            if (e >= _cBlocks)
                throw Bad($"block map entry {i} points to data block {e}, past the end of the map ({_cBlocks} blocks)");
            long end = _offData + (e + 1) * _cbTotal;
            if (end > length)
                throw Bad($"block map entry {i} points to data block {e} at offset {_offData + e * _cbTotal}, past the end of the file ({length} bytes)");
            if (owner[e] != BlockFree)
                throw Bad($"duplicate block map entries: blocks {owner[e]} and {i} both point to data block {e}");
            owner[e] = i;
            allocated++;
            if (e + 1 > next)
                next = e + 1;
        }
        for (uint s = next; s-- > 0;)
            if (owner[s] == BlockFree)
                _freeSlots.Push(s);
        _allocated = allocated;
        _nextSlot = next;
        if (allocated != U32(OffCBlocksAllocated))
            _headerDirty = true; // a crash between map and header update; fixed on the next flush
    }

    private DiskImageException Bad(string problem) => new(Path, problem);

    // ---------------------------------------------------------------- parent chain

    internal void AttachParent(IDiskImage parent, bool owns)
    {
        if (parent.Uuid != ParentUuid)
            throw Bad($"parent image {parent.Path} has UUID {parent.Uuid}, but this differencing image needs {ParentUuid}");
        _parent = parent;
        _ownsParent = owns;
    }

    /// <summary>The parent resolver this image was opened with (merge reopens the parent with it).</summary>
    internal Func<Guid, string?>? Resolver { get; set; }

    /// <summary>
    /// Replaces the read-only parent this image opened with a writable one on the same file. Only
    /// possible for a parent the image owns: the read-only handle's lock must go first.
    /// </summary>
    internal IDiskImage ReopenParentWritable()
    {
        var old = _parent ?? throw NoParent();
        if (!_ownsParent)
            throw Bad($"parent {old.Path} is open read-only by the caller; open it writable to merge");
        string parentPath = old.Path;
        old.Dispose();
        _parent = null;
        try
        {
            _parent = DiskImage.Open(parentPath, readOnly: false, Resolver);
        }
        catch
        {
            // Put the read-only parent back so this image stays readable, then report the failure.
            _parent = DiskImage.Open(parentPath, readOnly: true, Resolver);
            throw;
        }
        return _parent;
    }

    private DiskImageException NoParent() =>
        Bad($"differencing image has no parent attached (parent UUID {ParentUuid}); open it with a parent resolver");

    // ---------------------------------------------------------------- I/O

    protected override void ReadCore(long offset, Span<byte> buffer)
    {
        long mask = _cbBlock - 1;
        while (buffer.Length > 0)
        {
            long block = offset >> _blockShift;
            int inBlock = (int)(offset & mask);
            int n = Math.Min(buffer.Length, _cbBlock - inBlock);
            uint e = _map[block];
            if (e < BlockZero)
            {
                // Extend over following blocks stored right after this one: one read for the run.
                if (_cbExtra == 0)
                {
                    uint k = 1;
                    while (n < buffer.Length && block + k < _cBlocks && _map[block + k] == e + k)
                    {
                        n += Math.Min(buffer.Length - n, _cbBlock);
                        k++;
                    }
                }
                ReadExact(_file, Path, buffer[..n], _offData + e * _cbTotal + _cbExtra + inBlock);
            }
            else if (e == BlockFree && IsDiff)
            {
                ReadParent(offset, buffer[..n]);
            }
            else
            {
                buffer[..n].Clear();
            }
            offset += n;
            buffer = buffer[n..];
        }
    }

    private void ReadParent(long offset, Span<byte> buffer)
    {
        var parent = _parent ?? throw NoParent();
        // A grown child reaches past its parent's end: that part reads as zeros.
        long avail = Math.Max(0, Math.Min(buffer.Length, parent.Size - offset));
        if (avail > 0)
            parent.Read(offset, buffer[..(int)avail]);
        buffer[(int)avail..].Clear();
    }

    protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer)
    {
        if (!_modificationBumped)
            BumpModificationUuid();
        long mask = _cbBlock - 1;
        while (buffer.Length > 0)
        {
            long block = offset >> _blockShift;
            int inBlock = (int)(offset & mask);
            int n = Math.Min(buffer.Length, _cbBlock - inBlock);
            uint e = _map[block];
            if (e < BlockZero)
            {
                if (_cbExtra == 0)
                {
                    uint k = 1;
                    while (n < buffer.Length && block + k < _cBlocks && _map[block + k] == e + k)
                    {
                        n += Math.Min(buffer.Length - n, _cbBlock);
                        k++;
                    }
                }
                WriteAt(_file, Path, buffer[..n], _offData + e * _cbTotal + _cbExtra + inBlock);
            }
            else
            {
                AllocateAndWrite((uint)block, inBlock, buffer[..n]);
            }
            offset += n;
            buffer = buffer[n..];
        }
    }

    /// <summary>
    /// First write to a block: pick a data block, give it its background (zeros, or the parent's data
    /// for a differencing image), write the new data, then publish the map entry.
    /// </summary>
    private void AllocateAndWrite(uint block, int inBlock, ReadOnlySpan<byte> data)
    {
        bool whole = data.Length == _cbBlock;
        bool fromParent = IsDiff && _map[block] == BlockFree && !whole;
        byte[]? buf = null;
        if (fromParent)
        {
            // Copy-on-write: the parent's block with the new bytes on top, written in one go.
            buf = _blockBuffer ??= new byte[_cbBlock];
            ReadParent((long)block << _blockShift, buf);
            data.CopyTo(buf.AsSpan(inBlock));
        }
        uint slot = _freeSlots.Count > 0 ? _freeSlots.Peek() : _nextSlot;
        long pos = _offData + slot * _cbTotal;
        long end = pos + _cbTotal;

        if (buf != null)
        {
            if (_cbExtra != 0 && pos < _fileLength)
                WriteZeros(_file, Path, pos, _cbExtra);
            WriteAt(_file, Path, buf, pos + _cbExtra);
        }
        else
        {
            if (!whole || _cbExtra != 0)
            {
                if (pos >= _fileLength)
                    SetLength(_file, Path, end);          // the new tail reads as zeros
                else
                    WriteZeros(_file, Path, pos, _cbTotal); // reused space: clear stale bytes
            }
            WriteAt(_file, Path, data, pos + _cbExtra + inBlock);
        }
        // Only now, with the data in place, is the slot taken.
        if (end > _fileLength)
            _fileLength = end;
        if (_freeSlots.Count > 0 && _freeSlots.Peek() == slot)
            _freeSlots.Pop();
        else
            _nextSlot++;

        _map[block] = slot;
        WriteMapEntry(block);
        _allocated++;
        // The allocated count goes out with the map entry: a VM process killed before its next flush
        // leaves an image that qemu-img check (which compares the count with the map) still accepts.
        PutU32(OffCBlocksAllocated, _allocated);
        WriteAt(_file, Path, _header.AsSpan(OffCBlocksAllocated, 4), OffCBlocksAllocated);
        _headerDirty = true;
    }

    private void WriteMapEntry(uint block)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, _map[block]);
        WriteAt(_file, Path, b, _offBlocks + 4L * block);
    }

    private void BumpModificationUuid()
    {
        _modificationBumped = true;
        SetGuid(OffUuidModify, Guid.NewGuid());
        WriteHeader();
    }

    private void WriteHeader()
    {
        PutU32(OffCBlocksAllocated, _allocated);
        PutU32(OffCBlocks, _cBlocks);
        PutU64(OffCbDisk, (ulong)Size);
        PutU32(OffBlocks, (uint)_offBlocks);
        PutU32(OffData, (uint)_offData);
        WriteAt(_file, Path, _header, 0);
        _headerDirty = false;
    }

    protected override void FlushCore()
    {
        if (_headerDirty)
            WriteHeader();
        Sync(_file, Path);
    }

    protected override void CloseCore()
    {
        _file.Dispose();
        if (_ownsParent)
            _parent?.Dispose();
        _parent = null;
    }

    internal override bool IsZeroRange(long offset, long length)
    {
        long first = offset >> _blockShift, last = (offset + length - 1) >> _blockShift;
        for (long b = first; b <= last; b++)
        {
            uint e = _map[b];
            if (e < BlockZero)
                return false;
            if (e == BlockFree && IsDiff)
            {
                if (_parent is not DiskImageBase p)
                    return false;
                long start = Math.Max(offset, b << _blockShift);
                long stop = Math.Min(offset + length, (b + 1) << _blockShift);
                long pStop = Math.Min(stop, p.Size);
                if (pStop > start && !p.IsZeroRange(start, pStop - start))
                    return false;
            }
        }
        return true;
    }

    /// <summary>Map state of one block, for merge and compact: allocated data, explicit zeros, or not present.</summary>
    internal enum BlockState { Absent, Zero, Data }

    internal BlockState StateOf(uint block) => _map[block] switch
    {
        < BlockZero => BlockState.Data,
        BlockZero => BlockState.Zero,
        _ => IsDiff ? BlockState.Absent : BlockState.Zero,
    };

    // ---------------------------------------------------------------- header edits

    public void SetUuid(Guid uuid) => EditHeader(OffUuidCreate, uuid);
    public void SetModificationUuid(Guid uuid) => EditHeader(OffUuidModify, uuid);
    public void SetParentUuid(Guid uuid) => EditHeader(OffUuidLinkage, uuid);
    public void SetParentModificationUuid(Guid uuid) => EditHeader(OffUuidParentModify, uuid);

    private void EditHeader(int offset, Guid value)
    {
        if (IsReadOnly)
            throw Bad("the image is open read-only");
        SetGuid(offset, value);
        WriteHeader();
        Sync(_file, Path);
    }

    // ---------------------------------------------------------------- create

    /// <summary>Writes a new VDI file at <paramref name="path"/> (which must not exist).</summary>
    internal static void CreateFile(string path, long size, bool fixedSize, Guid uuid,
                                    Guid parentUuid = default, Guid parentModificationUuid = default)
    {
        if (size <= 0)
            throw new DiskImageException(path, $"invalid disk size {size} (must be positive)");
        long blocks = (size + DefaultBlockSize - 1) / DefaultBlockSize;
        if (blocks > MaxBlocks)
            throw new DiskImageException(path, $"disk size {size} is too large for VDI (at most {(long)MaxBlocks * DefaultBlockSize} bytes)");
        bool diff = parentUuid != Guid.Empty;
        uint cBlocks = (uint)blocks;
        long offBlocks = Align(PreHeaderSize + Header1PlusSize, DataAlign);
        long offData = Align(offBlocks + 4L * cBlocks, DataAlign);
        long total = fixedSize ? offData + (long)cBlocks * DefaultBlockSize : offData;

        var h = new byte[PreHeaderSize + Header1PlusSize];
        System.Text.Encoding.ASCII.GetBytes(FileInfoText, h);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(OffSignature), Signature);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(OffVersion), Version11);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(OffCbHeader), Header1PlusSize);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(OffType), (uint)(diff ? TypeDiff : fixedSize ? TypeFixed : TypeNormal));
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(OffBlocks), (uint)offBlocks);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(OffData), (uint)offData);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(OffLegacySectorSize), 512);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(OffCbDisk), (ulong)size);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(OffCbBlock), DefaultBlockSize);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(OffCBlocks), cBlocks);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(OffCBlocksAllocated), fixedSize ? cBlocks : 0);
        uuid.TryWriteBytes(h.AsSpan(OffUuidCreate));
        Guid.NewGuid().TryWriteBytes(h.AsSpan(OffUuidModify));
        parentUuid.TryWriteBytes(h.AsSpan(OffUuidLinkage));
        parentModificationUuid.TryWriteBytes(h.AsSpan(OffUuidParentModify));
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(OffLchsSectorSize), 512);

        var map = new byte[4L * cBlocks];
        for (uint i = 0; i < cBlocks; i++)
            BinaryPrimitives.WriteUInt32LittleEndian(map.AsSpan((int)(4 * i)), fixedSize ? i : BlockFree);

        using var file = CreateFile(path, fixedSize ? total : 0);
        SetLength(file, path, total);
        WriteAt(file, path, h, 0);
        WriteAt(file, path, map, offBlocks);
        Sync(file, path);
    }

    private static long Align(long value, long to) => (value + to - 1) / to * to;

    // ---------------------------------------------------------------- resize (grow)

    /// <summary>
    /// Grows the disk. When the larger block map no longer fits before offData, the data blocks in
    /// the way are copied to the end of the file first (and synced), and only then do the new map and
    /// header go out, so a crash leaves either the old or the new layout intact.
    /// </summary>
    internal void Grow(long newSize)
    {
        if (IsReadOnly)
            throw Bad("the image is open read-only");
        if (newSize < Size)
            throw Bad($"cannot shrink a VDI image (from {Size} to {newSize} bytes)");
        if (newSize == Size)
            return;
        long newBlocksL = (newSize + _cbBlock - 1) / _cbBlock;
        if (newBlocksL > MaxBlocks)
            throw Bad($"size {newSize} is too large for VDI");
        uint newBlocks = (uint)newBlocksL;
        if (!_modificationBumped)
            BumpModificationUuid();

        if (newBlocks > _cBlocks)
        {
            long mapEnd = _offBlocks + 4L * newBlocks;
            if (mapEnd > _offData)
                MoveDataForMap(mapEnd);
            var grown = new uint[newBlocks];
            _map.CopyTo(grown, 0);
            for (long i = _cBlocks; i < newBlocks; i++)
                grown[i] = BlockFree;
            uint oldBlocks = _cBlocks;
            _map = grown;
            _cBlocks = newBlocks;
            if (_type == TypeFixed)
            {
                // A fixed image keeps every block allocated: append and zero the new ones.
                long pos = _offData + (long)_nextSlot * _cbTotal;
                SetLength(_file, Path, pos + (newBlocks - oldBlocks) * _cbTotal);
                for (uint b = oldBlocks; b < newBlocks; b++)
                {
                    _map[b] = _nextSlot++;
                    _allocated++;
                }
                _fileLength = pos + (newBlocks - oldBlocks) * _cbTotal;
            }
            WriteWholeMap();
        }
        Size = newSize;
        WriteHeader();
        Sync(_file, Path);
    }

    private void MoveDataForMap(long mapEnd)
    {
        long need = mapEnd - _offData;
        uint k = (uint)((need + _cbTotal - 1) / _cbTotal); // data blocks to free at the front
        long newOffData = _offData + k * _cbTotal;
        // Data block i < k moves to the end; block j >= k stays put and is renumbered j - k.
        var slotToBlock = new uint[Math.Max(_nextSlot, 1)];
        Array.Fill(slotToBlock, BlockFree);
        for (uint b = 0; b < _cBlocks; b++)
            if (_map[b] < BlockZero)
                slotToBlock[_map[b]] = b;
        uint tailBase = _nextSlot > k ? _nextSlot - k : 0;
        var buf = new byte[_cbTotal];
        for (uint i = 0; i < Math.Min(k, _nextSlot); i++)
        {
            if (slotToBlock[i] == BlockFree)
                continue;
            ReadExact(_file, Path, buf, _offData + i * _cbTotal);
            WriteAt(_file, Path, buf, newOffData + (tailBase + i) * _cbTotal);
        }
        Sync(_file, Path);
        for (uint b = 0; b < _cBlocks; b++)
        {
            uint e = _map[b];
            if (e >= BlockZero)
                continue;
            _map[b] = e < k ? tailBase + e : e - k;
        }
        _offData = newOffData;
        _nextSlot = tailBase + Math.Min(k, _nextSlot);
        RebuildFreeSlots();
        _fileLength = Math.Max(FileLength(_file, Path), _offData + (long)_nextSlot * _cbTotal);
    }

    private void RebuildFreeSlots()
    {
        _freeSlots.Clear();
        var used = new bool[_nextSlot];
        for (uint b = 0; b < _cBlocks; b++)
            if (_map[b] < BlockZero)
                used[_map[b]] = true;
        for (uint s = _nextSlot; s-- > 0;)
            if (!used[s])
                _freeSlots.Push(s);
    }

    private void WriteWholeMap()
    {
        var bytes = new byte[4L * _cBlocks];
        for (int i = 0; i < _map.Length; i++)
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4 * i), _map[i]);
        WriteAt(_file, Path, bytes, _offBlocks);
    }

    // ---------------------------------------------------------------- compact

    /// <summary>
    /// Drops data blocks that hold only zeros (a base image forgets them, a differencing image marks
    /// them as zero so the parent stays hidden), then moves the last data blocks into the holes and
    /// truncates the file. The freed map is on disk before any hole is reused.
    /// </summary>
    internal void Compact(IProgressSink? progress)
    {
        if (IsReadOnly)
            throw Bad("the image is open read-only");
        if (_type == TypeFixed)
            throw Bad("compacting a fixed-size VDI image is not supported (VirtualBox does not either)");
        if (!_modificationBumped)
            BumpModificationUuid();
        var buf = new byte[_cbBlock];
        var reporter = new ProgressReporter(progress);
        // Pass 1 (0..70%): find and drop zero blocks.
        for (uint b = 0; b < _cBlocks; b++)
        {
            uint e = _map[b];
            if (e < BlockZero)
            {
                ReadExact(_file, Path, buf, _offData + e * _cbTotal + _cbExtra);
                if (!buf.AsSpan().ContainsAnyExcept((byte)0))
                {
                    _map[b] = IsDiff ? BlockZero : BlockFree;
                    _allocated--;
                }
            }
            reporter.Report(b + 1, _cBlocks, 0, 70);
        }
        WriteWholeMap();
        WriteHeader();
        Sync(_file, Path);

        // Pass 2 (70..100%): fill holes with the highest data blocks.
        var slotToBlock = new uint[_nextSlot];
        Array.Fill(slotToBlock, BlockFree);
        for (uint b = 0; b < _cBlocks; b++)
            if (_map[b] < BlockZero)
                slotToBlock[_map[b]] = b;
        var whole = new byte[_cbTotal];
        uint low = 0, high = _nextSlot;
        uint moves = 0, total = _allocated;
        while (true)
        {
            while (low < high && slotToBlock[low] != BlockFree)
                low++;
            while (high > low && slotToBlock[high - 1] == BlockFree)
                high--;
            if (low >= high)
                break;
            uint from = high - 1, block = slotToBlock[from];
            ReadExact(_file, Path, whole, _offData + from * _cbTotal);
            WriteAt(_file, Path, whole, _offData + low * _cbTotal);
            slotToBlock[low] = block;
            slotToBlock[from] = BlockFree;
            _map[block] = low;
            high--;
            reporter.Report(++moves, Math.Max(total, 1), 70, 99);
        }
        Sync(_file, Path);
        WriteWholeMap();
        _nextSlot = _allocated;
        _freeSlots.Clear();
        WriteHeader();
        Sync(_file, Path);
        _fileLength = _offData + (long)_nextSlot * _cbTotal;
        SetLength(_file, Path, _fileLength);
        Sync(_file, Path);
        reporter.Report(1, 1, 0, 100);
    }

    // ---------------------------------------------------------------- field helpers

    private uint U32(int off) => BinaryPrimitives.ReadUInt32LittleEndian(_header.AsSpan(off));
    private ulong U64(int off) => BinaryPrimitives.ReadUInt64LittleEndian(_header.AsSpan(off));
    private void PutU32(int off, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(_header.AsSpan(off), v);
    private void PutU64(int off, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(_header.AsSpan(off), v);
    private Guid GuidAt(int off) => new(_header.AsSpan(off, 16));
    private void SetGuid(int off, Guid g) => g.TryWriteBytes(_header.AsSpan(off, 16));
}
