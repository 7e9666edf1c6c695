using System.Xml.Linq;
using SharpBox.Storage;

namespace SharpBox.Main.Tests;

/// <summary>
/// VBoxManage snapshot (take/restore/restorecurrent/delete/edit/list/showvminfo), linked clones from
/// snapshots, discardstate and adoptstate, end to end through VBoxSVC: the .vbox in VirtualBox's shape,
/// differencing images in Snapshots/, and the disk contents each state shows (written and read
/// through the image chain as a guest would see it).
/// </summary>
public class SnapshotCommandTests
{
    private static readonly XNamespace Ns = "http://www.virtualbox.org/";
    private const int Block = 1 << 20;

    /// <summary>Reads and writes what a guest sees on a disk: the attached image with its chain.</summary>
    private static class Disk
    {
        /// <summary>UUID to path for every VDI under <paramref name="root"/> (the parents of a chain).</summary>
        private static Func<Guid, string?> Resolver(string root)
        {
            var map = new Dictionary<Guid, string>();
            foreach (string f in Directory.EnumerateFiles(root, "*.vdi", SearchOption.AllDirectories))
            {
                using IDiskImage img = DiskImage.Open(f, readOnly: true);
                map[img.Uuid] = f;
            }
            return id => map.TryGetValue(id, out string? p) ? p : null;
        }

        public static void Fill(string root, string image, byte value, long offset = 0, int length = Block)
        {
            using IDiskImage img = DiskImage.Open(image, readOnly: false, Resolver(root));
            byte[] data = new byte[length];
            Array.Fill(data, value);
            img.Write(offset, data);
            img.Flush();
        }

        public static byte ValueAt(string root, string image, long offset = 0)
        {
            using IDiskImage img = DiskImage.Open(image, readOnly: true, Resolver(root));
            byte[] b = new byte[512];
            img.Read(offset, b);
            Assert.True(b.All(x => x == b[0]), $"{image} at {offset}: mixed contents");
            return b[0];
        }
    }

    private static string Attached(VBoxManageHome h, string vm) => h.Info(vm)["SATA-0-0"];

    private static (VBoxManageHome H, string Dir) VmWithDisk(string name)
    {
        var h = new VBoxManageHome();
        h.CreateVm(name);
        string dir = Path.Combine(h.MachineFolder, name);
        string disk = Path.Combine(dir, name + ".vdi");
        h.Ok("createmedium", "disk", "--filename", disk, "--size", "8");
        h.Ok("storagectl", name, "--name", "SATA", "--add", "sata");
        h.Ok("storageattach", name, "--storagectl", "SATA", "--port", "0", "--type", "hdd", "--medium", disk);
        return (h, dir);
    }

    private static void QemuCheck(string image)
    {
        if (!Tool.Exists("qemu-img"))
            return;
        CliResult r = Tool.Run("qemu-img", "check", "-f", "vdi", image);
        Assert.True(r.ExitCode == 0, $"qemu-img check {image}:\n{r}");
    }

