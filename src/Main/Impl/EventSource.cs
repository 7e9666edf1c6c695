using SharpBox.Main.Api;

namespace SharpBox.Main.Impl;

/// <summary>
/// The event source of a VirtualBox object: passive listeners with their own queues (VirtualBox's
/// pull model), and push sinks for a host that forwards events elsewhere (VBoxSVC pushes them to its
/// subscribed clients). Firing never blocks on a slow consumer: queues are bounded and a listener
/// that lets more than <see cref="MaxQueued"/> pile up loses the oldest (the sequence numbers show it).
/// </summary>
public sealed class EventSource : IEventSource
{
    public const int MaxQueued = 10_000;

    private sealed class Listener : IEventListener
    {
        public Guid Id { get; } = Guid.NewGuid();
        public readonly Queue<VBoxEvent> Queue = new();
        public HashSet<VBoxEventType>? Interesting;
        public bool Registered;
    }

    private readonly object _gate = new();
    private readonly List<Listener> _listeners = new();
    private readonly List<Action<VBoxEvent>> _sinks = new();
    private long _sequence;

    private static VBoxException Error(int rc, string message) => new(rc, message, "EventSourceWrap", "IEventSource");

    public IEventListener CreateListener() => new Listener();

    public void RegisterListener(IEventListener listener, IReadOnlyList<VBoxEventType> interesting, bool active)
    {
        if (listener is not Listener l)
            throw Error(ResultCode.E_INVALIDARG, "Invalid event listener");
        if (active)
            throw Error(ResultCode.VBOX_E_NOT_SUPPORTED, "Only passive event listeners are supported (fetch events with GetEvent)");
        lock (_gate)
        {
            l.Interesting = interesting.Contains(VBoxEventType.Any) ? null : new HashSet<VBoxEventType>(interesting);
            if (!l.Registered)
            {
                l.Registered = true;
                _listeners.Add(l);
            }
        }
    }

    public void UnregisterListener(IEventListener listener)
    {
        if (listener is not Listener l)
            throw Error(ResultCode.E_INVALIDARG, "Invalid event listener");
        lock (_gate)
        {
            l.Registered = false;
            _listeners.Remove(l);
            Monitor.PulseAll(_gate);
        }
    }

    public VBoxEvent? GetEvent(IEventListener listener, int timeoutMs)
    {
        if (listener is not Listener l)
            throw Error(ResultCode.E_INVALIDARG, "Invalid event listener");
        var deadline = timeoutMs < 0 ? long.MaxValue : Environment.TickCount64 + timeoutMs;
        lock (_gate)
        {
            while (true)
            {
                if (!l.Registered)
                    throw Error(ResultCode.VBOX_E_OBJECT_NOT_FOUND, "The event listener is not registered");
                if (l.Queue.Count > 0)
                    return l.Queue.Dequeue();
                long left = deadline - Environment.TickCount64;
                if (left <= 0)
                    return null;
                Monitor.Wait(_gate, (int)Math.Min(left, int.MaxValue));
            }
        }
    }

    /// <summary>Adds a sink that receives every event (called outside the source's lock, in order).</summary>
    public void AddSink(Action<VBoxEvent> sink)
    {
        lock (_gate)
            _sinks.Add(sink);
    }

    public void RemoveSink(Action<VBoxEvent> sink)
    {
        lock (_gate)
            _sinks.Remove(sink);
    }

    private readonly object _fireOrder = new();

    /// <summary>Numbers the event and hands it to every interested listener and sink.</summary>
    internal void Fire(Func<long, VBoxEvent> make)
    {
        // One event at a time, so sinks see them in sequence order.
        lock (_fireOrder)
        {
            Action<VBoxEvent>[] sinks;
            VBoxEvent e;
            lock (_gate)
            {
                e = make(++_sequence);
                foreach (Listener l in _listeners)
                {
                    if (l.Interesting != null && !l.Interesting.Contains(e.Type))
                        continue;
                    if (l.Queue.Count >= MaxQueued)
                        l.Queue.Dequeue();
                    l.Queue.Enqueue(e);
                }
                Monitor.PulseAll(_gate);
                sinks = _sinks.Count == 0 ? Array.Empty<Action<VBoxEvent>>() : _sinks.ToArray();
            }
            foreach (Action<VBoxEvent> s in sinks)
                s(e);
        }
    }
}
