namespace SharpBox.Storage;

internal sealed class VmdkImage : DiskImageBase
{
    private VmdkImage(string path) : base(path, true) { }
    public override DiskFormat Format => DiskFormat.Vmdk;
    public override DiskVariant Variant => DiskVariant.Standard;
    public override long AllocatedSize => 0;
    internal static VmdkImage Open(string path, bool readOnly) => throw new DiskImageException(path, "VMDK support is not built yet");
    internal static void CreateFiles(TempTarget target, string path, long size, bool fixedSize, Guid uuid) => throw new DiskImageException(path, "VMDK support is not built yet");
    internal void Grow(long newSize) => throw new DiskImageException(Path, "VMDK support is not built yet");
    protected override void ReadCore(long offset, Span<byte> buffer) => throw new DiskImageException(Path, "VMDK support is not built yet");
    protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer) => throw new DiskImageException(Path, "VMDK support is not built yet");
    protected override void FlushCore() { }
    protected override void CloseCore() { }
}
