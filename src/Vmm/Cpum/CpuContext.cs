using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SharpBox.Vmm.Cpum;

/// <summary>A segment register with its hidden descriptor cache.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct SegmentRegister
{
    public ushort Selector;
    /// <summary>See <see cref="SegAttr"/>.</summary>
    public uint Attributes;
    /// <summary>Byte-granular limit (granularity already applied).</summary>
    public uint Limit;
    public ulong Base;

    public SegmentRegister(ushort selector, ulong @base, uint limit, uint attributes)
    {
        Selector = selector; Base = @base; Limit = limit; Attributes = attributes;
    }

    /// <summary>A real-mode segment: base = selector*16, 64 KiB limit, present read/write data (or code).</summary>
    public static SegmentRegister RealMode(ushort selector, bool code = false) =>
        new(selector, (ulong)selector << 4, 0xFFFF,
            SegAttr.P | SegAttr.S | SegAttr.Accessed | (code ? SegAttr.Code | SegAttr.CodeReadable : SegAttr.DataWritable));

    public readonly int Dpl => SegAttr.Dpl(Attributes);
    public readonly bool Unusable => (Attributes & SegAttr.Unusable) != 0;
    public override readonly string ToString() => $"{Selector:X4} base={Base:X} limit={Limit:X} attr={Attributes:X}";
}

[StructLayout(LayoutKind.Sequential)]
public struct DescriptorTableRegister
{
    public ulong Base;
    public ushort Limit;
}

[InlineArray(16)] public struct Gpr16 { private ulong _e; }
[InlineArray(6)] public struct SegRegs6 { private SegmentRegister _e; }
[InlineArray(8)] public struct Ulong8 { private ulong _e; }
[InlineArray(11)] public struct Ulong11 { private ulong _e; }
[InlineArray(16)] public struct Ulong16 { private ulong _e; }
[InlineArray(512)] public struct FxSaveBytes { private byte _e; }

/// <summary>
/// The whole architectural state of one virtual CPU as plain data: what saved state (SSM), the
/// debugger and engine switches (IEM ⇄ KVM) exchange. Engines keep their own working layout and
/// convert on get/set. GPR order is the encoding order: RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8..R15.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct CpuContext
{
    public Gpr16 Gpr;
    public ulong Rip;
    /// <summary>Full RFLAGS (bit 1 always set).</summary>
    public ulong Rflags;
    /// <summary>ES, CS, SS, DS, FS, GS (see <see cref="SegIdx"/>).</summary>
    public SegRegs6 Seg;
    public SegmentRegister Ldtr, Tr;
    public DescriptorTableRegister Gdtr, Idtr;
    public ulong Cr0, Cr2, Cr3, Cr4, Cr8, Xcr0;
    /// <summary>DR0..DR7 (DR4/DR5 unused).</summary>
    public Ulong8 Dr;
    public ulong Efer;
    public ulong SysenterCs, SysenterEsp, SysenterEip;
    public ulong Star, Lstar, Cstar, Sfmask, KernelGsBase;
    public ulong Pat, TscAux, ApicBase, MiscEnable, FeatureControl, SpecCtrl;
    /// <summary>Guest TSC minus the platform TSC source (the TSC MSR and TSC_ADJUST write it).</summary>
    public long TscOffset;
    public ulong MtrrDefType;
    /// <summary>MTRR_FIX64K_00000, FIX16K_80000, FIX16K_A0000, FIX4K_C0000..F8000.</summary>
    public Ulong11 MtrrFixed;
    /// <summary>Variable MTRRs: PhysBase0, PhysMask0, ... PhysBase7, PhysMask7.</summary>
    public Ulong16 MtrrVar;

    // Event state that is not in any register but must survive a save/restore or an engine switch.
    /// <summary>True when the instruction just executed was STI / MOV SS / POP SS (interrupts inhibited).</summary>
    public bool InterruptShadow;
    public bool NmiBlocked;
    public bool Halted;
    /// <summary>An NMI is latched but not yet delivered.</summary>
    public bool NmiPending;
    /// <summary>An application processor after INIT, waiting for a startup IPI.</summary>
    public bool WaitingForSipi;

    /// <summary>x87/MMX/SSE state in FXSAVE layout (FCW at 0, FSW 2, FTW 4, MXCSR 24, ST/MM i at 32+16i, XMM i at 160+16i).</summary>
    public FxSaveBytes Fx;

    /// <summary>The state after RESET (SDM vol. 3 table 9-1): real mode at F000:FFF0, CS base FFFF0000.</summary>
    public static CpuContext PowerOn()
    {
        var c = new CpuContext();
        c.Rip = 0xFFF0;
        c.Rflags = RFlags.Fixed1;
        for (int i = 0; i < 6; i++) c.Seg[i] = SegmentRegister.RealMode(0);
        c.Seg[SegIdx.CS] = new SegmentRegister(0xF000, 0xFFFF0000, 0xFFFF,
            SegAttr.P | SegAttr.S | SegAttr.Accessed | SegAttr.Code | SegAttr.CodeReadable);
        c.Ldtr = new SegmentRegister(0, 0, 0xFFFF, SegAttr.P | 2);     // LDT type
        c.Tr = new SegmentRegister(0, 0, 0xFFFF, SegAttr.P | 11);      // busy 32-bit TSS
        c.Gdtr.Limit = 0xFFFF; c.Idtr.Limit = 0xFFFF;
        c.Cr0 = global::SharpBox.Vmm.Cpum.Cr0.ET | global::SharpBox.Vmm.Cpum.Cr0.CD | global::SharpBox.Vmm.Cpum.Cr0.NW;
        c.Dr[6] = 0xFFFF0FF0; c.Dr[7] = 0x400;
        c.Xcr0 = 1;
        c.Pat = 0x0007040600070406;
        c.ApicBase = 0xFEE00000 | (1 << 11) | (1 << 8);   // enabled, BSP
        c.MiscEnable = 1;                                  // fast strings
        c.Gpr[2] = 0x600;                                  // EDX = family/model/stepping signature (set by the model)
        // FPU after FINIT-like reset: FCW 0x37F (set by FNINIT semantics), MXCSR 0x1F80.
        c.Fx[0] = 0x40; c.Fx[1] = 0x03;                   // RESET gives FCW=0x0040; FINIT sets 0x037F
        c.Fx[24] = 0x80; c.Fx[25] = 0x1F;
        return c;
    }
}
