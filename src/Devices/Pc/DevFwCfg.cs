using System.Buffers.Binary;
using System.Text;
using SharpBox.Vmm.Pdm;
using SharpBox.Vmm.Pgm;
using SharpBox.Vmm.Ssm;

namespace SharpBox.Devices.Pc;

/// <summary>
/// QEMU's firmware configuration interface (fw_cfg) at ports 0x510 (16-bit selector), 0x511 (data) and
/// 0x514-0x51B (64-bit big-endian DMA address; writing the low half starts a transfer). Serves the
/// well-known items (signature, feature bits, UUID, RAM size, CPU counts, no-graphic) and named files
/// through the file directory (etc/e820 and what the platform adds). DMA goes through the bounds-checked
/// guest-memory accessor; a bad descriptor sets the error bit, nothing else.
/// </summary>
public sealed class DevFwCfg : PdmDevice, IIoPortDevice
{
    public const ushort KeySignature = 0x00, KeyId = 0x01, KeyUuid = 0x02, KeyRamSize = 0x03, KeyNoGraphic = 0x04,
        KeyNbCpus = 0x05, KeyMaxCpus = 0x0F, KeyFileDir = 0x19, KeyFileFirst = 0x20;
    private const uint DmaError = 1, DmaRead = 2, DmaSkip = 4, DmaSelect = 8, DmaWrite = 0x10;
    public const ulong DmaSignature = 0x51454D5520434647;   // "QEMU CFG"

    private static readonly byte[] s_zeros = new byte[64 * 1024];
    private readonly Dictionary<ushort, byte[]> _items = new();
    private readonly List<(string Name, ushort Key)> _files = new();
    private ushort _selector;
    private uint _offset;
    private ulong _dmaAddress;

    public DevFwCfg(PdmDeviceContext ctx) : base(ctx)
    {
        var cfg = ctx.Config;
        cfg.Validate(["UUID", "RamSize", "IOBase"]);
        ushort io = (ushort)cfg.GetInteger("IOBase", 0x510, 0, 0xFFF0);
        _items[KeySignature] = "QEMU"u8.ToArray();
        _items[KeyId] = Le32(3);                                    // traditional interface + DMA
        _items[KeyUuid] = Guid.TryParse(cfg.GetString("UUID", Guid.Empty.ToString()), out var g) ? UuidBytes(g)
            : throw new ArgumentException($"fw_cfg UUID '{cfg.GetString("UUID")}' is not a UUID");
        _items[KeyRamSize] = Le64(cfg.GetInteger("RamSize", ctx.Memory.RamSize));
        _items[KeyNoGraphic] = Le16(1);
        _items[KeyNbCpus] = Le16((ushort)ctx.CpuCount);
        _items[KeyMaxCpus] = Le16((ushort)ctx.CpuCount);
        RebuildDirectory();
        ctx.RegisterIoPorts(io, 2, this, IoWidths.All, "selector/data");
        ctx.RegisterIoPorts((ushort)(io + 4), 8, new DmaPort(this), IoWidths.All, "dma");
        ctx.RegisterSavedState(1, Save, Load);
    }