    [Fact]
    public void TakeRestoreDeleteKeepEachStatesDisk()
    {
        (VBoxManageHome h, string dir) = VmWithDisk("snappy");
        using var _ = h;
        string baseDisk = Path.Combine(dir, "snappy.vdi");
        Disk.Fill(dir, Attached(h, "snappy"), 0xA1);

        CliResult take = h.Ok("snapshot", "snappy", "take", "one", "--description", "first state");
        Assert.Matches("^Snapshot taken. UUID: [0-9a-f-]{36}\n$", take.Stdout);
        string d1 = Attached(h, "snappy");
        Assert.StartsWith(Path.Combine(dir, "Snapshots", "{"), d1);
        Assert.EndsWith("}.vdi", d1);
        Assert.Equal(0xA1, Disk.ValueAt(dir, d1)); // the new differencing image shows its parent
        Disk.Fill(dir, d1, 0xB2);
        Assert.Equal(0xA1, Disk.ValueAt(dir, baseDisk)); // the snapshot's disk is untouched

        h.Ok("modifyvm", "snappy", "--memory", "200");
        h.Ok("snapshot", "snappy", "take", "two");
        Disk.Fill(dir, Attached(h, "snappy"), 0xC3);

        // The .vbox in VirtualBox's shape: Snapshot(one) > Snapshots > Snapshot(two), current = two.
        XElement machine = XDocument.Load(Path.Combine(dir, "snappy.vbox")).Root!.Element(Ns + "Machine")!;
        XElement one = machine.Element(Ns + "Snapshot")!;
        Assert.Equal("one", (string?)one.Attribute("name"));
        Assert.Equal("first state", (string?)one.Element(Ns + "Description"));
        Assert.NotNull(one.Attribute("timeStamp"));
        Assert.Equal("128", (string?)one.Element(Ns + "Hardware")!.Element(Ns + "Memory")!.Attribute("RAMSize"));
        XElement two = one.Element(Ns + "Snapshots")!.Element(Ns + "Snapshot")!;
        Assert.Equal("two", (string?)two.Attribute("name"));
        Assert.Equal("200", (string?)two.Element(Ns + "Hardware")!.Element(Ns + "Memory")!.Attribute("RAMSize"));
        Assert.Equal((string?)two.Attribute("uuid"), (string?)machine.Attribute("currentSnapshot"));
        Assert.Equal("false", (string?)machine.Attribute("currentStateModified"));
        // Media: base > one's diff > two's diff, nested in the machine's registry.
        XElement baseEntry = machine.Element(Ns + "MediaRegistry")!.Element(Ns + "HardDisks")!.Element(Ns + "HardDisk")!;
        Assert.Equal("snappy.vdi", (string?)baseEntry.Attribute("location"));
        Assert.StartsWith("Snapshots/{", (string?)baseEntry.Element(Ns + "HardDisk")!.Attribute("location"));
        Assert.NotNull(baseEntry.Element(Ns + "HardDisk")!.Element(Ns + "HardDisk"));

        CliResult restore = h.Ok("snapshot", "snappy", "restore", "one");
        Assert.Matches("^Restoring snapshot 'one' \\([0-9a-f-]{36}\\)\n$", restore.Stdout);
        Assert.Equal(0xA1, Disk.ValueAt(dir, Attached(h, "snappy")));
        Assert.Equal("128", h.Info("snappy")["memory"]);
        Disk.Fill(dir, Attached(h, "snappy"), 0xD4); // a change after the restore, then thrown away
        h.Ok("snapshot", "snappy", "restorecurrent");
        Assert.Equal(0xA1, Disk.ValueAt(dir, Attached(h, "snappy")));

        h.Ok("snapshot", "snappy", "restore", "two");
        Assert.Equal(0xB2, Disk.ValueAt(dir, Attached(h, "snappy")));
        Assert.Equal("200", h.Info("snappy")["memory"]);

        // Delete the snapshot in the middle: its diff is merged, "two" still shows what it showed.
        CliResult del = h.Ok("snapshot", "snappy", "delete", "one");
        Assert.Matches("^Deleting snapshot 'one' \\([0-9a-f-]{36}\\)\n$", del.Stdout);
        Assert.Contains("100%", del.Stderr);
        Assert.DoesNotContain("Name: one", h.Ok("snapshot", "snappy", "list").Stdout);
        Assert.Equal(0xB2, Disk.ValueAt(dir, Attached(h, "snappy")));
        QemuCheck(baseDisk);
        h.Ok("snapshot", "snappy", "restore", "two");
        Assert.Equal(0xB2, Disk.ValueAt(dir, Attached(h, "snappy")));
        Disk.Fill(dir, Attached(h, "snappy"), 0xE5, offset: 4 * Block);

        // Deleting the last snapshot merges everything back into the base image.
        h.Ok("snapshot", "snappy", "delete", "two");
        Assert.Equal(baseDisk, Attached(h, "snappy"));
        Assert.Equal(0xB2, Disk.ValueAt(dir, baseDisk));
        Assert.Equal(0xE5, Disk.ValueAt(dir, baseDisk, 4 * Block));
        Assert.Empty(Directory.GetFiles(Path.Combine(dir, "Snapshots")));
        machine = XDocument.Load(Path.Combine(dir, "snappy.vbox")).Root!.Element(Ns + "Machine")!;
        Assert.Null(machine.Element(Ns + "Snapshot"));
        Assert.Null(machine.Attribute("currentSnapshot"));
        Assert.Single(machine.Descendants(Ns + "HardDisk"));
        QemuCheck(baseDisk);
        CliResult none = h.Run("snapshot", "snappy", "list");
        Assert.Equal(1, none.ExitCode);
        Assert.Equal("This machine does not have any snapshots\n", none.Stdout);
    }

