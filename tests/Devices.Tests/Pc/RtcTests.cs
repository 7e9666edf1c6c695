using SharpBox.Devices.Pc;

namespace SharpBox.Devices.Tests.Pc;

[Collection("Timing")]
public sealed class RtcTests : IDisposable
{
    private readonly TestMachine _m = new(new PcMachineConfig { RamBytes = 256UL << 20, Cpus = 2 });
    public void Dispose() => _m.Dispose();

    private byte Cmos(int i) { _m.Out8(0x70, (byte)i); return _m.In8(0x71); }
    private void SetCmos(int i, byte v) { _m.Out8(0x70, (byte)i); _m.Out8(0x71, v); }
    private static int Bcd(byte b) => (b >> 4) * 10 + (b & 0xF);

    [Fact]
    public void TimeIsTheHostsUtcInBcd()
    {
        var now = DateTime.UtcNow;
        while (Cmos(0x0A) >= 0x80) { }                        // wait out UIP
        int sec = Bcd(Cmos(0)), min = Bcd(Cmos(2)), hour = Bcd(Cmos(4));
        int day = Bcd(Cmos(7)), mon = Bcd(Cmos(8)), year = Bcd(Cmos(9)) + 100 * Bcd(Cmos(0x32));
        var rtc = new DateTime(year, mon, day, hour, min, sec, DateTimeKind.Utc);
        Assert.InRange((rtc - now).TotalSeconds, -3, 3);
        Assert.Equal((int)rtc.DayOfWeek + 1, Bcd(Cmos(6)));
    }

    [Fact]
    public void BinaryAnd12HourFormatsAndSettingTheClock()
    {
        SetCmos(0x0B, 0x80 | 0x04);                           // SET, binary, 12-hour
        SetCmos(0, 30); SetCmos(2, 45); SetCmos(4, 0x80 | 11);  // 11:45:30 PM
        SetCmos(7, 29); SetCmos(8, 2); SetCmos(9, 24); SetCmos(0x32, 20);
        SetCmos(0x0B, 0x04);                                  // clear SET: the clock runs from there
        Assert.Equal(0x80 | 11, Cmos(4));
        Assert.Equal(29, Cmos(7));
        SetCmos(0x0B, 0x06);                                  // 24-hour
        Assert.Equal(23, Cmos(4));
        Thread.Sleep(1100);
        Assert.InRange(Cmos(0), 31, 33);
        SetCmos(0x0B, 0x80);
        SetCmos(8, 0x13);                                     // invalid month while SET...
        SetCmos(0x0B, 0x02);                                  // ...is refused on clearing SET
        Assert.Contains(_m.Log, l => l.Contains("invalid time"));
    }

    [Fact]
    public void MemorySizesCpuCountAndChecksumAreInCmos()
    {
        Assert.Equal(640, Cmos(0x15) | Cmos(0x16) << 8);
        Assert.Equal(0xFFFF, Cmos(0x17) | Cmos(0x18) << 8);   // 255 MiB above 1 MiB, capped at 64 MiB units
        Assert.Equal((256 - 16) * 16, Cmos(0x34) | Cmos(0x35) << 8);
        Assert.Equal(1, Cmos(0x5F));
        int sum = 0;
        for (int i = 0x10; i <= 0x2D; i++) sum += Cmos(i);
        Assert.Equal(sum, Cmos(0x2E) << 8 | Cmos(0x2F));
        Assert.Equal(0x80, Cmos(0x0D));
        SetCmos(0x50, 0x5A);
        Assert.Equal(0x5A, Cmos(0x50));
        _m.Out8(0x72, 0x10); _m.Out8(0x73, 0xA5);             // upper bank
        _m.Out8(0x72, 0x10);
        Assert.Equal(0xA5, _m.In8(0x73));
    }

    [Fact]
    public void PeriodicInterruptSetsFlagsAndRegisterCClearsThem()
    {
        var rtc = _m.Dev<DevRtc>();
        SetCmos(0x0A, 0x26);                                  // 1024 Hz
        SetCmos(0x0B, 0x02 | 0x40);                           // PIE
        Assert.True(TestMachine.WaitUntil(() => (rtc.PeekCmos(0x0C) & 0xC0) == 0xC0, 2000));
        SetCmos(0x0B, 0x02);                                  // PIE off: no more timer, IRQF drops with it
        Assert.Equal(0x40, Cmos(0x0C) & 0xC0);                // PF stays until register C is read
        Assert.Equal(0, rtc.PeekCmos(0x0C));
        Thread.Sleep(5);
        Assert.Equal(0x40, Cmos(0x0C) & 0xC0);                // PF without PIE: flag only
        // UIP is set for 244 µs before each update: poll as a guest does, without sleeping.
        var sw = System.Diagnostics.Stopwatch.StartNew();
        bool uip = false;
        while (!uip && sw.ElapsedMilliseconds < 6000) uip = (Cmos(0x0A) & 0x80) != 0;
        Assert.True(uip);
    }
}
