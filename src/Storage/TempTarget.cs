namespace SharpBox.Storage;

/// <summary>
/// Builds a new image's files in a hidden scratch folder beside the target, under their final names
/// (VMDK descriptors refer to their extents by name), and moves them into place only when complete.
/// Nothing appears at the target paths unless the whole job succeeded; failures delete the scratch.
/// </summary>
internal sealed class TempTarget : IDisposable
{
    private readonly string _dir;
    private readonly List<string> _finals = new();

    public TempTarget(string finalPath)
    {
        string full = System.IO.Path.GetFullPath(finalPath);
        string folder = System.IO.Path.GetDirectoryName(full) ?? "/";
        if (!Directory.Exists(folder))
            throw new DiskImageException(finalPath, $"folder {folder} does not exist");
        _dir = System.IO.Path.Combine(folder, $".{System.IO.Path.GetFileName(full)}.sharpbox-tmp-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(_dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DiskImageException(finalPath, $"cannot create files in {folder}: {e.Message}", e);
        }
    }

    /// <summary>Registers a file the image will consist of and returns where to write it for now.</summary>
    public string Add(string finalPath)
    {
        string full = System.IO.Path.GetFullPath(finalPath);
        if (File.Exists(full) || Directory.Exists(full))
            throw new DiskImageException(finalPath, "file already exists");
        _finals.Add(full);
        return System.IO.Path.Combine(_dir, System.IO.Path.GetFileName(full));
    }

    /// <summary>Where a registered file is being written until <see cref="Commit"/>.</summary>
    public string ScratchPath(string finalPath) =>
        System.IO.Path.Combine(_dir, System.IO.Path.GetFileName(System.IO.Path.GetFullPath(finalPath)));

    /// <summary>Moves every file into place, the first registered (the main file) last.</summary>
    public void Commit()
    {
        var moved = new List<string>();
        try
        {
            for (int i = _finals.Count - 1; i >= 0; i--)
            {
                string final = _finals[i];
                File.Move(System.IO.Path.Combine(_dir, System.IO.Path.GetFileName(final)), final, overwrite: false);
                moved.Add(final);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            foreach (var m in moved)
                TryDelete(m);
            throw new DiskImageException(_finals[0], "cannot move the new image into place: " + e.Message, e);
        }
    }

    public void Dispose()
    {
        try
        {
            if (Directory.Exists(_dir))
                Directory.Delete(_dir, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Leftover scratch is harmless (hidden, never at a target name); don't mask the real error.
        }
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
