using System.Buffers.Binary;
using System.Text;

namespace SharpBox.Devices.Pc.Acpi;

/// <summary>What the ACPI tables describe of the machine.</summary>
public sealed record AcpiPlatform(
    int CpuCount,
    ushort PmBase,
    int SciIrq,
    uint? IoApicId,
    ulong IoApicAddress,
    ulong LocalApicAddress,
    ulong? HpetAddress,
    uint HpetCapabilities,
    ulong LowRamEnd,
    byte S5SleepType,
    ushort ResetPort = 0xCF9,
    byte ResetValue = 0x06);

/// <summary>
/// Builds the ACPI tables firmware would leave for the OS: RSDP (2.0, with an XSDT), RSDT and XSDT,
/// FADT (PM1 event/control blocks, 32-bit PM timer, GPE0 block, reset register, century byte, i8042
/// flag), FACS, MADT (local APICs, IOAPIC, IRQ0→GSI2 and SCI overrides, LINT1 NMI), HPET, and a DSDT
/// with the PCI root bridge (_CRS, _PRT), a control-method power button raised through GPE0 bit 0, and
/// \_S5 for soft-off. Laid out in one blob at a given guest-physical address.
/// </summary>
public static class AcpiTables
{
    public const string OemId = "SHRPBX";
    public const string OemTableId = "SHARPBOX";
    public const int PowerButtonGpe = 0;
    public const uint Pm1EvtLen = 4, Pm1CntLen = 2, PmTmrLen = 4, Gpe0Len = 4;
    public const int PmTimerOffset = 8, Gpe0Offset = 0x0C, Pm1CntOffset = 4;

    /// <summary>The tables as one blob for <paramref name="baseAddress"/> (RSDP first, 16-byte aligned), and the RSDP's address.</summary>
    public static (byte[] Blob, ulong RsdpAddress) Build(AcpiPlatform p, ulong baseAddress)
    {
        if ((baseAddress & 15) != 0) throw new ArgumentException("ACPI tables must start 16-byte aligned");
        var blob = new List<byte>();
        ulong Place(byte[] table, int align = 16)
        {
            while (blob.Count % align != 0) blob.Add(0);
            ulong addr = baseAddress + (ulong)blob.Count;
            blob.AddRange(table);
            return addr;
        }

        // RSDP is placed first but its pointers are patched in at the end.
        Place(new byte[36]);
        ulong facs = Place(Facs(), 64);
        ulong dsdt = Place(Dsdt(p));
        ulong fadt = Place(Fadt(p, facs, dsdt));
        ulong madt = Place(Madt(p));
        // The HPET table only when the machine has one (VirtualBox's --hpet, off by default).
        ulong[] entries = p.HpetAddress is not null ? [fadt, madt, Place(Hpet(p))] : [fadt, madt];
        ulong rsdt = Place(Rsdt(entries));
        ulong xsdt = Place(Xsdt(entries));
        var result = blob.ToArray();
        Rsdp((uint)rsdt, xsdt).CopyTo(result, 0);
        return (result, baseAddress);
    }

