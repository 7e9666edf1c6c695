using System.Diagnostics;
using SharpBox.Runtime;

namespace SharpBox.Service;

/// <summary>
/// VBoxSVC.log in the configuration directory, kept as VirtualBox keeps it: the previous logs are
/// rotated to VBoxSVC.log.1 .. .N when the service starts, and a log that grows past its size limit
/// or has been written for longer than its time limit is rotated the same way.
/// </summary>
internal sealed class ServiceLog : IDisposable
{
    private readonly string _path;
    private readonly int _history;
    private readonly long _maxBytes;
    private readonly TimeSpan _maxAge;
    private readonly string _product;
    private readonly object _gate = new();
    private ReleaseLog _log;
    private long _bytes;
    private Stopwatch _age = Stopwatch.StartNew();

    public string Path => _path;

    public ServiceLog(string path, int history, long maxBytes, TimeSpan maxAge, string product)
    {
        _path = path;
        _history = history;
        _maxBytes = maxBytes;
        _maxAge = maxAge;
        _product = product;
        _log = ReleaseLog.Open(path, history, product);
    }

    public void Write(string message)
    {
        lock (_gate)
        {
            if ((_maxBytes > 0 && _bytes >= _maxBytes) || (_maxAge > TimeSpan.Zero && _age.Elapsed >= _maxAge))
            {
                _log.Write($"Log rotated ({(_bytes >= _maxBytes ? "size" : "time")} limit)");
                _log.Dispose();
                _log = ReleaseLog.Open(_path, _history, _product);
                _bytes = 0;
                _age = Stopwatch.StartNew();
            }
            _log.Write(message);
            _bytes += message.Length + 17;
        }
    }

    public void Dispose()
    {
        lock (_gate)
            _log.Dispose();
    }
}
