using System.Xml.Linq;

namespace SharpBox.Main.Tests;

/// <summary>createvm, registervm, unregistervm, clonevm, showvminfo and modifyvm end to end.</summary>
public class VmCommandTests
{
    private static readonly XNamespace Ns = "http://www.virtualbox.org/";

    [Fact]
    public void CreateVmWritesVirtualBoxLayoutAndRegisters()
    {
        using var h = new VBoxManageHome();
        CliResult r = h.Ok("createvm", "--name", "Example VM", "--ostype", "Debian_64", "--register");
        string vbox = h.VboxPath("Example VM");
        Assert.Contains("Virtual machine 'Example VM' is created and registered.", r.Stdout);
        Assert.Contains($"Settings file: '{vbox}'", r.Stdout);
        Assert.True(File.Exists(vbox));
        Assert.True(Directory.Exists(Path.Combine(h.MachineFolder, "Example VM", "Logs")));
        Assert.True(Directory.Exists(Path.Combine(h.MachineFolder, "Example VM", "Snapshots")));

        XDocument doc = XDocument.Load(vbox);
        Assert.Equal(Ns + "VirtualBox", doc.Root!.Name);
        Assert.Equal("1.19-linux", (string?)doc.Root.Attribute("version"));
        XElement m = doc.Root.Element(Ns + "Machine")!;
        Assert.Equal("Example VM", (string?)m.Attribute("name"));
        Assert.Equal("Debian_64", (string?)m.Attribute("OSType"));
        Assert.Equal("Snapshots", (string?)m.Attribute("snapshotFolder"));
        Assert.NotNull(m.Element(Ns + "Hardware")!.Element(Ns + "Memory"));

        XDocument global = XDocument.Load(Path.Combine(h.Home, "VirtualBox.xml"));
        XElement entry = global.Descendants(Ns + "MachineEntry").Single();
        Assert.Equal(vbox, (string?)entry.Attribute("src"));
        string uuid = r.Stdout.Split('\n').First(l => l.StartsWith("UUID: ", StringComparison.Ordinal))[6..];
        Assert.Equal("{" + uuid + "}", (string?)entry.Attribute("uuid"));

        Assert.Equal($"\"Example VM\" {{{uuid}}}\n", h.Ok("list", "vms").Stdout);
        Dictionary<string, string> info = h.Info("Example VM");
        Assert.Equal("Debian (64-bit)", info["ostype"]);
        Assert.Equal("on", info["longmode"]);
        Assert.Equal("on", info["ioapic"]);
        Assert.Equal("nat", info["nic1"]);
        Assert.Equal("poweroff", info["VMState"]);
    }

    [Fact]
    public void CreateVmOptions()
    {
        using var h = new VBoxManageHome();
        string baseFolder = h.Dir["elsewhere"];
        const string uuid = "0a1b2c3d-1111-2222-3333-444455556666";
        CliResult r = h.Ok("createvm", "--name", "opts", "--uuid", uuid, "--basefolder", baseFolder, "--groups", "/lab,/lab/web", "--ostype", "Ubuntu_64", "--default", "--register");
        Assert.Contains($"UUID: {uuid}", r.Stdout);
        Assert.True(File.Exists(Path.Combine(baseFolder, "lab", "opts", "opts.vbox")));
        Dictionary<string, string> info = h.Info(uuid);
        Assert.Equal("/lab,/lab/web", info["groups"]);
        // --default applies the OS type's recommendations: RAM, storage controllers, USB tablet.
        Assert.Equal("2048", info["memory"]);
        Assert.Equal("usbtablet", info["hidpointing"]);
        Assert.Contains(info, kv => kv.Key.StartsWith("storagecontrollername", StringComparison.Ordinal) && kv.Value == "SATA");
        Assert.Equal("emptydrive", info["IDE-1-0"]);
        Assert.Equal("\"/lab\"\n\"/lab/web\"\n", h.Ok("list", "groups").Stdout);

        // Without --register the file is written but not registered.
        CliResult nr = h.Ok("createvm", "--name", "loose");
        Assert.Contains("Virtual machine 'loose' is created.", nr.Stdout);
        Assert.True(File.Exists(h.VboxPath("loose")));
        Assert.DoesNotContain("loose", h.Ok("list", "vms").Stdout);
    }

