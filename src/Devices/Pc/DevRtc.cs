using SharpBox.Vmm.Cfgm;
using SharpBox.Vmm.Pdm;
using SharpBox.Vmm.Pgm;
using SharpBox.Vmm.Ssm;
using SharpBox.Vmm.Tm;

namespace SharpBox.Devices.Pc;

/// <summary>
/// The MC146818 real-time clock and its CMOS RAM (ports 0x70/0x71, extended bank 0x72/0x73). Time runs
/// on TM's virtual clock from the host's wall clock at power-on (UTC unless configured otherwise), in
/// BCD or binary and 12/24-hour formats as register B asks; UIP, periodic, alarm and update-ended
/// interrupts on IRQ8 (register C clears them); the SET bit freezes the clock while the guest sets it.
/// The CMOS holds what firmware and guests read: base/extended memory sizes, memory above 16 MiB and
/// 4 GiB, CPU count, boot order, century, with the standard checksum over 0x10-0x2D.
/// </summary>
public sealed class DevRtc : PdmDevice, IIoPortDevice
{
    public const int RegA = 0x0A, RegB = 0x0B, RegC = 0x0C, RegD = 0x0D;
    private const byte BSet = 0x80, BPie = 0x40, BAie = 0x20, BUie = 0x10, BDm = 0x04, B24h = 0x02;
    private const byte CIrqf = 0x80, CPf = 0x40, CAf = 0x20, CUf = 0x10;
    private const long NsPerSec = 1_000_000_000;
    private const long UipNs = 244_000;   // UIP is set this long before each update
    public const int CenturyIndex = 0x32;

    private readonly byte[] _cmos = new byte[256];
    private readonly byte[] _initialCmos = new byte[256];
    private byte _index, _extIndex;
    private bool _nmiDisabled;
    private long _baseSeconds;      // RTC time (seconds since 1970, in the RTC's own zone) at _baseNs
    private long _baseNs;           // virtual time of _baseSeconds
    private long _lastPeriodicIndex, _lastSecondSeen;
    private readonly TmTimer _periodicTimer, _secondTimer;
    private readonly IIrqLine _irq;
    private readonly bool _useUtc;
    private readonly long _startOffsetSeconds;

    public DevRtc(PdmDeviceContext ctx) : base(ctx)
    {
        var cfg = ctx.Config;
        cfg.Validate(["UseUTC", "RamSizeBelow4G", "RamSizeAbove4G", "CpuCount", "BootDevice0", "BootDevice1", "BootDevice2", "StartTimeOffset"]);
        _useUtc = cfg.GetBool("UseUTC", true);
        _startOffsetSeconds = (long)cfg.GetInteger("StartTimeOffset", 0);
        ulong below4g = cfg.GetInteger("RamSizeBelow4G", 0);
        ulong above4g = cfg.GetInteger("RamSizeAbove4G", 0);
        int cpus = (int)cfg.GetInteger("CpuCount", (ulong)ctx.CpuCount, 1, 255);
        BuildInitialCmos(below4g, above4g, cpus,
            [cfg.GetString("BootDevice0", "disk"), cfg.GetString("BootDevice1", "dvd"), cfg.GetString("BootDevice2", "net")]);
        ctx.RegisterIoPorts(0x70, 2, this, IoWidths.Byte);
        ctx.RegisterIoPorts(0x72, 2, new ExtBank(this), IoWidths.Byte, "bank 1");
        _irq = ctx.IsaIrq(8);
        _periodicTimer = ctx.CreateTimer("periodic", OnPeriodic);
        _secondTimer = ctx.CreateTimer("update", OnSecond);
        PowerOnState();
        ctx.RegisterSavedState(1, Save, Load);
    }

    private long Now => Ctx.Tm.Clock.NowNs;

