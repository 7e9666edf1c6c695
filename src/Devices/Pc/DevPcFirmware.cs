using SharpBox.Devices.Boot;
using SharpBox.Devices.Pc.Acpi;
using SharpBox.Vmm.Em;
using SharpBox.Vmm.Pdm;

namespace SharpBox.Devices.Pc;

/// <summary>
/// What firmware leaves behind for a directly booted kernel, done at power-on and after every reset:
/// the e820 map (also as fw_cfg's etc/e820), the ACPI tables at 0xE0000 (the RSDP where OSes scan for
/// it), and the kernel loaded through the boot protocol its image calls for (Linux bzImage 64-bit entry,
/// PVH ELF, Multiboot), giving CPU 0's initial state. Kernel and initrd are read from disk at each boot,
/// so the process does not keep them in memory. CFGM: Kernel, Initrd, CmdLine, RamBelow4G, RamAbove4G, Acpi.
/// </summary>
public sealed class DevPcFirmware : PdmDevice, IBootStateProvider
{
    public const ulong AcpiBase = 0xE0000;
    private readonly string _kernel;
    private readonly string? _initrd;
    private readonly string _cmdline;
    private readonly ulong _lowRamEnd, _highRam;
    private readonly bool _acpi;

    public KernelFormat Format { get; private set; }
    public ulong RsdpAddress { get; private set; }

    public DevPcFirmware(PdmDeviceContext ctx) : base(ctx)
    {
        var cfg = ctx.Config;
        cfg.Validate(["Kernel", "Initrd", "CmdLine", "RamBelow4G", "RamAbove4G", "Acpi"]);
        if (!cfg.Has("Kernel"))
            throw new ArgumentException("no boot kernel is configured (VBoxManage modifyvm --boot-kernel); booting from disks through a BIOS is not available yet");
        _kernel = cfg.GetString("Kernel");
        _initrd = cfg.Has("Initrd") ? cfg.GetString("Initrd") : null;
        _cmdline = cfg.GetString("CmdLine", "");
        _lowRamEnd = cfg.GetInteger("RamBelow4G");
        _highRam = cfg.GetInteger("RamAbove4G", 0);
        _acpi = cfg.GetBool("Acpi", true);
        CheckReadable(_kernel, "kernel");
        if (_initrd is not null) CheckReadable(_initrd, "initrd");
        int size;
        using (var k = new MappedFile(_kernel, "kernel"))
        {
            Format = KernelLoader.Detect(k.Memory, _kernel);
            size = k.Memory.Length;
        }
        if (Format == KernelFormat.Unknown)
            throw new BootImageException($"{_kernel}: not a bzImage, a PVH ELF kernel or a Multiboot kernel");
        ctx.LogRel($"kernel {_kernel} ({Format}, {size / 1024} KiB), initrd {_initrd ?? "none"}, command line \"{_cmdline}\"");
    }

    private static void CheckReadable(string path, string what)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{what} '{path}' does not exist");
    }


    public BootCpuState PrepareBoot()
    {
        var e820 = E820Map.ForPc(_lowRamEnd, _highRam);
        ulong rsdp = 0;
        if (_acpi && Ctx.Find<DevAcpiPm>() is { } pm)
        {
            var platform = new AcpiPlatform(Ctx.CpuCount, pm.PmBase, pm.SciIrq, Ctx.Find<DevIoApic>()?.ApicId, DevIoApic.DefaultBase,
                DevApic.DefaultBase, Ctx.Find<DevHpet>() is null ? null : DevHpet.DefaultBase, DevHpet.CapabilitiesLow, _lowRamEnd, DevAcpiPm.S5Type);
            var (blob, at) = AcpiTables.Build(platform, AcpiBase);
            if (blob.Length > 0x20000) throw new InvalidOperationException("ACPI tables do not fit in 0xE0000-0xFFFFF");
            Ctx.PhysMap.WritePhys(AcpiBase, blob);
            rsdp = at;
        }
        RsdpAddress = rsdp;
        Ctx.Find<DevFwCfg>()?.AddFile("etc/e820", e820.ToBytes());
        var env = new BootEnvironment(Ctx.PhysMap, e820, rsdp, _lowRamEnd);
        // Mapped, not read: the images go from the page cache straight into guest RAM, and nothing of
        // them stays in the VM process afterwards.
        using var kernel = new MappedFile(_kernel, "kernel");
        using var initrd = _initrd is null ? null : new MappedFile(_initrd, "initrd");
        var img = new BootImage(kernel.Memory, _kernel, initrd?.Memory, _initrd, _cmdline);
        var state = KernelLoader.Load(env, img, out var format);
        Format = format;
        state.FirmwareMtrrHole = _lowRamEnd;
        Ctx.LogRel($"loaded {format} kernel; entry 0x{state.Rip:X} in {state.Mode} mode; ACPI RSDP at 0x{rsdp:X}");
        return state;
    }
}
