namespace SharpBox.Vmm.Pdm;

/// <summary>An interrupt controller's input pins as the router drives them (PIC pins 0-15, IOAPIC pins 0-23).</summary>
public interface IInterruptPinSink
{
    /// <summary>Called under <see cref="IrqRouter.IrqLock"/>.</summary>
    void SetPin(int pin, bool level);
}

/// <summary>The PIIX3's PCI interrupt steering (PIRQA-D → ISA IRQ), for the PIC side of PCI interrupts.</summary>
public interface IPciIrqSteering
{
    /// <summary>The ISA IRQ PIRQ <paramref name="pirq"/> (0-3) is steered to, or -1 when routing is disabled.</summary>
    int IsaIrqOf(int pirq);
}

/// <summary>
/// PDM's interrupt wiring. Devices hold <see cref="IIrqLine"/>s; the router ORs all sources of a pin
/// (shared PCI interrupts), and forwards level changes to the PIC and the IOAPIC the way a PIIX3-based PC
/// wires them: ISA IRQ n → PIC pin n and IOAPIC pin n (IRQ0 → IOAPIC pin 2, as the MADT says); PCI PIRQ
/// A-D → IOAPIC pins 16-19 and, through the PIIX3 steering registers, a PIC pin. A KVM in-kernel irqchip
/// can stand in by implementing the two sinks; devices do not change.
/// All interrupt controllers share one lock, <see cref="IrqLock"/> (PDM's IRQ critical section): a device
/// raising a line takes it after its own lock, never the other way round.
/// </summary>
public sealed class IrqRouter
{
    public const int IsaIrqs = 16, IoApicPins = 24, PciPirqs = 4, PirqGsiBase = 16;

    public Lock IrqLock { get; } = new();
    public IInterruptPinSink? Pic { get; set; }
    public IInterruptPinSink? IoApic { get; set; }
    public IPciIrqSteering? PciSteering { get; set; }

    private readonly ulong[] _isaSources = new ulong[IsaIrqs];
    private readonly ulong[] _gsiSources = new ulong[IoApicPins];
    private readonly ulong[] _pirqSources = new ulong[PciPirqs];
    private readonly int[] _nextBit = new int[IsaIrqs + IoApicPins + PciPirqs];
    private readonly bool[] _picFromPirq = new bool[IsaIrqs];
    private readonly ulong[] _hpetSources = new ulong[IsaIrqs];   // which source bits belong to the HPET
    private bool _hpetLegacy;

    private abstract class Line : IIrqLine
    {
        protected readonly IrqRouter R;
        protected readonly ulong Bit;
        protected Line(IrqRouter r, ulong bit) { R = r; Bit = bit; }
        public abstract void SetLevel(bool high);
    }

    private sealed class IsaLine(IrqRouter r, ulong bit, int irq) : Line(r, bit)
    {
        public override void SetLevel(bool high)
        {
            using (R.IrqLock.EnterScope())
            {
                ref ulong s = ref R._isaSources[irq];
                bool before = R.IsaLevel(irq);
                s = high ? s | Bit : s & ~Bit;
                if (R.IsaLevel(irq) != before || high) R.DriveIsa(irq);
            }
        }
    }

    private sealed class GsiLine(IrqRouter r, ulong bit, int gsi) : Line(r, bit)
    {
        public override void SetLevel(bool high)
        {
            using (R.IrqLock.EnterScope())
            {
                ref ulong s = ref R._gsiSources[gsi];
                s = high ? s | Bit : s & ~Bit;
                R.IoApic?.SetPin(gsi, R.GsiLevel(gsi));
            }
        }
    }

    private sealed class PirqLine(IrqRouter r, ulong bit, int pirq) : Line(r, bit)
    {
        public override void SetLevel(bool high)
        {
            using (R.IrqLock.EnterScope())
            {
                ref ulong s = ref R._pirqSources[pirq];
                s = high ? s | Bit : s & ~Bit;
                R.IoApic?.SetPin(PirqGsiBase + pirq, R.GsiLevel(PirqGsiBase + pirq));
                R.RecomputePicFromPirqs();
            }
        }
    }

    private ulong NextBit(int slot, string what)
    {
        int b = _nextBit[slot]++;
        if (b >= 64) throw new InvalidOperationException($"PDM: more than 64 sources share {what}");
        return 1UL << b;
    }

