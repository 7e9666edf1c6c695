using SharpBox.Vmm.Pdm;
using SharpBox.Vmm.Pgm;
using SharpBox.Vmm.Ssm;
using SharpBox.Vmm.Tm;

namespace SharpBox.Devices.Pc;

/// <summary>
/// The local APICs of all vCPUs (one device, as VirtualBox's DevAPIC): xAPIC registers at 0xFEE00000 as a
/// per-CPU MMIO page, x2APIC MSRs when enabled in IA32_APIC_BASE (and advertised), IRR/ISR/TMR with
/// TPR/PPR priority, EOI with broadcast to the IOAPIC for level-triggered vectors, IPIs (fixed, lowest
/// priority, NMI, INIT, SIPI; physical, logical flat/cluster, shorthands), the LVT timer in one-shot,
/// periodic and TSC-deadline modes on TM's clock (1 GHz APIC bus), LINT0 ExtINT for the PIC (virtual-wire
/// mode, preset on the BSP as firmware leaves it) and LINT1 NMI. Its lock is PDM's IRQ lock.
/// </summary>
public sealed class DevApic : PdmDevice, IPerCpuMmioDevice, ICpuInterruptController, IApicCpuInterface, IApicBus
{
    public const ulong DefaultBase = 0xFEE0_0000;
    public const ulong BusHz = 1_000_000_000;
    private const ulong BaseBsp = 1UL << 8, BaseExtd = 1UL << 10, BaseEnable = 1UL << 11;
    private const uint LvtMasked = 1u << 16, LvtLevel = 1u << 15, LvtRemoteIrr = 1u << 14, LvtPending = 1u << 12;
    private const int LvtCmci = 0, LvtTimer = 1, LvtThermal = 2, LvtPerf = 3, LvtLint0 = 4, LvtLint1 = 5, LvtError = 6, LvtCount = 7;
    private const uint Version = 0x0005_0014;   // integrated APIC, 6 LVT entries (max LVT index 5)
    private const long MinPeriodNs = 50_000;     // periodic timers faster than 20 kHz are clamped (hostile guests)

    internal sealed class Lapic
    {
        public int Cpu;
        public ulong BaseMsr;
        public uint Id, Tpr, Ldr, Dfr = 0xFFFF_FFFF, Svr = 0xFF, Esr, EsrPending, IcrLo, IcrHi, Divide, InitialCount;
        public readonly uint[] Irr = new uint[8], Isr = new uint[8], Tmr = new uint[8];
        public readonly uint[] Lvt = new uint[LvtCount];
        public long TimerStartNs;
        public ulong TscDeadline;
        public bool ExtIntPending;
        public TmTimer Timer = null!;

        public bool HwEnabled => (BaseMsr & BaseEnable) != 0;
        public bool X2Apic => (BaseMsr & BaseExtd) != 0;
        public bool SwEnabled => (Svr & 0x100) != 0;
        public int TimerMode => (int)((Lvt[LvtTimer] >> 17) & 3);
        public long DivideBy => ((Divide & 3) | ((Divide >> 1) & 4)) switch { 7 => 1, var n => 2L << (int)n };

        public static int Highest(uint[] bits)
        {
            for (int i = 7; i >= 0; i--)
                if (bits[i] != 0) return i * 32 + 31 - System.Numerics.BitOperations.LeadingZeroCount(bits[i]);
            return -1;
        }

        public static void Set(uint[] bits, int v) => bits[v >> 5] |= 1u << (v & 31);
        public static void Clear(uint[] bits, int v) => bits[v >> 5] &= ~(1u << (v & 31));
        public static bool Test(uint[] bits, int v) => (bits[v >> 5] & (1u << (v & 31))) != 0;

        public uint Ppr
        {
            get
            {
                int isrv = Highest(Isr);
                uint isrClass = isrv < 0 ? 0 : (uint)isrv & 0xF0;
                return (Tpr & 0xF0) >= isrClass ? Tpr & 0xFF : isrClass;
            }
        }

        public void ResetRegisters()
        {
            Tpr = 0; Ldr = 0; Dfr = 0xFFFF_FFFF; Svr = 0xFF; Esr = 0; EsrPending = 0; IcrLo = 0; IcrHi = 0;
            Divide = 0; InitialCount = 0; TimerStartNs = 0; TscDeadline = 0; ExtIntPending = false;
            Array.Clear(Irr); Array.Clear(Isr); Array.Clear(Tmr);
            for (int i = 0; i < LvtCount; i++) Lvt[i] = LvtMasked;
            Timer.Stop();
        }
    }

