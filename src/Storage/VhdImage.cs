namespace SharpBox.Storage;

internal sealed class VhdImage : DiskImageBase
{
    private VhdImage(string path) : base(path, true) { }
    public override DiskFormat Format => DiskFormat.Vhd;
    public override DiskVariant Variant => DiskVariant.Standard;
    public override long AllocatedSize => 0;
    internal static VhdImage Open(string path, bool readOnly) => throw new DiskImageException(path, "VHD support is not built yet");
    internal static void CreateFile(string path, long size, bool fixedSize, Guid uuid) => throw new DiskImageException(path, "VHD support is not built yet");
    internal void Grow(long newSize) => throw new DiskImageException(Path, "VHD support is not built yet");
    protected override void ReadCore(long offset, Span<byte> buffer) => throw new DiskImageException(Path, "VHD support is not built yet");
    protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer) => throw new DiskImageException(Path, "VHD support is not built yet");
    protected override void FlushCore() { }
    protected override void CloseCore() { }
}
