using System.Buffers.Binary;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Em;
using SharpBox.Vmm.Iem;
using SharpBox.Vmm.Iem.Fpu;

namespace SharpBox.Vmm.Tests.Fpu;

/// <summary>
/// The x87/MMX/SSE handlers inside IEM, in real mode, under the control-register settings the differential
/// tester (ring 3, fixed CR0/CR4) cannot vary: CR0.EM/TS/MP/NE and CR4.OSFXSR/OSXMMEXCPT decide between
/// #NM, #UD, #MF, #XM and FERR#; real mode uses the real-mode FSTENV layouts.
/// </summary>
public unsafe class FpuSystemTests
{
    const ushort Code = 0x1000, Data = 0x2000, Handlers = 0x8000, Done = 0x0F00;

    /// <summary>A real-mode machine: IVT vector v points at a HLT at 0x8000 + 4v; the code ends in a HLT at 0xF00.</summary>
    sealed class Machine : IDisposable, IFpuErrorSink
    {
        public readonly FerrBus Bus;
        public readonly IemCpu Cpu;
        public readonly IemMachine Vm;
        public int FerrCount;

        public Machine(CpuModel? model = null)
        {
            Bus = new FerrBus(1 << 20, this);
            Vm = new IemMachine(Bus, model ?? new CpuModel());
            Cpu = new IemCpu(Vm, 0);
            for (int v = 0; v < 32; v++)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(Bus.RamSpan((ulong)v * 4, 4), (uint)(Handlers + 4 * v));
                Bus.RamSpan(Handlers + 4UL * (ulong)v, 4).Fill(0xF4);
            }
            Bus.RamSpan(Done, 1)[0] = 0xF4;
        }

        public void RaiseFerr(int cpuIndex) => FerrCount++;

        /// <summary>Runs <paramref name="code"/> (followed by a jump to the final HLT); returns the vector taken, or -1.</summary>
        public int Run(byte[] code, ulong cr0, ulong cr4, int budget = 1000)
        {
            Prepare(code, cr0, cr4);
            var exit = Cpu.Run(budget);
            return Outcome(exit);
        }

        public int Outcome(VcpuExit exit)
        {
            Assert.Equal(VcpuExitReason.Halted, exit.Reason);
            var s = new CpuContext();
            Cpu.GetState(ref s);
            ulong hltAt = s.Rip - 1;
            if (hltAt == Done) return -1;
            Assert.InRange(hltAt, (ulong)Handlers, Handlers + 4 * 31UL);
            return (int)(hltAt - Handlers) / 4;
        }

        public void Prepare(byte[] code, ulong cr0, ulong cr4)
        {
            var bytes = new List<byte>(code) { 0xE9 };            // jmp near Done
            int next = Code + bytes.Count + 2;
            bytes.AddRange(BitConverter.GetBytes((short)(Done - next)));
            bytes.ToArray().CopyTo(Bus.RamSpan(Code, bytes.Count));
            Vm.NotifyPhysicalWrite(Code, (ulong)bytes.Count);
            var ctx = CpuContext.PowerOn();
            ctx.Seg[SegIdx.CS] = SegmentRegister.RealMode(0, code: true);
            ctx.Rip = Code;
            ctx.Gpr[4] = 0x7000;
            ctx.Cr0 = Cpum.Cr0.ET | cr0;
            ctx.Cr4 = cr4;
            var fx = Cpu.Fx;
            new Span<byte>(fx, 512).CopyTo(System.Runtime.InteropServices.MemoryMarshal.CreateSpan(ref ctx.Fx[0], 512));
            Cpu.SetState(in ctx);
        }