    private void BuildInitialCmos(ulong below4g, ulong above4g, int cpus, string[] boot)
    {
        var c = _initialCmos;
        c[RegA] = 0x26; c[RegB] = B24h; c[RegD] = 0x80;
        c[0x10] = 0;                       // no floppy drives
        c[0x14] = 0x02 | 0x04;             // math coprocessor, display/keyboard present
        c[0x15] = 0x80; c[0x16] = 0x02;    // 640 KiB base memory
        ulong extKb = below4g > 0x100000 ? Math.Min((below4g - 0x100000) / 1024, 0xFFFF) : 0;
        c[0x17] = c[0x30] = (byte)extKb; c[0x18] = c[0x31] = (byte)(extKb >> 8);
        ulong above16 = below4g > 0x100_0000 ? Math.Min((below4g - 0x100_0000) >> 16, 0xFFFF) : 0;
        c[0x34] = (byte)above16; c[0x35] = (byte)(above16 >> 8);
        ulong high = above4g >> 16;
        c[0x5B] = (byte)high; c[0x5C] = (byte)(high >> 8); c[0x5D] = (byte)(high >> 16);
        c[0x5F] = (byte)(cpus - 1);
        int b0 = BootCode(boot[0], "BootDevice0"), b1 = BootCode(boot[1], "BootDevice1"), b2 = BootCode(boot[2], "BootDevice2");
        c[0x3D] = (byte)(b0 | (b1 << 4));
        c[0x38] = (byte)(b2 << 4);
        c[CenturyIndex] = 0x20;
        WriteChecksum(c);
    }

    private static int BootCode(string dev, string name) => dev switch
    {
        "none" => 0, "floppy" => 1, "disk" => 2, "dvd" => 3, "net" => 4,
        _ => throw new CfgmException($"CFGM: RTC {name} = '{dev}' (expected none, floppy, disk, dvd or net)"),
    };

    private static void WriteChecksum(byte[] c)
    {
        int sum = 0;
        for (int i = 0x10; i <= 0x2D; i++) sum += c[i];
        c[0x2E] = (byte)(sum >> 8); c[0x2F] = (byte)sum;
    }

    private void PowerOnState()
    {
        Array.Copy(_initialCmos, _cmos, 256);
        _index = 0; _extIndex = 0; _nmiDisabled = false;
        var wall = DateTimeOffset.UtcNow;
        long secs = wall.ToUnixTimeSeconds() + (_useUtc ? 0 : (long)TimeZoneInfo.Local.GetUtcOffset(wall).TotalSeconds) + _startOffsetSeconds;
        _baseNs = Now - (wall.ToUnixTimeMilliseconds() % 1000) * 1_000_000;
        _baseSeconds = secs;
        _lastPeriodicIndex = PeriodicIndex(Now);
        _lastSecondSeen = CurrentSecond(Now);
        _irq.SetLevel(false);
        _periodicTimer.Stop();
        _secondTimer.Stop();
    }

    public override void Reset()
    {
        // A reset does not stop the clock: keep the time, restore the registers firmware expects.
        long secs = CurrentSecond(Now), baseNs = _baseNs + (secs - _baseSeconds) * NsPerSec;
        PowerOnState();
        _baseSeconds = secs; _baseNs = baseNs;
        _lastSecondSeen = secs;
    }

    // ---- time keeping ----

    private bool Halted => (_cmos[RegB] & BSet) != 0 || (_cmos[RegA] & 0x70) != 0x20;

    private long CurrentSecond(long now) => _baseSeconds + FloorDiv(now - _baseNs, NsPerSec);

    private static long FloorDiv(long a, long b) => a >= 0 ? a / b : -((-a + b - 1) / b);

    private byte ToReg(int v) => (_cmos[RegB] & BDm) != 0 ? (byte)v : (byte)(((v / 10) << 4) | (v % 10));

    private int FromReg(byte v) => (_cmos[RegB] & BDm) != 0 ? v : ((v >> 4) & 0xF) * 10 + (v & 0xF);

    private byte HourToReg(int h)
    {
        if ((_cmos[RegB] & B24h) != 0) return ToReg(h);
        int h12 = h % 12 == 0 ? 12 : h % 12;
        return (byte)(ToReg(h12) | (h >= 12 ? 0x80 : 0));
    }

    private int HourFromReg(byte v)
    {
        if ((_cmos[RegB] & B24h) != 0) return FromReg(v);
        int h = FromReg((byte)(v & 0x7F)) % 12;
        return (v & 0x80) != 0 ? h + 12 : h;
    }

