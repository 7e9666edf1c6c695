using System.Runtime.InteropServices;

namespace SharpBox.Vmm.Em;

/// <summary>
/// A bare machine for tests, tools and benchmarks: RAM from physical address 0, nothing else
/// unless the owner adds it (port handlers, an interrupt source). Not the PC platform.
/// </summary>
public sealed unsafe class FlatRamBus : ICpuBus, IDisposable
{
    public byte* Ram { get; }
    public ulong RamSize { get; }
    private ulong _tsc;
    private ulong _cr8;

    /// <summary>Port reads (null: all ones).</summary>
    public Func<ushort, int, uint>? PortRead { get; set; }
    /// <summary>Port writes (null: ignored).</summary>
    public Action<ushort, int, uint>? PortWrite { get; set; }
    /// <summary>Interrupt acknowledge (null: no interrupt controller, returns -1).</summary>
    public Func<int>? Acknowledge { get; set; }
    /// <summary>TSC source (null: a counter advancing by 1000 per read).</summary>
    public Func<ulong>? Tsc { get; set; }

    public FlatRamBus(ulong ramSize)
    {
        if (ramSize == 0 || (ramSize & 0xFFF) != 0) throw new ArgumentException("RAM size must be a non-zero multiple of 4 KiB", nameof(ramSize));
        RamSize = ramSize;
        Ram = (byte*)NativeMemory.AlignedAlloc((nuint)ramSize, 4096);
        NativeMemory.Clear(Ram, (nuint)ramSize);
    }

    public Span<byte> RamSpan(ulong offset, int length)
    {
        if (offset + (ulong)length > RamSize) throw new ArgumentOutOfRangeException(nameof(offset), $"range {offset:X}+{length:X} is outside RAM ({RamSize:X} bytes)");
        return new Span<byte>(Ram + offset, length);
    }

    public PhysPageKind LookupPage(ulong gpa, out byte* host)
    {
        if (gpa < RamSize) { host = Ram + (gpa & ~0xFFFUL); return PhysPageKind.Ram; }
        host = null;
        return PhysPageKind.Unassigned;
    }

    public ulong MmioRead(ulong gpa, int size) => size == 8 ? ulong.MaxValue : (1UL << (size * 8)) - 1;
    public void MmioWrite(ulong gpa, int size, ulong value) { }
    public uint IoRead(ushort port, int size) => PortRead?.Invoke(port, size) ?? (size == 4 ? uint.MaxValue : (1u << (size * 8)) - 1);
    public void IoWrite(ushort port, int size, uint value) => PortWrite?.Invoke(port, size, value);
    public int AcknowledgeInterrupt(int cpuIndex) => Acknowledge?.Invoke() ?? -1;
    public ulong ReadTsc() => Tsc?.Invoke() ?? (_tsc += 1000);
    public bool TryReadMsr(int cpuIndex, uint msr, out ulong value) { value = 0; return false; }
    public bool TryWriteMsr(int cpuIndex, uint msr, ulong value) => msr == Cpum.Msr.ApicBase;
    public ulong ReadCr8(int cpuIndex) => _cr8;
    public void WriteCr8(int cpuIndex, ulong value) => _cr8 = value;

    public void Dispose()
    {
        NativeMemory.AlignedFree(Ram);
        GC.SuppressFinalize(this);
    }
}
