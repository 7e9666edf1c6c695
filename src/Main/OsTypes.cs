using SharpBox.Main.Api;
using CT = SharpBox.Main.Api.StorageControllerType;
using GC = SharpBox.Main.Api.GraphicsControllerType;
using NT = SharpBox.Main.Api.NetworkAdapterType;

namespace SharpBox.Main;

/// <summary>
/// VirtualBox 7.0's guest OS types: ids, descriptions, families, 64-bit flag and the recommended
/// hardware that <c>createvm --default</c> applies.
/// </summary>
public static class OsTypes
{
    [Flags]
    private enum H
    {
        None = 0, X64 = 1, PAE = 2, HW = 4, IOAPIC = 8, EFI = 0x10, RTCUTC = 0x20, TAB = 0x40, X2APIC = 0x80,
        HPET = 0x100, USBHID = 0x200, FLOPPY = 0x400, NOUSB = 0x800, USB3 = 0x1000, TFRESET = 0x2000,
    }

    private const long GB = 1L << 30;
    private const long MB = 1L << 20;

    private static GuestOSType T(string fam, string famDesc, string id, string desc, H h, uint cpus, uint ram, uint vram, long hdd,
        GC gfx, NT nic, CT dvdCtl, CT hdCtl, ChipsetType chipset, AudioControllerType audio, AudioCodecType codec)
        => new(fam, famDesc, id, desc,
            Is64Bit: h.HasFlag(H.X64),
            RecommendedIOAPIC: h.HasFlag(H.IOAPIC),
            RecommendedVirtEx: h.HasFlag(H.HW),
            RecommendedPAE: h.HasFlag(H.PAE),
            RecommendedX2APIC: h.HasFlag(H.X2APIC),
            RecommendedRTCUseUTC: h.HasFlag(H.RTCUTC),
            RecommendedEFI: h.HasFlag(H.EFI),
            RecommendedHPET: h.HasFlag(H.HPET),
            RecommendedUSBTablet: h.HasFlag(H.TAB),
            RecommendedUSB3: h.HasFlag(H.USB3),
            RecommendedUSB: !h.HasFlag(H.NOUSB),
            RecommendedFloppy: h.HasFlag(H.FLOPPY),
            RecommendedCPUCount: cpus, RecommendedRAM: ram, RecommendedVRAM: vram, RecommendedHDD: hdd,
            RecommendedGraphicsController: gfx, AdapterType: nic,
            RecommendedDVDStorageController: dvdCtl, RecommendedDVDStorageBus: BusOf(dvdCtl),
            RecommendedHDStorageController: hdCtl, RecommendedHDStorageBus: BusOf(hdCtl),
            RecommendedChipset: chipset, RecommendedAudioController: audio, RecommendedAudioCodec: codec);

    private static StorageBus BusOf(CT t) => t switch
    {
        CT.IntelAhci => StorageBus.SATA,
        CT.BusLogic or CT.LsiLogic => StorageBus.SCSI,
        _ => StorageBus.IDE,
    };

    // Shorthands for the common cases.
    private static GuestOSType Other(string id, string desc, H h, uint ram, uint vram, long hdd, NT nic, AudioControllerType a, AudioCodecType c, CT dvd = CT.PIIX4, CT hd = CT.PIIX4)
        => T("Other", "Other", id, desc, h, 1, ram, vram, hdd, GC.VBoxVGA, nic, dvd, hd, ChipsetType.PIIX3, a, c);

    private static GuestOSType Win(string id, string desc, H h, uint cpus, uint ram, uint vram, long hdd, GC gfx, NT nic, CT ctl, AudioControllerType a, AudioCodecType c)
        => T("Windows", "Microsoft Windows", id, desc, h, cpus, ram, vram, hdd, gfx, nic, ctl, ctl, ChipsetType.PIIX3, a, c);

