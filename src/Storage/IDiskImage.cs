namespace SharpBox.Storage;

/// <summary>Image file formats of the VD layer.</summary>
public enum DiskFormat { Vdi, Vmdk, Vhd, Raw }

/// <summary>How an image stores its blocks (VirtualBox's MediumVariant, reduced to what the formats share).</summary>
public enum DiskVariant
{
    /// <summary>Dynamically allocated (VirtualBox "Standard"): blocks are allocated on first write.</summary>
    Standard,
    /// <summary>All blocks allocated when the image is created.</summary>
    Fixed,
    /// <summary>A differencing image on top of a parent; unallocated blocks read through to the parent.</summary>
    Diff,
}

/// <summary>
/// One open disk image: a linear array of bytes of <see cref="Size"/> length, whatever the file format.
/// Reads of never-written areas return zeros (or the parent's data for differencing images).
/// Implementations are not thread-safe; callers serialise access.
/// </summary>
public interface IDiskImage : IDisposable
{
    string Path { get; }
    DiskFormat Format { get; }
    DiskVariant Variant { get; }
    /// <summary>Logical size in bytes (what the guest sees).</summary>
    long Size { get; }
    /// <summary>Bytes the image occupies in the host file system.</summary>
    long AllocatedSize { get; }
    bool IsReadOnly { get; }
    /// <summary>The image's own UUID (VDI/VMDK/VHD header); Guid.Empty for raw images.</summary>
    Guid Uuid { get; }
    /// <summary>The parent's UUID for differencing images, else Guid.Empty.</summary>
    Guid ParentUuid { get; }
    /// <summary>The parent image a differencing image reads through to (null when none is attached).</summary>
    IDiskImage? Parent { get; }

    void Read(long offset, Span<byte> buffer);
    void Write(long offset, ReadOnlySpan<byte> buffer);
    void Flush();
}

/// <summary>Receives progress of a long operation as a percentage 0..100 (VBoxManage prints 0%...10%...100%).</summary>
public interface IProgressSink
{
    void Report(int percent);
}

/// <summary>A disk image that cannot be opened or used: the message names the file and the problem.</summary>
public class DiskImageException : Exception
{
    public string FilePath { get; }
    public DiskImageException(string filePath, string problem, Exception? inner = null)
        : base($"{filePath}: {problem}", inner) => FilePath = filePath;

    /// <summary>The image is locked by another open (e.g. a running VM holds it for writing).</summary>
    public bool Locked { get; init; }
}