    [Fact]
    public void CreateVmBadInput()
    {
        using var h = new VBoxManageHome();
        Assert.Contains("--name is required", h.Fails(2, "createvm", "--ostype", "Debian_64").Stderr);
        Assert.Contains("not a valid Guest OS type", h.Fails(1, "createvm", "--name", "x", "--ostype", "NoSuchOS").Stderr);
        Assert.Contains("expected a UUID", h.Fails(2, "createvm", "--name", "x", "--uuid", "not-a-uuid").Stderr);
        h.CreateVm("dup");
        Assert.Contains("already exists", h.Fails(1, "createvm", "--name", "dup", "--register").Stderr);
        Assert.False(Directory.Exists(Path.Combine(h.MachineFolder, "x")));
    }

    [Fact]
    public void RegisterAndUnregister()
    {
        using var h = new VBoxManageHome();
        h.Ok("createvm", "--name", "reg");
        string vbox = h.VboxPath("reg");
        h.Ok("registervm", vbox);
        Assert.Contains("\"reg\"", h.Ok("list", "vms").Stdout);
        Assert.Contains("already exists", h.Fails(1, "registervm", vbox).Stderr);

        h.Ok("unregistervm", "reg");
        Assert.Equal("", h.Ok("list", "vms").Stdout);
        Assert.True(File.Exists(vbox)); // plain unregister keeps the files

        // Relative path from the working directory (the test's temp dir).
        h.Ok("registervm", Path.GetRelativePath(h.Dir.Path, vbox));
        Assert.Contains("\"reg\"", h.Ok("list", "vms").Stdout);

        Assert.Contains("VERR_FILE_NOT_FOUND", h.Fails(1, "registervm", h.Dir["nope.vbox"]).Stderr);
        File.WriteAllText(h.Dir["broken.vbox"], "<VirtualBox><Machine");
        CliResult bad = h.Fails(1, "registervm", h.Dir["broken.vbox"]);
        Assert.Contains("broken.vbox", bad.Stderr);
        Assert.Contains("line", bad.Stderr);
    }

    [Fact]
    public void UnregisterDeleteRemovesFilesAndDisks()
    {
        using var h = new VBoxManageHome();
        h.CreateVm("gone");
        string dir = Path.Combine(h.MachineFolder, "gone");
        string disk = Path.Combine(dir, "gone.vdi");
        h.Ok("createmedium", "disk", "--filename", disk, "--size", "8");
        h.Ok("storagectl", "gone", "--name", "SATA", "--add", "sata");
        h.Ok("storageattach", "gone", "--storagectl", "SATA", "--port", "0", "--type", "hdd", "--medium", disk);
        h.Ok("modifyvm", "gone", "--memory", "64"); // leaves a -prev backup
        Assert.True(File.Exists(Path.Combine(dir, "gone.vbox-prev")));
        CliResult r = h.Ok("unregistervm", "gone", "--delete");
        Assert.Contains("100%", r.Stderr);
        Assert.False(Directory.Exists(dir), string.Join(",", Directory.Exists(dir) ? Directory.GetFileSystemEntries(dir) : Array.Empty<string>()));
        Assert.Equal("", h.Ok("list", "vms").Stdout);
        Assert.Equal("", h.Ok("list", "hdds").Stdout);
        Assert.Contains("Could not find a registered machine named 'gone'", h.Fails(1, "unregistervm", "gone").Stderr);
    }

    [Fact]
    public void CloneVmCopiesSettingsAndDisks()
    {
        using var h = new VBoxManageHome();
        h.CreateVm("src", "--ostype", "Debian_64");
        string disk = Path.Combine(h.MachineFolder, "src", "src.vdi");
        h.Ok("createmedium", "disk", "--filename", disk, "--size", "8");
        h.Ok("storagectl", "src", "--name", "SATA", "--add", "sata");
        h.Ok("storageattach", "src", "--storagectl", "SATA", "--port", "0", "--type", "hdd", "--medium", disk);
        h.Ok("modifyvm", "src", "--memory", "96", "--cpus", "1", "--description", "the source");

        CliResult r = h.Ok("clonevm", "src", "--name", "copy", "--register", "--mode", "machine");
        Assert.Contains("Machine has been successfully cloned as \"copy\"", r.Stdout);
        Assert.Contains("100%", r.Stderr);
        Dictionary<string, string> src = h.Info("src"), copy = h.Info("copy");
        Assert.Equal("96", copy["memory"]);
        Assert.Equal("the source", copy["description"]);
        Assert.NotEqual(src["UUID"], copy["UUID"]);
        Assert.NotEqual(src["macaddress1"], copy["macaddress1"]);
        Assert.NotEqual(src["SATA-0-0"], copy["SATA-0-0"]);
        Assert.StartsWith(Path.Combine(h.MachineFolder, "copy") + "/", copy["SATA-0-0"]);
        Assert.True(File.Exists(copy["SATA-0-0"]));
        Assert.Equal(0, Tool.Run("qemu-img", "compare", disk, copy["SATA-0-0"]).ExitCode);

        // Default name "<source> Clone"; --options KeepAllMACs keeps the MAC.
        h.Ok("clonevm", "src", "--register", "--options", "KeepAllMACs");
        Assert.Equal(src["macaddress1"], h.Info("src Clone")["macaddress1"]);
        Assert.Contains("Invalid clone mode", h.Fails(2, "clonevm", "src", "--mode", "sideways").Stderr);
        Assert.Contains("already exists", h.Fails(1, "clonevm", "src", "--name", "copy").Stderr);
    }

