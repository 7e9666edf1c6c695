using SharpBox.Vmm.Em;

namespace SharpBox.Devices.Boot;

public enum KernelFormat { Unknown, BzImage, ElfPvh, Multiboot }

/// <summary>Picks the boot protocol from the image's contents (not its name) and runs that loader.</summary>
public static class KernelLoader
{
    public static KernelFormat Detect(ReadOnlyMemory<byte> kernel, string name)
    {
        if (LinuxLoader.IsBzImage(kernel.Span)) return KernelFormat.BzImage;
        if (ElfImage.IsElf(kernel.Span) && PvhLoader.FindEntry(new ElfImage(kernel, name)) is not null) return KernelFormat.ElfPvh;
        if (MultibootLoader.FindHeader(kernel.Span) >= 0) return KernelFormat.Multiboot;
        return KernelFormat.Unknown;
    }

    public static BootCpuState Load(BootEnvironment env, BootImage img, out KernelFormat format)
    {
        format = Detect(img.Kernel, img.KernelName);
        return format switch
        {
            KernelFormat.BzImage => LinuxLoader.Load(env, img),
            KernelFormat.ElfPvh => PvhLoader.Load(env, img, new ElfImage(img.Kernel, img.KernelName)),
            KernelFormat.Multiboot => MultibootLoader.Load(env, img),
            _ => throw new BootImageException($"{img.KernelName}: not a bzImage, a PVH ELF kernel or a Multiboot kernel"),
        };
    }
}