    [Fact]
    public void DeleteRefusesBranchesAndRestoreRemovesOldCurrentDiffs()
    {
        (VBoxManageHome h, string dir) = VmWithDisk("branchy");
        using var _ = h;
        h.Ok("snapshot", "branchy", "take", "root");
        string oldCurrent = Attached(h, "branchy");
        h.Ok("snapshot", "branchy", "take", "left");
        h.Ok("snapshot", "branchy", "restore", "root");
        Assert.False(File.Exists(oldCurrent) && Attached(h, "branchy") == oldCurrent);
        h.Ok("snapshot", "branchy", "take", "right");
        string list = h.Ok("snapshot", "branchy", "list").Stdout;
        Assert.Matches("   Name: root \\(UUID: [0-9a-f-]+\\)\n      Name: left \\(UUID: [0-9a-f-]+\\)\n      Name: right \\(UUID: [0-9a-f-]+\\) \\*\n", list);
        string mr = h.Ok("snapshot", "branchy", "list", "--machinereadable").Stdout;
        Assert.Contains("SnapshotName=\"root\"", mr);
        Assert.Contains("SnapshotName-1=\"left\"", mr);
        Assert.Contains("SnapshotName-2=\"right\"", mr);
        Assert.Contains("CurrentSnapshotName=\"right\"", mr);
        Assert.Contains("CurrentSnapshotNode=\"SnapshotName-2\"", mr);

        CliResult refused = h.Fails(1, "snapshot", "branchy", "delete", "root");
        Assert.Contains("Snapshot 'root' of the machine 'branchy' cannot be deleted, because it has 2 child snapshots, which is more than the one snapshot allowed for deletion", refused.Stderr);
        Assert.Contains("VBOX_E_INVALID_OBJECT_STATE", refused.Stderr);
        Assert.Contains("Name: root", h.Ok("snapshot", "branchy", "list").Stdout);

        CliResult missing = h.Fails(1, "snapshot", "branchy", "restore", "nowhere");
        Assert.Contains("Could not find a snapshot named 'nowhere'", missing.Stderr);
        Assert.Contains("VBOX_E_OBJECT_NOT_FOUND", missing.Stderr);
        Assert.Equal(2, h.Fails(2, "snapshot", "branchy", "take").ExitCode);
        Assert.Contains("Missing snapshot name", h.Fails(2, "snapshot", "branchy", "take").Stderr);
        Assert.Contains("Invalid parameter 'frobnicate'", h.Fails(2, "snapshot", "branchy", "frobnicate").Stderr);

        // Deleting a leaf that only it used removes its image; then the root can go.
        h.Ok("snapshot", "branchy", "delete", "left");
        h.Ok("snapshot", "branchy", "delete", "root");
        Assert.Equal("right", h.Info("branchy")["CurrentSnapshotName"]);
        h.Ok("snapshot", "branchy", "delete", "right");
        Assert.Empty(Directory.GetFiles(Path.Combine(dir, "Snapshots")));
        QemuCheck(Path.Combine(dir, "branchy.vdi"));
    }

