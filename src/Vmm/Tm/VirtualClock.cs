using SharpBox.Vmm.Pdm;

namespace SharpBox.Vmm.Tm;

/// <summary>
/// TM's virtual clock: nanoseconds of guest time. It runs at host speed (CLOCK_MONOTONIC) while the VM
/// runs, stands still while it is paused, and can be set to a saved value so a restored guest sees no
/// jump. Every reader (devices, TSC, timers) uses this one clock, so all vCPUs agree.
/// </summary>
public sealed class VirtualClock
{
    // virtual = host - _offset while running; frozen at _frozen while paused.
    private long _offset;
    private long _frozen;
    private volatile bool _running;
    private readonly Lock _lock = new();

    public VirtualClock() { _offset = LinuxIo.MonotonicNs(); _frozen = 0; }

    public bool Running => _running;

    /// <summary>Raised after the clock starts, stops or is restored (the timer thread re-arms its deadline).</summary>
    public event Action? StateChanged;

    public long NowNs
    {
        get
        {
            if (_running) return LinuxIo.MonotonicNs() - Volatile.Read(ref _offset);
            return Volatile.Read(ref _frozen);
        }
    }

    /// <summary>The host CLOCK_MONOTONIC instant at which the virtual clock reads <paramref name="virtualNs"/> (running clock).</summary>
    public long HostTimeOf(long virtualNs) => virtualNs + Volatile.Read(ref _offset);

    public void Resume()
    {
        lock (_lock)
        {
            if (_running) return;
            Volatile.Write(ref _offset, LinuxIo.MonotonicNs() - _frozen);
            _running = true;
        }
        StateChanged?.Invoke();
    }

    public void Pause()
    {
        lock (_lock)
        {
            if (!_running) return;
            _frozen = LinuxIo.MonotonicNs() - _offset;
            _running = false;
        }
        StateChanged?.Invoke();
    }

    /// <summary>Sets the clock (paused) to a saved value; it continues from there on Resume.</summary>
    public void Restore(long virtualNs)
    {
        lock (_lock)
        {
            if (_running) throw new InvalidOperationException("TM: the clock can only be restored while paused");
            _frozen = virtualNs;
        }
        StateChanged?.Invoke();
    }
}
