using SharpBox.Vmm.Pdm;
using SharpBox.Vmm.Pgm;
using SharpBox.Vmm.Ssm;

namespace SharpBox.Devices.Input;

/// <summary>
/// The i8042 keyboard controller (ports 0x60/0x64) with a PS/2 keyboard and a PS/2 mouse behind it:
/// controller commands (command byte, self tests, port enable/disable, output port with the A20 gate
/// and the reset line, pulse commands, writes to either output buffer or to the mouse), the keyboard's
/// and mouse's command sets with their ACK/BAT replies, IRQ1/IRQ12 per the command byte, and the
/// status register bits guests poll. Input commands complete at once, so IBF never reads as busy.
/// </summary>
public sealed class DevI8042 : PdmDevice, IIoPortDevice
{
    private const byte StObf = 0x01, StSys = 0x04, StCmd = 0x08, StUnlocked = 0x10, StAuxObf = 0x20;
    private const byte CbKbdInt = 0x01, CbAuxInt = 0x02, CbSys = 0x04, CbKbdDisabled = 0x10, CbAuxDisabled = 0x20, CbXlat = 0x40;
    private const byte OpReset = 0x01, OpA20 = 0x02, OpKbdObf = 0x10, OpAuxObf = 0x20;
    private const int QueueMax = 16;

    private byte _status, _cmdByte, _outPort, _outByte, _pendingCmd;
    private bool _outFromAux;
    private readonly byte[] _ram = new byte[32];
    private readonly Queue<byte> _ctrlQ = new(), _kbdQ = new(), _auxQ = new();
    private byte _kbdPendingCmd, _kbdLast, _kbdScanSet = 2, _kbdLeds;
    private bool _kbdScanning = true;
    private byte _auxPendingCmd, _auxRate = 100, _auxResolution = 2, _auxStatus;
    private bool _auxWrap;
    private readonly IIrqLine _irq1, _irq12;
    private bool _irq1Level, _irq12Level;

    public DevI8042(PdmDeviceContext ctx) : base(ctx)
    {
        ctx.Config.Validate([]);
        ctx.RegisterIoPorts(0x60, 1, this, IoWidths.Byte, "data");
        ctx.RegisterIoPorts(0x64, 1, new CommandPort(this), IoWidths.Byte, "command");
        _irq1 = ctx.IsaIrq(1);
        _irq12 = ctx.IsaIrq(12);
        PowerOn();
        ctx.RegisterSavedState(1, Save, Load);
    }

    private void PowerOn()
    {
        _status = StUnlocked; _cmdByte = CbKbdInt | CbAuxInt | CbSys | CbXlat; _outPort = OpReset | OpA20;
        _outByte = 0; _outFromAux = false; _pendingCmd = 0;
        Array.Clear(_ram);
        _ctrlQ.Clear(); _kbdQ.Clear(); _auxQ.Clear();
        _kbdPendingCmd = 0; _kbdLast = 0; _kbdScanSet = 2; _kbdLeds = 0; _kbdScanning = true;
        _auxPendingCmd = 0; _auxRate = 100; _auxResolution = 2; _auxStatus = 0; _auxWrap = false;
        Ctx.PhysMap.A20Enabled = true;
        UpdateIrq();
    }

    public override void Reset() => PowerOn();

    // ---- output buffer and interrupts ----

    private void Refill()
    {
        if ((_status & StObf) != 0) return;
        if (_ctrlQ.Count > 0) { Output(_ctrlQ.Dequeue(), false); return; }
        if ((_cmdByte & CbKbdDisabled) == 0 && _kbdQ.Count > 0) { Output(_kbdQ.Dequeue(), false); return; }
        if ((_cmdByte & CbAuxDisabled) == 0 && _auxQ.Count > 0) { Output(_auxQ.Dequeue(), true); return; }
        UpdateIrq();
    }

    private void Output(byte b, bool aux)
    {
        _outByte = b;
        _outFromAux = aux;
        _status |= StObf;
        if (aux) _status |= StAuxObf; else _status &= unchecked((byte)~StAuxObf);
        UpdateIrq();
    }

