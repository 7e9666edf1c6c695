using SharpBox.Devices.Input;

namespace SharpBox.Devices.Tests.Input;

public sealed class I8042Tests : IDisposable
{
    private readonly TestMachine _m = new(start: false);
    public void Dispose() => _m.Dispose();

    private byte ReadData()
    {
        Assert.True((_m.In8(0x64) & 1) != 0, "output buffer empty");
        return _m.In8(0x60);
    }

    [Fact]
    public void ControllerSelfTestCommandByteAndPortTests()
    {
        _m.Out8(0x64, 0xAA);
        Assert.Equal(0x55, ReadData());
        Assert.Equal(0x04, _m.In8(0x64) & 0x04);              // system flag
        _m.Out8(0x64, 0x20);
        byte cb = ReadData();
        Assert.Equal(0x47, cb);                                // IRQs on, SYS, translation
        _m.Out8(0x64, 0x60); _m.Out8(0x60, 0x45);
        _m.Out8(0x64, 0x20);
        Assert.Equal(0x45, ReadData());
        _m.Out8(0x64, 0xAB); Assert.Equal(0x00, ReadData());
        _m.Out8(0x64, 0xA9); Assert.Equal(0x00, ReadData());
        Assert.Equal(0, _m.In8(0x64) & 0x02);                 // never busy
    }

    [Fact]
    public void KeyboardAndMouseCommandsReply()
    {
        _m.Out8(0x60, 0xFF);
        Assert.Equal(0xFA, ReadData());
        Assert.Equal(0xAA, ReadData());
        _m.Out8(0x60, 0xF2);
        Assert.Equal(0xFA, ReadData());
        Assert.Equal(0xAB, ReadData());
        Assert.Equal(0x41, ReadData());                        // translated ID
        _m.Out8(0x60, 0xED); Assert.Equal(0xFA, ReadData());
        _m.Out8(0x60, 0x07); Assert.Equal(0xFA, ReadData());
        _m.Out8(0x64, 0xD4); _m.Out8(0x60, 0xFF);
        Assert.Equal(0xFA, ReadData());
        Assert.Equal(0x20, _m.In8(0x64) & 0x20);              // the byte came from the mouse
        Assert.Equal(0xAA, ReadData());
        Assert.Equal(0x00, ReadData());
        _m.Out8(0x64, 0xD4); _m.Out8(0x60, 0xF2);
        Assert.Equal(0xFA, ReadData());
        Assert.Equal(0x00, ReadData());
        Assert.Equal(0, _m.In8(0x64) & 1);
    }

    [Fact]
    public void OutputBufferRaisesIrq1()
    {
        var pic = _m.Dev<SharpBox.Devices.Pc.DevPic>();
        _m.Out8(0x20, 0x11); _m.Out8(0x21, 0x20); _m.Out8(0x21, 0x04); _m.Out8(0x21, 0x01); _m.Out8(0x21, 0xFD);
        _m.Out8(0x60, 0xEE);
        Assert.True(pic.OutputHigh);
        Assert.Equal(0x21, pic.Acknowledge());
        Assert.Equal(0xEE, _m.In8(0x60));
        _m.Dev<DevI8042>().KeyboardInput([0x1E, 0x9E]);
        Assert.Equal(0x1E, _m.In8(0x60));
        Assert.Equal(0x9E, _m.In8(0x60));
    }

    [Fact]
    public void A20AndResetLines()
    {
        var map = _m.Vm.PhysMap;
        _m.Out8(0x64, 0xD1); _m.Out8(0x60, 0xDD);             // output port with A20 off
        Assert.False(map.A20Enabled);
        _m.Out8(0x64, 0xD0);
        Assert.Equal(0, ReadData() & 0x02);
        _m.Out8(0x64, 0xDF);
        Assert.True(map.A20Enabled);
        Assert.Equal(0x02, _m.In8(0x92) & 0x02);
        _m.Out8(0x92, 0x00);
        Assert.False(map.A20Enabled);
        Assert.False(_m.Requests.Any("reset"));
        _m.Out8(0x64, 0xFE);
        Assert.True(_m.Requests.Any("reset: i8042"));
        _m.Out8(0x92, 0x01);
        Assert.True(_m.Requests.Any("reset: port 0x92"));
    }
}