    private readonly Lapic[] _cpus;
    private readonly bool _x2ApicSupported, _tscDeadlineSupported;
    private IPicInterface? _pic;
    private IEoiListener? _eoi;

    public DevApic(PdmDeviceContext ctx) : base(ctx)
    {
        ctx.Config.Validate(["X2Apic", "TscDeadline"]);
        _x2ApicSupported = ctx.Config.GetBool("X2Apic", false);
        _tscDeadlineSupported = ctx.Config.GetBool("TscDeadline", true);
        _cpus = new Lapic[ctx.CpuCount];
        for (int i = 0; i < _cpus.Length; i++)
        {
            var l = new Lapic { Cpu = i, Id = (uint)i };
            int cpu = i;
            l.Timer = ctx.CreateTimer($"timer cpu{i}", () => OnTimer(cpu));
            _cpus[i] = l;
        }
        ctx.RegisterPerCpuMmio(DefaultBase, 0x1000, this);
        ctx.Pdm.InterruptController = this;
        ctx.Pdm.ApicCpu = this;
        PowerOn();
        ctx.RegisterSavedState(1, Save, Load);
    }

    public override void InitComplete()
    {
        _pic = Ctx.Find<IPicInterface>();
        if (_pic is not null) _pic.OutputChanged = PicOutputChanged;
        _eoi = Ctx.Find<IEoiListener>();
    }

    private void PowerOn()
    {
        foreach (var l in _cpus)
        {
            l.BaseMsr = DefaultBase | BaseEnable | (l.Cpu == 0 ? BaseBsp : 0);
            l.Id = (uint)l.Cpu;
            l.ResetRegisters();
        }
        // Firmware leaves the BSP in virtual-wire mode: LINT0 ExtINT (PIC), LINT1 NMI.
        _cpus[0].Lvt[LvtLint0] = (uint)ApicDeliveryMode.ExtInt << 8;
        _cpus[0].Lvt[LvtLint1] = (uint)ApicDeliveryMode.Nmi << 8;
    }

    public override void Reset() => PowerOn();

    private long Now => Ctx.Tm.Clock.NowNs;

    // ---- interrupt acceptance ----

    private void Accept(Lapic l, byte vector, bool level)
    {
        if (!l.HwEnabled) return;
        if (vector < 16) { l.EsrPending |= 0x40; RaiseError(l); return; }   // received illegal vector
        Lapic.Set(l.Irr, vector);
        if (level) Lapic.Set(l.Tmr, vector); else Lapic.Clear(l.Tmr, vector);
        Ctx.CpuSignals.InterruptPending(l.Cpu);
    }

    private void RaiseError(Lapic l)
    {
        uint lvt = l.Lvt[LvtError];
        if ((lvt & LvtMasked) == 0 && (lvt & 0xFF) >= 16) { Lapic.Set(l.Irr, (int)(lvt & 0xFF)); Ctx.CpuSignals.InterruptPending(l.Cpu); }
    }

    private bool AcceptsPic(Lapic l)
    {
        if (!l.HwEnabled) return l.Cpu == 0;     // APIC off: the PIC's INTR goes to the BSP directly
        uint lvt0 = l.Lvt[LvtLint0];
        return (lvt0 & LvtMasked) == 0 && ((lvt0 >> 8) & 7) == (uint)ApicDeliveryMode.ExtInt;
    }

    // Both edges: a request that goes away before it is acknowledged must lower the CPU's INTR line too.
    private void PicOutputChanged(bool high)
    {
        foreach (var l in _cpus)
            if (AcceptsPic(l)) Ctx.CpuSignals.InterruptPending(l.Cpu);
    }

    public bool HasPendingInterrupt(int cpu)
    {
        using (Ctx.Irqs.IrqLock.EnterScope())
        {
            var l = _cpus[cpu];
            if (l.HwEnabled)
            {
                int v = Lapic.Highest(l.Irr);
                if (v >= 0 && (v & 0xF0) > (l.Ppr & 0xF0)) return true;
            }
            return _pic is not null && (l.ExtIntPending || AcceptsPic(l)) && _pic.OutputHigh;
        }
    }

