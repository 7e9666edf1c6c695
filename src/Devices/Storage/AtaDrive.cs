using System.Buffers.Binary;
using SharpBox.Storage;
using SharpBox.Vmm.Ssm;

namespace SharpBox.Devices.Storage;

/// <summary>What a drive's data register is doing.</summary>
internal enum AtaTransfer : byte
{
    None,
    /// <summary>PIO data-in: the host reads the buffer (READ SECTORS/MULTIPLE, IDENTIFY).</summary>
    PioIn,
    /// <summary>PIO data-out: the host fills the buffer (WRITE SECTORS/MULTIPLE).</summary>
    PioOut,
    /// <summary>DMA from the disk to memory, waiting for (or run by) the bus master.</summary>
    DmaIn,
    /// <summary>DMA from memory to the disk.</summary>
    DmaOut,
}

/// <summary>The settings of one ATA hard disk (from CFGM).</summary>
public sealed record AtaDriveSettings
{
    public string Model { get; init; } = "SHARPBOX HARDDISK";
    public string Serial { get; init; } = "SB00000000-00000000";
    public string Firmware { get; init; } = "1.0";
    /// <summary>Nominal media rotation rate 1 (IDENTIFY word 217): the guest sees a solid-state disk.</summary>
    public bool NonRotational { get; init; }
    /// <summary>Advertise and run DMA (multiword/Ultra DMA through the controller's bus master).</summary>
    public bool Dma { get; init; }
}

/// <summary>
/// One ATA hard disk on an IDE channel (ATA/ATAPI-6 register and command model): its own copy of the
/// task file (both devices of a channel latch every register write), status and error registers,
/// PIO data-in/data-out through a sector buffer, and the DMA half that the channel's bus master drives.
/// Media access goes through <see cref="IBlockDriver"/> on the caller's thread, a block of up to
/// <see cref="BufferSectors"/> sectors at a time into one buffer allocated with the drive, so the data
/// path allocates nothing. A drive without a disk keeps the task file only (an empty slot, as the
/// other device of the channel still latches the writes).
/// </summary>
public sealed class AtaDrive
{
    public const int SectorSize = 512;
    /// <summary>The largest READ/WRITE MULTIPLE block (IDENTIFY word 47), also the power-on setting.</summary>
    public const int MaxMultipleSectors = 16;
    /// <summary>Sectors per disk access (a DMA chunk; PIO blocks are at most <see cref="MaxMultipleSectors"/>).</summary>
    public const int BufferSectors = 128;
    /// <summary>Largest LBA28 capacity (words 60-61 are clamped to it).</summary>
    public const long Lba28Limit = 0x0FFF_FFFF;

    // Status register bits.
    public const byte StBsy = 0x80, StDrdy = 0x40, StDf = 0x20, StDsc = 0x10, StDrq = 0x08, StCorr = 0x04, StIdx = 0x02, StErr = 0x01;
    // Error register bits.
    public const byte ErrUnc = 0x40, ErrIdnf = 0x10, ErrAbrt = 0x04, ErrAmnf = 0x01;

    // Power modes (CHECK POWER MODE's count values).
    private const byte PowerStandby = 0x00, PowerIdle = 0xFF;

    private readonly byte[] _buffer = new byte[BufferSectors * SectorSize];
    private readonly AtaDriveSettings _settings;

    // Task file (current values and the "previous content" that LBA48 commands read as the high bytes).
    internal byte Feature, Count, LbaLow, LbaMid, LbaHigh, Select;
    internal byte HobFeature, HobCount, HobLbaLow, HobLbaMid, HobLbaHigh;
    internal byte Status, Error;
    /// <summary>INTRQ wanted by this device: set when a command (or data block) needs service, cleared by a status read or a new command.</summary>
    internal bool IrqPending;

    // Transfer in progress.
    internal AtaTransfer Transfer;
    private byte _command;
    private bool _lba48Command;
    private bool _fromDisk;           // the data phase moves sectors (else a buffer such as IDENTIFY)
    private int _bufPos, _bufEnd;     // bytes of the current block in _buffer
    private long _nextLba;            // first sector of the current block
    private int _blockSectors;        // sectors in the current block
    private long _sectorsLeft;        // sectors of the command not yet moved, the current block included
    private int _blockLimit;          // sectors per DRQ block (1, the multiple count, or a DMA chunk)

