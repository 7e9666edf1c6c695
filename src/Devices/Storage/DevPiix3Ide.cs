using System.Globalization;
using SharpBox.Storage;
using SharpBox.Vmm.Cfgm;
using SharpBox.Vmm.Pdm;
using SharpBox.Vmm.Pgm;
using SharpBox.Vmm.Ssm;

namespace SharpBox.Devices.Storage;

/// <summary>
/// The PIIX3/PIIX4 IDE function (PCI 00:01.1; 8086:7010, 8086:7111, or the ICH6's 8086:269E) in
/// legacy mode: the primary channel at 0x1F0-0x1F7/0x3F6 on IRQ 14, the secondary at
/// 0x170-0x177/0x376 on IRQ 15, two ATA hard disks each, and bus-master IDE (BMIDE, BAR4: 16 ports)
/// for DMA. The legacy ports decode while the function's I/O space is enabled and the channel's
/// IDETIM decode bit is set; both are set at power-on as firmware leaves them, and BAR4 is assigned
/// (0xC000). Without bus mastering (Config/BusMaster = 0) BAR4 stays zero and the guest runs PIO.
/// CFGM: Config/Type (PIIX3 | PIIX4 | ICH6), Config/BusMaster; LUN#0..3 = primary master, primary
/// slave, secondary master, secondary slave, each with a Config node read by <see cref="DrvDisk"/>
/// (Type = HardDisk) and the ATA identity (SerialNumber, ModelNumber, FirmwareRevision, NonRotational).
/// </summary>
public sealed class DevPiix3Ide : PdmDevice
{
    public const int PciDevice = 1, PciFunctionNumber = 1;
    public const ushort BusMasterBase = 0xC000;
    private static readonly string[] SlotNames = ["primary master", "primary slave", "secondary master", "secondary slave"];

    private readonly IdeFunction _fn;
    private readonly AtaChannel[] _channels = new AtaChannel[2];
    private readonly DiskBlockDriver?[] _disks = new DiskBlockDriver?[4];

    public string ControllerType { get; }
    public bool BusMaster { get; }
    public IReadOnlyList<AtaChannel> Channels => _channels;
    public PciFunction Pci => _fn;

    public static string SlotName(int lun) => SlotNames[lun];

    /// <summary>The PCI function: identity, IDE timing registers, BAR4 and the decode gates.</summary>
    private sealed class IdeFunction : PciFunction
    {
        private readonly bool _ich;

        public IdeFunction(string type, ushort deviceId, byte revision)
            : base(type + " IDE", 0x8086, deviceId, 0x01, 0x01, 0x80, revision)
        {
            _ich = type == "ICH6";
            SetHeaderType(0x00);
            Set16(CfgStatus, 0x0280);      // fast back-to-back capable, medium DEVSEL timing
            SetWritable(0x40, 4);          // IDETIM primary/secondary
            SetWritable(0x44, 1);          // SIDETIM
            SetWritable(0x48, 1);          // UDMACTL (PIIX4/ICH)
            SetWritable(0x4A, 2);          // UDMATIM
            SetWritable(0x54, 4);          // IDE I/O configuration (ICH)
        }

        /// <summary>Power-on values and what firmware would program: decode enabled on both channels, BAR4 assigned, I/O and bus mastering on.</summary>
        public void PowerOn(bool busMaster)
        {
            ResetConfig();
            for (int o = 0x40; o < 0x58; o++) Set8(o, 0);
            Set16(0x40, 0x8000);
            Set16(0x42, 0x8000);
            // ICH: the BIOS reports 80-conductor cables on both channels (IDE I/O configuration bits 4-7),
            // which is what the disks' IDENTIFY word 93 says too.
            if (_ich) Set8(0x54, 0xF0);
            if (busMaster)
            {
                AssignBar(4, BusMasterBase);
                EnableDecoding(CmdIo | CmdBusMaster);
            }
            else
            {
                EnableDecoding(CmdIo);
            }
        }

        public bool Decodes(int channel) => (Command & CmdIo) != 0 && (ConfigSpace[0x41 + 2 * channel] & 0x80) != 0;
    }

    /// <summary>Command block ports of one channel.</summary>
    private sealed class CommandBlock(DevPiix3Ide dev, int ch) : IIoPortDevice
    {
        public uint IoRead(ushort offset, int size) => dev._fn.Decodes(ch) ? dev._channels[ch].ReadRegister(offset, size) : AllOnes(size);
        public void IoWrite(ushort offset, int size, uint value) { if (dev._fn.Decodes(ch)) dev._channels[ch].WriteRegister(offset, size, value); }
    }

