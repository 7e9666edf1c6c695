using SharpBox.Vmm.Pdm;
using SharpBox.Vmm.Ssm;
using SharpBox.Vmm.Tm;

namespace SharpBox.Devices.Pc;

/// <summary>
/// The HPET at 0xFED00000: a 64-bit main counter at 100 MHz on TM's clock, three comparators with one-shot
/// and periodic modes, 32-bit mode, edge or level interrupts (GINTR_STA), routing to IOAPIC pins 20-23
/// or, in legacy replacement mode, timer 0 → IRQ0/GSI2 and timer 1 → IRQ8 (cutting off the PIT and RTC).
/// FSB (MSI) delivery is not offered.
/// </summary>
public sealed class DevHpet : PdmDevice, IMmioDevice
{
    public const ulong DefaultBase = 0xFED0_0000;
    public const int Timers = 3;
    public const long PeriodFs = 10_000_000;            // 10 ns per tick: 100 MHz
    private const long NsPerTick = PeriodFs / 1_000_000;
    private const uint RouteCap = 0x00F0_0000;          // IOAPIC pins 20-23
    private const ulong CfgEnable = 1, CfgLegacy = 2;
    private const ulong TnLevel = 1 << 1, TnEnable = 1 << 2, TnPeriodic = 1 << 3, TnPerCap = 1 << 4, TnSize64 = 1 << 5,
        TnSetVal = 1 << 6, Tn32Bit = 1 << 8, TnRouteMask = 0x1F << 9;
    private const long MinPeriodTicks = 5_000;          // 50 µs: a periodic timer faster than 20 kHz is clamped

    private sealed class Timer
    {
        public ulong Config, Cmp, Period;
        public bool Wrapped32;
        public TmTimer Tm = null!;
        public IIrqLine? Legacy;
        public readonly IIrqLine?[] Gsi = new IIrqLine?[24];
        public IIrqLine? Raised;      // the line currently held high (level mode)
    }

    private readonly Timer[] _t = new Timer[Timers];
    private ulong _config, _isr;
    private ulong _counterAtStop;      // main counter value while disabled
    private long _enabledAtNs;         // virtual time at which the counter was _counterAtStop, while enabled

    public static uint CapabilitiesLow => (0x8086u << 16) | (1u << 15) | (1u << 13) | ((uint)(Timers - 1) << 8) | 0x01;
    private static ulong Capabilities => ((ulong)PeriodFs << 32) | CapabilitiesLow;

    public DevHpet(PdmDeviceContext ctx) : base(ctx)
    {
        ctx.Config.Validate([]);
        for (int i = 0; i < Timers; i++)
        {
            int n = i;
            _t[i] = new Timer { Tm = ctx.CreateTimer($"timer{i}", () => OnTimer(n)) };
        }
        _t[0].Legacy = ctx.Irqs.CreateIsaLine(0, fromHpetLegacy: true);
        _t[1].Legacy = ctx.Irqs.CreateIsaLine(8, fromHpetLegacy: true);
        ctx.RegisterMmio(DefaultBase, 0x400, this);
        PowerOn();
        ctx.RegisterSavedState(1, Save, Load);
    }

    private void PowerOn()
    {
        _config = 0; _isr = 0; _counterAtStop = 0; _enabledAtNs = 0;
        foreach (var t in _t)
        {
            LowerLine(t);
            t.Config = TnPerCap | TnSize64;
            t.Cmp = ulong.MaxValue; t.Period = 0; t.Wrapped32 = false;
            t.Tm.Stop();
        }
        _t[2].Config &= ~TnPerCap;     // as on real chipsets, only timers 0 and 1 are periodic capable
        Ctx.Irqs.HpetLegacyReplacement = false;
    }

    public override void Reset() => PowerOn();

    private long Now => Ctx.Tm.Clock.NowNs;
    private bool Enabled => (_config & CfgEnable) != 0;