    // Device settings.
    private int _multCount = MaxMultipleSectors;
    private int _curHeads, _curSpt, _curCyl;
    private bool _writeCache = true, _lookAhead = true;
    private byte _power = PowerIdle;
    private bool _sleeping;
    private byte _pioMode = 4, _mwdmaMode = 0xFF, _udmaMode = 0xFF;   // 0xFF: none selected

    public AtaDrive(IBlockDriver? disk, AtaDriveSettings? settings = null, bool isSlave = false)
    {
        Disk = disk;
        IsSlave = isSlave;
        _settings = settings ?? new AtaDriveSettings();
        if (disk is not null)
        {
            TotalSectors = disk.Size / SectorSize;
            if (TotalSectors < 1) throw new ArgumentException($"the disk has {disk.Size} bytes, less than one sector");
            (Cylinders, Heads, SectorsPerTrack) = DefaultGeometry(TotalSectors);
        }
        PowerOn();
    }

    public IBlockDriver? Disk { get; private set; }
    public bool Present => Disk is not null;
    public bool IsSlave { get; }
    public long TotalSectors { get; }
    /// <summary>Default logical geometry (IDENTIFY words 1, 3, 6).</summary>
    public int Cylinders { get; }
    public int Heads { get; }
    public int SectorsPerTrack { get; }
    public int MultipleCount => _multCount;
    public AtaDriveSettings Settings => _settings;

    /// <summary>Whether a DMA data phase waits for the bus master.</summary>
    internal bool DmaRequested => (Transfer is AtaTransfer.DmaIn or AtaTransfer.DmaOut) && (Status & StDrq) != 0;

    /// <summary>Puts another open image of the same size behind the drive (after the images were closed and reopened).</summary>
    internal void AttachDisk(IBlockDriver disk)
    {
        if (Disk is null) throw new InvalidOperationException("the slot has no disk");
        if (disk.Size / SectorSize != TotalSectors)
            throw new ArgumentException($"the new image has {disk.Size} bytes, the drive {TotalSectors * SectorSize}");
        Disk = disk;
    }

    /// <summary>The logical CHS geometry a BIOS would report: 16 heads, 63 sectors, at most 16383 cylinders.</summary>
    public static (int Cylinders, int Heads, int Sectors) DefaultGeometry(long sectors)
    {
        if (sectors < 16 * 63)
        {
            // Tiny disks: fewer heads so that at least one cylinder exists.
            int heads = (int)Math.Clamp(sectors / 63, 1, 16);
            int spt = (int)Math.Min(63, sectors);
            return ((int)Math.Max(1, sectors / (heads * spt)), heads, spt);
        }
        return ((int)Math.Min(sectors / (16 * 63), 16383), 16, 63);
    }

    // ---- reset and signature ----

    /// <summary>Power-on or hardware reset: the settings go back to their defaults too.</summary>
    internal void PowerOn()
    {
        _multCount = MaxMultipleSectors;
        _curHeads = Heads; _curSpt = SectorsPerTrack; _curCyl = Cylinders;
        _writeCache = true; _lookAhead = true;
        _pioMode = 4; _mwdmaMode = 0xFF; _udmaMode = _settings.Dma ? (byte)2 : (byte)0xFF;
        Feature = HobFeature = HobCount = HobLbaLow = HobLbaMid = HobLbaHigh = 0;
        ResetDevice();
    }

    /// <summary>Software reset (SRST) or diagnostics: the transfer is dropped and the signature set; the settings stay.</summary>
    internal void ResetDevice()
    {
        EndTransfer();
        IrqPending = false;
        _sleeping = false;
        _power = PowerIdle;
        SetSignature();
        Error = 0x01;     // diagnostics passed (device 0 adds bit 7 when device 1 failed: never here)
        Status = Present ? (byte)(StDrdy | StDsc) : (byte)0;
    }

    private void SetSignature()
    {
        Count = 1; LbaLow = 1; LbaMid = 0; LbaHigh = 0;
        Select = 0;
    }

    /// <summary>The device is held in reset (SRST set): busy, nothing else.</summary>
    internal void HoldInReset()
    {
        EndTransfer();
        IrqPending = false;
        if (Present) Status = StBsy;
    }

    private void EndTransfer()
    {
        Transfer = AtaTransfer.None;
        _bufPos = _bufEnd = 0;
        _sectorsLeft = 0;
        _blockSectors = 0;
    }

