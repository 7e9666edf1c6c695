using System.Diagnostics;
using SharpBox.Main.Api;
using RC = SharpBox.Main.Api.ResultCode;

namespace SharpBox.Main.Impl;

/// <summary>
/// A long operation running on a worker thread. The worker reports 0..100 through the callback it
/// is given; clients poll <see cref="Percent"/> and wait with <see cref="WaitForCompletion"/>.
/// </summary>
public sealed class Progress : IProgress
{
    private readonly object _gate = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private uint _percent;
    private bool _completed;
    private int _resultCode;
    private VBoxErrorInfo? _error;
    private volatile bool _cancelRequested;

    private static int s_running;

    /// <summary>Operations still running in this process (VBoxSVC does not exit while one runs).</summary>
    public static int Running => Volatile.Read(ref s_running);

    public Guid Id { get; } = Guid.NewGuid();
    public string Description { get; }
    public bool Cancelable { get; }

    private Progress(string description, bool cancelable)
    {
        Description = description;
        Cancelable = cancelable;
    }

    /// <summary>
    /// Starts <paramref name="work"/> on a worker thread. The work reports percentages through its
    /// argument; a thrown <see cref="VBoxException"/> becomes the progress' error, any other exception
    /// becomes a VBOX_E_IPRT_ERROR naming the operation.
    /// </summary>
    public static Progress Start(string description, string component, string iface, Action<Progress> work, bool cancelable = false)
    {
        var p = new Progress(description, cancelable);
        Interlocked.Increment(ref s_running);
        var thread = new Thread(() =>
        {
            try
            {
                work(p);
                p.Complete(RC.S_OK, null);
            }
            catch (VBoxException e)
            {
                p.Complete(e.ResultCode, e.Info);
            }
            catch (OperationCanceledException)
            {
                p.Complete(RC.E_ABORT, new VBoxErrorInfo(RC.E_ABORT, $"{description}: canceled", component, iface));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or ArgumentException)
            {
                p.Complete(RC.VBOX_E_IPRT_ERROR, new VBoxErrorInfo(RC.VBOX_E_IPRT_ERROR, e.Message, component, iface));
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // A bug must fail the operation, not take the process (VBoxSVC) down with it.
                p.Complete(RC.E_FAIL, new VBoxErrorInfo(RC.E_FAIL, $"{description}: internal error: {e.GetType().Name}: {e.Message}", component, iface));
            }
            finally
            {
                Interlocked.Decrement(ref s_running);
            }
        })
        { IsBackground = true, Name = description };
        thread.Start();
        return p;
    }

    /// <summary>A progress that is already complete (operations that finished synchronously).</summary>
    public static Progress Completed100(string description)
    {
        var p = new Progress(description, false);
        p.Complete(RC.S_OK, null);
        return p;
    }

    /// <summary>Called by the worker; also the cancellation point.</summary>
    public void Report(int percent)
    {
        if (_cancelRequested)
            throw new OperationCanceledException();
        lock (_gate)
        {
            uint p = (uint)Math.Clamp(percent, 0, 99); // 100 is reserved for completion.
            if (p > _percent)
            {
                _percent = p;
                Monitor.PulseAll(_gate);
            }
        }
    }

    private void Complete(int rc, VBoxErrorInfo? error)
    {
        lock (_gate)
        {
            _completed = true;
            _resultCode = rc;
            _error = error;
            if (rc == RC.S_OK)
                _percent = 100;
            Monitor.PulseAll(_gate);
        }
    }

    public uint Percent { get { lock (_gate) return _percent; } }
    public bool Completed { get { lock (_gate) return _completed; } }
    public bool Canceled => _cancelRequested && Completed && _resultCode != RC.S_OK;
    public int ResultCode { get { lock (_gate) return _resultCode; } }
    public VBoxErrorInfo? ErrorInfo { get { lock (_gate) return _error; } }
    public uint OperationCount => 1;
    public uint Operation => 0;
    public string OperationDescription => Description;
    public uint OperationPercent => Percent;

    public int TimeRemaining
    {
        get
        {
            uint p = Percent;
            if (p == 0)
                return -1;
            double total = _clock.Elapsed.TotalSeconds * 100 / p;
            return (int)Math.Max(0, total - _clock.Elapsed.TotalSeconds);
        }
    }

    public void WaitForCompletion(int timeoutMs)
    {
        lock (_gate)
        {
            if (_completed)
                return;
            uint before = _percent;
            var sw = Stopwatch.StartNew();
            while (!_completed && _percent == before)
            {
                int remaining = timeoutMs < 0 ? Timeout.Infinite : timeoutMs - (int)sw.ElapsedMilliseconds;
                if (timeoutMs >= 0 && remaining <= 0)
                    return;
                Monitor.Wait(_gate, remaining);
            }
            if (timeoutMs < 0)
                while (!_completed)
                    Monitor.Wait(_gate);
        }
    }

    public void Cancel()
    {
        if (!Cancelable)
            throw new VBoxException(RC.VBOX_E_INVALID_OBJECT_STATE, "Operation cannot be canceled", "ProgressWrap", "IProgress");
        _cancelRequested = true;
    }
}
