namespace SharpBox.Storage;

/// <summary>Maps "done of total" within a slice [from, to] of an operation onto whole percentages, reporting each once.</summary>
internal sealed class ProgressReporter
{
    private readonly IProgressSink? _sink;
    private int _last = -1;

    public ProgressReporter(IProgressSink? sink) => _sink = sink;

    public void Report(long done, long total, int from, int to)
    {
        if (_sink == null)
            return;
        int pct = total <= 0 ? to : from + (int)((to - from) * Math.Clamp(done, 0, total) / total);
        if (pct > _last)
        {
            _last = pct;
            _sink.Report(pct);
        }
    }
}