    /// <summary>The control block port of one channel (0x3F6/0x376; 0x3F7 stays the floppy controller's).</summary>
    private sealed class ControlBlock(DevPiix3Ide dev, int ch) : IIoPortDevice
    {
        public uint IoRead(ushort offset, int size) => dev._fn.Decodes(ch) ? dev._channels[ch].ReadAltStatus() : 0xFFu;
        public void IoWrite(ushort offset, int size, uint value) { if (dev._fn.Decodes(ch)) dev._channels[ch].WriteDeviceControl((byte)value); }
    }

    /// <summary>BAR4: the bus-master registers, 8 ports per channel.</summary>
    private sealed class BusMasterPorts(DevPiix3Ide dev) : IIoPortDevice
    {
        public uint IoRead(ushort offset, int size) => dev._channels[offset >> 3].ReadBusMaster(offset & 7, size);
        public void IoWrite(ushort offset, int size, uint value) => dev._channels[offset >> 3].WriteBusMaster(offset & 7, size, value);
    }

    private static uint AllOnes(int size) => size >= 4 ? 0xFFFF_FFFFu : (1u << (8 * size)) - 1;

    public DevPiix3Ide(PdmDeviceContext ctx) : base(ctx)
    {
        if (ctx.Instance != 0) throw new CfgmException("CFGM: only one IDE controller can be emulated (the PIIX IDE function has fixed legacy ports)");
        var cfg = ctx.Config;
        cfg.Validate(["Type", "BusMaster"]);
        ControllerType = cfg.GetString("Type", "PIIX4").ToUpperInvariant();
        (ushort deviceId, byte revision) = ControllerType switch
        {
            "PIIX3" => ((ushort)0x7010, (byte)0x00),
            "PIIX4" => ((ushort)0x7111, (byte)0x01),
            "ICH6" => ((ushort)0x269E, (byte)0x09),
            _ => throw new CfgmException($"CFGM: {cfg.Path}/Type = '{ControllerType}' is not an IDE controller type (PIIX3, PIIX4, ICH6)"),
        };
        BusMaster = cfg.GetBool("BusMaster", true);
        foreach (var child in ctx.InstanceNode.Children)
            if (child.Name != "Config" && Array.IndexOf(["LUN#0", "LUN#1", "LUN#2", "LUN#3"], child.Name) < 0)
                throw new CfgmException($"CFGM: unknown node {child.Path} (an IDE controller has LUN#0-3)");

        var drives = new AtaDrive[4];
        try
        {
            for (int lun = 0; lun < 4; lun++)
            {
                drives[lun] = OpenDrive(ctx, lun);
                int n = lun;
                drives[lun].Log = m => ctx.LogRel($"{SlotNames[n]}: {m}");
            }
        }
        catch
        {
            foreach (var d in _disks) d?.Dispose();
            throw;
        }
        _fn = new IdeFunction(ControllerType, deviceId, revision);
        for (int ch = 0; ch < 2; ch++)
            _channels[ch] = new AtaChannel(ch, drives[2 * ch], drives[2 * ch + 1], ctx.IsaIrq(14 + ch), ctx.Memory);
        if (BusMaster) _fn.DefineIoBar(4, 16, new BusMasterPorts(this), ctx.Lock);
        ctx.RegisterPci(_fn, PciDevice, PciFunctionNumber);
        ctx.RegisterIoPorts(0x1F0, 8, new CommandBlock(this, 0), what: "primary");
        ctx.RegisterIoPorts(0x3F6, 1, new ControlBlock(this, 0), IoWidths.Byte, "primary control");
        ctx.RegisterIoPorts(0x170, 8, new CommandBlock(this, 1), what: "secondary");
        ctx.RegisterIoPorts(0x376, 1, new ControlBlock(this, 1), IoWidths.Byte, "secondary control");
        _fn.PowerOn(BusMaster);

        ctx.LogRel($"{ControllerType} IDE at 00:{PciDevice:x2}.{PciFunctionNumber} (8086:{deviceId:x4}), legacy ports 0x1F0/0x3F6 IRQ 14 and 0x170/0x376 IRQ 15, " +
                   (BusMaster ? $"bus-master DMA at port 0x{BusMasterBase:X4}" : "no bus master (PIO only)"));
        for (int lun = 0; lun < 4; lun++)
        {
            var d = drives[lun];
            ctx.LogRel(_disks[lun] is { } disk
                ? string.Create(CultureInfo.InvariantCulture, $"{SlotNames[lun]}: ATA hard disk \"{d.Settings.Model}\" serial {d.Settings.Serial}, {d.TotalSectors} sectors, CHS {d.Cylinders}/{d.Heads}/{d.SectorsPerTrack}: {DrvDisk.Summary(disk)}")
                : $"{SlotNames[lun]}: empty");
        }
        ctx.RegisterSavedState(1, Save, Load);
    }

