using System.Buffers.Binary;
using System.Text;

namespace SharpBox.Vmm.Ssm;

/// <summary>A saved-state file that cannot be used: names the file, the unit and the problem.</summary>
public sealed class SsmException(string message) : Exception(message);

/// <summary>
/// One versioned saved-state unit (a device, the CPUs, RAM, TM). Save writes the unit's current state;
/// Load reads a state written by this or an older <see cref="Version"/> and must leave the unit exactly
/// as it was when saved.
/// </summary>
public interface ISsmUnit
{
    string Name { get; }
    int Instance { get; }
    uint Version { get; }
    void Save(SsmWriter w);
    void Load(SsmReader r, uint version);
}

/// <summary>A unit given as delegates, for components that are not a class of their own.</summary>
public sealed class SsmUnit(string name, int instance, uint version, Action<SsmWriter> save, Action<SsmReader, uint> load) : ISsmUnit
{
    public string Name => name;
    public int Instance => instance;
    public uint Version => version;
    public void Save(SsmWriter w) => save(w);
    public void Load(SsmReader r, uint v) => load(r, v);
}

/// <summary>Little-endian writer of one unit's data; also tracks the unit's CRC.</summary>
public sealed class SsmWriter
{
    private readonly Stream _s;
    private readonly byte[] _buf = new byte[8];
    internal uint Crc;
    internal long Length;

    internal SsmWriter(Stream s) { _s = s; }

    public void PutBytes(ReadOnlySpan<byte> data)
    {
        _s.Write(data);
        Crc = Crc32.Update(Crc, data);
        Length += data.Length;
    }

    public void PutU8(byte v) { _buf[0] = v; PutBytes(_buf.AsSpan(0, 1)); }
    public void PutBool(bool v) => PutU8(v ? (byte)1 : (byte)0);
    public void PutU16(ushort v) { BinaryPrimitives.WriteUInt16LittleEndian(_buf, v); PutBytes(_buf.AsSpan(0, 2)); }
    public void PutU32(uint v) { BinaryPrimitives.WriteUInt32LittleEndian(_buf, v); PutBytes(_buf.AsSpan(0, 4)); }
    public void PutU64(ulong v) { BinaryPrimitives.WriteUInt64LittleEndian(_buf, v); PutBytes(_buf.AsSpan(0, 8)); }
    public void PutI32(int v) => PutU32((uint)v);
    public void PutI64(long v) => PutU64((ulong)v);

    /// <summary>A length-prefixed byte string.</summary>
    public void PutBlob(ReadOnlySpan<byte> data) { PutU32((uint)data.Length); PutBytes(data); }
    public void PutString(string s) => PutBlob(Encoding.UTF8.GetBytes(s));
}

/// <summary>Reader of one unit's data; every read is bounded by the unit's length and fails with a clear message.</summary>
public sealed class SsmReader
{
    private readonly Stream _s;
    private readonly byte[] _buf = new byte[8];
    private readonly string _where;
    internal long Remaining;

    internal SsmReader(Stream s, long length, string where) { _s = s; Remaining = length; _where = where; }

    public long BytesLeft => Remaining;

    public void GetBytes(Span<byte> into)
    {
        if (into.Length > Remaining) throw new SsmException($"{_where}: unit data ends early (wanted {into.Length} more bytes, {Remaining} left)");
        _s.ReadExactly(into);
        Remaining -= into.Length;
    }

    public byte GetU8() { GetBytes(_buf.AsSpan(0, 1)); return _buf[0]; }
    public bool GetBool() => GetU8() != 0;
    public ushort GetU16() { GetBytes(_buf.AsSpan(0, 2)); return BinaryPrimitives.ReadUInt16LittleEndian(_buf); }
    public uint GetU32() { GetBytes(_buf.AsSpan(0, 4)); return BinaryPrimitives.ReadUInt32LittleEndian(_buf); }
    public ulong GetU64() { GetBytes(_buf.AsSpan(0, 8)); return BinaryPrimitives.ReadUInt64LittleEndian(_buf); }
    public int GetI32() => (int)GetU32();
    public long GetI64() => (long)GetU64();