    [Fact]
    public void ShowVmInfoFormats()
    {
        using var h = new VBoxManageHome();
        string uuid = h.CreateVm("Shown VM", "--ostype", "Debian_64");
        CliResult human = h.Ok("showvminfo", "Shown VM");
        Assert.Contains("Name:                        Shown VM\n", human.Stdout);
        Assert.Contains($"UUID:                        {uuid}\n", human.Stdout);
        Assert.Contains("Guest OS:                    Debian (64-bit)\n", human.Stdout);
        Assert.Contains("State:                       powered off (since ", human.Stdout);
        Assert.Equal(human.Stdout, h.Ok("showvminfo", uuid).Stdout);
        Assert.Equal(human.Stdout, h.Ok("showvminfo", "--details", "Shown VM").Stdout);

        Dictionary<string, string> mr = h.Info("Shown VM");
        foreach (string key in new[] { "name", "groups", "ostype", "UUID", "CfgFile", "memory", "vram", "cpus", "firmware", "boot1", "acpi", "ioapic",
                     "hwvirtex", "nestedpaging", "largepages", "vtxvpid", "paravirtprovider", "VMState", "VMStateChangeTime", "nic1", "macaddress1",
                     "nictype1", "cableconnected1", "uart1", "hidpointing", "audio", "clipboard", "vrde", "usb" })
            Assert.True(mr.ContainsKey(key), "missing key " + key);
        Assert.Equal("Shown VM", mr["name"]);
        Assert.Equal(h.VboxPath("Shown VM"), mr["CfgFile"]);
        Assert.Equal("off", mr["uart1"]);
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$", mr["VMStateChangeTime"]);

        Assert.Contains("Could not find a registered machine named 'nope'", h.Fails(1, "showvminfo", "nope").Stderr);
        Assert.Contains("Invalid parameter", h.Fails(2, "showvminfo", "Shown VM", "extra").Stderr);
    }

    [Fact]
    public void ShowVmInfoLog()
    {
        using var h = new VBoxManageHome();
        h.CreateVm("logged");
        string logs = Path.Combine(h.MachineFolder, "logged", "Logs");
        Directory.CreateDirectory(logs);
        File.WriteAllText(Path.Combine(logs, "VBox.log"), "line one\nline two\n");
        File.WriteAllText(Path.Combine(logs, "VBox.log.1"), "older\n");
        Assert.Equal("line one\nline two\n", h.Ok("showvminfo", "logged", "--log", "0").Stdout);
        Assert.Equal("older\n", h.Ok("showvminfo", "logged", "--log", "1").Stdout);
        Assert.Contains("VBox.log.2", h.Fails(1, "showvminfo", "logged", "--log", "2").Stderr);
        Assert.Contains("exclusive", h.Fails(2, "showvminfo", "logged", "--log", "0", "--machinereadable").Stderr);
    }

