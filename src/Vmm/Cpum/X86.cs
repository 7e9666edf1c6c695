namespace SharpBox.Vmm.Cpum;

// Architectural constants (Intel SDM vol. 3). Kept in one place so both engines and the debugger
// agree on bit positions.

public static class Cr0
{
    public const ulong PE = 1UL << 0, MP = 1UL << 1, EM = 1UL << 2, TS = 1UL << 3, ET = 1UL << 4,
        NE = 1UL << 5, WP = 1UL << 16, AM = 1UL << 18, NW = 1UL << 29, CD = 1UL << 30, PG = 1UL << 31;
}

public static class Cr4
{
    public const ulong VME = 1UL << 0, PVI = 1UL << 1, TSD = 1UL << 2, DE = 1UL << 3, PSE = 1UL << 4,
        PAE = 1UL << 5, MCE = 1UL << 6, PGE = 1UL << 7, PCE = 1UL << 8, OSFXSR = 1UL << 9,
        OSXMMEXCPT = 1UL << 10, UMIP = 1UL << 11, LA57 = 1UL << 12, FSGSBASE = 1UL << 16,
        PCIDE = 1UL << 17, OSXSAVE = 1UL << 18, SMEP = 1UL << 20, SMAP = 1UL << 21, PKE = 1UL << 22;
}

public static class Efer
{
    public const ulong SCE = 1UL << 0, LME = 1UL << 8, LMA = 1UL << 10, NXE = 1UL << 11;
}

public static class RFlags
{
    public const uint CF = 1u << 0, Fixed1 = 1u << 1, PF = 1u << 2, AF = 1u << 4, ZF = 1u << 6,
        SF = 1u << 7, TF = 1u << 8, IF = 1u << 9, DF = 1u << 10, OF = 1u << 11, IOPL = 3u << 12,
        NT = 1u << 14, RF = 1u << 16, VM = 1u << 17, AC = 1u << 18, VIF = 1u << 19, VIP = 1u << 20,
        ID = 1u << 21;
    /// <summary>The six arithmetic status flags (kept lazily by IEM).</summary>
    public const uint Arith = CF | PF | AF | ZF | SF | OF;
    /// <summary>Every bit software can ever set (the rest read as 0, bit 1 as 1).</summary>
    public const uint Writable = Arith | TF | IF | DF | IOPL | NT | RF | VM | AC | VIF | VIP | ID;
    public const int IoplShift = 12;
}

/// <summary>Exception vectors.</summary>
public static class Xcpt
{
    public const int DE = 0, DB = 1, NMI = 2, BP = 3, OF = 4, BR = 5, UD = 6, NM = 7, DF = 8,
        TS = 10, NP = 11, SS = 12, GP = 13, PF = 14, MF = 16, AC = 17, MC = 18, XM = 19, VE = 20;
}

/// <summary>#PF error code bits.</summary>
public static class PfErr
{
    public const int P = 1, W = 2, U = 4, RSVD = 8, ID = 16, PK = 32;
}

/// <summary>Segment register indices in the order the instruction encoding uses.</summary>
public static class SegIdx
{
    public const int ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5;
}

/// <summary>
/// Segment attribute bits as stored in <see cref="SegmentRegister.Attributes"/>: descriptor bits
/// 40..47 in bits 0..7, bits 52..55 in bits 12..15 (the VMX "access rights" layout, also what
/// VirtualBox's X86DESCATTR uses), plus an unusable flag for null-loaded selectors.
/// </summary>
public static class SegAttr
{
    public const uint TypeMask = 0xF, Accessed = 1, S = 1u << 4, DplShift = 5, DplMask = 3u << 5,
        P = 1u << 7, Avl = 1u << 12, L = 1u << 13, DB = 1u << 14, G = 1u << 15, Unusable = 1u << 16;
    // Type bits when S=1: bit3 = code; code: bit1 readable, bit2 conforming; data: bit1 writable, bit2 expand-down.
    public const uint Code = 8, CodeReadable = 2, Conforming = 4, DataWritable = 2, ExpandDown = 4;

    public static int Dpl(uint attr) => (int)((attr >> 5) & 3);

    /// <summary>Attributes from the high dword of a legacy descriptor.</summary>
    public static uint FromDescriptorHigh(uint hi) => ((hi >> 8) & 0xFF) | ((hi >> 8) & 0xF000);
}

/// <summary>Model-specific register numbers the CPU implements.</summary>
public static class Msr
{
    public const uint Tsc = 0x10, PlatformId = 0x17, ApicBase = 0x1B, FeatureControl = 0x3A,
        TscAdjust = 0x3B, SpecCtrl = 0x48, PredCmd = 0x49, BiosSignId = 0x8B, MtrrCap = 0xFE,
        ArchCapabilities = 0x10A, SysenterCs = 0x174, SysenterEsp = 0x175, SysenterEip = 0x176,
        McgCap = 0x179, McgStatus = 0x17A, MiscEnable = 0x1A0, MtrrPhysBase0 = 0x200,
        MtrrPhysMask7 = 0x20F, MtrrFix64K = 0x250, MtrrFix16K80 = 0x258, MtrrFix16KA0 = 0x259,
        MtrrFix4KC0 = 0x268, MtrrFix4KF8 = 0x26F, Pat = 0x277, MtrrDefType = 0x2FF,
        Mc0Ctl = 0x400, Efer = 0xC0000080, Star = 0xC0000081, Lstar = 0xC0000082, Cstar = 0xC0000083,
        Sfmask = 0xC0000084, FsBase = 0xC0000100, GsBase = 0xC0000101, KernelGsBase = 0xC0000102,
        TscAux = 0xC0000103;
}
