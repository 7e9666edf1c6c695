using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SharpBox.Runtime.Linux;

// The /dev/kvm user-space ABI for x86-64 (include/uapi/linux/kvm.h, arch/x86/include/uapi/asm/kvm.h).
// Layouts are the kernel's byte for byte; tests/Vmm.Tests/Hm/KvmAbiTests.cs compiles a C program
// against the host's headers and compares every size, offset and ioctl number below with it.

/// <summary>ioctl request numbers (_IO/_IOR/_IOW/_IOWR over type 0xAE) and capability ids.</summary>
public static class KvmIoctl
{
    private const uint None = 0, Write = 1, Read = 2;
    private static nuint Io(uint dir, uint nr, uint size) => (nuint)((dir << 30) | (size << 16) | (0xAEu << 8) | nr);

    // /dev/kvm
    public static readonly nuint GetApiVersion = Io(None, 0x00, 0);
    public static readonly nuint CreateVm = Io(None, 0x01, 0);
    public static readonly nuint GetMsrIndexList = Io(Read | Write, 0x02, 4);
    public static readonly nuint CheckExtension = Io(None, 0x03, 0);
    public static readonly nuint GetVcpuMmapSize = Io(None, 0x04, 0);
    public static readonly nuint GetSupportedCpuid = Io(Read | Write, 0x05, 8);
    // VM
    public static readonly nuint CreateVcpu = Io(None, 0x41, 0);
    public static readonly nuint SetUserMemoryRegion = Io(Write, 0x46, 32);
    public static readonly nuint SetTssAddr = Io(None, 0x47, 0);
    public static readonly nuint SetIdentityMapAddr = Io(Write, 0x48, 8);
    public static readonly nuint CreateIrqchip = Io(None, 0x60, 0);
    public static readonly nuint IrqLine = Io(Write, 0x61, 8);
    public static readonly nuint IrqLineStatus = Io(Read | Write, 0x67, 8);
    public static readonly nuint Irqfd = Io(Write, 0x76, 32);
    public static readonly nuint CreatePit2 = Io(Write, 0x77, 64);
    public static readonly nuint Ioeventfd = Io(Write, 0x79, 64);
    public static readonly nuint SetClock = Io(Write, 0x7B, 48);
    public static readonly nuint GetClock = Io(Read, 0x7C, 48);
    public static readonly nuint SetMsrFilter = Io(Write, 0xC6, 392);
    public static readonly nuint EnableCap = Io(Write, 0xA3, 104);
    // vCPU
    public static readonly nuint Run = Io(None, 0x80, 0);
    public static readonly nuint GetRegs = Io(Read, 0x81, 144);
    public static readonly nuint SetRegs = Io(Write, 0x82, 144);
    public static readonly nuint GetSregs = Io(Read, 0x83, 312);
    public static readonly nuint SetSregs = Io(Write, 0x84, 312);
    public static readonly nuint Translate = Io(Read | Write, 0x85, 24);
    public static readonly nuint Interrupt = Io(Write, 0x86, 4);
    public static readonly nuint GetMsrs = Io(Read | Write, 0x88, 8);
    public static readonly nuint SetMsrs = Io(Write, 0x89, 8);
    public static readonly nuint GetFpu = Io(Read, 0x8C, 416);
    public static readonly nuint SetFpu = Io(Write, 0x8D, 416);
    public static readonly nuint GetLapic = Io(Read, 0x8E, 1024);
    public static readonly nuint SetLapic = Io(Write, 0x8F, 1024);
    public static readonly nuint SetCpuid2 = Io(Write, 0x90, 8);
    public static readonly nuint GetMpState = Io(Read, 0x98, 4);
    public static readonly nuint SetMpState = Io(Write, 0x99, 4);
    public static readonly nuint Nmi = Io(None, 0x9A, 0);
    public static readonly nuint SetGuestDebug = Io(Write, 0x9B, 72);
    public static readonly nuint GetVcpuEvents = Io(Read, 0x9F, 64);
    public static readonly nuint SetVcpuEvents = Io(Write, 0xA0, 64);
    public static readonly nuint GetDebugRegs = Io(Read, 0xA1, 128);
    public static readonly nuint SetDebugRegs = Io(Write, 0xA2, 128);
    public static readonly nuint GetTscKhz = Io(None, 0xA3, 0);
    public static readonly nuint GetXsave = Io(Read, 0xA4, 4096);
    public static readonly nuint SetXsave = Io(Write, 0xA5, 4096);
    public static readonly nuint GetXcrs = Io(Read, 0xA6, 392);
    public static readonly nuint SetXcrs = Io(Write, 0xA7, 392);
    public static readonly nuint KvmclockCtrl = Io(None, 0xAD, 0);

