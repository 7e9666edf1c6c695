using SharpBox.Vmm.Cpum;

namespace SharpBox.Vmm.Em;

/// <summary>
/// A segment register with its hidden part. <see cref="Attributes"/> uses the VMX access-rights layout:
/// type (bits 3:0), S (4), DPL (6:5), P (7), AVL (12), L (13), D/B (14), G (15); <see cref="Limit"/> is the
/// byte-granular limit.
/// </summary>
public struct SegmentState
{
    public ushort Selector;
    public ulong Base;
    public uint Limit;
    public ushort Attributes;

    public const ushort Present = 0x80, CodeOrData = 0x10, Long = 0x2000, Big = 0x4000, Granular = 0x8000;

    /// <summary>A flat 4 GiB segment of the given type (0xB = code execute/read accessed, 0x3 = data read/write accessed).</summary>
    public static SegmentState Flat(ushort selector, byte type, bool longMode = false) => new()
    {
        Selector = selector, Base = 0, Limit = 0xFFFF_FFFF,
        Attributes = (ushort)(type | CodeOrData | Present | Granular | (longMode ? Long : Big)),
    };

    /// <summary>A real-mode segment: base = selector * 16, 64 KiB limit.</summary>
    public static SegmentState Real(ushort selector, byte type) => new()
    {
        Selector = selector, Base = (ulong)selector << 4, Limit = 0xFFFF, Attributes = (ushort)(type | CodeOrData | Present),
    };

    public override readonly string ToString() => $"{Selector:X4} base={Base:X} limit={Limit:X} attr={Attributes:X4}";
}

/// <summary>The CPU mode a boot loader leaves the boot CPU in (for the log).</summary>
public enum BootCpuMode { Real, Protected32, Long64 }

/// <summary>
/// The complete architectural state a boot loader hands to the boot CPU, as plain data: EM maps it onto
/// whichever engine runs the CPU (IEM's CPU state, or KVM's registers).
/// </summary>
public sealed class BootCpuState
{
    public BootCpuMode Mode;
    public ulong Rax, Rbx, Rcx, Rdx, Rsi, Rdi, Rbp, Rsp, R8, R9, R10, R11, R12, R13, R14, R15;
    public ulong Rip, Rflags = 0x2;
    public SegmentState Cs, Ds, Es, Fs, Gs, Ss, Tr, Ldtr;
    public ulong GdtrBase, IdtrBase;
    public ushort GdtrLimit, IdtrLimit = 0xFFFF;
    public ulong Cr0 = 0x6000_0010, Cr2, Cr3, Cr4, Efer;

    /// <summary>
    /// Lowest guest-physical address of the PCI/MMIO hole when a direct-boot loader stands in for the
    /// firmware (0 = real firmware runs and programs the MTRRs itself). A BIOS leaves every CPU's MTRRs
    /// enabled with write-back RAM; without that Linux reports "MTRRs disabled" and skips PAT.
    /// </summary>
    public ulong FirmwareMtrrHole;

    /// <summary>
    /// The MTRRs a PC BIOS leaves on each CPU (as SeaBIOS does): default type write-back, fixed ranges
    /// write-back except the legacy VGA window 0xA0000-0xBFFFF (uncacheable), and one variable range making
    /// the MMIO hole from <paramref name="holeStart"/> (rounded down to a power-of-two-aligned block) to
    /// 4 GiB uncacheable.
    /// </summary>
    public static void ApplyFirmwareMtrrs(ref CpuContext c, ulong holeStart, int physAddrBits)
    {
        const ulong Wb = 0x0606_0606_0606_0606;
        c.MtrrFixed[0] = Wb;                 // 0x00000-0x7FFFF (64K ranges)
        c.MtrrFixed[1] = Wb;                 // 0x80000-0x9FFFF (16K ranges)
        c.MtrrFixed[2] = 0;                  // 0xA0000-0xBFFFF: VGA, uncacheable
        for (int i = 3; i < 11; i++) c.MtrrFixed[i] = Wb;   // 0xC0000-0xFFFFF (4K ranges): ROMs
        for (int i = 0; i < 16; i++) c.MtrrVar[i] = 0;
        if (holeStart is > 0 and < 0x1_0000_0000)
        {
            // The largest power-of-two block ending at 4 GiB that starts at or above the hole's start.
            ulong size = 0x8000_0000;
            while (0x1_0000_0000 - size < holeStart) size >>= 1;
            ulong physMask = (1UL << physAddrBits) - 1;
            c.MtrrVar[0] = 0x1_0000_0000 - size;                          // PhysBase0, type 0 (UC)
            c.MtrrVar[1] = (~(size - 1) & physMask & ~0xFFFUL) | 0x800;   // PhysMask0, valid
        }
        c.MtrrDefType = 0xC06;               // E, FE, default write-back
    }

