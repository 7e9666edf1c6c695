using SharpBox.Vmm.Pdm;

namespace SharpBox.Devices.Serial;

/// <summary>
/// --uart-mode DEVICE: a host terminal device (a real serial port such as /dev/ttyS0 or /dev/ttyUSB0,
/// or an existing pty slave), opened non-blocking in raw mode; bytes pass through unchanged. A hang-up
/// disconnects the port (later output is dropped), as when a cable is pulled.
/// </summary>
public sealed unsafe class DrvHostSerial : FdCharDriver
{
    private readonly string _path;
    public override string Description => $"host device {_path}";

    public DrvHostSerial(IoThread io, string path) : base(io)
    {
        _path = path;
        if (LinuxIo.FileMode(path) is not uint mode)
            throw new IOException($"serial host device '{path}' does not exist");
        if ((mode & LinuxIo.S_IFMT) != 0x2000 /* S_IFCHR */)
            throw new IOException($"serial host device '{path}' is not a character device");
        int fd = LinuxIo.open(path, LinuxIo.O_RDWR | LinuxIo.O_NOCTTY | LinuxIo.O_NONBLOCK | LinuxIo.O_CLOEXEC, 0);
        if (fd < 0) throw new IOException($"serial host device '{path}': {LinuxIo.ErrorText(LinuxIo.Errno)}");
        byte* termios = stackalloc byte[256];
        if (LinuxIo.tcgetattr(fd, termios) == 0) { LinuxIo.cfmakeraw(termios); LinuxIo.tcsetattr(fd, 0, termios); }
        AttachFd(fd, readable: true);
    }
}
