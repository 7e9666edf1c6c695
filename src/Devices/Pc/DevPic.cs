using SharpBox.Vmm.Pdm;
using SharpBox.Vmm.Pgm;
using SharpBox.Vmm.Ssm;

namespace SharpBox.Devices.Pc;

/// <summary>
/// The cascaded i8259A pair of a PC (master 0x20, slave 0xA0, slave on master IRQ2) with the PIIX3
/// edge/level control registers (ELCR, 0x4D0/0x4D1): ICW1-4, OCW1-3, IRR/ISR/IMR, fixed and rotating
/// priorities, specific/non-specific EOI, auto-EOI, special mask, special fully nested, poll mode.
/// Its INT output goes to the local APIC's LINT0 (ExtINT), or straight to CPU 0 when there is no APIC.
/// </summary>
public sealed class DevPic : PdmDevice, IInterruptPinSink, IPicInterface, IIoPortDevice, ICpuInterruptController
{
    /// <summary>One 8259A.</summary>
    internal sealed class Chip
    {
        public byte LastIrr, Irr, Imr, Isr, PriorityAdd, IrqBase, ReadRegSelect, Elcr;
        public bool Poll, SpecialMask, AutoEoi, RotateOnAutoEoi, SpecialFullyNested, Init4, SingleMode;
        public int InitState;
        public readonly byte ElcrMask;
        public readonly bool IsMaster;
        public Chip(bool master) { IsMaster = master; ElcrMask = master ? (byte)0xF8 : (byte)0xDE; }

        public void InitReset()
        {
            LastIrr = 0; Irr &= Elcr; Imr = 0; Isr = 0; PriorityAdd = 0; IrqBase = 0; ReadRegSelect = 0;
            Poll = false; SpecialMask = false; InitState = 0; AutoEoi = false; RotateOnAutoEoi = false;
            SpecialFullyNested = false; Init4 = false; SingleMode = false;
        }

        /// <summary>Priority (0 = highest) of the best bit of <paramref name="mask"/>, 8 if none.</summary>
        public int Priority(byte mask)
        {
            if (mask == 0) return 8;
            int p = 0;
            while ((mask & (1 << ((p + PriorityAdd) & 7))) == 0) p++;
            return p;
        }

        /// <summary>The IRQ this chip would present now, or -1.</summary>
        public int PendingIrq()
        {
            int p = Priority((byte)(Irr & ~Imr));
            if (p == 8) return -1;
            byte inService = Isr;
            if (SpecialMask) inService &= (byte)~Imr;
            if (SpecialFullyNested && IsMaster) inService &= unchecked((byte)~(1 << 2));
            int cur = Priority(inService);
            return p < cur ? (p + PriorityAdd) & 7 : -1;
        }

        public void SetIrq(int irq, bool level)
        {
            byte mask = (byte)(1 << irq);
            if ((Elcr & mask) != 0)
            {
                if (level) { Irr |= mask; LastIrr |= mask; }
                else { Irr &= (byte)~mask; LastIrr &= (byte)~mask; }
            }
            else if (level)
            {
                if ((LastIrr & mask) == 0) Irr |= mask;
                LastIrr |= mask;
            }
            else LastIrr &= (byte)~mask;
        }

        public void Ack(int irq)
        {
            byte mask = (byte)(1 << irq);
            if (AutoEoi) { if (RotateOnAutoEoi) PriorityAdd = (byte)((irq + 1) & 7); }
            else Isr |= mask;
            if ((Elcr & mask) == 0) Irr &= (byte)~mask;   // a level-triggered request stays pending
        }

        public void Save(SsmWriter w)
        {
            w.PutU8(LastIrr); w.PutU8(Irr); w.PutU8(Imr); w.PutU8(Isr); w.PutU8(PriorityAdd); w.PutU8(IrqBase);
            w.PutU8(ReadRegSelect); w.PutU8(Elcr); w.PutBool(Poll); w.PutBool(SpecialMask); w.PutBool(AutoEoi);
            w.PutBool(RotateOnAutoEoi); w.PutBool(SpecialFullyNested); w.PutBool(Init4); w.PutBool(SingleMode);
            w.PutU8((byte)InitState);
        }

