using SharpBox.Main.Api;

namespace SharpBox.Main.Impl;

/// <summary>What the image file itself says about a medium.</summary>
public sealed record MediumImageInfo(string Format, Guid Uuid, Guid ParentUuid, long LogicalSize, long AllocatedSize, MediumVariant Variant);

/// <summary>
/// The seam between Main (registries, attachments) and the disk image library: everything Main
/// needs to do to image files. Implemented over SharpBox.Storage by <see cref="StorageMediumBackend"/>;
/// tests may substitute another implementation. Percentages go to <c>progress</c>.
/// Errors are <see cref="MediumBackendException"/> with a message naming the file and the problem.
/// </summary>
public interface IMediumBackend
{
    /// <summary>Formats that can be created, in VirtualBox's spelling ("VDI", "VMDK", "VHD", "RAW").</summary>
    IReadOnlyList<string> CreatableFormats { get; }

    /// <summary>Opens the image read-only and reports its header facts.</summary>
    MediumImageInfo Probe(string path, Func<Guid, string?> resolveParent);

    void CreateBase(string path, string format, long logicalSize, MediumVariant variant, Guid uuid, Action<int> progress);
    void CreateDiff(string path, string format, string parentPath, Func<Guid, string?> resolveParent, Guid uuid);
    void Clone(string sourcePath, Func<Guid, string?> resolveParent, string targetPath, string format, MediumVariant variant, Guid uuid, Action<int> progress);
    void ConvertFromRaw(string rawPath, string targetPath, string format, MediumVariant variant, Guid? uuid, Action<int> progress);
    void Compact(string path, Func<Guid, string?> resolveParent, Action<int> progress);
    void Resize(string path, Func<Guid, string?> resolveParent, long newLogicalSize);
    void Delete(string path);
    /// <summary>Writes a differencing image's blocks into its parent (snapshot deletion); the caller deletes the child.</summary>
    void MergeIntoParent(string childPath, Func<Guid, string?> resolveParent, Action<int> progress);
    /// <summary>Points a differencing image at another parent (its UUID and modification UUID).</summary>
    void SetParent(string path, string newParentPath);
}

/// <summary>An image file could not be used; the message names the file and the problem.</summary>
public sealed class MediumBackendException : Exception
{
    public MediumBackendException(string message, Exception? inner = null) : base(message, inner) { }

    /// <summary>The image exists but another process holds it locked (a running VM writing to it).</summary>
    public bool InUse { get; init; }
    /// <summary>For an image in use: its header facts, read without the lock (null if unreadable).</summary>
    public MediumImageInfo? InUseInfo { get; init; }
}
