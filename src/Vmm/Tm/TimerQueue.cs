namespace SharpBox.Vmm.Tm;

/// <summary>
/// All device timers of one VM in a binary min-heap by expiry (no thread per timer). The I/O thread
/// asks for the next deadline, sleeps on a timerfd until then and runs what has expired. Arming a
/// timer that becomes the earliest notifies the waiter so it re-arms its timerfd. Preallocated and
/// index-tracked, so arming and stopping allocate nothing and cost O(log n).
/// </summary>
public sealed class TimerQueue
{
    private TmTimer?[] _heap = new TmTimer?[64];
    private int _count;
    private readonly Lock _lock = new();
    private readonly List<TmTimer> _all = new();

    public VirtualClock Clock { get; }

    /// <summary>Called when the earliest deadline moved earlier (the I/O thread re-arms its timerfd).</summary>
    public Action? DeadlineChanged { get; set; }

    public TimerQueue(VirtualClock clock)
    {
        Clock = clock;
        clock.StateChanged += () => DeadlineChanged?.Invoke();
    }

    public TmTimer Create(string name, Action callback, Lock? deviceLock)
    {
        var t = new TmTimer(this, name, callback, deviceLock);
        lock (_lock) _all.Add(t);
        return t;
    }

    public IReadOnlyList<TmTimer> All { get { lock (_lock) return _all.ToArray(); } }

    internal void Arm(TmTimer t, long expire)
    {
        bool earliest;
        lock (_lock)
        {
            t.Generation++;
            t.ExpireNs = expire;
            if (t.HeapIndex >= 0) { SiftUp(t.HeapIndex); SiftDown(t.HeapIndex); }
            else
            {
                if (_count == _heap.Length) Array.Resize(ref _heap, _count * 2);
                _heap[_count] = t;
                t.HeapIndex = _count++;
                SiftUp(t.HeapIndex);
            }
            earliest = t.HeapIndex == 0;
        }
        if (earliest) DeadlineChanged?.Invoke();
    }

    internal void Disarm(TmTimer t)
    {
        lock (_lock)
        {
            t.Generation++;
            if (t.HeapIndex >= 0) RemoveAt(t.HeapIndex);
        }
    }

    /// <summary>The earliest expiry in virtual ns, or long.MaxValue when no timer is armed.</summary>
    public long NextDeadline
    {
        get { lock (_lock) return _count > 0 ? _heap[0]!.ExpireNs : long.MaxValue; }
    }

    /// <summary>
    /// Runs every timer that has expired at the current virtual time (I/O thread). Each callback runs
    /// under its device lock and only if nobody re-armed or stopped the timer after it was taken off
    /// the heap. Returns how many ran.
    /// </summary>
    public int RunExpired()
    {
        int ran = 0;
        while (true)
        {
            TmTimer? t;
            long gen;
            lock (_lock)
            {
                if (_count == 0 || !Clock.Running) return ran;
                t = _heap[0]!;
                if (t.ExpireNs > Clock.NowNs) return ran;
                RemoveAt(0);
                gen = t.Generation;
            }
            if (t.DeviceLock is { } dl)
            {
                using (dl.EnterScope())
                    if (Volatile.Read(ref t.Generation) == gen && t.HeapIndex < 0) { t.Callback(); ran++; }
            }
            else if (Volatile.Read(ref t.Generation) == gen && t.HeapIndex < 0) { t.Callback(); ran++; }
        }
    }

    private void RemoveAt(int i)
    {
        var t = _heap[i]!;
        t.HeapIndex = -1;
        _count--;
        if (i != _count)
        {
            _heap[i] = _heap[_count];
            _heap[i]!.HeapIndex = i;
            _heap[_count] = null;
            SiftUp(i);
            SiftDown(i);
        }
        else _heap[_count] = null;
    }

    private void SiftUp(int i)
    {
        var t = _heap[i]!;
        while (i > 0)
        {
            int parent = (i - 1) >> 1;
            var p = _heap[parent]!;
            if (p.ExpireNs <= t.ExpireNs) break;
            _heap[i] = p; p.HeapIndex = i;
            i = parent;
        }
        _heap[i] = t; t.HeapIndex = i;
    }

    private void SiftDown(int i)
    {
        var t = _heap[i]!;
        while (true)
        {
            int l = 2 * i + 1;
            if (l >= _count) break;
            int c = l + 1 < _count && _heap[l + 1]!.ExpireNs < _heap[l]!.ExpireNs ? l + 1 : l;
            if (_heap[c]!.ExpireNs >= t.ExpireNs) break;
            _heap[i] = _heap[c]; _heap[i]!.HeapIndex = i;
            i = c;
        }
        _heap[i] = t; t.HeapIndex = i;
    }
}