    /// <summary>Writes the current time into the time registers (and the century byte).</summary>
    private void MaterializeTime()
    {
        if (Halted) return;
        var t = DateTimeOffset.FromUnixTimeSeconds(Math.Clamp(CurrentSecond(Now), 0, 253402300799)).UtcDateTime;
        _cmos[0] = ToReg(t.Second);
        _cmos[2] = ToReg(t.Minute);
        _cmos[4] = HourToReg(t.Hour);
        _cmos[6] = ToReg((int)t.DayOfWeek + 1);
        _cmos[7] = ToReg(t.Day);
        _cmos[8] = ToReg(t.Month);
        _cmos[9] = ToReg(t.Year % 100);
        _cmos[CenturyIndex] = ToReg(t.Year / 100);
    }

    /// <summary>Takes the time registers as the new time (after SET is cleared or a register write).</summary>
    private void RebaseFromRegisters()
    {
        int sec = FromReg(_cmos[0]), min = FromReg(_cmos[2]), hour = HourFromReg(_cmos[4]);
        int day = FromReg(_cmos[7]), mon = FromReg(_cmos[8]), year = FromReg(_cmos[9]) + 100 * FromReg(_cmos[CenturyIndex]);
        if (sec > 59 || min > 59 || hour > 23 || mon is < 1 or > 12 || year is < 1 or > 9999 || day < 1 || day > DateTime.DaysInMonth(year, mon))
        {
            Ctx.LogRel($"guest set an invalid time {year:0000}-{mon:00}-{day:00} {hour:00}:{min:00}:{sec:00}; ignored");
            return;
        }
        var t = new DateTimeOffset(year, mon, day, hour, min, sec, TimeSpan.Zero);
        _baseSeconds = t.ToUnixTimeSeconds();
        _baseNs = Now;
        _lastSecondSeen = _baseSeconds;
    }

    private bool UpdateInProgress(long now)
    {
        if (Halted) return false;
        long frac = (now - _baseNs) % NsPerSec;
        if (frac < 0) frac += NsPerSec;
        return frac >= NsPerSec - UipNs;
    }

    // ---- periodic / update / alarm interrupts ----

    private long PeriodNs
    {
        get
        {
            int rs = _cmos[RegA] & 0x0F;
            if (rs == 0) return 0;
            if (rs <= 2) rs += 7;                         // 1, 2 behave as 8, 9 (256, 128 Hz)
            return (NsPerSec << (rs - 1)) / 32768;        // 32.768 kHz >> (rs - 1)
        }
    }

    private long PeriodicIndex(long now) => PeriodNs == 0 ? 0 : FloorDiv(now - _baseNs, PeriodNs);

    private void UpdateIrq()
    {
        byte c = (byte)(_cmos[RegC] & 0x70);
        bool irq = ((c & CPf) != 0 && (_cmos[RegB] & BPie) != 0) || ((c & CAf) != 0 && (_cmos[RegB] & BAie) != 0)
                   || ((c & CUf) != 0 && (_cmos[RegB] & BUie) != 0);
        _cmos[RegC] = (byte)(c | (irq ? CIrqf : 0));
        _irq.SetLevel(irq);
    }

    private void ArmTimers()
    {
        long now = Now;
        long p = PeriodNs;
        if ((_cmos[RegB] & BPie) != 0 && p != 0)
            _periodicTimer.SetExpire(_baseNs + (PeriodicIndex(now) + 1) * p);
        else _periodicTimer.Stop();
        if ((_cmos[RegB] & (BUie | BAie)) != 0 && !Halted)
            _secondTimer.SetExpire(_baseNs + (CurrentSecond(now) - _baseSeconds + 1) * NsPerSec);
        else _secondTimer.Stop();
    }

    private void OnPeriodic()
    {
        _lastPeriodicIndex = PeriodicIndex(Now);
        _cmos[RegC] |= CPf;
        UpdateIrq();
        ArmTimers();
    }

    private void OnSecond()
    {
        CatchUpSeconds();
        ArmTimers();
    }

    /// <summary>Sets UF (and AF on an alarm match) for seconds that passed since last seen.</summary>
    private void CatchUpSeconds()
    {
        if (Halted) return;
        long sec = CurrentSecond(Now);
        if (sec == _lastSecondSeen) return;
        _lastSecondSeen = sec;
        _cmos[RegC] |= CUf;
        MaterializeTime();
        if (AlarmMatch(1, 0) && AlarmMatch(3, 2) && AlarmMatch(5, 4)) _cmos[RegC] |= CAf;
        UpdateIrq();
    }