    // ---- task file writes (the channel sends every write to both devices) ----

    internal void WriteFeature(byte v) { HobFeature = Feature; Feature = v; }
    internal void WriteCount(byte v) { HobCount = Count; Count = v; }
    internal void WriteLbaLow(byte v) { HobLbaLow = LbaLow; LbaLow = v; }
    internal void WriteLbaMid(byte v) { HobLbaMid = LbaMid; LbaMid = v; }
    internal void WriteLbaHigh(byte v) { HobLbaHigh = LbaHigh; LbaHigh = v; }

    // ---- data register ----

    /// <summary>A data-register read of 2 or 4 bytes (two words at once, as 32-bit PIO does).</summary>
    internal uint ReadData(int size)
    {
        if (Transfer != AtaTransfer.PioIn || (Status & StDrq) == 0) return size == 4 ? 0xFFFF_FFFFu : 0xFFFFu;
        int n = Math.Min(size, _bufEnd - _bufPos);
        uint v = n switch
        {
            4 => BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan(_bufPos)),
            >= 2 => BinaryPrimitives.ReadUInt16LittleEndian(_buffer.AsSpan(_bufPos)),
            _ => _buffer[_bufPos],
        };
        _bufPos += n;
        if (_bufPos >= _bufEnd) PioInBlockDone();
        return v;
    }

    internal void WriteData(int size, uint value)
    {
        if (Transfer != AtaTransfer.PioOut || (Status & StDrq) == 0) return;
        int n = Math.Min(size, _bufEnd - _bufPos);
        var dst = _buffer.AsSpan(_bufPos);
        if (n == 4) BinaryPrimitives.WriteUInt32LittleEndian(dst, value);
        else if (n >= 2) BinaryPrimitives.WriteUInt16LittleEndian(dst, (ushort)value);
        else dst[0] = (byte)value;
        _bufPos += n;
        if (_bufPos >= _bufEnd) PioOutBlockDone();
    }

    private void PioInBlockDone()
    {
        _sectorsLeft -= _blockSectors;
        if (_fromDisk) _nextLba += _blockSectors;
        if (_sectorsLeft > 0 && _fromDisk)
        {
            LoadReadBlock();
            return;
        }
        // The last block: no interrupt at the end of a PIO data-in command.
        if (_fromDisk) SetAddress(_nextLba - 1);
        EndTransfer();
        Status = StDrdy | StDsc;
    }

    private void PioOutBlockDone()
    {
        if (!WriteBlockToDisk()) return;
        _sectorsLeft -= _blockSectors;
        _nextLba += _blockSectors;
        if (_sectorsLeft > 0)
        {
            PrepareWriteBlock();
            IrqPending = true;   // the next DRQ block
            return;
        }
        SetAddress(_nextLba - 1);
        Complete();
    }

    /// <summary>Reads the next block of a data-in command into the buffer and asks the host for service.</summary>
    private void LoadReadBlock()
    {
        int n = (int)Math.Min(_sectorsLeft, _blockLimit);
        _blockSectors = n;
        try
        {
            Disk!.Read(_nextLba * SectorSize, _buffer.AsSpan(0, n * SectorSize));
        }
        catch (Exception e) when (e is DiskImageException or IOException or ObjectDisposedException)
        {
            MediaError(e, ErrUnc);
            return;
        }
        _bufPos = 0;
        _bufEnd = n * SectorSize;
        Status = StDrdy | StDsc | StDrq;
        IrqPending = true;
    }

    private void PrepareWriteBlock()
    {
        int n = (int)Math.Min(_sectorsLeft, _blockLimit);
        _blockSectors = n;
        _bufPos = 0;
        _bufEnd = n * SectorSize;
        Status = StDrdy | StDsc | StDrq;
    }

    private bool WriteBlockToDisk()
    {
        try
        {
            Disk!.Write(_nextLba * SectorSize, _buffer.AsSpan(0, _blockSectors * SectorSize));
            return true;
        }
        catch (Exception e) when (e is DiskImageException or IOException or ObjectDisposedException or NotSupportedException or UnauthorizedAccessException)
        {
            MediaError(e, ErrAbrt);
            return false;
        }
    }

    /// <summary>Called by the controller so a host I/O error reaches the log once per kind.</summary>
    internal Action<string>? Log;

    private void MediaError(Exception e, byte error)
    {
        Log?.Invoke($"{(error == ErrUnc ? "read" : "write")} of sector {_nextLba} failed: {e.Message}");
        SetAddress(_nextLba);
        EndTransfer();
        Fail(error);
    }

    // ---- commands ----

    /// <summary>The command register was written while this device is selected.</summary>
    internal void ExecuteCommand(byte cmd)
    {
        if ((Status & StBsy) != 0) return;       // a busy device ignores the command register
        EndTransfer();
        IrqPending = false;
        _command = cmd;
        _lba48Command = false;
        Error = 0;
        if (_sleeping && cmd != 0x90)
        {
            // Only a reset wakes a sleeping device; answer rather than hang the host.
            Fail(ErrAbrt);
            return;
        }
        switch (cmd)
        {
            case 0xEC: Identify(); break;                                                  // IDENTIFY DEVICE
            case 0x20: case 0x21: StartPio(read: true, lba48: false, multiple: false); break;   // READ SECTORS (w/o retry)
            case 0x24: StartPio(read: true, lba48: true, multiple: false); break;          // READ SECTORS EXT
            case 0xC4: StartPio(read: true, lba48: false, multiple: true); break;          // READ MULTIPLE
            case 0x29: StartPio(read: true, lba48: true, multiple: true); break;           // READ MULTIPLE EXT
            case 0x30: case 0x31: StartPio(read: false, lba48: false, multiple: false); break; // WRITE SECTORS (w/o retry)
            case 0x34: StartPio(read: false, lba48: true, multiple: false); break;         // WRITE SECTORS EXT
            case 0xC5: StartPio(read: false, lba48: false, multiple: true); break;         // WRITE MULTIPLE
            case 0x39: StartPio(read: false, lba48: true, multiple: true); break;          // WRITE MULTIPLE EXT
            case 0xC8: case 0xC9: StartDma(read: true, lba48: false); break;               // READ DMA (w/o retry)
            case 0x25: StartDma(read: true, lba48: true); break;                           // READ DMA EXT
            case 0xCA: case 0xCB: StartDma(read: false, lba48: false); break;              // WRITE DMA (w/o retry)
            case 0x35: StartDma(read: false, lba48: true); break;                          // WRITE DMA EXT
            case 0x40: case 0x41: ReadVerify(lba48: false); break;                         // READ VERIFY SECTORS
            case 0x42: ReadVerify(lba48: true); break;                                     // READ VERIFY SECTORS EXT
            case 0xC6: SetMultipleMode(); break;
            case 0xEF: SetFeatures(); break;
            case 0xE7: case 0xEA: FlushCache(); break;                                     // FLUSH CACHE (EXT)
            case 0x91: InitializeDeviceParameters(); break;
            case 0xE0: case 0xE2: case 0x94: case 0x96: _power = PowerStandby; Complete(); break; // STANDBY (IMMEDIATE)
            case 0xE1: case 0xE3: case 0x95: case 0x97: _power = PowerIdle; Complete(); break;    // IDLE (IMMEDIATE)
            case 0xE5: case 0x98: Count = _power; Complete(); break;                      // CHECK POWER MODE
            case 0xE6: case 0x99: FlushQuietly(); _sleeping = true; Complete(); break;     // SLEEP
            case 0x10: Complete(); break;                                                  // RECALIBRATE (no heads to move)
            default: Fail(ErrAbrt); break;   // NOP, IDENTIFY PACKET DEVICE, SMART, security, ... : command aborted
        }
    }

    /// <summary>EXECUTE DEVICE DIAGNOSTIC, which both devices run whatever the selection; device 0 interrupts.</summary>
    internal void Diagnose(bool interrupt)
    {
        ResetDevice();
        IrqPending = interrupt;
    }

    /// <summary>A non-data command finished (or the last block of a data-out command).</summary>
    private void Complete()
    {
        Status = StDrdy | StDsc;
        IrqPending = true;
    }

    private void Fail(byte error)
    {
        Error = error;
        Status = StDrdy | StDsc | StErr;
        IrqPending = true;
    }

    /// <summary>The command's starting sector and count from the task file; false (and the command failed) when invalid.</summary>
    private bool DecodeRange(bool lba48, out long lba, out long count)
    {
        lba = 0;
        count = 0;
        long limit;
        if (lba48)
        {
            lba = ((long)HobLbaHigh << 40) | ((long)HobLbaMid << 32) | ((long)HobLbaLow << 24) | ((long)LbaHigh << 16) | ((long)LbaMid << 8) | LbaLow;
            count = (HobCount << 8) | Count;
            if (count == 0) count = 65536;
            limit = TotalSectors;
        }
        else
        {
            count = Count == 0 ? 256 : Count;
            if ((Select & 0x40) != 0)
            {
                lba = ((long)(Select & 0x0F) << 24) | ((long)LbaHigh << 16) | ((long)LbaMid << 8) | LbaLow;
                limit = Math.Min(TotalSectors, Lba28Limit);
            }
            else
            {
                int cyl = (LbaHigh << 8) | LbaMid, head = Select & 0x0F, sector = LbaLow;
                if (sector == 0 || sector > _curSpt || head >= _curHeads || cyl >= _curCyl)
                {
                    Fail(ErrIdnf);
                    return false;
                }
                lba = ((long)cyl * _curHeads + head) * _curSpt + sector - 1;
                limit = Math.Min(TotalSectors, (long)_curCyl * _curHeads * _curSpt);
            }
        }
        if (lba >= limit || count > limit - lba)
        {
            Fail(ErrIdnf);
            return false;
        }
        return true;
    }

    /// <summary>Writes a sector address back into the task file in the command's addressing mode.</summary>
    private void SetAddress(long lba)
    {
        if (_lba48Command)
        {
            LbaLow = (byte)lba; LbaMid = (byte)(lba >> 8); LbaHigh = (byte)(lba >> 16);
            HobLbaLow = (byte)(lba >> 24); HobLbaMid = (byte)(lba >> 32); HobLbaHigh = (byte)(lba >> 40);
        }
        else if ((Select & 0x40) != 0)
        {
            LbaLow = (byte)lba; LbaMid = (byte)(lba >> 8); LbaHigh = (byte)(lba >> 16);
            Select = (byte)((Select & 0xF0) | (int)((lba >> 24) & 0x0F));
        }
        else if (_curHeads > 0 && _curSpt > 0)
        {
            long cyl = lba / (_curHeads * _curSpt);
            long rem = lba % (_curHeads * _curSpt);
            LbaMid = (byte)cyl; LbaHigh = (byte)(cyl >> 8);
            Select = (byte)((Select & 0xF0) | (int)(rem / _curSpt & 0x0F));
            LbaLow = (byte)(rem % _curSpt + 1);
        }
    }

    private void StartPio(bool read, bool lba48, bool multiple)
    {
        _lba48Command = lba48;
        if (multiple && _multCount == 0) { Fail(ErrAbrt); return; }   // multiple mode is disabled
        if (!DecodeRange(lba48, out long lba, out long count)) return;
        _fromDisk = true;
        _nextLba = lba;
        _sectorsLeft = count;
        _blockLimit = multiple ? _multCount : 1;
        if (read)
        {
            Transfer = AtaTransfer.PioIn;
            LoadReadBlock();
        }
        else
        {
            if (Disk!.IsReadOnly) { Fail(ErrAbrt); return; }
            Transfer = AtaTransfer.PioOut;
            PrepareWriteBlock();   // no interrupt before the first block of a PIO data-out command
        }
    }

    private void StartDma(bool read, bool lba48)
    {
        _lba48Command = lba48;
        if (!_settings.Dma) { Fail(ErrAbrt); return; }
        if (!DecodeRange(lba48, out long lba, out long count)) return;
        if (!read && Disk!.IsReadOnly) { Fail(ErrAbrt); return; }
        _fromDisk = true;
        _nextLba = lba;
        _sectorsLeft = count;
        _blockLimit = BufferSectors;
        Transfer = read ? AtaTransfer.DmaIn : AtaTransfer.DmaOut;
        // DMARQ: the bus master moves the data when the host starts it.
        Status = StDrdy | StDsc | StDrq;
    }

    // ---- the DMA data phase (driven by the channel's bus master) ----

    /// <summary>
    /// The next chunk of a DMA command: for DMA-in the sectors are read into the returned span, for
    /// DMA-out the span is where the bus master puts the bytes (then <see cref="DmaChunkDone"/>).
    /// Empty when the command has failed (the drive then reports the error).
    /// </summary>
    internal Span<byte> DmaNextChunk()
    {
        int n = (int)Math.Min(_sectorsLeft, _blockLimit);
        _blockSectors = n;
        if (Transfer == AtaTransfer.DmaIn)
        {
            try
            {
                Disk!.Read(_nextLba * SectorSize, _buffer.AsSpan(0, n * SectorSize));
            }
            catch (Exception e) when (e is DiskImageException or IOException or ObjectDisposedException)
            {
                MediaError(e, ErrUnc);
                return default;
            }
        }
        return _buffer.AsSpan(0, n * SectorSize);
    }

    /// <summary>The bus master moved the chunk: write it (DMA-out) and advance. True while sectors remain.</summary>
    internal bool DmaChunkDone()
    {
        if (Transfer == AtaTransfer.DmaOut && !WriteBlockToDisk()) return false;
        _sectorsLeft -= _blockSectors;
        _nextLba += _blockSectors;
        if (_sectorsLeft > 0) return true;
        SetAddress(_nextLba - 1);
        EndTransfer();
        Complete();
        return false;
    }

    /// <summary>The bus master could not finish (bad PRD table or memory): the command ends in error.</summary>
    internal void DmaAbort()
    {
        SetAddress(_nextLba);
        EndTransfer();
        Fail(ErrAbrt);
    }

    // ---- other commands ----

    private void ReadVerify(bool lba48)
    {
        _lba48Command = lba48;
        if (!DecodeRange(lba48, out long lba, out long count)) return;
        SetAddress(lba + count - 1);
        Complete();
    }

    private void SetMultipleMode()
    {
        int n = Count;
        // Zero disables multiple mode; otherwise a power of two up to the maximum (word 47).
        if (n > MaxMultipleSectors || (n & (n - 1)) != 0) { Fail(ErrAbrt); return; }
        _multCount = n;
        Complete();
    }

    private void SetFeatures()
    {
        switch (Feature)
        {
            case 0x02: _writeCache = true; Complete(); break;
            case 0x82: _writeCache = false; FlushQuietly(); Complete(); break;
            case 0xAA: _lookAhead = true; Complete(); break;
            case 0x55: _lookAhead = false; Complete(); break;
            case 0x66: case 0xCC: Complete(); break;   // (dis)allow reverting to power-on defaults: accepted, defaults always revert
            case 0x03:
                {
                    int mode = Count & 7;
                    switch (Count >> 3)
                    {
                        case 0: _pioMode = 2; break;                                   // PIO default (with or without IORDY)
                        case 1 when mode <= 4: _pioMode = (byte)mode; break;
                        case 4 when _settings.Dma && mode <= 2: _mwdmaMode = (byte)mode; _udmaMode = 0xFF; break;
                        case 8 when _settings.Dma && mode <= 5: _udmaMode = (byte)mode; _mwdmaMode = 0xFF; break;
                        default: Fail(ErrAbrt); return;
                    }
                    Complete();
                    break;
                }
            default: Fail(ErrAbrt); break;
        }
    }

    private void FlushCache()
    {
        try
        {
            Disk!.Flush();
        }
        catch (Exception e) when (e is DiskImageException or IOException or ObjectDisposedException)
        {
            Log?.Invoke($"flush failed: {e.Message}");
            Fail(ErrAbrt);
            return;
        }
        Complete();
    }

    private void FlushQuietly()
    {
        try { Disk?.Flush(); }
        catch (Exception e) when (e is DiskImageException or IOException or ObjectDisposedException) { Log?.Invoke($"flush failed: {e.Message}"); }
    }

    private void InitializeDeviceParameters()
    {
        int spt = Count, heads = (Select & 0x0F) + 1;
        if (spt == 0) { Fail(ErrAbrt); return; }
        _curSpt = spt;
        _curHeads = heads;
        _curCyl = (int)Math.Min(TotalSectors / (heads * spt), 65535);
        Complete();
    }

    private void Identify()
    {
        var id = _buffer.AsSpan(0, SectorSize);
        BuildIdentify(id);
        _fromDisk = false;
        _sectorsLeft = 1;
        _blockSectors = 1;
        _bufPos = 0;
        _bufEnd = SectorSize;
        Transfer = AtaTransfer.PioIn;
        Status = StDrdy | StDsc | StDrq;
        IrqPending = true;
    }

    /// <summary>IDENTIFY DEVICE data (ATA/ATAPI-6 layout) for the current settings.</summary>
    internal void BuildIdentify(Span<byte> id)
    {
        id.Clear();
        long lba28 = Math.Min(TotalSectors, Lba28Limit);
        long curCapacity = Math.Min((long)_curCyl * _curHeads * _curSpt, TotalSectors);
        W(id, 0, 0x0040);                                   // fixed device, not removable
        W(id, 1, Cylinders);
        W(id, 3, Heads);
        W(id, 6, SectorsPerTrack);
        PutString(id, 10, 20, _settings.Serial);
        PutString(id, 23, 8, _settings.Firmware);
        PutString(id, 27, 40, _settings.Model);
        W(id, 47, 0x8000 | MaxMultipleSectors);
        int caps = (1 << 11) | (1 << 10) | (1 << 9);    // IORDY supported and can be disabled, LBA
        if (_settings.Dma) caps |= 1 << 8;              // DMA
        W(id, 49, caps);
        W(id, 50, 0x4000);
        W(id, 51, 2 << 8);                                  // PIO timing mode (obsolete field)
        W(id, 53, 0x0001 | 0x0002 | (_settings.Dma ? 0x0004 : 0));   // words 54-58, 64-70 (and 88) valid
        W(id, 54, _curCyl);
        W(id, 55, _curHeads);
        W(id, 56, _curSpt);
        W(id, 57, (int)(curCapacity & 0xFFFF));
        W(id, 58, (int)(curCapacity >> 16));
        if (_multCount != 0) W(id, 59, 0x0100 | _multCount);
        W(id, 60, (int)(lba28 & 0xFFFF));
        W(id, 61, (int)(lba28 >> 16));
        if (_settings.Dma) W(id, 63, 0x0007 | (_mwdmaMode <= 2 ? 0x100 << _mwdmaMode : 0));
        W(id, 64, 0x0003);                                  // PIO modes 3 and 4
        W(id, 65, 120); W(id, 66, 120); W(id, 67, 120); W(id, 68, 120); // cycle times, ns
        W(id, 80, 0x007E);                                  // ATA-1 .. ATA-6
        W(id, 81, 0x0022);                                  // ATA/ATAPI-6 published
        // Command sets: NOP, look-ahead, write cache, power management; FLUSH CACHE (EXT), 48-bit addresses.
        W(id, 82, (1 << 14) | (1 << 6) | (1 << 5) | (1 << 3));
        W(id, 83, 0x4000 | (1 << 13) | (1 << 12) | (1 << 10));
        W(id, 84, 0x4000);
        W(id, 85, (1 << 14) | (_lookAhead ? 1 << 6 : 0) | (_writeCache ? 1 << 5 : 0) | (1 << 3));
        W(id, 86, (1 << 13) | (1 << 12) | (1 << 10));
        W(id, 87, 0x4000);
        if (_settings.Dma) W(id, 88, 0x003F | (_udmaMode <= 5 ? 0x100 << _udmaMode : 0));
        // Hardware reset result: valid, 80-conductor cable detected, the device's own bits (passed, by diagnostics).
        W(id, 93, 0x4000 | 0x2000 | (IsSlave ? 0x0100 : 0x0009));
        W(id, 100, (int)(TotalSectors & 0xFFFF));
        W(id, 101, (int)((TotalSectors >> 16) & 0xFFFF));
        W(id, 102, (int)((TotalSectors >> 32) & 0xFFFF));
        W(id, 103, (int)((TotalSectors >> 48) & 0xFFFF));
        W(id, 106, 0x4000);                                 // one logical sector per physical sector, 512 bytes
        if (_settings.NonRotational) W(id, 217, 1);
        // Integrity word: signature A5h, checksum making all 512 bytes sum to zero.
        id[510] = 0xA5;
        byte sum = 0;
        for (int i = 0; i < 511; i++) sum += id[i];
        id[511] = (byte)-sum;
    }

    /// <summary>An ATA string: two characters per word, the first in the high byte, padded with spaces.</summary>
    private static void W(Span<byte> id, int word, int value) => BinaryPrimitives.WriteUInt16LittleEndian(id[(word * 2)..], (ushort)value);

    private static void PutString(Span<byte> id, int word, int length, string s)
    {
        for (int i = 0; i < length; i++)
        {
            char c = i < s.Length ? s[i] : ' ';
            byte b = c is >= ' ' and <= '~' ? (byte)c : (byte)' ';
            id[word * 2 + (i ^ 1)] = b;
        }
    }

    // ---- saved state ----

    internal void Save(SsmWriter w)
    {
        w.PutBool(Present);
        w.PutU64((ulong)TotalSectors);
        w.PutU8(Feature); w.PutU8(Count); w.PutU8(LbaLow); w.PutU8(LbaMid); w.PutU8(LbaHigh); w.PutU8(Select);
        w.PutU8(HobFeature); w.PutU8(HobCount); w.PutU8(HobLbaLow); w.PutU8(HobLbaMid); w.PutU8(HobLbaHigh);
        w.PutU8(Status); w.PutU8(Error); w.PutBool(IrqPending);
        w.PutU8((byte)Transfer); w.PutU8(_command); w.PutBool(_lba48Command); w.PutBool(_fromDisk);
        w.PutI32(_bufPos); w.PutI32(_bufEnd); w.PutI64(_nextLba); w.PutI32(_blockSectors); w.PutI64(_sectorsLeft); w.PutI32(_blockLimit);
        // The in-flight block: what the host has not read yet, or what it has written so far.
        w.PutBlob(Transfer == AtaTransfer.None ? default : _buffer.AsSpan(0, _bufEnd));
        w.PutI32(_multCount); w.PutI32(_curHeads); w.PutI32(_curSpt); w.PutI32(_curCyl);
        w.PutBool(_writeCache); w.PutBool(_lookAhead); w.PutU8(_power); w.PutBool(_sleeping);
        w.PutU8(_pioMode); w.PutU8(_mwdmaMode); w.PutU8(_udmaMode);
    }

    internal void Load(SsmReader r, string where)
    {
        bool present = r.GetBool();
        long sectors = (long)r.GetU64();
        if (present != Present)
            throw r.Error(present ? $"{where}: the saved machine had a disk here, this one has none" : $"{where}: the saved machine had no disk here, this one has one");
        if (present && sectors != TotalSectors)
            throw r.Error($"{where}: the saved disk had {sectors} sectors, the attached one has {TotalSectors}");
        Feature = r.GetU8(); Count = r.GetU8(); LbaLow = r.GetU8(); LbaMid = r.GetU8(); LbaHigh = r.GetU8(); Select = r.GetU8();
        HobFeature = r.GetU8(); HobCount = r.GetU8(); HobLbaLow = r.GetU8(); HobLbaMid = r.GetU8(); HobLbaHigh = r.GetU8();
        Status = r.GetU8(); Error = r.GetU8(); IrqPending = r.GetBool();
        byte t = r.GetU8();
        if (t > (byte)AtaTransfer.DmaOut) throw r.Error($"{where}: bad transfer kind {t}");
        Transfer = (AtaTransfer)t;
        _command = r.GetU8(); _lba48Command = r.GetBool(); _fromDisk = r.GetBool();
        _bufPos = r.GetI32(); _bufEnd = r.GetI32(); _nextLba = r.GetI64(); _blockSectors = r.GetI32(); _sectorsLeft = r.GetI64(); _blockLimit = r.GetI32();
        var data = r.GetBlob(_buffer.Length);
        if (_bufEnd < 0 || _bufEnd > _buffer.Length || _bufPos < 0 || _bufPos > _bufEnd || data.Length != (Transfer == AtaTransfer.None ? 0 : _bufEnd)
            || _blockSectors < 0 || _blockSectors > BufferSectors || _blockLimit < 0 || _blockLimit > BufferSectors || _sectorsLeft < 0 || _nextLba < 0
            || (Transfer != AtaTransfer.None && !present))
            throw r.Error($"{where}: inconsistent transfer state");
        if (Transfer != AtaTransfer.None && _fromDisk && _nextLba + _sectorsLeft > TotalSectors)
            throw r.Error($"{where}: the transfer reaches past the end of the disk");
        data.CopyTo(_buffer, 0);
        _multCount = r.GetI32(); _curHeads = r.GetI32(); _curSpt = r.GetI32(); _curCyl = r.GetI32();
        if (_multCount is < 0 or > MaxMultipleSectors || _curHeads is < 0 or > 16 || _curSpt is < 0 or > 255 || _curCyl is < 0 or > 65535)
            throw r.Error($"{where}: bad device settings");
        _writeCache = r.GetBool(); _lookAhead = r.GetBool(); _power = r.GetU8(); _sleeping = r.GetBool();
        _pioMode = r.GetU8(); _mwdmaMode = r.GetU8(); _udmaMode = r.GetU8();
    }
}
