using System.Buffers.Binary;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Em;
using SharpBox.Vmm.Iem;
using static SharpBox.Tools.CpuTest.Diff.SandboxLayout;

namespace SharpBox.Tools.CpuTest.Diff;

/// <summary>Creates the executor that runs cases on the software CPU.</summary>
static class IemExecutorFactory
{
    public static ICaseExecutor Create() => new IemExecutor();
}

/// <summary>
/// Runs cases on IEM inside a miniature long-mode machine that mirrors the sandbox process as user code
/// sees it: the code, data and read-only pages at the same linear addresses with the same permissions
/// (user, NX on data, nothing in the hole), Linux's selectors (user CS 0x33 / 0x23, SS 0x2B), CR0.AM/NE/WP,
/// CR4.OSFXSR/OSXMMEXCPT, EFER.NXE. Exceptions are delivered through a real IDT to ring 0, where a debugger
/// breakpoint on each handler entry stops the CPU; the frame on the kernel stack gives the user RIP, RSP,
/// RFLAGS and error code. The INT3 after the instruction ends a case that completed, as natively.
/// </summary>
sealed unsafe class IemExecutor : ICaseExecutor
{
    // Guest-physical layout (all inside one small flat RAM).
    const ulong Pml4 = 0x1000, Pdpt = 0x2000, Pd = 0x3000, PtKernel = 0x4000, PtCode = 0x5000, PtData = 0x6000;
    const ulong PhysCode = 0x10000, PhysData = 0x11000;            // RW, RW, RO pages follow PhysData
    const ulong KBase = 0x100000;                                   // kernel area, identity mapped, supervisor
    const ulong Gdt = KBase, Idt = KBase + 0x1000, Tss = KBase + 0x2000, KStackTop = KBase + 0x4000, Handlers = KBase + 0x5000;
    const ushort KernelCs = 0x10, KernelDs = 0x18, TssSel = 0x40;
    const long Budget = 1_000_000;

    readonly FlatRamBus _bus = new(2 << 20);
    readonly IemMachine _machine;
    readonly IemCpu _cpu;
    readonly byte[] _initial = new byte[DataRw];
    CpuContext _ctx;
    ulong _roSeed;
    bool _roFilled;

    public string Name => "IEM";

    public IemExecutor()
    {
        var model = new CpuModel();
        _machine = new IemMachine(_bus, model);
        _cpu = new IemCpu(_machine, 0);
        BuildSystemTables();
        var bps = new ulong[32];
        for (int v = 0; v < 32; v++) bps[v] = Handlers + (ulong)v * 16;
        _cpu.SetDebugBreakpoints(bps);
    }

