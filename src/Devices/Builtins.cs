using SharpBox.Devices.Input;
using SharpBox.Devices.Pc;
using SharpBox.Devices.Serial;
using SharpBox.Devices.Storage;
using SharpBox.Vmm.Pdm;

namespace SharpBox.Devices;

/// <summary>
/// The device types of this build (VirtualBox's VBoxDD builtins), by the names CFGM uses under /Devices.
/// The order is the construction order: the PCI host bridge first, the interrupt controllers before
/// anything that raises interrupts, the direct-boot firmware last (it reads the others' settings).
/// </summary>
public static class Builtins
{
    public static PdmDeviceRegistry Create()
    {
        var r = new PdmDeviceRegistry();
        r.Add(new("pci", 0, "i440FX PCI host bridge", c => new DevPciI440Fx(c)));
        r.Add(new("piix3", 1, "PIIX3 PCI-ISA bridge", c => new DevPiix3(c)));
        r.Add(new("i8259", 5, "i8259 PIC pair", c => new DevPic(c), InterruptController: true));
        r.Add(new("ioapic", 6, "82093AA I/O APIC", c => new DevIoApic(c), InterruptController: true));
        r.Add(new("apic", 7, "local APICs", c => new DevApic(c), InterruptController: true));
        r.Add(new("i8254", 10, "i8254 PIT", c => new DevPit(c)));
        r.Add(new("mc146818", 11, "MC146818 RTC/CMOS", c => new DevRtc(c)));
        r.Add(new("pckbd", 12, "i8042 keyboard controller", c => new DevI8042(c)));
        r.Add(new("port92", 13, "system control port A", c => new DevPort92(c)));
        r.Add(new("acpi", 14, "PIIX4 ACPI power management", c => new DevAcpiPm(c)));
        r.Add(new("hpet", 15, "HPET", c => new DevHpet(c)));
        r.Add(new("fwcfg", 16, "QEMU fw_cfg", c => new DevFwCfg(c)));
        r.Add(new("serial", 20, "16550A UART", c => new DevSerial(c)));
        r.Add(new("piix3ide", 25, "PIIX IDE controller", c => new DevPiix3Ide(c)));
        r.Add(new("debugexit", 30, "debug-exit port", c => new DevDebugExit(c)));
        r.Add(new("bootmarker", 31, "boot-time marker port", c => new DevBootMarker(c)));
        r.Add(new("pcfirmware", 100, "direct kernel boot firmware", c => new DevPcFirmware(c)));
        return r;
    }
}
