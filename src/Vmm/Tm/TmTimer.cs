namespace SharpBox.Vmm.Tm;

/// <summary>
/// A device timer on the virtual clock. Its callback runs on the VM's I/O thread under the owning
/// device's lock, so the device sees timer expiry and guest accesses strictly one at a time.
/// Arm and stop it only while holding that same lock.
/// </summary>
public sealed class TmTimer
{
    internal readonly TimerQueue Queue;
    internal readonly Action Callback;
    internal readonly Lock? DeviceLock;
    internal int HeapIndex = -1;
    internal long Generation;
    public string Name { get; }
    public long ExpireNs { get; internal set; }

    internal TmTimer(TimerQueue queue, string name, Action callback, Lock? deviceLock)
    { Queue = queue; Name = name; Callback = callback; DeviceLock = deviceLock; }

    public bool Active => HeapIndex >= 0;

    /// <summary>Fires the callback once when the virtual clock reaches <paramref name="virtualNs"/> (re-arming replaces the old expiry).</summary>
    public void SetExpire(long virtualNs) => Queue.Arm(this, virtualNs);

    /// <summary>Fires after <paramref name="ns"/> nanoseconds of virtual time from now.</summary>
    public void SetRelative(long ns) => Queue.Arm(this, Queue.Clock.NowNs + Math.Max(0, ns));

    public void Stop() => Queue.Disarm(this);

    public long Now => Queue.Clock.NowNs;
}
