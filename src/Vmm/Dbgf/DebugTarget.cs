using SharpBox.Vmm.Em;

namespace SharpBox.Vmm.Dbgf;

public enum DebugStopReason { Requested, Breakpoint, SingleStep, Watchpoint, Exited, Fault }
public enum DebugWatchKind { Write, Read, Access }

/// <summary>Why and where the target stopped.</summary>
public readonly record struct DebugStop(int Cpu, DebugStopReason Reason, ulong Address = 0, DebugWatchKind WatchKind = DebugWatchKind.Write,
    int ExitCode = 0, string? Message = null);

/// <summary>A data watchpoint on linear addresses.</summary>
public readonly record struct DebugWatchpoint(ulong Address, int Length, DebugWatchKind Kind);

/// <summary>A vCPU engine that offers data watchpoints in hardware (the KVM engine's debug registers).</summary>
public interface IVcpuWatchpoints
{
    int MaxWatchpoints { get; }
    /// <summary>Replaces the watchpoints (throws ArgumentException with the reason when they do not fit).</summary>
    void SetDebugWatchpoints(ReadOnlySpan<DebugWatchpoint> watchpoints);
    /// <summary>After a Breakpoint exit: the watchpoint that fired, if it was one.</summary>
    bool TryGetWatchHit(out DebugWatchpoint hit);
}

/// <summary>An engine's own per-vCPU counters for debugvm statistics (name below /ENGINE/CPUn/, value, unit, description).</summary>
public interface IVcpuStatistics
{
    void CollectStatistics(List<(string Name, long Value, string Unit, string Description)> into);
}

/// <summary>
/// What the debugger (gdb stub, info commands, core dumps) needs of a VM: its vCPUs (state through
/// <see cref="IVirtualCpu"/> while stopped), guest-physical memory, and run control. Engine-neutral.
/// </summary>
public interface IDebugTarget
{
    int CpuCount { get; }
    IVirtualCpu GetCpu(int index);
    /// <summary>Reads RAM/ROM (never MMIO: no device side effects); returns how many bytes were readable from the start.</summary>
    int ReadPhysical(ulong gpa, Span<byte> buffer);
    /// <summary>Writes RAM; returns how many bytes were written from the start.</summary>
    int WritePhysical(ulong gpa, ReadOnlySpan<byte> data);
    bool IsRunning { get; }
    /// <summary>Stops every vCPU at an instruction boundary; returns when all are stopped.</summary>
    void Halt();
    /// <summary>Lets every vCPU run (or only <paramref name="onlyCpu"/>) until something stops the target.</summary>
    void Resume(int onlyCpu = -1);
    /// <summary>Raised (on some thread) when the target stopped by itself: a breakpoint, a step, the guest's end.</summary>
    event Action<DebugStop>? Stopped;
}

/// <summary>Physical memory access over the platform bus (RAM and ROM pages through their host pointers).</summary>
public static unsafe class BusMemory
{
    public static int Read(ICpuBus bus, ulong gpa, Span<byte> buffer)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            ulong a = gpa + (ulong)done;
            int chunk = (int)Math.Min((ulong)(buffer.Length - done), 0x1000 - (a & 0xFFF));
            var kind = bus.LookupPage(a, out byte* host);
            if (kind is not (PhysPageKind.Ram or PhysPageKind.Rom) || host == null) break;
            new ReadOnlySpan<byte>(host + (a & 0xFFF), chunk).CopyTo(buffer.Slice(done, chunk));
            done += chunk;
        }
        return done;
    }

    public static int Write(ICpuBus bus, ulong gpa, ReadOnlySpan<byte> data)
    {
        int done = 0;
        while (done < data.Length)
        {
            ulong a = gpa + (ulong)done;
            int chunk = (int)Math.Min((ulong)(data.Length - done), 0x1000 - (a & 0xFFF));
            if (bus.LookupPage(a, out byte* host) != PhysPageKind.Ram || host == null) break;
            data.Slice(done, chunk).CopyTo(new Span<byte>(host + (a & 0xFFF), chunk));
            done += chunk;
        }
        return done;
    }
}

/// <summary>
/// A debug target that runs its vCPUs on threads of its own (one per vCPU): for machines without EM
/// (test payloads, tools). Debug exits stop every vCPU and raise <see cref="Stopped"/>; the guest's
/// end is reported through <see cref="GuestExited"/>.
/// </summary>
public sealed class ThreadedDebugTarget : IDebugTarget, IDisposable
{
    private readonly IVirtualCpu[] _cpus;
    private readonly ICpuBus _bus;
    private readonly Thread[] _threads;
    private readonly object _lock = new();
    private int _generation;                 // bumped by Resume: the threads run once per generation
    private readonly bool[] _parked;
    private volatile bool _haltRequested, _disposed;
    private DebugStop? _pendingStop;

