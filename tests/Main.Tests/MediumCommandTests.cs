using System.Xml.Linq;

namespace SharpBox.Main.Tests;

/// <summary>
/// createmedium, showmediuminfo, modifymedium, clonemedium, closemedium and convertfromraw end to
/// end, with qemu-img (installed by scripts/deps.sh) checking every image we write.
/// </summary>
public class MediumCommandTests
{
    private static readonly XNamespace Ns = "http://www.virtualbox.org/";

    private static void QemuCheck(string path, string expectedFormat, long expectedBytes)
    {
        // Fixed VHDs have no header qemu can probe, so the format is named; the probe is checked for the others.
        CliResult info = expectedFormat == "vpc"
            ? Tool.Run("qemu-img", "info", "--output=json", "-f", "vpc", path)
            : Tool.Run("qemu-img", "info", "--output=json", path);
        Assert.True(info.ExitCode == 0, info.ToString());
        Assert.Contains($"\"format\": \"{expectedFormat}\"", info.Stdout);
        var m = System.Text.RegularExpressions.Regex.Match(info.Stdout, "\"virtual-size\": (\\d+)");
        long size = long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        if (expectedFormat == "vpc")
        {
            // VHD sizes are expressed through the CHS geometry, which rounds up slightly.
            Assert.InRange(size, expectedBytes, expectedBytes + 64 * 1024);
        }
        else
            Assert.Equal(expectedBytes, size);
        if (expectedFormat is "vdi" or "vmdk")
        {
            CliResult check = Tool.Run("qemu-img", "check", path);
            Assert.True(check.ExitCode == 0, check.ToString());
        }
    }

    private static string MediumUuid(CliResult created)
    {
        const string prefix = "Medium created. UUID: ";
        string line = created.Stdout.Split('\n').Single(l => l.StartsWith(prefix, StringComparison.Ordinal));
        return line[prefix.Length..].Trim();
    }

    [Theory]
    [InlineData("VDI", "Standard", "vdi")]
    [InlineData("VDI", "Fixed", "vdi")]
    [InlineData("VMDK", "Standard", "vmdk")]
    [InlineData("VMDK", "Fixed", "vmdk")]
    [InlineData("VMDK", "Split2G", "vmdk")]
    [InlineData("VHD", "Standard", "vpc")]
    [InlineData("VHD", "Fixed", "vpc")]
    public void CreateMediumPassesQemuImg(string format, string variant, string qemuFormat)
    {
        using var h = new VBoxManageHome();
        string file = h.Dir["disk"]; // no extension: VBoxManage appends the format's
        CliResult r = h.Ok("createmedium", "disk", "--filename", file, "--size", "16", "--format", format, "--variant", variant);
        Assert.Contains("100%", r.Stderr);
        string path = file + "." + format.ToLowerInvariant();
        Assert.True(File.Exists(path));
        QemuCheck(path, qemuFormat, 16L << 20);
        // Created media are remembered in the global media registry.
        XDocument global = XDocument.Load(Path.Combine(h.Home, "VirtualBox.xml"));
        XElement hd = global.Descendants(Ns + "HardDisk").Single();
        Assert.Equal("{" + MediumUuid(r) + "}", (string?)hd.Attribute("uuid"));
        Assert.Equal(format, (string?)hd.Attribute("format"));
    }

    [Fact]
    public void CreateMediumBadInput()
    {
        using var h = new VBoxManageHome();
        Assert.Contains("--filename is required", h.Fails(2, "createmedium", "--size", "4").Stderr);
        Assert.Contains("--size is required", h.Fails(2, "createmedium", "--filename", h.Dir["a.vdi"]).Stderr);
        Assert.Contains("Invalid medium variant", h.Fails(2, "createmedium", "--filename", h.Dir["a.vdi"], "--size", "4", "--variant", "Sparkly").Stderr);
        Assert.Contains("Invalid medium storage format", h.Fails(1, "createmedium", "--filename", h.Dir["a.qcow"], "--size", "4", "--format", "QCOW9").Stderr);
        Assert.Contains("Only one command", h.Fails(2, "createmedium", "disk", "dvd", "--filename", h.Dir["a.vdi"], "--size", "4").Stderr);
        h.Ok("createmedium", "--filename", h.Dir["b.vdi"], "--size", "4");
        Assert.Contains("already", h.Fails(1, "createmedium", "--filename", h.Dir["b.vdi"], "--size", "4").Stderr);
        Assert.False(File.Exists(h.Dir["a.vdi"]));
    }