    public int AcknowledgeInterrupt(int cpu)
    {
        using (Ctx.Irqs.IrqLock.EnterScope())
        {
            var l = _cpus[cpu];
            if (l.HwEnabled)
            {
                int v = Lapic.Highest(l.Irr);
                if (v >= 0 && (v & 0xF0) > (l.Ppr & 0xF0))
                {
                    Lapic.Clear(l.Irr, v);
                    Lapic.Set(l.Isr, v);
                    return v;
                }
            }
            if (_pic is not null && (l.ExtIntPending || AcceptsPic(l)) && _pic.OutputHigh)
            {
                l.ExtIntPending = false;
                return _pic.Acknowledge();
            }
            // The request went away between the line going up and the acknowledge: nothing to deliver
            // (the CPU carries on; its INTR line is lowered right after this).
            return -1;
        }
    }

    private void Eoi(Lapic l)
    {
        int v = Lapic.Highest(l.Isr);
        if (v < 0) return;
        Lapic.Clear(l.Isr, v);
        if (Lapic.Test(l.Tmr, v))
        {
            Lapic.Clear(l.Tmr, v);
            _eoi?.EndOfInterrupt((byte)v);
        }
        if (Lapic.Highest(l.Irr) >= 0) Ctx.CpuSignals.InterruptPending(l.Cpu);
    }

    // ---- message delivery (IPIs, IOAPIC) ----

    private bool Matches(Lapic l, bool logical, uint dest, bool x2)
    {
        if (!l.HwEnabled) return false;
        if (!logical)
            return x2 ? dest == 0xFFFF_FFFF || dest == l.Id : (dest & 0xFF) == 0xFF || (dest & 0xFF) == (l.Id & 0xFF);
        if (x2)
        {
            uint ldr = X2Ldr(l);
            return dest == 0xFFFF_FFFF || ((dest >> 16) == (ldr >> 16) && (dest & ldr & 0xFFFF) != 0);
        }
        dest &= 0xFF;
        if (dest == 0xFF) return true;
        uint logicalId = l.Ldr >> 24;
        if ((l.Dfr >> 28) == 0xF) return (logicalId & dest) != 0;                       // flat model
        return (dest >> 4) == (logicalId >> 4) && (dest & logicalId & 0xF) != 0;          // cluster model
    }

    private static uint X2Ldr(Lapic l) => ((l.Id >> 4) << 16) | (1u << (int)(l.Id & 0xF));

    public void Deliver(bool logical, uint destination, ApicDeliveryMode mode, byte vector, bool levelTriggered)
    {
        bool x2 = false;
        foreach (var c in _cpus) x2 |= c.X2Apic;
        DeliverFrom(null, logical, destination, mode, vector, levelTriggered, shorthand: 0, x2);
    }

    private void DeliverFrom(Lapic? source, bool logical, uint dest, ApicDeliveryMode mode, byte vector, bool level, int shorthand, bool x2)
    {
        Span<bool> targets = stackalloc bool[_cpus.Length];
        for (int i = 0; i < _cpus.Length; i++)
            targets[i] = shorthand switch
            {
                1 => _cpus[i] == source,
                2 => _cpus[i].HwEnabled,
                3 => _cpus[i] != source && _cpus[i].HwEnabled,
                _ => Matches(_cpus[i], logical, dest, x2),
            };
        if (mode == ApicDeliveryMode.LowestPriority)
        {
            int best = -1;
            for (int i = 0; i < _cpus.Length; i++)
                if (targets[i] && (best < 0 || (_cpus[i].Tpr & 0xF0) < (_cpus[best].Tpr & 0xF0))) best = i;
            targets.Clear();
            if (best >= 0) targets[best] = true;
            mode = ApicDeliveryMode.Fixed;
        }
        for (int i = 0; i < _cpus.Length; i++)
        {
            if (!targets[i]) continue;
            var l = _cpus[i];
            switch (mode)
            {
                case ApicDeliveryMode.Fixed: Accept(l, vector, level); break;
                case ApicDeliveryMode.Nmi: Ctx.CpuSignals.Nmi(i); break;
                case ApicDeliveryMode.Init:
                    l.ResetRegisters();
                    Ctx.CpuSignals.Init(i);
                    break;
                case ApicDeliveryMode.Startup: Ctx.CpuSignals.Startup(i, vector); break;
                case ApicDeliveryMode.ExtInt: l.ExtIntPending = true; Ctx.CpuSignals.InterruptPending(i); break;
                case ApicDeliveryMode.Smi: Ctx.LogRel($"SMI to CPU {i} ignored (no SMM)"); break;
            }
        }
    }

