namespace SharpBox.Devices.Serial;

/// <summary>The device side of a character stream (the UART), as a host back end sees it.</summary>
public interface ICharPort
{
    /// <summary>
    /// Host → guest bytes (called on the I/O thread). Returns how many were taken; when fewer than
    /// offered, the driver keeps the rest and waits for <see cref="ICharDriver.ReceiveReady"/>.
    /// </summary>
    int Receive(ReadOnlySpan<byte> data);
    /// <summary>The host side connected or went away (drives DCD/DSR/CTS as a cable would).</summary>
    void ConnectionChanged(bool connected);
}

/// <summary>
/// A host back end for a serial port (VirtualBox's --uart-mode): where the guest's bytes go and
/// where its input comes from. Calls from the device never block and never call back synchronously.
/// </summary>
public interface ICharDriver : IDisposable
{
    /// <summary>A one-line description for the log ("file /tmp/x.log", "pty /dev/pts/3").</summary>
    string Description { get; }
    void Attach(ICharPort port);
    /// <summary>Guest → host bytes. If the host cannot take them now they are buffered (bounded) or dropped.</summary>
    void Write(ReadOnlySpan<byte> data);
    /// <summary>The device has room again after refusing input.</summary>
    void ReceiveReady();
    /// <summary>True when a host peer is present (for the modem status lines).</summary>
    bool Connected { get; }
}

/// <summary>--uart-mode disconnected: the port exists, nothing is attached (output is discarded).</summary>
public sealed class DrvCharNull : ICharDriver
{
    public string Description => "disconnected";
    public bool Connected => false;
    public void Attach(ICharPort port) { }
    public void Write(ReadOnlySpan<byte> data) { }
    public void ReceiveReady() { }
    public void Dispose() { }
}
