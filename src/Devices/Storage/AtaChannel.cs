using System.Buffers.Binary;
using SharpBox.Vmm.Pdm;
using SharpBox.Vmm.Pgm;
using SharpBox.Vmm.Ssm;

namespace SharpBox.Devices.Storage;

/// <summary>
/// One IDE channel: the command block (data, error/features, count, LBA low/mid/high, device,
/// status/command), the control block (alternate status / device control with SRST, nIEN, HOB), the
/// selection of device 0 or 1, INTRQ from the selected device to the channel's IRQ line, and the
/// channel's half of the PIIX bus-master IDE function (command, status, PRD table pointer).
/// Register reads of a missing device follow ATA (and what Linux's probing expects): a channel with
/// no device reads all zeros; a missing device 1 next to device 0 reads its latched task file with
/// status and error zero.
/// </summary>
public sealed class AtaChannel
{
    public const byte CtlHob = 0x80, CtlSrst = 0x04, CtlNien = 0x02;
    public const byte BmCmdStart = 0x01, BmCmdToMemory = 0x08;
    public const byte BmStActive = 0x01, BmStError = 0x02, BmStIrq = 0x04, BmStDrive0Dma = 0x20, BmStDrive1Dma = 0x40;

    private readonly AtaDrive[] _drives;
    private readonly IIrqLine _irq;
    private readonly IGuestMemory _memory;
    private byte _devCtl;
    private int _dev;                 // selected device (the DEV bit of the last device-register write)
    private bool _irqLevel;
    private byte _bmCmd, _bmStatus;
    private uint _bmPrd;

    public AtaChannel(int index, AtaDrive master, AtaDrive slave, IIrqLine irq, IGuestMemory memory)
    {
        if (master.IsSlave || !slave.IsSlave) throw new ArgumentException("device 0 and device 1 are swapped");
        Index = index;
        _drives = [master, slave];
        _irq = irq;
        _memory = memory;
        PowerOn();
    }

    public int Index { get; }
    public AtaDrive Master => _drives[0];
    public AtaDrive Slave => _drives[1];
    public AtaDrive Selected => _drives[_dev];
    public bool IrqLevel => _irqLevel;
    public byte DeviceControl => _devCtl;
    public byte BusMasterStatus => _bmStatus;
    private bool Empty => !_drives[0].Present && !_drives[1].Present;

    /// <summary>Hardware reset: both devices to power-on state, control and bus-master registers cleared.</summary>
    public void PowerOn()
    {
        _devCtl = 0;
        _dev = 0;
        _bmCmd = 0;
        _bmPrd = 0;
        // Firmware marks the devices that can do DMA (as a BIOS leaves it).
        _bmStatus = (byte)((_drives[0].Settings.Dma && _drives[0].Present ? BmStDrive0Dma : 0) | (_drives[1].Settings.Dma && _drives[1].Present ? BmStDrive1Dma : 0));
        _drives[0].PowerOn();
        _drives[1].PowerOn();
        UpdateIrq();
    }

    // ---- command block (offsets 0-7 from 0x1F0/0x170) ----

    public uint ReadRegister(int reg, int size)
    {
        if (reg == 0)
        {
            var d = Selected;
            uint v = d.Present ? d.ReadData(size == 1 ? 2 : size) : 0xFFFF_FFFFu;
            UpdateIrq();
            return size == 1 ? v & 0xFF : v;
        }
        uint value = 0;
        for (int i = 0; i < size && reg + i < 8; i++)
            value |= (uint)ReadByteRegister(reg + i) << (8 * i);
        return value;
    }

    private byte ReadByteRegister(int reg)
    {
        if (Empty) return 0;
        var d = Selected;
        bool hob = (_devCtl & CtlHob) != 0;
        switch (reg)
        {
            case 1: return !d.Present ? (byte)0 : hob ? d.HobFeature : d.Error;
            case 2: return hob ? d.HobCount : d.Count;
            case 3: return hob ? d.HobLbaLow : d.LbaLow;
            case 4: return hob ? d.HobLbaMid : d.LbaMid;
            case 5: return hob ? d.HobLbaHigh : d.LbaHigh;
            case 6: return d.Select;
            default:
                if (!d.Present) return 0;
                // Reading the status register acknowledges the interrupt.
                d.IrqPending = false;
                UpdateIrq();
                return d.Status;
        }
    }

