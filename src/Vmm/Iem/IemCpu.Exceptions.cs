using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using SharpBox.Vmm.Cpum;

namespace SharpBox.Vmm.Iem;

/// <summary>
/// A guest exception unwinding the current instruction. One preallocated instance per vCPU is
/// thrown and caught by the run loop, which then delivers it to the guest.
/// </summary>
public sealed class GuestFault : Exception
{
    public int Vector;
    public int ErrorCode;
    public bool HasErrorCode;
    public GuestFault() : base("guest exception") { }
}

/// <summary>Thrown (rarely) to abandon the current block: its code was just overwritten, or a mode change needs a fresh lookup.</summary>
internal sealed class BlockRestart : Exception
{
    public BlockRestart() : base("block restart") { }
}

/// <summary>How an event reaches the IDT: decides EXT in error codes, gate DPL checks and the saved RIP.</summary>
public enum EventType
{
    /// <summary>A fault or trap raised by the CPU (EXT=1 in error codes).</summary>
    Exception,
    /// <summary>External interrupt (INTR).</summary>
    External,
    Nmi,
    /// <summary>INT n: gate DPL checked, EXT=0; v86 needs IOPL 3.</summary>
    Software,
    /// <summary>INT3 / INTO: gate DPL checked, EXT=0.</summary>
    SoftwareException,
    /// <summary>INT1 (ICEBP): no DPL check.</summary>
    PrivilegedSoftware,
}

public sealed unsafe partial class IemCpu
{
    private readonly GuestFault _fault;
    private bool _pushRf;
    private readonly BlockRestart _restart;

    /// <summary>Raises a guest exception; the current instruction is abandoned (its RIP is reported).</summary>
    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    public void RaiseXcpt(int vector, int errorCode = 0)
    {
        _fault.Vector = vector;
        _fault.ErrorCode = errorCode;
        _fault.HasErrorCode = HasErrorCode(vector);
        throw _fault;
    }

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    public void RaiseUd() => RaiseXcpt(Xcpt.UD);

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    public void RaiseGp0() => RaiseXcpt(Xcpt.GP, 0);

    public static bool HasErrorCode(int v) => v is Xcpt.DF or Xcpt.TS or Xcpt.NP or Xcpt.SS or Xcpt.GP or Xcpt.PF or Xcpt.AC;

    private static bool IsContributory(int v) => v is Xcpt.DE or Xcpt.TS or Xcpt.NP or Xcpt.SS or Xcpt.GP;

    /// <summary>
    /// Delivers a CPU exception (RIP already set to what the frame must hold), applying the
    /// double-fault rules when delivery itself faults; a fault while delivering #DF shuts down.
    /// </summary>
    /// <summary>Debug hook: called for every exception or interrupt about to be delivered (vector, error code, RIP, type).</summary>
    public Action<int, int, ulong, EventType>? OnEvent;

    internal void DeliverException(int vector, int errorCode, bool hasErr, EventType type = EventType.Exception)
    {
        ulong faultRip = InstrRip;
        OnEvent?.Invoke(vector, errorCode, Rip, type);
        while (true)
        {
            try
            {
                // Faults push RFLAGS with RF set, so an instruction breakpoint does not fire again when the
                // handler returns to the faulting instruction (not for #DB itself, nor traps and interrupts).
                _pushRf = type == EventType.Exception && vector != Xcpt.DB;
                DeliverEvent(vector, type, errorCode, hasErr);
                _pushRf = false;
                return;
            }
            catch (GuestFault f)
            {
                _pushRf = false;
                Rip = faultRip;
                if (vector == Xcpt.DF) { EnterShutdown(); return; }
                int second = f.Vector;
                bool df = (IsContributory(vector) && IsContributory(second)) ||
                          (vector == Xcpt.PF && (IsContributory(second) || second == Xcpt.PF));
                if (df) { vector = Xcpt.DF; errorCode = 0; hasErr = true; }
                else { vector = second; errorCode = f.ErrorCode; hasErr = f.HasErrorCode; }
                type = EventType.Exception;
                OnEvent?.Invoke(vector, errorCode, Rip, type);
            }
        }
    }

