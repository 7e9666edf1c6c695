using SharpBox.Devices.Pc;

namespace SharpBox.Devices.Tests.Pc;

[Collection("Timing")]
public sealed class ChipsetTests : IDisposable
{
    private readonly TestMachine _m = new();
    public void Dispose() => _m.Dispose();

    [Fact]
    public void ConfigMechanismOneFindsTheI440FxAndPiix()
    {
        Assert.Equal(0x1237_8086u, _m.PciRead(0, 0, 0));
        Assert.Equal(0x7000_8086u, _m.PciRead(1, 0, 0));
        Assert.Equal(0x7113_8086u, _m.PciRead(1, 3, 0));
        Assert.Equal(0x80u, _m.PciRead(1, 0, 0x0C) >> 16 & 0x80);     // PIIX3 is multi-function
        Assert.Equal(0xFFFF_FFFFu, _m.PciRead(5, 0, 0));
        Assert.Equal(0x8086u, _m.PciRead(0, 0, 0, 2));
        Assert.Equal(0x1237u, _m.PciRead(0, 0, 2, 2));
        _m.Out32(0xCF8, 0x0000_0000);                                  // enable bit clear: nothing
        Assert.Equal(0xFFFF_FFFFu, _m.In32(0xCFC));
        _m.Out32(0xCF8, 0x8000_1234);
        Assert.Equal(0x8000_1234u, _m.In32(0xCF8));
    }

    [Fact]
    public void PirqSteeringAndResetControl()
    {
        Assert.Equal(0x0B0B_0A0Au, _m.PciRead(1, 0, 0x60));
        Assert.Equal(10, _m.Dev<DevPiix3>().IsaIrqOf(0));
        _m.PciWrite(1, 0, 0x61, 1, 0x80);
        Assert.Equal(-1, _m.Dev<DevPiix3>().IsaIrqOf(1));
        _m.PciWrite(1, 0, 0x62, 1, 0x05);
        Assert.Equal(5, _m.Dev<DevPiix3>().IsaIrqOf(2));
        _m.Out8(0xCF9, 0x02);
        Assert.False(_m.Requests.Any("reset"));
        _m.Out8(0xCF9, 0x06);
        Assert.True(_m.Requests.Any("reset: 0xCF9 hard reset"));
    }

    [Fact]
    public void PmTimerSciAndSoftOff()
    {
        uint t0 = _m.In32(0x608);
        Thread.Sleep(30);
        uint t1 = _m.In32(0x608);
        Assert.InRange(t1 - t0, 3_579_545 * 0.02, 3_579_545 * 0.2);
        Assert.Equal(1, _m.In16(0x604) & 1);                           // SCI_EN: ACPI mode is on
        var pm = _m.Dev<DevAcpiPm>();
        var pic = _m.Dev<DevPic>();
        _m.Out8(0x20, 0x11); _m.Out8(0x21, 0x20); _m.Out8(0x21, 0x04); _m.Out8(0x21, 0x01); _m.Out8(0x21, 0xFB);
        _m.Out8(0xA0, 0x11); _m.Out8(0xA1, 0x28); _m.Out8(0xA1, 0x02); _m.Out8(0xA1, 0x01); _m.Out8(0xA1, 0xFD);
        _m.Out8(0x4D1, 0x02);                                          // SCI is level triggered
        pm.PressPowerButton();
        Assert.False(pic.OutputHigh);                                  // GPE not enabled yet
        _m.Out16(0x60E, 1);                                            // GPE0_EN bit 0
        Assert.True(pm.PowerButtonEnabled);
        Assert.True(pic.OutputHigh);
        Assert.Equal(0x29, pic.Acknowledge());
        Assert.Equal(1, _m.In16(0x60C) & 1);
        _m.Out16(0x60C, 1);                                            // write one to clear
        Assert.Equal(0, _m.In16(0x60C) & 1);
        _m.Out8(0xA0, 0x20); _m.Out8(0x20, 0x20);
        Assert.False(pic.OutputHigh);
        _m.Out16(0x604, (ushort)((3 << 10) | (1 << 13)));              // S3: not offered
        Assert.False(_m.Requests.Any("poweroff"));
        _m.Out16(0x604, (ushort)((DevAcpiPm.S5Type << 10) | (1 << 13)));
        Assert.True(_m.Requests.Any("poweroff: ACPI S5"));
    }

    [Fact]
    public void PmBlockFollowsPmba()
    {
        _m.PciWrite(1, 3, 0x40, 4, 0xB000);
        Assert.Equal(0xB001u, _m.PciRead(1, 3, 0x40));
        Assert.Equal(1, _m.In16(0xB004) & 1);
        Assert.Equal(0xFFFF, _m.In16(0x604));
        _m.PciWrite(1, 3, 0x80, 1, 0);                                 // PM I/O disabled
        Assert.Equal(0xFFFF, _m.In16(0xB004));
    }

    [Fact]
    public void HpetCountsAndFiresInLegacyMode()
    {
        const ulong B = 0xFED0_0000;
        ulong cap = _m.MmioRead(B, 8);
        Assert.Equal(10_000_000UL, cap >> 32);
        Assert.Equal(0x8086UL, (cap >> 16) & 0xFFFF);
        Assert.Equal(0UL, _m.MmioRead(B + 0xF0, 8));
        _m.MmioWrite(B + 0x10, 8, 1);                                  // enable
        Thread.Sleep(20);
        ulong c = _m.MmioRead(B + 0xF0, 8);
        Assert.InRange(c, 1_000_000UL, 30_000_000UL);
        Assert.Equal((uint)c, (uint)_m.MmioRead(B + 0xF0, 4) is var lo && lo >= (uint)c ? (uint)c : lo);
        // Legacy replacement: timer 0 drives IRQ0 in place of the PIT.
        var pic = _m.Dev<DevPic>();
        _m.Out8(0x20, 0x11); _m.Out8(0x21, 0x20); _m.Out8(0x21, 0x04); _m.Out8(0x21, 0x03); _m.Out8(0x21, 0xFE);
        _m.MmioWrite(B + 0x10, 8, 3);
        Assert.True(_m.Vm.Pdm.Irqs.HpetLegacyReplacement);
        while (pic.OutputHigh) pic.Acknowledge();
        _m.MmioWrite(B + 0x100, 8, 1 << 2);                            // timer 0: interrupts on, one-shot, edge
        ulong now = _m.MmioRead(B + 0xF0, 8);
        _m.MmioWrite(B + 0x108, 8, now + 500_000);                     // 5 ms
        Assert.False(pic.OutputHigh);
        Assert.True(TestMachine.WaitUntil(() => pic.OutputHigh, 3000));
        Assert.Equal(0x20, pic.Acknowledge());
        Thread.Sleep(20);
        Assert.False(pic.OutputHigh);                                  // one-shot, and the PIT is cut off
    }
}
