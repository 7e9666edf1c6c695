using System.Text;

namespace SharpBox.Devices.Pc.Acpi;

/// <summary>
/// A small AML (ACPI Machine Language) emitter for the few objects the platform's DSDT needs: scopes,
/// devices, names, packages, buffers, integers, strings, EISA IDs, methods with Notify. Each helper
/// returns the encoded bytes of one term, so a table is built by nesting calls (ACPI spec, section 20).
/// </summary>
public static class Aml
{
    private const byte ZeroOp = 0x00, OneOp = 0x01, OnesOp = 0xFF, NameOp = 0x08, BytePrefix = 0x0A, WordPrefix = 0x0B,
        DWordPrefix = 0x0C, StringPrefix = 0x0D, QWordPrefix = 0x0E, ScopeOp = 0x10, BufferOp = 0x11, PackageOp = 0x12,
        MethodOp = 0x14, DualNamePrefix = 0x2E, MultiNamePrefix = 0x2F, ExtOpPrefix = 0x5B, DeviceOp = 0x82,
        RootChar = 0x5C, ParentPrefix = 0x5E, NotifyOp = 0x86;

    /// <summary>PkgLength: the length of what follows including the PkgLength bytes themselves (1-4 bytes).</summary>
    public static byte[] PkgLength(int contentLength)
    {
        for (int n = 1; n <= 4; n++)
        {
            int total = contentLength + n;
            int limit = n switch { 1 => 0x40, 2 => 0x1000, 3 => 0x10_0000, _ => 0x1000_0000 };
            if (total >= limit) continue;
            if (n == 1) return [(byte)total];
            var b = new byte[n];
            b[0] = (byte)(((n - 1) << 6) | (total & 0x0F));
            for (int i = 1; i < n; i++) b[i] = (byte)(total >> (4 + 8 * (i - 1)));
            return b;
        }
        throw new ArgumentOutOfRangeException(nameof(contentLength), "AML package too large");
    }

    private static byte[] Concat(params byte[][] parts)
    {
        int len = 0;
        foreach (var p in parts) len += p.Length;
        var r = new byte[len];
        int o = 0;
        foreach (var p in parts) { p.CopyTo(r, o); o += p.Length; }
        return r;
    }

    private static byte[] WithPkg(byte[] op, params byte[][] body)
    {
        var content = Concat(body);
        return Concat(op, PkgLength(content.Length), content);
    }

    /// <summary>One 4-character name segment ("PCI0"; shorter names are padded with '_').</summary>
    private static byte[] NameSeg(string seg)
    {
        if (seg.Length is 0 or > 4) throw new ArgumentException($"AML: bad name segment '{seg}'");
        foreach (char c in seg)
            if (!(c is >= 'A' and <= 'Z' or >= '0' and <= '9' or '_')) throw new ArgumentException($"AML: bad name segment '{seg}'");
        if (seg[0] is >= '0' and <= '9') throw new ArgumentException($"AML: name segment '{seg}' starts with a digit");
        return Encoding.ASCII.GetBytes(seg.PadRight(4, '_'));
    }

    /// <summary>A name path such as "\_SB.PCI0", "^PWRB" or "_HID".</summary>
    public static byte[] NameString(string path)
    {
        var prefix = new List<byte>();
        int i = 0;
        if (path.StartsWith('\\')) { prefix.Add(RootChar); i = 1; }
        while (i < path.Length && path[i] == '^') { prefix.Add(ParentPrefix); i++; }
        var segs = path[i..].Length == 0 ? Array.Empty<string>() : path[i..].Split('.');
        byte[] body = segs.Length switch
        {
            0 => [ZeroOp],   // NullName
            1 => NameSeg(segs[0]),
            2 => Concat([DualNamePrefix], NameSeg(segs[0]), NameSeg(segs[1])),
            _ => Concat([MultiNamePrefix, (byte)segs.Length], Concat(segs.Select(NameSeg).ToArray())),
        };
        return Concat(prefix.ToArray(), body);
    }

    public static byte[] Integer(ulong v) => v switch
    {
        0 => [ZeroOp],
        1 => [OneOp],
        <= 0xFF => [BytePrefix, (byte)v],
        <= 0xFFFF => [WordPrefix, (byte)v, (byte)(v >> 8)],
        <= 0xFFFF_FFFF => Concat([DWordPrefix], BitConverter.GetBytes((uint)v)),
        _ => Concat([QWordPrefix], BitConverter.GetBytes(v)),
    };

