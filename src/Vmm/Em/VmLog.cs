using System.Diagnostics;
using System.Text;

namespace SharpBox.Vmm.Em;

/// <summary>
/// The VM process log (VBox.log): each line prefixed with the elapsed time since the process started,
/// as VirtualBox writes it. Thread-safe; the sink is a file in VBoxHeadless, a list in tests.
/// </summary>
public sealed class VmLog
{
    private readonly Stopwatch _since = Stopwatch.StartNew();
    private readonly Lock _lock = new();
    private readonly TextWriter? _writer;
    private readonly Action<string>? _sink;
    private readonly Action<string>? _messageSink;

    public VmLog(TextWriter? writer = null, Action<string>? sink = null) { _writer = writer; _sink = sink; }

    private VmLog(Action<string> messageSink) { _messageSink = messageSink; }

    /// <summary>A log whose sink adds its own time prefix (VBox.log's release logger).</summary>
    public static VmLog ForMessages(Action<string> messageSink) => new(messageSink);

    public static VmLog Null { get; } = new();

    public TimeSpan Elapsed => _since.Elapsed;

    public void Write(string message)
    {
        if (_messageSink is not null) { using (_lock.EnterScope()) _messageSink(message); return; }
        if (_writer is null && _sink is null) return;
        var t = _since.Elapsed;
        var line = $"{(int)t.TotalHours:00}:{t.Minutes:00}:{t.Seconds:00}.{t.Ticks % TimeSpan.TicksPerSecond / 10:000000} {message}";
        using (_lock.EnterScope())
        {
            _sink?.Invoke(line);
            if (_writer is not null) { _writer.WriteLine(line); _writer.Flush(); }
        }
    }

    /// <summary>Writes a multi-line block (e.g. the CFGM dump), each line with the time prefix.</summary>
    public void WriteBlock(string text)
    {
        foreach (var l in text.Split('\n')) if (l.Length > 0) Write(l);
    }

    public static string Hex(ReadOnlySpan<byte> b)
    {
        var sb = new StringBuilder(b.Length * 3);
        foreach (var x in b) sb.Append(x.ToString("x2")).Append(' ');
        return sb.ToString().TrimEnd();
    }
}