    public static byte[] Rsdp(uint rsdt, ulong xsdt)
    {
        var b = new byte[36];
        Encoding.ASCII.GetBytes("RSD PTR ").CopyTo(b, 0);
        Encoding.ASCII.GetBytes(OemId).CopyTo(b, 9);
        b[15] = 2;
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(16), rsdt);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(20), 36);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(24), xsdt);
        b[8] = Checksum(b.AsSpan(0, 20));
        b[32] = Checksum(b);
        return b;
    }

    /// <summary>The byte that makes <paramref name="data"/> sum to zero (with the checksum byte itself at 0).</summary>
    public static byte Checksum(ReadOnlySpan<byte> data)
    {
        byte s = 0;
        foreach (var x in data) s += x;
        return (byte)(0 - s);
    }

    private static byte[] Table(string signature, byte revision, byte[] body)
    {
        var t = new byte[36 + body.Length];
        Encoding.ASCII.GetBytes(signature).CopyTo(t, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(t.AsSpan(4), (uint)t.Length);
        t[8] = revision;
        Encoding.ASCII.GetBytes(OemId).CopyTo(t, 10);
        Encoding.ASCII.GetBytes(OemTableId).CopyTo(t, 16);
        BinaryPrimitives.WriteUInt32LittleEndian(t.AsSpan(24), 1);
        Encoding.ASCII.GetBytes("SBOX").CopyTo(t, 28);
        BinaryPrimitives.WriteUInt32LittleEndian(t.AsSpan(32), 1);
        body.CopyTo(t, 36);
        t[9] = Checksum(t);
        return t;
    }

    private static byte[] Rsdt(ulong[] entries)
    {
        var b = new byte[4 * entries.Length];
        for (int i = 0; i < entries.Length; i++) BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4 * i), (uint)entries[i]);
        return Table("RSDT", 1, b);
    }

    private static byte[] Xsdt(ulong[] entries)
    {
        var b = new byte[8 * entries.Length];
        for (int i = 0; i < entries.Length; i++) BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8 * i), entries[i]);
        return Table("XSDT", 1, b);
    }

    private static byte[] Facs()
    {
        var b = new byte[64];
        Encoding.ASCII.GetBytes("FACS").CopyTo(b, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), 64);
        b[32] = 1;   // version
        return b;
    }

    /// <summary>Generic Address Structure: system I/O (1) or memory (0).</summary>
    private static void Gas(Span<byte> at, byte space, byte bitWidth, byte accessSize, ulong address)
    {
        at[0] = space; at[1] = bitWidth; at[2] = 0; at[3] = accessSize;
        BinaryPrimitives.WriteUInt64LittleEndian(at[4..], address);
    }

    private static byte[] Fadt(AcpiPlatform p, ulong facs, ulong dsdt)
    {
        var b = new byte[244 - 36];
        Span<byte> f = b;
        // Offsets below are the FADT's own (from the table start), the body starts at 36.
        void U32(int off, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(off - 36), v);
        void U16(int off, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(off - 36), v);
        void U8(int off, byte v) => b[off - 36] = v;
        uint pm = p.PmBase;
        U32(36, (uint)facs);
        U32(40, (uint)dsdt);
        U16(46, (ushort)p.SciIrq);
        U32(48, 0);                                  // no SMI command port: ACPI mode is always on
        U32(56, pm);                                 // PM1a_EVT_BLK
        U32(64, pm + Pm1CntOffset);                  // PM1a_CNT_BLK
        U32(76, pm + PmTimerOffset);                 // PM_TMR_BLK
        U32(80, pm + Gpe0Offset);                    // GPE0_BLK
        U8(88, (byte)Pm1EvtLen); U8(89, (byte)Pm1CntLen); U8(91, (byte)PmTmrLen); U8(92, (byte)Gpe0Len);
        U16(96, 0x0FFF);                             // C2 not supported
        U16(98, 0x0FFF);                             // C3 not supported
        U8(108, (byte)DevRtc.CenturyIndex);
        U16(109, 0x0003);                            // legacy devices, 8042
        // WBINVD | PROC_C1 | PWR_BUTTON (control-method button) | SLP_BUTTON (none) | TMR_VAL_EXT | RESET_REG_SUP
        U32(112, (1u << 0) | (1u << 2) | (1u << 4) | (1u << 5) | (1u << 8) | (1u << 10));
        Gas(f[(116 - 36)..], 1, 8, 1, p.ResetPort);
        U8(128, p.ResetValue);
        BinaryPrimitives.WriteUInt64LittleEndian(f[(132 - 36)..], facs);
        BinaryPrimitives.WriteUInt64LittleEndian(f[(140 - 36)..], dsdt);
        Gas(f[(148 - 36)..], 1, (byte)(8 * Pm1EvtLen), 2, pm);
        Gas(f[(172 - 36)..], 1, (byte)(8 * Pm1CntLen), 2, pm + Pm1CntOffset);
        Gas(f[(208 - 36)..], 1, (byte)(8 * PmTmrLen), 3, pm + PmTimerOffset);
        Gas(f[(220 - 36)..], 1, (byte)(8 * Gpe0Len), 1, pm + Gpe0Offset);
        return Table("FACP", 3, b);
    }

    private static byte[] Madt(AcpiPlatform p)
    {
        var b = new List<byte>();
        var head = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(head, (uint)p.LocalApicAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(head.AsSpan(4), 1);     // PCAT_COMPAT: there are 8259s too
        b.AddRange(head);
        for (int i = 0; i < p.CpuCount; i++) b.AddRange(new byte[] { 0, 8, (byte)i, (byte)i, 1, 0, 0, 0 });
        if (p.IoApicId is uint ioApicId)
        {
            var io = new byte[12];
            io[0] = 1; io[1] = 12; io[2] = (byte)ioApicId;
            BinaryPrimitives.WriteUInt32LittleEndian(io.AsSpan(4), (uint)p.IoApicAddress);
            b.AddRange(io);
            b.AddRange(Override(0, 2, 0));                                   // PIT IRQ0 is wired to IOAPIC pin 2
            b.AddRange(Override((byte)p.SciIrq, (uint)p.SciIrq, 0x000D));   // SCI: level, active high
        }
        b.AddRange(new byte[] { 4, 6, 0xFF, 0, 0, 1 });                  // LINT1 of every CPU is NMI
        return Table("APIC", 3, b.ToArray());
    }

    private static byte[] Override(byte source, uint gsi, ushort flags)
    {
        var o = new byte[10];
        o[0] = 2; o[1] = 10; o[2] = 0; o[3] = source;
        BinaryPrimitives.WriteUInt32LittleEndian(o.AsSpan(4), gsi);
        BinaryPrimitives.WriteUInt16LittleEndian(o.AsSpan(8), flags);
        return o;
    }

    private static byte[] Hpet(AcpiPlatform p)
    {
        var b = new byte[56 - 36];
        BinaryPrimitives.WriteUInt32LittleEndian(b, p.HpetCapabilities);
        Gas(b.AsSpan(4), 0, 64, 0, p.HpetAddress!.Value);
        b[16] = 0;                                          // HPET number
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(17), 0x80);   // minimum clock tick in periodic mode
        return Table("HPET", 1, b);
    }

    /// <summary>The DSDT: PCI root bridge, control-method power button, GPE handler, \_S5.</summary>
    public static byte[] Dsdt(AcpiPlatform p)
    {
        var prt = new List<byte[]>();
        for (int slot = 1; slot < 32; slot++)
            for (int pin = 0; pin < 4; pin++)
                prt.Add(Aml.Package(Aml.Integer(((ulong)slot << 16) | 0xFFFF), Aml.Integer((ulong)pin), Aml.Integer(0),
                    Aml.Integer((ulong)(16 + ((slot + pin) & 3)))));
        var prtPackage = PackageOfMany(prt);
        uint memStart = (uint)Math.Min(Math.Max(p.LowRamEnd, 0x1000_0000UL), 0xE000_0000UL);
        var crs = Aml.ResourceTemplate(
            Aml.WordSpace(2, 0x0000, 0x00FF),              // bus numbers
            Aml.IoPort(0x0CF8, 0x0CF8, 1, 8),              // config mechanism 1 ports
            Aml.WordSpace(1, 0x0000, 0x0CF7),
            Aml.WordSpace(1, 0x0D00, 0xFFFF),
            Aml.DWordMemory(0x000A_0000, 0x000B_FFFF, false),
            Aml.DWordMemory(memStart, 0xFEBF_FFFF, false));
        var body = new List<byte[]>
        {
            Aml.Scope("\\_SB",
                Aml.Device("PCI0",
                    Aml.Name("_HID", Aml.EisaId("PNP0A03")),
                    Aml.Name("_ADR", Aml.Integer(0)),
                    Aml.Name("_UID", Aml.Integer(0)),
                    Aml.Name("_CRS", crs),
                    Aml.Name("_PRT", prtPackage)),
                Aml.Device("PWRB",
                    Aml.Name("_HID", Aml.EisaId("PNP0C0C")),
                    Aml.Name("_UID", Aml.Integer(1)))),
            Aml.Scope("\\_GPE",
                Aml.Method($"_L{PowerButtonGpe:X2}", 0, Aml.Notify("\\_SB.PWRB", 0x80))),
            Aml.Name("\\_S5", Aml.Package(Aml.Integer(p.S5SleepType), Aml.Integer(p.S5SleepType), Aml.Integer(0), Aml.Integer(0))),
        };
        var all = body.SelectMany(x => x).ToArray();
        return Table("DSDT", 2, all);
    }

    // A package may have at most 255 elements; _PRT with 124 entries fits, but keep the check explicit.
    private static byte[] PackageOfMany(List<byte[]> items) => Aml.Package(items.ToArray());
}