    private AtaDrive OpenDrive(PdmDeviceContext ctx, int lun)
    {
        bool slave = (lun & 1) != 0;
        var node = ctx.InstanceNode.GetChild($"LUN#{lun}");
        if (node is null) return new AtaDrive(null, null, slave);
        foreach (var c in node.Children)
            if (c.Name != "Config") throw new CfgmException($"CFGM: unknown node {c.Path}");
        var cfg = node.GetChild("Config") ?? throw new CfgmException($"CFGM: {node.Path} has no Config node");
        cfg.Validate(DrvDisk.ConfigValues, ["Parent"]);
        string type = cfg.GetString("Type", "HardDisk");
        if (type != "HardDisk")
            throw new CfgmException($"CFGM: {cfg.Path}/Type = '{type}': the IDE controller emulates hard disks only (no ATAPI drives yet)");
        DiskBlockDriver disk;
        try
        {
            disk = DrvDisk.Open(cfg);
        }
        catch (Exception e) when (e is DiskImageException or IOException or UnauthorizedAccessException)
        {
            throw new IOException($"IDE {SlotNames[lun]}: cannot open the disk image: {e.Message}", e);
        }
        _disks[lun] = disk;
        Guid uuid = Guid.TryParse(cfg.GetString("Uuid", ""), out var u) ? u : disk.Image.Uuid;
        var settings = new AtaDriveSettings
        {
            Serial = cfg.GetString("SerialNumber", DefaultSerial(uuid)),
            Model = cfg.GetString("ModelNumber", "SHARPBOX HARDDISK"),
            Firmware = cfg.GetString("FirmwareRevision", "1.0"),
            NonRotational = cfg.GetBool("NonRotational", false),
            Dma = ctx.Config.GetBool("BusMaster", true),
        };
        CheckIdString(cfg, "SerialNumber", settings.Serial, 20);
        CheckIdString(cfg, "ModelNumber", settings.Model, 40);
        CheckIdString(cfg, "FirmwareRevision", settings.Firmware, 8);
        try
        {
            return new AtaDrive(disk, settings, slave);
        }
        catch (ArgumentException e)
        {
            throw new IOException($"IDE {SlotNames[lun]}: {disk.Image.Path}: {e.Message}", e);
        }
    }

    /// <summary>As VirtualBox makes "VBxxxxxxxx-xxxxxxxx" from the medium UUID.</summary>
    public static string DefaultSerial(Guid uuid)
    {
        var b = uuid.ToByteArray();
        return string.Create(CultureInfo.InvariantCulture, $"SB{BitConverter.ToUInt32(b, 0):x8}-{BitConverter.ToUInt32(b, 12):x8}");
    }

    private static void CheckIdString(CfgmNode cfg, string name, string value, int max)
    {
        if (value.Length > max) throw new CfgmException($"CFGM: {cfg.Path}/{name} '{value}' is longer than {max} characters");
        foreach (char c in value)
            if (c is < ' ' or > '~') throw new CfgmException($"CFGM: {cfg.Path}/{name} '{value}' has a character that is not printable ASCII");
    }

    /// <summary>The drive at LUN 0-3.</summary>
    public AtaDrive Drive(int lun) => lun switch
    {
        0 => _channels[0].Master, 1 => _channels[0].Slave, 2 => _channels[1].Master, 3 => _channels[1].Slave,
        _ => throw new ArgumentOutOfRangeException(nameof(lun)),
    };

    /// <summary>The open image at LUN 0-3 (null for an empty slot).</summary>
    public DiskBlockDriver? Disk(int lun) => _disks[lun];

    public override void Reset()
    {
        _fn.PowerOn(BusMaster);
        _channels[0].PowerOn();
        _channels[1].PowerOn();
    }

