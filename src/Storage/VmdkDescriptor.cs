using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace SharpBox.Storage;

/// <summary>One extent line of a VMDK descriptor: `RW 2048 SPARSE "disk.vmdk"` or `RW 2048 FLAT "disk-flat.vmdk" 0`.</summary>
internal sealed record VmdkExtentLine(string Access, long Sectors, string Type, string? FileName, long OffsetSectors, int LineIndex);

/// <summary>
/// The text descriptor of a VMDK image (VMware's "Virtual Disk Format 1.1"): key=value lines, the
/// extent lines and the disk database (ddb.*). Lines are kept as read so that a rewrite (UUID or
/// size changes) preserves everything we do not interpret.
/// </summary>
internal sealed partial class VmdkDescriptor
{
    private readonly List<string> _lines;

    private VmdkDescriptor(List<string> lines, List<VmdkExtentLine> extents)
    {
        _lines = lines;
        Extents = extents;
    }

    public List<VmdkExtentLine> Extents { get; private set; }

    public string CreateType => Get("createType") ?? "";

    [GeneratedRegex("^(RW|RDONLY|NOACCESS)\\s+(\\d+)\\s+([A-Za-z]+)(?:\\s+\"([^\"]*)\"(?:\\s+(\\d+))?)?\\s*$")]
    private static partial Regex ExtentRegex();

    public static VmdkDescriptor Parse(string text, string path)
    {
        var lines = text.Replace("\r\n", "\n").Split('\n').ToList();
        while (lines.Count > 0 && lines[^1].Trim().Length == 0)
            lines.RemoveAt(lines.Count - 1);
        var extents = new List<VmdkExtentLine>();
        bool sawHeader = false;
        for (int i = 0; i < lines.Count; i++)
        {
            string line = lines[i].Trim();
            if (line.Length == 0)
                continue;
            if (line.StartsWith('#'))
            {
                if (line.StartsWith("# Disk DescriptorFile", StringComparison.OrdinalIgnoreCase))
                    sawHeader = true;
                continue;
            }
            var m = ExtentRegex().Match(line);
            if (m.Success)
            {
                long sectors = long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
                long offset = m.Groups[5].Success ? long.Parse(m.Groups[5].Value, CultureInfo.InvariantCulture) : 0;
                string type = m.Groups[3].Value.ToUpperInvariant();
                string? name = m.Groups[4].Success ? m.Groups[4].Value : null;
                if (type != "ZERO" && string.IsNullOrEmpty(name))
                    throw new DiskImageException(path, $"VMDK descriptor line {i + 1}: extent without a file name");
                extents.Add(new VmdkExtentLine(m.Groups[1].Value, sectors, type, name, offset, i));
                continue;
            }
            if (!line.Contains('='))
                throw new DiskImageException(path, $"VMDK descriptor line {i + 1}: cannot parse \"{Truncate(line)}\"");
        }
        if (!sawHeader)
            throw new DiskImageException(path, "not a VMDK descriptor (no \"# Disk DescriptorFile\" line)");
        if (extents.Count == 0)
            throw new DiskImageException(path, "VMDK descriptor lists no extents");
        return new VmdkDescriptor(lines, extents);
    }

    private static string Truncate(string s) => s.Length <= 60 ? s : s[..60] + "...";

    /// <summary>Value of a key (case-insensitive), quotes removed; null when absent.</summary>
    public string? Get(string key)
    {
        int i = Find(key);
        if (i < 0)
            return null;
        string line = _lines[i];
        string value = line[(line.IndexOf('=') + 1)..].Trim();
        if (value.Length >= 2 && value[0] == '"' && value[^1] == '"')
            value = value[1..^1];
        return value;
    }

