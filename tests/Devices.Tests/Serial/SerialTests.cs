using System.Net;
using System.Net.Sockets;
using System.Text;
using SharpBox.Devices.Serial;

namespace SharpBox.Devices.Tests.Serial;

public sealed class SerialTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sbx-uart-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private TestMachine Machine(string mode, string? location) =>
        new(new PcMachineConfig { RamBytes = 32UL << 20, Uarts = [new UartConfig(0x3F8, 4, mode, location)] });

    private static void InitUart(TestMachine m)
    {
        m.Out8(0x3FB, 0x80); m.Out8(0x3F8, 1); m.Out8(0x3F9, 0);     // 115200
        m.Out8(0x3FB, 0x03);                                            // 8N1
        m.Out8(0x3FA, 0xC7);                                            // FIFO on, clear, trigger 14
        m.Out8(0x3FC, 0x0B);                                            // DTR, RTS, OUT2
    }

    private static void Send(TestMachine m, string s) { foreach (char c in s) m.Out8(0x3F8, (byte)c); }

    private static string Receive(TestMachine m, int n, int ms = 5000)
    {
        var sb = new StringBuilder();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (sb.Length < n && sw.ElapsedMilliseconds < ms)
        {
            if ((m.In8(0x3FD) & 1) != 0) sb.Append((char)m.In8(0x3F8));
            else Thread.Sleep(1);
        }
        return sb.ToString();
    }

    [Fact]
    public void RegistersLoopbackAndInterruptIdentification()
    {
        using var m = Machine("disconnected", null);
        InitUart(m);
        Assert.Equal(0xC1, m.In8(0x3FA));                   // FIFOs enabled, no interrupt
        m.Out8(0x3FF, 0x5A);
        Assert.Equal(0x5A, m.In8(0x3FF));
        Assert.Equal(0x60, m.In8(0x3FD));                   // THRE | TEMT
        // Enabling THRE interrupts with an empty transmitter interrupts at once (Linux checks this).
        m.Out8(0x3F9, 0x02);
        Assert.Equal(0xC2, m.In8(0x3FA));
        Assert.Equal(0xC1, m.In8(0x3FA));                   // reading IIR acknowledged it
        // Loopback: transmitted bytes come back, modem outputs show as inputs.
        m.Out8(0x3FC, 0x10 | 0x0B);
        Assert.Equal(0xB0, m.In8(0x3FE) & 0xF0);            // CTS (RTS), DSR (DTR), DCD (OUT2)
        m.Out8(0x3F9, 0x01);
        Send(m, "hi");
        Assert.Equal(1, m.In8(0x3FD) & 1);
        Assert.Equal("hi", Receive(m, 2));
        // Below the trigger level the character timeout reports the data.
        m.Out8(0x3F8, (byte)'x');
        Assert.True(TestMachine.WaitUntil(() => (m.In8(0x3FA) & 0x0F) == 0x0C, 2000));
        Assert.Equal("x", Receive(m, 1));
        // Divisor latch access.
        m.Out8(0x3FB, 0x83); m.Out8(0x3F8, 0x0C);
        Assert.Equal(0x0C, m.In8(0x3F8));
        m.Out8(0x3FB, 0x03);
        // Overrun in loopback when the FIFO is full.
        for (int i = 0; i < 20; i++) m.Out8(0x3F8, (byte)i);
        Assert.Equal(0x02, m.In8(0x3FD) & 0x02);
        Assert.Equal(0, m.In8(0x3FD) & 0x02);               // reading LSR clears it
    }

    [Fact]
    public void Out2GatesTheIrqLine()
    {
        using var m = Machine("disconnected", null);
        var pic = m.Dev<SharpBox.Devices.Pc.DevPic>();
        m.Out8(0x20, 0x11); m.Out8(0x21, 0x20); m.Out8(0x21, 0x04); m.Out8(0x21, 0x01); m.Out8(0x21, 0xEF);
        InitUart(m);
        m.Out8(0x3FC, 0x03);                                // OUT2 off
        m.Out8(0x3F9, 0x02);
        Assert.False(pic.OutputHigh);
        m.Out8(0x3FC, 0x0B);                                // OUT2 on: the pending THRE reaches IRQ4
        Assert.True(pic.OutputHigh);
        Assert.Equal(0x24, pic.Acknowledge());
    }

    [Fact]
    public void FileModeWritesTheGuestsOutput()
    {
        string log = Path.Combine(_dir, "com1.log");
        using (var m = Machine("file", log))
        {
            InitUart(m);
            Send(m, "INIT-READY 1.23\n");
        }
        Assert.Equal("INIT-READY 1.23\n", File.ReadAllText(log));
    }

    [Fact]
    public void UnixServerAndClientCarryBothDirections()
    {
        string sock = Path.Combine(_dir, "com1.sock");
        using var m = Machine("server", sock);
        InitUart(m);
        Send(m, "lost");                                    // nobody connected yet: dropped
        using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        client.Connect(new UnixDomainSocketEndPoint(sock));
        Assert.True(TestMachine.WaitUntil(() => (m.In8(0x3FE) & 0x80) != 0));   // DCD: a peer is there
        Send(m, "to host");
        var buf = new byte[64];
        client.ReceiveTimeout = 5000;
        int n = client.Receive(buf);
        Assert.Equal("to host", Encoding.ASCII.GetString(buf, 0, n));
        // More than the FIFO holds: the back end waits for the guest to drain it.
        string big = new string('z', 100);
        client.Send(Encoding.ASCII.GetBytes(big));
        Assert.Equal(big, Receive(m, 100));

        // Client mode connects to a listening socket.
        string sock2 = Path.Combine(_dir, "listen.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(sock2));
        listener.Listen(1);
        using var m2 = Machine("client", sock2);
        using var peer = listener.Accept();
        InitUart(m2);
        peer.Send("ping"u8.ToArray());
        Assert.Equal("ping", Receive(m2, 4));
    }

    [Fact]
    public void TcpServerAndClient()
    {
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0)) { probe.Start(); port = ((IPEndPoint)probe.LocalEndpoint).Port; }
        using var m = Machine("tcpserver", port.ToString());
        InitUart(m);
        using var c = new TcpClient();
        c.Connect(IPAddress.Loopback, port);
        var s = c.GetStream();
        s.Write("abc"u8);
        Assert.Equal("abc", Receive(m, 3));
        Assert.True(TestMachine.WaitUntil(() => (m.In8(0x3FE) & 0x80) != 0));
        Send(m, "xyz");
        var buf = new byte[3];
        s.ReadTimeout = 5000;
        s.ReadExactly(buf);
        Assert.Equal("xyz", Encoding.ASCII.GetString(buf));

        var server = new TcpListener(IPAddress.Loopback, 0);
        server.Start();
        int p2 = ((IPEndPoint)server.LocalEndpoint).Port;
        using var m2 = Machine("tcpclient", $"127.0.0.1:{p2}");
        using var accepted = server.AcceptTcpClient();
        server.Stop();
        InitUart(m2);
        Send(m2, "out");
        var b2 = new byte[3];
        accepted.GetStream().ReadTimeout = 5000;
        accepted.GetStream().ReadExactly(b2);
        Assert.Equal("out", Encoding.ASCII.GetString(b2));
    }

    [Fact]
    public void PtyModeCreatesATerminalWithALink()
    {
        string link = Path.Combine(_dir, "ttyS0");
        using var m = Machine("pty", link);
        var drv = (DrvPty)m.Dev<DevSerial>().Driver;
        Assert.StartsWith("/dev/pts/", drv.SlavePath);
        Assert.Equal(drv.SlavePath, File.ResolveLinkTarget(link, false)!.FullName);
        InitUart(m);
        using var tty = new FileStream(link, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, 1, false);
        tty.Write("in"u8);
        tty.Flush();
        Assert.Equal("in", Receive(m, 2));
        Send(m, "out");
        var buf = new byte[3];
        int got = 0;
        while (got < 3) got += tty.Read(buf, got, 3 - got);
        Assert.Equal("out", Encoding.ASCII.GetString(buf));
    }

    [Fact]
    public void BadBackEndsFailWithAClearMessage()
    {
        var e = Assert.ThrowsAny<Exception>(() => Machine("client", Path.Combine(_dir, "nobody.sock")));
        Assert.Contains("nobody.sock", e.Message);
        Assert.Contains("connect", e.Message);
        File.WriteAllText(Path.Combine(_dir, "plain"), "x");
        var e2 = Assert.ThrowsAny<Exception>(() => Machine("server", Path.Combine(_dir, "plain")));
        Assert.Contains("not a socket", e2.Message);
        var e3 = Assert.ThrowsAny<Exception>(() => Machine("teleport", "x"));
        Assert.Contains("teleport", e3.Message);
        var e4 = Assert.ThrowsAny<Exception>(() => Machine("tcpclient", "localhost"));
        Assert.Contains("HOST:PORT", e4.Message);
        Assert.ThrowsAny<Exception>(() => Machine("file", "/proc/nonexistent/dir/file"));
    }
}