    private void SendIpi(Lapic l)
    {
        uint lo = l.IcrLo;
        var mode = (ApicDeliveryMode)((lo >> 8) & 7);
        bool logical = (lo & (1u << 11)) != 0;
        bool level = (lo & (1u << 15)) != 0;
        bool assert = (lo & (1u << 14)) != 0;
        int shorthand = (int)((lo >> 18) & 3);
        if (mode == ApicDeliveryMode.Init && level && !assert) return;   // INIT level de-assert: arbitration IDs only
        if (mode is ApicDeliveryMode.ExtInt or (ApicDeliveryMode)3) { l.EsrPending |= 0x20; RaiseError(l); return; } // send illegal vector
        uint dest = l.X2Apic ? l.IcrHi : l.IcrHi >> 24;
        DeliverFrom(l, logical, dest, mode, (byte)lo, level: false, shorthand, l.X2Apic);
    }

    // ---- LINT pins ----

    /// <summary>LINT1 (NMI) from the platform.</summary>
    public void Lint1Nmi()
    {
        using (Ctx.Irqs.IrqLock.EnterScope())
            foreach (var l in _cpus)
            {
                uint lvt = l.Lvt[LvtLint1];
                if (!l.HwEnabled ? l.Cpu == 0 : (lvt & LvtMasked) == 0 && ((lvt >> 8) & 7) == (uint)ApicDeliveryMode.Nmi)
                    Ctx.CpuSignals.Nmi(l.Cpu);
            }
    }

    // ---- the timer ----

    private uint CurrentCount(Lapic l)
    {
        if (l.InitialCount == 0 || l.TimerMode == 2) return 0;
        long ticks = (Now - l.TimerStartNs) / l.DivideBy;
        if (l.TimerMode == 1) return l.InitialCount - (uint)(ticks % l.InitialCount);
        return ticks >= l.InitialCount ? 0 : l.InitialCount - (uint)ticks;
    }

    private long PeriodNs(Lapic l)
    {
        long p = (long)l.InitialCount * l.DivideBy;
        return l.TimerMode == 1 ? Math.Max(p, MinPeriodNs) : p;
    }

    private void ArmTimer(Lapic l)
    {
        switch (l.TimerMode)
        {
            case 0: case 1:
                if (l.InitialCount == 0) { l.Timer.Stop(); return; }
                long elapsed = Now - l.TimerStartNs;
                long period = PeriodNs(l);
                if (l.TimerMode == 0)
                {
                    if (elapsed >= period) { l.Timer.Stop(); return; }
                    l.Timer.SetExpire(l.TimerStartNs + period);
                }
                else l.Timer.SetExpire(l.TimerStartNs + (elapsed / period + 1) * period);
                break;
            case 2:
                if (l.TscDeadline == 0) { l.Timer.Stop(); return; }
                ulong tscBase = l.TscDeadline - (ulong)Ctx.Tm.GetTscOffset(l.Cpu);
                l.Timer.SetExpire(Ctx.Tm.TscToNs(tscBase));
                break;
            default: l.Timer.Stop(); break;
        }
    }

    private void OnTimer(int cpu)
    {
        var l = _cpus[cpu];
        uint lvt = l.Lvt[LvtTimer];
        if ((lvt & LvtMasked) == 0 && l.HwEnabled) Accept(l, (byte)lvt, false);
        switch (l.TimerMode)
        {
            case 1:
                long p = PeriodNs(l);
                l.TimerStartNs += (Now - l.TimerStartNs) / p * p;
                ArmTimer(l);
                break;
            case 2:
                l.TscDeadline = 0;
                break;
        }
    }

    // ---- registers (offset = xAPIC MMIO offset) ----