    [Fact]
    public void EditAndShowSnapshots()
    {
        (VBoxManageHome h, string _) = VmWithDisk("edited");
        using var __ = h;
        h.Ok("snapshot", "edited", "take", "before", "--description=plain");
        h.Ok("modifyvm", "edited", "--memory", "300", "--cpus", "1");
        h.Ok("snapshot", "edited", "take", "after", "--uniquename", "Number");
        h.Ok("snapshot", "edited", "take", "after", "--uniquename", "Number,Space");
        string list = h.Ok("snapshot", "edited", "list").Stdout;
        Assert.Contains("Name: after (UUID:", list);
        Assert.Contains("Name: after 2 (UUID:", list);

        h.Ok("snapshot", "edited", "edit", "before", "--name", "origin", "--description", "the very first");
        h.Ok("snapshot", "edited", "edit", "--current", "--name", "latest");
        list = h.Ok("snapshot", "edited", "list").Stdout;
        Assert.Contains("   Name: origin (UUID: ", list);
        Assert.Contains("   Description: the very first\n", list);
        Assert.Contains("Name: latest (UUID: ", list);
        Assert.EndsWith(" *\n", list);

        // The snapshot's machine shows the hardware of its time; showvminfo shows the tree.
        string then = h.Ok("snapshot", "edited", "showvminfo", "origin").Stdout;
        Assert.Contains("Memory size:                 128MB", then);
        Dictionary<string, string> now = h.Info("edited");
        Assert.Equal("300", now["memory"]);
        Assert.Equal("origin", now["SnapshotName"]);
        Assert.Equal("latest", now["CurrentSnapshotName"]);
        Assert.Contains("* Snapshots:\n   Name: origin", h.Ok("showvminfo", "edited").Stdout);
    }

    [Fact]
    public void LinkedCloneFromSnapshot()
    {
        (VBoxManageHome h, string dir) = VmWithDisk("parent");
        using var _ = h;
        Disk.Fill(dir, Attached(h, "parent"), 0x11);
        h.Ok("snapshot", "parent", "take", "golden");
        Disk.Fill(dir, Attached(h, "parent"), 0x22); // after the snapshot: not in the clone

        CliResult noSnap = h.Fails(1, "clonevm", "parent", "--name", "nolink", "--options", "link");
        Assert.Contains("Linked clone can only be created from a snapshot", noSnap.Stderr);

        CliResult r = h.Ok("clonevm", "parent", "--snapshot", "golden", "--options", "link", "--name", "child", "--register");
        Assert.Contains("Machine has been successfully cloned as \"child\"", r.Stdout);
        string childDir = Path.Combine(h.MachineFolder, "child");
        string childDisk = Attached(h, "child");
        Assert.StartsWith(Path.Combine(childDir, "Snapshots", "{"), childDisk);
        Assert.Equal(0x11, Disk.ValueAt(h.MachineFolder, childDisk));
        Disk.Fill(h.MachineFolder, childDisk, 0x33);
        Assert.Equal(0x33, Disk.ValueAt(h.MachineFolder, childDisk));
        Assert.Equal(0x22, Disk.ValueAt(dir, Attached(h, "parent")));
        Assert.Equal(0x11, Disk.ValueAt(dir, Path.Combine(dir, "parent.vdi")));
        // The clone's registry names the parent chain; the parent's image is shared.
        string info = h.Ok("showmediuminfo", childDisk).Stdout;
        Assert.Matches("Parent UUID: +[0-9a-f-]{36}", info);
        Assert.Contains("\"child\"", h.Ok("list", "vms").Stdout);
        // A full clone of the snapshot copies the snapshot's contents into a standalone image.
        h.Ok("clonevm", "parent", "--snapshot", "golden", "--name", "full", "--register");
        string fullDisk = Attached(h, "full");
        Assert.Equal(Path.Combine(h.MachineFolder, "full", "full.vdi"), fullDisk);
        Assert.Equal(0x11, Disk.ValueAt(h.MachineFolder, fullDisk));
        QemuCheck(fullDisk);
    }