        public void Load(SsmReader r)
        {
            LastIrr = r.GetU8(); Irr = r.GetU8(); Imr = r.GetU8(); Isr = r.GetU8(); PriorityAdd = (byte)(r.GetU8() & 7); IrqBase = r.GetU8();
            ReadRegSelect = r.GetU8(); Elcr = (byte)(r.GetU8() & ElcrMask); Poll = r.GetBool(); SpecialMask = r.GetBool(); AutoEoi = r.GetBool();
            RotateOnAutoEoi = r.GetBool(); SpecialFullyNested = r.GetBool(); Init4 = r.GetBool(); SingleMode = r.GetBool();
            InitState = r.GetU8();
            if (InitState > 3) throw r.Error($"PIC init state {InitState} is invalid");
        }
    }

    private readonly Chip _master = new(true), _slave = new(false);
    private bool _output;
    private readonly bool _directToCpu;

    public Action<bool>? OutputChanged { get; set; }
    public bool OutputHigh => _output;

    public DevPic(PdmDeviceContext ctx) : base(ctx)
    {
        ctx.Config.Validate(["DirectToCpu"]);
        _directToCpu = ctx.Config.GetBool("DirectToCpu", false);
        ctx.RegisterIoPorts(0x20, 2, this, IoWidths.Byte, "master");
        ctx.RegisterIoPorts(0xA0, 2, new Port(this, 0xA0), IoWidths.Byte, "slave");
        ctx.RegisterIoPorts(0x4D0, 2, new Port(this, 0x4D0), IoWidths.Byte, "ELCR");
        ctx.Irqs.Pic = this;
        if (_directToCpu) ctx.Pdm.InterruptController = this;
        ctx.RegisterSavedState(1, w => { _master.Save(w); _slave.Save(w); w.PutBool(_output); },
            (r, _) => { _master.Load(r); _slave.Load(r); _output = r.GetBool(); Update(); });
    }

    /// <summary>Ports other than the master's come through this adapter (offset relative to its base).</summary>
    private sealed class Port(DevPic pic, ushort basePort) : IIoPortDevice
    {
        public uint IoRead(ushort offset, int size) => pic.Read((ushort)(basePort + offset));
        public void IoWrite(ushort offset, int size, uint value) => pic.Write((ushort)(basePort + offset), (byte)value);
    }

    public uint IoRead(ushort offset, int size) => Read((ushort)(0x20 + offset));
    public void IoWrite(ushort offset, int size, uint value) => Write((ushort)(0x20 + offset), (byte)value);

    public override void Reset()
    {
        _master.InitReset(); _master.Elcr = 0;
        _slave.InitReset(); _slave.Elcr = 0;
        Update();
    }

    // ---- router side (called under the IRQ lock) ----

    public void SetPin(int pin, bool level)
    {
        if (pin < 8) _master.SetIrq(pin, level); else _slave.SetIrq(pin - 8, level);
        Update();
    }

    /// <summary>Recomputes the slave's cascade input and the INT output, and tells the APIC/CPU when it changes.</summary>
    private void Update()
    {
        _master.SetIrq(2, _slave.PendingIrq() >= 0);
        bool out_ = _master.PendingIrq() >= 0;
        if (out_ != _output)
        {
            _output = out_;
            OutputChanged?.Invoke(out_);
            if (out_ && _directToCpu) Ctx.CpuSignals.InterruptPending(0);
        }
    }

    // ---- INTA ----

    public int Acknowledge()
    {
        using (Ctx.Irqs.IrqLock.EnterScope())
        {
            int vector;
            int irq = _master.PendingIrq();
            if (irq >= 0)
            {
                _master.Ack(irq);
                if (irq == 2)
                {
                    int irq2 = _slave.PendingIrq();
                    if (irq2 >= 0) _slave.Ack(irq2); else irq2 = 7;   // spurious IRQ15
                    vector = _slave.IrqBase + irq2;
                }
                else vector = _master.IrqBase + irq;
            }
            else vector = _master.IrqBase + 7;                        // spurious IRQ7
            Update();
            return vector;
        }
    }