    private static byte[] Le16(ushort v) { var b = new byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, v); return b; }
    private static byte[] Le32(uint v) { var b = new byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); return b; }
    private static byte[] Le64(ulong v) { var b = new byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, v); return b; }

    /// <summary>SMBIOS/fw_cfg order: the first three fields big-endian.</summary>
    private static byte[] UuidBytes(Guid g) => g.ToByteArray(bigEndian: true);

    /// <summary>Adds (or replaces) a named file, visible in the directory (key 0x19).</summary>
    public void AddFile(string name, byte[] data)
    {
        if (Encoding.UTF8.GetByteCount(name) >= 56) throw new ArgumentException($"fw_cfg file name '{name}' is too long");
        using (Ctx.Lock.EnterScope())
        {
            int idx = _files.FindIndex(f => f.Name == name);
            ushort key;
            if (idx >= 0) key = _files[idx].Key;
            else
            {
                key = (ushort)(KeyFileFirst + _files.Count);
                if (key >= 0x4000) throw new InvalidOperationException("fw_cfg: too many files");
                _files.Add((name, key));
            }
            _items[key] = data.ToArray();
            RebuildDirectory();
        }
    }

    public byte[]? Item(ushort key) { using (Ctx.Lock.EnterScope()) return _items.GetValueOrDefault(key)?.ToArray(); }

    private void RebuildDirectory()
    {
        var sorted = _files.OrderBy(f => f.Name, StringComparer.Ordinal).ToList();
        var dir = new byte[4 + 64 * sorted.Count];
        BinaryPrimitives.WriteUInt32BigEndian(dir, (uint)sorted.Count);
        for (int i = 0; i < sorted.Count; i++)
        {
            var e = dir.AsSpan(4 + 64 * i);
            BinaryPrimitives.WriteUInt32BigEndian(e, (uint)_items[sorted[i].Key].Length);
            BinaryPrimitives.WriteUInt16BigEndian(e[4..], sorted[i].Key);
            Encoding.UTF8.GetBytes(sorted[i].Name).CopyTo(e[8..]);
        }
        _items[KeyFileDir] = dir;
    }

    private void Select(ushort key) { _selector = key; _offset = 0; }

    private byte[]? Current => _items.GetValueOrDefault((ushort)(_selector & 0x3FFF));

    public uint IoRead(ushort offset, int size)
    {
        if (offset == 0) return 0;                 // the selector is write-only
        uint v = 0;
        var item = Current;
        for (int i = 0; i < size; i++)
        {
            byte b = item is not null && _offset < item.Length ? item[_offset] : (byte)0;
            if (item is not null && _offset < item.Length) _offset++;
            v |= (uint)b << (8 * i);               // successive bytes in ascending address order
        }
        return v;
    }

    public void IoWrite(ushort offset, int size, uint value)
    {
        if (offset == 0 && size >= 2) Select((ushort)value);
        else if (offset == 0) Select((ushort)((uint)(_selector & 0xFF00) | (value & 0xFF)));
        // Data-port writes are ignored (QEMU removed them; writable items use DMA).
    }

    private sealed class DmaPort(DevFwCfg d) : IIoPortDevice
    {
        public uint IoRead(ushort offset, int size)
        {
            // Reading the DMA register returns the "QEMU CFG" signature (big-endian).
            Span<byte> sig = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(sig, DmaSignature);
            uint v = 0;
            for (int i = 0; i < size && offset + i < 8; i++) v |= (uint)sig[offset + i] << (8 * i);
            return v;
        }

        public void IoWrite(ushort offset, int size, uint value)
        {
            // The eight ports hold the address big-endian (port 0x514 = most significant byte); guests
            // write the high half then the low half, and the low half's last byte starts the transfer.
            for (int i = 0; i < size; i++)
            {
                int pos = offset + i;
                if (pos >= 8) break;
                byte b = (byte)(value >> (8 * i));
                int shift = (7 - pos) * 8;
                d._dmaAddress = (d._dmaAddress & ~(0xFFUL << shift)) | ((ulong)b << shift);
            }
            if (offset + size == 8) { d.RunDma(d._dmaAddress); d._dmaAddress = 0; }
        }
    }

    private void RunDma(ulong descAddr)
    {
        var mem = Ctx.Memory;
        Span<byte> desc = stackalloc byte[16];
        try { mem.Read(descAddr, desc); }
        catch (GuestMemoryException) { Ctx.LogRel($"DMA descriptor at 0x{descAddr:X} is outside RAM"); return; }
        uint control = BinaryPrimitives.ReadUInt32BigEndian(desc);
        uint length = BinaryPrimitives.ReadUInt32BigEndian(desc[4..]);
        ulong address = BinaryPrimitives.ReadUInt64BigEndian(desc[8..]);
        uint result = 0;
        try
        {
            if ((control & DmaSelect) != 0) Select((ushort)(control >> 16));
            var item = Current;
            if ((control & DmaWrite) != 0) result = DmaError;            // no writable items
            else if ((control & (DmaRead | DmaSkip)) != 0)
            {
                uint avail = item is null ? 0 : (uint)Math.Max(0, item.Length - (int)_offset);
                uint n = Math.Min(length, avail);
                if ((control & DmaRead) != 0)
                {
                    // The whole destination must be RAM before anything is written (a bad length is an error, not a long loop).
                    if (!Ctx.PhysMap.IsRam(address, length)) throw new GuestMemoryException("DMA destination is not RAM");
                    if (n > 0) mem.Write(address, item.AsSpan((int)_offset, (int)n));
                    // Past the end of the item the guest gets zeros.
                    for (ulong done = n; done < length;)
                    {
                        int c = (int)Math.Min((ulong)s_zeros.Length, length - done);
                        mem.Write(address + done, s_zeros.AsSpan(0, c));
                        done += (ulong)c;
                    }
                }
                _offset += n;
            }
        }
        catch (GuestMemoryException) { result = DmaError; }
        Span<byte> done4 = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(done4, result);
        try { mem.Write(descAddr, done4); } catch (GuestMemoryException) { }
    }

    private void Save(SsmWriter w)
    {
        w.PutU16(_selector); w.PutU32(_offset); w.PutU64(_dmaAddress);
    }

    private void Load(SsmReader r, uint version)
    {
        _selector = r.GetU16(); _offset = r.GetU32(); _dmaAddress = r.GetU64();
    }
}
