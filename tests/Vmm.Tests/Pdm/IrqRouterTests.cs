using SharpBox.Vmm.Pdm;

namespace SharpBox.Vmm.Tests.Pdm;

public class IrqRouterTests
{
    private sealed class Sink : IInterruptPinSink
    {
        public readonly bool[] Pins = new bool[24];
        public readonly List<(int, bool)> Calls = new();
        public void SetPin(int pin, bool level) { Pins[pin] = level; Calls.Add((pin, level)); }
    }

    private sealed class Steering(int[] map) : IPciIrqSteering
    {
        public int[] Map = map;
        public int IsaIrqOf(int pirq) => Map[pirq];
    }

    [Fact]
    public void IsaLinesReachPicAndIoApicWithIrq0OnPin2()
    {
        var r = new IrqRouter();
        var pic = new Sink(); var io = new Sink();
        r.Pic = pic; r.IoApic = io;
        var irq0 = r.CreateIsaLine(0);
        var irq4 = r.CreateIsaLine(4);
        irq0.SetLevel(true);
        Assert.True(pic.Pins[0]);
        Assert.True(io.Pins[2]);
        Assert.False(io.Pins[0]);
        irq4.SetLevel(true);
        Assert.True(pic.Pins[4] && io.Pins[4]);
        irq4.SetLevel(false);
        Assert.False(pic.Pins[4] || io.Pins[4]);
    }

    [Fact]
    public void SharedLinesAreWiredOr()
    {
        var r = new IrqRouter();
        var pic = new Sink();
        r.Pic = pic;
        var a = r.CreateIsaLine(9);
        var b = r.CreateIsaLine(9);
        a.SetLevel(true);
        b.SetLevel(true);
        a.SetLevel(false);
        Assert.True(pic.Pins[9]);       // b still holds it
        b.SetLevel(false);
        Assert.False(pic.Pins[9]);
    }

    [Fact]
    public void PciPirqsGoToGsi16To19AndSteeredPicPins()
    {
        var r = new IrqRouter();
        var pic = new Sink(); var io = new Sink();
        var steer = new Steering([10, 10, 11, -1]);
        r.Pic = pic; r.IoApic = io; r.PciSteering = steer;
        var pirqB = r.CreatePirqLine(1);
        var pirqD = r.CreatePirqLine(3);
        pirqB.SetLevel(true);
        Assert.True(io.Pins[17]);
        Assert.True(pic.Pins[10]);
        pirqD.SetLevel(true);
        Assert.True(io.Pins[19]);
        Assert.False(pic.Pins[11]);
        steer.Map[1] = 11;              // the guest re-steers PIRQB
        r.RecomputePicFromPirqs();
        Assert.False(pic.Pins[10]);
        Assert.True(pic.Pins[11]);
    }

    [Fact]
    public void HpetLegacyReplacementCutsOffPitAndRtc()
    {
        var r = new IrqRouter();
        var pic = new Sink();
        r.Pic = pic;
        var pit = r.CreateIsaLine(0);
        var hpet0 = r.CreateIsaLine(0, fromHpetLegacy: true);
        pit.SetLevel(true);
        Assert.True(pic.Pins[0]);
        pit.SetLevel(false);
        r.HpetLegacyReplacement = true;
        pit.SetLevel(true);
        Assert.False(pic.Pins[0]);
        hpet0.SetLevel(true);
        Assert.True(pic.Pins[0]);
        Assert.Throws<ArgumentOutOfRangeException>(() => r.CreateIsaLine(16));
    }
}