    public byte[] GetBlob(int maxLength)
    {
        uint n = GetU32();
        if (n > maxLength) throw new SsmException($"{_where}: a field of {n} bytes exceeds its limit of {maxLength}");
        var b = new byte[n];
        GetBytes(b);
        return b;
    }

    /// <summary>Reads a blob that must be exactly <paramref name="into"/>'s length.</summary>
    public void GetBlob(Span<byte> into)
    {
        uint n = GetU32();
        if (n != into.Length) throw new SsmException($"{_where}: field is {n} bytes, expected {into.Length}");
        GetBytes(into);
    }

    public string GetString(int maxLength = 4096) => Encoding.UTF8.GetString(GetBlob(maxLength));

    /// <summary>Fails the load with a message naming the unit (for values out of range).</summary>
    public SsmException Error(string problem) => new($"{_where}: {problem}");
}

/// <summary>
/// SSM: the registry of saved-state units and the file format. A file is a header, then each unit
/// (name, instance, version, length, data, CRC-32), then an end record. Saving writes a temporary file,
/// fsyncs and renames it into place (an existing file is kept as -prev), so a crash never leaves a
/// half-written state behind. Loading checks every unit's CRC and presence before changing anything.
/// </summary>
public sealed class SavedStateManager
{
    private static readonly byte[] s_magic = "SBXSSM\r\n"u8.ToArray();
    private static readonly byte[] s_endMagic = "SSM-END\n"u8.ToArray();
    public const uint FormatVersion = 1;
    private readonly List<ISsmUnit> _units = new();

    public IReadOnlyList<ISsmUnit> Units => _units;

    public void Register(ISsmUnit unit)
    {
        foreach (var u in _units)
            if (u.Name == unit.Name && u.Instance == unit.Instance)
                throw new InvalidOperationException($"SSM: unit '{unit.Name}' instance {unit.Instance} registered twice");
        if (Encoding.UTF8.GetByteCount(unit.Name) > 255) throw new ArgumentException("SSM: unit name too long");
        _units.Add(unit);
    }

