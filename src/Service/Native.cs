using System.Runtime.InteropServices;

namespace SharpBox.Service;

/// <summary>The libc calls a daemon needs that .NET does not expose.</summary>
internal static partial class Native
{
    [LibraryImport("libc", EntryPoint = "setsid", SetLastError = true)]
    public static partial int SetSid();

    [LibraryImport("libc", EntryPoint = "dup2", SetLastError = true)]
    public static partial int Dup2(int oldFd, int newFd);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    public static partial uint GetEuid();

    [LibraryImport("libc", EntryPoint = "chmod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Chmod(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);

    /// <summary>Points stdin, stdout and stderr at /dev/null (after the READY handshake, the client's pipe is gone).</summary>
    public static void DetachStdio()
    {
        int fd = SharpBox.Runtime.Posix.Open("/dev/null", SharpBox.Runtime.Posix.O_RDWR, 0);
        if (fd < 0)
            return;
        Dup2(fd, 0);
        Dup2(fd, 1);
        Dup2(fd, 2);
        if (fd > 2)
            SharpBox.Runtime.Posix.Close(fd);
    }

    /// <summary>Whether a process exists (signal 0).</summary>
    public static bool ProcessExists(int pid) => pid > 0 && (Kill(pid, 0) == 0 || Marshal.GetLastPInvokeError() == 1 /* EPERM */);
}