    public ThreadedDebugTarget(IReadOnlyList<IVirtualCpu> cpus, ICpuBus bus)
    {
        _cpus = cpus.ToArray();
        _bus = bus;
        _parked = new bool[_cpus.Length];
        Array.Fill(_parked, true);
        _threads = new Thread[_cpus.Length];
        for (int i = 0; i < _cpus.Length; i++)
        {
            int idx = i;
            _threads[i] = new Thread(() => Loop(idx)) { IsBackground = true, Name = $"dbg-vcpu-{i}" };
            _threads[i].Start();
        }
    }

    public int CpuCount => _cpus.Length;
    public IVirtualCpu GetCpu(int index) => _cpus[index];
    public int ReadPhysical(ulong gpa, Span<byte> buffer) => BusMemory.Read(_bus, gpa, buffer);
    public int WritePhysical(ulong gpa, ReadOnlySpan<byte> data) => BusMemory.Write(_bus, gpa, data);
    public event Action<DebugStop>? Stopped;
    public bool IsRunning { get { lock (_lock) return Array.IndexOf(_parked, false) >= 0; } }

    public void Resume(int onlyCpu = -1)
    {
        lock (_lock)
        {
            _haltRequested = false;
            _pendingStop = null;
            for (int i = 0; i < _cpus.Length; i++) if (onlyCpu < 0 || i == onlyCpu) _parked[i] = false;
            _generation++;
            Monitor.PulseAll(_lock);
        }
    }

    public void Halt()
    {
        lock (_lock)
        {
            _haltRequested = true;
            foreach (var c in _cpus) c.RequestStop();
            while (Array.IndexOf(_parked, false) >= 0) Monitor.Wait(_lock, 100);
        }
    }

    /// <summary>The guest ended (e.g. its exit port): stops everything and reports it.</summary>
    public void GuestExited(int cpu, int code) => StopAll(new DebugStop(cpu, DebugStopReason.Exited, ExitCode: code));

    private void StopAll(DebugStop why)
    {
        lock (_lock)
        {
            if (_haltRequested) return;          // already stopping
            _haltRequested = true;
            _pendingStop = why;
            foreach (var c in _cpus) c.RequestStop();
        }
    }

    private void Loop(int idx)
    {
        var cpu = _cpus[idx];
        int seen = 0;
        while (!_disposed)
        {
            lock (_lock)
            {
                while (!_disposed && (seen == _generation || _parked[idx])) { seen = _generation; Monitor.Wait(_lock); }
                seen = _generation;
                if (_disposed) return;
            }
            while (!_haltRequested && !_disposed)
            {
                VcpuExit exit;
                try { exit = cpu.Run(long.MaxValue); }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    StopAll(new DebugStop(idx, DebugStopReason.Fault, Message: $"{e.GetType().Name}: {e.Message}"));
                    break;
                }
                switch (exit.Reason)
                {
                    case VcpuExitReason.Halted:
                        cpu.WaitForWakeup(50);
                        continue;
                    case VcpuExitReason.Stopped:
                    case VcpuExitReason.BudgetExhausted:
                        continue;
                    case VcpuExitReason.Breakpoint:
                        StopAll(cpu is IVcpuWatchpoints w && w.TryGetWatchHit(out var hit)
                            ? new DebugStop(idx, DebugStopReason.Watchpoint, hit.Address, hit.Kind)
                            : new DebugStop(idx, DebugStopReason.Breakpoint, exit.Address));
                        break;
                    case VcpuExitReason.SingleStep:
                        StopAll(new DebugStop(idx, DebugStopReason.SingleStep, exit.Address));
                        break;
                    case VcpuExitReason.Shutdown:
                        StopAll(new DebugStop(idx, DebugStopReason.Fault, Message: "triple fault (shutdown)"));
                        break;
                    default:
                        StopAll(new DebugStop(idx, DebugStopReason.Fault, Message: $"{exit.Reason}: {exit.Message}"));
                        break;
                }
            }
            DebugStop? report = null;
            lock (_lock)
            {
                _parked[idx] = true;
                Monitor.PulseAll(_lock);
                if (Array.IndexOf(_parked, false) < 0 && _pendingStop is { } s)
                {
                    _pendingStop = null;
                    report = s;
                }
            }
            if (report is { } r) Stopped?.Invoke(r);   // the last vCPU to park reports, with every vCPU stopped
        }
    }

    public void Dispose()
    {
        _disposed = true;
        _haltRequested = true;
        foreach (var c in _cpus) c.RequestStop();
        lock (_lock) Monitor.PulseAll(_lock);
        foreach (var t in _threads) t.Join(2000);
    }
}
