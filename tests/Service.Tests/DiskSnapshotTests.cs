using System.Globalization;
using System.Xml.Linq;
using SharpBox.Storage;

namespace SharpBox.Service.Tests;

/// <summary>
/// A running VM holds its IDE disk images open and locked; an online snapshot makes the VM close them
/// while VBoxSVC builds the differencing images, and then open the new ones (the ticker guest runs on
/// throughout). Media in use show VirtualBox's "locked write" state.
/// </summary>
public class DiskSnapshotTests
{
    private static readonly Lazy<string> Ticker = new(() =>
    {
        string asm = Path.Combine(AppContext.BaseDirectory, "Guests", "ticker.asm");
        string bin = Path.Combine(Path.GetTempPath(), $"sbx-ticker-disk-{Environment.ProcessId}.bin");
        CliResult r = Tool.Run("nasm", "-f", "bin", "-w-zeroing", asm, "-o", bin);
        Assert.True(r.ExitCode == 0, $"nasm ticker.asm:\n{r}");
        return bin;
    });

    private static int LastTick(string serial)
    {
        int last = 0;
        if (!File.Exists(serial)) return 0;
        foreach (string l in File.ReadAllLines(serial))
            if (l.StartsWith("TICK ", StringComparison.Ordinal) && int.TryParse(l.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out int n))
                last = n;
        return last;
    }

    private static string AttachedImage(SvcHome h, string vm)
    {
        XElement root = XDocument.Load(Path.Combine(h.MachineFolder, vm, vm + ".vbox")).Root!;
        // The current state's controllers (a Snapshot element holds its own).
        XElement machine = root.Elements().First(e => e.Name.LocalName == "Machine");
        var controllers = machine.Elements().Where(e => e.Name.LocalName == "StorageControllers")
            .Concat(machine.Elements().Where(e => e.Name.LocalName == "Hardware").Elements().Where(e => e.Name.LocalName == "StorageControllers"));
        string id = (string)controllers.Descendants().First(e => e.Name.LocalName == "AttachedDevice").Elements().First(e => e.Name.LocalName == "Image").Attribute("uuid")!;
        return (string)root.Descendants().First(e => e.Name.LocalName == "HardDisk" && (string?)e.Attribute("uuid") == id).Attribute("location")!;
    }

    [Fact]
    public void OnlineSnapshotsSwitchTheRunningVmToNewDifferencingImages()
    {
        using var h = new SvcHome();
        string serial = Path.Combine(h.Root, "disky.serial");
        h.CreateVm("disky");
        h.Ok("modifyvm", "disky", "--memory", "32", "--hwvirtex", "off", "--boot-kernel", Ticker.Value,
            "--uart1", "0x3f8", "4", "--uart-mode1", "file", serial);
        string disk = Path.Combine(h.MachineFolder, "disky", "disk.vdi");
        h.Ok("createmedium", "disk", "--filename", disk, "--size", "16");
        h.Ok("storagectl", "disky", "--name", "IDE", "--add", "ide", "--controller", "PIIX3");
        h.Ok("storageattach", "disky", "--storagectl", "IDE", "--port", "0", "--device", "0", "--type", "hdd", "--medium", disk);

        h.Ok("startvm", "disky", "--type", "headless");
        Assert.True(SvcHome.WaitFor(() => LastTick(serial) >= 3, 60_000), "the ticker did not run");
        string log = Path.Combine(h.MachineFolder, "disky", "Logs", "VBox.log");
        Assert.Contains("piix3ide: primary master: ATA hard disk", File.ReadAllText(log));
        // The VM has the image: others cannot open it for writing, and it shows as in use.
        Assert.True(Assert.Throws<DiskImageException>(() => DiskImage.Open(disk, readOnly: false)).Locked);
        string info = h.Ok("showmediuminfo", "disk", disk).Stdout;
        Assert.Contains("locked write", info);
        Assert.Contains("Capacity:       16 MBytes", info);

        h.Ok("snapshot", "disky", "take", "first");
        string diff1 = AttachedImage(h, "disky");
        Assert.StartsWith("Snapshots/", diff1);
        Assert.Contains("reopened primary master: " + Path.Combine(h.MachineFolder, "disky", diff1) + " (VDI, diff", File.ReadAllText(log));
        int at = LastTick(serial);
        Assert.True(SvcHome.WaitFor(() => LastTick(serial) >= at + 3, 60_000), "the guest stopped after the snapshot");

        h.Ok("snapshot", "disky", "take", "second", "--live");
        string diff2 = AttachedImage(h, "disky");
        Assert.NotEqual(diff1, diff2);
        Assert.Contains("reopened primary master: " + Path.Combine(h.MachineFolder, "disky", diff2) + " (VDI, diff, 16 MiB, over " + Path.GetFileName(diff1) + ", over disk.vdi)", File.ReadAllText(log));
        Assert.True(Assert.Throws<DiskImageException>(() => DiskImage.Open(Path.Combine(h.MachineFolder, "disky", diff2), readOnly: false)).Locked);
        h.Ok("controlvm", "disky", "poweroff");

        // All closed and consistent after the power-off; the base image is qemu-img's to check too.
        using (var chain = DiskImage.Open(Path.Combine(h.MachineFolder, "disky", diff2), readOnly: false,
                   id => id == Guid.Empty ? null : h.Ok("showmediuminfo", "disk", id.ToString()).Stdout.Split('\n').First(l => l.StartsWith("Location:", StringComparison.Ordinal))[9..].Trim()))
            Assert.Equal(16 << 20, chain.Size);
        if (Tool.Exists("qemu-img"))
        {
            CliResult check = Tool.Run("qemu-img", "check", disk);
            Assert.True(check.ExitCode == 0, check.ToString());
        }
        h.Ok("snapshot", "disky", "delete", "second");
        h.Ok("snapshot", "disky", "delete", "first");
        Assert.Equal(disk, Path.GetFullPath(AttachedImage(h, "disky"), Path.Combine(h.MachineFolder, "disky")));
    }
}