    bool ICpuInterruptController.HasPendingInterrupt(int cpu) => cpu == 0 && _output;
    int ICpuInterruptController.AcknowledgeInterrupt(int cpu) => cpu == 0 ? Acknowledge() : -1;

    // ---- guest port accesses ----

    private uint Read(ushort port)
    {
        if (port is 0x4D0 or 0x4D1) return (port == 0x4D0 ? _master : _slave).Elcr;
        var c = port < 0xA0 ? _master : _slave;
        if ((port & 1) == 1) return c.Imr;
        if (c.Poll)
        {
            c.Poll = false;
            int irq = c.PendingIrq();
            if (irq < 0) return 0;
            c.Ack(irq);
            if (c.IsMaster && irq == 2)
            {
                // Polling the master for a cascaded request also acknowledges the slave's.
                int irq2 = _slave.PendingIrq();
                if (irq2 >= 0) _slave.Ack(irq2);
            }
            Update();
            return (uint)(irq | 0x80);
        }
        return c.ReadRegSelect != 0 ? c.Isr : c.Irr;
    }

    private void Write(ushort port, byte v)
    {
        if (port is 0x4D0 or 0x4D1)
        {
            var e = port == 0x4D0 ? _master : _slave;
            e.Elcr = (byte)(v & e.ElcrMask);
            Update();
            return;
        }
        var c = port < 0xA0 ? _master : _slave;
        if ((port & 1) == 0)
        {
            if ((v & 0x10) != 0)
            {
                // ICW1
                c.InitReset();
                c.InitState = 1;
                c.Init4 = (v & 1) != 0;
                c.SingleMode = (v & 2) != 0;
            }
            else if ((v & 0x08) != 0)
            {
                // OCW3
                if ((v & 0x04) != 0) c.Poll = true;
                if ((v & 0x02) != 0) c.ReadRegSelect = (byte)(v & 1);
                if ((v & 0x40) != 0) c.SpecialMask = ((v >> 5) & 1) != 0;
            }
            else
            {
                // OCW2
                int cmd = v >> 5;
                switch (cmd)
                {
                    case 0: case 4: c.RotateOnAutoEoi = cmd == 4; break;
                    case 1: case 5:
                        {
                            int p = c.Priority(c.Isr);
                            if (p != 8)
                            {
                                int irq = (p + c.PriorityAdd) & 7;
                                c.Isr &= (byte)~(1 << irq);
                                if (cmd == 5) c.PriorityAdd = (byte)((irq + 1) & 7);
                            }
                            break;
                        }
                    case 3: c.Isr &= (byte)~(1 << (v & 7)); break;
                    case 6: c.PriorityAdd = (byte)((v + 1) & 7); break;
                    case 7:
                        c.Isr &= (byte)~(1 << (v & 7));
                        c.PriorityAdd = (byte)(((v & 7) + 1) & 7);
                        break;
                }
            }
        }
        else
        {
            switch (c.InitState)
            {
                case 0: c.Imr = v; break;                                         // OCW1
                case 1:                                                           // ICW2
                    c.IrqBase = (byte)(v & 0xF8);
                    c.InitState = c.SingleMode ? (c.Init4 ? 3 : 0) : 2;
                    break;
                case 2: c.InitState = c.Init4 ? 3 : 0; break;                     // ICW3
                case 3:                                                           // ICW4
                    c.SpecialFullyNested = ((v >> 4) & 1) != 0;
                    c.AutoEoi = ((v >> 1) & 1) != 0;
                    c.InitState = 0;
                    break;
            }
        }
        Update();
    }

    // ---- for tests and the log ----
    internal Chip Master => _master;
    internal Chip Slave => _slave;
}