    private const H LinuxA32 = H.RTCUTC | H.TAB | H.X2APIC | H.PAE;
    private const H LinuxA64 = H.RTCUTC | H.TAB | H.X2APIC | H.X64 | H.HW | H.IOAPIC;
    private const H LinuxB32 = H.RTCUTC | H.PAE | H.X2APIC;
    private const H LinuxB64 = H.RTCUTC | H.PAE | H.X2APIC | H.X64 | H.HW | H.IOAPIC;
    private const H LinuxC32 = H.RTCUTC | H.X2APIC | H.PAE;
    private const H LinuxC64 = H.RTCUTC | H.X2APIC | H.X64 | H.HW | H.IOAPIC;
    private const H LinuxD32 = H.RTCUTC | H.PAE;
    private const H LinuxD64 = H.RTCUTC | H.X64 | H.HW | H.IOAPIC;

    private static GuestOSType Lx(string id, string desc, H h, uint ram, uint vram, long hddGb, NT nic = NT.I82540EM, CT hd = CT.IntelAhci)
        => T("Linux", "Linux", id, desc, h, 1, ram, vram, hddGb * GB, GC.VMSVGA, nic, CT.PIIX4, hd, ChipsetType.PIIX3, AudioControllerType.AC97, AudioCodecType.AD1980);

    /// <summary>Both variants of an "A" template Linux (USB tablet, VMSVGA, E1000, SATA disk).</summary>
    private static IEnumerable<GuestOSType> LxA(string id, string name, uint ram, uint vram, long hddGb, bool has32 = true)
    {
        if (has32)
            yield return Lx(id, $"{name} (32-bit)", LinuxA32, ram, vram, hddGb);
        yield return Lx(id + "_64", $"{name} (64-bit)", LinuxA64, ram, vram, hddGb);
    }

    private static IEnumerable<GuestOSType> LxB(string id, string name, uint ram, uint vram, long hddGb, bool has32 = true)
    {
        if (has32)
            yield return Lx(id, $"{name} (32-bit)", LinuxB32, ram, vram, hddGb);
        yield return Lx(id + "_64", $"{name} (64-bit)", LinuxB64, ram, vram, hddGb);
    }

    private static GuestOSType Sol(string id, string desc, H h, uint ram, GC gfx, CT ctl)
        => T("Solaris", "Solaris", id, desc, h, 1, ram, 16, 32 * GB, gfx, NT.I82540EM, ctl, ctl, ChipsetType.PIIX3, AudioControllerType.AC97, AudioCodecType.STAC9700);

    private static GuestOSType Bsd(string id, string desc, H h, long hdd)
        => T("BSD", "BSD", id, desc, h, 1, 1024, 16, hdd, GC.VMSVGA, NT.I82540EM, CT.PIIX4, CT.PIIX4, ChipsetType.PIIX3, AudioControllerType.AC97, AudioCodecType.STAC9700);

    private static GuestOSType Os2(string id, string desc, H h, uint ram, long hdd, NT nic, AudioControllerType a, AudioCodecType c)
        => T("OS2", "IBM OS/2", id, desc, h, 1, ram, 4, hdd, GC.VBoxVGA, nic, CT.PIIX4, CT.PIIX4, ChipsetType.PIIX3, a, c);

    private const H MacHints = H.HW | H.IOAPIC | H.EFI | H.PAE | H.USBHID | H.HPET | H.RTCUTC | H.TAB;

    private static GuestOSType Mac(string id, string desc, bool x64, long hddGb)
        => T("MacOS", "Mac OS X", id, desc, x64 ? MacHints | H.X64 : MacHints, 1, 2048, 16, hddGb * GB, GC.VBoxVGA, NT.I82545EM,
            CT.IntelAhci, CT.IntelAhci, ChipsetType.ICH9, AudioControllerType.HDA, AudioCodecType.STAC9221);

    private const AudioControllerType AC97 = AudioControllerType.AC97;
    private const AudioControllerType SB16 = AudioControllerType.SB16;
    private const AudioControllerType HDA = AudioControllerType.HDA;
    private const AudioCodecType STAC9700 = AudioCodecType.STAC9700;
    private const AudioCodecType STAC9221 = AudioCodecType.STAC9221;
    private const AudioCodecType SB16C = AudioCodecType.SB16;
    private const H WinNew64 = H.X64 | H.HW | H.IOAPIC | H.TAB | H.USB3;
    private const H WinNew32 = H.HW | H.IOAPIC | H.TAB | H.PAE | H.USB3;