    private static byte[] FakeSavedState(int payload)
    {
        // The SSM file frame VBoxSVC checks: signature, format 1, ..., end record.
        var ms = new MemoryStream();
        ms.Write("SBXSSM\r\n"u8);
        ms.Write(BitConverter.GetBytes(1u));
        ms.Write(new byte[payload]);
        ms.Write("SSM-END\n"u8);
        return ms.ToArray();
    }

    [Fact]
    public void AdoptAndDiscardSavedState()
    {
        (VBoxManageHome h, string dir) = VmWithDisk("stateful");
        using var _ = h;
        string sav = h.Dir["outside.sav"];
        File.WriteAllBytes(sav, FakeSavedState(100));
        h.Ok("adoptstate", "stateful", sav);
        Dictionary<string, string> info = h.Info("stateful");
        Assert.Equal("saved", info["VMState"]);
        Assert.Equal(sav, info["VMStateFile"]);
        Assert.Contains("State:                       saved (since", h.Ok("showvminfo", "stateful").Stdout);
        CliResult again = h.Fails(1, "adoptstate", "stateful", sav);
        Assert.Contains("Cannot adopt the saved machine state as the machine is not in Powered Off or Aborted state (machine state: Saved)", again.Stderr);

        // A snapshot of a saved machine keeps a copy of the state; restoring it brings the state back.
        h.Ok("snapshot", "stateful", "take", "with-state");
        string snapSav = Directory.GetFiles(Path.Combine(dir, "Snapshots"), "*.sav").Single();
        Assert.Matches("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{9}Z\\.sav$", Path.GetFileName(snapSav));
        XElement snap = XDocument.Load(Path.Combine(dir, "stateful.vbox")).Root!.Element(Ns + "Machine")!.Element(Ns + "Snapshot")!;
        Assert.Equal("Snapshots/" + Path.GetFileName(snapSav), (string?)snap.Attribute("stateFile"));

        h.Ok("discardstate", "stateful");
        Assert.Equal("poweroff", h.Info("stateful")["VMState"]);
        Assert.False(File.Exists(sav));
        Assert.True(File.Exists(snapSav), "the snapshot's own copy stays");
        Assert.Contains("as the machine is not in the Saved state (machine state: PoweredOff)", h.Fails(1, "discardstate", "stateful").Stderr);

        h.Ok("snapshot", "stateful", "restore", "with-state");
        info = h.Info("stateful");
        Assert.Equal("saved", info["VMState"]);
        Assert.StartsWith(Path.Combine(dir, "Snapshots"), info["VMStateFile"]);
        Assert.NotEqual(snapSav, info["VMStateFile"]);
        Assert.Equal(File.ReadAllBytes(snapSav), File.ReadAllBytes(info["VMStateFile"]));
        h.Ok("discardstate", "stateful");
        h.Ok("snapshot", "stateful", "delete", "with-state");
        Assert.Empty(Directory.GetFiles(Path.Combine(dir, "Snapshots")));

        // Bad state files are refused with the reason.
        File.WriteAllText(h.Dir["junk.sav"], "not a saved state at all, just words");
        Assert.Contains("is not a saved state file: the SharpBox saved-state signature is missing", h.Fails(1, "adoptstate", "stateful", h.Dir["junk.sav"]).Stderr);
        byte[] cut = FakeSavedState(100)[..^4];
        File.WriteAllBytes(h.Dir["cut.sav"], cut);
        Assert.Contains("it is truncated (no end record)", h.Fails(1, "adoptstate", "stateful", h.Dir["cut.sav"]).Stderr);
        Assert.Contains("does not exist", h.Fails(1, "adoptstate", "stateful", h.Dir["none.sav"]).Stderr);
        Assert.Equal("poweroff", h.Info("stateful")["VMState"]);
    }
}
