using SharpBox.Devices.Pc;

namespace SharpBox.Devices.Tests.Pc;

[Collection("Timing")]
public sealed class PitTests : IDisposable
{
    private readonly TestMachine _m = new();
    public void Dispose() => _m.Dispose();

    private ushort ReadCounter(int ch)
    {
        _m.Out8(0x43, (byte)(ch << 6));                       // latch
        byte lo = _m.In8((ushort)(0x40 + ch));
        byte hi = _m.In8((ushort)(0x40 + ch));
        return (ushort)(lo | hi << 8);
    }

    [Fact]
    public void CounterDecrementsAtTheRightRate()
    {
        _m.Out8(0x43, 0x34);                                  // ch0, lo/hi, mode 2
        _m.Out8(0x40, 0x00); _m.Out8(0x40, 0x00);             // 65536
        // The 16-bit counter wraps every 55 ms: measure a short interval, and retry when the test thread
        // was descheduled for too long (a loaded machine) rather than misread a wrap.
        for (int attempt = 0; attempt < 20; attempt++)
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            ushort a = ReadCounter(0);
            Thread.Sleep(10);
            ushort b = ReadCounter(0);
            double elapsed = sw.Elapsed.TotalSeconds;
            if (elapsed > 0.045) continue;
            int ticks = (a - b + 65536) % 65536;
            Assert.InRange(ticks, DevPit.Frequency * 0.005, DevPit.Frequency * elapsed * 1.05 + 50);
            return;
        }
        Assert.Fail("never got a 10 ms sleep shorter than 45 ms");
    }

    [Fact]
    public void ReadBackStatusAndLatchedCount()
    {
        _m.Out8(0x43, 0xB0);                                  // ch2, lo/hi, mode 0
        _m.Out8(0x42, 0x34); _m.Out8(0x42, 0x12);
        _m.Out8(0x43, 0xE8);                                  // read-back status of ch2 only (bit 5 set: no count latch)
        byte status = _m.In8(0x42);
        Assert.Equal(0x30, status & 0x3F);                    // lo/hi access, mode 0, binary
        Assert.Equal(0, status & 0x80);                       // OUT low while counting in mode 0 (gate irrelevant for status)
    }

    [Fact]
    public void Channel2GateAndOutputThroughPort61()
    {
        _m.Out8(0x61, 0x01);                                  // gate 2 on, speaker off
        _m.Out8(0x43, 0xB0);                                  // ch2 mode 0
        _m.Out8(0x42, 0xFF); _m.Out8(0x42, 0x02);             // 0x2FF ticks ≈ 643 µs
        Assert.Equal(0, _m.In8(0x61) & 0x20);
        Assert.True(TestMachine.WaitUntil(() => (_m.In8(0x61) & 0x20) != 0, 2000));
        Assert.Equal(0x01, _m.In8(0x61) & 0x0F);
        // The refresh bit toggles.
        bool seen0 = false, seen1 = false;
        for (int i = 0; i < 100_000 && !(seen0 && seen1); i++) { if ((_m.In8(0x61) & 0x10) != 0) seen1 = true; else seen0 = true; }
        Assert.True(seen0 && seen1);
    }

    [Fact]
    public void PeriodicModeRaisesIrq0()
    {
        var pic = _m.Dev<DevPic>();
        _m.Out8(0x20, 0x11); _m.Out8(0x21, 0x20); _m.Out8(0x21, 0x04); _m.Out8(0x21, 0x03);   // auto-EOI
        _m.Out8(0x21, 0xFE);
        _m.Out8(0x43, 0x34);
        _m.Out8(0x40, 0xA9); _m.Out8(0x40, 0x04);             // 1193 → 1 kHz
        int acks = 0;
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (sw.ElapsedMilliseconds < 200)
        {
            if (pic.OutputHigh) { Assert.Equal(0x20, pic.Acknowledge()); acks++; }
            Thread.Sleep(0);
        }
        Assert.True(acks is >= 30 and <= 260, $"{acks} IRQ0s in 200 ms at 1 kHz");
    }
}