    private static IEnumerable<GuestOSType> Build()
    {
        yield return Other("Other", "Other/Unknown", H.None, 64, 4, 2 * GB, NT.Am79C973, AC97, STAC9700);
        yield return Other("Other_64", "Other/Unknown (64-bit)", H.X64 | H.PAE | H.HW | H.IOAPIC, 64, 4, 2 * GB, NT.Am79C973, AC97, STAC9700);

        yield return Win("Windows31", "Windows 3.1", H.FLOPPY, 1, 32, 4, 1 * GB, GC.VBoxVGA, NT.Am79C973, CT.PIIX4, SB16, SB16C);
        yield return Win("Windows95", "Windows 95", H.FLOPPY, 1, 64, 4, 2 * GB, GC.VBoxVGA, NT.Am79C973, CT.PIIX4, SB16, SB16C);
        yield return Win("Windows98", "Windows 98", H.FLOPPY, 1, 64, 4, 2 * GB, GC.VBoxVGA, NT.Am79C973, CT.PIIX4, SB16, SB16C);
        yield return Win("WindowsMe", "Windows ME", H.FLOPPY | H.TAB, 1, 128, 4, 4 * GB, GC.VBoxVGA, NT.Am79C973, CT.PIIX4, AC97, STAC9700);
        yield return Win("WindowsNT3x", "Windows NT 3.x", H.NOUSB | H.FLOPPY, 1, 64, 8, 1 * GB, GC.VBoxVGA, NT.Am79C973, CT.BusLogic, SB16, SB16C);
        yield return Win("WindowsNT4", "Windows NT 4", H.NOUSB, 1, 128, 16, 2 * GB, GC.VBoxVGA, NT.Am79C973, CT.PIIX4, SB16, SB16C);
        yield return Win("Windows2000", "Windows 2000", H.TAB, 1, 168, 16, 4 * GB, GC.VBoxVGA, NT.Am79C973, CT.PIIX4, AC97, STAC9700);
        yield return Win("WindowsXP", "Windows XP (32-bit)", H.TAB, 1, 192, 16, 10 * GB, GC.VBoxVGA, NT.I82543GC, CT.PIIX4, AC97, STAC9700);
        yield return Win("WindowsXP_64", "Windows XP (64-bit)", H.X64 | H.HW | H.IOAPIC | H.TAB, 1, 512, 16, 10 * GB, GC.VBoxVGA, NT.I82540EM, CT.PIIX4, AC97, STAC9700);
        yield return Win("Windows2003", "Windows 2003 (32-bit)", H.TAB, 1, 512, 16, 20 * GB, GC.VBoxVGA, NT.I82543GC, CT.PIIX4, AC97, STAC9700);
        yield return Win("Windows2003_64", "Windows 2003 (64-bit)", H.X64 | H.HW | H.IOAPIC | H.TAB, 1, 512, 16, 20 * GB, GC.VBoxVGA, NT.I82540EM, CT.PIIX4, HDA, STAC9221);
        yield return Win("WindowsVista", "Windows Vista (32-bit)", H.TAB, 1, 512, 16, 25 * GB, GC.VBoxSVGA, NT.I82540EM, CT.IntelAhci, HDA, STAC9221);
        yield return Win("WindowsVista_64", "Windows Vista (64-bit)", H.X64 | H.HW | H.IOAPIC | H.TAB, 1, 512, 16, 25 * GB, GC.VBoxSVGA, NT.I82540EM, CT.IntelAhci, HDA, STAC9221);
        yield return Win("Windows2008", "Windows 2008 (32-bit)", H.TAB, 1, 1024, 16, 32 * GB, GC.VBoxSVGA, NT.I82540EM, CT.IntelAhci, HDA, STAC9221);
        yield return Win("Windows2008_64", "Windows 2008 (64-bit)", H.X64 | H.HW | H.IOAPIC | H.TAB, 1, 2048, 16, 32 * GB, GC.VBoxSVGA, NT.I82540EM, CT.IntelAhci, HDA, STAC9221);
        yield return Win("Windows7", "Windows 7 (32-bit)", H.TAB, 1, 1024, 16, 32 * GB, GC.VBoxSVGA, NT.I82540EM, CT.IntelAhci, HDA, STAC9221);
        yield return Win("Windows7_64", "Windows 7 (64-bit)", H.X64 | H.HW | H.IOAPIC | H.TAB, 1, 2048, 16, 32 * GB, GC.VBoxSVGA, NT.I82540EM, CT.IntelAhci, HDA, STAC9221);
        yield return Win("Windows8", "Windows 8 (32-bit)", WinNew32, 1, 1024, 128, 40 * GB, GC.VBoxSVGA, NT.I82540EM, CT.IntelAhci, HDA, STAC9221);
        yield return Win("Windows8_64", "Windows 8 (64-bit)", WinNew64, 1, 2048, 128, 40 * GB, GC.VBoxSVGA, NT.I82540EM, CT.IntelAhci, HDA, STAC9221);
        yield return Win("Windows81", "Windows 8.1 (32-bit)", WinNew32, 1, 1024, 128, 40 * GB, GC.VBoxSVGA, NT.I82540EM, CT.IntelAhci, HDA, STAC9221);
        yield return Win("Windows81_64", "Windows 8.1 (64-bit)", WinNew64, 1, 2048, 128, 40 * GB, GC.VBoxSVGA, NT.I82540EM, CT.IntelAhci, HDA, STAC9221);
        yield return Win("Windows2012_64", "Windows 2012 (64-bit)", WinNew64, 1, 2048, 128, 50 * GB, GC.VBoxSVGA, NT.I82540EM, CT.IntelAhci, HDA, STAC9221);
        yield return Win("Windows10", "Windows 10 (32-bit)", WinNew32, 1, 1024, 128, 50 * GB, GC.VBoxSVGA, NT.I82540EM, CT.IntelAhci, HDA, STAC9221);
        yield return Win("Windows10_64", "Windows 10 (64-bit)", WinNew64, 1, 2048, 128, 50 * GB, GC.VBoxSVGA, NT.I82540EM, CT.IntelAhci, HDA, STAC9221);
        yield return Win("Windows2016_64", "Windows 2016 (64-bit)", WinNew64, 1, 2048, 128, 50 * GB, GC.VBoxSVGA, NT.I82540EM, CT.IntelAhci, HDA, STAC9221);
        yield return Win("Windows2019_64", "Windows 2019 (64-bit)", WinNew64, 1, 2048, 128, 50 * GB, GC.VBoxSVGA, NT.I82540EM, CT.IntelAhci, HDA, STAC9221);
        yield return Win("Windows11_64", "Windows 11 (64-bit)", WinNew64 | H.EFI, 2, 4096, 128, 80 * GB, GC.VBoxSVGA, NT.I82540EM, CT.IntelAhci, HDA, STAC9221);
        yield return Win("Windows2022_64", "Windows 2022 (64-bit)", WinNew64, 1, 2048, 128, 50 * GB, GC.VBoxSVGA, NT.I82540EM, CT.IntelAhci, HDA, STAC9221);
        yield return Win("WindowsNT", "Other Windows (32-bit)", H.None, 1, 512, 16, 20 * GB, GC.VBoxVGA, NT.Am79C973, CT.PIIX4, AC97, STAC9700);
        yield return Win("WindowsNT_64", "Other Windows (64-bit)", H.X64 | H.PAE | H.HW | H.IOAPIC | H.TAB, 1, 512, 16, 20 * GB, GC.VBoxVGA, NT.I82540EM, CT.PIIX4, AC97, STAC9700);

        yield return Lx("Linux22", "Linux 2.2 (32-bit)", LinuxD32, 64, 4, 2, NT.Am79C973, CT.PIIX4);
        yield return Lx("Linux24", "Linux 2.4 (32-bit)", LinuxD32, 128, 16, 2, NT.Am79C973, CT.PIIX4);
        yield return Lx("Linux24_64", "Linux 2.4 (64-bit)", LinuxD64, 1024, 16, 4, NT.I82540EM, CT.PIIX4);
        foreach (var t in LxA("Linux26", "Linux 2.6 / 3.x / 4.x / 5.x", 1024, 16, 8)) yield return t;
        foreach (var t in LxA("ArchLinux", "Arch Linux", 1024, 16, 8)) yield return t;
        foreach (var t in LxA("Debian", "Debian", 2048, 16, 20)) yield return t;
        yield return Lx("Debian31", "Debian 3.1 Sarge (32-bit)", LinuxA32, 1024, 16, 8);
        foreach (var t in LxA("Debian4", "Debian 4.0 Etch", 1024, 16, 8)) yield return t;
        foreach (var t in LxA("Debian5", "Debian 5.0 Lenny", 1024, 16, 8)) yield return t;
        foreach (var t in LxA("Debian6", "Debian 6.0 Squeeze", 1024, 16, 8)) yield return t;
        foreach (var t in LxA("Debian7", "Debian 7 Wheezy", 2048, 16, 20)) yield return t;
        foreach (var t in LxA("Debian8", "Debian 8 Jessie", 2048, 16, 20)) yield return t;
        foreach (var t in LxA("Debian9", "Debian 9 Stretch", 2048, 16, 20)) yield return t;
        foreach (var t in LxA("Debian10", "Debian 10 Buster", 2048, 16, 20)) yield return t;
        foreach (var t in LxA("Debian11", "Debian 11 Bullseye", 2048, 16, 20)) yield return t;
        foreach (var t in LxA("Debian12", "Debian 12 Bookworm", 2048, 16, 20)) yield return t;
        foreach (var t in LxA("Fedora", "Fedora", 2048, 16, 15)) yield return t;
        foreach (var t in LxA("Gentoo", "Gentoo", 1024, 16, 8)) yield return t;
        foreach (var t in LxA("Mandriva", "Mandriva", 1024, 16, 8)) yield return t;
        foreach (var t in LxA("OpenMandriva_Lx", "OpenMandriva Lx", 2048, 16, 10)) yield return t;
        foreach (var t in LxA("PCLinuxOS", "PCLinuxOS / PCLOS", 2048, 16, 10)) yield return t;
        foreach (var t in LxA("Mageia", "Mageia", 2048, 16, 10)) yield return t;
        foreach (var t in LxB("Oracle", "Oracle Linux", 2048, 16, 20)) yield return t;
        foreach (var t in LxB("Oracle4", "Oracle Linux 4.x", 1024, 16, 8)) yield return t;
        foreach (var t in LxB("Oracle5", "Oracle Linux 5.x", 1024, 16, 8)) yield return t;
        foreach (var t in LxB("Oracle6", "Oracle Linux 6.x", 2048, 16, 10)) yield return t;
        foreach (var t in LxB("Oracle7", "Oracle Linux 7.x", 2048, 16, 20, has32: false)) yield return t;
        foreach (var t in LxB("Oracle8", "Oracle Linux 8.x", 2048, 16, 20, has32: false)) yield return t;
        foreach (var t in LxB("Oracle9", "Oracle Linux 9.x", 2048, 16, 20, has32: false)) yield return t;
        foreach (var t in LxB("RedHat", "Red Hat", 2048, 16, 20)) yield return t;
        foreach (var t in LxB("RedHat3", "Red Hat 3.x", 1024, 16, 8)) yield return t;
        foreach (var t in LxB("RedHat4", "Red Hat 4.x", 1024, 16, 8)) yield return t;
        foreach (var t in LxB("RedHat5", "Red Hat 5.x", 1024, 16, 8)) yield return t;
        foreach (var t in LxB("RedHat6", "Red Hat 6.x", 1024, 16, 10)) yield return t;
        foreach (var t in LxB("RedHat7", "Red Hat 7.x", 2048, 16, 20, has32: false)) yield return t;
        foreach (var t in LxB("RedHat8", "Red Hat 8.x", 2048, 16, 20, has32: false)) yield return t;
        foreach (var t in LxB("RedHat9", "Red Hat 9.x", 2048, 16, 20, has32: false)) yield return t;
        foreach (var t in LxA("OpenSUSE", "openSUSE", 1024, 16, 8)) yield return t;
        foreach (var t in LxA("OpenSUSE_Leap", "openSUSE Leap", 2048, 16, 8, has32: false)) yield return t;
        foreach (var t in LxA("OpenSUSE_Tumbleweed", "openSUSE Tumbleweed", 2048, 16, 8)) yield return t;
        foreach (var t in LxA("SUSE_LE", "SUSE Linux Enterprise", 2048, 16, 8)) yield return t;
        foreach (var t in LxA("Turbolinux", "Turbolinux", 384, 16, 8)) yield return t;
        foreach (var t in LxA("Ubuntu", "Ubuntu", 2048, 16, 25)) yield return t;
        foreach (var t in LxA("Ubuntu10_LTS", "Ubuntu 10.04 LTS (Lucid Lynx)", 256, 16, 3)) yield return t;
        foreach (var t in LxA("Ubuntu10", "Ubuntu 10.10 (Maverick Meerkat)", 256, 16, 3)) yield return t;
        foreach (var t in LxA("Ubuntu11", "Ubuntu 11.04 (Natty Narwhal) / 11.10 (Oneiric Ocelot)", 384, 16, 5)) yield return t;
        foreach (var t in LxA("Ubuntu12_LTS", "Ubuntu 12.04 LTS (Precise Pangolin)", 768, 16, 5)) yield return t;
        foreach (var t in LxA("Ubuntu12", "Ubuntu 12.10 (Quantal Quetzal)", 768, 16, 5)) yield return t;
        foreach (var t in LxA("Ubuntu13", "Ubuntu 13.04 (Raring Ringtail) / 13.10 (Saucy Salamander)", 768, 16, 5)) yield return t;
        foreach (var t in LxA("Ubuntu14_LTS", "Ubuntu 14.04 LTS (Trusty Tahr)", 1536, 16, 7)) yield return t;
        foreach (var t in LxA("Ubuntu14", "Ubuntu 14.10 (Utopic Unicorn)", 1536, 16, 7)) yield return t;
        foreach (var t in LxA("Ubuntu15", "Ubuntu 15.04 (Vivid Vervet) / 15.10 (Wily Werewolf)", 1536, 16, 7)) yield return t;
        foreach (var t in LxA("Ubuntu16_LTS", "Ubuntu 16.04 LTS (Xenial Xerus)", 1536, 16, 10)) yield return t;
        foreach (var t in LxA("Ubuntu16", "Ubuntu 16.10 (Yakkety Yak)", 1536, 16, 10)) yield return t;
        foreach (var t in LxA("Ubuntu17", "Ubuntu 17.04 (Zesty Zapus) / 17.10 (Artful Aardvark)", 1536, 16, 10)) yield return t;
        foreach (var t in LxA("Ubuntu18_LTS", "Ubuntu 18.04 LTS (Bionic Beaver)", 2048, 16, 25)) yield return t;
        foreach (var t in LxA("Ubuntu18", "Ubuntu 18.10 (Cosmic Cuttlefish)", 2048, 16, 25)) yield return t;
        foreach (var t in LxA("Ubuntu19", "Ubuntu 19.04 (Disco Dingo) / 19.10 (Eoan Ermine)", 2048, 16, 25)) yield return t;
        foreach (var t in LxA("Ubuntu20_LTS", "Ubuntu 20.04 LTS (Focal Fossa)", 2048, 16, 25, has32: false)) yield return t;
        foreach (var t in LxA("Ubuntu20", "Ubuntu 20.10 (Groovy Gorilla)", 2048, 16, 25, has32: false)) yield return t;
        foreach (var t in LxA("Ubuntu21", "Ubuntu 21.04 (Hirsute Hippo) / 21.10 (Impish Indri)", 2048, 16, 25, has32: false)) yield return t;
        foreach (var t in LxA("Ubuntu22_LTS", "Ubuntu 22.04 LTS (Jammy Jellyfish)", 2048, 16, 25, has32: false)) yield return t;
        foreach (var t in LxA("Ubuntu22", "Ubuntu 22.10 (Kinetic Kudu)", 2048, 16, 25, has32: false)) yield return t;
        foreach (var t in LxA("Ubuntu23", "Ubuntu 23.04 (Lunar Lobster)", 2048, 16, 25, has32: false)) yield return t;
        foreach (var t in LxA("Lubuntu", "Lubuntu", 1024, 16, 10)) yield return t;
        foreach (var t in LxA("Xubuntu", "Xubuntu", 1024, 16, 10)) yield return t;
        yield return Lx("Xandros", "Xandros (32-bit)", LinuxC32, 1024, 16, 8);
        yield return Lx("Xandros_64", "Xandros (64-bit)", LinuxC64, 1024, 16, 8);
        yield return Lx("Linux", "Other Linux (32-bit)", LinuxA32, 256, 16, 8);
        yield return Lx("Linux_64", "Other Linux (64-bit)", LinuxB64, 512, 16, 8);

        yield return Sol("Solaris", "Oracle Solaris 10 5/09 and earlier (32-bit)", H.None, 1024, GC.VBoxVGA, CT.PIIX4);
        yield return Sol("Solaris_64", "Oracle Solaris 10 5/09 and earlier (64-bit)", H.X64 | H.HW | H.IOAPIC, 2048, GC.VBoxVGA, CT.PIIX4);
        yield return Sol("Solaris10U8_or_later", "Oracle Solaris 10 10/09 and later (32-bit)", H.TAB, 1024, GC.VBoxVGA, CT.IntelAhci);
        yield return Sol("Solaris10U8_or_later_64", "Oracle Solaris 10 10/09 and later (64-bit)", H.X64 | H.HW | H.IOAPIC | H.TAB, 2048, GC.VBoxVGA, CT.IntelAhci);
        yield return Sol("Solaris11_64", "Oracle Solaris 11 (64-bit)", H.X64 | H.HW | H.IOAPIC | H.TAB | H.RTCUTC, 4096, GC.VMSVGA, CT.IntelAhci);
        yield return Sol("OpenSolaris", "OpenSolaris / Illumos / OpenIndiana (32-bit)", H.TAB, 1024, GC.VBoxVGA, CT.IntelAhci);
        yield return Sol("OpenSolaris_64", "OpenSolaris / Illumos / OpenIndiana (64-bit)", H.X64 | H.HW | H.IOAPIC | H.TAB, 2048, GC.VBoxVGA, CT.IntelAhci);

        yield return Bsd("FreeBSD", "FreeBSD (32-bit)", H.None, 2 * GB);
        yield return Bsd("FreeBSD_64", "FreeBSD (64-bit)", H.X64 | H.HW | H.IOAPIC, 16 * GB);
        yield return Bsd("OpenBSD", "OpenBSD (32-bit)", H.HW, 16 * GB);
        yield return Bsd("OpenBSD_64", "OpenBSD (64-bit)", H.X64 | H.HW | H.IOAPIC, 16 * GB);
        yield return Bsd("NetBSD", "NetBSD (32-bit)", H.RTCUTC, 16 * GB);
        yield return Bsd("NetBSD_64", "NetBSD (64-bit)", H.X64 | H.HW | H.IOAPIC | H.RTCUTC, 16 * GB);

        yield return Os2("OS21x", "OS/2 1.x", H.FLOPPY | H.NOUSB | H.TFRESET, 8, 500 * MB, NT.Am79C973, SB16, SB16C);
        yield return Os2("OS2Warp3", "OS/2 Warp 3", H.HW | H.FLOPPY, 48, 1 * GB, NT.Am79C973, SB16, SB16C);
        yield return Os2("OS2Warp4", "OS/2 Warp 4", H.HW | H.FLOPPY, 64, 2 * GB, NT.Am79C973, SB16, SB16C);
        yield return Os2("OS2Warp45", "OS/2 Warp 4.5", H.HW | H.FLOPPY, 128, 2 * GB, NT.Am79C973, SB16, SB16C);
        yield return Os2("OS2eCS", "eComStation", H.HW | H.FLOPPY, 256, 2 * GB, NT.Am79C973, AC97, STAC9700);
        yield return Os2("OS2ArcaOS", "ArcaOS", H.HW | H.FLOPPY, 1024, 2 * GB, NT.I82540EM, AC97, STAC9700);
        yield return Os2("OS2", "Other OS/2", H.HW | H.FLOPPY | H.NOUSB, 96, 2 * GB, NT.Am79C973, SB16, SB16C);

        yield return Mac("MacOS", "Mac OS X (32-bit)", false, 20);
        yield return Mac("MacOS_64", "Mac OS X (64-bit)", true, 20);
        yield return Mac("MacOS106", "Mac OS X 10.6 Snow Leopard (32-bit)", false, 20);
        yield return Mac("MacOS106_64", "Mac OS X 10.6 Snow Leopard (64-bit)", true, 20);
        yield return Mac("MacOS107_64", "Mac OS X 10.7 Lion (64-bit)", true, 20);
        yield return Mac("MacOS108_64", "Mac OS X 10.8 Mountain Lion (64-bit)", true, 20);
        yield return Mac("MacOS109_64", "Mac OS X 10.9 Mavericks (64-bit)", true, 25);
        yield return Mac("MacOS1010_64", "Mac OS X 10.10 Yosemite (64-bit)", true, 25);
        yield return Mac("MacOS1011_64", "Mac OS X 10.11 El Capitan (64-bit)", true, 30);
        yield return Mac("MacOS1012_64", "macOS 10.12 Sierra (64-bit)", true, 30);
        yield return Mac("MacOS1013_64", "macOS 10.13 High Sierra (64-bit)", true, 30);

        yield return Other("DOS", "DOS", H.FLOPPY | H.NOUSB, 32, 4, 500 * MB, NT.Am79C973, SB16, SB16C);
        yield return Other("Netware", "Netware", H.HW | H.FLOPPY | H.NOUSB, 512, 4, 4 * GB, NT.Am79C973, AC97, STAC9700);
        yield return Other("L4", "L4", H.None, 64, 4, 2 * GB, NT.Am79C973, AC97, STAC9700);
        yield return Other("QNX", "QNX", H.HW, 512, 4, 4 * GB, NT.Am79C973, AC97, STAC9700);
        yield return Other("JRockitVE", "JRockitVE", H.HW | H.IOAPIC | H.PAE, 1024, 4, 8 * GB, NT.I82545EM, AC97, STAC9700, CT.PIIX4, CT.BusLogic);
        yield return Other("VBoxBS_64", "VirtualBox Bootsector Test (64-bit)", H.HW | H.FLOPPY | H.IOAPIC | H.PAE | H.X64, 128, 4, 0, NT.I82545EM, AC97, STAC9700);
    }

    private static GuestOSType[]? s_all;
    private static Dictionary<string, GuestOSType>? s_byId;

    public static IReadOnlyList<GuestOSType> All => s_all ??= Build().ToArray();

    /// <summary>Case-insensitive lookup by id, as VirtualBox does.</summary>
    public static GuestOSType? Find(string id)
    {
        s_byId ??= All.ToDictionary(t => t.Id, StringComparer.OrdinalIgnoreCase);
        return s_byId.TryGetValue(id, out GuestOSType? t) ? t : null;
    }

    /// <summary>True for 64-bit OS types (unknown ids count as 32-bit, VirtualBox's behaviour).</summary>
    public static bool Is64Bit(string id) => Find(id)?.Is64Bit ?? false;
}
