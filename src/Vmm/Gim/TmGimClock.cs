using SharpBox.Vmm.Tm;

namespace SharpBox.Vmm.Gim;

/// <summary>TM's clocks as GIM sees them: the virtual clock, the TSC derived from it, and the host's wall clock.</summary>
public sealed class TmGimClock(TimeManager tm) : IGimClock
{
    public ulong TscHz => tm.TscHz;

    public void Now(int cpu, out long ns, out ulong tsc)
    {
        ns = tm.Clock.NowNs;
        // The TSC is a linear function of the virtual clock: compute it from the same reading.
        tsc = tm.NsToTsc(ns) + (ulong)tm.GetTscOffset((uint)cpu < (uint)tm.CpuCount ? cpu : 0);
    }

    /// <summary>Host wall time minus guest time: where the guest's time 0 falls on the wall clock (after a restore too).</summary>
    public long WallClockAtZeroNs => (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100 - tm.Clock.NowNs;
}
