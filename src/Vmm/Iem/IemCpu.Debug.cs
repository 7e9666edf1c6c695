using SharpBox.Vmm.Cpum;

namespace SharpBox.Vmm.Iem;

// Guest hardware breakpoints (DR0-DR3 with DR7): instruction breakpoints (#DB fault before the
// instruction, suppressed by RFLAGS.RF) and data write / read-write breakpoints (#DB trap after the
// instruction). While any is enabled the vCPU single-steps (StepOne) so every boundary is checked,
// and pages holding a data breakpoint never get TLB entries, so every access to them takes the slow
// path, which records hits. I/O breakpoints (CR4.DE, R/W = 10) and DR7.GD are not implemented.
public sealed unsafe partial class IemCpu
{
    /// <summary>DR7 enables at least one breakpoint.</summary>
    internal bool HwBreakpointsActive;
    private bool _dataBreakpoints;
    /// <summary>Data breakpoints hit by the instruction being executed (DR6.B0..B3 bits).</summary>
    private uint _dataHits;

    private static int BpType(ulong dr7, int i) => (int)((dr7 >> (16 + 4 * i)) & 3);
    private static int BpLen(ulong dr7, int i) => (int)((dr7 >> (18 + 4 * i)) & 3) switch { 0 => 1, 1 => 2, 2 => 8, _ => 4 };
    private static bool BpEnabled(ulong dr7, int i) => ((dr7 >> (2 * i)) & 3) != 0;

    /// <summary>Call after DR0-3/DR7 change.</summary>
    internal void DebugRegistersChanged()
    {
        ulong dr7 = Dr[7];
        bool any = false, data = false;
        for (int i = 0; i < 4; i++)
        {
            if (!BpEnabled(dr7, i)) continue;
            int t = BpType(dr7, i);
            if (t == 2) continue;                        // I/O breakpoints: not implemented
            any = true;
            if (t != 0) data = true;
        }
        HwBreakpointsActive = any;
        if (data || _dataBreakpoints) FlushTlb(true);    // (re)establish the slow path for breakpoint pages
        _dataBreakpoints = data;
        if (any) RaisePending(PendStep);
    }

    /// <summary>True if the linear page holds an enabled data breakpoint (the TLB must not map it).</summary>
    internal bool PageHasDataBreakpoint(ulong linPage)
    {
        if (!_dataBreakpoints) return false;
        ulong dr7 = Dr[7];
        for (int i = 0; i < 4; i++)
        {
            if (!BpEnabled(dr7, i) || BpType(dr7, i) is 0 or 2) continue;
            ulong a = Dr[i] & ~(ulong)(BpLen(dr7, i) - 1);
            if ((a & ~0xFFFUL) == linPage) return true;
        }
        return false;
    }

    /// <summary>Slow-path hook: a data access of <paramref name="size"/> bytes at <paramref name="lin"/>.</summary>
    internal void CheckDataBreakpoints(ulong lin, int size, bool write)
    {
        ulong dr7 = Dr[7];
        for (int i = 0; i < 4; i++)
        {
            if (!BpEnabled(dr7, i)) continue;
            int t = BpType(dr7, i);
            if (t == 0 || t == 2 || (t == 1 && !write)) continue;
            int len = BpLen(dr7, i);
            ulong a = Dr[i] & ~(ulong)(len - 1);
            if (lin < a + (ulong)len && a < lin + (ulong)size) _dataHits |= 1u << i;
        }
    }

    /// <summary>Before an instruction: an enabled instruction breakpoint at CS:RIP raises #DB (a fault), unless RF is set.</summary>
    private bool InstructionBreakpointHit()
    {
        if ((Eflags & RFlags.RF) != 0) return false;
        ulong lin = (Segs[SegIdx.CS].Base + Rip) & LinMask;
        ulong dr7 = Dr[7];
        uint hits = 0;
        for (int i = 0; i < 4; i++)
            if (BpEnabled(dr7, i) && BpType(dr7, i) == 0 && Dr[i] == lin) hits |= 1u << i;
        if (hits == 0) return false;
        Dr[6] = (Dr[6] & ~0xFUL) | hits;
        InstrRip = Rip;
        DeliverException(Xcpt.DB, 0, false);
        return true;
    }
}