    /// <summary>
    /// Delivers one event through the IVT (real mode) or IDT (protected/long mode) and pushes the
    /// frame with the current RIP. Faults during delivery propagate as <see cref="GuestFault"/>.
    /// </summary>
    public void DeliverEvent(int vector, EventType type, int errorCode, bool hasErr)
    {
        Halted = false;
        if (!ProtectedMode) { DeliverReal(vector); return; }
        int ext = type is EventType.Exception or EventType.External or EventType.Nmi or EventType.PrivilegedSoftware ? 1 : 0;
        bool soft = type is EventType.Software or EventType.SoftwareException;
        if (V86Mode && type == EventType.Software && Iopl < 3)
            RaiseXcpt(Xcpt.GP, 0);
        int idtErr = vector * 8 + 2 + ext;
        if (LongModeActive) { DeliverLong(vector, soft, ext, idtErr, errorCode, hasErr); return; }

        if ((uint)vector * 8 + 7 > Idtr.Limit) RaiseXcpt(Xcpt.GP, idtErr);
        var gate = new Descriptor { Raw = SysRead(Idtr.Base + (ulong)vector * 8, 8) };
        int gtype = (int)((gate.Raw >> 40) & 0x1F);
        if (gtype is not (0x05 or 0x06 or 0x07 or 0x0E or 0x0F)) RaiseXcpt(Xcpt.GP, idtErr);
        if (soft && gate.Dpl < Cpl) RaiseXcpt(Xcpt.GP, idtErr);
        if (!gate.Present) RaiseXcpt(Xcpt.NP, idtErr);
        if (gtype == 0x05)
        {
            TaskSwitch(gate.GateSelector, TaskSwitchSource.Interrupt, ext, hasErr, errorCode);
            return;
        }
        bool gate32 = (gtype & 8) != 0;
        bool trapGate = (gtype & 1) != 0;
        ushort sel = gate.GateSelector;
        ulong offset = gate32 ? gate.GateOffset : gate.GateOffset & 0xFFFF;
        if ((sel & 0xFFFC) == 0) RaiseXcpt(Xcpt.GP, ext);
        var cs = ReadDescriptor(sel, Xcpt.GP, ext);
        if (!cs.IsCode || cs.Dpl > Cpl) RaiseXcpt(Xcpt.GP, (sel & 0xFFFC) | ext);
        if (!cs.Present) RaiseXcpt(Xcpt.NP, (sel & 0xFFFC) | ext);
        int psize = gate32 ? 4 : 2;
        uint oldFlags = GetEflags() | (_pushRf ? RFlags.RF : 0);
        int newCpl = cs.Conforming ? Cpl : cs.Dpl;
        if (offset > cs.Limit) RaiseXcpt(Xcpt.GP, 0);

        if (!cs.Conforming && cs.Dpl < Cpl)
        {
            // Inner privilege: the new stack comes from the TSS.
            if (V86Mode && cs.Dpl != 0) RaiseXcpt(Xcpt.GP, (sel & 0xFFFC) | ext);
            GetTssStack(cs.Dpl, ext, out ushort newSs, out ulong newSp);
            var ssd = CheckNewStack(newSs, cs.Dpl, ext);
            bool ss32 = ssd.DB;
            ulong ssBase = ssd.Base;
            int n = (V86Mode ? 9 : 5) + (hasErr ? 1 : 0);
            ulong sp = ss32 ? (uint)newSp : (ushort)newSp;
            // The whole frame must fit below the top of the new (expand-up) stack: #SS(newSS) otherwise.
            ulong frame = (ulong)(n * psize);
            if ((ssd.Attr & SegAttr.ExpandDown) == 0)
            {
                ulong top = sp == 0 ? (ss32 ? 0x100000000UL : 0x10000UL) : sp;
                if (top - 1 > ssd.Limit || top < frame) RaiseXcpt(Xcpt.SS, (newSs & 0xFFFC) | ext);
            }
            Span<ulong> vals = stackalloc ulong[10];
            int k = 0;
            if (V86Mode)
            {
                vals[k++] = Segs[SegIdx.GS].Sel; vals[k++] = Segs[SegIdx.FS].Sel;
                vals[k++] = Segs[SegIdx.DS].Sel; vals[k++] = Segs[SegIdx.ES].Sel;
            }
            vals[k++] = Segs[SegIdx.SS].Sel; vals[k++] = R(4);
            vals[k++] = oldFlags; vals[k++] = Segs[SegIdx.CS].Sel; vals[k++] = Rip;
            if (hasErr) vals[k++] = (uint)errorCode;
            // Write the frame at supervisor privilege before committing anything.
            ulong p = sp;
            for (int i = 0; i < k; i++)
            {
                p = ss32 ? (uint)(p - (ulong)psize) : (ushort)(p - (ulong)psize);
                WriteLinearSup(ssBase + p, psize, vals[i]);
            }
            bool wasV86 = V86Mode;
            // Commit.
            Eflags &= ~(RFlags.TF | RFlags.NT | RFlags.RF | RFlags.VM);
            if (!trapGate) Eflags &= ~RFlags.IF;
            SetDescriptorAccessed(newSs, ref ssd);
            var csd = cs; SetDescriptorAccessed(sel, ref csd);
            Segs[SegIdx.SS].Sel = (ushort)((newSs & 0xFFFCu) | (uint)cs.Dpl); Segs[SegIdx.SS].ArchBase = ssd.Base;
            Segs[SegIdx.SS].Limit = ssd.Limit; Segs[SegIdx.SS].Attr = ssd.Attr;
            if (ss32) R(4) = (uint)p; else R16(4) = (ushort)p;
            Segs[SegIdx.CS].Sel = (ushort)((sel & 0xFFFCu) | (uint)cs.Dpl); Segs[SegIdx.CS].ArchBase = csd.Base;
            Segs[SegIdx.CS].Limit = csd.Limit; Segs[SegIdx.CS].Attr = csd.Attr;
            if (wasV86)
            {
                for (int s = 0; s < 6; s++)
                    if (s is SegIdx.DS or SegIdx.ES or SegIdx.FS or SegIdx.GS) { Segs[s].Sel = 0; Segs[s].Attr = SegAttr.Unusable; Segs[s].ArchBase = 0; Segs[s].Limit = 0; }
            }
            Rip = offset;
            ModeChanged();
            return;
        }
        if (V86Mode) RaiseXcpt(Xcpt.GP, (sel & 0xFFFC) | ext);
        if (!cs.Conforming && cs.Dpl != Cpl) RaiseXcpt(Xcpt.GP, (sel & 0xFFFC) | ext);
        {
            // Same privilege.
            int ssz = StackAddrSize();
            ulong sp = R(4);
            sp = PushTo(sp, ssz, psize, oldFlags);
            sp = PushTo(sp, ssz, psize, Segs[SegIdx.CS].Sel);
            sp = PushTo(sp, ssz, psize, Rip);
            if (hasErr) sp = PushTo(sp, ssz, psize, (uint)errorCode);
            var csd = cs; SetDescriptorAccessed(sel, ref csd);
            Eflags &= ~(RFlags.TF | RFlags.NT | RFlags.RF | RFlags.VM);
            if (!trapGate) Eflags &= ~RFlags.IF;
            if (ssz == 4) R(4) = (uint)sp; else if (ssz == 2) R16(4) = (ushort)sp; else R(4) = sp;
            Segs[SegIdx.CS].Sel = (ushort)((sel & 0xFFFCu) | (uint)newCpl); Segs[SegIdx.CS].ArchBase = csd.Base;
            Segs[SegIdx.CS].Limit = csd.Limit; Segs[SegIdx.CS].Attr = csd.Attr;
            Rip = offset;
            ModeChanged();
        }
    }