    private void UpdateIrq()
    {
        bool obf = (_status & StObf) != 0;
        bool k = obf && !_outFromAux && (_cmdByte & CbKbdInt) != 0;
        bool a = obf && _outFromAux && (_cmdByte & CbAuxInt) != 0;
        _outPort = (byte)((_outPort & ~(OpKbdObf | OpAuxObf)) | (obf && !_outFromAux ? OpKbdObf : 0) | (obf && _outFromAux ? OpAuxObf : 0));
        if (k != _irq1Level) { _irq1Level = k; _irq1.SetLevel(k); }
        if (a != _irq12Level) { _irq12Level = a; _irq12.SetLevel(a); }
    }

    private static void Enqueue(Queue<byte> q, byte b) { if (q.Count < QueueMax) q.Enqueue(b); }

    /// <summary>
    /// Host keyboard input (VBoxManage controlvm keyboardputscancode): scancode set 1, as a translating
    /// controller (the PC default, command byte bit 6) hands them to the guest; with translation off
    /// they are passed as given. Ignored while the guest has the keyboard disabled (F5).
    /// </summary>
    public void PutScancodes(ReadOnlySpan<byte> codes)
    {
        lock (Ctx.Lock)
        {
            if (!_kbdScanning) return;
            foreach (byte b in codes)
                if (_kbdQ.Count < 256) _kbdQ.Enqueue(b);
            Refill();
        }
    }
    private void Kbd(byte b) { Enqueue(_kbdQ, b); _kbdLast = b; }
    private void Aux(byte b) => Enqueue(_auxQ, b);

    // ---- port 0x60 ----

    public uint IoRead(ushort offset, int size)
    {
        byte b = _outByte;
        _status &= unchecked((byte)~(StObf | StAuxObf));
        UpdateIrq();
        Refill();
        return b;
    }

    public void IoWrite(ushort offset, int size, uint value)
    {
        byte v = (byte)value;
        _status &= unchecked((byte)~StCmd);
        byte cmd = _pendingCmd;
        _pendingCmd = 0;
        switch (cmd)
        {
            case >= 0x60 and <= 0x7F:
                if (cmd == 0x60)
                {
                    _cmdByte = (byte)(v & 0x77);
                    _status = (byte)((_status & ~StSys) | (v & CbSys));
                }
                else _ram[cmd - 0x60] = v;
                UpdateIrq();
                break;
            case 0xD1: WriteOutputPort(v); break;
            case 0xD2: Enqueue(_ctrlQ, v); break;
            case 0xD3: Output(v, true); break;
            case 0xD4: AuxCommand(v); break;
            default:
                _cmdByte &= unchecked((byte)~CbKbdDisabled);   // writing to the keyboard enables its clock
                KbdCommand(v);
                break;
        }
        Refill();
    }

    private sealed class CommandPort(DevI8042 d) : IIoPortDevice
    {
        public uint IoRead(ushort offset, int size) => d._status;
        public void IoWrite(ushort offset, int size, uint value) => d.ControllerCommand((byte)value);
    }

    private void WriteOutputPort(byte v)
    {
        _outPort = (byte)(v | OpReset);
        Ctx.PhysMap.A20Enabled = (v & OpA20) != 0;
        if ((v & OpReset) == 0) Ctx.Vm.RequestReset("i8042 output port reset line");
        UpdateIrq();
    }

