using System.Globalization;
using System.Text;

namespace SharpBox.Runtime;

/// <summary>
/// A release log as VirtualBox keeps them (VBoxSVC.log, Logs/VBox.log): on open the existing log is
/// rotated to <c>.1</c>, <c>.1</c> to <c>.2</c> and so on, keeping <c>historyCount</c> old logs; each line
/// carries the elapsed time since the log was opened. Thread-safe; lines are flushed as written.
/// </summary>
public sealed class ReleaseLog : IDisposable
{
    private readonly StreamWriter _writer;
    private readonly long _startTicks = System.Diagnostics.Stopwatch.GetTimestamp();
    private readonly object _gate = new();

    public string Path { get; }

    private ReleaseLog(string path, StreamWriter writer)
    {
        Path = path;
        _writer = writer;
    }

    /// <summary>Rotates <c>path</c>, <c>path.1</c>, ... so that at most <paramref name="historyCount"/> old logs remain.</summary>
    public static void Rotate(string path, int historyCount)
    {
        if (historyCount < 0)
            throw new ArgumentOutOfRangeException(nameof(historyCount));
        string oldest = $"{path}.{historyCount}";
        if (historyCount == 0)
        {
            if (File.Exists(path))
                File.Delete(path);
            return;
        }
        if (File.Exists(oldest))
            File.Delete(oldest);
        for (int i = historyCount - 1; i >= 1; i--)
        {
            string from = $"{path}.{i}";
            if (File.Exists(from))
                File.Move(from, $"{path}.{i + 1}", overwrite: true);
        }
        if (File.Exists(path))
            File.Move(path, $"{path}.1", overwrite: true);
    }

    /// <summary>Rotates and opens a new log at <paramref name="path"/>, creating its directory.</summary>
    public static ReleaseLog Open(string path, int historyCount, string product)
    {
        string? dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (dir != null)
            Directory.CreateDirectory(dir);
        Rotate(path, historyCount);
        var writer = new StreamWriter(new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read), new UTF8Encoding(false));
        var log = new ReleaseLog(path, writer);
        log.Write($"{product} log opened {DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture)}");
        return log;
    }

    public void Write(string message)
    {
        TimeSpan t = System.Diagnostics.Stopwatch.GetElapsedTime(_startTicks);
        lock (_gate)
        {
            _writer.Write(string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalHours:00}:{t.Minutes:00}:{t.Seconds:00}.{t.Milliseconds * 1000 + t.Microseconds:000000} "));
            _writer.Write(message);
            _writer.Write('\n');
            _writer.Flush();
        }
    }

    public void Dispose()
    {
        lock (_gate)
            _writer.Dispose();
    }
}
