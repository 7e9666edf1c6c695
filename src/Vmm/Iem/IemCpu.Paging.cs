using System.Runtime.CompilerServices;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Em;

namespace SharpBox.Vmm.Iem;

// Page walks: 32-bit (with PSE/PSE-36 4 MiB pages), PAE and 4-level (2 MiB / 1 GiB pages), with
// NX, WP, SMEP, SMAP, reserved-bit checks, and accessed/dirty bits written back atomically.
public sealed unsafe partial class IemCpu
{
    private const ulong PteP = 1, PteW = 2, PteU = 4, PteA = 0x20, PteD = 0x40, PtePs = 0x80, PteG = 0x100;
    private const ulong PteNx = 1UL << 63;

    /// <summary>
    /// Walks the page tables for <paramref name="lin"/>. <paramref name="user"/>: the access is made
    /// at CPL 3 (and is not an implicit supervisor access). Raises #PF with the architectural error
    /// code; on success sets A bits (and D for writes) and returns the physical address.
    /// </summary>
    internal ulong Walk(ulong lin, int kind, bool user, bool implicitSup, out bool global, out bool large)
    {
        global = false; large = false;
        bool nxe = (Efer & Cpum.Efer.NXE) != 0;
        ulong physMask = Model.PhysAddrMask & ~0xFFFUL;
        ulong rsvdHigh = ~Model.PhysAddrMask & 0x000FFFFFFFFFFFFFUL;   // bits MAXPHYADDR..51
        if (!nxe) rsvdHigh |= PteNx;
        bool write = kind == KindW, fetch = kind == KindX;

        // Up to 4 entries: address of each (for A bit updates) and its value.
        Span<ulong> addr = stackalloc ulong[4];
        Span<byte> wide = stackalloc byte[4];
        int levels = 0;
        ulong rwAnd = PteW, usAnd = PteU, nxOr = 0;
        ulong pa;
        ulong leaf;
        int leafLevel;

        if ((Cr4 & Cpum.Cr4.PAE) == 0)
        {
            // 32-bit paging.
            ulong pdeAddr = (Cr3 & 0xFFFFF000) | ((lin >> 20) & 0xFFC);
            ulong pde = PhysRead(pdeAddr & _a20Mask, 4);
            if ((pde & PteP) == 0) PageFault(lin, 0, kind, user);
            addr[levels] = pdeAddr; wide[levels++] = 0;
            rwAnd &= pde; usAnd &= pde;
            if ((pde & PtePs) != 0 && (Cr4 & Cpum.Cr4.PSE) != 0)
            {
                // 4 MiB page; PSE-36 puts physical bits 32..39 in PDE bits 13..20.
                ulong hi = (pde >> 13) & 0xFF;
                if (((hi << 32) & ~Model.PhysAddrMask) != 0 || (pde & (1UL << 21)) != 0) PageFault(lin, PfErr.P | PfErr.RSVD, kind, user);
                pa = (pde & 0xFFC00000) | (hi << 32) | (lin & 0x3FFFFF);
                leaf = pde; leafLevel = 0; large = true;
            }
            else
            {
                ulong pteAddr = (pde & 0xFFFFF000) | ((lin >> 10) & 0xFFC);
                ulong pte = PhysRead(pteAddr & _a20Mask, 4);
                if ((pte & PteP) == 0) PageFault(lin, 0, kind, user);
                addr[levels] = pteAddr; wide[levels++] = 0;
                rwAnd &= pte; usAnd &= pte;
                pa = (pte & 0xFFFFF000) | (lin & 0xFFF);
                leaf = pte; leafLevel = 1;
            }
        }
        else
        {
            ulong table;
            int level;   // 4 = PML4, 3 = PDPT, 2 = PD, 1 = PT
            if ((Efer & Cpum.Efer.LMA) != 0) { table = Cr3 & physMask; level = 4; }
            else
            {
                // PAE: the PDPTE (no R/W, U/S or NX bits at this level).
                ulong pdpteAddr = (Cr3 & 0xFFFFFFE0) | ((lin >> 27) & 0x18);
                ulong pdpte = PhysRead(pdpteAddr & _a20Mask, 8);
                if ((pdpte & PteP) == 0) PageFault(lin, 0, kind, user);
                if ((pdpte & (rsvdHigh & ~PteNx | 0x1E6 | PteNx)) != 0) PageFault(lin, PfErr.P | PfErr.RSVD, kind, user);
                table = pdpte & physMask; level = 2;
            }
            while (true)
            {
                int shift = 12 + 9 * (level - 1);
                ulong eAddr = table | (((lin >> shift) & 0x1FF) << 3);
                ulong e = PhysRead(eAddr & _a20Mask, 8);
                if ((e & PteP) == 0) PageFault(lin, 0, kind, user);
                ulong rsvd = rsvdHigh;
                if (level == 4) rsvd |= PtePs;                                        // PS reserved in PML4E
                if (level == 3 && (e & PtePs) != 0 && !Model.HasExt1Edx(CpuModel.Page1G)) rsvd |= PtePs;
                if ((e & PtePs) != 0 && level == 3) rsvd |= 0x3FFFE000UL;               // 1 GiB: bits 29..13
                if ((e & PtePs) != 0 && level == 2) rsvd |= 0x1FE000UL;                 // 2 MiB: bits 20..13
                if ((e & rsvd) != 0) PageFault(lin, PfErr.P | PfErr.RSVD, kind, user);
                addr[levels] = eAddr; wide[levels++] = 1;
                rwAnd &= e; usAnd &= e; nxOr |= e & (nxe ? PteNx : 0);
                if (level == 1 || ((e & PtePs) != 0 && level <= 3))
                {
                    ulong pageMask = (1UL << shift) - 1;
                    pa = (e & physMask & ~pageMask) | (lin & pageMask);
                    leaf = e; leafLevel = levels - 1; large = level > 1;
                    break;
                }
                table = e & physMask;
                level--;
            }
        }

        // ---- permissions ----
        bool pageUser = usAnd != 0, pageWritable = rwAnd != 0;
        bool fault = false;
        if (fetch)
        {
            if (nxOr != 0) fault = true;
            else if (user && !pageUser) fault = true;
            else if (!user && pageUser && (Cr4 & Cpum.Cr4.SMEP) != 0) fault = true;
        }
        else
        {
            if (user)
            {
                if (!pageUser || (write && !pageWritable)) fault = true;
            }
            else
            {
                if (pageUser && (Cr4 & Cpum.Cr4.SMAP) != 0 && (implicitSup || (Eflags & RFlags.AC) == 0)) fault = true;
                if (write && !pageWritable && (Cr0 & Cpum.Cr0.WP) != 0) fault = true;
            }
        }
        if (fault) PageFault(lin, PfErr.P, kind, user);

        // ---- accessed / dirty ----
        for (int i = 0; i < levels; i++)
        {
            bool isLeaf = i == leafLevel;
            ulong want = PteA | (isLeaf && write ? PteD : 0);
            SetPteBits(addr[i] & _a20Mask, want, wide[i] != 0);
        }
        global = (leaf & PteG) != 0 && (Cr4 & Cpum.Cr4.PGE) != 0;
        return pa & _a20Mask;
    }

