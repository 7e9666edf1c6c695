using SharpBox.Main.Api;
using SharpBox.Storage;
using MainVariant = SharpBox.Main.Api.MediumVariant;

namespace SharpBox.Main.Impl;

/// <summary>The medium backend over SharpBox.Storage's DiskImage facade.</summary>
public sealed class StorageMediumBackend : IMediumBackend
{
    private static readonly string[] Formats = { "VDI", "VMDK", "VHD", "RAW" };

    public IReadOnlyList<string> CreatableFormats => Formats;

    private sealed class Sink : IProgressSink
    {
        private readonly Action<int> _report;
        public Sink(Action<int> report) => _report = report;
        public void Report(int percent) => _report(percent);
    }

    private static DiskFormat ParseFormat(string path, string format)
        => DiskImage.ParseFormat(format) ?? throw new MediumBackendException($"{path}: unknown medium format '{format}'");

    /// <summary>Main's and Storage's variant bits are VirtualBox's MediumVariant values; NoCreateDir and Diff are Main's business.</summary>
    private static SharpBox.Storage.MediumVariant ToDisk(MainVariant v)
        => (SharpBox.Storage.MediumVariant)(uint)(v & ~(MainVariant.NoCreateDir | MainVariant.Diff));

    private static T Wrap<T>(Func<T> f)
    {
        try { return f(); }
        catch (DiskImageException e) { throw new MediumBackendException(e.Message, e) { InUse = e.Locked }; }
        catch (IOException e) { throw new MediumBackendException(e.Message, e); }
        catch (UnauthorizedAccessException e) { throw new MediumBackendException(e.Message, e); }
    }

    private static void Wrap(Action a) => Wrap(() => { a(); return 0; });

    public MediumImageInfo Probe(string path, Func<Guid, string?> resolveParent)
    {
        try
        {
            return Wrap(() =>
            {
                using IDiskImage image = DiskImage.Open(path, readOnly: true);
                return ToInfo(image);
            });
        }
        catch (MediumBackendException e) when (e.InUse)
        {
            // A running VM holds it: the facts come from a read without the lock.
            MediumImageInfo? info = null;
            try
            {
                using IDiskImage image = DiskImage.OpenUnlocked(path);
                info = ToInfo(image);
            }
            catch (DiskImageException) { }
            throw new MediumBackendException(e.Message, e.InnerException) { InUse = true, InUseInfo = info };
        }
    }

    private static MediumImageInfo ToInfo(IDiskImage image)
    {
        DiskImageInfo info = DiskImage.GetInfo(image);
        return new MediumImageInfo(info.FormatName, info.Uuid, info.ParentUuid, info.LogicalSize, info.AllocatedSize, (MainVariant)(int)info.MediumVariant);
    }

    public void CreateBase(string path, string format, long logicalSize, MainVariant variant, Guid uuid, Action<int> progress) => Wrap(() =>
    {
        using IDiskImage image = DiskImage.Create(path, ParseFormat(path, format), logicalSize, ToDisk(variant), uuid);
        image.Flush();
        progress(99);
    });

    public void CreateDiff(string path, string format, string parentPath, Func<Guid, string?> resolveParent, Guid uuid) => Wrap(() =>
    {
        if (ParseFormat(path, format) != DiskFormat.Vdi)
            throw new MediumBackendException($"{path}: differencing images can only be created in VDI format");
        using IDiskImage parent = DiskImage.Open(parentPath, readOnly: true, resolveParent);
        using IDiskImage child = DiskImage.CreateDifferencing(path, parent, uuid);
        child.Flush();
    });

    public void Clone(string sourcePath, Func<Guid, string?> resolveParent, string targetPath, string format, MainVariant variant, Guid uuid, Action<int> progress) => Wrap(() =>
    {
        using IDiskImage source = DiskImage.Open(sourcePath, readOnly: true, resolveParent);
        DiskImage.Clone(source, targetPath, ParseFormat(targetPath, format), ToDisk(variant), new Sink(progress), uuid);
    });

    public void ConvertFromRaw(string rawPath, string targetPath, string format, MainVariant variant, Guid? uuid, Action<int> progress) => Wrap(() =>
        DiskImage.ConvertFromRaw(rawPath, targetPath, ParseFormat(targetPath, format), ToDisk(variant), new Sink(progress), uuid));

    public void Compact(string path, Func<Guid, string?> resolveParent, Action<int> progress) => Wrap(() =>
    {
        using IDiskImage image = DiskImage.Open(path, readOnly: false, resolveParent);
        DiskImage.Compact(image, new Sink(progress));
    });

    public void Resize(string path, Func<Guid, string?> resolveParent, long newLogicalSize) => Wrap(() =>
    {
        using IDiskImage image = DiskImage.Open(path, readOnly: false, resolveParent);
        DiskImage.Resize(image, newLogicalSize);
        image.Flush();
    });

    public void Delete(string path) => Wrap(() => DiskImage.Delete(path));

    public void MergeIntoParent(string childPath, Func<Guid, string?> resolveParent, Action<int> progress) => Wrap(() =>
    {
        using IDiskImage child = DiskImage.Open(childPath, readOnly: true, resolveParent);
        DiskImage.MergeIntoParent(child, new Sink(progress));
    });

    public void SetParent(string path, string newParentPath) => Wrap(() =>
    {
        Guid parentUuid, parentModification;
        using (IDiskImage parent = DiskImage.Open(newParentPath, readOnly: true))
        {
            DiskImageInfo info = DiskImage.GetInfo(parent);
            parentUuid = info.Uuid;
            parentModification = info.ModificationUuid;
        }
        // Opened without its chain: only the header changes.
        using IDiskImage image = DiskImage.Open(path, readOnly: false);
        DiskImage.SetParentUuid(image, parentUuid);
        if (image.Format == DiskFormat.Vdi)
            DiskImage.SetParentModificationUuid(image, parentModification);
        image.Flush();
    });
}