    private uint ReadReg(Lapic l, int off)
    {
        switch (off)
        {
            case 0x020: return l.X2Apic ? l.Id : l.Id << 24;
            case 0x030: return Version;
            case 0x080: return l.Tpr;
            case 0x090: return 0;                      // APR
            case 0x0A0: return l.Ppr;
            case 0x0D0: return l.X2Apic ? X2Ldr(l) : l.Ldr;
            case 0x0E0: return l.Dfr;
            case 0x0F0: return l.Svr;
            case >= 0x100 and <= 0x170: return l.Isr[(off - 0x100) >> 4];
            case >= 0x180 and <= 0x1F0: return l.Tmr[(off - 0x180) >> 4];
            case >= 0x200 and <= 0x270: return l.Irr[(off - 0x200) >> 4];
            case 0x280: return l.Esr;
            case 0x2F0: return l.Lvt[LvtCmci];
            case 0x300: return l.IcrLo & ~LvtPending;  // delivery is instant: never "send pending"
            case 0x310: return l.IcrHi;
            case 0x320: return l.Lvt[LvtTimer];
            case 0x330: return l.Lvt[LvtThermal];
            case 0x340: return l.Lvt[LvtPerf];
            case 0x350: return l.Lvt[LvtLint0];
            case 0x360: return l.Lvt[LvtLint1];
            case 0x370: return l.Lvt[LvtError];
            case 0x380: return l.InitialCount;
            case 0x390: return CurrentCount(l);
            case 0x3E0: return l.Divide;
            default: return 0;
        }
    }

    private static readonly uint[] s_lvtMask =
    [
        0x0001_07FF, // CMCI
        0x0007_00FF, // timer: vector, mask, mode (17-18)
        0x0001_07FF, // thermal
        0x0001_07FF, // perf
        0x0001_A7FF, // LINT0: vector, mode, polarity, trigger, mask
        0x0001_A7FF, // LINT1
        0x0001_00FF, // error
    ];

    private void WriteLvt(Lapic l, int index, uint v)
    {
        uint m = s_lvtMask[index];
        if (index == LvtTimer && !_tscDeadlineSupported) m &= ~(2u << 17);
        if (!l.SwEnabled) v |= LvtMasked;              // a software-disabled APIC keeps LVTs masked
        uint old = l.Lvt[index];
        l.Lvt[index] = (v & m) | (old & LvtRemoteIrr);
        if (index == LvtTimer)
        {
            if (((old ^ l.Lvt[index]) >> 17 & 3) != 0) { l.InitialCount = 0; l.TscDeadline = 0; }
            ArmTimer(l);
        }
        if (index == LvtLint0 && _pic is { OutputHigh: true } && AcceptsPic(l)) Ctx.CpuSignals.InterruptPending(l.Cpu);
    }

    /// <summary>Returns false for a write the guest may not make (x2APIC: #GP).</summary>
    private bool WriteReg(Lapic l, int off, uint v)
    {
        switch (off)
        {
            case 0x020: if (!l.X2Apic) l.Id = v >> 24; else return false; break;
            case 0x080:
                l.Tpr = v & 0xFF;
                if (Lapic.Highest(l.Irr) >= 0) Ctx.CpuSignals.InterruptPending(l.Cpu);
                break;
            case 0x0B0: Eoi(l); break;
            case 0x0D0: if (!l.X2Apic) l.Ldr = v & 0xFF00_0000; else return false; break;
            case 0x0E0: if (!l.X2Apic) l.Dfr = v | 0x0FFF_FFFF; else return false; break;
            case 0x0F0:
                l.Svr = v & 0x13FF;
                if (!l.SwEnabled) for (int i = 0; i < LvtCount; i++) l.Lvt[i] |= LvtMasked;
                break;
            case 0x280: l.Esr = l.EsrPending; l.EsrPending = 0; break;
            case 0x2F0: WriteLvt(l, LvtCmci, v); break;
            case 0x300: l.IcrLo = v & 0x000C_CFFF; SendIpi(l); break;
            case 0x310: if (!l.X2Apic) l.IcrHi = v & 0xFF00_0000; else return false; break;
            case 0x320: WriteLvt(l, LvtTimer, v); break;
            case 0x330: WriteLvt(l, LvtThermal, v); break;
            case 0x340: WriteLvt(l, LvtPerf, v); break;
            case 0x350: WriteLvt(l, LvtLint0, v); break;
            case 0x360: WriteLvt(l, LvtLint1, v); break;
            case 0x370: WriteLvt(l, LvtError, v); break;
            case 0x380:
                if (l.TimerMode == 2) break;           // ignored in TSC-deadline mode
                l.InitialCount = v;
                l.TimerStartNs = Now;
                ArmTimer(l);
                break;
            case 0x3E0:
                {
                    // Keep the current count continuous across a divider change.
                    uint cur = CurrentCount(l);
                    l.Divide = v & 0xB;
                    if (l.InitialCount != 0 && l.TimerMode != 2)
                    {
                        l.TimerStartNs = Now - (long)(l.InitialCount - cur) * l.DivideBy;
                        ArmTimer(l);
                    }
                    break;
                }
            case 0x3F0:                                 // x2APIC SELF IPI
                if (!l.X2Apic) return true;
                Accept(l, (byte)v, false);
                break;
            default:
                return off is 0x030 or 0x090 or 0x0A0 or 0x390 or 0x0C0 || (off >= 0x100 && off <= 0x270) ? !l.X2Apic : true;
        }
        return true;
    }

