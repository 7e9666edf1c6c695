using SharpBox.Vmm.Cfgm;

namespace SharpBox.Vmm.Tests.Cfgm;

public class CfgmTests
{
    [Fact]
    public void PathsValuesAndTypes()
    {
        var root = CfgmNode.CreateRoot();
        var cfg = root.GetOrCreateChild("Devices/serial/0/Config");
        cfg.SetInteger("IOBase", 0x3F8UL).SetString("Name", "com1").SetBytes("Blob", [1, 2, 3]).SetBool("On", true);
        Assert.Equal("/Devices/serial/0/Config", cfg.Path);
        Assert.Same(cfg, root.GetChild("Devices/serial/0/Config"));
        Assert.Equal(0x3F8UL, cfg.GetInteger("IOBase"));
        Assert.Equal("com1", cfg.GetString("Name"));
        Assert.Equal(new byte[] { 1, 2, 3 }, cfg.GetBytes("Blob"));
        Assert.True(cfg.GetBool("On", false));
        Assert.Equal(7UL, cfg.GetInteger("Missing", 7));
        Assert.Equal(CfgmValueType.String, cfg.TypeOf("Name"));
        Assert.Null(root.GetChild("Devices/nothing"));
    }

    [Fact]
    public void ErrorsNameTheValue()
    {
        var cfg = CfgmNode.CreateRoot().GetOrCreateChild("Devices/pit/0/Config");
        cfg.SetString("Hz", "fast").SetInteger("Irq", 99UL);
        var e1 = Assert.Throws<CfgmException>(() => cfg.GetInteger("Hz"));
        Assert.Contains("/Devices/pit/0/Config/Hz", e1.Message);
        Assert.Contains("not an integer", e1.Message);
        var e2 = Assert.Throws<CfgmException>(() => cfg.GetInteger("Irq", 0, 0, 15));
        Assert.Contains("out of range", e2.Message);
        var e3 = Assert.Throws<CfgmException>(() => cfg.GetString("Absent"));
        Assert.Contains("missing", e3.Message);
        var e4 = Assert.Throws<CfgmException>(() => cfg.Validate(["Irq"]));
        Assert.Contains("unknown value /Devices/pit/0/Config/Hz", e4.Message);
        Assert.Throws<CfgmException>(() => cfg.Parent!.InsertNode("Config"));
        Assert.Throws<ArgumentException>(() => cfg.SetInteger("a/b", 1UL));
    }

    [Fact]
    public void DumpListsEveryValue()
    {
        var root = CfgmNode.CreateRoot();
        root.SetInteger("RamSize", 256UL << 20);
        root.GetOrCreateChild("Devices/i8254/0");
        string dump = root.ToString();
        Assert.Contains("RamSize <integer> = 0x0000000010000000", dump);
        Assert.Contains("[/Devices/i8254/0]", dump);
    }
}
