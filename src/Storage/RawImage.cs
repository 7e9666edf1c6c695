using Microsoft.Win32.SafeHandles;

namespace SharpBox.Storage;

/// <summary>A plain file holding the disk's bytes: size is the file length.</summary>
internal sealed class RawImage : DiskImageBase
{
    private readonly SafeFileHandle _file;

    private RawImage(string path, bool readOnly, SafeFileHandle file) : base(path, readOnly)
    {
        _file = file;
        Size = FileLength(file, path);
    }

    public override DiskFormat Format => DiskFormat.Raw;
    public override DiskVariant Variant => DiskVariant.Fixed;
    public override long AllocatedSize => FileLength(_file, Path);

    internal static RawImage Open(string path, bool readOnly)
    {
        var file = OpenFile(path, readOnly);
        try
        {
            return new RawImage(path, readOnly, file);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>A new raw file: sparse for Standard, preallocated for Fixed.</summary>
    internal static void CreateFile(string path, long size, bool fixedSize)
    {
        if (size <= 0)
            throw new DiskImageException(path, $"invalid disk size {size} (must be positive)");
        using var file = CreateFile(path, fixedSize ? size : 0);
        SetLength(file, path, size);
        Sync(file, path);
    }

    protected override void ReadCore(long offset, Span<byte> buffer) => ReadExact(_file, Path, buffer, offset);
    protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer) => WriteAt(_file, Path, buffer, offset);
    protected override void FlushCore() => Sync(_file, Path);
    protected override void CloseCore() => _file.Dispose();

    internal void Grow(long newSize)
    {
        if (IsReadOnly)
            throw new DiskImageException(Path, "the image is open read-only");
        if (newSize < Size)
            throw new DiskImageException(Path, $"cannot shrink a raw image (from {Size} to {newSize} bytes)");
        SetLength(_file, Path, newSize);
        Size = newSize;
        Sync(_file, Path);
    }
}