    [Fact]
    public void ModifyVmAppliesEveryListedOption()
    {
        using var h = new VBoxManageHome();
        h.CreateVm("mod", "--ostype", "Debian_64");
        h.Ok("modifyvm", "mod", "--memory", "300", "--vram", "16", "--cpus", "2", "--firmware", "efi", "--boot1", "disk", "--boot2", "net",
            "--boot3", "none", "--boot4", "dvd", "--hwvirtex", "off", "--nested-paging", "off", "--large-pages", "on", "--vtx-vpid", "off",
            "--paravirt-provider", "minimal", "--ioapic", "off", "--acpi", "off", "--rtc-use-utc", "on", "--description", "a \"quoted\" one",
            "--nic2", "intnet", "--intnet2", "lab", "--nic-type2", "virtio", "--cable-connected2", "off", "--nic1", "none",
            "--uart1", "0x3f8", "4", "--uart-mode1", "file", h.Dir["serial.log"], "--uart2", "0x2f8", "3", "--uart-mode2", "tcpserver", "5555",
            "--uart-type2", "16750", "--uart3", "0x3e8", "4", "--uart-mode3", "server", h.Dir["pipe"],
            "--chipset", "ich9", "--hpet", "on", "--pae", "on", "--x2apic", "off", "--bios-boot-menu", "disabled", "--mouse", "usbtablet",
            "--graphicscontroller", "vmsvga", "--cpu-execution-cap", "50", "--bios-system-time-offset", "-1000");
        Dictionary<string, string> i = h.Info("mod");
        Assert.Equal("300", i["memory"]);
        Assert.Equal("16", i["vram"]);
        Assert.Equal("2", i["cpus"]);
        Assert.Equal("EFI", i["firmware"]);
        Assert.Equal(("disk", "net", "none", "dvd"), (i["boot1"], i["boot2"], i["boot3"], i["boot4"]));
        Assert.Equal(("off", "off", "on", "off"), (i["hwvirtex"], i["nestedpaging"], i["largepages"], i["vtxvpid"]));
        Assert.Equal("minimal", i["paravirtprovider"]);
        Assert.Equal(("off", "off", "on"), (i["ioapic"], i["acpi"], i["rtcuseutc"]));
        Assert.Equal("a \"quoted\" one", i["description"]);
        Assert.Equal("none", i["nic1"]);
        Assert.Equal(("intnet", "lab", "virtio", "off"), (i["nic2"], i["intnet2"], i["nictype2"], i["cableconnected2"]));
        Assert.Equal("0x03f8,4", i["uart1"]);
        Assert.Equal("file," + h.Dir["serial.log"], i["uartmode1"]);
        Assert.Equal(("0x02f8,3", "tcpserver,5555", "16750"), (i["uart2"], i["uartmode2"], i["uarttype2"]));
        Assert.Equal("server," + h.Dir["pipe"], i["uartmode3"]);
        Assert.Equal("off", i["uart4"]);
        Assert.Equal(("ich9", "on", "on", "off"), (i["chipset"], i["hpet"], i["pae"], i["x2apic"]));
        Assert.Equal(("disabled", "usbtablet", "vmsvga", "50", "-1000"), (i["bootmenu"], i["hidpointing"], i["graphicscontroller"], i["cpuexecutioncap"], i["biossystemtimeoffset"]));
        // ICH9 has 36 NIC slots.
        Assert.True(i.ContainsKey("nic36"));

        h.Ok("modifyvm", "mod", "--uart1", "off", "--name", "renamed", "--ostype", "Ubuntu_64");
        i = h.Info("renamed");
        Assert.Equal("off", i["uart1"]);
        Assert.Equal("Ubuntu (64-bit)", i["ostype"]);
        Assert.Equal(h.VboxPath("renamed"), i["CfgFile"]);
        Assert.False(Directory.Exists(Path.Combine(h.MachineFolder, "mod")));
    }

    [Fact]
    public void ModifyVmAcceptsOldSpellings()
    {
        using var h = new VBoxManageHome();
        h.CreateVm("old");
        h.Ok("modifyvm", "old", "--paravirtprovider", "kvm", "--largepages", "on", "--vtxvpid", "off", "--nestedpaging", "off",
            "--nictype1", "Am79C973", "--cableconnected1", "off", "--uartmode1", "disconnected", "--ostype", "Debian_64", "--rtcuseutc", "on",
            "--biosbootmenu", "menuonly", "--monitorcount", "2", "--accelerate3d", "off", "--longmode", "on");
        Dictionary<string, string> i = h.Info("old");
        Assert.Equal(("kvm", "on", "off", "off"), (i["paravirtprovider"], i["largepages"], i["vtxvpid"], i["nestedpaging"]));
        Assert.Equal(("Am79C973", "off", "on", "menuonly", "2"), (i["nictype1"], i["cableconnected1"], i["rtcuseutc"], i["bootmenu"], i["monitorcount"]));
    }

    /// <summary>--paravirt-provider default resolves by OS type as VirtualBox's Machine::getEffectiveParavirtProvider.</summary>
    [Theory]
    [InlineData("Debian_64", "default", "kvm")]
    [InlineData("Linux26", "default", "kvm")]
    [InlineData("Linux24", "default", "none")]
    [InlineData("Windows10_64", "default", "hyperv")]
    [InlineData("Windows2019_64", "default", "hyperv")]
    [InlineData("Windows7", "default", "hyperv")]
    [InlineData("WindowsXP", "default", "none")]
    [InlineData("Windows2003_64", "default", "none")]
    [InlineData("MacOS_64", "default", "minimal")]
    [InlineData("FreeBSD_64", "default", "none")]
    [InlineData("Debian_64", "legacy", "none")]
    [InlineData("MacOS_64", "legacy", "minimal")]
    [InlineData("Windows10_64", "kvm", "kvm")]
    public void EffectiveParavirtProviderFollowsTheOsType(string osType, string provider, string effective)
    {
        using var h = new VBoxManageHome();
        h.CreateVm("pv");
        h.Ok("modifyvm", "pv", "--ostype", osType, "--paravirt-provider", provider);
        Dictionary<string, string> i = h.Info("pv");
        Assert.Equal((provider, effective), (i["paravirtprovider"], i["effparavirtprovider"]));
    }

