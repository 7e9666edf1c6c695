using System.Xml.Linq;

namespace SharpBox.Main.Tests;

/// <summary>storagectl, storageattach, get/setextradata, setproperty and the list subcommands.</summary>
public class StorageAndMiscCommandTests
{
    private static readonly XNamespace Ns = "http://www.virtualbox.org/";

    [Fact]
    public void StorageCtlAddModifyRenameRemove()
    {
        using var h = new VBoxManageHome();
        h.CreateVm("ctl");
        h.Ok("storagectl", "ctl", "--name", "IDE", "--add", "ide", "--controller", "PIIX4");
        h.Ok("storagectl", "ctl", "--name", "SATA", "--add", "sata", "--controller", "IntelAhci", "--portcount", "4", "--bootable", "on");
        h.Ok("storagectl", "ctl", "--name", "NVMe", "--add", "pcie", "--controller", "NVMe", "--portcount", "2");
        h.Ok("storagectl", "ctl", "--name", "SCSI", "--add", "scsi", "--controller", "BusLogic");
        Dictionary<string, string> i = h.Info("ctl");
        Assert.Equal(("IDE", "PIIX4", "2"), (i["storagecontrollername0"], i["storagecontrollertype0"], i["storagecontrollerportcount0"]));
        Assert.Equal(("SATA", "IntelAhci", "4", "30"), (i["storagecontrollername1"], i["storagecontrollertype1"], i["storagecontrollerportcount1"], i["storagecontrollermaxportcount1"]));
        Assert.Equal(("NVMe", "NVMe"), (i["storagecontrollername2"], i["storagecontrollertype2"]));
        Assert.Equal("BusLogic", i["storagecontrollertype3"]);

        h.Ok("storagectl", "ctl", "--name", "SATA", "--portcount", "8", "--bootable", "off", "--rename", "AHCI");
        i = h.Info("ctl");
        Assert.Equal(("AHCI", "8", "off"), (i["storagecontrollername1"], i["storagecontrollerportcount1"], i["storagecontrollerbootable1"]));
        h.Ok("storagectl", "ctl", "--name", "SCSI", "--remove");
        Assert.DoesNotContain("SCSI", h.Ok("showvminfo", "ctl", "--machinereadable").Stdout);

        Assert.Contains("Invalid --add argument 'firewire'", h.Fails(2, "storagectl", "ctl", "--name", "X", "--add", "firewire").Stderr);
        Assert.Contains("already exists", h.Fails(1, "storagectl", "ctl", "--name", "IDE", "--add", "ide").Stderr);
        Assert.Contains("Could not find a storage controller named 'Nope'", h.Fails(1, "storagectl", "ctl", "--name", "Nope", "--portcount", "2").Stderr);
        Assert.Contains("name not specified", h.Fails(2, "storagectl", "ctl", "--add", "sata", "--portcount", "2").Stderr);
        Assert.Contains("Invalid port count: 99", h.Fails(1, "storagectl", "ctl", "--name", "AHCI", "--portcount", "99").Stderr);
    }

