using System.Runtime.InteropServices;

namespace SharpBox.Main.Impl;

/// <summary>
/// Identity of a file's current content as cheaply as one stat(2) tells it: inode, size and
/// modification time. Saves replace files by rename (new inode), so a changed stamp means someone
/// wrote the file since it was read; a long-lived VirtualBox object (VBoxSVC) re-reads such files
/// instead of serving stale settings.
/// </summary>
internal readonly partial record struct FileStamp(ulong Inode, long Size, long MTimeSec, long MTimeNsec)
{
    [LibraryImport("libc", EntryPoint = "stat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int Stat(string path, byte* buf);

    /// <summary>The file's stamp, or default when it cannot be stat'ed.</summary>
    public static unsafe FileStamp Of(string path)
    {
        // struct stat on x86-64 and arm64 (generic): st_ino at 8, st_size at 48, st_mtim at 88.
        byte* buf = stackalloc byte[256];
        if (Stat(path, buf) != 0)
            return default;
        return new FileStamp(*(ulong*)(buf + 8), *(long*)(buf + 48), *(long*)(buf + 88), *(long*)(buf + 96));
    }
}
