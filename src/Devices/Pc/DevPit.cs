using SharpBox.Vmm.Pdm;
using SharpBox.Vmm.Pgm;
using SharpBox.Vmm.Ssm;
using SharpBox.Vmm.Tm;

namespace SharpBox.Devices.Pc;

/// <summary>
/// The i8254 programmable interval timer (ports 0x40-0x43) with the PC's port 0x61 (timer 2 gate,
/// speaker enable, refresh toggle, OUT2). Counters run off TM's virtual clock at 1.193182 MHz and are
/// computed on demand; only channel 0's output transitions are scheduled, as one TM timer driving IRQ0.
/// Modes 0-5, latch and read-back commands, LSB/MSB/word access. BCD counting is stored but counts
/// binary, as in QEMU (no PC operating system uses it).
/// </summary>
public sealed class DevPit : PdmDevice, IIoPortDevice
{
    public const long Frequency = 1_193_182;
    private const int RwLsb = 1, RwMsb = 2, RwWord0 = 3, RwWord1 = 4;
    // A hostile guest could program count 1 in mode 2: keep IRQ0 edges at least this far apart.
    private const long MinIrqSpacingNs = 10_000;

    internal sealed class Channel
    {
        public int Count = 0x10000;
        public ushort LatchedCount;
        public int CountLatched;
        public bool StatusLatched;
        public byte Status;
        public int ReadState, WriteState;
        public byte WriteLatch;
        public int RwMode, Mode;
        public bool Bcd, Gate;
        public long CountLoadTime;
        public long NextTransitionTime;
    }

    private readonly Channel[] _ch = [new(), new(), new()];
    private readonly TmTimer _timer;
    private readonly IIrqLine _irq0;
    private byte _port61;            // bits 0-3 as written (gate 2, speaker, parity/iochk enables)
    private bool _irqLevel;

    public DevPit(PdmDeviceContext ctx) : base(ctx)
    {
        ctx.Config.Validate([]);
        ctx.RegisterIoPorts(0x40, 4, this, IoWidths.Byte);
        ctx.RegisterIoPorts(0x61, 1, new Port61(this), IoWidths.Byte, "port 0x61");
        _irq0 = ctx.IsaIrq(0);
        _timer = ctx.CreateTimer("irq0", OnTimer);
        ResetState();
        ctx.RegisterSavedState(1, Save, Load);
    }

    private long Now => Ctx.Tm.Clock.NowNs;

    private static long Ticks(long ns) => (long)((UInt128)(ulong)Math.Max(0, ns) * Frequency / 1_000_000_000);
    // Rounded up, so that Ticks(TicksToNs(n)) == n: a transition evaluated at its own time sees the new output.
    private static long TicksToNs(long ticks) => (long)(((UInt128)(ulong)ticks * 1_000_000_000 + Frequency - 1) / Frequency);

    private void ResetState()
    {
        for (int i = 0; i < 3; i++)
        {
            var c = _ch[i];
            c.Mode = 3; c.Gate = i != 2; c.Count = 0x10000; c.CountLoadTime = Now;
            c.RwMode = 0; c.ReadState = 0; c.WriteState = 0; c.CountLatched = 0; c.StatusLatched = false; c.Bcd = false;
        }
        _port61 = 0;
        _irqLevel = false;
        _irq0.SetLevel(false);
        // Channel 0 starts counting in mode 3 with the full count, as after the BIOS left it (18.2 Hz).
        UpdateIrqTimer(_ch[0].CountLoadTime);
    }

    public override void Reset() => ResetState();

    // ---- counter arithmetic ----

    internal int GetCount(Channel c, long now)
    {
        long d = Ticks(now - c.CountLoadTime);
        return c.Mode switch
        {
            0 or 1 or 4 or 5 => (int)((c.Count - d) & 0xFFFF),
            3 => (int)((c.Count - ((2 * d) % c.Count)) & 0xFFFF),
            _ => (int)(c.Count - (d % c.Count)),
        };
    }