    [Fact]
    public void StorageAttachDisksAndDrives()
    {
        using var h = new VBoxManageHome();
        h.CreateVm("att");
        string disk = h.Dir["a.vdi"], disk2 = h.Dir["b.vmdk"], iso = h.Dir["cd.iso"];
        h.Ok("createmedium", "--filename", disk, "--size", "8");
        h.Ok("createmedium", "--filename", disk2, "--size", "8", "--format", "VMDK");
        File.WriteAllBytes(iso, new byte[2048 * 16]);
        h.Ok("storagectl", "att", "--name", "SATA", "--add", "sata", "--portcount", "1");
        h.Ok("storagectl", "att", "--name", "IDE", "--add", "ide");

        // Port 2 on a 1-port SATA controller grows the port count, as VBoxManage does; device defaults to 0.
        h.Ok("storageattach", "att", "--storagectl", "SATA", "--port", "2", "--type", "hdd", "--medium", disk, "--nonrotational", "on", "--discard", "on");
        h.Ok("storageattach", "att", "--storagectl", "SATA", "--port", "0", "--type", "hdd", "--medium", disk2, "--hotpluggable", "on");
        h.Ok("storageattach", "att", "--storagectl", "IDE", "--port", "1", "--device", "0", "--type", "dvddrive", "--medium", "emptydrive");
        h.Ok("storageattach", "att", "--storagectl", "IDE", "--port", "1", "--device", "0", "--medium", iso);
        Dictionary<string, string> i = h.Info("att");
        Assert.Equal("3", i["storagecontrollerportcount0"]);
        Assert.Equal(disk, i["SATA-2-0"]);
        Assert.Equal(("on", "on"), (i["SATA-nonrotational-2-0"], i["SATA-discard-2-0"]));
        Assert.Equal(disk2, i["SATA-0-0"]);
        Assert.Equal("on", i["SATA-hot-pluggable-0-0"]);
        Assert.Equal("none", i["SATA-1-0"]);
        Assert.Equal(iso, i["IDE-1-0"]);

        // Attached media moved into the machine's own media registry (VirtualBox 4.0+ layout).
        XDocument vbox = XDocument.Load(h.VboxPath("att"));
        XElement registry = vbox.Root!.Element(Ns + "Machine")!.Element(Ns + "MediaRegistry")!;
        Assert.Equal(2, registry.Descendants(Ns + "HardDisk").Count());
        Assert.Single(registry.Element(Ns + "DVDImages")!.Elements(Ns + "Image"));
        Assert.Empty(XDocument.Load(Path.Combine(h.Home, "VirtualBox.xml")).Descendants(Ns + "HardDisk"));

        // Detach with --medium none; empty the DVD drive.
        h.Ok("storageattach", "att", "--storagectl", "SATA", "--port", "2", "--medium", "none");
        h.Ok("storageattach", "att", "--storagectl", "IDE", "--port", "1", "--device", "0", "--medium", "emptydrive");
        i = h.Info("att");
        Assert.Equal("none", i["SATA-2-0"]);
        Assert.Equal("emptydrive", i["IDE-1-0"]);

        Assert.Contains("Device not specified", h.Fails(2, "storageattach", "att", "--storagectl", "IDE", "--port", "0", "--type", "hdd", "--medium", disk).Stderr);
        Assert.Contains("Port not specified", h.Fails(2, "storageattach", "att", "--storagectl", "SATA", "--type", "hdd", "--medium", disk).Stderr);
        Assert.Contains("Could not find a controller named 'USB'", h.Fails(2, "storageattach", "att", "--storagectl", "USB", "--port", "0", "--medium", disk).Stderr);
        Assert.Contains("Invalid UUID or filename", h.Fails(2, "storageattach", "att", "--storagectl", "SATA", "--port", "1", "--type", "hdd", "--medium", h.Dir["missing.vdi"]).Stderr);
        Assert.Contains("already attached", h.Fails(1, "storageattach", "att", "--storagectl", "SATA", "--port", "1", "--type", "hdd", "--medium", disk2).Stderr);
        Assert.Contains("Invalid --type argument 'tape'", h.Fails(2, "storageattach", "att", "--storagectl", "SATA", "--port", "1", "--type", "tape", "--medium", disk).Stderr);
        Assert.Contains("Argument --type must be specified", h.Fails(2, "storageattach", "att", "--storagectl", "SATA", "--port", "1", "--medium", disk).Stderr);
    }

    [Fact]
    public void ExtraDataGlobalAndPerMachine()
    {
        using var h = new VBoxManageHome();
        h.CreateVm("ed");
        Assert.Equal("No value set!\n", h.Ok("getextradata", "global", "GUI/Test").Stdout);
        h.Ok("setextradata", "global", "GUI/Test", "hello world");
        Assert.Equal("Value: hello world\n", h.Ok("getextradata", "global", "GUI/Test").Stdout);
        h.Ok("setextradata", "ed", "VBoxInternal/Devices/x", "1");
        h.Ok("setextradata", "ed", "A/first", "2");
        Assert.Equal("Value: 1\n", h.Ok("getextradata", "ed", "VBoxInternal/Devices/x").Stdout);
        Assert.Equal("Key: A/first, Value: 2\nKey: VBoxInternal/Devices/x, Value: 1\n", h.Ok("getextradata", "ed", "enumerate").Stdout);
        h.Ok("setextradata", "ed", "A/first"); // no value deletes
        Assert.Equal("No value set!\n", h.Ok("getextradata", "ed", "A/first").Stdout);
        Assert.Equal("Key: GUI/Test, Value: hello world\n", h.Ok("getextradata", "global", "enumerate").Stdout);
        XElement item = XDocument.Load(h.VboxPath("ed")).Descendants(Ns + "ExtraDataItem").Single();
        Assert.Equal(("VBoxInternal/Devices/x", "1"), ((string?)item.Attribute("name"), (string?)item.Attribute("value")));
        Assert.Contains("Could not find a registered machine", h.Fails(1, "getextradata", "nosuchvm", "k").Stderr);
        Assert.Contains("Too many parameters", h.Fails(2, "setextradata", "global", "k", "v", "extra").Stderr);
    }