    /// <summary>The x86 power-on state: real mode at F000:FFF0 with CS base 0xFFFF0000.</summary>
    public static BootCpuState PowerOn()
    {
        var s = new BootCpuState { Mode = BootCpuMode.Real, Rip = 0xFFF0, Rdx = 0x600 };
        s.Cs = new SegmentState { Selector = 0xF000, Base = 0xFFFF_0000, Limit = 0xFFFF, Attributes = 0x9B };
        s.Ds = s.Es = s.Fs = s.Gs = s.Ss = SegmentState.Real(0, 0x3);
        s.Tr = new SegmentState { Limit = 0xFFFF, Attributes = 0x8B };
        s.Ldtr = new SegmentState { Limit = 0xFFFF, Attributes = 0x82 };
        s.GdtrLimit = 0xFFFF;
        return s;
    }

    /// <summary>An application processor after a SIPI with vector <paramref name="vector"/>: real mode at VV00:0000.</summary>
    public static BootCpuState StartupIpi(byte vector)
    {
        var s = PowerOn();
        s.Cs = SegmentState.Real((ushort)(vector << 8), 0xB);
        s.Rip = 0;
        return s;
    }

    /// <summary>Writes this state into an engine's CPU context (GPRs in encoding order, segments ES CS SS DS FS GS).</summary>
    public void ApplyTo(ref CpuContext c)
    {
        c.Gpr[0] = Rax; c.Gpr[1] = Rcx; c.Gpr[2] = Rdx; c.Gpr[3] = Rbx; c.Gpr[4] = Rsp; c.Gpr[5] = Rbp; c.Gpr[6] = Rsi; c.Gpr[7] = Rdi;
        c.Gpr[8] = R8; c.Gpr[9] = R9; c.Gpr[10] = R10; c.Gpr[11] = R11; c.Gpr[12] = R12; c.Gpr[13] = R13; c.Gpr[14] = R14; c.Gpr[15] = R15;
        c.Rip = Rip;
        c.Rflags = Rflags | 2;
        c.Seg[SegIdx.ES] = Seg(Es); c.Seg[SegIdx.CS] = Seg(Cs); c.Seg[SegIdx.SS] = Seg(Ss);
        c.Seg[SegIdx.DS] = Seg(Ds); c.Seg[SegIdx.FS] = Seg(Fs); c.Seg[SegIdx.GS] = Seg(Gs);
        c.Tr = Seg(Tr); c.Ldtr = Seg(Ldtr);
        c.Gdtr.Base = GdtrBase; c.Gdtr.Limit = GdtrLimit;
        c.Idtr.Base = IdtrBase; c.Idtr.Limit = IdtrLimit;
        c.Cr0 = Cr0; c.Cr2 = Cr2; c.Cr3 = Cr3; c.Cr4 = Cr4; c.Efer = Efer;
        c.Halted = false;
        c.WaitingForSipi = false;
    }

    private static SegmentRegister Seg(SegmentState s) => new(s.Selector, s.Base, s.Limit, s.Attributes);

    public override string ToString() =>
        $"{Mode}: rip={Rip:X} rsp={Rsp:X} rsi={Rsi:X} rbx={Rbx:X} rax={Rax:X} cs={Cs} cr0={Cr0:X} cr3={Cr3:X} cr4={Cr4:X} efer={Efer:X}";
}

/// <summary>Who sets up the boot CPU at power-on and reset (the direct-boot firmware).</summary>
public interface IBootStateProvider
{
    /// <summary>Loads the boot payload into guest RAM (again, after a reset) and returns CPU 0's state.</summary>
    BootCpuState PrepareBoot();
}