    // ---- MMIO (xAPIC) ----

    public ulong MmioRead(int cpu, ulong offset, int size)
    {
        var l = _cpus[cpu];
        if (!l.HwEnabled || l.X2Apic) return 0;
        uint v = ReadReg(l, (int)(offset & 0xFF0));
        int shift = (int)(offset & 3) * 8;
        if ((offset & 0xF) >= 4) return 0;
        return size >= 4 ? v : (v >> shift) & ((1u << (8 * size)) - 1);
    }

    public void MmioWrite(int cpu, ulong offset, int size, ulong value)
    {
        var l = _cpus[cpu];
        if (!l.HwEnabled || l.X2Apic || (offset & 0xF) != 0) return;
        WriteReg(l, (int)(offset & 0xFF0), (uint)value);
    }

    // ---- MSRs and CR8 ----

    public bool TryReadMsr(int cpu, uint msr, out ulong value)
    {
        using (Ctx.Irqs.IrqLock.EnterScope())
        {
            var l = _cpus[cpu];
            value = 0;
            if (msr == 0x1B) { value = l.BaseMsr; return true; }
            if (msr == 0x6E0) { value = _tscDeadlineSupported && l.TimerMode == 2 ? l.TscDeadline : 0; return _tscDeadlineSupported; }
            if (msr is >= 0x800 and <= 0x8FF && l.X2Apic)
            {
                int off = (int)(msr - 0x800) << 4;
                if (off == 0x0B0 || off == 0x3F0 || off == 0x0E0 || off == 0x310) return false;   // write-only / absent
                if (off == 0x300) { value = ((ulong)l.IcrHi << 32) | l.IcrLo; return true; }
                if (!IsX2Readable(off)) return false;
                value = ReadReg(l, off);
                return true;
            }
            return false;
        }
    }

    private static bool IsX2Readable(int off) => off is 0x020 or 0x030 or 0x080 or 0x0A0 or 0x0D0 or 0x0F0 or 0x280 or 0x2F0
        or 0x320 or 0x330 or 0x340 or 0x350 or 0x360 or 0x370 or 0x380 or 0x390 or 0x3E0 || (off >= 0x100 && off <= 0x270);

    public bool TryWriteMsr(int cpu, uint msr, ulong value)
    {
        using (Ctx.Irqs.IrqLock.EnterScope())
        {
            var l = _cpus[cpu];
            if (msr == 0x1B) return WriteApicBase(l, value);
            if (msr == 0x6E0)
            {
                if (!_tscDeadlineSupported) return false;
                if (l.TimerMode == 2) { l.TscDeadline = value; ArmTimer(l); }
                return true;
            }
            if (msr is >= 0x800 and <= 0x8FF && l.X2Apic)
            {
                int off = (int)(msr - 0x800) << 4;
                if (off == 0x300)
                {
                    l.IcrHi = (uint)(value >> 32);
                    l.IcrLo = (uint)value & 0x000C_CFFF;
                    SendIpi(l);
                    return true;
                }
                if (off == 0x0B0 && value != 0) return false;           // EOI must write 0 in x2APIC mode
                if (off == 0x280 && value != 0) return false;
                if ((value >> 32) != 0) return false;
                return WriteReg(l, off, (uint)value);
            }
            return false;
        }
    }