    private ulong Counter => Enabled ? _counterAtStop + (ulong)Math.Max(0, (Now - _enabledAtNs) / NsPerTick) : _counterAtStop;

    private long NsOfCounter(ulong value) => _enabledAtNs + (long)(value - _counterAtStop) * NsPerTick;

    // ---- comparators ----

    private void Arm(int i)
    {
        var t = _t[i];
        if (!Enabled || (t.Config & TnEnable) == 0) { t.Tm.Stop(); return; }
        ulong now = Counter;
        ulong diff;
        if ((t.Config & Tn32Bit) != 0) diff = (uint)((uint)t.Cmp - (uint)now);
        else diff = t.Cmp - now;
        if (diff > (1UL << 62)) { t.Tm.Stop(); return; }    // in the past for 64-bit: the counter would need centuries to wrap
        t.Tm.SetExpire(NsOfCounter(now + diff));
    }

    private void OnTimer(int i)
    {
        var t = _t[i];
        if (!Enabled) return;
        Fire(i);
        if ((t.Config & TnPeriodic) != 0 && t.Period != 0)
        {
            ulong period = Math.Max(t.Period, MinPeriodTicks);
            ulong now = Counter;
            // Advance past "now", keeping the phase; missed periods are not delivered in a burst.
            if ((t.Config & Tn32Bit) != 0)
            {
                uint c = (uint)t.Cmp, p32 = (uint)Math.Min(period, uint.MaxValue);
                if ((int)(c - (uint)now) <= 0) c += ((uint)now - c) / p32 * p32 + p32;
                t.Cmp = (t.Cmp & ~0xFFFF_FFFFUL) | c;
            }
            else if (t.Cmp <= now) t.Cmp += (now - t.Cmp) / period * period + period;
        }
        Arm(i);
    }

    private IIrqLine? LineOf(int i)
    {
        var t = _t[i];
        if ((_config & CfgLegacy) != 0 && i < 2) return t.Legacy;
        int pin = (int)((t.Config & TnRouteMask) >> 9);
        if ((RouteCap & (1u << pin)) == 0) return null;
        return t.Gsi[pin] ??= Ctx.Irqs.CreateGsiLine(pin);
    }

    private void Fire(int i)
    {
        var t = _t[i];
        if ((t.Config & TnEnable) == 0) return;
        var line = LineOf(i);
        if ((t.Config & TnLevel) != 0)
        {
            _isr |= 1UL << i;
            if (line is not null) { t.Raised = line; line.SetLevel(true); }
        }
        else if (line is not null) { line.SetLevel(true); line.SetLevel(false); }
    }

    private void LowerLine(Timer t)
    {
        t.Raised?.SetLevel(false);
        t.Raised = null;
    }

    // ---- registers ----

    public ulong MmioRead(ulong offset, int size)
    {
        ulong reg = offset & ~7UL;
        ulong v = ReadReg(reg);
        int shift = (int)(offset & 7) * 8;
        v >>= shift;
        return size >= 8 ? v : v & ((1UL << (8 * size)) - 1);
    }

    private ulong ReadReg(ulong reg)
    {
        switch (reg)
        {
            case 0x000: return Capabilities;
            case 0x010: return _config;
            case 0x020: return _isr;
            case 0x0F0: return Counter;
        }
        if (reg >= 0x100 && reg < 0x100 + 0x20 * Timers)
        {
            var t = _t[(reg - 0x100) / 0x20];
            switch ((reg - 0x100) % 0x20)
            {
                case 0x00: return ((ulong)RouteCap << 32) | t.Config;
                case 0x08: return (t.Config & Tn32Bit) != 0 ? (uint)t.Cmp : t.Cmp;
                case 0x10: return 0;
            }
        }
        return 0;
    }

