using SharpBox.Vmm.Cfgm;
using SharpBox.Vmm.Pdm;
using SharpBox.Vmm.Pgm;
using SharpBox.Vmm.Ssm;
using SharpBox.Vmm.Tm;

namespace SharpBox.Devices.Serial;

/// <summary>
/// A 16550A UART: 16-byte receive FIFO with trigger levels and character-timeout interrupts, the
/// divisor latch, line and modem control/status with loopback, the four interrupt sources in their
/// priority order, and the PC's OUT2 gate on the IRQ line. Transmission is immediate (the host back end
/// takes the byte at once, as QEMU's UART does); reception is paced by FIFO room, so a fast host peer is
/// held back rather than overrunning the guest.
/// CFGM: Config/IOBase, Config/IRQ; LUN#0/Config/Mode (disconnected | file | server | client |
/// tcpserver | tcpclient | pty | hostdevice) and LUN#0/Config/Location.
/// </summary>
public sealed class DevSerial : PdmDevice, IIoPortDevice, ICharPort
{
    public const int FifoSize = 16;
    private const byte IerRda = 1, IerThre = 2, IerRls = 4, IerMsi = 8;
    private const byte LsrDr = 1, LsrOe = 2, LsrPe = 4, LsrFe = 8, LsrBi = 0x10, LsrThre = 0x20, LsrTemt = 0x40, LsrFifoErr = 0x80;
    private const byte McrDtr = 1, McrRts = 2, McrOut1 = 4, McrOut2 = 8, McrLoop = 0x10;
    private const byte MsrDcts = 1, MsrDdsr = 2, MsrTeri = 4, MsrDdcd = 8, MsrCts = 0x10, MsrDsr = 0x20, MsrRi = 0x40, MsrDcd = 0x80;

    private readonly byte[] _rx = new byte[FifoSize];
    private int _rxHead, _rxCount;
    private byte _ier, _lcr, _mcr, _lsr, _msr, _scr, _dll, _dlm;
    private bool _fifoEnabled;
    private int _trigger = 1;
    private bool _thrIpending, _timeoutPending, _rxRefused, _irqLevel, _hostConnected;
    private readonly TmTimer _timeoutTimer;
    private readonly IIrqLine _irq;
    private readonly ICharDriver _driver;
    private long _txBytes, _rxBytes;

    public ushort IoBase { get; }
    public int Irq { get; }
    public ICharDriver Driver => _driver;

    public DevSerial(PdmDeviceContext ctx) : base(ctx)
    {
        var cfg = ctx.Config;
        cfg.Validate(["IOBase", "IRQ"]);
        ushort[] defaultBases = [0x3F8, 0x2F8, 0x3E8, 0x2E8];
        int[] defaultIrqs = [4, 3, 4, 3];
        int n = Math.Min(ctx.Instance, 3);
        IoBase = (ushort)cfg.GetInteger("IOBase", defaultBases[n], 0, 0xFFF8);
        Irq = (int)cfg.GetInteger("IRQ", (ulong)defaultIrqs[n], 0, 15);
        _driver = CreateDriver(ctx);
        _hostConnected = _driver.Connected;
        ctx.RegisterIoPorts(IoBase, 8, this, IoWidths.Byte);
        _irq = ctx.IsaIrq(Irq);
        _timeoutTimer = ctx.CreateTimer("rx timeout", OnTimeout);
        PowerOn();
        _driver.Attach(this);
        ctx.LogRel($"16550A at port 0x{IoBase:X3}, IRQ {Irq}, attached to {_driver.Description}");
        ctx.RegisterSavedState(1, Save, Load);
    }