    // capabilities (KVM_CAP_*)
    public const int CapIrqchip = 0, CapHlt = 1, CapUserMemory = 3, CapSetTssAddr = 4, CapExtCpuid = 7,
        CapNrVcpus = 9, CapNrMemslots = 10, CapPit2 = 33, CapIrqfd = 32, CapIoeventfd = 36,
        CapSetGuestDebug = 23, CapVcpuEvents = 41, CapAdjustClock = 39, CapXsave = 55, CapXcrs = 56,
        CapDebugRegs = 50, CapGetTscKhz = 61, CapMaxVcpus = 66, CapReadonlyMem = 81, CapImmediateExit = 136,
        CapSplitIrqchip = 121, CapGuestDebugHwBps = 119, CapHyperv = 44, CapX86UserSpaceMsr = 188,
        CapX86MsrFilter = 189, CapSyncRegs = 74, CapKvmclockCtrl = 76, CapTscDeadlineTimer = 72;
}

public static class KvmExit
{
    public const uint Unknown = 0, Exception = 1, Io = 2, Hypercall = 3, Debug = 4, Hlt = 5, Mmio = 6,
        IrqWindowOpen = 7, Shutdown = 8, FailEntry = 9, Intr = 10, SetTpr = 11, TprAccess = 12, Nmi = 16,
        InternalError = 17, SystemEvent = 24, IoapicEoi = 26, Hyperv = 27, X86Rdmsr = 29, X86Wrmsr = 30;
    public const byte IoIn = 0, IoOut = 1;

    public static string Name(uint reason) => reason switch
    {
        Unknown => "UNKNOWN", Exception => "EXCEPTION", Io => "IO", Hypercall => "HYPERCALL", Debug => "DEBUG",
        Hlt => "HLT", Mmio => "MMIO", IrqWindowOpen => "IRQ_WINDOW_OPEN", Shutdown => "SHUTDOWN",
        FailEntry => "FAIL_ENTRY", Intr => "INTR", SetTpr => "SET_TPR", TprAccess => "TPR_ACCESS", Nmi => "NMI",
        InternalError => "INTERNAL_ERROR", SystemEvent => "SYSTEM_EVENT", IoapicEoi => "IOAPIC_EOI",
        Hyperv => "HYPERV", X86Rdmsr => "X86_RDMSR", X86Wrmsr => "X86_WRMSR",
        _ => $"exit {reason}",
    };
}