    private void DeliverLong(int vector, bool soft, int ext, int idtErr, int errorCode, bool hasErr)
    {
        if ((uint)vector * 16 + 15 > Idtr.Limit) RaiseXcpt(Xcpt.GP, idtErr);
        ulong lo = SysRead(Idtr.Base + (ulong)vector * 16, 8);
        ulong hi = SysRead(Idtr.Base + (ulong)vector * 16 + 8, 8);
        var gate = new Descriptor { Raw = lo, High = hi };
        int gtype = (int)((lo >> 40) & 0x1F);
        if (gtype is not (0x0E or 0x0F)) RaiseXcpt(Xcpt.GP, idtErr);
        if (soft && gate.Dpl < Cpl) RaiseXcpt(Xcpt.GP, idtErr);
        if (!gate.Present) RaiseXcpt(Xcpt.NP, idtErr);
        ushort sel = gate.GateSelector;
        ulong offset = gate.GateOffset | (hi << 32);
        int ist = (int)((lo >> 32) & 7);
        if ((sel & 0xFFFC) == 0) RaiseXcpt(Xcpt.GP, ext);
        var cs = ReadDescriptor(sel, Xcpt.GP, ext);
        if (!cs.IsCode || !cs.L || cs.DB || cs.Dpl > Cpl) RaiseXcpt(Xcpt.GP, (sel & 0xFFFC) | ext);
        if (!cs.Present) RaiseXcpt(Xcpt.NP, (sel & 0xFFFC) | ext);
        if (!IsCanonical(offset)) RaiseXcpt(Xcpt.GP, ext);
        int newCpl = cs.Conforming ? Cpl : cs.Dpl;
        ulong sp;
        bool stackSwitch = newCpl < Cpl;
        if (ist != 0) sp = ReadTss64((uint)(0x24 + (ist - 1) * 8), ext);
        else if (stackSwitch) sp = ReadTss64((uint)(4 + newCpl * 8), ext);
        else sp = R(4);
        if (!IsCanonical(sp)) RaiseXcpt(stackSwitch ? Xcpt.TS : Xcpt.SS, stackSwitch ? ext : ext);
        sp &= ~0xFUL;
        uint oldFlags = GetEflags() | (_pushRf ? RFlags.RF : 0);
        Span<ulong> vals = stackalloc ulong[6];
        int k = 0;
        vals[k++] = Segs[SegIdx.SS].Sel; vals[k++] = R(4); vals[k++] = oldFlags;
        vals[k++] = Segs[SegIdx.CS].Sel; vals[k++] = Rip;
        if (hasErr) vals[k++] = (uint)errorCode;
        ulong p = sp;
        for (int i = 0; i < k; i++) { p -= 8; WriteLinearSup(p, 8, vals[i], newCpl == 3); }
        var csd = cs; SetDescriptorAccessed(sel, ref csd);
        Eflags &= ~(RFlags.TF | RFlags.NT | RFlags.RF | RFlags.VM);
        if ((gtype & 1) == 0) Eflags &= ~RFlags.IF;
        if (stackSwitch)
        {
            Segs[SegIdx.SS].Sel = (ushort)newCpl; Segs[SegIdx.SS].ArchBase = 0; Segs[SegIdx.SS].Limit = 0;
            Segs[SegIdx.SS].Attr = SegAttr.Unusable | ((uint)newCpl << 5);
        }
        R(4) = p;
        Segs[SegIdx.CS].Sel = (ushort)((sel & 0xFFFCu) | (uint)newCpl); Segs[SegIdx.CS].ArchBase = csd.Base;
        Segs[SegIdx.CS].Limit = csd.Limit; Segs[SegIdx.CS].Attr = csd.Attr;
        Rip = offset;
        ModeChanged();
    }