    private static ICharDriver CreateDriver(PdmDeviceContext ctx)
    {
        var lun = ctx.InstanceNode.GetChild("LUN#0");
        if (lun is null) return new DrvCharNull();
        var cfg = lun.GetChild("Config") ?? lun.GetOrCreateChild("Config");
        cfg.Validate(["Mode", "Location"]);
        string mode = cfg.GetString("Mode", "disconnected");
        string Location() => cfg.GetString("Location");
        try
        {
            return mode switch
            {
                "disconnected" => new DrvCharNull(),
                "file" => new DrvRawFile(ctx.Io, Location()),
                "server" => new DrvNamedPipe(ctx.Io, Location(), server: true),
                "client" => new DrvNamedPipe(ctx.Io, Location(), server: false),
                "tcpserver" => DrvTcp.Create(ctx.Io, Location(), server: true),
                "tcpclient" => DrvTcp.Create(ctx.Io, Location(), server: false),
                "pty" => new DrvPty(ctx.Io, cfg.Has("Location") ? Location() : null),
                "hostdevice" => new DrvHostSerial(ctx.Io, Location()),
                _ => throw new CfgmException($"CFGM: {cfg.Path}/Mode = '{mode}' is not a UART mode (disconnected, file, server, client, tcpserver, tcpclient, pty, hostdevice)"),
            };
        }
        catch (Exception e) when (e is IOException or ArgumentException or System.Net.Sockets.SocketException)
        {
            throw new IOException($"UART {ctx.Instance + 1} ({mode}): {e.Message}", e);
        }
    }

    private void PowerOn()
    {
        _rxHead = _rxCount = 0;
        _ier = 0; _lcr = 0; _mcr = 0; _lsr = LsrThre | LsrTemt; _scr = 0; _dll = 0x0C; _dlm = 0;
        _msr = (byte)(MsrCts | MsrDsr | (_hostConnected ? MsrDcd : 0));
        _fifoEnabled = false; _trigger = 1;
        _thrIpending = false; _timeoutPending = false;
        _timeoutTimer.Stop();
        UpdateIrq();
    }

    public override void Reset() => PowerOn();

    public override void Dispose()
    {
        _driver.Dispose();
        base.Dispose();
    }

    public long TxBytes => Interlocked.Read(ref _txBytes);
    public long RxBytes => Interlocked.Read(ref _rxBytes);

    // ---- interrupts ----

    private byte Iir()
    {
        byte fifo = _fifoEnabled ? (byte)0xC0 : (byte)0;
        if ((_ier & IerRls) != 0 && (_lsr & (LsrOe | LsrPe | LsrFe | LsrBi)) != 0) return (byte)(fifo | 0x06);
        if ((_ier & IerRda) != 0 && _rxCount > 0 && (!_fifoEnabled || _rxCount >= _trigger)) return (byte)(fifo | 0x04);
        if ((_ier & IerRda) != 0 && _timeoutPending) return (byte)(fifo | 0x0C);
        if ((_ier & IerThre) != 0 && _thrIpending) return (byte)(fifo | 0x02);
        if ((_ier & IerMsi) != 0 && (_msr & 0x0F) != 0) return fifo;
        return (byte)(fifo | 0x01);
    }

    private void UpdateIrq()
    {
        bool level = (Iir() & 1) == 0 && (_mcr & McrOut2) != 0;
        if (level != _irqLevel) { _irqLevel = level; _irq.SetLevel(level); }
    }

    /// <summary>Four character times at the programmed baud rate and frame format.</summary>
    private long CharTimeoutNs()
    {
        int divisor = (_dlm << 8) | _dll;
        if (divisor == 0) divisor = 0x10000;
        int data = 5 + (_lcr & 3);
        double stop = (_lcr & 4) == 0 ? 1 : (data == 5 ? 1.5 : 2);
        double bits = 1 + data + ((_lcr & 8) != 0 ? 1 : 0) + stop;
        return (long)(4 * bits * 1e9 * divisor / 115200.0);
    }

    private void ArmTimeout()
    {
        if (_fifoEnabled && _rxCount > 0) _timeoutTimer.SetRelative(CharTimeoutNs());
        else _timeoutTimer.Stop();
    }

    private void OnTimeout()
    {
        if (_rxCount > 0 && _fifoEnabled) { _timeoutPending = true; UpdateIrq(); }
    }

    // ---- receive path (I/O thread via the driver, or loopback) ----

    public int Receive(ReadOnlySpan<byte> data)
    {
        using (Ctx.Lock.EnterScope())
        {
            if ((_mcr & McrLoop) != 0) return data.Length;   // the serial input is disconnected in loopback
            int took = Push(data, overrun: false);
            if (took < data.Length) _rxRefused = true;
            return took;
        }
    }