    /// <summary>Sets a key, keeping its line's position; new ddb.* keys go at the end, others before the extents.</summary>
    public void Set(string key, string value, bool quoted = true)
    {
        string text = quoted ? $"{key}=\"{value}\"" : $"{key}={value}";
        int i = Find(key);
        if (i >= 0)
        {
            _lines[i] = text;
            return;
        }
        if (key.StartsWith("ddb.", StringComparison.OrdinalIgnoreCase))
        {
            _lines.Add(text);
        }
        else
        {
            int at = Extents.Count > 0 ? Extents.Min(e => e.LineIndex) : _lines.Count;
            _lines.Insert(at, text);
            Extents = Extents.Select(e => e.LineIndex >= at ? e with { LineIndex = e.LineIndex + 1 } : e).ToList();
        }
    }

    public void SetExtentSectors(int extent, long sectors)
    {
        var e = Extents[extent];
        var updated = e with { Sectors = sectors };
        Extents[extent] = updated;
        _lines[e.LineIndex] = FormatExtent(updated);
    }

    private int Find(string key)
    {
        for (int i = 0; i < _lines.Count; i++)
        {
            string line = _lines[i].TrimStart();
            if (line.StartsWith('#'))
                continue;
            int eq = line.IndexOf('=');
            if (eq > 0 && line[..eq].Trim().Equals(key, StringComparison.OrdinalIgnoreCase))
                return i;
        }
        return -1;
    }

    public string ToText()
    {
        var sb = new StringBuilder();
        foreach (var l in _lines)
            sb.Append(l).Append('\n');
        return sb.ToString();
    }

    public static string FormatExtent(VmdkExtentLine e) => e.Type switch
    {
        "ZERO" => $"{e.Access} {e.Sectors} ZERO",
        "FLAT" or "VMFS" => $"{e.Access} {e.Sectors} {e.Type} \"{e.FileName}\" {e.OffsetSectors}",
        _ => $"{e.Access} {e.Sectors} {e.Type} \"{e.FileName}\"",
    };

    /// <summary>A new descriptor as VirtualBox writes it.</summary>
    public static VmdkDescriptor Create(string createType, IReadOnlyList<VmdkExtentLine> extents, long capacitySectors, Guid uuid, Guid modification)
    {
        var (c, h, s) = Geometry(capacitySectors);
        var text = new StringBuilder()
            .Append("# Disk DescriptorFile\n")
            .Append("version=1\n")
            .Append(CultureInfo.InvariantCulture, $"CID={NewCid()}\n")
            .Append("parentCID=ffffffff\n")
            .Append(CultureInfo.InvariantCulture, $"createType=\"{createType}\"\n")
            .Append('\n')
            .Append("# Extent description\n");
        foreach (var e in extents)
            text.Append(FormatExtent(e)).Append('\n');
        text.Append('\n')
            .Append("# The disk Data Base\n")
            .Append("#DDB\n")
            .Append('\n')
            .Append("ddb.virtualHWVersion=\"4\"\n")
            .Append("ddb.adapterType=\"ide\"\n")
            .Append(CultureInfo.InvariantCulture, $"ddb.geometry.cylinders=\"{c}\"\n")
            .Append(CultureInfo.InvariantCulture, $"ddb.geometry.heads=\"{h}\"\n")
            .Append(CultureInfo.InvariantCulture, $"ddb.geometry.sectors=\"{s}\"\n")
            .Append(CultureInfo.InvariantCulture, $"ddb.uuid.image=\"{uuid}\"\n")
            .Append(CultureInfo.InvariantCulture, $"ddb.uuid.parent=\"{Guid.Empty}\"\n")
            .Append(CultureInfo.InvariantCulture, $"ddb.uuid.modification=\"{modification}\"\n")
            .Append(CultureInfo.InvariantCulture, $"ddb.uuid.parentmodification=\"{Guid.Empty}\"\n");
        return Parse(text.ToString(), "(new descriptor)");
    }

    /// <summary>The IDE-style physical geometry VMDK descriptors record (16 heads, 63 sectors, at most 16383 cylinders).</summary>
    public static (long C, int H, int S) Geometry(long sectors) => (Math.Clamp(sectors / (16 * 63), 1, 16383), 16, 63);

    public static string NewCid() => Random.Shared.Next(1, int.MaxValue).ToString("x8", CultureInfo.InvariantCulture);
}
