namespace SharpBox.Storage;

/// <summary>VirtualBox's MediumVariant bits, as the API and `VBoxManage showmediuminfo` use them.</summary>
[Flags]
public enum MediumVariant : uint
{
    Standard = 0,
    VmdkSplit2G = 0x01,
    VmdkRawDisk = 0x02,
    VmdkStreamOptimized = 0x04,
    VmdkESX = 0x08,
    VdiZeroExpand = 0x100,
    Fixed = 0x10000,
    Diff = 0x20000,
}

/// <summary>
/// What `showmediuminfo` and the media registry need to know about an open image, read from its
/// header (see <see cref="DiskImage.GetInfo"/>).
/// </summary>
public sealed record DiskImageInfo
{
    public required DiskFormat Format { get; init; }
    /// <summary>The storage format as VirtualBox names it: "VDI", "VMDK", "VHD", "RAW".</summary>
    public required string FormatName { get; init; }
    public required DiskVariant Variant { get; init; }
    public required MediumVariant MediumVariant { get; init; }
    /// <summary>VBoxManage's "Format variant:" text, e.g. "dynamic default", "fixed default", "differencing default".</summary>
    public required string VariantText { get; init; }
    public required long LogicalSize { get; init; }
    public required long AllocatedSize { get; init; }
    public required Guid Uuid { get; init; }
    public required Guid ParentUuid { get; init; }
    public required Guid ModificationUuid { get; init; }
    public required Guid ParentModificationUuid { get; init; }
    /// <summary>Allocation unit (VDI block, VMDK grain, VHD block); 0 for raw and flat files.</summary>
    public required int BlockSize { get; init; }
    /// <summary>Every file of the image, the one to register first (VMDK descriptor, then extents).</summary>
    public required IReadOnlyList<string> Files { get; init; }
}
