using SharpBox.Storage;
using SharpBox.Vmm.Cfgm;

namespace SharpBox.Devices.Storage;

/// <summary>One image of a differencing chain as the media registry knows it.</summary>
public sealed record DiskImageRef(Guid Uuid, string Path, string? Format);

/// <summary>
/// The host side of a disk (VirtualBox's VD driver below the "Block" driver): opens the image a LUN's
/// CFGM node names through Storage and hands the controller an <see cref="IBlockDriver"/>.
/// CFGM (LUN#n/Config): Path, Format (VDI, VMDK, VHD, RAW; else detected), ReadOnly, and for a
/// differencing image a chain of Parent nodes (Uuid, Path, Format) from the media registry, through
/// which the image's parents are found by UUID. A writable image is locked exclusively while open.
/// </summary>
public static class DrvDisk
{
    public static readonly string[] ConfigValues = ["Type", "Path", "Format", "ReadOnly", "NonRotational", "Uuid", "SerialNumber", "ModelNumber", "FirmwareRevision"];

    /// <summary>Writes an image and its parents into a LUN's Config node.</summary>
    public static void Describe(CfgmNode config, string path, string? format, bool readOnly, IReadOnlyList<DiskImageRef> parents)
    {
        config.SetString("Path", path);
        if (format is not null) config.SetString("Format", format);
        config.SetBool("ReadOnly", readOnly);
        var node = config;
        foreach (var p in parents)
        {
            node = node.InsertNode("Parent");
            node.SetString("Uuid", p.Uuid.ToString());
            node.SetString("Path", p.Path);
            if (p.Format is not null) node.SetString("Format", p.Format);
        }
    }

    /// <summary>Opens the image a LUN describes; errors name the image and the problem.</summary>
    public static DiskBlockDriver Open(CfgmNode config)
    {
        string path = config.GetString("Path");
        DiskFormat? format = ParseFormat(config, path);
        bool readOnly = config.GetBool("ReadOnly", false);
        var parents = new Dictionary<Guid, string>();
        for (var p = config.GetChild("Parent"); p is not null; p = p.GetChild("Parent"))
        {
            p.Validate(["Uuid", "Path", "Format"], ["Parent"]);
            if (!Guid.TryParse(p.GetString("Uuid"), out Guid id))
                throw new CfgmException($"CFGM: {p.Path}/Uuid '{p.GetString("Uuid")}' is not a UUID");
            parents[id] = p.GetString("Path");
        }
        string? Resolve(Guid id) => parents.GetValueOrDefault(id);
        IDiskImage image = format is DiskFormat f
            ? DiskImage.OpenAs(path, f, readOnly, Resolve)
            : DiskImage.Open(path, readOnly, Resolve);
        return new DiskBlockDriver(image);
    }

    private static DiskFormat? ParseFormat(CfgmNode config, string path)
    {
        if (!config.Has("Format")) return null;
        string f = config.GetString("Format");
        return f.ToUpperInvariant() switch
        {
            "VDI" => DiskFormat.Vdi,
            "VMDK" => DiskFormat.Vmdk,
            "VHD" => DiskFormat.Vhd,
            "RAW" => DiskFormat.Raw,
            _ => throw new DiskImageException(path, $"the image format '{f}' is not supported (VDI, VMDK, VHD, RAW)"),
        };
    }

    /// <summary>A one-line description of an open image for the log: file, format, size, chain.</summary>
    public static string Summary(DiskBlockDriver d)
    {
        var img = d.Image;
        var s = $"{img.Path} ({img.Format.ToString().ToUpperInvariant()}, {img.Variant.ToString().ToLowerInvariant()}, {img.Size / (1024 * 1024)} MiB{(img.IsReadOnly ? ", read-only" : "")}";
        for (var p = img.Parent; p is not null; p = p.Parent)
            s += $", over {System.IO.Path.GetFileName(p.Path)}";
        return s + ")";
    }
}
