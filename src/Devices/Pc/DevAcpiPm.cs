using SharpBox.Devices.Pc.Acpi;
using SharpBox.Vmm.Pdm;
using SharpBox.Vmm.Pgm;
using SharpBox.Vmm.Ssm;
using SharpBox.Vmm.Tm;

namespace SharpBox.Devices.Pc;

/// <summary>
/// The PIIX4 power-management function (00.1 function 3, 8086:7113) with its ACPI register block:
/// PM1 status/enable/control (SCI_EN always set: there is no SMM, so ACPI mode is permanent), the 32-bit
/// 3.579545 MHz PM timer with its overflow status, GPE0 status/enable (bit 0 = the power button, which
/// the DSDT's _L00 turns into a Notify of \_SB.PWRB), SLP_TYP/SLP_EN for S5 power-off, and SCI on IRQ 9.
/// The PM I/O base is programmed at power-on (PMBA, PMREGMISC) as firmware would.
/// </summary>
public sealed class DevAcpiPm : PdmDevice, IIoPortDevice
{
    public const long TimerHz = 3_579_545;
    public const ushort DefaultPmBase = 0x600;
    public const byte S5Type = 5;
    private const ushort StsTmr = 1, StsGbl = 1 << 5, StsPwrBtn = 1 << 8, StsRtc = 1 << 10, StsWak = 1 << 15;
    private const ushort CntSciEn = 1, CntSlpEn = 1 << 13;

    private ushort _pm1Sts, _pm1En, _pm1Cnt, _gpeSts, _gpeEn;
    private long _timerBaseNs;
    private readonly PmFunction _fn;
    private readonly IIrqLine _sci;
    private readonly TmTimer _overflowTimer;
    private IoPortRange? _ports;
    private bool _sciLevel;

    public ushort PmBase { get; private set; }
    public int SciIrq { get; }

    private sealed class PmFunction : PciFunction
    {
        private readonly DevAcpiPm _dev;
        public PmFunction(DevAcpiPm dev) : base("PIIX4 PM", 0x8086, 0x7113, 0x06, 0x80, 0x00, 0x03)
        {
            _dev = dev;
            SetInterruptPin(0);
            SetWritable(0x40, 4);          // PMBA (bit 0 reads as 1: I/O space)
            SetWritable(0x80, 1, 0x01);    // PMREGMISC: PM I/O enable
            SetWritable(0x90, 4);          // SMBBA
            SetWritable(0xD2, 1);          // SMBHSTCFG
        }

        public ushort Base => (ushort)(Get32(0x40) & 0xFFC0);
        public bool Enabled => (ConfigSpace[0x80] & 1) != 0;

        public void Program(ushort pmBase)
        {
            ResetConfig();
            Set32(0x40, pmBase | 1u);
            Set8(0x80, 1);
        }

        protected override void OnConfigWritten(int offset, int size, uint value)
        {
            if (offset == 0x40) Set32(0x40, (Get32(0x40) & 0xFFC0) | 1);
            if ((offset < 0x44 && offset + size > 0x40) || (offset <= 0x80 && offset + size > 0x80)) _dev.MapPorts();
        }
    }

    public DevAcpiPm(PdmDeviceContext ctx) : base(ctx)
    {
        ctx.Config.Validate(["PmBase", "SciIrq"]);
        ushort pmBase = (ushort)ctx.Config.GetInteger("PmBase", DefaultPmBase, 0x100, 0xFFC0);
        if ((pmBase & 0x3F) != 0) throw new ArgumentException($"ACPI PmBase 0x{pmBase:X} must be 64-byte aligned");
        SciIrq = (int)ctx.Config.GetInteger("SciIrq", 9, 3, 15);
        _fn = new PmFunction(this);
        ctx.RegisterPci(_fn, 1, 3);
        _sci = ctx.IsaIrq(SciIrq);
        _overflowTimer = ctx.CreateTimer("pm timer overflow", OnOverflow);
        PmBase = pmBase;
        PowerOn();
        ctx.RegisterSavedState(1, Save, Load);
    }

