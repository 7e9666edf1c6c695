namespace SharpBox.Vmm.Pdm;

// The seams between devices and the rest of the VMM. Devices see offsets into the ranges they
// registered, never absolute addresses or the bus, and never know which engine runs the CPU.

/// <summary>A device's I/O-port range. Offsets are relative to the range's first port.</summary>
public interface IIoPortDevice
{
    /// <param name="offset">port minus the first port of the registered range</param>
    /// <param name="size">1, 2 or 4 bytes</param>
    uint IoRead(ushort offset, int size);
    void IoWrite(ushort offset, int size, uint value);
}

/// <summary>A device's MMIO range. Offsets are relative to the range's base address.</summary>
public interface IMmioDevice
{
    /// <param name="size">1, 2, 4 or 8 bytes</param>
    ulong MmioRead(ulong offset, int size);
    void MmioWrite(ulong offset, int size, ulong value);
}

/// <summary>
/// One interrupt line from a device to whatever routes it (PIC/IOAPIC here, KVM's in-kernel irqchip
/// later). Level-triggered devices hold it high while they want service; edge devices pulse it.
/// </summary>
public interface IIrqLine
{
    void SetLevel(bool high);
}

/// <summary>Guest-physical memory as a device sees it for DMA: every access is bounds-checked.</summary>
public interface IGuestMemory
{
    ulong RamSize { get; }
    /// <summary>Copies guest memory at <paramref name="gpa"/> into <paramref name="buffer"/>; throws if any byte is outside RAM.</summary>
    void Read(ulong gpa, Span<byte> buffer);
    void Write(ulong gpa, ReadOnlySpan<byte> buffer);
}