    public void WriteRegister(int reg, int size, uint value)
    {
        if (reg == 0)
        {
            var d = Selected;
            if (d.Present) d.WriteData(size == 1 ? 2 : size, value);
            UpdateIrq();
            return;
        }
        for (int i = 0; i < size && reg + i < 8; i++)
            WriteByteRegister(reg + i, (byte)(value >> (8 * i)));
    }

    private void WriteByteRegister(int reg, byte v)
    {
        // Any command-block write clears HOB; both devices latch the task file.
        _devCtl &= unchecked((byte)~CtlHob);
        switch (reg)
        {
            case 1: foreach (var d in _drives) d.WriteFeature(v); break;
            case 2: foreach (var d in _drives) d.WriteCount(v); break;
            case 3: foreach (var d in _drives) d.WriteLbaLow(v); break;
            case 4: foreach (var d in _drives) d.WriteLbaMid(v); break;
            case 5: foreach (var d in _drives) d.WriteLbaHigh(v); break;
            case 6:
                foreach (var d in _drives) d.Select = v;
                _dev = (v >> 4) & 1;
                break;
            default:
                if (v == 0x90)
                {
                    // EXECUTE DEVICE DIAGNOSTIC: both devices, whatever the selection; device 0 (else 1) interrupts.
                    _drives[0].Diagnose(interrupt: _drives[0].Present);
                    _drives[1].Diagnose(interrupt: !_drives[0].Present && _drives[1].Present);
                    _dev = 0;
                }
                else if (Selected.Present)
                {
                    Selected.ExecuteCommand(v);
                    RunDma();
                }
                break;
        }
        UpdateIrq();
    }

    // ---- control block (0x3F6/0x376) ----

    public byte ReadAltStatus()
    {
        if (Empty) return 0;
        var d = Selected;
        return d.Present ? d.Status : (byte)0;
    }

    public void WriteDeviceControl(byte v)
    {
        bool wasReset = (_devCtl & CtlSrst) != 0, reset = (v & CtlSrst) != 0;
        _devCtl = (byte)(v & (CtlHob | CtlSrst | CtlNien));
        if (reset && !wasReset)
        {
            foreach (var d in _drives) d.HoldInReset();
        }
        else if (!reset && wasReset)
        {
            // Reset done: signatures, device 0 selected; SRST raises no interrupt.
            foreach (var d in _drives) d.ResetDevice();
            _dev = 0;
        }
        UpdateIrq();
    }

    /// <summary>INTRQ is driven by the selected device unless nIEN is set; a rising edge sets the bus master's interrupt bit.</summary>
    private void UpdateIrq()
    {
        var d = Selected;
        bool level = d.IrqPending && d.Present && (_devCtl & CtlNien) == 0;
        if (level == _irqLevel) return;
        _irqLevel = level;
        if (level) _bmStatus |= BmStIrq;
        _irq.SetLevel(level);
    }

    // ---- bus master IDE (8 bytes of BAR4 per channel) ----

    public uint ReadBusMaster(int offset, int size)
    {
        uint v = 0;
        for (int i = 0; i < size && offset + i < 8; i++)
        {
            int o = offset + i;
            byte b = o switch
            {
                0 => _bmCmd,
                2 => _bmStatus,
                >= 4 => (byte)(_bmPrd >> (8 * (o - 4))),
                _ => 0,
            };
            v |= (uint)b << (8 * i);
        }
        return v;
    }

    public void WriteBusMaster(int offset, int size, uint value)
    {
        for (int i = 0; i < size && offset + i < 8; i++)
        {
            int o = offset + i;
            byte b = (byte)(value >> (8 * i));
            switch (o)
            {
                case 0:
                    {
                        bool wasStarted = (_bmCmd & BmCmdStart) != 0, start = (b & BmCmdStart) != 0;
                        // The direction bit only changes while the engine is stopped.
                        _bmCmd = (byte)((wasStarted ? _bmCmd & BmCmdToMemory : b & BmCmdToMemory) | (b & BmCmdStart));
                        if (start && !wasStarted)
                        {
                            _bmStatus |= BmStActive;
                            RunDma();
                        }
                        else if (!start && wasStarted)
                        {
                            _bmStatus &= unchecked((byte)~BmStActive);
                        }
                        break;
                    }
                case 2:
                    _bmStatus = (byte)((_bmStatus & ~(b & (BmStError | BmStIrq)) & ~(BmStDrive0Dma | BmStDrive1Dma)) | (b & (BmStDrive0Dma | BmStDrive1Dma)));
                    break;
                case >= 4:
                    {
                        int shift = 8 * (o - 4);
                        _bmPrd = (_bmPrd & ~(0xFFu << shift)) | ((uint)b << shift);
                        _bmPrd &= ~3u;
                        break;
                    }
            }
        }
        UpdateIrq();
    }