public static class KvmConst
{
    public const int ApiVersion = 12;
    public const uint MemReadonly = 1u << 1;
    public const uint GuestDbgEnable = 1, GuestDbgSingleStep = 2, GuestDbgUseSwBp = 0x10000, GuestDbgUseHwBp = 0x20000;
    public const uint VcpuEventValidNmiPending = 1, VcpuEventValidSipiVector = 2, VcpuEventValidShadow = 4;
    public const uint IoeventfdDatamatch = 1, IoeventfdPio = 2, IoeventfdDeassign = 4;
    public const uint IrqfdDeassign = 1;
    public const uint PitSpeakerDummy = 1;
    public const uint CpuidFlagSignificantIndex = 1;
    public const uint MpStateRunnable = 0, MpStateUninitialized = 1, MpStateInitReceived = 2, MpStateHalted = 3, MpStateSipiReceived = 4;
    public const uint MsrExitReasonInval = 1, MsrExitReasonUnknown = 2, MsrExitReasonFilter = 4;
    public const uint MsrFilterDefaultAllow = 0, MsrFilterRead = 1, MsrFilterWrite = 2;
    /// <summary>Offsets of the exit union members inside struct kvm_run.</summary>
    public const int RunRequestInterruptWindow = 0, RunImmediateExit = 1, RunExitReason = 8, RunReadyForInjection = 12,
        RunIfFlag = 13, RunCr8 = 16, RunApicBase = 24, RunExit = 32;
    // io: direction u8 @32, size u8 @33, port u16 @34, count u32 @36, data_offset u64 @40
    public const int RunIoDirection = 32, RunIoSize = 33, RunIoPort = 34, RunIoCount = 36, RunIoDataOffset = 40;
    // mmio: phys_addr u64 @32, data u8[8] @40, len u32 @48, is_write u8 @52
    public const int RunMmioAddr = 32, RunMmioData = 40, RunMmioLen = 48, RunMmioIsWrite = 52;
    // debug.arch: exception u32 @32, pc u64 @40, dr6 @48, dr7 @56
    public const int RunDebugException = 32, RunDebugPc = 40, RunDebugDr6 = 48, RunDebugDr7 = 56;
    // fail_entry: reason u64 @32, cpu u32 @40; internal: suberror u32 @32, ndata u32 @36, data u64[16] @40
    public const int RunFailEntryReason = 32, RunInternalSuberror = 32, RunInternalNdata = 36, RunInternalData = 40;
    // system_event: type u32 @32; msr: error u8 @32, pad[7], reason u32 @40, index u32 @44, data u64 @48
    public const int RunSystemEventType = 32, RunMsrError = 32, RunMsrReason = 40, RunMsrIndex = 44, RunMsrData = 48;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmRegs
{
    public ulong Rax, Rbx, Rcx, Rdx, Rsi, Rdi, Rsp, Rbp;
    public ulong R8, R9, R10, R11, R12, R13, R14, R15;
    public ulong Rip, Rflags;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmSegment
{
    public ulong Base;
    public uint Limit;
    public ushort Selector;
    public byte Type, Present, Dpl, Db, S, L, G, Avl, Unusable, Padding;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmDtable
{
    public ulong Base;
    public ushort Limit;
    private ushort _p0, _p1, _p2;
}

[InlineArray(4)] public struct KvmU64x4 { private ulong _e; }
[InlineArray(8)] public struct KvmU64x8 { private ulong _e; }
[InlineArray(16)] public struct KvmU64x16 { private ulong _e; }

[StructLayout(LayoutKind.Sequential)]
public struct KvmSregs
{
    public KvmSegment Cs, Ds, Es, Fs, Gs, Ss, Tr, Ldt;
    public KvmDtable Gdt, Idt;
    public ulong Cr0, Cr2, Cr3, Cr4, Cr8, Efer, ApicBase;
    /// <summary>Bit n set: external interrupt n is pending injection (at most one bit).</summary>
    public KvmU64x4 InterruptBitmap;
}

[InlineArray(128)] public struct KvmFpr { private byte _e; }
[InlineArray(256)] public struct KvmXmm { private byte _e; }

[StructLayout(LayoutKind.Sequential)]
public struct KvmFpu
{
    /// <summary>ST0..ST7, 16 bytes each (80-bit value in the low 10).</summary>
    public KvmFpr Fpr;
    public ushort Fcw, Fsw;
    /// <summary>Abridged tag word (FXSAVE form: one bit per register).</summary>
    public byte Ftwx, Pad1;
    public ushort LastOpcode;
    public ulong LastIp, LastDp;
    public KvmXmm Xmm;
    public uint Mxcsr, Pad2;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmMsrEntry
{
    public uint Index, Reserved;
    public ulong Data;
}

[InlineArray(1024)] public struct KvmLapicRegs { private byte _e; }

[StructLayout(LayoutKind.Sequential)]
public struct KvmLapicState
{
    public KvmLapicRegs Regs;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmVcpuEvents
{
    public byte ExceptionInjected, ExceptionNr, ExceptionHasErrorCode, ExceptionPending;
    public uint ExceptionErrorCode;
    public byte InterruptInjected, InterruptNr, InterruptSoft, InterruptShadow;
    public byte NmiInjected, NmiPending, NmiMasked, NmiPad;
    public uint SipiVector;
    public uint Flags;
    public byte SmiSmm, SmiPending, SmiInsideNmi, SmiLatchedInit;
    public byte TripleFaultPending;
    private Reserved26 _reserved;
    public byte ExceptionHasPayload;
    public ulong ExceptionPayload;

    [InlineArray(26)] private struct Reserved26 { private byte _e; }
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmDebugRegs
{
    public KvmU64x4 Db;
    public ulong Dr6, Dr7, Flags;
    private Reserved9 _reserved;
    [InlineArray(9)] private struct Reserved9 { private ulong _e; }
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmXcr
{
    public uint Xcr, Reserved;
    public ulong Value;
}

[InlineArray(16)] public struct KvmXcr16 { private KvmXcr _e; }

[StructLayout(LayoutKind.Sequential)]
public struct KvmXcrs
{
    public uint NrXcrs, Flags;
    public KvmXcr16 Xcrs;
    private KvmU64x16 _padding;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmCpuidEntry2
{
    public uint Function, Index, Flags, Eax, Ebx, Ecx, Edx;
    private uint _p0, _p1, _p2;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmUserspaceMemoryRegion
{
    public uint Slot, Flags;
    public ulong GuestPhysAddr, MemorySize, UserspaceAddr;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmIrqLevel
{
    /// <summary>IRQ (GSI) number in; for KVM_IRQ_LINE_STATUS the status comes back here.</summary>
    public uint Irq;
    public uint Level;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmIrqfd
{
    public uint Fd, Gsi, Flags, ResampleFd;
    private KvmU64x2 _pad;
}

[InlineArray(2)] public struct KvmU64x2 { private ulong _e; }

[StructLayout(LayoutKind.Sequential)]
public struct KvmIoeventfd
{
    public ulong Datamatch, Addr;
    public uint Len;
    public int Fd;
    public uint Flags;
    private Pad36 _pad;
    [InlineArray(36)] private struct Pad36 { private byte _e; }
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmGuestDebug
{
    public uint Control, Pad;
    /// <summary>DR0..DR3 addresses, DR6 (unused), DR7 enable/type/length bits.</summary>
    public KvmU64x8 DebugReg;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmPitConfig
{
    public uint Flags;
    private Pad15 _pad;
    [InlineArray(15)] private struct Pad15 { private uint _e; }
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmClockData
{
    public ulong Clock;
    public uint Flags, Pad0;
    public ulong Realtime, HostTsc;
    private KvmU64x2 _pad;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmTranslation
{
    public ulong LinearAddress, PhysicalAddress;
    public byte Valid, Writeable, UserMode;
    private byte _p0, _p1, _p2, _p3, _p4;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmEnableCap
{
    public uint Cap, Flags;
    public KvmU64x4 Args;
    private KvmU64x8 _pad;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmMsrFilterRange
{
    public uint Flags, Nmsrs, Base;
    private uint _pad;
    /// <summary>Address of a bitmap, one bit per MSR from Base: 1 lets the access through to the kernel, 0 denies it (which exits to user space when KVM_MSR_EXIT_REASON_FILTER is enabled).</summary>
    public ulong BitmapPtr;
}

[InlineArray(16)] public struct KvmMsrFilterRanges { private KvmMsrFilterRange _e; }

[StructLayout(LayoutKind.Sequential)]
public struct KvmMsrFilter
{
    public uint Flags, Pad;
    public KvmMsrFilterRanges Ranges;
}
