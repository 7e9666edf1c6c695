using System.Text;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Dbgf;
using SharpBox.Vmm.Em;

namespace SharpBox.Vmm.Tests.Dbgf;

/// <summary>The debugger's page walker, OS detection and disassembler on memory built by the test.</summary>
public class DbgfUnitTests
{
    private sealed class Ram
    {
        public readonly byte[] Bytes = new byte[8 << 20];
        public int Read(ulong gpa, Span<byte> b)
        {
            if (gpa >= (ulong)Bytes.Length) return 0;
            int n = (int)Math.Min((ulong)b.Length, (ulong)Bytes.Length - gpa);
            Bytes.AsSpan((int)gpa, n).CopyTo(b);
            return n;
        }
        public void Put64(ulong at, ulong v) => BitConverter.TryWriteBytes(Bytes.AsSpan((int)at), v);
        public void Put32(ulong at, uint v) => BitConverter.TryWriteBytes(Bytes.AsSpan((int)at), v);
    }

    [Fact]
    public void FourLevelPagingWith4KiB2MiBAnd1GiBPages()
    {
        var ram = new Ram();
        // PML4 0x1000: [0] -> PDPT 0x2000, [511] -> PDPT 0x3000 (kernel half)
        ram.Put64(0x1000, 0x2000 | 3);
        ram.Put64(0x1000 + 511 * 8, 0x3000 | 3);
        ram.Put64(0x2000, 0x4000 | 3);                      // PDPT[0] -> PD 0x4000
        ram.Put64(0x2000 + 8, 0x40000000UL | 0x83);          // PDPT[1]: 1 GiB page at 1 GiB
        ram.Put64(0x4000, 0x5000 | 3);                      // PD[0] -> PT 0x5000
        ram.Put64(0x4000 + 8, 0x600000 | 0x83);             // PD[1]: 2 MiB page -> 0x600000
        ram.Put64(0x5000 + 7 * 8, 0x7000 | 3);              // PT[7]: 0x7000 -> 0x7000
        ram.Put64(0x3000 + 510 * 8, 0x400000 | 0x83);       // kernel: 1 GiB page (FFFFFFFF80000000 -> 0x400000... 1 GiB aligned below)
        var c = CpuContext.PowerOn();
        c.Cr0 = Cr0.PE | Cr0.PG; c.Cr4 = Cr4.PAE; c.Efer = Efer.LME | Efer.LMA; c.Cr3 = 0x1000;
        Assert.True(GuestPaging.Translate(c, 0x7123, ram.Read, out ulong pa)); Assert.Equal(0x7123UL, pa);
        Assert.True(GuestPaging.Translate(c, 0x2345678, ram.Read, out pa) == false);   // PD[18] not present
        Assert.True(GuestPaging.Translate(c, 0x212345, ram.Read, out pa)); Assert.Equal(0x612345UL, pa);
        Assert.True(GuestPaging.Translate(c, 0x40001234, ram.Read, out pa)); Assert.Equal(0x40001234UL, pa);
        Assert.True(GuestPaging.Translate(c, 0xFFFFFFFF80000010, ram.Read, out pa)); Assert.Equal(0x10UL, pa);   // 1 GiB page base 0x400000 & ~(1G-1) = 0
    }

