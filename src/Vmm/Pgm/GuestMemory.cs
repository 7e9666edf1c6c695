using SharpBox.Vmm.Pdm;

namespace SharpBox.Vmm.Pgm;

/// <summary>
/// The DMA view devices get: bounds-checked copies to and from guest RAM only. A device handing a
/// guest-supplied address here can never reach host memory outside the guest's RAM.
/// </summary>
public sealed class GuestMemory(PhysicalMemoryMap map) : IGuestMemory
{
    public ulong RamSize => map.Ram?.Size ?? 0;

    public void Read(ulong gpa, Span<byte> buffer)
    {
        if (!map.IsRam(gpa, (ulong)buffer.Length))
            throw new GuestMemoryException($"DMA read of {buffer.Length} bytes at 0x{gpa:X}: outside guest RAM");
        map.ReadPhys(gpa, buffer);
    }

    public void Write(ulong gpa, ReadOnlySpan<byte> buffer) => map.WritePhys(gpa, buffer);
}
