using System.Buffers;
using System.IO.MemoryMappedFiles;

namespace SharpBox.Devices.Boot;

/// <summary>
/// A read-only file mapped into memory and exposed as <see cref="Memory{T}"/>: boot loaders parse and
/// copy kernel and initrd images straight from the page cache, without a managed copy of tens of MiB.
/// </summary>
public sealed unsafe class MappedFile : MemoryManager<byte>
{
    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private byte* _ptr;
    private readonly int _length;

    public MappedFile(string path, string what)
    {
        long len;
        try { len = new FileInfo(path).Length; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new IOException($"cannot read the {what} '{path}': {e.Message}"); }
        if (len == 0) throw new BootImageException($"{path}: the {what} is empty");
        if (len > int.MaxValue) throw new BootImageException($"{path}: the {what} is larger than 2 GiB");
        try
        {
            _file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            _view = _file.CreateViewAccessor(0, len, MemoryMappedFileAccess.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot read the {what} '{path}': {e.Message}");
        }
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref _ptr);
        _ptr += _view.PointerOffset;
        _length = (int)len;
    }

    public override Span<byte> GetSpan() => new(_ptr, _length);
    public override MemoryHandle Pin(int elementIndex = 0) => new(_ptr + elementIndex);
    public override void Unpin() { }

    protected override void Dispose(bool disposing)
    {
        if (_ptr == null) return;
        _ptr = null;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
    }
}