    // Alarm bytes with the two top bits set are "don't care".
    private bool AlarmMatch(int alarm, int reg) => (_cmos[alarm] & 0xC0) == 0xC0 || _cmos[alarm] == _cmos[reg];

    // ---- ports ----

    public uint IoRead(ushort offset, int size)
    {
        if (offset == 0) return 0xFF;     // the index register is write-only
        return ReadReg(_index);
    }

    public void IoWrite(ushort offset, int size, uint value)
    {
        if (offset == 0) { _index = (byte)(value & 0x7F); _nmiDisabled = (value & 0x80) != 0; return; }
        WriteReg(_index, (byte)value);
    }

    private sealed class ExtBank(DevRtc rtc) : IIoPortDevice
    {
        public uint IoRead(ushort offset, int size) => offset == 0 ? 0xFFu : rtc._cmos[128 + rtc._extIndex];
        public void IoWrite(ushort offset, int size, uint value)
        {
            if (offset == 0) rtc._extIndex = (byte)(value & 0x7F);
            else rtc._cmos[128 + rtc._extIndex] = (byte)value;
        }
    }

    internal byte ReadReg(int index)
    {
        switch (index)
        {
            case 0 or 2 or 4 or 6 or 7 or 8 or 9 or CenturyIndex:
                MaterializeTime();
                return _cmos[index];
            case RegA:
                return (byte)((_cmos[RegA] & 0x7F) | (UpdateInProgress(Now) ? 0x80 : 0));
            case RegC:
                {
                    // Flags of events that happened while their interrupt was off are produced here.
                    long pi = PeriodicIndex(Now);
                    if (PeriodNs != 0 && pi != _lastPeriodicIndex) { _lastPeriodicIndex = pi; _cmos[RegC] |= CPf; }
                    CatchUpSeconds();
                    byte v = _cmos[RegC];
                    _cmos[RegC] = 0;
                    _irq.SetLevel(false);
                    return v;
                }
            default:
                return _cmos[index];
        }
    }

    internal void WriteReg(int index, byte v)
    {
        switch (index)
        {
            case 0 or 2 or 4 or 6 or 7 or 8 or 9 or CenturyIndex:
                MaterializeTime();
                _cmos[index] = v;
                if (!Halted) RebaseFromRegisters();
                break;
            case 1 or 3 or 5:
                _cmos[index] = v;
                break;
            case RegA:
                {
                    bool wasHalted = Halted;
                    MaterializeTime();
                    _cmos[RegA] = (byte)(v & 0x7F);
                    if (wasHalted && !Halted) RebaseFromRegisters();
                    ArmTimers();
                    break;
                }
            case RegB:
                {
                    bool wasSet = (_cmos[RegB] & BSet) != 0;
                    MaterializeTime();
                    if ((v & BSet) != 0) v &= unchecked((byte)~BUie);   // SET clears UIE
                    _cmos[RegB] = v;
                    if (wasSet && (v & BSet) == 0) RebaseFromRegisters();
                    UpdateIrq();
                    ArmTimers();
                    break;
                }
            case RegC or RegD:
                break;                                                    // read-only
            default:
                _cmos[index] = v;
                break;
        }
    }

    /// <summary>For tests and the log: the raw CMOS byte without side effects.</summary>
    internal byte PeekCmos(int index) => _cmos[index];
    internal bool NmiDisabled => _nmiDisabled;

    // ---- saved state ----

    private void Save(SsmWriter w)
    {
        w.PutBytes(_cmos);
        w.PutU8(_index); w.PutU8(_extIndex); w.PutBool(_nmiDisabled);
        w.PutI64(_baseSeconds); w.PutI64(_baseNs); w.PutI64(_lastPeriodicIndex); w.PutI64(_lastSecondSeen);
    }

    private void Load(SsmReader r, uint version)
    {
        r.GetBytes(_cmos);
        _index = (byte)(r.GetU8() & 0x7F); _extIndex = (byte)(r.GetU8() & 0x7F); _nmiDisabled = r.GetBool();
        _baseSeconds = r.GetI64(); _baseNs = r.GetI64(); _lastPeriodicIndex = r.GetI64(); _lastSecondSeen = r.GetI64();
        UpdateIrq();
        ArmTimers();
    }
}
