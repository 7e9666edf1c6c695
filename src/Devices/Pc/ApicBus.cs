namespace SharpBox.Devices.Pc;

/// <summary>APIC delivery modes (ICR, LVT and IOAPIC redirection entries share the encoding).</summary>
public enum ApicDeliveryMode { Fixed = 0, LowestPriority = 1, Smi = 2, Nmi = 4, Init = 5, Startup = 6, ExtInt = 7 }

/// <summary>
/// The interrupt message path into the local APICs: what the IOAPIC (and later MSI) sends. Called with
/// PDM's IRQ lock held.
/// </summary>
public interface IApicBus
{
    /// <param name="logical">logical (true) or physical destination mode</param>
    /// <param name="destination">APIC ID (physical) or logical destination; 0xFF / 0xFFFFFFFF broadcast</param>
    void Deliver(bool logical, uint destination, ApicDeliveryMode mode, byte vector, bool levelTriggered);
}

/// <summary>What the local APIC tells the IOAPIC: an EOI for a level-triggered vector.</summary>
public interface IEoiListener
{
    void EndOfInterrupt(byte vector);
}
