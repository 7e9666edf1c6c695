using SharpBox.Devices.Pc;
using SharpBox.Vmm.Pdm;

namespace SharpBox.Devices.Tests.Pc;

public sealed class PicTests : IDisposable
{
    private readonly TestMachine _m = new(start: false);
    private DevPic Pic => _m.Dev<DevPic>();
    public void Dispose() => _m.Dispose();

    /// <summary>The initialisation Linux and BIOSes use: master at 0x20, slave at 0x28, cascade on IRQ2.</summary>
    private void Init(bool autoEoi = false)
    {
        _m.Out8(0x20, 0x11); _m.Out8(0x21, 0x20); _m.Out8(0x21, 0x04); _m.Out8(0x21, (byte)(autoEoi ? 0x03 : 0x01));
        _m.Out8(0xA0, 0x11); _m.Out8(0xA1, 0x28); _m.Out8(0xA1, 0x02); _m.Out8(0xA1, 0x01);
        _m.Out8(0x21, 0x00); _m.Out8(0xA1, 0x00);
    }

    private void Raise(int irq, bool level) { using (_m.Vm.Pdm.Irqs.IrqLock.EnterScope()) Pic.SetPin(irq, level); }

    [Fact]
    public void EdgeInterruptIsAcknowledgedWithItsVectorAndEoiClearsService()
    {
        Init();
        Assert.False(Pic.OutputHigh);
        Raise(4, true);
        Assert.True(Pic.OutputHigh);
        Assert.Equal(0x24, Pic.Acknowledge());
        Assert.False(Pic.OutputHigh);
        _m.Out8(0x20, 0x0B);                       // OCW3: read ISR
        Assert.Equal(0x10, _m.In8(0x20));
        Raise(4, false);
        Raise(4, true);                            // new edge while in service: pending, not delivered
        Assert.False(Pic.OutputHigh);
        _m.Out8(0x20, 0x20);                       // non-specific EOI
        Assert.True(Pic.OutputHigh);
        Assert.Equal(0x24, Pic.Acknowledge());
    }

    [Fact]
    public void PriorityMaskingAndCascade()
    {
        Init();
        Raise(1, true);
        Raise(12, true);
        Assert.Equal(0x21, Pic.Acknowledge());     // IRQ1 beats IRQ2 (the cascade)
        _m.Out8(0x20, 0x20);
        Assert.Equal(0x2C, Pic.Acknowledge());     // then the slave's IRQ12
        _m.Out8(0xA0, 0x20); _m.Out8(0x20, 0x20);
        _m.Out8(0x21, 0x08);                       // mask IRQ3
        Raise(3, true);
        Assert.False(Pic.OutputHigh);
        Assert.Equal(0x08, _m.In8(0x21));
        _m.Out8(0x20, 0x0A);                       // read IRR
        Assert.Equal(0x08, _m.In8(0x20) & 0x08);
        _m.Out8(0x21, 0x00);
        Assert.True(Pic.OutputHigh);
        Assert.Equal(0x23, Pic.Acknowledge());
    }

    [Fact]
    public void SpuriousWhenTheRequestVanished()
    {
        Init();
        Assert.Equal(0x27, Pic.Acknowledge());
        Raise(9, true);
        Raise(9, false);
        // Edge latched in IRR, so it still comes through the slave.
        Assert.Equal(0x29, Pic.Acknowledge());
    }

    [Fact]
    public void LevelTriggeredViaElcrStaysPendingWhileHigh()
    {
        Init();
        _m.Out8(0x4D1, 0x02);                      // IRQ9 level triggered
        Assert.Equal(0x02, _m.In8(0x4D1));
        _m.Out8(0x4D0, 0xFF);
        Assert.Equal(0xF8, _m.In8(0x4D0));         // IRQ0-2 cannot be level triggered
        Raise(9, true);
        Assert.Equal(0x29, Pic.Acknowledge());
        _m.Out8(0xA0, 0x20); _m.Out8(0x20, 0x20);
        Assert.True(Pic.OutputHigh);               // still high: requested again
        Raise(9, false);
        // The cascade input of the master is edge triggered: the request latched there now finds
        // nothing on the slave, which answers with its spurious vector (IRQ15), as real 8259s do.
        Assert.Equal(0x2F, Pic.Acknowledge());
        Assert.False(Pic.OutputHigh);
    }

    [Fact]
    public void AutoEoiPollModeAndSpecificRotation()
    {
        Init(autoEoi: true);
        Raise(5, true);
        Assert.Equal(0x25, Pic.Acknowledge());
        _m.Out8(0x20, 0x0B);
        Assert.Equal(0, _m.In8(0x20));             // auto-EOI: nothing in service
        Raise(6, true);
        _m.Out8(0x20, 0x0C);                       // OCW3 poll
        Assert.Equal(0x86, _m.In8(0x20));
        _m.Out8(0x20, 0xC4);                       // set priority: IRQ4 lowest → IRQ5 highest
        Raise(3, false); Raise(3, true);
        Raise(7, false); Raise(7, true);
        Assert.Equal(0x27, Pic.Acknowledge());     // IRQ7 now outranks IRQ3
    }

    [Fact]
    public void SavedStateRoundTrip()
    {
        Init();
        Raise(1, true);
        _m.Out8(0x21, 0x40);
        string path = Path.Combine(Path.GetTempPath(), $"pic-{Guid.NewGuid():N}.sav");
        try
        {
            var unit = _m.Vm.Ssm.Units.Single(u => u.Name == "i8259");
            var ssm = new Vmm.Ssm.SavedStateManager();
            ssm.Register(unit);
            ssm.Save(path);
            using var m2 = new TestMachine(start: false);
            var ssm2 = new Vmm.Ssm.SavedStateManager();
            ssm2.Register(m2.Vm.Ssm.Units.Single(u => u.Name == "i8259"));
            ssm2.Load(path);
            Assert.Equal(0x40, m2.In8(0x21));
            Assert.True(m2.Dev<DevPic>().OutputHigh);
            Assert.Equal(0x21, m2.Dev<DevPic>().Acknowledge());
        }
        finally { File.Delete(path); }
    }
}