    [Fact]
    public void PaeAnd32BitPaging()
    {
        var ram = new Ram();
        // PAE: PDPT at 0x1000 (32-byte aligned), [0] -> PD 0x2000; PD[0] -> PT 0x3000; PD[1] 2 MiB page -> 0x800000
        ram.Put64(0x1000, 0x2000 | 1);
        ram.Put64(0x2000, 0x3000 | 3);
        ram.Put64(0x2008, 0x800000 | 0x83);
        ram.Put64(0x3000 + 4 * 8, 0x9000 | 3);
        var c = CpuContext.PowerOn();
        c.Cr0 = Cr0.PE | Cr0.PG; c.Cr4 = Cr4.PAE; c.Cr3 = 0x1000;
        Assert.True(GuestPaging.Translate(c, 0x4ABC, ram.Read, out ulong pa)); Assert.Equal(0x9ABCUL, pa);
        Assert.True(GuestPaging.Translate(c, 0x2FFFFF, ram.Read, out pa)); Assert.Equal(0x8FFFFFUL, pa);
        // 32-bit: PD at 0x10000; PDE[0] -> PT 0x11000; PDE[1] 4 MiB page (PSE) -> 0x400000
        ram.Put32(0x10000, 0x11000 | 3);
        ram.Put32(0x10004, 0x400000 | 0x83);
        ram.Put32(0x11000 + 5 * 4, 0x20000 | 3);
        c.Cr4 = Cr4.PSE; c.Cr3 = 0x10000;
        Assert.True(GuestPaging.Translate(c, 0x5010, ram.Read, out pa)); Assert.Equal(0x20010UL, pa);
        Assert.True(GuestPaging.Translate(c, 0x412345, ram.Read, out pa)); Assert.Equal(0x412345UL, pa);
        c.Cr0 = Cr0.PE;                                     // paging off: linear is physical
        Assert.True(GuestPaging.Translate(c, 0x12345, ram.Read, out pa)); Assert.Equal(0x12345UL, pa);
        Span<byte> buf = stackalloc byte[16];
        c.Cr0 = Cr0.PE | Cr0.PG;
        Assert.Equal(0, GuestPaging.ReadLinear(c, 0x800000, buf, ram.Read));   // unmapped: nothing readable
    }

    private sealed class MemTarget(byte[] ram) : IDebugTarget
    {
        public int CpuCount => 0;
        public IVirtualCpu GetCpu(int index) => throw new NotSupportedException();
        public int ReadPhysical(ulong gpa, Span<byte> b)
        {
            if (gpa >= (ulong)ram.Length) return 0;
            int n = (int)Math.Min((ulong)b.Length, (ulong)ram.Length - gpa);
            ram.AsSpan((int)gpa, n).CopyTo(b);
            return n;
        }
        public int WritePhysical(ulong gpa, ReadOnlySpan<byte> d) => 0;
        public bool IsRunning => false;
        public void Halt() { }
        public void Resume(int onlyCpu = -1) { }
        public event Action<DebugStop>? Stopped { add { } remove { } }
    }

    [Fact]
    public void OsDetectFindsTheLinuxBanner()
    {
        var ram = new byte[3 << 20];
        Encoding.ASCII.GetBytes("noise Linux version of nothing\0").CopyTo(ram, 0x1000);   // not a banner: no digit
        byte[] banner = Encoding.ASCII.GetBytes("Linux version 6.1.0-28-amd64 (debian-kernel@lists.debian.org) (gcc-12) #1 SMP PREEMPT_DYNAMIC\n");
        banner.CopyTo(ram, (1 << 20) - 10);                                                  // across the 1 MiB scan window
        string r = OsDetect.Detect(new MemTarget(ram), new[] { (0UL, (ulong)ram.Length) });
        Assert.StartsWith("Linux 6.1.0-28-amd64\n", r);
        Assert.Contains("#1 SMP PREEMPT_DYNAMIC", r);
        Assert.Equal("unknown", OsDetect.Detect(new MemTarget(new byte[1 << 16]), new[] { (0UL, 1UL << 16) }));
    }

    [Fact]
    public void OsDetectOnDebiansKernelImage()
    {
        // The real kernel when scripts/fetch-guest.sh has run (the gim/platform suites fetch it); its banner is in .rodata.
        string path = Path.Combine(Path.GetDirectoryName(Tests.Iem.GuestAssembler.GuestDir)!, "..", "..", "..", ".cache", "guest", "vmlinux");
        if (!File.Exists(path)) { Console.Error.WriteLine("SKIPPED osdetect on vmlinux: .cache/guest/vmlinux not fetched"); return; }
        byte[] img = File.ReadAllBytes(path);
        string r = OsDetect.Detect(new MemTarget(img), new[] { (0UL, (ulong)img.Length) });
        Assert.StartsWith("Linux 6.", r);
    }