    public void MmioWrite(ulong offset, int size, ulong value)
    {
        ulong reg = offset & ~7UL;
        int shift = (int)(offset & 7) * 8;
        ulong mask = (size >= 8 ? ulong.MaxValue : (1UL << (8 * size)) - 1) << shift;
        ulong old = ReadReg(reg);
        ulong nv = (old & ~mask) | ((value << shift) & mask);
        switch (reg)
        {
            case 0x010: WriteConfig(nv); return;
            case 0x020:
                {
                    // Write one to clear level-triggered status; the line drops with it.
                    ulong clear = (value << shift) & mask;
                    for (int i = 0; i < Timers; i++)
                        if ((clear & (1UL << i)) != 0 && (_isr & (1UL << i)) != 0) { _isr &= ~(1UL << i); LowerLine(_t[i]); }
                    return;
                }
            case 0x0F0:
                if (Enabled) { Ctx.LogRel("guest wrote the main counter while enabled; ignored"); return; }
                _counterAtStop = nv;
                return;
        }
        if (reg >= 0x100 && reg < 0x100 + 0x20 * Timers)
        {
            int i = (int)((reg - 0x100) / 0x20);
            var t = _t[i];
            switch ((reg - 0x100) % 0x20)
            {
                case 0x00:
                    {
                        ulong ro = TnPerCap | TnSize64;
                        ulong wr = TnLevel | TnEnable | TnSetVal | Tn32Bit | TnRouteMask | ((t.Config & TnPerCap) != 0 ? TnPeriodic : 0);
                        ulong cfg = (nv & wr) | (t.Config & ro);
                        if ((cfg & TnLevel) == 0 || (cfg & TnEnable) == 0) { _isr &= ~(1UL << i); LowerLine(t); }
                        t.Config = cfg;
                        Arm(i);
                        return;
                    }
                case 0x08:
                    {
                        ulong v = nv;
                        if ((t.Config & Tn32Bit) != 0) v = (uint)v;
                        bool periodic = (t.Config & TnPeriodic) != 0;
                        if (!periodic || (t.Config & TnSetVal) != 0) t.Cmp = (t.Config & Tn32Bit) != 0 ? (t.Cmp & ~0xFFFF_FFFFUL) | v : v;
                        if (periodic) t.Period = v;
                        t.Config &= ~TnSetVal;
                        Arm(i);
                        return;
                    }
            }
        }
    }

    private void WriteConfig(ulong v)
    {
        ulong old = _config;
        if ((old & CfgEnable) == 0 && (v & CfgEnable) != 0) _enabledAtNs = Now;
        else if ((old & CfgEnable) != 0 && (v & CfgEnable) == 0) _counterAtStop = Counter;
        _config = v & (CfgEnable | CfgLegacy);
        if (((old ^ _config) & CfgLegacy) != 0)
        {
            foreach (var t in _t) LowerLine(t);
            Ctx.Irqs.HpetLegacyReplacement = (_config & CfgLegacy) != 0;
        }
        for (int i = 0; i < Timers; i++) Arm(i);
    }

    // ---- saved state ----

    private void Save(SsmWriter w)
    {
        w.PutU64(_config); w.PutU64(_isr); w.PutU64(_counterAtStop); w.PutI64(_enabledAtNs);
        foreach (var t in _t) { w.PutU64(t.Config); w.PutU64(t.Cmp); w.PutU64(t.Period); }
    }

    private void Load(SsmReader r, uint version)
    {
        _config = r.GetU64() & (CfgEnable | CfgLegacy); _isr = r.GetU64() & 7; _counterAtStop = r.GetU64(); _enabledAtNs = r.GetI64();
        Ctx.Irqs.HpetLegacyReplacement = (_config & CfgLegacy) != 0;
        for (int i = 0; i < Timers; i++)
        {
            var t = _t[i];
            LowerLine(t);
            t.Config = r.GetU64(); t.Cmp = r.GetU64(); t.Period = r.GetU64();
            if ((_isr & (1UL << i)) != 0 && (t.Config & TnLevel) != 0 && LineOf(i) is { } line) { t.Raised = line; line.SetLevel(true); }
            Arm(i);
        }
    }
}