    void W64(ulong pa, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(_bus.RamSpan(pa, 8), v);

    void BuildSystemTables()
    {
        const ulong P = 1, RW = 2, US = 4, NX = 1UL << 63;
        W64(Pml4, Pdpt | P | RW | US);
        W64(Pdpt, Pd | P | RW | US);
        W64(Pd + 8 * (KBase >> 21), PtKernel | P | RW | US);
        W64(Pd + 8 * (CodeBase >> 21), PtCode | P | RW | US);
        W64(Pd + 8 * (DataBase >> 21), PtData | P | RW | US);
        for (ulong i = 0; i < 8; i++) W64(PtKernel + 8 * ((KBase >> 12) + i & 511), (KBase + i * 0x1000) | P | RW);
        W64(PtCode + 8 * ((CodeBase >> 12) & 511), PhysCode | P | US);
        W64(PtData + 8 * ((DataBase >> 12) & 511), PhysData | P | RW | US | NX);
        W64(PtData + 8 * (((DataBase >> 12) + 1) & 511), (PhysData + 0x1000) | P | RW | US | NX);
        W64(PtData + 8 * (((DataBase >> 12) + 2) & 511), (PhysData + 0x2000) | P | US | NX);

        // GDT: Linux's layout for the selectors user code can see.
        W64(Gdt + 0x10, 0x00AF9B000000FFFF);    // kernel code 64
        W64(Gdt + 0x18, 0x00CF93000000FFFF);    // kernel data
        W64(Gdt + 0x20, 0x00CFFB000000FFFF);    // user code 32 (0x23)
        W64(Gdt + 0x28, 0x00CFF3000000FFFF);    // user data (0x2B)
        W64(Gdt + 0x30, 0x00AFFB000000FFFF);    // user code 64 (0x33)
        ulong tssLo = 0x67 | ((Tss & 0xFFFFFF) << 16) | (0x89UL << 40) | ((Tss >> 24 & 0xFF) << 56);
        W64(Gdt + TssSel, tssLo);
        W64(Gdt + TssSel + 8, Tss >> 32);
        W64(Tss + 4, KStackTop);                 // RSP0
        // IDT: 64-bit interrupt gates to one HLT per vector (never executed: a breakpoint stops first).
        for (ulong v = 0; v < 32; v++)
        {
            ulong h = Handlers + v * 16;
            ulong lo = (h & 0xFFFF) | ((ulong)KernelCs << 16) | (0xEEUL << 40) | ((h >> 16 & 0xFFFF) << 48);
            W64(Idt + v * 16, lo);
            W64(Idt + v * 16 + 8, h >> 32);
            _bus.RamSpan(h, 16).Fill(0xF4);
        }
    }

    static SegmentRegister Seg(ushort sel, uint attr) => new(sel, 0, 0xFFFFFFFF, attr);

    public Outcome[] Run(IReadOnlyList<DiffCase> cases, int mode, ulong roSeed)
    {
        if (!_roFilled || roSeed != _roSeed)
        {
            SandboxLayout.Fill(_bus.RamSpan(PhysData + DataRw, DataRo), roSeed);
            _roSeed = roSeed; _roFilled = true;
        }
        var res = new Outcome[cases.Count];
        for (int i = 0; i < cases.Count; i++) res[i] = RunOne(cases[i], mode);
        return res;
    }

    Outcome RunOne(DiffCase c, int mode)
    {
        var code = _bus.RamSpan(PhysCode, 4096);
        code.Fill(0xCC);
        c.Code.CopyTo(code[CodeInsn..]);
        _machine.NotifyPhysicalWrite(PhysCode, 4096);
        c.BuildData(_initial);
        _initial.CopyTo(_bus.RamSpan(PhysData, DataRw));

        _ctx = default;
        for (int r = 0; r < 16; r++) _ctx.Gpr[r] = c.Gpr[r];
        _ctx.Rip = InsnAddress;
        _ctx.Rflags = c.Rflags;
        const uint code64 = SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.CodeReadable | SegAttr.Accessed | (3u << 5) | SegAttr.L | SegAttr.G;
        const uint code32 = SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.CodeReadable | SegAttr.Accessed | (3u << 5) | SegAttr.DB | SegAttr.G;
        const uint data = SegAttr.P | SegAttr.S | SegAttr.DataWritable | SegAttr.Accessed | (3u << 5) | SegAttr.DB | SegAttr.G;
        var nullSeg = new SegmentRegister(0, 0, 0, SegAttr.Unusable);
        _ctx.Seg[SegIdx.CS] = mode == 64 ? Seg(UserCs64, code64) : Seg(UserCs32, code32);
        _ctx.Seg[SegIdx.SS] = Seg(UserDs, data);
        _ctx.Seg[SegIdx.DS] = mode == 64 ? nullSeg : Seg(UserDs, data);
        _ctx.Seg[SegIdx.ES] = mode == 64 ? nullSeg : Seg(UserDs, data);
        _ctx.Seg[SegIdx.FS] = nullSeg;
        _ctx.Seg[SegIdx.GS] = nullSeg;
        _ctx.Ldtr = new SegmentRegister(0, 0, 0, SegAttr.Unusable);
        _ctx.Tr = new SegmentRegister(TssSel, Tss, 0x67, SegAttr.P | 11);
        _ctx.Gdtr = new DescriptorTableRegister { Base = Gdt, Limit = 0x4F };
        _ctx.Idtr = new DescriptorTableRegister { Base = Idt, Limit = 32 * 16 - 1 };
        _ctx.Cr0 = Cr0.PE | Cr0.MP | Cr0.ET | Cr0.NE | Cr0.WP | Cr0.AM | Cr0.PG;
        _ctx.Cr3 = Pml4;
        _ctx.Cr4 = Cr4.PAE | Cr4.OSFXSR | Cr4.OSXMMEXCPT;
        _ctx.Efer = Efer.SCE | Efer.LME | Efer.LMA | Efer.NXE;
        _ctx.Xcr0 = 3;
        _ctx.Pat = 0x0007040600070406;
        _ctx.Dr[6] = 0xFFFF0FF0; _ctx.Dr[7] = 0x400;
        for (int k = 0; k < 512; k++) _ctx.Fx[k] = c.Fx[k];
        // The host's FXRSTOR64 loads these from the image as given; the model's mask is its own.
        BinaryPrimitives.WriteUInt32LittleEndian(FxSpan(ref _ctx)[28..], 0xFFFF);
        _cpu.SetState(in _ctx);

        var o = new Outcome();
        var exit = _cpu.Run(Budget);
        _cpu.GetState(ref _ctx);
        if (exit.Reason != VcpuExitReason.Breakpoint)
        {
            o.Vector = exit.Reason == VcpuExitReason.BudgetExhausted ? Outcome.Timeout : 255;
            CopyRegs(o, _ctx.Rip, _ctx.Gpr[4], _ctx.Rflags);
        }
        else
        {
            int vector = (int)((_ctx.Rip - Handlers) / 16);
            ulong sp = _ctx.Gpr[4];
            bool hasErr = vector is 8 or 10 or 11 or 12 or 13 or 14 or 17;
            if (hasErr) { o.ErrorCode = R64(sp); sp += 8; }
            ulong rip = R64(sp), rflags = R64(sp + 16), rsp = R64(sp + 24);
            if (vector == 3) { o.Vector = -1; rip -= 1; }    // the INT3 after the instruction (or at a branch target)
            else o.Vector = vector;
            o.Cr2 = _ctx.Cr2;
            CopyRegs(o, rip, rsp, rflags);
        }
        FxSpan(ref _ctx).CopyTo(o.Fx);
        var now = _bus.RamSpan(PhysData, DataRw);
        for (int i = 0; i < DataRw; i++)
            if (now[i] != _initial[i]) o.MemDiff.Add(((ushort)i, now[i], _initial[i]));
        return o;
    }

    void CopyRegs(Outcome o, ulong rip, ulong rsp, ulong rflags)
    {
        for (int r = 0; r < 16; r++) o.Gpr[r] = _ctx.Gpr[r];
        o.Gpr[4] = rsp;
        o.Rip = rip;
        o.Rflags = rflags;
    }

    ulong R64(ulong lin) => BinaryPrimitives.ReadUInt64LittleEndian(_bus.RamSpan(lin, 8));   // kernel area is identity-mapped

    static Span<byte> FxSpan(ref CpuContext c) => System.Runtime.InteropServices.MemoryMarshal.CreateSpan(ref c.Fx[0], 512);

    public void Dispose()
    {
        _cpu.Dispose();
        _bus.Dispose();
    }
}
