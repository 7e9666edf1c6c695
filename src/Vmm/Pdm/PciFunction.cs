using System.Buffers.Binary;
using SharpBox.Vmm.Pgm;
using SharpBox.Vmm.Ssm;

namespace SharpBox.Vmm.Pdm;

public enum PciBarKind { None, Io, Mmio32, Mmio64 }

/// <summary>
/// One PCI function: a 256-byte type-0 configuration space with per-bit write masks, up to six BARs
/// that PDM maps into the port space or guest-physical space when the guest enables decoding, and an
/// INTx pin the bus routes to a PIRQ. Devices derive from it and may watch config writes.
/// </summary>
public class PciFunction
{
    public const int CfgCommand = 0x04, CfgStatus = 0x06, CfgBar0 = 0x10, CfgIntLine = 0x3C, CfgIntPin = 0x3D;
    public const ushort CmdIo = 1, CmdMem = 2, CmdBusMaster = 4, CmdIntxDisable = 0x400;
    public const ushort StatusIntx = 8, StatusCapList = 0x10;

    private readonly byte[] _config = new byte[256];
    private readonly byte[] _writeMask = new byte[256];
    private readonly Bar[] _bars = new Bar[6];
    private bool _intxLevel;

    public string Name { get; }
    public PciBus? Bus { get; internal set; }
    public int DevFn { get; internal set; } = -1;
    internal IIrqLine? IntxLine;
    internal Lock? DeviceLock;

    private sealed class Bar
    {
        public PciBarKind Kind;
        public ulong Size;
        public bool Prefetchable;
        public IIoPortDevice? Io;
        public IMmioDevice? Mmio;
        public Lock? Lock;
        public IoPortRange? MappedIo;
        public MmioRegion? Region;
    }

    public PciFunction(string name, ushort vendor, ushort device, byte classCode, byte subclass, byte progIf = 0, byte revision = 0)
    {
        Name = name;
        Set16(0x00, vendor);
        Set16(0x02, device);
        _config[0x08] = revision;
        _config[0x09] = progIf;
        _config[0x0A] = subclass;
        _config[0x0B] = classCode;
        // Command: I/O, memory, bus master, interrupt disable are writable; interrupt line is scratch.
        _writeMask[CfgCommand] = (byte)(CmdIo | CmdMem | CmdBusMaster);
        _writeMask[CfgCommand + 1] = (byte)(CmdIntxDisable >> 8);
        _writeMask[0x0C] = 0xFF;   // cache line size
        _writeMask[0x0D] = 0xFF;   // latency timer
        _writeMask[CfgIntLine] = 0xFF;
    }

    public ReadOnlySpan<byte> ConfigSpace => _config;
    public ushort Command => Get16(CfgCommand);