    // OUT per the 8254 data sheet: mode 0 low until terminal count; mode 1 low while the one-shot runs;
    // mode 2 high except one clock before each reload; mode 3 high for the first half of each period;
    // modes 4/5 high except one clock at terminal count. Counts of 1 in modes 2/3 act as 2 (1 is illegal).
    internal bool GetOut(Channel c, long now)
    {
        long d = Ticks(now - c.CountLoadTime);
        long n = c.Count;
        switch (c.Mode)
        {
            case 0: case 1: return d >= n;
            case 2: { long m = Math.Max(n, 2); return d % m != m - 1; }
            case 3: { long m = Math.Max(n, 2); return d % m < (m + 1) >> 1; }
            default: return d != n;
        }
    }

    /// <summary>Virtual time of the output's next change after <paramref name="now"/>, or -1 if none.</summary>
    private long NextTransition(Channel c, long now)
    {
        long d = Ticks(now - c.CountLoadTime);
        long n = c.Count;
        long next;
        switch (c.Mode)
        {
            case 0: case 1:
                if (d < n) next = n; else return -1;
                break;
            case 2:
                {
                    long m = Math.Max(n, 2), r = d % m, b = d - r;
                    next = r < m - 1 ? b + m - 1 : b + m;
                    break;
                }
            case 3:
                {
                    long m = Math.Max(n, 2), r = d % m, b = d - r, half = (m + 1) >> 1;
                    next = r < half ? b + half : b + m;
                    break;
                }
            default:
                if (d < n) next = n;
                else if (d == n) next = n + 1;
                else return -1;
                break;
        }
        long t = c.CountLoadTime + TicksToNs(next);
        return t <= now ? now + 1 : t;
    }

    private void UpdateIrqTimer(long now)
    {
        var c = _ch[0];
        bool level = GetOut(c, now);
        if (level != _irqLevel) { _irqLevel = level; _irq0.SetLevel(level); }
        long next = NextTransition(c, now);
        c.NextTransitionTime = next;
        if (next < 0) _timer.Stop();
        else _timer.SetExpire(Math.Max(next, now + (level ? MinIrqSpacingNs : 1)));
    }

    // Evaluate at the scheduled transition, not at the (possibly late) callback time, to keep the phase.
    private void OnTimer() => UpdateIrqTimer(Math.Min(_ch[0].NextTransitionTime, Now));

    private void LoadCount(int ch, int value)
    {
        var c = _ch[ch];
        if (value == 0) value = 0x10000;
        c.CountLoadTime = Now;
        c.Count = value;
        if (ch == 0) UpdateIrqTimer(c.CountLoadTime);
    }

    private void LatchCount(Channel c)
    {
        if (c.CountLatched != 0) return;
        c.LatchedCount = (ushort)GetCount(c, Now);
        c.CountLatched = c.RwMode;
    }

    private void SetGate(int ch, bool gate)
    {
        var c = _ch[ch];
        bool rising = !c.Gate && gate;
        if (rising && c.Mode is 1 or 2 or 3 or 5)
        {
            c.CountLoadTime = Now;
            if (ch == 0) UpdateIrqTimer(c.CountLoadTime);
        }
        c.Gate = gate;
    }

    // ---- ports 0x40-0x43 ----

    public uint IoRead(ushort offset, int size)
    {
        if (offset == 3) return 0xFF;   // the control word register cannot be read
        var c = _ch[offset];
        if (c.StatusLatched) { c.StatusLatched = false; return c.Status; }
        if (c.CountLatched != 0)
        {
            switch (c.CountLatched)
            {
                case RwLsb: c.CountLatched = 0; return (byte)c.LatchedCount;
                case RwMsb: c.CountLatched = 0; return (byte)(c.LatchedCount >> 8);
                case RwWord0: c.CountLatched = RwMsb; return (byte)c.LatchedCount;
                default: c.CountLatched = 0; return (byte)(c.LatchedCount >> 8);
            }
        }
        int count = GetCount(c, Now);
        switch (c.ReadState)
        {
            case RwLsb: return (byte)count;
            case RwMsb: return (byte)(count >> 8);
            case RwWord0: c.ReadState = RwWord1; return (byte)count;
            case RwWord1: c.ReadState = RwWord0; return (byte)(count >> 8);
            default: return (byte)count;
        }
    }

