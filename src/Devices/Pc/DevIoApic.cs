using SharpBox.Vmm.Pdm;
using SharpBox.Vmm.Ssm;

namespace SharpBox.Devices.Pc;

/// <summary>
/// The 82093AA I/O APIC at 0xFEC00000 (IOREGSEL at 0x00, IOWIN at 0x10): 24 redirection entries with
/// edge or level triggering, remote IRR cleared by the local APICs' EOI broadcast, masking, physical and
/// logical destinations. Inputs are "asserted" levels from PDM's router (polarity is the OS's business
/// via the MADT). An edge that arrives while its entry is masked is kept and delivered on unmask, as
/// QEMU does. Its lock is PDM's IRQ lock.
/// </summary>
public sealed class DevIoApic : PdmDevice, IInterruptPinSink, IEoiListener, Vmm.Pdm.IMmioDevice
{
    public const ulong DefaultBase = 0xFEC0_0000;
    public const int Pins = 24;
    private const ulong Masked = 1UL << 16, Level = 1UL << 15, RemoteIrr = 1UL << 14, DeliveryStatus = 1UL << 12;
    private const ulong WritableBits = 0xFF00_0000_0001_AFFFUL;   // dest, mask, trigger, polarity, dest mode, mode, vector

    private readonly ulong[] _redir = new ulong[Pins];
    private uint _irr;          // pins asserted (level) or latched edges not yet delivered
    private uint _levels;       // current input levels
    private byte _ioregsel;
    private uint _id;
    private IApicBus? _apic;

    public DevIoApic(PdmDeviceContext ctx) : base(ctx)
    {
        ctx.Config.Validate(["Id"]);
        _id = (uint)ctx.Config.GetInteger("Id", (ulong)ctx.CpuCount, 0, 15);
        ctx.RegisterMmio(DefaultBase, 0x1000, this);
        ctx.Irqs.IoApic = this;
        PowerOn();
        ctx.RegisterSavedState(1, Save, Load);
    }

    public uint ApicId => _id;

    public override void InitComplete() => _apic = Ctx.Find<IApicBus>();

    private void PowerOn()
    {
        for (int i = 0; i < Pins; i++) _redir[i] = Masked;
        _irr = 0; _ioregsel = 0;
    }

    public override void Reset() { PowerOn(); _levels = 0; }

    public void SetPin(int pin, bool level)
    {
        if ((uint)pin >= Pins) return;
        uint bit = 1u << pin;
        bool was = (_levels & bit) != 0;
        if (level) _levels |= bit; else _levels &= ~bit;
        if ((_redir[pin] & Level) != 0)
        {
            if (level) { _irr |= bit; Service(); }
            else _irr &= ~bit;
        }
        else if (level && !was)
        {
            _irr |= bit;
            Service();
        }
    }

    /// <summary>Delivers every unmasked pending entry (level entries once until their EOI).</summary>
    private void Service()
    {
        for (int pin = 0; pin < Pins; pin++)
        {
            uint bit = 1u << pin;
            if ((_irr & bit) == 0) continue;
            ulong e = _redir[pin];
            if ((e & Masked) != 0) continue;
            bool level = (e & Level) != 0;
            if (level)
            {
                if ((e & RemoteIrr) != 0) continue;
                _redir[pin] |= RemoteIrr;
            }
            else _irr &= ~bit;
            var mode = (ApicDeliveryMode)((e >> 8) & 7);
            bool logical = (e & (1UL << 11)) != 0;
            uint dest = (uint)(e >> 56);
            _apic?.Deliver(logical, dest, mode, (byte)e, level);
        }
    }

    public void EndOfInterrupt(byte vector)
    {
        // A level interrupt still asserted after its EOI is delivered again at once (each delivery
        // needs another guest EOI, so this cannot loop inside the VMM).
        for (int pin = 0; pin < Pins; pin++)
        {
            ulong e = _redir[pin];
            if ((byte)e != vector || (e & Level) == 0 || (e & RemoteIrr) == 0) continue;
            _redir[pin] &= ~RemoteIrr;
        }
        Service();
    }

    // ---- registers ----

    public ulong MmioRead(ulong offset, int size)
    {
        switch (offset & 0xFF)
        {
            case 0x00: return _ioregsel;
            case 0x10: return ReadIndirect(_ioregsel);
            default: return 0;
        }
    }

    public void MmioWrite(ulong offset, int size, ulong value)
    {
        switch (offset & 0xFF)
        {
            case 0x00: _ioregsel = (byte)value; break;
            case 0x10: WriteIndirect(_ioregsel, (uint)value); break;
        }
    }

    private uint ReadIndirect(byte index)
    {
        switch (index)
        {
            case 0x00: return _id << 24;
            case 0x01: return ((uint)(Pins - 1) << 16) | 0x11;     // 82093AA version 0x11, 24 entries
            case 0x02: return _id << 24;                            // arbitration ID
            default:
                if (index >= 0x10 && index < 0x10 + 2 * Pins)
                {
                    int pin = (index - 0x10) >> 1;
                    ulong e = _redir[pin];
                    return (index & 1) == 0 ? (uint)e : (uint)(e >> 32);
                }
                return 0;
        }
    }

    private void WriteIndirect(byte index, uint value)
    {
        switch (index)
        {
            case 0x00: _id = (value >> 24) & 0xF; return;
            case 0x01: case 0x02: return;
        }
        if (index < 0x10 || index >= 0x10 + 2 * Pins) return;
        int pin = (index - 0x10) >> 1;
        ulong e = _redir[pin];
        ulong ro = e & (RemoteIrr | DeliveryStatus);
        ulong n = (index & 1) == 0 ? (e & 0xFFFF_FFFF_0000_0000UL) | value : (e & 0xFFFF_FFFFUL) | ((ulong)value << 32);
        n = (n & WritableBits) | ro;
        // Switching to edge triggering clears remote IRR; a level input that is high stays pending.
        if ((n & Level) == 0) n &= ~RemoteIrr;
        _redir[pin] = n;
        uint bit = 1u << pin;
        if ((n & Level) != 0 && (_levels & bit) != 0) _irr |= bit;
        Service();
    }

    // ---- saved state ----

    private void Save(SsmWriter w)
    {
        w.PutU32(_id); w.PutU8(_ioregsel); w.PutU32(_irr); w.PutU32(_levels);
        foreach (var e in _redir) w.PutU64(e);
    }

    private void Load(SsmReader r, uint version)
    {
        _id = r.GetU32() & 0xF; _ioregsel = r.GetU8(); _irr = r.GetU32() & 0xFF_FFFF; _levels = r.GetU32() & 0xFF_FFFF;
        for (int i = 0; i < Pins; i++) _redir[i] = r.GetU64() & (WritableBits | RemoteIrr);
    }

    internal ulong Entry(int pin) => _redir[pin];
}
