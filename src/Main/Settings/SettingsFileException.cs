namespace SharpBox.Main.Settings;

/// <summary>
/// A settings file that cannot be used: the message names the file, the line (when known) and the
/// problem, in VirtualBox's wording ("Error in FILE (line N) -- PROBLEM"). The file is never written.
/// </summary>
public sealed class SettingsFileException : Exception
{
    public string FilePath { get; }
    public int Line { get; }
    public string Problem { get; }

    public SettingsFileException(string filePath, int line, string problem, Exception? inner = null)
        : base(Format(filePath, line, problem), inner)
    {
        FilePath = filePath;
        Line = line;
        Problem = problem;
    }

    private static string Format(string file, int line, string problem)
        => line > 0 ? $"Error in {file} (line {line}) -- {problem}" : $"Error in {file} -- {problem}";
}
