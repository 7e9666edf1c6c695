using System.Collections.Concurrent;
using SharpBox.Vmm.Tm;

namespace SharpBox.Vmm.Pdm;

/// <summary>Something that waits on a file descriptor of the I/O thread.</summary>
public interface IIoHandler
{
    /// <summary>Runs on the I/O thread when <paramref name="fd"/> is ready (EPOLLIN/OUT/HUP/ERR bits).</summary>
    void OnIoReady(int fd, uint events);
}

/// <summary>
/// The VM's one I/O thread: an epoll loop over a timerfd (TM's next timer deadline), an eventfd (wake-ups
/// and posted work) and the descriptors of host back ends (sockets, ptys). Timer callbacks and back-end
/// input are all delivered here, never on a thread of their own.
/// </summary>
public sealed unsafe class IoThread : IDisposable
{
    private readonly int _epfd, _timerfd, _eventfd;
    private readonly TimerQueue _timers;
    private readonly Dictionary<int, IIoHandler> _handlers = new();
    private readonly Lock _handlersLock = new();
    private readonly Lock _rearmLock = new();
    private readonly ConcurrentQueue<Action> _posted = new();
    private Thread? _thread;
    private volatile bool _stop;

    /// <summary>Called with any exception a handler or timer callback throws (the loop keeps running).</summary>
    public Action<Exception>? Fault { get; set; }

    public int ThreadId => _thread?.ManagedThreadId ?? -1;

    public IoThread(TimerQueue timers)
    {
        _timers = timers;
        _epfd = LinuxIo.epoll_create1(LinuxIo.EPOLL_CLOEXEC);
        _timerfd = LinuxIo.timerfd_create(LinuxIo.CLOCK_MONOTONIC, LinuxIo.TFD_CLOEXEC | LinuxIo.TFD_NONBLOCK);
        _eventfd = LinuxIo.eventfd(0, LinuxIo.EFD_CLOEXEC | LinuxIo.EFD_NONBLOCK);
        if (_epfd < 0 || _timerfd < 0 || _eventfd < 0)
            throw new IOException($"I/O thread: cannot create epoll/timerfd/eventfd: {LinuxIo.ErrorText(LinuxIo.Errno)}");
        Ctl(LinuxIo.EPOLL_CTL_ADD, _timerfd, LinuxIo.EPOLLIN);
        Ctl(LinuxIo.EPOLL_CTL_ADD, _eventfd, LinuxIo.EPOLLIN);
        timers.DeadlineChanged = RearmTimer;
    }

    private void Ctl(int op, int fd, int events)
    {
        LinuxIo.EpollEvent ev = new() { Events = (uint)events, Data = (ulong)fd };
        if (LinuxIo.epoll_ctl(_epfd, op, fd, &ev) != 0)
            throw new IOException($"epoll_ctl({op}) fd {fd}: {LinuxIo.ErrorText(LinuxIo.Errno)}");
    }

    public void Start(string name = "VM I/O")
    {
        _thread = new Thread(Loop) { Name = name, IsBackground = true };
        _thread.Start();
    }

    public void Add(int fd, int events, IIoHandler handler)
    {
        using (_handlersLock.EnterScope()) _handlers[fd] = handler;
        Ctl(LinuxIo.EPOLL_CTL_ADD, fd, events);
    }

    public void Modify(int fd, int events) => Ctl(LinuxIo.EPOLL_CTL_MOD, fd, events);

    public void Remove(int fd)
    {
        using (_handlersLock.EnterScope()) _handlers.Remove(fd);
        LinuxIo.EpollEvent ev = default;
        LinuxIo.epoll_ctl(_epfd, LinuxIo.EPOLL_CTL_DEL, fd, &ev);
    }

    /// <summary>Runs <paramref name="work"/> on the I/O thread soon.</summary>
    public void Post(Action work) { _posted.Enqueue(work); Wake(); }

    public void Wake()
    {
        ulong one = 1;
        LinuxIo.write(_eventfd, (byte*)&one, 8);
    }

    /// <summary>Programs the timerfd for TM's earliest deadline (or disarms it while paused or idle).</summary>
    public void RearmTimer()
    {
        using (_rearmLock.EnterScope())
        {
            long next = _timers.NextDeadline;
            LinuxIo.Itimerspec its = default;
            if (next != long.MaxValue && _timers.Clock.Running)
            {
                long host = Math.Max(1, _timers.Clock.HostTimeOf(next));
                its.Value.Sec = host / 1_000_000_000;
                its.Value.Nsec = host % 1_000_000_000;
            }
            LinuxIo.timerfd_settime(_timerfd, LinuxIo.TFD_TIMER_ABSTIME, &its, null);
        }
    }

    private void Loop()
    {
        const int Max = 32;
        var events = stackalloc LinuxIo.EpollEvent[Max];
        ulong scratch;
        while (!_stop)
        {
            int n = LinuxIo.epoll_wait(_epfd, events, Max, -1);
            if (n < 0) { if (LinuxIo.Errno == LinuxIo.EINTR) continue; Fault?.Invoke(new IOException("epoll_wait: " + LinuxIo.ErrorText(LinuxIo.Errno))); return; }
            for (int i = 0; i < n && !_stop; i++)
            {
                int fd = (int)events[i].Data;
                try
                {
                    if (fd == _timerfd)
                    {
                        LinuxIo.read(_timerfd, (byte*)&scratch, 8);
                        _timers.RunExpired();
                        RearmTimer();
                    }
                    else if (fd == _eventfd)
                    {
                        LinuxIo.read(_eventfd, (byte*)&scratch, 8);
                        while (_posted.TryDequeue(out var work)) work();
                    }
                    else
                    {
                        IIoHandler? h;
                        using (_handlersLock.EnterScope()) _handlers.TryGetValue(fd, out h);
                        h?.OnIoReady(fd, events[i].Events);
                    }
                }
                catch (Exception e) { Fault?.Invoke(e); }
            }
        }
    }

    /// <summary>Stops the loop and waits for it (callbacks in progress finish first).</summary>
    public void Stop()
    {
        _stop = true;
        Wake();
        if (_thread is not null && Thread.CurrentThread != _thread) _thread.Join();
    }

    public bool IsIoThread => Thread.CurrentThread == _thread;

    public void Dispose()
    {
        Stop();
        LinuxIo.close(_timerfd);
        LinuxIo.close(_eventfd);
        LinuxIo.close(_epfd);
    }
}