    private bool WriteApicBase(Lapic l, ulong v)
    {
        const ulong reserved = ~(0xFFFF_FFFF_F000UL | BaseBsp | BaseExtd | BaseEnable);
        if ((v & reserved) != 0) return false;
        if ((v & BaseExtd) != 0 && !_x2ApicSupported) return false;
        bool en = (v & BaseEnable) != 0, extd = (v & BaseExtd) != 0;
        bool wasX2 = l.X2Apic, wasEn = l.HwEnabled;
        if (extd && !en) return false;                                      // invalid state
        if (wasX2 && en && !extd) return false;                             // x2APIC → xAPIC needs a disable first
        if ((v & 0xFFFF_FFFF_F000UL) != DefaultBase)
            Ctx.LogRel($"CPU {l.Cpu}: APIC base moved to 0x{v & 0xFFFF_FFFF_F000UL:X}; the MMIO page stays at 0x{DefaultBase:X}");
        l.BaseMsr = (v & ~BaseBsp) | (l.BaseMsr & BaseBsp);
        if (wasEn && !en)
        {
            // Hardware disable: the APIC returns to its reset state (the PIC then reaches the BSP directly).
            l.ResetRegisters();
        }
        if (!wasX2 && extd) { l.Id = (uint)l.Cpu; l.Ldr = X2Ldr(l); }
        return true;
    }

    public byte GetTpr(int cpu)
    {
        using (Ctx.Irqs.IrqLock.EnterScope()) return (byte)(_cpus[cpu].Tpr >> 4);
    }

    public void SetTpr(int cpu, byte cr8)
    {
        using (Ctx.Irqs.IrqLock.EnterScope())
        {
            var l = _cpus[cpu];
            l.Tpr = (uint)(cr8 & 0xF) << 4;
            if (Lapic.Highest(l.Irr) >= 0) Ctx.CpuSignals.InterruptPending(cpu);
        }
    }

    // ---- saved state ----

    private void Save(SsmWriter w)
    {
        w.PutU32((uint)_cpus.Length);
        foreach (var l in _cpus)
        {
            w.PutU64(l.BaseMsr);
            foreach (var x in new[] { l.Id, l.Tpr, l.Ldr, l.Dfr, l.Svr, l.Esr, l.EsrPending, l.IcrLo, l.IcrHi, l.Divide, l.InitialCount }) w.PutU32(x);
            for (int i = 0; i < 8; i++) { w.PutU32(l.Irr[i]); w.PutU32(l.Isr[i]); w.PutU32(l.Tmr[i]); }
            foreach (var x in l.Lvt) w.PutU32(x);
            w.PutI64(l.TimerStartNs);
            w.PutU64(l.TscDeadline);
            w.PutBool(l.ExtIntPending);
        }
    }

    private void Load(SsmReader r, uint version)
    {
        uint n = r.GetU32();
        if (n != _cpus.Length) throw r.Error($"saved with {n} CPUs, this VM has {_cpus.Length}");
        foreach (var l in _cpus)
        {
            l.BaseMsr = r.GetU64();
            l.Id = r.GetU32(); l.Tpr = r.GetU32(); l.Ldr = r.GetU32(); l.Dfr = r.GetU32(); l.Svr = r.GetU32(); l.Esr = r.GetU32();
            l.EsrPending = r.GetU32(); l.IcrLo = r.GetU32(); l.IcrHi = r.GetU32(); l.Divide = r.GetU32() & 0xB; l.InitialCount = r.GetU32();
            for (int i = 0; i < 8; i++) { l.Irr[i] = r.GetU32(); l.Isr[i] = r.GetU32(); l.Tmr[i] = r.GetU32(); }
            for (int i = 0; i < LvtCount; i++) l.Lvt[i] = r.GetU32();
            l.TimerStartNs = r.GetI64();
            l.TscDeadline = r.GetU64();
            l.ExtIntPending = r.GetBool();
            if ((l.BaseMsr & BaseExtd) != 0 && !_x2ApicSupported) throw r.Error("x2APIC mode saved, but this VM has no x2APIC");
            ArmTimer(l);
        }
    }

    internal Lapic this[int cpu] => _cpus[cpu];
}