    [Fact]
    public void ShowMediumInfoLongForm()
    {
        using var h = new VBoxManageHome();
        string disk = h.Dir["info.vdi"];
        string uuid = MediumUuid(h.Ok("createmedium", "--filename", disk, "--size", "32"));
        h.CreateVm("user");
        h.Ok("storagectl", "user", "--name", "SATA", "--add", "sata");
        h.Ok("storageattach", "user", "--storagectl", "SATA", "--port", "0", "--type", "hdd", "--medium", disk);
        CliResult r = h.Ok("showmediuminfo", disk);
        Assert.Contains($"UUID:           {uuid}\n", r.Stdout);
        Assert.Contains("Parent UUID:    base\n", r.Stdout);
        Assert.Contains("State:          created\n", r.Stdout);
        Assert.Contains("Type:           normal (base)\n", r.Stdout);
        Assert.Contains($"Location:       {disk}\n", r.Stdout);
        Assert.Contains("Storage format: VDI\n", r.Stdout);
        Assert.Contains("Format variant: dynamic default\n", r.Stdout);
        Assert.Contains("Capacity:       32 MBytes\n", r.Stdout);
        Assert.Contains("In use by VMs:  user (UUID: ", r.Stdout);
        Assert.Equal(r.Stdout, h.Ok("showmediuminfo", "disk", uuid).Stdout);
        Assert.Equal(r.Stdout, h.Ok("showhdinfo", disk).Stdout);
        Assert.Contains("VERR_FILE_NOT_FOUND", h.Fails(1, "showmediuminfo", h.Dir["missing.vdi"]).Stderr);
        File.WriteAllBytes(h.Dir["junk.vdi"], new byte[4096]);
        Assert.Contains("junk.vdi", h.Fails(1, "showmediuminfo", h.Dir["junk.vdi"]).Stderr);
    }

    [Fact]
    public void ModifyMediumResizeCompactTypeDescription()
    {
        using var h = new VBoxManageHome();
        string disk = h.Dir["m.vdi"];
        h.Ok("createmedium", "--filename", disk, "--size", "8");
        CliResult resize = h.Ok("modifymedium", disk, "--resize", "24");
        Assert.Contains("100%", resize.Stderr);
        QemuCheck(disk, "vdi", 24L << 20);
        h.Ok("modifymedium", "disk", disk, "--resizebyte", (32L << 20).ToString(System.Globalization.CultureInfo.InvariantCulture));
        QemuCheck(disk, "vdi", 32L << 20);
        Assert.Contains("Shrinking", h.Fails(1, "modifymedium", disk, "--resize", "4").Stderr);
        Assert.Contains("Use --resizebyte", h.Fails(1, "modifymedium", disk, "--resize", "999999999").Stderr);

        // Write zeros into allocated blocks with qemu-io is not available; compact must at least keep the image valid.
        h.Ok("modifymedium", disk, "--compact");
        QemuCheck(disk, "vdi", 32L << 20);

        h.Ok("modifymedium", disk, "--type", "immutable");
        Assert.Contains("Type:           immutable", h.Ok("showmediuminfo", disk).Stdout);
        Assert.Contains("Medium description has been changed.", h.Ok("modifymedium", disk, "--description", "scratch disk").Stdout);
        Assert.Contains("Description:    scratch disk", h.Ok("showmediuminfo", disk).Stdout);
        Assert.Contains("Invalid medium type", h.Fails(2, "modifymedium", disk, "--type", "sticky").Stderr);
        Assert.Contains("No operation specified", h.Fails(2, "modifymedium", disk).Stderr);
        // The registry keeps type and description.
        XElement hd = XDocument.Load(Path.Combine(h.Home, "VirtualBox.xml")).Descendants(Ns + "HardDisk").Single();
        Assert.Equal("Immutable", (string?)hd.Attribute("type"));
    }

    [Theory]
    [InlineData("VMDK", "vmdk")]
    [InlineData("VHD", "vpc")]
    [InlineData("VDI", "vdi")]
    public void CloneMediumBetweenFormatsKeepsContent(string format, string qemuFormat)
    {
        using var h = new VBoxManageHome();
        // A raw image with a pattern, converted so the source has data in it.
        string raw = h.Dir["pattern.raw"];
        byte[] data = new byte[4 << 20];
        for (int i = 0; i < data.Length; i += 512)
            data[i] = (byte)(i / 512 + 1);
        File.WriteAllBytes(raw, data);
        h.Ok("convertfromraw", raw, h.Dir["src.vdi"]);
        string target = h.Dir["copy." + format.ToLowerInvariant()];
        CliResult r = h.Ok("clonemedium", h.Dir["src.vdi"], target, "--format", format);
        Assert.Contains($"Clone medium created in format '{format}'. UUID: ", r.Stdout);
        QemuCheck(target, qemuFormat, data.Length);
        CliResult cmp = Tool.Run("qemu-img", "compare", "-f", "raw", "-F", qemuFormat, raw, target);
        Assert.True(cmp.ExitCode == 0, cmp.ToString());
        Assert.Contains("already", h.Fails(1, "clonemedium", h.Dir["src.vdi"], target).Stderr);
        Assert.Contains("output file parameter missing", h.Fails(2, "clonehd", h.Dir["src.vdi"]).Stderr);
    }

