using SharpBox.Devices.Pc;
using SharpBox.Vmm.Ssm;

namespace SharpBox.Devices.Tests.Pc;

/// <summary>
/// Every device's saved-state unit: program each device into a non-default state, save all of them,
/// load into a freshly built machine, and read the same registers back through the guest's ports and
/// MMIO.
/// </summary>
public sealed class SavedStateTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sbx-devsav-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static PcMachineConfig Config(string dir) => new()
    {
        RamBytes = 32UL << 20, Cpus = 2, Hpet = true, DebugExitPort = 0xF4,
        Uarts = [new UartConfig(0x3F8, 4, "file", Path.Combine(dir, "com1.log"))],
    };

    private static void Program(TestMachine m)
    {
        m.Out8(0x20, 0x11); m.Out8(0x21, 0x30); m.Out8(0x21, 0x04); m.Out8(0x21, 0x01); m.Out8(0x21, 0xA5);  // PIC
        m.Out8(0x43, 0xB6); m.Out8(0x42, 0x34); m.Out8(0x42, 0x12);                                          // PIT ch2 mode 3
        m.Out8(0x70, 0x40); m.Out8(0x71, 0x77);                                                                // CMOS byte
        m.Out8(0x3FB, 0x83); m.Out8(0x3F8, 0x03); m.Out8(0x3FB, 0x1B); m.Out8(0x3F9, 0x05); m.Out8(0x3FF, 0x9C); // UART
        m.Out8(0x64, 0x60); m.Out8(0x60, 0x25);                                                                // i8042 command byte
        m.Out8(0x92, 0x02);                                                                                     // port 0x92
        m.PciWrite(1, 0, 0x61, 1, 0x0E);                                                                        // PIIX3 PIRQB → IRQ14
        m.Out16(0x602, 0x0100);                                                                                 // PM1_EN: power button
        m.Out16(0x60E, 0x0001);                                                                                 // GPE0_EN
        m.MmioWrite(0xFEE0_00F0, 4, 0x1F0, 1);                                                                 // APIC 1 SVR
        m.MmioWrite(0xFEE0_0080, 4, 0x40, 1);                                                                  // APIC 1 TPR
        m.MmioWrite(0xFEE0_0350, 4, 0x0001_0700, 1);                                                           // APIC 1 LINT0
        m.MmioWrite(0xFEC0_0000, 4, 0x14); m.MmioWrite(0xFEC0_0010, 4, 0x0001_8066);                           // IOAPIC pin 2
        m.MmioWrite(0xFED0_0010, 8, 1);                                                                        // HPET on
        m.MmioWrite(0xFED0_0108, 8, 0x1234_5678_9A);                                                           // HPET timer 0 comparator
        m.Out16(0x510, 0x0019);                                                                                 // fw_cfg selector
        m.In8(0x511); m.In8(0x511);
    }

    private static string Observe(TestMachine m)
    {
        var o = new List<string>();
        o.Add($"pic imr {m.In8(0x21):X2} slave imr {m.In8(0xA1):X2}");
        m.Out8(0x43, 0xE8);
        o.Add($"pit ch2 status {m.In8(0x42) & 0x3F:X2}");
        m.Out8(0x70, 0x40); o.Add($"cmos40 {m.In8(0x71):X2}");
        m.Out8(0x70, 0x15); o.Add($"cmos15 {m.In8(0x71):X2}");
        o.Add($"uart lcr {m.In8(0x3FB):X2} ier {m.In8(0x3F9):X2} scr {m.In8(0x3FF):X2} fifo {m.In8(0x3FA) & 0xC0:X2}");
        m.Out8(0x3FB, 0x9B); o.Add($"uart dll {m.In8(0x3F8):X2}"); m.Out8(0x3FB, 0x1B);
        m.Out8(0x64, 0x20); o.Add($"i8042 cb {m.In8(0x60):X2}");
        o.Add($"port92 {m.In8(0x92):X2} a20 {m.Vm.PhysMap.A20Enabled}");
        o.Add($"piix3 pirq {m.PciRead(1, 0, 0x60):X8}");
        o.Add($"pm1en {m.In16(0x602):X4} gpe0en {m.In16(0x60E):X4} pmba {m.PciRead(1, 3, 0x40):X8}");
        o.Add($"apic1 svr {m.MmioRead(0xFEE0_00F0, 4, 1):X} tpr {m.MmioRead(0xFEE0_0080, 4, 1):X} lint0 {m.MmioRead(0xFEE0_0350, 4, 1):X}");
        o.Add($"apic0 lint0 {m.MmioRead(0xFEE0_0350, 4, 0):X}");
        m.MmioWrite(0xFEC0_0000, 4, 0x14); o.Add($"ioapic pin2 {m.MmioRead(0xFEC0_0010, 4):X}");
        o.Add($"hpet cfg {m.MmioRead(0xFED0_0010, 8):X} cmp0 {m.MmioRead(0xFED0_0108, 8):X}");
        o.Add($"fwcfg next {m.In8(0x511):X2}");
        return string.Join("\n", o);
    }

    [Fact]
    public void EveryDeviceContinuesFromItsSavedState()
    {
        string path = Path.Combine(_dir, "devices.sav");
        string before;
        var deviceUnits = new[] { "pci", "piix3", "i8259", "ioapic", "apic", "i8254", "mc146818", "pckbd", "port92", "acpi", "hpet", "fwcfg", "serial" };
        using (var m = new TestMachine(Config(_dir)))
        {
            Program(m);
            var ssm = new SavedStateManager();
            foreach (var u in m.Vm.Ssm.Units) if (deviceUnits.Contains(u.Name) || u.Name == "tm") ssm.Register(u);
            Assert.Equal(deviceUnits.Length + 1, ssm.Units.Count);
            m.Vm.Tm.Clock.Pause();
            ssm.Save(path);
            m.Vm.Tm.Clock.Resume();
            before = Observe(m);
        }
        using var fresh = new TestMachine(Config(_dir), start: false);
        var load = new SavedStateManager();
        foreach (var u in fresh.Vm.Ssm.Units) if (deviceUnits.Contains(u.Name) || u.Name == "tm") load.Register(u);
        string untouched = Observe(fresh);
        Assert.NotEqual(before, untouched);
        load.Load(path);
        fresh.Vm.Io.Start();
        fresh.Vm.Tm.Clock.Resume();
        Assert.Equal(before, Observe(fresh));
    }
}