    [Fact]
    public void SetPropertyMachineFolderAndSystemProperties()
    {
        using var h = new VBoxManageHome();
        string folder = h.Dir["other vms"];
        h.Ok("setproperty", "machinefolder", folder);
        Assert.Contains($"Default machine folder:          {folder}\n", h.Ok("list", "systemproperties").Stdout);
        h.CreateVm("placed");
        Assert.True(File.Exists(Path.Combine(folder, "placed", "placed.vbox")));

        h.Ok("setproperty", "machinefolder", "default");
        string defaultFolder = h.Ok("list", "systemproperties").Stdout.Split('\n').First(l => l.StartsWith("Default machine folder:", StringComparison.Ordinal));
        Assert.EndsWith("/VirtualBox VMs", defaultFolder);

        h.Ok("setproperty", "loghistorycount", "7");
        h.Ok("setproperty", "hwvirtexclusive", "off");
        CliResult sp = h.Ok("list", "systemproperties");
        Assert.Contains("Log history count:               7\n", sp.Stdout);
        Assert.Contains("Exclusive HW virtualization use: off\n", sp.Stdout);
        Assert.Contains("Maximum guest RAM size:", sp.Stdout);
        Assert.Contains("Invalid parameter 'colour'", h.Fails(2, "setproperty", "colour", "blue").Stderr);
        Assert.Contains("Invalid hwvirtexclusive argument", h.Fails(2, "setproperty", "hwvirtexclusive", "perhaps").Stderr);
    }

    [Fact]
    public void ListSubcommands()
    {
        using var h = new VBoxManageHome();
        string b = h.CreateVm("bravo");
        string a = h.CreateVm("alpha");
        Assert.Equal($"\"bravo\" {{{b}}}\n\"alpha\" {{{a}}}\n", h.Ok("list", "vms").Stdout);
        Assert.Equal($"\"alpha\" {{{a}}}\n\"bravo\" {{{b}}}\n", h.Ok("list", "-s", "vms").Stdout);
        CliResult longForm = h.Ok("list", "-l", "vms");
        Assert.Contains("Name:                        alpha", longForm.Stdout);
        Assert.Contains("Name:                        bravo", longForm.Stdout);
        Assert.Equal("", h.Ok("list", "runningvms").Stdout);

        CliResult os = h.Ok("list", "ostypes");
        Assert.Contains("ID:          Debian_64\nDescription: Debian (64-bit)\nFamily ID:   Linux\nFamily Desc: Linux\n64 bit:      true\n", os.Stdout);
        Assert.Contains("ID:          Windows10_64\n", os.Stdout);

        File.WriteAllBytes(h.Dir["x.iso"], new byte[4096]);
        h.Ok("storagectl", "alpha", "--name", "IDE", "--add", "ide");
        h.Ok("storageattach", "alpha", "--storagectl", "IDE", "--port", "0", "--device", "0", "--type", "dvddrive", "--medium", h.Dir["x.iso"]);
        CliResult dvds = h.Ok("list", "dvds");
        Assert.Contains($"Location:       {h.Dir["x.iso"]}", dvds.Stdout);
        Assert.Contains("Storage format: RAW", dvds.Stdout);
        Assert.Contains("In use by VMs:  alpha", h.Ok("list", "-l", "dvds").Stdout);
        Assert.Equal("", h.Ok("list", "floppies").Stdout);

        CliResult host = h.Ok("list", "hostinfo");
        Assert.Contains("Processor online count: ", host.Stdout);
        Assert.Contains("Memory size: ", host.Stdout);
        Assert.Contains("Operating system: Linux", host.Stdout);
        Assert.Contains("Backend 0: id='VDI'", h.Ok("list", "hddbackends").Stdout);

        Assert.Contains("Invalid parameter 'everything'", h.Fails(2, "list", "everything").Stderr);
    }
}