    public void IoWrite(ushort offset, int size, uint value)
    {
        byte v = (byte)value;
        if (offset == 3)
        {
            int ch = v >> 6;
            if (ch == 3)
            {
                // Read-back: bit 5 clear = latch counts, bit 4 clear = latch status, bits 3-1 = channels.
                for (int i = 0; i < 3; i++)
                {
                    if ((v & (2 << i)) == 0) continue;
                    var c = _ch[i];
                    if ((v & 0x20) == 0) LatchCount(c);
                    if ((v & 0x10) == 0 && !c.StatusLatched)
                    {
                        c.Status = (byte)((GetOut(c, Now) ? 0x80 : 0) | (c.RwMode << 4) | (c.Mode << 1) | (c.Bcd ? 1 : 0));
                        c.StatusLatched = true;
                    }
                }
                return;
            }
            var s = _ch[ch];
            int access = (v >> 4) & 3;
            if (access == 0) { LatchCount(s); return; }
            s.RwMode = access;
            s.ReadState = access;
            s.WriteState = access;
            s.Mode = (v >> 1) & 7;
            if (s.Mode > 5) s.Mode -= 4;    // modes 6 and 7 are aliases of 2 and 3
            s.Bcd = (v & 1) != 0;
            return;
        }
        var chn = _ch[offset];
        switch (chn.WriteState)
        {
            case RwLsb: LoadCount(offset, v); break;
            case RwMsb: LoadCount(offset, v << 8); break;
            case RwWord0: chn.WriteLatch = v; chn.WriteState = RwWord1; break;
            case RwWord1: LoadCount(offset, chn.WriteLatch | (v << 8)); chn.WriteState = RwWord0; break;
        }
    }

    private sealed class Port61(DevPit pit) : IIoPortDevice
    {
        public uint IoRead(ushort offset, int size)
        {
            long now = pit.Now;
            // Bit 4 toggles with DRAM refresh (every 15.085 µs); bit 5 is timer 2's output.
            int refresh = (int)((now / 15_085) & 1);
            bool out2 = pit.GetOut(pit._ch[2], now);
            return (uint)((pit._port61 & 0x0F) | (refresh << 4) | (out2 ? 0x20 : 0));
        }

        public void IoWrite(ushort offset, int size, uint value)
        {
            pit._port61 = (byte)(value & 0x0F);
            pit.SetGate(2, (value & 1) != 0);
        }
    }

    // ---- saved state ----

    private void Save(SsmWriter w)
    {
        foreach (var c in _ch)
        {
            w.PutI32(c.Count); w.PutU16(c.LatchedCount); w.PutU8((byte)c.CountLatched); w.PutBool(c.StatusLatched);
            w.PutU8(c.Status); w.PutU8((byte)c.ReadState); w.PutU8((byte)c.WriteState); w.PutU8(c.WriteLatch);
            w.PutU8((byte)c.RwMode); w.PutU8((byte)c.Mode); w.PutBool(c.Bcd); w.PutBool(c.Gate);
            w.PutI64(c.CountLoadTime);
        }
        w.PutU8(_port61);
        w.PutBool(_irqLevel);
    }

    private void Load(SsmReader r, uint version)
    {
        foreach (var c in _ch)
        {
            c.Count = r.GetI32(); c.LatchedCount = r.GetU16(); c.CountLatched = r.GetU8(); c.StatusLatched = r.GetBool();
            c.Status = r.GetU8(); c.ReadState = r.GetU8(); c.WriteState = r.GetU8(); c.WriteLatch = r.GetU8();
            c.RwMode = r.GetU8(); c.Mode = r.GetU8(); c.Bcd = r.GetBool(); c.Gate = r.GetBool();
            c.CountLoadTime = r.GetI64();
            if (c.Count is < 1 or > 0x10000 || c.Mode > 5 || c.RwMode > 3 || c.ReadState > 4 || c.WriteState > 4 || c.CountLatched > 4)
                throw r.Error("PIT channel state out of range");
        }
        _port61 = r.GetU8();
        _irqLevel = r.GetBool();
        _irq0.SetLevel(_irqLevel);
        UpdateIrqTimer(Now);
    }

    internal Channel this[int i] => _ch[i];
}
