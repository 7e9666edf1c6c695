using System.Xml.Linq;
using SharpBox.Main.Api;
using SharpBox.Main.Impl;
using SharpBox.Main.Settings;

namespace SharpBox.Main.Tests;

/// <summary>
/// Settings files as VirtualBox 3.2 .. 7.1 write them (fixtures written from the schema, with
/// elements and attributes SharpBox does not model): read correctly, written back losslessly, the
/// version kept unless a change needs a newer one, and then a backup of the old file left beside it.
/// </summary>
public class SettingsRoundTripTests
{
    public static IEnumerable<object[]> MachineFixtures() => new[]
    {
        new object[] { "vbox41-1.12.vbox", "Old41", "1.12-linux" },
        new object[] { "vbox50-1.15.vbox", "Five", "1.15-linux" },
        new object[] { "vbox61-1.18.vbox", "SixOne", "1.18-linux" },
        new object[] { "vbox70-1.19.vbox", "Seven", "1.19-linux" },
        new object[] { "vbox71-1.20.vbox", "SevenOne", "1.20-linux" },
    };

    internal static string FixturePath(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    /// <summary>Copies a machine fixture to "&lt;dir&gt;/&lt;name&gt;/&lt;name&gt;.vbox" as VirtualBox lays machines out.</summary>
    internal static string PlaceMachine(TempDir dir, string fixture, string name)
    {
        string folder = dir[Path.Combine("vms", name)];
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, name + ".vbox");
        File.Copy(FixturePath(fixture), path);
        return path;
    }

    private static readonly string[] IdentityKeys = { "uuid", "name", "slot", "position" };

    /// <summary>Structural differences (names, attributes, text, children), ignoring formatting whitespace and comments.</summary>
    internal static List<string> Diff(XElement a, XElement b, string path = "")
    {
        var diffs = new List<string>();
        string here = $"{path}/{a.Name.LocalName}";
        if (a.Name != b.Name)
        {
            diffs.Add($"{here}: element {a.Name} became {b.Name}");
            return diffs;
        }
        var aa = a.Attributes().Where(x => !x.IsNamespaceDeclaration).ToDictionary(x => x.Name, x => x.Value);
        var ba = b.Attributes().Where(x => !x.IsNamespaceDeclaration).ToDictionary(x => x.Name, x => x.Value);
        foreach (var (k, v) in aa)
            if (!ba.TryGetValue(k, out string? bv)) diffs.Add($"{here}/@{k} removed");
            else if (bv != v) diffs.Add($"{here}/@{k}: '{v}' -> '{bv}'");
        foreach (var k in ba.Keys.Where(k => !aa.ContainsKey(k)))
            diffs.Add($"{here}/@{k} added ('{ba[k]}')");
        if (!a.HasElements && !b.HasElements && a.Value.Trim() != b.Value.Trim())
            diffs.Add($"{here}: text '{a.Value}' -> '{b.Value}'");
        var bGroups = b.Elements().GroupBy(e => e.Name).ToDictionary(g => g.Key, g => g.ToList());
        var aGroups = a.Elements().GroupBy(e => e.Name).ToDictionary(g => g.Key, g => g.ToList());
        foreach (var (name, list) in aGroups)
        {
            bGroups.TryGetValue(name, out List<XElement>? other);
            other ??= new List<XElement>();
            // Siblings with an identity attribute (ExtraDataItem/@name, Adapter/@slot, ...) are matched by it.
            string? key = IdentityKeys.FirstOrDefault(k => list.Concat(other).All(e => e.Attribute(k) != null));
            if (key != null)
            {
                var byKey = other.ToDictionary(e => e.Attribute(key)!.Value);
                foreach (XElement e in list)
                {
                    string id = e.Attribute(key)!.Value;
                    if (byKey.Remove(id, out XElement? match)) diffs.AddRange(Diff(e, match, here));
                    else diffs.Add($"{here}/{name.LocalName}[@{key}='{id}'] removed");
                }
                foreach (string id in byKey.Keys)
                    diffs.Add($"{here}/{name.LocalName}[@{key}='{id}'] added");
                continue;
            }
            for (int i = 0; i < list.Count; i++)
            {
                if (i >= other.Count) diffs.Add($"{here}/{name.LocalName}[{i}] removed");
                else diffs.AddRange(Diff(list[i], other[i], $"{here}[{i}]"));
            }
            for (int i = list.Count; i < other.Count; i++)
                diffs.Add($"{here}/{name.LocalName}[{i}] added");
        }
        foreach (var (name, list) in bGroups.Where(g => !aGroups.ContainsKey(g.Key)))
            foreach (XElement e in list)
                diffs.Add($"{here}/{name.LocalName} added: {e}");
        return diffs;
    }