    private void DeliverReal(int vector)
    {
        if ((uint)vector * 4 + 3 > Idtr.Limit) RaiseXcpt(Xcpt.GP, 0);
        ulong ent = SysRead(Idtr.Base + (ulong)vector * 4, 4);
        uint flags = GetEflags();
        Push(2, flags);
        Push(2, Segs[SegIdx.CS].Sel);
        Push(2, Rip);
        Eflags &= ~(RFlags.IF | RFlags.TF | RFlags.AC | RFlags.RF);
        ushort sel = (ushort)(ent >> 16);
        ref SegCache cs = ref Segs[SegIdx.CS];
        cs.Sel = sel; cs.ArchBase = (ulong)sel << 4;
        Rip = ent & 0xFFFF;
        ModeChanged();
    }

    /// <summary>The ring-N stack pointer from a 32- or 16-bit TSS.</summary>
    private void GetTssStack(int dpl, int ext, out ushort ss, out ulong sp)
    {
        bool tss32 = (Tr.Attributes & 8) != 0;
        if (tss32)
        {
            uint off = (uint)(4 + dpl * 8);
            if (off + 5 > Tr.Limit) RaiseXcpt(Xcpt.TS, (Tr.Selector & 0xFFFC) | ext);
            sp = SysRead(Tr.Base + off, 4);
            ss = (ushort)SysRead(Tr.Base + off + 4, 2);
        }
        else
        {
            uint off = (uint)(2 + dpl * 4);
            if (off + 3 > Tr.Limit) RaiseXcpt(Xcpt.TS, (Tr.Selector & 0xFFFC) | ext);
            sp = SysRead(Tr.Base + off, 2);
            ss = (ushort)SysRead(Tr.Base + off + 2, 2);
        }
    }