    private void SetPteBits(ulong pteAddr, ulong bits, bool wide)
    {
        if (Bus.LookupPage(pteAddr & ~0xFFFUL, out byte* host) != PhysPageKind.Ram)
            return;
        byte* p = host + (pteAddr & 0xFFF);
        if (wide)
        {
            if ((*(ulong*)p & bits) != bits) Interlocked.Or(ref *(ulong*)p, bits);
        }
        else
        {
            if ((*(uint*)p & (uint)bits) != (uint)bits) Interlocked.Or(ref *(uint*)p, (uint)bits);
        }
        // Page tables can share a page with code (real-mode-ish guests); keep the code cache honest.
        CodePageInfo* info = Machine.PageInfoIfAny(pteAddr);
        if (info != null && info->CodeBits != 0 && Machine.CodeWritten(info, pteAddr, wide ? 8 : 4)) OnCodeOverwritten(pteAddr);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void PageFault(ulong lin, int err, int kind, bool user)
    {
        if (kind == KindW) err |= PfErr.W;
        if (user) err |= PfErr.U;
        if (kind == KindX && ((Efer & Cpum.Efer.NXE) != 0 || (Cr4 & Cpum.Cr4.SMEP) != 0)) err |= PfErr.ID;
        Cr2 = lin;
        RaiseXcpt(Xcpt.PF, err);
    }

    /// <summary>Debugger/tools: linear → physical without side effects (no A/D updates, no faults). Returns false if unmapped.</summary>
    public bool TryTranslateDebug(ulong lin, out ulong pa)
    {
        pa = 0;
        if (!PagingEnabled) { pa = lin & _a20Mask; return true; }
        try
        {
            var saved = Cr2;
            ulong savedRes = LfRes; uint savedAux = LfAux;
            // A walk with A/D updates suppressed would need a second walker; reads only here:
            pa = WalkNoSideEffects(lin, out bool ok);
            Cr2 = saved; LfRes = savedRes; LfAux = savedAux;
            return ok;
        }
        catch (GuestFault) { return false; }
    }

    private ulong WalkNoSideEffects(ulong lin, out bool ok)
    {
        ok = false;
        ulong physMask = Model.PhysAddrMask & ~0xFFFUL;
        if ((Cr4 & Cpum.Cr4.PAE) == 0)
        {
            ulong pde = PhysRead((Cr3 & 0xFFFFF000) | ((lin >> 20) & 0xFFC), 4);
            if ((pde & PteP) == 0) return 0;
            if ((pde & PtePs) != 0 && (Cr4 & Cpum.Cr4.PSE) != 0) { ok = true; return (pde & 0xFFC00000) | (((pde >> 13) & 0xFF) << 32) | (lin & 0x3FFFFF); }
            ulong pte = PhysRead((pde & 0xFFFFF000) | ((lin >> 10) & 0xFFC), 4);
            if ((pte & PteP) == 0) return 0;
            ok = true; return (pte & 0xFFFFF000) | (lin & 0xFFF);
        }
        ulong table; int level;
        if ((Efer & Cpum.Efer.LMA) != 0) { table = Cr3 & physMask; level = 4; }
        else
        {
            ulong pdpte = PhysRead((Cr3 & 0xFFFFFFE0) | ((lin >> 27) & 0x18), 8);
            if ((pdpte & PteP) == 0) return 0;
            table = pdpte & physMask; level = 2;
        }
        while (true)
        {
            int shift = 12 + 9 * (level - 1);
            ulong e = PhysRead(table | (((lin >> shift) & 0x1FF) << 3), 8);
            if ((e & PteP) == 0) return 0;
            if (level == 1 || ((e & PtePs) != 0 && level <= 3))
            {
                ulong pageMask = (1UL << shift) - 1;
                ok = true;
                return (e & physMask & ~pageMask) | (lin & pageMask);
            }
            table = e & physMask; level--;
        }
    }
}