    public void ConnectionChanged(bool connected)
    {
        using (Ctx.Lock.EnterScope())
        {
            _hostConnected = connected;
            if ((_mcr & McrLoop) != 0) return;
            byte before = _msr;
            _msr = connected ? (byte)(_msr | MsrDcd) : (byte)(_msr & ~MsrDcd);
            if (((before ^ _msr) & MsrDcd) != 0) _msr |= MsrDdcd;
            UpdateIrq();
        }
    }

    private int Push(ReadOnlySpan<byte> data, bool overrun)
    {
        int cap = _fifoEnabled ? FifoSize : 1;
        int took = 0;
        foreach (byte b in data)
        {
            if (_rxCount >= cap)
            {
                if (!overrun) break;
                _lsr |= LsrOe;           // loopback can overrun: the newest byte is lost
                took++;
                continue;
            }
            _rx[(_rxHead + _rxCount) % FifoSize] = b;
            _rxCount++;
            took++;
        }
        if (_rxCount > 0) _lsr |= LsrDr;
        Interlocked.Add(ref _rxBytes, took);
        _timeoutPending = false;
        ArmTimeout();
        UpdateIrq();
        return took;
    }

    private byte Pop()
    {
        if (_rxCount == 0) return 0;
        byte b = _rx[_rxHead];
        _rxHead = (_rxHead + 1) % FifoSize;
        _rxCount--;
        if (_rxCount == 0) _lsr &= unchecked((byte)~LsrDr);
        _timeoutPending = false;
        ArmTimeout();
        if (_rxRefused) { _rxRefused = false; _driver.ReceiveReady(); }
        return b;
    }

    // ---- guest registers ----

    public uint IoRead(ushort offset, int size)
    {
        bool dlab = (_lcr & 0x80) != 0;
        byte v;
        switch (offset)
        {
            case 0:
                if (dlab) return _dll;
                v = Pop();
                UpdateIrq();
                return v;
            case 1: return dlab ? _dlm : _ier;
            case 2:
                v = Iir();
                if ((v & 0x0F) == 0x02) { _thrIpending = false; UpdateIrq(); }   // reading IIR acknowledges THRE
                return v;
            case 3: return _lcr;
            case 4: return _mcr;
            case 5:
                v = _lsr;
                if (_fifoEnabled && (_lsr & (LsrPe | LsrFe | LsrBi)) != 0) v |= LsrFifoErr;
                _lsr &= unchecked((byte)~(LsrOe | LsrPe | LsrFe | LsrBi));
                UpdateIrq();
                return v;
            case 6:
                v = _msr;
                _msr &= 0xF0;
                UpdateIrq();
                return v;
            default: return _scr;
        }
    }

    public void IoWrite(ushort offset, int size, uint value)
    {
        byte v = (byte)value;
        bool dlab = (_lcr & 0x80) != 0;
        switch (offset)
        {
            case 0:
                if (dlab) { _dll = v; break; }
                _thrIpending = false;
                UpdateIrq();                                  // the line drops, so the next THRE is a new edge
                if ((_mcr & McrLoop) != 0) Push(new ReadOnlySpan<byte>(in v), overrun: true);
                else { _driver.Write(new ReadOnlySpan<byte>(in v)); Interlocked.Increment(ref _txBytes); }
                _lsr |= LsrThre | LsrTemt;
                _thrIpending = true;
                break;
            case 1:
                if (dlab) { _dlm = v; break; }
                {
                    byte old = _ier;
                    _ier = (byte)(v & 0x0F);
                    if ((_ier & IerThre) == 0) _thrIpending = false;
                    else if ((old & IerThre) == 0 && (_lsr & LsrThre) != 0) _thrIpending = true;
                }
                break;
            case 2:
                {
                    bool enable = (v & 1) != 0;
                    if (enable != _fifoEnabled) { _rxHead = _rxCount = 0; _lsr &= unchecked((byte)~LsrDr); _timeoutPending = false; }
                    _fifoEnabled = enable;
                    if (enable)
                    {
                        if ((v & 2) != 0) { _rxHead = _rxCount = 0; _lsr &= unchecked((byte)~LsrDr); _timeoutPending = false; }
                        _trigger = (v >> 6) switch { 0 => 1, 1 => 4, 2 => 8, _ => 14 };
                    }
                    ArmTimeout();
                    if (_rxRefused && _rxCount < (_fifoEnabled ? FifoSize : 1)) { _rxRefused = false; _driver.ReceiveReady(); }
                    break;
                }
            case 3: _lcr = v; break;
            case 4:
                {
                    byte old = _mcr;
                    _mcr = (byte)(v & 0x1F);
                    if (((old ^ _mcr) & McrLoop) != 0 || (_mcr & McrLoop) != 0) UpdateModemStatus();
                    break;
                }
            case 5: break;                                    // LSR is read-only (factory test only)
            case 6: break;
            default: _scr = v; break;
        }
        UpdateIrq();
    }