    [Fact]
    public void CloseMediumAndDelete()
    {
        using var h = new VBoxManageHome();
        string a = h.Dir["a.vdi"], b = h.Dir["b.vdi"];
        h.Ok("createmedium", "--filename", a, "--size", "4");
        h.Ok("createmedium", "--filename", b, "--size", "4");
        h.Ok("closemedium", a);
        Assert.True(File.Exists(a));
        Assert.DoesNotContain(a, h.Ok("list", "hdds").Stdout);
        h.Ok("closemedium", "disk", b, "--delete");
        Assert.False(File.Exists(b));
        Assert.Equal("", h.Ok("list", "hdds").Stdout);

        // A disk attached to a VM cannot be closed.
        string c = h.Dir["c.vdi"];
        h.Ok("createmedium", "--filename", c, "--size", "4");
        h.CreateVm("holder");
        h.Ok("storagectl", "holder", "--name", "SATA", "--add", "sata");
        h.Ok("storageattach", "holder", "--storagectl", "SATA", "--port", "0", "--type", "hdd", "--medium", c);
        Assert.Contains("still attached", h.Fails(1, "closemedium", c, "--delete").Stderr);
        Assert.True(File.Exists(c));
    }

    [Fact]
    public void ConvertFromRawFileAndStdin()
    {
        using var h = new VBoxManageHome();
        string raw = h.Dir["disk.raw"];
        byte[] data = new byte[3 << 20];
        new Random(7).NextBytes(data.AsSpan(0, 1 << 20));
        File.WriteAllBytes(raw, data);

        CliResult r = h.Ok("convertfromraw", raw, h.Dir["out.vdi"], "--uuid", "11111111-2222-3333-4444-555555555555");
        Assert.Contains("Converting from raw image file=", r.Stderr);
        QemuCheck(h.Dir["out.vdi"], "vdi", data.Length);
        Assert.Equal(0, Tool.Run("qemu-img", "compare", "-f", "raw", "-F", "vdi", raw, h.Dir["out.vdi"]).ExitCode);
        Assert.Contains("11111111-2222-3333-4444-555555555555", h.Ok("showmediuminfo", h.Dir["out.vdi"]).Stdout);

        h.Ok("convertdd", raw, h.Dir["out.vmdk"], "--format", "VMDK");
        Assert.Equal(0, Tool.Run("qemu-img", "compare", "-f", "raw", "-F", "vmdk", raw, h.Dir["out.vmdk"]).ExitCode);

        CliResult s = h.RunWithInput(data, "convertfromraw", "stdin", h.Dir["piped.vhd"], data.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), "--format", "VHD");
        Assert.True(s.ExitCode == 0, s.ToString());
        Assert.Equal(0, Tool.Run("qemu-img", "compare", "-f", "raw", "-F", "vpc", raw, h.Dir["piped.vhd"]).ExitCode);
        Assert.Empty(Directory.GetFiles(h.Dir.Path, "*.stdin-*"));

        Assert.Contains("already exists", h.Fails(1, "convertfromraw", raw, h.Dir["out.vdi"]).Stderr);
        Assert.Contains("Incorrect number of parameters", h.Fails(2, "convertfromraw", raw).Stderr);
        Assert.Contains("VERR_FILE_NOT_FOUND", h.Fails(1, "convertfromraw", h.Dir["nope.raw"], h.Dir["x.vdi"]).Stderr);
    }

    [Fact]
    public void DifferencingMediumChainsToParent()
    {
        using var h = new VBoxManageHome();
        string parentUuid = MediumUuid(h.Ok("createmedium", "--filename", h.Dir["base.vdi"], "--size", "8"));
        string childUuid = MediumUuid(h.Ok("createmedium", "--filename", h.Dir["child.vdi"], "--diffparent", h.Dir["base.vdi"]));
        CliResult info = h.Ok("showmediuminfo", h.Dir["child.vdi"]);
        Assert.Contains($"Parent UUID:    {parentUuid}", info.Stdout);
        Assert.Contains("Type:           normal (differencing)", info.Stdout);
        Assert.Contains($"Child UUIDs:    {childUuid}", h.Ok("showmediuminfo", h.Dir["base.vdi"]).Stdout);
        CliResult list = h.Ok("list", "hdds");
        Assert.Contains($"Parent UUID:    {parentUuid}", list.Stdout);
        Assert.Contains("child media", h.Fails(1, "closemedium", h.Dir["base.vdi"]).Stderr);
    }
}