        public void Dispose() { Cpu.Dispose(); Bus.Dispose(); }
    }

    /// <summary>A flat RAM bus that also takes FERR# (the platform's IRQ 13 path).</summary>
    sealed class FerrBus(ulong size, IFpuErrorSink sink) : ICpuBus, IFpuErrorSink, IDisposable
    {
        readonly FlatRamBus _ram = new(size);
        public Span<byte> RamSpan(ulong off, int len) => _ram.RamSpan(off, len);
        public PhysPageKind LookupPage(ulong gpa, out byte* host) => _ram.LookupPage(gpa, out host);
        public ulong MmioRead(ulong gpa, int size) => _ram.MmioRead(gpa, size);
        public void MmioWrite(ulong gpa, int size, ulong value) => _ram.MmioWrite(gpa, size, value);
        public uint IoRead(ushort port, int size) => _ram.IoRead(port, size);
        public void IoWrite(ushort port, int size, uint value) => _ram.IoWrite(port, size, value);
        public int AcknowledgeInterrupt(int cpuIndex) => -1;
        public ulong ReadTsc() => _ram.ReadTsc();
        public bool TryReadMsr(int cpuIndex, uint msr, out ulong value) => _ram.TryReadMsr(cpuIndex, msr, out value);
        public bool TryWriteMsr(int cpuIndex, uint msr, ulong value) => _ram.TryWriteMsr(cpuIndex, msr, value);
        public ulong ReadCr8(int cpuIndex) => _ram.ReadCr8(cpuIndex);
        public void WriteCr8(int cpuIndex, ulong value) => _ram.WriteCr8(cpuIndex, value);
        public void RaiseFerr(int cpuIndex) => sink.RaiseFerr(cpuIndex);
        public void Dispose() => _ram.Dispose();
    }

    static readonly byte[] Fninit = [0xDB, 0xE3], Fld1 = [0xD9, 0xE8], FaddSt0 = [0xD8, 0xC0], Fwait = [0x9B];
    static readonly byte[] Addps = [0x0F, 0x58, 0xC1], Paddb = [0x0F, 0xFC, 0xC1], Divps = [0x0F, 0x5E, 0xC1];
    static readonly byte[] FxsaveAligned = [0x0F, 0xAE, 0x06, 0x00, 0x30], FxsaveMisaligned = [0x0F, 0xAE, 0x06, 0x08, 0x30];
    const ulong NE = Cr0.NE, EM = Cr0.EM, TS = Cr0.TS, MP = Cr0.MP, FXSR = Cr4.OSFXSR, XMMEXCPT = Cr4.OSXMMEXCPT;
    const int NoFault = -1;

    static byte[] Cat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    [Fact]
    public void Cr0Em_X87IsNm_SseAndMmxAreUd()
    {
        using var m = new Machine();
        Assert.Equal(Xcpt.NM, m.Run(Fld1, NE | EM, FXSR));
        Assert.Equal(Xcpt.UD, m.Run(Addps, NE | EM, FXSR));
        Assert.Equal(Xcpt.UD, m.Run(Paddb, NE | EM, FXSR));
        Assert.Equal(Xcpt.NM, m.Run(FxsaveAligned, NE | EM, FXSR));
    }

    [Fact]
    public void Cr0Ts_IsNm_AndFwaitOnlyWithMp()
    {
        using var m = new Machine();
        Assert.Equal(Xcpt.NM, m.Run(Fld1, NE | TS, FXSR));
        Assert.Equal(Xcpt.NM, m.Run(Addps, NE | TS, FXSR));
        Assert.Equal(Xcpt.NM, m.Run(Paddb, NE | TS, FXSR));
        Assert.Equal(Xcpt.NM, m.Run(Fwait, NE | TS | MP, FXSR));
        Assert.Equal(NoFault, m.Run(Fwait, NE | TS, FXSR));
        // #UD outranks #NM for SSE without CR4.OSFXSR; MMX does not need it.
        Assert.Equal(Xcpt.UD, m.Run(Addps, NE | TS, 0));
        Assert.Equal(NoFault, m.Run(Paddb, NE, 0));
        Assert.Equal(Xcpt.UD, m.Run(Addps, NE, 0));
    }

    [Fact]
    public void PendingX87Exception_IsMfAtTheNextWaitingInstruction()
    {
        using var m = new Machine();
        // FLDZ; FLD1; FDIVRP ST1 = 1/0 (ZE, masked); FLDCW [Data] (unmask ZE): now pending, FNSTSW fine, FWAIT faults.
        BinaryPrimitives.WriteUInt16LittleEndian(m.Bus.RamSpan(Data, 2), 0x037B);
        var setup = Cat(Fninit, [0xD9, 0xEE], Fld1, [0xDE, 0xF1], [0xD9, 0x2E, 0x00, 0x20]);
        Assert.Equal(NoFault, m.Run(Cat(setup, [0xDF, 0xE0]), NE, FXSR));       // fnstsw ax does not wait
        Assert.Equal(Xcpt.MF, m.Run(Cat(setup, Fwait), NE, FXSR));
        Assert.Equal(Xcpt.MF, m.Run(Cat(setup, FaddSt0), NE, FXSR));
        Assert.Equal(Xcpt.MF, m.Run(Cat(setup, Paddb), NE, FXSR));              // MMX waits too
        Assert.Equal(NoFault, m.Run(Cat(setup, [0xDB, 0xE2], Fwait), NE, FXSR)); // fnclex clears it
    }

    [Fact]
    public void Cr0NeClear_ReportsFerrAndRetriesTheInstruction()
    {
        using var m = new Machine();
        BinaryPrimitives.WriteUInt16LittleEndian(m.Bus.RamSpan(Data, 2), 0x037B);
        var code = Cat(Fninit, [0xD9, 0xEE], Fld1, [0xDE, 0xF1], [0xD9, 0x2E, 0x00, 0x20], Fwait);
        // FERR# goes to the platform and the CPU freezes on the FWAIT until an interrupt (here: none comes).
        var bytes = new List<byte>(code) { 0xF4 };
        bytes.ToArray().CopyTo(m.Bus.RamSpan(Code, bytes.Count));
        m.Vm.NotifyPhysicalWrite(Code, (ulong)bytes.Count);
        var ctx = CpuContext.PowerOn();
        ctx.Seg[SegIdx.CS] = SegmentRegister.RealMode(0, code: true);
        ctx.Rip = Code; ctx.Gpr[4] = 0x7000; ctx.Cr0 = Cr0.ET; ctx.Cr4 = FXSR;
        m.Cpu.SetState(in ctx);
        var exit = m.Cpu.Run(200);
        Assert.Equal(VcpuExitReason.Halted, exit.Reason);
        Assert.Equal(1, m.FerrCount);
        m.Cpu.GetState(ref ctx);
        Assert.Equal((ulong)(Code + code.Length - 1), ctx.Rip);                  // still at the FWAIT
    }

    [Fact]
    public void SimdAndX87Loops_AllocateNothing()
    {
        using var m = new Machine();
        // mov cx, 2000; l: movdqu xmm0,[0x2000]; pxor xmm1,xmm1; pcmpeqb xmm0,xmm1; pmovmskb eax,xmm0;
        // movdqa [0x2010], xmm0; paddb mm0,mm1; emms; addps xmm2,xmm3; fld1; fstp st0; loop l
        var code = Cat([0xB9, 0xD0, 0x07], [0xF3, 0x0F, 0x6F, 0x06, 0x00, 0x20], [0x66, 0x0F, 0xEF, 0xC9], [0x66, 0x0F, 0x74, 0xC1],
            [0x66, 0x0F, 0xD7, 0xC0], [0x66, 0x0F, 0x7F, 0x06, 0x10, 0x20], [0x0F, 0xFC, 0xC1], [0x0F, 0x77], [0x0F, 0x58, 0xD3],
            Fld1, [0xDD, 0xD8], [0xE2, 0xD8]);
        Assert.Equal(NoFault, m.Run(code, NE, FXSR, budget: 100_000));      // warm up: JIT, host stubs, decoded blocks
        m.Prepare(code, NE, FXSR);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var exit = m.Cpu.Run(100_000);
        long after = GC.GetAllocatedBytesForCurrentThread();
        Assert.Equal(NoFault, m.Outcome(exit));
        Assert.True(exit.Instructions > 20_000);
        Assert.Equal(0, after - before);
    }

    [Fact]
    public void ExtensionsTheModelDoesNotAdvertise_AreUd()
    {
        var model = new CpuModel();
        model.Std1Ecx &= ~(CpuModel.Sse3 | CpuModel.Ssse3 | CpuModel.Sse41 | CpuModel.Sse42);
        using var m = new Machine(model);
        Assert.Equal(Xcpt.UD, m.Run([0x66, 0x0F, 0x38, 0x40, 0xC1], NE, FXSR));      // PMULLD (SSE4.1)
        Assert.Equal(Xcpt.UD, m.Run([0x66, 0x0F, 0x38, 0x00, 0xC1], NE, FXSR));      // PSHUFB (SSSE3)
        Assert.Equal(Xcpt.UD, m.Run([0x0F, 0x38, 0x00, 0xC1], NE, FXSR));            // PSHUFB mm (SSSE3)
        Assert.Equal(Xcpt.UD, m.Run([0xF2, 0x0F, 0x7C, 0xC1], NE, FXSR));            // HADDPS (SSE3)
        Assert.Equal(Xcpt.UD, m.Run([0x66, 0x0F, 0x3A, 0x63, 0xC1, 0x00], NE, FXSR)); // PCMPISTRI (SSE4.2)
        Assert.Equal(NoFault, m.Run(Addps, NE, FXSR));                               // SSE stays
        using var full = new Machine();
        if ((full.Vm.Model.Std1Ecx & CpuModel.Sse41) != 0)
            Assert.Equal(NoFault, full.Run([0x66, 0x0F, 0x38, 0x40, 0xC1], NE, FXSR));
    }

    [Fact]
    public void UnmaskedSimdException_IsXmOrUdPerOsxmmexcpt()
    {
        using var m = new Machine();
        // LDMXCSR [Data] with ZM clear, XMM0 = 1.0f x4, XMM1 = 0: DIVPS divides by zero.
        BinaryPrimitives.WriteUInt32LittleEndian(m.Bus.RamSpan(Data, 4), 0x1F80 & ~0x200u);
        var one = new byte[16];
        for (int i = 0; i < 4; i++) BinaryPrimitives.WriteSingleLittleEndian(one.AsSpan(4 * i), 1f);
        one.CopyTo(m.Bus.RamSpan(Data + 0x10, 16));
        var code = Cat([0x0F, 0xAE, 0x16, 0x00, 0x20], [0x0F, 0x28, 0x06, 0x10, 0x20], [0x0F, 0x57, 0xC9], Divps);
        Assert.Equal(Xcpt.XM, m.Run(code, NE, FXSR | XMMEXCPT));
        Assert.Equal(4u, FxLayout.MxcsrRef(m.Cpu.Fx) & 0x3F);                  // ZE set, destination untouched
        Assert.Equal(1f, BinaryPrimitives.ReadSingleLittleEndian(new ReadOnlySpan<byte>(FxLayout.Xmm(m.Cpu.Fx, 0), 4)));
        Assert.Equal(Xcpt.UD, m.Run(code, NE, FXSR));
    }

    [Fact]
    public void Fxsave_RequiresAlignment_AndStoresTheImage()
    {
        using var m = new Machine();
        Assert.Equal(Xcpt.GP, m.Run(FxsaveMisaligned, NE, FXSR));
        Assert.Equal(NoFault, m.Run(Cat(Fninit, Fld1, FxsaveAligned), NE, FXSR));
        var img = m.Bus.RamSpan(0x3000, 512);
        Assert.Equal(0x037F, BinaryPrimitives.ReadUInt16LittleEndian(img));
        Assert.Equal(0x3800, BinaryPrimitives.ReadUInt16LittleEndian(img[2..]));   // TOP = 7
        Assert.Equal(0x80, img[4]);                                                // R7 in use
        Assert.Equal(0x3FFF, BinaryPrimitives.ReadUInt16LittleEndian(img[40..]));  // ST0 = 1.0
        Assert.Equal(FxLayout.MxcsrMaskValue, BinaryPrimitives.ReadUInt32LittleEndian(img[28..]));
    }

    [Fact]
    public void Fxsave_WithoutOsfxsr_LeavesMxcsrAndXmmAlone()
    {
        using var m = new Machine();
        m.Bus.RamSpan(0x3000, 512).Fill(0xA5);
        Assert.Equal(NoFault, m.Run(Cat(Fninit, Fld1, FxsaveAligned), NE, 0));
        var img = m.Bus.RamSpan(0x3000, 512);
        Assert.Equal(0x037F, BinaryPrimitives.ReadUInt16LittleEndian(img));
        Assert.True(img.Slice(24, 8).ToArray().All(b => b == 0xA5));           // MXCSR, MXCSR_MASK not stored
        Assert.True(img[160..].ToArray().All(b => b == 0xA5));                  // nor the XMM registers
        Assert.Equal(0x3FFF, BinaryPrimitives.ReadUInt16LittleEndian(img[40..]));
    }

    [Fact]
    public void RealMode_FnstenvUsesLinearPointers()
    {
        using var m = new Machine();
        // CS = 0, so the linear FIP is the offset; use DS = 0x0100 so FDP's linear address differs from its offset.
        // mov ax, 0x100; mov ds, ax; fninit; fld dword [0x10]; o32 fnstenv [0x40]; fnstenv [0x80]
        var code = Cat([0xB8, 0x00, 0x01, 0x8E, 0xD8], Fninit, [0xD9, 0x06, 0x10, 0x00], [0x66, 0xD9, 0x36, 0x40, 0x00], [0xD9, 0x36, 0x80, 0x00]);
        Assert.Equal(NoFault, m.Run(code, NE, FXSR));
        ulong fldAt = Code + 5 + 2;
        var e32 = m.Bus.RamSpan(0x1000 + 0x40, 28);
        Assert.Equal(0xFFFF0000u | (uint)(fldAt & 0xFFFF), BinaryPrimitives.ReadUInt32LittleEndian(e32[12..]));
        Assert.Equal((uint)(((fldAt >> 16) << 12) | 0x106), BinaryPrimitives.ReadUInt32LittleEndian(e32[16..]));  // FOP D9 06
        Assert.Equal(0xFFFF0000u | 0x1010, BinaryPrimitives.ReadUInt32LittleEndian(e32[20..]));                 // FDP linear 0x1010
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(e32[24..]));
        var e16 = m.Bus.RamSpan(0x1000 + 0x80, 14);
        Assert.Equal((ushort)fldAt, BinaryPrimitives.ReadUInt16LittleEndian(e16[6..]));
        Assert.Equal(0x106, BinaryPrimitives.ReadUInt16LittleEndian(e16[8..]));
        Assert.Equal(0x1010, BinaryPrimitives.ReadUInt16LittleEndian(e16[10..]));
        // FNSTENV masked every exception afterwards.
        Assert.Equal(0x037F, FxLayout.FcwRef(m.Cpu.Fx));
    }
}