    /// <summary>In loopback the modem inputs follow the outputs (CTS=RTS, DSR=DTR, RI=OUT1, DCD=OUT2).</summary>
    private void UpdateModemStatus()
    {
        byte lines;
        if ((_mcr & McrLoop) != 0)
            lines = (byte)(((_mcr & McrRts) != 0 ? MsrCts : 0) | ((_mcr & McrDtr) != 0 ? MsrDsr : 0)
                           | ((_mcr & McrOut1) != 0 ? MsrRi : 0) | ((_mcr & McrOut2) != 0 ? MsrDcd : 0));
        else lines = (byte)(MsrCts | MsrDsr | (_hostConnected ? MsrDcd : 0));
        byte old = _msr;
        byte delta = (byte)(_msr & 0x0F);
        if (((old ^ lines) & MsrCts) != 0) delta |= MsrDcts;
        if (((old ^ lines) & MsrDsr) != 0) delta |= MsrDdsr;
        if ((old & MsrRi) != 0 && (lines & MsrRi) == 0) delta |= MsrTeri;   // trailing edge of RI
        if (((old ^ lines) & MsrDcd) != 0) delta |= MsrDdcd;
        _msr = (byte)(lines | delta);
    }

    // ---- saved state ----

    private void Save(SsmWriter w)
    {
        w.PutU8(_ier); w.PutU8(_lcr); w.PutU8(_mcr); w.PutU8(_lsr); w.PutU8(_msr); w.PutU8(_scr); w.PutU8(_dll); w.PutU8(_dlm);
        w.PutBool(_fifoEnabled); w.PutU8((byte)_trigger); w.PutBool(_thrIpending); w.PutBool(_timeoutPending);
        w.PutU8((byte)_rxCount);
        for (int i = 0; i < _rxCount; i++) w.PutU8(_rx[(_rxHead + i) % FifoSize]);
        w.PutBool(_timeoutTimer.Active);
        w.PutI64(_timeoutTimer.ExpireNs);
    }

    private void Load(SsmReader r, uint version)
    {
        _ier = (byte)(r.GetU8() & 0x0F); _lcr = r.GetU8(); _mcr = (byte)(r.GetU8() & 0x1F); _lsr = r.GetU8(); _msr = r.GetU8();
        _scr = r.GetU8(); _dll = r.GetU8(); _dlm = r.GetU8();
        _fifoEnabled = r.GetBool(); _trigger = r.GetU8(); _thrIpending = r.GetBool(); _timeoutPending = r.GetBool();
        if (_trigger is not (1 or 4 or 8 or 14)) throw r.Error($"UART trigger level {_trigger} is invalid");
        int count = r.GetU8();
        if (count > FifoSize) throw r.Error($"UART FIFO count {count} exceeds {FifoSize}");
        _rxHead = 0; _rxCount = count;
        for (int i = 0; i < count; i++) _rx[i] = r.GetU8();
        bool timerActive = r.GetBool();
        long expire = r.GetI64();
        if (timerActive) _timeoutTimer.SetExpire(expire); else _timeoutTimer.Stop();
        // The host connection is live state of this process, not of the saved guest.
        _hostConnected = _driver.Connected;
        if ((_mcr & McrLoop) == 0) _msr = (byte)((_msr & 0x0F) | MsrCts | MsrDsr | (_hostConnected ? MsrDcd : 0));
        _irqLevel = false;
        _irq.SetLevel(false);
        UpdateIrq();
    }
}