    [Fact]
    public void DisassemblesInTheVcpusMode()
    {
        byte[] code = { 0x40, 0x83, 0xC3, 0x02, 0xE2, 0xFA };   // 16-bit: inc ax; add bx,2; loop
        string t = Disassembler.Format(code, 0x800E, 16, 3);
        Assert.Contains("inc     ax", t);
        Assert.Contains("add     bx,2", t);
        Assert.Contains("loop", t);
        var c = CpuContext.PowerOn();
        Assert.Equal(16, Disassembler.Bitness(c));
        c.Cr0 = Cr0.PE; c.Seg[SegIdx.CS] = new SegmentRegister(8, 0, 0xFFFFFFFF, SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.DB);
        Assert.Equal(32, Disassembler.Bitness(c));
        c.Efer = Efer.LMA; c.Seg[SegIdx.CS] = new SegmentRegister(8, 0, 0xFFFFFFFF, SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.L);
        Assert.Equal(64, Disassembler.Bitness(c));
        Assert.Contains("mov     rax,1122334455667788h", Disassembler.Format(new byte[] { 0x48, 0xB8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11 }, 0, 64, 1));
    }

    [Fact]
    public void RegistersByDbgfName()
    {
        var c = CpuContext.PowerOn();
        c.Gpr[0] = 0x1122334455667788;
        c.Seg[SegIdx.CS] = new SegmentRegister(0x10, 0x1000, 0xFFFFF, SegAttr.P | SegAttr.S | SegAttr.Code);
        Assert.Equal("0x1122334455667788", DbgfRegisters.Format(in c, "rax"));
        Assert.Equal("0x55667788", DbgfRegisters.Format(in c, "EAX"));
        Assert.Equal("0x7788", DbgfRegisters.Format(in c, "ax"));
        Assert.Equal("0x77", DbgfRegisters.Format(in c, "ah"));
        Assert.Equal("0x0010", DbgfRegisters.Format(in c, "cs"));
        Assert.Equal("0x0000000000001000", DbgfRegisters.Format(in c, "cpum.cs_base"));
        Assert.Equal("0x000fffff", DbgfRegisters.Format(in c, "cs_lim"));

        DbgfRegisters.Set(ref c, "eax", "0x1234");                   // 32-bit writes zero-extend
        Assert.Equal(0x1234UL, c.Gpr[0]);
        DbgfRegisters.Set(ref c, "ah", "255");                        // 8-bit ones merge
        Assert.Equal(0xFF34UL, c.Gpr[0]);
        DbgfRegisters.Set(ref c, "rflags", "0x10000");                // RF; bit 1 stays set
        Assert.Equal(0x10002UL, c.Rflags);
        DbgfRegisters.Set(ref c, "tr_base", "0xfffff000");
        Assert.Equal(0xFFFFF000UL, c.Tr.Base);

        Assert.Contains("unknown register 'xyz'", Assert.Throws<ArgumentException>(() => DbgfRegisters.Set(ref c, "xyz", "1")).Message);
        Assert.Contains("does not fit", Assert.Throws<ArgumentException>(() => DbgfRegisters.Set(ref c, "ax", "0x10000")).Message);
        Assert.Contains("is not a number", Assert.Throws<ArgumentException>(() => DbgfRegisters.Set(ref c, "rbx", "12g")).Message);
        var all = DbgfRegisters.ListedNames.ToList();
        Assert.Contains("rip", all);
        Assert.Contains("efer", all);
        Assert.DoesNotContain("eax", all);                            // aliases are not listed by "all"
        Assert.Equal(all.Count, all.Distinct().Count());
    }
}