    [Fact]
    public void ModifyVmRejectsBadValuesWithoutChangingTheFile()
    {
        using var h = new VBoxManageHome();
        h.CreateVm("strict");
        string vbox = h.VboxPath("strict");
        byte[] before = File.ReadAllBytes(vbox);
        Assert.Contains("Invalid RAM size", h.Fails(1, "modifyvm", "strict", "--memory", "1", "--cpus", "1").Stderr);
        Assert.Contains("Invalid RAM size", h.Fails(1, "modifyvm", "strict", "--cpus", "1", "--memory", "99999999").Stderr);
        Assert.Contains("Invalid virtual CPU count", h.Fails(1, "modifyvm", "strict", "--cpus", "0").Stderr);
        Assert.Contains("Invalid virtual CPU count", h.Fails(1, "modifyvm", "strict", "--cpus", "4096").Stderr);
        Assert.Contains("not a valid Guest OS type", h.Fails(1, "modifyvm", "strict", "--ostype", "Amiga").Stderr);
        Assert.Contains("Invalid --firmware argument 'bios2'", h.Fails(2, "modifyvm", "strict", "--firmware", "bios2").Stderr);
        Assert.Contains("Invalid --paravirt-provider argument", h.Fails(2, "modifyvm", "strict", "--paravirt-provider", "xen").Stderr);
        Assert.Contains("expected on or off", h.Fails(2, "modifyvm", "strict", "--acpi", "maybe").Stderr);
        Assert.Contains("expected an unsigned 32-bit number", h.Fails(2, "modifyvm", "strict", "--memory", "lots").Stderr);
        Assert.Contains("Invalid NIC number 9", h.Fails(2, "modifyvm", "strict", "--nic9", "nat").Stderr);
        Assert.Contains("Invalid UART number 5", h.Fails(2, "modifyvm", "strict", "--uart5", "off").Stderr);
        Assert.Contains("Missing the 2nd value", h.Fails(2, "modifyvm", "strict", "--uart1", "0x3f8").Stderr);
        Assert.Contains("Invalid boot slot number 5", h.Fails(2, "modifyvm", "strict", "--boot5", "disk").Stderr);
        Assert.Contains("Invalid MAC address", h.Fails(1, "modifyvm", "strict", "--macaddress1", "zz").Stderr);
        Assert.Contains("No change requested", h.Fails(2, "modifyvm", "strict").Stderr);
        Assert.Equal(before, File.ReadAllBytes(vbox));
        Assert.False(File.Exists(vbox + "-prev"));
    }

    [Fact]
    public void InaccessibleMachineIsListedAndExplained()
    {
        using var h = new VBoxManageHome();
        string uuid = h.CreateVm("broken");
        string vbox = h.VboxPath("broken");
        string good = File.ReadAllText(vbox);
        // Not well-formed (truncated): even the fast "list vms" reports it inaccessible.
        File.WriteAllText(vbox, good[..(good.Length / 2)]);
        Assert.Equal($"\"<inaccessible>\" {{{uuid}}}\n", h.Ok("list", "vms").Stdout);
        // Well-formed with a bad value: refused as soon as the machine is loaded.
        File.WriteAllText(vbox, good.Replace("RAMSize=\"128\"", "RAMSize=\"many\""));
        Assert.Contains("Name:            <inaccessible!>", h.Ok("list", "-l", "vms").Stdout);
        CliResult r = h.Ok("showvminfo", uuid);
        Assert.Contains("Name:            <inaccessible!>", r.Stdout);
        Assert.Contains(vbox, r.Stderr);
        Assert.Contains("(line ", r.Stderr);
        Assert.Contains("RAMSize", r.Stderr);
        byte[] before = File.ReadAllBytes(vbox);
        CliResult m = h.Fails(1, "modifyvm", uuid, "--memory", "64");
        Assert.Contains("VBOX_E_XML_ERROR", m.Stderr);
        Assert.Equal(before, File.ReadAllBytes(vbox));
    }
}