    /// <summary>A line to ISA IRQ <paramref name="irq"/> (0-15).</summary>
    public IIrqLine CreateIsaLine(int irq, bool fromHpetLegacy = false)
    {
        if ((uint)irq >= IsaIrqs) throw new ArgumentOutOfRangeException(nameof(irq), $"ISA IRQ {irq} does not exist (0-15)");
        using (IrqLock.EnterScope())
        {
            ulong bit = NextBit(irq, $"ISA IRQ {irq}");
            if (fromHpetLegacy) _hpetSources[irq] |= bit;
            return new IsaLine(this, bit, irq);
        }
    }

    /// <summary>A line straight to IOAPIC pin <paramref name="gsi"/> (16-23 are shared with PCI PIRQs).</summary>
    public IIrqLine CreateGsiLine(int gsi)
    {
        if ((uint)gsi >= IoApicPins) throw new ArgumentOutOfRangeException(nameof(gsi), $"GSI {gsi} does not exist (0-23)");
        using (IrqLock.EnterScope()) return new GsiLine(this, NextBit(IsaIrqs + gsi, $"GSI {gsi}"), gsi);
    }

    /// <summary>A line to PCI interrupt PIRQ A-D (0-3).</summary>
    public IIrqLine CreatePirqLine(int pirq)
    {
        if ((uint)pirq >= PciPirqs) throw new ArgumentOutOfRangeException(nameof(pirq));
        using (IrqLock.EnterScope()) return new PirqLine(this, NextBit(IsaIrqs + IoApicPins + pirq, $"PIRQ{(char)('A' + pirq)}"), pirq);
    }

    /// <summary>HPET legacy replacement: HPET timers 0/1 take over IRQ0/IRQ8 from the PIT/RTC.</summary>
    public bool HpetLegacyReplacement
    {
        get { using (IrqLock.EnterScope()) return _hpetLegacy; }
        set
        {
            using (IrqLock.EnterScope())
            {
                if (_hpetLegacy == value) return;
                _hpetLegacy = value;
                DriveIsa(0);
                DriveIsa(8);
            }
        }
    }

    /// <summary>
    /// The effective level of an ISA IRQ: HPET legacy lines count only in legacy-replacement mode, and
    /// then the other sources of IRQ0 and IRQ8 (the PIT and the RTC) are cut off.
    /// </summary>
    private bool IsaLevel(int irq)
    {
        ulong s = _isaSources[irq], hpet = _hpetSources[irq];
        return (_hpetLegacy && (irq == 0 || irq == 8) ? s & hpet : s & ~hpet) != 0;
    }

    private bool GsiLevel(int gsi)
    {
        if (_gsiSources[gsi] != 0) return true;
        if (gsi >= PirqGsiBase && gsi < PirqGsiBase + PciPirqs && _pirqSources[gsi - PirqGsiBase] != 0) return true;
        if (gsi < IsaIrqs && gsi != 0 && gsi != 2 && IsaLevel(gsi)) return true;
        return gsi == 2 && IsaLevel(0);
    }

    private void DriveIsa(int irq)
    {
        Pic?.SetPin(irq, IsaLevel(irq) || _picFromPirq[irq]);
        if (irq != 2) IoApic?.SetPin(irq == 0 ? 2 : irq, GsiLevel(irq == 0 ? 2 : irq));
    }

    /// <summary>Re-evaluates the PIC inputs fed by PCI interrupts (after a PIRQ level or a steering change).</summary>
    public void RecomputePicFromPirqs()
    {
        using (IrqLock.EnterScope())
        {
            Span<bool> level = stackalloc bool[IsaIrqs];
            for (int p = 0; p < PciPirqs; p++)
            {
                int irq = PciSteering?.IsaIrqOf(p) ?? -1;
                if (irq >= 0 && irq < IsaIrqs && _pirqSources[p] != 0) level[irq] = true;
            }
            for (int i = 0; i < IsaIrqs; i++)
                if (level[i] != _picFromPirq[i])
                {
                    _picFromPirq[i] = level[i];
                    Pic?.SetPin(i, IsaLevel(i) || level[i]);
                }
        }
    }
}