    /// <summary>Saves every unit (the VM must be paused) to <paramref name="path"/> atomically.</summary>
    public void Save(string path)
    {
        string full = Path.GetFullPath(path);
        string tmp = full + ".tmp";
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 16))
            {
                fs.Write(s_magic);
                WriteU32(fs, FormatVersion);
                WriteU32(fs, (uint)_units.Count);
                foreach (var u in _units)
                {
                    var name = Encoding.UTF8.GetBytes(u.Name);
                    fs.WriteByte((byte)name.Length);
                    fs.Write(name);
                    WriteU32(fs, (uint)u.Instance);
                    WriteU32(fs, u.Version);
                    long lengthPos = fs.Position;
                    WriteU64(fs, 0);
                    var w = new SsmWriter(fs);
                    u.Save(w);
                    long end = fs.Position;
                    fs.Position = lengthPos;
                    WriteU64(fs, (ulong)w.Length);
                    fs.Position = end;
                    WriteU32(fs, w.Crc);
                }
                fs.Write(s_endMagic);
                fs.Flush(true);
            }
            if (File.Exists(full)) File.Copy(full, full + "-prev", overwrite: true);
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }

    private readonly record struct UnitRecord(string Name, int Instance, uint Version, long Offset, long Length);

    /// <summary>
    /// Loads <paramref name="path"/> into the registered units. Everything is checked first (format, CRCs,
    /// that each registered unit is present and not newer than this build, that no unknown unit is in the
    /// file); only then are the units loaded, in registration order.
    /// </summary>
    public void Load(string path)
    {
        using var fs = OpenForLoad(path);
        var records = Scan(fs, path);
        var byKey = new Dictionary<(string, int), UnitRecord>();
        foreach (var r in records) byKey[(r.Name, r.Instance)] = r;
        foreach (var u in _units)
        {
            if (!byKey.TryGetValue((u.Name, u.Instance), out var r))
                throw new SsmException($"{path}: saved state has no unit '{u.Name}' instance {u.Instance} (saved from a different VM configuration?)");
            if (r.Version > u.Version)
                throw new SsmException($"{path}: unit '{u.Name}' instance {u.Instance} has version {r.Version}, newer than this build's {u.Version}");
            byKey.Remove((u.Name, u.Instance));
        }
        foreach (var extra in byKey.Values)
            throw new SsmException($"{path}: saved state has unit '{extra.Name}' instance {extra.Instance}, which this VM does not have (different configuration?)");
        foreach (var u in _units)
        {
            var r = records.First(x => x.Name == u.Name && x.Instance == u.Instance);
            fs.Position = r.Offset;
            string where = $"{path}: unit '{u.Name}' instance {u.Instance}";
            var reader = new SsmReader(fs, r.Length, where);
            u.Load(reader, r.Version);
            if (reader.Remaining != 0)
                throw new SsmException($"{where}: {reader.Remaining} bytes of unit data were not consumed (version mismatch?)");
        }
    }

    /// <summary>Checks the file's structure and CRCs without loading anything; returns the unit names.</summary>
    public static IReadOnlyList<string> Verify(string path)
    {
        using var fs = OpenForLoad(path);
        return Scan(fs, path).Select(r => $"{r.Name}#{r.Instance} v{r.Version} ({r.Length} bytes)").ToList();
    }

    private static FileStream OpenForLoad(string path)
    {
        try { return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new SsmException($"{path}: cannot open saved state: {e.Message}"); }
    }

    private static List<UnitRecord> Scan(FileStream fs, string path)
    {
        var list = new List<UnitRecord>();
        Span<byte> magic = stackalloc byte[8];
        if (fs.ReadAtLeast(magic, 8, false) != 8 || !magic.SequenceEqual(s_magic))
            throw new SsmException($"{path}: not a SharpBox saved-state file (bad magic)");
        uint fmt = ReadU32(fs, path);
        if (fmt != FormatVersion) throw new SsmException($"{path}: saved-state format {fmt} is not supported (this build reads {FormatVersion})");
        uint count = ReadU32(fs, path);
        if (count > 100_000) throw new SsmException($"{path}: implausible unit count {count}");
        var buf = new byte[1 << 16];
        for (uint i = 0; i < count; i++)
        {
            int nameLen = fs.ReadByte();
            if (nameLen < 0) throw Truncated(path);
            var name = new byte[nameLen];
            if (fs.ReadAtLeast(name, nameLen, false) != nameLen) throw Truncated(path);
            int instance = (int)ReadU32(fs, path);
            uint version = ReadU32(fs, path);
            long length = (long)ReadU64(fs, path);
            string unitName = Encoding.UTF8.GetString(name);
            if (length < 0 || fs.Position + length + 4 > fs.Length)
                throw new SsmException($"{path}: unit '{unitName}' instance {instance} is truncated");
            long offset = fs.Position;
            uint crc = 0;
            for (long left = length; left > 0;)
            {
                int n = fs.Read(buf, 0, (int)Math.Min(buf.Length, left));
                if (n <= 0) throw Truncated(path);
                crc = Crc32.Update(crc, buf.AsSpan(0, n));
                left -= n;
            }
            uint stored = ReadU32(fs, path);
            if (stored != crc) throw new SsmException($"{path}: unit '{unitName}' instance {instance} is corrupt (CRC mismatch)");
            list.Add(new UnitRecord(unitName, instance, version, offset, length));
        }
        if (fs.ReadAtLeast(magic, 8, false) != 8 || !magic.SequenceEqual(s_endMagic))
            throw new SsmException($"{path}: saved state has no end record (truncated)");
        return list;
    }

    private static SsmException Truncated(string path) => new($"{path}: saved state is truncated");

    private static void WriteU32(Stream s, uint v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); s.Write(b); }
    private static void WriteU64(Stream s, ulong v) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, v); s.Write(b); }
    private static uint ReadU32(Stream s, string path) { Span<byte> b = stackalloc byte[4]; if (s.ReadAtLeast(b, 4, false) != 4) throw Truncated(path); return BinaryPrimitives.ReadUInt32LittleEndian(b); }
    private static ulong ReadU64(Stream s, string path) { Span<byte> b = stackalloc byte[8]; if (s.ReadAtLeast(b, 8, false) != 8) throw Truncated(path); return BinaryPrimitives.ReadUInt64LittleEndian(b); }
}