    private void PowerOn()
    {
        _pm1Sts = 0; _pm1En = 0; _pm1Cnt = CntSciEn; _gpeSts = 0; _gpeEn = 0;
        _timerBaseNs = Ctx.Tm.Clock.NowNs;
        _fn.Program(PmBase);
        MapPorts();
        UpdateSci();
    }

    public override void Reset() => PowerOn();

    private void MapPorts()
    {
        if (_ports is not null) { Ctx.Pdm.Ports.Unregister(_ports); _ports = null; }
        if (!_fn.Enabled || _fn.Base == 0) return;
        _ports = Ctx.Pdm.Ports.TryRegister("acpi PM", _fn.Base, 0x40, this, Ctx.Lock, IoWidths.All, out var why);
        if (_ports is null) Ctx.LogRel($"PM I/O block at 0x{_fn.Base:X} not mapped: {why}");
        else PmBase = _fn.Base;
    }

    // ---- the PM timer ----

    private uint TimerValue()
    {
        long ns = Ctx.Tm.Clock.NowNs - _timerBaseNs;
        return (uint)((UInt128)(ulong)Math.Max(0, ns) * TimerHz / 1_000_000_000);
    }

    /// <summary>TMR_STS is set whenever bit 31 of the timer toggles; computed when read, timed only when enabled.</summary>
    private long _lastOverflowPeriod;

    private void CatchUpOverflow()
    {
        long ns = Ctx.Tm.Clock.NowNs - _timerBaseNs;
        long period = (long)((UInt128)(ulong)Math.Max(0, ns) * TimerHz / 1_000_000_000 >> 31);
        if (period != _lastOverflowPeriod) { _lastOverflowPeriod = period; _pm1Sts |= StsTmr; }
    }

    private void ArmOverflow()
    {
        if ((_pm1En & StsTmr) == 0) { _overflowTimer.Stop(); return; }
        long nextTicks = (_lastOverflowPeriod + 1) << 31;
        _overflowTimer.SetExpire(_timerBaseNs + (long)(((UInt128)(ulong)nextTicks * 1_000_000_000 + TimerHz - 1) / TimerHz));
    }

    private void OnOverflow() { CatchUpOverflow(); UpdateSci(); ArmOverflow(); }

    // ---- events ----

    private void UpdateSci()
    {
        bool level = (_pm1Cnt & CntSciEn) != 0 &&
                     ((_pm1Sts & _pm1En & (StsTmr | StsGbl | StsPwrBtn | StsRtc)) != 0 || (_gpeSts & _gpeEn) != 0);
        if (level != _sciLevel) { _sciLevel = level; _sci.SetLevel(level); }
    }

    /// <summary>The host pressed the power button (VBoxManage controlvm acpipowerbutton): GPE0 bit 0 → SCI.</summary>
    public void PressPowerButton()
    {
        using (Ctx.Lock.EnterScope())
        {
            _gpeSts |= 1 << AcpiTables.PowerButtonGpe;
            UpdateSci();
        }
        Ctx.LogRel("power button pressed");
    }

    /// <summary>True once the guest enabled the power-button GPE (an OS with ACPI is listening).</summary>
    public bool PowerButtonEnabled { get { using (Ctx.Lock.EnterScope()) return (_gpeEn & (1 << AcpiTables.PowerButtonGpe)) != 0; } }

    // ---- registers ----

    public uint IoRead(ushort offset, int size)
    {
        // The timer is sampled once per access: byte by byte, a read could see time go backwards
        // (a carry between the bytes), which guests polling it take for a huge jump.
        if (offset >= AcpiTables.PmTimerOffset && offset + size <= AcpiTables.PmTimerOffset + 4)
            return (uint)((ulong)TimerValue() >> (8 * (offset - AcpiTables.PmTimerOffset))) & (size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1);
        uint v = 0;
        for (int i = 0; i < size; i++) v |= (uint)ReadByte(offset + i) << (8 * i);
        return v;
    }