    protected ushort Get16(int off) => BinaryPrimitives.ReadUInt16LittleEndian(_config.AsSpan(off));
    protected uint Get32(int off) => BinaryPrimitives.ReadUInt32LittleEndian(_config.AsSpan(off));
    protected void Set8(int off, byte v) => _config[off] = v;
    protected void Set16(int off, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(_config.AsSpan(off), v);
    protected void Set32(int off, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(_config.AsSpan(off), v);
    protected void SetWritable(int off, int count, byte mask = 0xFF) { for (int i = 0; i < count; i++) _writeMask[off + i] = mask; }

    public void SetSubsystem(ushort vendor, ushort id) { Set16(0x2C, vendor); Set16(0x2E, id); }
    public void SetHeaderType(byte type) => _config[0x0E] = (byte)((_config[0x0E] & 0x80) | type);
    internal void SetHeaderTypeMultiFunction() => _config[0x0E] |= 0x80;

    /// <summary>INTA=1 … INTD=4; 0 for none.</summary>
    public void SetInterruptPin(int pin)
    {
        if (pin < 0 || pin > 4) throw new ArgumentOutOfRangeException(nameof(pin));
        _config[CfgIntPin] = (byte)pin;
    }

    public void DefineIoBar(int index, uint size, IIoPortDevice device, Lock @lock)
    {
        CheckBar(index, size, 4);
        _bars[index] = new Bar { Kind = PciBarKind.Io, Size = size, Io = device, Lock = @lock };
        Set32(CfgBar0 + 4 * index, 1);
        var m = ~(size - 1) & 0xFFFF_FFFCu;
        BinaryPrimitives.WriteUInt32LittleEndian(_writeMask.AsSpan(CfgBar0 + 4 * index), m);
    }

    public void DefineMmioBar(int index, ulong size, IMmioDevice device, Lock @lock, bool is64 = false, bool prefetchable = false)
    {
        CheckBar(index, size, 16);
        if (is64 && index == 5) throw new ArgumentException("PCI: a 64-bit BAR needs two slots");
        if (size < PhysicalMemoryMap.PageSize) size = PhysicalMemoryMap.PageSize;   // keep regions page granular
        _bars[index] = new Bar { Kind = is64 ? PciBarKind.Mmio64 : PciBarKind.Mmio32, Size = size, Mmio = device, Lock = @lock, Prefetchable = prefetchable };
        uint flags = (is64 ? 4u : 0u) | (prefetchable ? 8u : 0u);
        Set32(CfgBar0 + 4 * index, flags);
        ulong mask = ~(size - 1);
        BinaryPrimitives.WriteUInt32LittleEndian(_writeMask.AsSpan(CfgBar0 + 4 * index), (uint)mask & 0xFFFF_FFF0u);
        if (is64) BinaryPrimitives.WriteUInt32LittleEndian(_writeMask.AsSpan(CfgBar0 + 4 * index + 4), (uint)(mask >> 32));
    }

    private void CheckBar(int index, ulong size, ulong min)
    {
        if ((uint)index >= 6) throw new ArgumentOutOfRangeException(nameof(index));
        if (size < min || (size & (size - 1)) != 0) throw new ArgumentException($"PCI: BAR size {size} must be a power of two >= {min}");
    }

    /// <summary>The guest-visible BAR address (0 when not assigned).</summary>
    public ulong BarAddress(int index)
    {
        var b = _bars[index];
        if (b is null) return 0;
        uint lo = Get32(CfgBar0 + 4 * index);
        return b.Kind switch
        {
            PciBarKind.Io => lo & 0xFFFF_FFFCu,
            PciBarKind.Mmio32 => lo & 0xFFFF_FFF0u,
            PciBarKind.Mmio64 => (lo & 0xFFFF_FFF0u) | ((ulong)Get32(CfgBar0 + 4 * index + 4) << 32),
            _ => 0,
        };
    }

    public uint ConfigRead(int offset, int size)
    {
        if (offset < 0 || offset + size > 256) return 0xFFFF_FFFF;
        uint v = OnConfigRead(offset, size, out bool handled);
        if (handled) return v;
        return size switch
        {
            1 => _config[offset],
            2 => Get16(offset),
            _ => Get32(offset),
        };
    }

    public void ConfigWrite(int offset, int size, uint value)
    {
        if (offset < 0 || offset + size > 256) return;
        if (OnConfigWrite(offset, size, value)) return;
        bool touchesBars = offset < 0x28 && offset + size > CfgBar0;
        bool touchesCommand = offset < CfgCommand + 2 && offset + size > CfgCommand;
        for (int i = 0; i < size; i++)
        {
            int o = offset + i;
            byte m = _writeMask[o];
            byte b = (byte)(value >> (8 * i));
            if (o == CfgStatus || o == CfgStatus + 1)
            {
                // Status error bits (15:11, 8) are write-one-to-clear.
                byte w1c = o == CfgStatus ? (byte)0x00 : (byte)0xF9;
                _config[o] &= (byte)~(b & w1c);
                continue;
            }
            _config[o] = (byte)((_config[o] & ~m) | (b & m));
        }
        if (touchesBars || touchesCommand) UpdateMappings();
        if (touchesCommand) UpdateIntx();
        OnConfigWritten(offset, size, value);
    }

    /// <summary>Override to serve config registers yourself (set <paramref name="handled"/>).</summary>
    protected virtual uint OnConfigRead(int offset, int size, out bool handled) { handled = false; return 0; }
    /// <summary>Override to intercept a config write entirely (return true).</summary>
    protected virtual bool OnConfigWrite(int offset, int size, uint value) => false;
    /// <summary>Called after a config write took effect.</summary>
    protected virtual void OnConfigWritten(int offset, int size, uint value) { }

    /// <summary>Raises or lowers INTx (level triggered); honours Command.InterruptDisable, sets Status.Interrupt.</summary>
    public void SetIntx(bool level)
    {
        _intxLevel = level;
        if (level) _config[CfgStatus] |= (byte)StatusIntx; else _config[CfgStatus] &= unchecked((byte)~StatusIntx);
        UpdateIntx();
    }

    private void UpdateIntx() => IntxLine?.SetLevel(_intxLevel && (Command & CmdIntxDisable) == 0);

    /// <summary>Maps each BAR whose decoding is enabled and which has an address; unmaps the others.</summary>
    internal void UpdateMappings()
    {
        var bus = Bus;
        if (bus is null) return;
        ushort cmd = Command;
        for (int i = 0; i < 6; i++)
        {
            var b = _bars[i];
            if (b is null) continue;
            ulong addr = BarAddress(i);
            if (b.Kind == PciBarKind.Io)
            {
                bool want = (cmd & CmdIo) != 0 && addr != 0 && addr + b.Size <= 0x10000;
                if (b.MappedIo is not null && (!want || b.MappedIo.First != addr))
                { bus.Ports.Unregister(b.MappedIo); b.MappedIo = null; }
                if (want && b.MappedIo is null)
                {
                    b.MappedIo = bus.Ports.TryRegister($"{Name} BAR{i}", (ushort)addr, (int)b.Size, b.Io!, b.Lock!, IoWidths.All, out var why);
                    if (b.MappedIo is null) bus.Log?.Invoke($"PCI: {Name} BAR{i} at port 0x{addr:X} not mapped: {why}");
                }
            }
            else
            {
                bool want = (cmd & CmdMem) != 0 && addr != 0 && addr + b.Size > addr;
                if (b.Region is { Mapped: true } && (!want || b.Region.Base != addr)) bus.Memory.UnmapMmio(b.Region);
                if (want && b.Region is not { Mapped: true })
                {
                    b.Region ??= bus.Memory.CreateMmio($"{Name} BAR{i}", b.Size, b.Mmio!, b.Lock!);
                    if (!bus.Memory.TryMapMmio(b.Region, addr))
                        bus.Log?.Invoke($"PCI: {Name} BAR{i} at 0x{addr:X} not mapped: overlaps another region");
                }
            }
        }
    }

    /// <summary>Saves the config space (BAR mappings follow from it on load).</summary>
    public void SaveConfig(SsmWriter w) { w.PutBlob(_config); w.PutBool(_intxLevel); }

    public void LoadConfig(SsmReader r)
    {
        r.GetBlob(_config);
        _intxLevel = r.GetBool();
        UpdateMappings();
        UpdateIntx();
    }

    /// <summary>Back to power-on values for the writable registers (BARs unassigned, decoding off).</summary>
    public virtual void ResetConfig()
    {
        Set16(CfgCommand, 0);
        Set16(CfgStatus, (ushort)(Get16(CfgStatus) & StatusCapList));
        for (int i = 0; i < 6; i++)
            if (_bars[i] is { } b)
            {
                uint flags = b.Kind switch { PciBarKind.Io => 1u, PciBarKind.Mmio64 => 4u | (b.Prefetchable ? 8u : 0), _ => b.Prefetchable ? 8u : 0 };
                Set32(CfgBar0 + 4 * i, flags);
                if (b.Kind == PciBarKind.Mmio64) Set32(CfgBar0 + 4 * i + 4, 0);
            }
        _config[CfgIntLine] = 0;
        _intxLevel = false;
        UpdateMappings();
        UpdateIntx();
    }

    /// <summary>Programs a BAR as firmware would (used when no BIOS runs before the kernel).</summary>
    public void AssignBar(int index, ulong address)
    {
        var b = _bars[index] ?? throw new ArgumentException($"PCI: {Name} has no BAR{index}");
        uint lo = (uint)address & (b.Kind == PciBarKind.Io ? 0xFFFF_FFFCu : 0xFFFF_FFF0u);
        Set32(CfgBar0 + 4 * index, lo | (Get32(CfgBar0 + 4 * index) & (b.Kind == PciBarKind.Io ? 3u : 0xFu)));
        if (b.Kind == PciBarKind.Mmio64) Set32(CfgBar0 + 4 * index + 4, (uint)(address >> 32));
        UpdateMappings();
    }

    /// <summary>Sets command-register bits as firmware would.</summary>
    public void EnableDecoding(ushort commandBits)
    {
        Set16(CfgCommand, (ushort)(Command | commandBits));
        UpdateMappings();
        UpdateIntx();
    }
}
