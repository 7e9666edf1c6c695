using System.Diagnostics;
using SharpBox.Vmm.Pdm;
using SharpBox.Vmm.Tm;

namespace SharpBox.Vmm.Tests.Tm;

public class TimeManagerTests
{
    [Fact]
    public void ClockStopsWhilePausedAndRestores()
    {
        var c = new VirtualClock();
        Assert.Equal(0, c.NowNs);
        c.Resume();
        Thread.Sleep(20);
        long a = c.NowNs;
        Assert.InRange(a, 15_000_000, 2_000_000_000);
        c.Pause();
        long frozen = c.NowNs;
        Thread.Sleep(20);
        Assert.Equal(frozen, c.NowNs);
        c.Resume();
        Assert.InRange(c.NowNs - frozen, 0, 10_000_000);       // continues from where it stopped
        c.Pause();
        c.Restore(5_000_000_000);
        Assert.Equal(5_000_000_000, c.NowNs);
        c.Resume();
        Assert.True(c.NowNs >= 5_000_000_000);
        Assert.Throws<InvalidOperationException>(() => c.Restore(0));
    }

    [Fact]
    public void TscIsMonotonicSharedAndRunsAtItsFrequency()
    {
        var tm = new TimeManager(2, 1_000_000_000);
        tm.Clock.Resume();
        var sw = Stopwatch.StartNew();
        ulong t0 = tm.ReadTsc(0);
        Thread.Sleep(50);
        ulong t1 = tm.ReadTsc(1);
        double elapsedNs = sw.Elapsed.TotalNanoseconds;
        Assert.True(t1 > t0);
        Assert.InRange((double)(t1 - t0), elapsedNs * 0.8, elapsedNs * 1.2);
        ulong prev = 0;
        for (int i = 0; i < 10000; i++) { ulong t = tm.ReadTsc(i & 1); Assert.True(t >= prev); prev = t; }
        tm.WriteTsc(1, 1UL << 40);
        Assert.InRange(tm.ReadTsc(1), 1UL << 40, (1UL << 40) + 1_000_000_000);
        Assert.True(tm.ReadTsc(0) < 1UL << 40);
        Assert.Equal(2_000_000_000UL, new TimeManager(1).NsToTsc(1_000_000_000));
        Assert.Equal(1_000_000_000L, new TimeManager(1).TscToNs(2_000_000_000));
    }

    [Fact]
    public void TimersFireInOrderOnTheIoThreadUnderTheirLock()
    {
        var tm = new TimeManager(1);
        using var io = new IoThread(tm.Timers);
        io.Start();
        var order = new List<string>();
        var done = new ManualResetEventSlim();
        var devLock = new Lock();
        int ioThread = -1;
        bool lockHeld = false;
        var t1 = tm.Timers.Create("late", () => { lock (order) order.Add("late"); done.Set(); }, devLock);
        var t2 = tm.Timers.Create("early", () => { lock (order) order.Add("early"); ioThread = Environment.CurrentManagedThreadId; lockHeld = devLock.IsHeldByCurrentThread; }, devLock);
        var t3 = tm.Timers.Create("stopped", () => { lock (order) order.Add("stopped"); }, devLock);
        tm.Clock.Resume();
        long now = tm.Clock.NowNs;
        using (devLock.EnterScope())
        {
            t1.SetExpire(now + 30_000_000);
            t2.SetExpire(now + 10_000_000);
            t3.SetExpire(now + 20_000_000);
            t3.Stop();
        }
        Assert.True(done.Wait(5000));
        Assert.Equal(new[] { "early", "late" }, order);
        Assert.Equal(io.ThreadId, ioThread);
        Assert.True(lockHeld);
        Assert.True(tm.Clock.NowNs >= now + 30_000_000);
    }

    [Fact]
    public void PausedClockHoldsTimersBack()
    {
        var tm = new TimeManager(1);
        using var io = new IoThread(tm.Timers);
        io.Start();
        var fired = new ManualResetEventSlim();
        var t = tm.Timers.Create("t", fired.Set, null);
        tm.Clock.Resume();
        t.SetRelative(30_000_000);
        tm.Clock.Pause();
        Assert.False(fired.Wait(100));
        tm.Clock.Resume();                 // the I/O thread re-arms on its own
        Assert.True(fired.Wait(5000));
    }

    [Fact]
    public void ManyTimersRearmWithoutAllocating()
    {
        var tm = new TimeManager(1);
        var timers = Enumerable.Range(0, 50).Select(i => tm.Timers.Create($"t{i}", () => { }, null)).ToArray();
        for (int i = 0; i < 50; i++) timers[i].SetExpire(1000 + i);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int k = 0; k < 10_000; k++)
        {
            var t = timers[k % 50];
            t.SetExpire(5000 - k % 977);
            if (k % 3 == 0) t.Stop();
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        long min = timers.Where(t => t.Active).Min(t => t.ExpireNs);
        Assert.Equal(min, tm.Timers.NextDeadline);
    }
}
