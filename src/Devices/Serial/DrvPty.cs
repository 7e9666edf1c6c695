using System.Text;
using SharpBox.Vmm.Pdm;

namespace SharpBox.Devices.Serial;

/// <summary>
/// --uart-mode pty [LINK]: a pseudo-terminal pair; the guest's port is the master side, the slave
/// (/dev/pts/N) is what a terminal program opens (a symlink LINK points to it when given). The device
/// keeps its own slave descriptor open in raw mode, so the line exists (no hang-ups) before and between
/// users, and output waits in the terminal's buffer up to its size.
/// </summary>
public sealed unsafe class DrvPty : FdCharDriver
{
    private readonly int _slaveFd;
    private readonly string? _link;
    public string SlavePath { get; }
    public override string Description => _link is null ? $"pty {SlavePath}" : $"pty {SlavePath} (link {_link})";

    public DrvPty(IoThread io, string? link) : base(io)
    {
        int master = LinuxIo.posix_openpt(LinuxIo.O_RDWR | LinuxIo.O_NOCTTY | LinuxIo.O_CLOEXEC);
        if (master < 0) throw new IOException($"serial port pty: posix_openpt: {LinuxIo.ErrorText(LinuxIo.Errno)}");
        byte* name = stackalloc byte[128];
        if (LinuxIo.grantpt(master) != 0 || LinuxIo.unlockpt(master) != 0 || LinuxIo.ptsname_r(master, name, 128) != 0)
        {
            int e = LinuxIo.Errno;
            LinuxIo.close(master);
            throw new IOException($"serial port pty: cannot set up the pseudo-terminal: {LinuxIo.ErrorText(e)}");
        }
        SlavePath = Encoding.UTF8.GetString(new ReadOnlySpan<byte>(name, IndexOfNul(name)));
        _slaveFd = LinuxIo.open(SlavePath, LinuxIo.O_RDWR | LinuxIo.O_NOCTTY | LinuxIo.O_CLOEXEC, 0);
        if (_slaveFd < 0)
        {
            int e = LinuxIo.Errno;
            LinuxIo.close(master);
            throw new IOException($"serial port pty: open {SlavePath}: {LinuxIo.ErrorText(e)}");
        }
        byte* termios = stackalloc byte[256];
        if (LinuxIo.tcgetattr(_slaveFd, termios) == 0) { LinuxIo.cfmakeraw(termios); LinuxIo.tcsetattr(_slaveFd, 0, termios); }
        if (link is not null)
        {
            _link = Path.GetFullPath(link);
            if (LinuxIo.FileMode(_link) is uint mode)
            {
                if ((mode & LinuxIo.S_IFMT) != LinuxIo.S_IFLNK)
                {
                    LinuxIo.close(_slaveFd); LinuxIo.close(master);
                    throw new IOException($"serial port pty: '{_link}' exists and is not a symbolic link");
                }
                File.Delete(_link);
            }
            File.CreateSymbolicLink(_link, SlavePath);
        }
        LinuxIo.SetNonBlocking(master);
        AttachFd(master, readable: true);
    }

    private static int IndexOfNul(byte* s) { int i = 0; while (i < 128 && s[i] != 0) i++; return i; }

    // The terminal side closing is not the end of the line: our own slave descriptor keeps it open.
    protected override void OnReadEnd(int fd) { }

    public override void Dispose()
    {
        base.Dispose();
        LinuxIo.close(_slaveFd);
        if (_link is not null)
            try { if (File.ResolveLinkTarget(_link, false) is not null) File.Delete(_link); } catch (IOException) { }
    }
}
