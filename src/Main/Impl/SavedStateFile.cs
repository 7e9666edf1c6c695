namespace SharpBox.Main.Impl;

/// <summary>
/// What Main checks of a saved-state file before adopting it: the SSM file's start and end marks
/// ("SBXSSM\r\n", format 1 ... "SSM-END\n", as the VM process' SSM writes them). The units themselves
/// are checked by the VM process when it loads the state.
/// </summary>
internal static class SavedStateFile
{
    private static readonly byte[] Magic = "SBXSSM\r\n"u8.ToArray();
    private static readonly byte[] EndMagic = "SSM-END\n"u8.ToArray();

    /// <summary>Null when the file looks like a complete saved state, else the problem.</summary>
    public static string? Check(string path)
    {
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
            if (fs.Length < Magic.Length + 8 + EndMagic.Length)
                return $"it is too short ({fs.Length} bytes)";
            Span<byte> head = stackalloc byte[12];
            fs.ReadExactly(head);
            if (!head[..8].SequenceEqual(Magic))
                return "the SharpBox saved-state signature is missing";
            uint format = BitConverter.ToUInt32(head[8..]);
            if (format != 1)
                return $"saved-state format {format} is not supported";
            Span<byte> tail = stackalloc byte[8];
            fs.Seek(-8, SeekOrigin.End);
            fs.ReadExactly(tail);
            if (!tail.SequenceEqual(EndMagic))
                return "it is truncated (no end record)";
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return e.Message;
        }
    }
}
