using SharpBox.Vmm.Pdm;

namespace SharpBox.Devices.Serial;

/// <summary>--uart-mode file PATH: everything the guest sends is written to PATH (created or truncated).</summary>
public sealed class DrvRawFile : FdCharDriver
{
    private readonly string _path;
    public override string Description => $"file {_path}";

    public DrvRawFile(IoThread io, string path) : base(io)
    {
        _path = Path.GetFullPath(path);
        int fd = LinuxIo.open(_path, LinuxIo.O_WRONLY | LinuxIo.O_CREAT | LinuxIo.O_TRUNC | LinuxIo.O_CLOEXEC | LinuxIo.O_NOCTTY, 0x1A4 /* 0644 */);
        if (fd < 0) throw new IOException($"serial port output file '{_path}': {LinuxIo.ErrorText(LinuxIo.Errno)}");
        AttachFd(fd, readable: false, pollable: false);
    }
}
