namespace SharpBox.Runtime;

/// <summary>
/// Crash-safe replacement of a file, as VirtualBox saves its settings: the new content goes to
/// <c>&lt;file&gt;-tmp</c> and is fsynced; the current file becomes <c>&lt;file&gt;-prev</c> (a hard link,
/// so the target name never disappears); the temporary file is renamed over the target and the
/// directory is fsynced. A failure at any point leaves the old file intact.
/// </summary>
public static class AtomicFile
{
    public const string TempSuffix = "-tmp";
    public const string PrevSuffix = "-prev";

    /// <summary>Writes <paramref name="content"/> to <paramref name="path"/> atomically.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> content, bool keepPrevious = true)
    {
        string full = System.IO.Path.GetFullPath(path);
        string dir = System.IO.Path.GetDirectoryName(full) ?? "/";
        string tmp = full + TempSuffix;
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 4096, FileOptions.None))
            {
                fs.Write(content);
                fs.Flush(flushToDisk: true); // fsync(2)
            }

            if (keepPrevious && File.Exists(full))
            {
                string prev = full + PrevSuffix;
                File.Delete(prev);
                if (Posix.Link(full, prev) != 0)
                    File.Copy(full, prev, overwrite: true); // File systems without hard links.
            }

            File.Move(tmp, full, overwrite: true); // rename(2): atomic replacement.
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
        Posix.FsyncDirectory(dir);
    }

    public static void WriteAllText(string path, string content, bool keepPrevious = true)
        => WriteAllBytes(path, new System.Text.UTF8Encoding(false).GetBytes(content), keepPrevious);
}
