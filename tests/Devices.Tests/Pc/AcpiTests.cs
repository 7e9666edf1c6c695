using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using SharpBox.Devices.Pc;
using SharpBox.Devices.Pc.Acpi;

namespace SharpBox.Devices.Tests.Pc;

public sealed class AcpiTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sbx-acpi-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static readonly AcpiPlatform Platform = new(2, 0x600, 9, 2, 0xFEC0_0000, 0xFEE0_0000, 0xFED0_0000,
        DevHpet.CapabilitiesLow, 256UL << 20, DevAcpiPm.S5Type);

    [Fact]
    public void AmlEncodings()
    {
        Assert.Equal(new byte[] { 0x0C, 0x41, 0xD0, 0x0A, 0x03 }, Aml.EisaId("PNP0A03"));
        Assert.Equal(new byte[] { 0x3F }, Aml.PkgLength(62));
        Assert.Equal(new byte[] { 0x41, 0x04 }, Aml.PkgLength(63));         // 65 total → two bytes
        Assert.Equal(new byte[] { 0x0A, 0x80 }, Aml.Integer(0x80));
        Assert.Equal(new byte[] { 0x5C, 0x2E, (byte)'_', (byte)'S', (byte)'B', (byte)'_', (byte)'P', (byte)'W', (byte)'R', (byte)'B' },
            Aml.NameString("\\_SB.PWRB"));
        Assert.Throws<ArgumentException>(() => Aml.NameString("TOOLONG"));
    }

    private static Dictionary<string, (ulong Addr, byte[] Table)> Parse(byte[] blob, ulong baseAddr)
    {
        var tables = new Dictionary<string, (ulong, byte[])>();
        Assert.Equal("RSD PTR ", Encoding.ASCII.GetString(blob, 0, 8));
        Assert.Equal(0, Sum(blob.AsSpan(0, 20)));
        Assert.Equal(0, Sum(blob.AsSpan(0, 36)));
        ulong xsdt = BinaryPrimitives.ReadUInt64LittleEndian(blob.AsSpan(24));
        byte[] Table(ulong addr)
        {
            int off = (int)(addr - baseAddr);
            int len = BinaryPrimitives.ReadInt32LittleEndian(blob.AsSpan(off + 4));
            var t = blob.AsSpan(off, len).ToArray();
            Assert.Equal(0, Sum(t));
            return t;
        }
        var x = Table(xsdt);
        tables["XSDT"] = (xsdt, x);
        for (int i = 36; i < x.Length; i += 8)
        {
            ulong a = BinaryPrimitives.ReadUInt64LittleEndian(x.AsSpan(i));
            var t = Table(a);
            tables[Encoding.ASCII.GetString(t, 0, 4)] = (a, t);
        }
        var fadt = tables["FACP"].Item2;
        ulong dsdt = BinaryPrimitives.ReadUInt64LittleEndian(fadt.AsSpan(140));
        tables["DSDT"] = (dsdt, Table(dsdt));
        return tables;
    }

    private static byte Sum(ReadOnlySpan<byte> b) { byte s = 0; foreach (var x in b) s += x; return s; }

    [Fact]
    public void TablesHaveValidChecksumsAndDescribeTheMachine()
    {
        var (blob, rsdp) = AcpiTables.Build(Platform, 0xE0000);
        Assert.Equal(0xE0000UL, rsdp);
        var t = Parse(blob, 0xE0000);
        Assert.Contains("APIC", t.Keys);
        Assert.Contains("HPET", t.Keys);
        var fadt = t["FACP"].Item2;
        Assert.Equal(9, BinaryPrimitives.ReadUInt16LittleEndian(fadt.AsSpan(46)));          // SCI
        Assert.Equal(0x600u, BinaryPrimitives.ReadUInt32LittleEndian(fadt.AsSpan(56)));     // PM1a_EVT
        Assert.Equal(0x608u, BinaryPrimitives.ReadUInt32LittleEndian(fadt.AsSpan(76)));     // PM timer
        Assert.Equal(0xCF9UL, BinaryPrimitives.ReadUInt64LittleEndian(fadt.AsSpan(120)));   // reset register
        Assert.Equal(0x06, fadt[128]);
        var madt = t["APIC"].Item2;
        int lapics = 0, ioapics = 0, overrides = 0;
        for (int i = 44; i < madt.Length; i += madt[i + 1])
            switch (madt[i]) { case 0: lapics++; break; case 1: ioapics++; break; case 2: overrides++; break; }
        Assert.Equal((2, 1, 2), (lapics, ioapics, overrides));
    }

    [Fact]
    public void TheAcpicaDisassemblerAcceptsEveryTable()
    {
        if (!File.Exists("/usr/bin/iasl"))
            Assert.Fail("iasl (acpica-tools) is missing: run scripts/deps.sh");
        var (blob, _) = AcpiTables.Build(Platform, 0xE0000);
        var tables = Parse(blob, 0xE0000);
        foreach (var (sig, (_, bytes)) in tables)
        {
            string file = Path.Combine(_dir, sig.ToLowerInvariant() + ".dat");
            File.WriteAllBytes(file, bytes);
            var psi = new ProcessStartInfo("iasl", ["-d", file]) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = _dir };
            using var p = Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, $"iasl -d {sig}: {output}");
            Assert.DoesNotContain("Invalid", output);
        }
        string dsl = File.ReadAllText(Path.Combine(_dir, "dsdt.dsl"));
        Assert.Contains("PNP0A03", dsl);
        Assert.Contains("PNP0C0C", dsl);
        Assert.Contains("Notify (\\_SB.PWRB, 0x80)", dsl);
        Assert.Contains("Name (\\_S5, Package (0x04)", dsl);
        Assert.Contains("_PRT", dsl);
        string fadt = File.ReadAllText(Path.Combine(_dir, "facp.dsl"));
        Assert.Contains("Reset Register Supported", fadt);
        Assert.DoesNotContain("Checksum is incorrect", fadt);
    }
}
