using System.Buffers.Binary;
using System.Text;

namespace SharpBox.Devices.Boot;

/// <summary>A kernel image that cannot be booted: the message names the file and the problem.</summary>
public sealed class BootImageException(string message) : Exception(message);

/// <summary>
/// Minimal ELF32/ELF64 reader (little-endian x86) for boot loaders: program headers and notes, every
/// offset checked against the file so a malformed image is refused with a clear message.
/// </summary>
public sealed class ElfImage
{
    public readonly record struct Segment(uint Type, ulong Offset, ulong PhysAddr, ulong VirtAddr, ulong FileSize, ulong MemSize);
    public readonly record struct Note(string Name, uint Type, byte[] Desc);

    public const uint PtLoad = 1, PtNote = 4;
    public bool Is64 { get; }
    public ulong Entry { get; }
    public IReadOnlyList<Segment> Segments { get; }
    private readonly ReadOnlyMemory<byte> _data;
    private readonly string _name;

    public static bool IsElf(ReadOnlySpan<byte> data) => data.Length >= 16 && data[0] == 0x7F && data[1] == 'E' && data[2] == 'L' && data[3] == 'F';

    public ElfImage(ReadOnlyMemory<byte> data, string name)
    {
        _data = data;
        _name = name;
        var d = data.Span;
        if (!IsElf(d)) throw Bad("not an ELF file");
        Is64 = d[4] switch { 1 => false, 2 => true, _ => throw Bad($"unknown ELF class {d[4]}") };
        if (d[5] != 1) throw Bad("not little-endian");
        int hdrSize = Is64 ? 64 : 52;
        if (data.Length < hdrSize) throw Bad("ELF header truncated");
        ushort machine = U16(18);
        if (machine != 3 && machine != 62) throw Bad($"ELF machine {machine} is not x86");
        Entry = Is64 ? U64(24) : U32(24);
        ulong phoff = Is64 ? U64(32) : U32(28);
        int phentsize = U16(Is64 ? 54 : 42), phnum = U16(Is64 ? 56 : 44);
        if (phnum > 0 && phentsize < (Is64 ? 56 : 32)) throw Bad($"program header size {phentsize} is too small");
        var segs = new List<Segment>();
        for (int i = 0; i < phnum; i++)
        {
            ulong at = phoff + (ulong)(i * phentsize);
            if (at + (ulong)phentsize > (ulong)data.Length) throw Bad($"program header {i} lies outside the file");
            int o = (int)at;
            Segment s = Is64
                ? new(U32(o), U64(o + 8), U64(o + 24), U64(o + 16), U64(o + 32), U64(o + 40))
                : new(U32(o), U32(o + 4), U32(o + 12), U32(o + 8), U32(o + 16), U32(o + 20));
            if (s.Type is PtLoad or PtNote && (s.Offset + s.FileSize > (ulong)data.Length || s.Offset + s.FileSize < s.Offset))
                throw Bad($"segment {i} (offset 0x{s.Offset:X}, 0x{s.FileSize:X} bytes) extends beyond the file");
            if (s.Type == PtLoad && s.FileSize > s.MemSize) throw Bad($"segment {i} has more file bytes than memory bytes");
            segs.Add(s);
        }
        Segments = segs;
    }

    private BootImageException Bad(string what) => new($"{_name}: {what}");
    private ushort U16(int o) => BinaryPrimitives.ReadUInt16LittleEndian(_data.Span[o..]);
    private uint U32(int o) => BinaryPrimitives.ReadUInt32LittleEndian(_data.Span[o..]);
    private ulong U64(int o) => BinaryPrimitives.ReadUInt64LittleEndian(_data.Span[o..]);

    public ReadOnlySpan<byte> FileBytes(Segment s) => _data.Span.Slice((int)s.Offset, (int)s.FileSize);

    /// <summary>All notes of all PT_NOTE segments.</summary>
    public IEnumerable<Note> Notes()
    {
        foreach (var s in Segments)
        {
            if (s.Type != PtNote) continue;
            int o = (int)s.Offset, end = (int)(s.Offset + s.FileSize);
            while (o + 12 <= end)
            {
                uint namesz = U32(o), descsz = U32(o + 4), type = U32(o + 8);
                int nameAt = o + 12;
                long descAt = nameAt + (((long)namesz + 3) & ~3L);
                long next = descAt + (((long)descsz + 3) & ~3L);
                if (next > end || namesz > 256) break;
                string name = Encoding.ASCII.GetString(_data.Span.Slice(nameAt, (int)namesz)).TrimEnd('\0');
                yield return new Note(name, type, _data.Span.Slice((int)descAt, (int)descsz).ToArray());
                o = (int)next;
            }
        }
    }
}