    [Theory]
    [MemberData(nameof(MachineFixtures))]
    public void LoadAndSaveIsLossless(string fixture, string name, string version)
    {
        using var dir = new TempDir();
        string path = PlaceMachine(dir, fixture, name);
        XDocument original = XDocument.Load(path);
        var cfg = new MachineConfig(SettingsDocument.Load(path));
        Assert.Equal(name, cfg.Name);
        cfg.Doc.Save();
        XDocument saved = XDocument.Load(path);
        Assert.Equal(version, (string?)saved.Root!.Attribute("version"));
        Assert.Equal(original.Root!.Name.Namespace, saved.Root.Name.Namespace);
        Assert.Empty(Diff(original.Root, saved.Root));
        Assert.Contains("DO NOT EDIT THIS FILE", File.ReadAllText(path));
        Assert.Equal(File.ReadAllBytes(FixturePath(fixture)), File.ReadAllBytes(path + "-prev"));
    }

    [Theory]
    [MemberData(nameof(MachineFixtures))]
    public void ChangeThroughApiKeepsEverythingElseAndTheVersion(string fixture, string name, string version)
    {
        using var dir = new TempDir();
        string path = PlaceMachine(dir, fixture, name);
        XDocument original = XDocument.Load(path);
        VirtualBox vbox = VirtualBox.Open(new StorageMediumBackend(), dir["config"]);
        IMachine m = vbox.OpenMachine(path);
        vbox.RegisterMachine(m);
        ISession s = vbox.CreateSession();
        m.LockMachine(s, LockType.Write);
        s.Machine.MemorySize = 64;
        s.Machine.SetExtraData("SharpBox/Test", "yes");
        s.Machine.SaveSettings();
        s.UnlockMachine();

        XDocument saved = XDocument.Load(path);
        Assert.Equal(version, (string?)saved.Root!.Attribute("version"));
        List<string> diffs = Diff(original.Root!, saved.Root);
        Assert.Contains(diffs, d => d.EndsWith("/Memory/@RAMSize: '" + original.Descendants().First(e => e.Name.LocalName == "Memory").Attribute("RAMSize")!.Value + "' -> '64'", StringComparison.Ordinal));
        Assert.Contains(diffs, d => d.Contains("ExtraData", StringComparison.Ordinal) && d.Contains("added", StringComparison.Ordinal));
        Assert.Equal(2, diffs.Count);
        // No upgrade happened, so no backup copy of an older version.
        Assert.Equal(new[] { name + ".vbox", name + ".vbox-prev" }, Directory.GetFiles(Path.GetDirectoryName(path)!).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void ReadsVirtualBox41File()
    {
        using var dir = new TempDir();
        string path = PlaceMachine(dir, "vbox41-1.12.vbox", "Old41");
        VirtualBox vbox = VirtualBox.Open(new StorageMediumBackend(), dir["config"]);
        IMachine m = vbox.OpenMachine(path);
        Assert.Equal(Guid.Parse("6d2a1c3e-41aa-4c7e-9d11-0a41c0ffee12"), m.Id);
        Assert.Equal(("Ubuntu", 512u, 1u, 12u), (m.OSTypeId, m.MemorySize, m.CPUCount, m.VRAMSize));
        Assert.True(m.GetHWVirtExProperty(HWVirtExPropertyType.Enabled));
        Assert.True(m.GetCPUProperty(CpuPropertyType.PAE));
        Assert.False(m.IOAPICEnabled);
        Assert.Equal((DeviceType.DVD, DeviceType.HardDisk, DeviceType.Null), (m.GetBootOrder(1), m.GetBootOrder(2), m.GetBootOrder(3)));
        Assert.Equal(new[] { "IDE Controller", "SATA Controller" }, m.StorageControllers.Select(c => c.Name));
        Assert.Equal(StorageControllerType.IntelAhci, m.GetStorageControllerByName("SATA Controller").ControllerType);
        MediumAttachment disk = m.GetMediumAttachment("SATA Controller", 0, 0);
        Assert.Equal(Guid.Parse("b1b1b1b1-0000-4000-8000-000000004101"), disk.MediumId);
        Assert.Equal(PortMode.RawFile, m.GetSerialPort(0).HostMode);
        Assert.Equal("/tmp/old41-serial.log", m.GetSerialPort(0).Path);
        Assert.Equal(NetworkAttachmentType.NAT, m.GetNetworkAdapter(0).AttachmentType);
        Assert.Equal("0800271A2B3C", m.GetNetworkAdapter(0).MACAddress);
        Assert.False(m.GetNetworkAdapter(1).Enabled);
        Assert.Equal("PowerOff", m.GetExtraData("GUI/LastCloseAction"));
        Assert.Equal(ClipboardMode.Bidirectional, m.ClipboardMode);
        Assert.Contains("OHCI", m.USBControllerTypes);
    }

    [Fact]
    public void ReadsVirtualBox5And6And7Files()
    {
        using var dir = new TempDir();
        VirtualBox vbox = VirtualBox.Open(new StorageMediumBackend(), dir["config"]);

        IMachine five = vbox.OpenMachine(PlaceMachine(dir, "vbox50-1.15.vbox", "Five"));
        Assert.Equal((2u, 80u, ParavirtProvider.KVM), (five.CPUCount, five.CPUExecutionCap, five.ParavirtProvider));
        Assert.Equal(new[] { "/servers" }, five.Groups);
        Assert.Equal((PortMode.HostPipe, true), (five.GetSerialPort(0).HostMode, five.GetSerialPort(0).Server));
        Assert.Equal((NetworkAttachmentType.Internal, "lab"), (five.GetNetworkAdapter(1).AttachmentType, five.GetNetworkAdapter(1).InternalNetwork));
        Assert.Equal(NetworkAdapterType.Virtio, five.GetNetworkAdapter(0).AdapterType);
        MediumAttachment a = five.GetMediumAttachment("SATA", 0, 0);
        Assert.True(a.NonRotational && a.Discard);
        Assert.True(five.RTCUseUTC);

        IMachine six = vbox.OpenMachine(PlaceMachine(dir, "vbox61-1.18.vbox", "SixOne"));
        Assert.Equal("A machine from VirtualBox 6.1\nwith two lines", six.Description);
        Assert.True(six.GetCPUProperty(CpuPropertyType.HWVirt));
        Assert.Equal("enabled=1", six.ParavirtDebug);
        Assert.Equal(GraphicsControllerType.VMSVGA, six.GraphicsControllerType);
        Assert.Equal(StorageBus.VirtioSCSI, six.GetStorageControllerByName("VirtIO").Bus);
        Assert.Equal(Guid.Parse("b1b1b1b1-0000-4000-8000-000000006102"), six.GetMediumAttachment("SATA", 0, 0).MediumId);

        IMachine seven = vbox.OpenMachine(PlaceMachine(dir, "vbox70-1.19.vbox", "Seven"));
        Assert.Equal((FirmwareType.EFI, ChipsetType.ICH9), (seven.FirmwareType, seven.ChipsetType));
        Assert.Equal((PortMode.TCP, "7000", UartType.U16550A), (seven.GetSerialPort(0).HostMode, seven.GetSerialPort(0).Path, seven.GetSerialPort(0).UartType));
        Assert.Equal((NetworkAttachmentType.HostOnly, "vboxnet0"), (seven.GetNetworkAdapter(1).AttachmentType, seven.GetNetworkAdapter(1).HostOnlyInterface));
        Assert.Equal(36u, seven.NetworkAdapterCount);
        Assert.Equal("1", seven.GetExtraData("VBoxInternal/Devices/serial/0/Config/YieldOnLSRRead"));

        IMachine sevenOne = vbox.OpenMachine(PlaceMachine(dir, "vbox71-1.20.vbox", "SevenOne"));
        Assert.Equal((4096u, 2u), (sevenOne.MemorySize, sevenOne.CPUCount));
        Assert.Equal((FirmwareType.EFI, ChipsetType.ICH9, true), (sevenOne.FirmwareType, sevenOne.ChipsetType, sevenOne.IOAPICEnabled));
        Assert.True(sevenOne.GetCPUProperty(CpuPropertyType.LongMode));
        Assert.True(sevenOne.GetCPUProperty(CpuPropertyType.X2APIC));
        Assert.False(sevenOne.GetCPUProperty(CpuPropertyType.PAE));
        Assert.True(sevenOne.RTCUseUTC);
        Assert.Equal(AudioControllerType.HDA, sevenOne.AudioController);
    }

    [Fact]
    public void UpgradeOnlyWhenNeededWithBackupOfTheOldFile()
    {
        using var dir = new TempDir();
        string path = PlaceMachine(dir, "vbox41-1.12.vbox", "Old41");
        byte[] original = File.ReadAllBytes(path);
        VirtualBox vbox = VirtualBox.Open(new StorageMediumBackend(), dir["config"]);
        IMachine m = vbox.OpenMachine(path);
        vbox.RegisterMachine(m);
        ISession s = vbox.CreateSession();
        m.LockMachine(s, LockType.Write);
        s.Machine.ParavirtProvider = ParavirtProvider.KVM; // <Paravirt> exists from settings version 1.15
        s.Machine.SaveSettings();
        s.UnlockMachine();

        XDocument saved = XDocument.Load(path);
        Assert.Equal("1.15-linux", (string?)saved.Root!.Attribute("version"));
        Assert.Equal("KVM", (string?)saved.Descendants().Single(e => e.Name.LocalName == "Paravirt").Attribute("provider"));
        string backup = Path.Combine(Path.GetDirectoryName(path)!, "Old41-1.12-linux.vbox");
        Assert.Equal(original, File.ReadAllBytes(backup));
        List<string> diffs = Diff(XDocument.Load(backup).Root!, saved.Root);
        Assert.Equal(2, diffs.Count); // the version and the new Paravirt element
        Assert.Contains(diffs, d => d.Contains("@version: '1.12-linux' -> '1.15-linux'", StringComparison.Ordinal));
        Assert.Contains(diffs, d => d.Contains("Paravirt added", StringComparison.Ordinal));

        // A second change at the new version does not touch the backup.
        m.LockMachine(s, LockType.Write);
        s.Machine.MemorySize = 256;
        s.Machine.SaveSettings();
        s.UnlockMachine();
        Assert.Equal(original, File.ReadAllBytes(backup));
        Assert.Equal("1.15-linux", (string?)XDocument.Load(path).Root!.Attribute("version"));
    }

    [Fact]
    public void OldGlobalMediaRegistryIsReadAndKept()
    {
        using var dir = new TempDir();
        string home = dir["config"];
        Directory.CreateDirectory(home);
        string xml = Path.Combine(home, "VirtualBox.xml");
        File.Copy(FixturePath("VirtualBox-32-1.10.xml"), xml);
        XDocument original = XDocument.Load(xml);

        VirtualBox vbox = VirtualBox.Open(new StorageMediumBackend(), home);
        IMedium disk = Assert.Single(vbox.HardDisks);
        Assert.Equal(Guid.Parse("c3c3c3c3-0000-4000-8000-000000003201"), disk.Id);
        Assert.Equal("/vms/HardDisks/base32.vdi", disk.Location);
        Assert.Equal(Guid.Parse("c3c3c3c3-0000-4000-8000-000000003202"), Assert.Single(disk.Children).Id);
        Assert.Equal("/isos/debian-5.iso", Assert.Single(vbox.DVDImages).Location);
        Assert.Equal("/vms/Machines", vbox.SystemProperties.DefaultMachineFolder);
        Assert.Equal("10,10,770,550", vbox.GetExtraData("GUI/LastWindowPostion"));

        vbox.SetExtraData("SharpBox/Seen", "1");
        XDocument saved = XDocument.Load(xml);
        Assert.Equal("1.10-linux", (string?)saved.Root!.Attribute("version"));
        List<string> diffs = Diff(original.Root!, saved.Root);
        Assert.Single(diffs);
        Assert.Contains("ExtraDataItem[@name='SharpBox/Seen'] added", diffs[0]);
    }
}