    /// <summary>Writes every disk's data and metadata through to the host (before a saved state is written).</summary>
    public void FlushDisks()
    {
        if (DisksClosed) return;
        for (int lun = 0; lun < 4; lun++)
        {
            if (_disks[lun] is not { } d) continue;
            try { d.Flush(); }
            catch (Exception e) when (e is DiskImageException or IOException)
            {
                throw new IOException($"IDE {SlotNames[lun]}: flushing {d.Image.Path}: {e.Message}", e);
            }
        }
    }

    /// <summary>Whether the images are closed (<see cref="CloseDisks"/>) until <see cref="OpenDisks"/>.</summary>
    public bool DisksClosed { get; private set; }

    /// <summary>
    /// Flushes and closes every image, so that other processes may open them (VBoxSVC creating the
    /// differencing images of an online snapshot); the VM must not run meanwhile. The drives stay
    /// present; an access before <see cref="OpenDisks"/> fails as a media error.
    /// </summary>
    public int CloseDisks()
    {
        using (Ctx.Lock.EnterScope())
        {
            if (DisksClosed) return 0;
            int n = 0;
            for (int lun = 0; lun < 4; lun++)
            {
                if (_disks[lun] is not { } d) continue;
                d.Dispose();
                n++;
            }
            DisksClosed = true;
            Ctx.LogRel($"{n} disk image(s) closed");
            return n;
        }
    }

    /// <summary>
    /// Opens the images again, from LUN configurations that may name other images of the same size
    /// (the current state's differencing images after a snapshot). Every drive that has a disk needs
    /// one; on a failure the images opened so far are closed again and the error names the slot.
    /// </summary>
    public IReadOnlyList<string> OpenDisks(IReadOnlyList<CfgmNode?> lunConfigs)
    {
        using (Ctx.Lock.EnterScope())
        {
            if (!DisksClosed) throw new InvalidOperationException("the disk images are open");
            var opened = new DiskBlockDriver?[4];
            var summary = new List<string>();
            try
            {
                for (int lun = 0; lun < 4; lun++)
                {
                    var cfg = lun < lunConfigs.Count ? lunConfigs[lun] : null;
                    if (_disks[lun] is null)
                    {
                        if (cfg is not null) throw new IOException($"IDE {SlotNames[lun]}: a disk cannot be added while the VM runs");
                        continue;
                    }
                    if (cfg is null) throw new IOException($"IDE {SlotNames[lun]}: the disk cannot be removed while the VM runs");
                    DiskBlockDriver d;
                    try { d = DrvDisk.Open(cfg); }
                    catch (Exception e) when (e is DiskImageException or UnauthorizedAccessException)
                    {
                        throw new IOException($"IDE {SlotNames[lun]}: cannot open the disk image: {e.Message}", e);
                    }
                    opened[lun] = d;
                    if (d.Size / AtaDrive.SectorSize != Drive(lun).TotalSectors)
                        throw new IOException($"IDE {SlotNames[lun]}: {d.Image.Path} has {d.Size} bytes, the drive {Drive(lun).TotalSectors * AtaDrive.SectorSize}");
                    summary.Add($"{SlotNames[lun]}: {DrvDisk.Summary(d)}");
                }
            }
            catch
            {
                foreach (var d in opened) d?.Dispose();
                throw;
            }
            for (int lun = 0; lun < 4; lun++)
            {
                if (opened[lun] is not { } d) continue;
                Drive(lun).AttachDisk(d);
                _disks[lun] = d;
            }
            DisksClosed = false;
            foreach (var line in summary) Ctx.LogRel("reopened " + line);
            return summary;
        }
    }

    public override void Dispose()
    {
        for (int lun = 0; lun < 4; lun++)
        {
            if (_disks[lun] is not { } d) continue;
            try { if (!DisksClosed) d.Dispose(); }
            catch (Exception e) when (e is DiskImageException or IOException) { Ctx.LogRel($"{SlotNames[lun]}: closing {d.Image.Path}: {e.Message}"); }
            _disks[lun] = null;
        }
        base.Dispose();
    }

    private void Save(SsmWriter w)
    {
        // The image on the host must hold everything the saved guest believes is written.
        FlushDisks();
        _fn.SaveConfig(w);
        _channels[0].Save(w);
        _channels[1].Save(w);
    }

    private void Load(SsmReader r, uint version)
    {
        if (version != 1) throw r.Error($"unsupported version {version}");
        _fn.LoadConfig(r);
        _channels[0].Load(r, "primary channel");
        _channels[1].Load(r, "secondary channel");
    }
}