    private byte ReadByte(int off)
    {
        switch (off)
        {
            case 0: case 1: CatchUpOverflow(); return (byte)(_pm1Sts >> (8 * off));
            case 2: case 3: return (byte)(_pm1En >> (8 * (off - 2)));
            case 4: case 5: return (byte)(_pm1Cnt >> (8 * (off - 4)));
            case >= AcpiTables.PmTimerOffset and < AcpiTables.PmTimerOffset + 4:
                return (byte)(TimerValue() >> (8 * (off - AcpiTables.PmTimerOffset)));
            case AcpiTables.Gpe0Offset: case AcpiTables.Gpe0Offset + 1: return (byte)(_gpeSts >> (8 * (off - AcpiTables.Gpe0Offset)));
            case AcpiTables.Gpe0Offset + 2: case AcpiTables.Gpe0Offset + 3: return (byte)(_gpeEn >> (8 * (off - AcpiTables.Gpe0Offset - 2)));
            default: return 0;
        }
    }

    public void IoWrite(ushort offset, int size, uint value)
    {
        // Registers are written as a whole when the access covers them; status bits are write-one-to-clear.
        switch (offset)
        {
            case 0:
                _pm1Sts &= (ushort)~(ushort)value;
                if (size == 4) WritePm1En((ushort)(value >> 16));
                break;
            case 1: _pm1Sts &= (ushort)~((value & 0xFF) << 8); break;
            case 2: WritePm1En(size >= 2 ? (ushort)value : Merge(_pm1En, 0, value)); break;
            case 3: WritePm1En(Merge(_pm1En, 1, value)); break;
            case 4: WritePm1Cnt(size >= 2 ? (ushort)value : Merge(_pm1Cnt, 0, value)); break;
            case 5: WritePm1Cnt(Merge(_pm1Cnt, 1, value)); break;
            case AcpiTables.Gpe0Offset:
                _gpeSts &= (ushort)~(ushort)(size >= 2 ? value : value & 0xFF);
                if (size == 4) _gpeEn = (ushort)(value >> 16);
                break;
            case AcpiTables.Gpe0Offset + 1: _gpeSts &= (ushort)~((value & 0xFF) << 8); break;
            case AcpiTables.Gpe0Offset + 2: _gpeEn = size >= 2 ? (ushort)value : Merge(_gpeEn, 0, value); break;
            case AcpiTables.Gpe0Offset + 3: _gpeEn = Merge(_gpeEn, 1, value); break;
        }
        UpdateSci();
    }

    /// <summary>Replaces byte <paramref name="index"/> of a 16-bit register.</summary>
    private static ushort Merge(ushort reg, int index, uint b)
        => (ushort)((reg & ~(0xFF << (8 * index))) | (int)((b & 0xFF) << (8 * index)));

    private void WritePm1En(ushort v) { _pm1En = (ushort)(v & (StsTmr | StsGbl | StsPwrBtn | StsRtc)); ArmOverflow(); }

    private void WritePm1Cnt(ushort v)
    {
        _pm1Cnt = (ushort)((v & ~CntSlpEn & 0x1C06) | CntSciEn);
        if ((v & CntSlpEn) == 0) return;
        int slpTyp = (v >> 10) & 7;
        if (slpTyp == S5Type) Ctx.Vm.RequestPowerOff("ACPI S5 (soft off)");
        else Ctx.LogRel($"guest requested sleep type {slpTyp}, which this machine does not offer; ignored");
    }

    // ---- saved state ----

    private void Save(SsmWriter w)
    {
        w.PutU16(_pm1Sts); w.PutU16(_pm1En); w.PutU16(_pm1Cnt); w.PutU16(_gpeSts); w.PutU16(_gpeEn);
        w.PutI64(_timerBaseNs); w.PutI64(_lastOverflowPeriod);
        _fn.SaveConfig(w);
    }

    private void Load(SsmReader r, uint version)
    {
        _pm1Sts = r.GetU16(); _pm1En = r.GetU16(); _pm1Cnt = (ushort)(r.GetU16() | CntSciEn); _gpeSts = r.GetU16(); _gpeEn = r.GetU16();
        _timerBaseNs = r.GetI64(); _lastOverflowPeriod = r.GetI64();
        _fn.LoadConfig(r);
        MapPorts();
        _sciLevel = false; _sci.SetLevel(false);
        UpdateSci();
        ArmOverflow();
    }
}