    /// <summary>
    /// Moves a DMA command's data when both sides are ready (the device has DMARQ, the engine is
    /// started): walks the PRD table in guest memory, copying each chunk the device reads or takes.
    /// As on the PIIX: a PRD table longer than the transfer leaves Active set; one shorter clears
    /// Active (the command then fails here instead of hanging); a memory fault sets Error.
    /// </summary>
    private void RunDma()
    {
        if ((_bmStatus & BmStActive) == 0 || (_bmCmd & BmCmdStart) == 0) return;
        var d = Selected;
        if (!d.DmaRequested) return;
        bool toMemory = d.Transfer == AtaTransfer.DmaIn;
        if (toMemory != ((_bmCmd & BmCmdToMemory) != 0))
        {
            StopDma(d, error: true);
            return;
        }
        ulong prd = _bmPrd;
        ulong addr = 0;
        int left = 0;
        bool eot = false;
        Span<byte> entry = stackalloc byte[8];
        while (true)
        {
            var chunk = d.DmaNextChunk();
            if (chunk.IsEmpty)
            {
                _bmStatus &= unchecked((byte)~BmStActive);   // the device failed the command
                UpdateIrq();
                return;
            }
            int pos = 0;
            while (pos < chunk.Length)
            {
                if (left == 0)
                {
                    if (eot) { StopDma(d, error: false); return; }   // the table ends before the transfer
                    try { _memory.Read(prd, entry); }
                    catch (GuestMemoryException) { StopDma(d, error: true); return; }
                    addr = BinaryPrimitives.ReadUInt32LittleEndian(entry) & ~1u;
                    int count = BinaryPrimitives.ReadUInt16LittleEndian(entry[4..]) & ~1;
                    left = count == 0 ? 0x10000 : count;
                    eot = (entry[7] & 0x80) != 0;
                    prd += 8;
                }
                int n = Math.Min(left, chunk.Length - pos);
                try
                {
                    if (toMemory) _memory.Write(addr, chunk.Slice(pos, n));
                    else _memory.Read(addr, chunk.Slice(pos, n));
                }
                catch (GuestMemoryException) { StopDma(d, error: true); return; }
                addr += (ulong)n;
                left -= n;
                pos += n;
            }
            if (!d.DmaChunkDone()) break;
        }
        // Command done (or failed writing): an exactly used table ends the engine's activity.
        if ((d.Status & AtaDrive.StErr) != 0 || (left == 0 && eot)) _bmStatus &= unchecked((byte)~BmStActive);
        UpdateIrq();
    }

    private void StopDma(AtaDrive d, bool error)
    {
        _bmStatus &= unchecked((byte)~BmStActive);
        if (error) _bmStatus |= BmStError;
        d.DmaAbort();
        UpdateIrq();
    }

    // ---- saved state ----

    public void Save(SsmWriter w)
    {
        w.PutU8(_devCtl); w.PutI32(_dev); w.PutBool(_irqLevel);
        w.PutU8(_bmCmd); w.PutU8(_bmStatus); w.PutU32(_bmPrd);
        _drives[0].Save(w);
        _drives[1].Save(w);
    }

    public void Load(SsmReader r, string name)
    {
        _devCtl = r.GetU8();
        _dev = r.GetI32();
        if (_dev is not (0 or 1)) throw r.Error($"{name}: bad device selection {_dev}");
        bool level = r.GetBool();
        _bmCmd = r.GetU8(); _bmStatus = r.GetU8(); _bmPrd = r.GetU32();
        _drives[0].Load(r, name + " device 0");
        _drives[1].Load(r, name + " device 1");
        _irqLevel = level;
        _irq.SetLevel(level);
    }
}