    private void ControllerCommand(byte c)
    {
        _status |= StCmd;
        switch (c)
        {
            case >= 0x20 and <= 0x3F:
                Enqueue(_ctrlQ, c == 0x20 ? _cmdByte : _ram[c - 0x20]);
                break;
            case >= 0x60 and <= 0x7F: case 0xD1: case 0xD2: case 0xD3: case 0xD4:
                _pendingCmd = c;
                break;
            case 0xA7: _cmdByte |= CbAuxDisabled; break;
            case 0xA8: _cmdByte &= unchecked((byte)~CbAuxDisabled); break;
            case 0xA9: Enqueue(_ctrlQ, 0x00); break;                        // aux interface test: OK
            case 0xAA:
                _status |= StSys;
                Enqueue(_ctrlQ, 0x55);                                      // self test passed
                break;
            case 0xAB: Enqueue(_ctrlQ, 0x00); break;                        // keyboard interface test: OK
            case 0xAD: _cmdByte |= CbKbdDisabled; break;
            case 0xAE: _cmdByte &= unchecked((byte)~CbKbdDisabled); break;
            case 0xC0: Enqueue(_ctrlQ, 0x80); break;                        // input port: keyboard not inhibited
            case 0xD0: Enqueue(_ctrlQ, _outPort); break;
            case 0xDD: Ctx.PhysMap.A20Enabled = false; _outPort &= unchecked((byte)~OpA20); break;
            case 0xDF: Ctx.PhysMap.A20Enabled = true; _outPort |= OpA20; break;
            case 0xE0: Enqueue(_ctrlQ, 0x00); break;                        // test inputs
            case >= 0xF0:
                // Pulse the output-port bits whose mask bit is 0; bit 0 is the CPU reset line.
                if ((c & 1) == 0) Ctx.Vm.RequestReset("i8042 pulse of the reset line");
                break;
            default:
                Ctx.LogRel($"unknown controller command 0x{c:X2}");
                break;
        }
        UpdateIrq();
        Refill();
    }

    // ---- the keyboard ----

    private void KbdCommand(byte v)
    {
        if (_kbdPendingCmd != 0)
        {
            byte pending = _kbdPendingCmd;
            _kbdPendingCmd = 0;
            switch (pending)
            {
                case 0xED: _kbdLeds = (byte)(v & 7); Kbd(0xFA); return;
                case 0xF3: Kbd(0xFA); return;                                // typematic rate: accepted
                case 0xF0:
                    Kbd(0xFA);
                    if (v == 0) Kbd(Translated(_kbdScanSet));
                    else if (v <= 3) _kbdScanSet = v;
                    return;
            }
        }
        switch (v)
        {
            case 0xED: case 0xF3: case 0xF0: _kbdPendingCmd = v; Kbd(0xFA); break;
            case 0xEE: Kbd(0xEE); break;                                     // echo
            case 0xF2: Kbd(0xFA); Kbd(0xAB); Kbd((_cmdByte & CbXlat) != 0 ? (byte)0x41 : (byte)0x83); break;
            case 0xF4: _kbdScanning = true; Kbd(0xFA); break;
            case 0xF5: _kbdScanning = false; _kbdScanSet = 2; Kbd(0xFA); break;
            case 0xF6: _kbdScanSet = 2; Kbd(0xFA); break;
            case 0xF7: case 0xF8: case 0xF9: case 0xFA: case 0xFB: case 0xFC: case 0xFD: Kbd(0xFA); break;
            case 0xFE: Enqueue(_kbdQ, _kbdLast); break;
            case 0xFF:
                _kbdQ.Clear(); _kbdScanSet = 2; _kbdScanning = true; _kbdLeds = 0;
                Kbd(0xFA); Kbd(0xAA);                                        // ACK, then BAT passed
                break;
            default: Kbd(0xFE); break;                                        // not a command: resend
        }
    }

    // With translation on, set numbers read back as the controller translates them.
    private byte Translated(byte set) => (_cmdByte & CbXlat) == 0 ? set : set switch { 1 => (byte)0x43, 2 => (byte)0x41, _ => (byte)0x3F };

    /// <summary>Bytes from the host keyboard as the guest reads them (already in the active scancode set).</summary>
    internal void KeyboardInput(ReadOnlySpan<byte> scancodes)
    {
        if (!_kbdScanning) return;
        foreach (var b in scancodes) Enqueue(_kbdQ, b);
        Refill();
    }

    // ---- the mouse ----