    public static byte[] Ones => [OnesOp];

    public static byte[] String(string s) => Concat([StringPrefix], Encoding.ASCII.GetBytes(s), [0]);

    /// <summary>EISAID("PNP0A03"): the compressed 32-bit form of a 7-character PNP ID.</summary>
    public static byte[] EisaId(string id)
    {
        if (id.Length != 7) throw new ArgumentException($"AML: EISA ID '{id}' must have 7 characters");
        uint v = (uint)((id[0] - 0x40) << 26 | (id[1] - 0x40) << 21 | (id[2] - 0x40) << 16
                        | Convert.ToInt32(id[3..], 16));
        // The encoded value is stored big-endian in the 32-bit integer.
        v = (v >> 24) | ((v >> 8) & 0xFF00) | ((v << 8) & 0xFF0000) | (v << 24);
        return Concat([DWordPrefix], BitConverter.GetBytes(v));
    }

    public static byte[] Name(string name, byte[] value) => Concat([NameOp], NameString(name), value);

    public static byte[] Scope(string name, params byte[][] terms) => WithPkg([ScopeOp], Concat([NameString(name)], terms));

    public static byte[] Device(string name, params byte[][] terms) => WithPkg([ExtOpPrefix, DeviceOp], Concat([NameString(name)], terms));

    /// <summary>Method(name, argCount, NotSerialized) { terms }.</summary>
    public static byte[] Method(string name, int argCount, params byte[][] terms)
    {
        if (argCount is < 0 or > 7) throw new ArgumentOutOfRangeException(nameof(argCount));
        return WithPkg([MethodOp], Concat([NameString(name), [(byte)argCount]], terms));
    }

    public static byte[] Notify(string target, ulong value) => Concat([NotifyOp], NameString(target), Integer(value));

    public static byte[] Package(params byte[][] elements)
    {
        if (elements.Length > 255) throw new ArgumentException("AML: package with more than 255 elements");
        return WithPkg([PackageOp], Concat([[(byte)elements.Length]], elements));
    }

    public static byte[] Buffer(byte[] data) => WithPkg([BufferOp], Integer((ulong)data.Length), data);

    private static byte[] Concat(byte[][] first, byte[][] rest) => Concat(first.Concat(rest).ToArray());

    // ---- resource descriptors for _CRS (ACPI 6.4.3) ----

    /// <summary>I/O port descriptor (decodes 16-bit addresses).</summary>
    public static byte[] IoPort(ushort min, ushort max, byte align, byte length)
        => [0x47, 0x01, (byte)min, (byte)(min >> 8), (byte)max, (byte)(max >> 8), align, length];

    /// <summary>Word address space descriptor (type 1 = I/O, 2 = bus number).</summary>
    public static byte[] WordSpace(byte type, ushort min, ushort max)
    {
        ushort len = (ushort)(max - min + 1);
        return [0x88, 0x0D, 0x00, type, 0x0C, type == 1 ? (byte)0x03 : (byte)0x00,
                0, 0, (byte)min, (byte)(min >> 8), (byte)max, (byte)(max >> 8), 0, 0, (byte)len, (byte)(len >> 8)];
    }

    /// <summary>DWord memory range descriptor (read/write, cacheable as given).</summary>
    public static byte[] DWordMemory(uint min, uint max, bool cacheable)
    {
        uint len = max - min + 1;
        var b = new byte[3 + 23];
        b[0] = 0x87; b[1] = 23; b[2] = 0;
        b[3] = 0;                       // memory range
        b[4] = 0x0C;                    // min/max fixed, positive decode
        b[5] = (byte)(0x01 | (cacheable ? 0x02 : 0));   // read/write
        BitConverter.GetBytes(0u).CopyTo(b, 6);
        BitConverter.GetBytes(min).CopyTo(b, 10);
        BitConverter.GetBytes(max).CopyTo(b, 14);
        BitConverter.GetBytes(0u).CopyTo(b, 18);
        BitConverter.GetBytes(len).CopyTo(b, 22);
        return b;
    }

    /// <summary>A ResourceTemplate buffer: the descriptors plus the end tag (checksum 0 = not checked).</summary>
    public static byte[] ResourceTemplate(params byte[][] descriptors) => Buffer(Concat(Concat(descriptors), [0x79, 0x00]));
}
