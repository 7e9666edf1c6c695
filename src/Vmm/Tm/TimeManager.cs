namespace SharpBox.Vmm.Tm;

/// <summary>
/// TM: the virtual clock, the device timers and the guest TSC of one VM. The TSC is derived from the
/// virtual clock with one fixed frequency, so every vCPU reads the same, monotonic, pause-aware value;
/// a per-vCPU offset carries guest writes of IA32_TIME_STAMP_COUNTER.
/// </summary>
public sealed class TimeManager
{
    public const ulong DefaultTscHz = 2_000_000_000;
    private readonly ulong _tscMult;   // TSC ticks per ns as 32.32 fixed point
    private long[] _tscOffset;

    public VirtualClock Clock { get; } = new();
    public TimerQueue Timers { get; }
    public ulong TscHz { get; }

    public TimeManager(int cpuCount, ulong tscHz = DefaultTscHz)
    {
        if (tscHz < 1_000_000 || tscHz > 100_000_000_000) throw new ArgumentOutOfRangeException(nameof(tscHz));
        TscHz = tscHz;
        _tscMult = (ulong)(((UInt128)tscHz << 32) / 1_000_000_000);
        _tscOffset = new long[Math.Max(1, cpuCount)];
        Timers = new TimerQueue(Clock);
    }

    /// <summary>Virtual ns → TSC ticks (before any per-CPU offset).</summary>
    public ulong NsToTsc(long ns)
    {
        ulong hi = Math.BigMul((ulong)Math.Max(0, ns), _tscMult, out ulong lo);
        return (hi << 32) | (lo >> 32);
    }

    public long TscToNs(ulong ticks) => (long)(((UInt128)ticks * 1_000_000_000) / TscHz);

    /// <summary>The guest TSC of <paramref name="cpu"/> now (RDTSC).</summary>
    public ulong ReadTsc(int cpu) => NsToTsc(Clock.NowNs) + (ulong)_tscOffset[cpu];

    /// <summary>WRMSR IA32_TIME_STAMP_COUNTER: later reads of this CPU continue from <paramref name="value"/>.</summary>
    public void WriteTsc(int cpu, ulong value) => _tscOffset[cpu] = (long)(value - NsToTsc(Clock.NowNs));

    public long GetTscOffset(int cpu) => _tscOffset[cpu];
    public void SetTscOffset(int cpu, long offset) => _tscOffset[cpu] = offset;
    public int CpuCount => _tscOffset.Length;
}