    private void AuxCommand(byte v)
    {
        if (_auxWrap && v != 0xEC && v != 0xFF) { Aux(v); return; }
        if (_auxPendingCmd != 0)
        {
            byte pending = _auxPendingCmd;
            _auxPendingCmd = 0;
            if (pending == 0xF3) _auxRate = v;
            else if (pending == 0xE8) _auxResolution = (byte)(v & 3);
            Aux(0xFA);
            return;
        }
        switch (v)
        {
            case 0xE6: _auxStatus &= unchecked((byte)~0x10); Aux(0xFA); break;   // scaling 1:1
            case 0xE7: _auxStatus |= 0x10; Aux(0xFA); break;                     // scaling 2:1
            case 0xE8: case 0xF3: _auxPendingCmd = v; Aux(0xFA); break;
            case 0xE9: Aux(0xFA); Aux(_auxStatus); Aux(_auxResolution); Aux(_auxRate); break;
            case 0xEA: _auxStatus &= unchecked((byte)~0x40); Aux(0xFA); break;   // stream mode
            case 0xEB: Aux(0xFA); Aux(0x08); Aux(0); Aux(0); break;              // read data: no motion
            case 0xEC: _auxWrap = false; Aux(0xFA); break;
            case 0xEE: _auxWrap = true; Aux(0xFA); break;
            case 0xF0: _auxStatus |= 0x40; Aux(0xFA); break;                     // remote mode
            case 0xF2: Aux(0xFA); Aux(0x00); break;                              // ID: standard PS/2 mouse
            case 0xF4: _auxStatus |= 0x20; Aux(0xFA); break;
            case 0xF5: _auxStatus &= unchecked((byte)~0x20); Aux(0xFA); break;
            case 0xF6: _auxStatus = 0; _auxRate = 100; _auxResolution = 2; Aux(0xFA); break;
            case 0xFF:
                _auxQ.Clear(); _auxStatus = 0; _auxRate = 100; _auxResolution = 2; _auxWrap = false;
                Aux(0xFA); Aux(0xAA); Aux(0x00);
                break;
            default: Aux(0xFE); break;
        }
    }

    // ---- saved state ----

    private static void SaveQueue(SsmWriter w, Queue<byte> q) { w.PutU8((byte)q.Count); foreach (var b in q) w.PutU8(b); }

    private static void LoadQueue(SsmReader r, Queue<byte> q)
    {
        q.Clear();
        int n = r.GetU8();
        if (n > QueueMax) throw r.Error($"i8042 queue of {n} bytes exceeds {QueueMax}");
        for (int i = 0; i < n; i++) q.Enqueue(r.GetU8());
    }

    private void Save(SsmWriter w)
    {
        w.PutU8(_status); w.PutU8(_cmdByte); w.PutU8(_outPort); w.PutU8(_outByte); w.PutU8(_pendingCmd); w.PutBool(_outFromAux);
        w.PutBytes(_ram);
        SaveQueue(w, _ctrlQ); SaveQueue(w, _kbdQ); SaveQueue(w, _auxQ);
        w.PutU8(_kbdPendingCmd); w.PutU8(_kbdLast); w.PutU8(_kbdScanSet); w.PutU8(_kbdLeds); w.PutBool(_kbdScanning);
        w.PutU8(_auxPendingCmd); w.PutU8(_auxRate); w.PutU8(_auxResolution); w.PutU8(_auxStatus); w.PutBool(_auxWrap);
        w.PutBool(Ctx.PhysMap.A20Enabled);
    }

    private void Load(SsmReader r, uint version)
    {
        _status = r.GetU8(); _cmdByte = r.GetU8(); _outPort = r.GetU8(); _outByte = r.GetU8(); _pendingCmd = r.GetU8(); _outFromAux = r.GetBool();
        r.GetBytes(_ram);
        LoadQueue(r, _ctrlQ); LoadQueue(r, _kbdQ); LoadQueue(r, _auxQ);
        _kbdPendingCmd = r.GetU8(); _kbdLast = r.GetU8(); _kbdScanSet = r.GetU8(); _kbdLeds = r.GetU8(); _kbdScanning = r.GetBool();
        _auxPendingCmd = r.GetU8(); _auxRate = r.GetU8(); _auxResolution = r.GetU8(); _auxStatus = r.GetU8(); _auxWrap = r.GetBool();
        Ctx.PhysMap.A20Enabled = r.GetBool();
        _irq1Level = _irq12Level = false;
        _irq1.SetLevel(false); _irq12.SetLevel(false);
        UpdateIrq();
    }
}