    private ulong ReadTss64(uint off, int ext)
    {
        if (off + 7 > Tr.Limit) RaiseXcpt(Xcpt.TS, (Tr.Selector & 0xFFFC) | ext);
        return SysRead(Tr.Base + off, 8);
    }

    /// <summary>Validates a stack segment taken from the TSS for a privilege change (#TS on failure).</summary>
    private Descriptor CheckNewStack(ushort ss, int dpl, int ext)
    {
        if ((ss & 0xFFFC) == 0) RaiseXcpt(Xcpt.TS, ext);
        var d = ReadDescriptor(ss, Xcpt.TS, ext);
        if ((ss & 3) != dpl || d.Dpl != dpl || !d.Writable) RaiseXcpt(Xcpt.TS, (ss & 0xFFFC) | ext);
        if (!d.Present) RaiseXcpt(Xcpt.SS, (ss & 0xFFFC) | ext);
        return d;
    }

    /// <summary>Writes at a linear address with supervisor privilege (or user when <paramref name="asUser"/>), through paging.</summary>
    internal void WriteLinearSup(ulong lin, int size, ulong v, bool asUser = false)
    {
        lin &= LinMaskSys;
        int first = 0x1000 - (int)(lin & 0xFFF);
        if (!PagingEnabled)
        {
            for (int i = 0; i < size; i++) PhysWrite(((lin + (ulong)i) & LinMaskSys) & _a20Mask, 1, (v >> (8 * i)) & 0xFF);
            return;
        }
        if (LongModeActive && !IsCanonical(lin)) RaiseXcpt(Xcpt.SS, 0);
        ulong pa1 = Walk(lin, KindW, asUser, false, out _, out _);
        if (first >= size) { PhysWrite(pa1, size, v); return; }
        ulong pa2 = Walk((lin + (ulong)first) & LinMaskSys, KindW, asUser, false, out _, out _);
        for (int i = 0; i < size; i++) PhysWrite(i < first ? pa1 + (ulong)i : pa2 + (ulong)(i - first), 1, (v >> (8 * i)) & 0xFF);
    }

    /// <summary>Triple fault: the CPU stops and the platform is told (reset or power-off is its choice).</summary>
    /// <summary>A triple fault happened outside Run (HM delivering an event through this CPU).</summary>
    internal bool ShutdownPending => _exitReason == Em.VcpuExitReason.Shutdown;

    internal void EnterShutdown()
    {
        _exitReason = Em.VcpuExitReason.Shutdown;
        RaisePending(PendExit);
    }
}
