namespace SharpBox.Vmm.Cpum;

/// <summary>One CPUID leaf/sub-leaf result, as KVM_SET_CPUID2 and the software CPU both consume it.</summary>
public readonly record struct CpuidLeaf(uint Leaf, uint SubLeaf, bool Indexed, uint Eax, uint Ebx, uint Ecx, uint Edx);

/// <summary>
/// The CPU a guest sees, identical on either engine: vendor, signature, feature bits and the CPUID
/// leaves derived from them. Features are advertised only when both engines implement them (the
/// flags below are switched on as IEM implements and tests each one). One instance per VM; the
/// APIC id is the only per-vCPU input.
/// </summary>
public sealed class CpuModel
{
    // CPUID.1:EDX
    public const uint Fpu = 1u << 0, Vme = 1u << 1, De = 1u << 2, Pse = 1u << 3, Tsc = 1u << 4,
        MsrBit = 1u << 5, Pae = 1u << 6, Mce = 1u << 7, Cx8 = 1u << 8, Apic = 1u << 9, Sep = 1u << 11,
        Mtrr = 1u << 12, Pge = 1u << 13, Mca = 1u << 14, Cmov = 1u << 15, PatBit = 1u << 16,
        Pse36 = 1u << 17, Clfsh = 1u << 19, Mmx = 1u << 23, Fxsr = 1u << 24, Sse = 1u << 25,
        Sse2 = 1u << 26, Htt = 1u << 28;
    // CPUID.1:ECX
    public const uint Sse3 = 1u << 0, Pclmul = 1u << 1, Ssse3 = 1u << 9, Cx16 = 1u << 13,
        Sse41 = 1u << 19, Sse42 = 1u << 20, Movbe = 1u << 22, Popcnt = 1u << 23, Xsave = 1u << 26,
        Osxsave = 1u << 27, Hypervisor = 1u << 31;
    // CPUID.7.0:EBX
    public const uint FsGsBase = 1u << 0, Smep = 1u << 7, Erms = 1u << 9, Smap = 1u << 20;
    // CPUID.80000001:EDX / ECX
    public const uint Syscall = 1u << 11, Nx = 1u << 20, Page1G = 1u << 26, Rdtscp = 1u << 27, Lm = 1u << 29;
    public const uint LahfLm = 1u << 0, Abm = 1u << 5, Prefetchw = 1u << 8;

    public string Vendor { get; init; } = "GenuineIntel";
    /// <summary>CPUID.1:EAX. Family 15 model 6 stepping 1, like QEMU's kvm64: a generic Intel CPU Linux applies no model quirks to.</summary>
    public uint Signature { get; init; } = 0x00000F61;
    public uint Std1Edx { get; set; } = Fpu | Pse | Tsc | MsrBit | Pae | Cx8 | Apic | Sep | Mtrr | Pge | Cmov |
        PatBit | Pse36 | Clfsh | Mmx | Fxsr | Sse | Sse2;
    /// <summary>SSE3/SSSE3/SSE4.1/SSE4.2 come from <see cref="Iem.Simd.SimdHost"/>: IEM runs them with the host's own instructions.</summary>
    public uint Std1Ecx { get; set; } = Cx16 | Movbe | Popcnt | Hypervisor | Iem.Simd.SimdHost.Std1Ecx;
    public uint Std7Ebx { get; set; } = Smep | Erms | Smap | FsGsBase;
    public uint Ext1Edx { get; set; } = Syscall | Nx | Page1G | Rdtscp | Lm;
    public uint Ext1Ecx { get; set; } = LahfLm | Abm | Prefetchw;
    public int PhysAddrBits { get; init; } = 40;
    public int LinearAddrBits { get; init; } = 48;
    public int CpuCount { get; init; } = 1;
    public string Brand { get; init; } = "SharpBox Virtual CPU";
    /// <summary>TSC frequency the guest is told about (Hz); the platform's TSC source ticks at this rate.</summary>
    public ulong TscHz { get; init; } = 1_000_000_000;

    public bool Has1Edx(uint bit) => (Std1Edx & bit) != 0;
    public bool Has1Ecx(uint bit) => (Std1Ecx & bit) != 0;
    public bool Has7Ebx(uint bit) => (Std7Ebx & bit) != 0;
    public bool HasExt1Edx(uint bit) => (Ext1Edx & bit) != 0;
    public bool HasExt1Ecx(uint bit) => (Ext1Ecx & bit) != 0;
    public ulong PhysAddrMask => (1UL << PhysAddrBits) - 1;

    private const uint MaxStd = 0xD, MaxExt = 0x80000008;

    /// <summary>Executes CPUID for the vCPU with the given APIC id.</summary>
    public void Cpuid(uint leaf, uint sub, uint apicId, out uint eax, out uint ebx, out uint ecx, out uint edx)
    {
        eax = ebx = ecx = edx = 0;
        // Intel: a leaf above the maximum returns the highest basic leaf's data.
        if (leaf > MaxStd && leaf < 0x40000000) leaf = MaxStd;
        if (leaf >= 0x40000000 && leaf < 0x80000000) return;   // no paravirtual interface
        if (leaf > MaxExt) leaf = MaxStd;
        switch (leaf)
        {
            case 0:
                eax = MaxStd; VendorRegs(out ebx, out edx, out ecx); break;
            case 1:
                eax = Signature;
                ebx = (apicId << 24) | ((uint)Math.Max(CpuCount, 1) << 16) | (8u << 8);   // CLFLUSH line 64 bytes
                ecx = Std1Ecx;
                edx = Std1Edx | (CpuCount > 1 ? Htt : 0);
                break;
            case 2:
                eax = 0x00000001; ebx = 0; ecx = 0; edx = 0x002C307D;   // leaf-4 is authoritative; a few legacy descriptors
                break;
            case 4:
                switch (sub)
                {   // L1d 32K 8-way, L1i 32K 8-way, L2 1M 16-way, shared by nothing (one core per package)
                    case 0: eax = 0x121 | ((uint)(CpuCount - 1) << 26); ebx = (7u << 22) | 63; ecx = 63; break;
                    case 1: eax = 0x122 | ((uint)(CpuCount - 1) << 26); ebx = (7u << 22) | 63; ecx = 63; break;
                    case 2: eax = 0x143 | ((uint)(CpuCount - 1) << 26); ebx = (15u << 22) | 63; ecx = 1023; break;
                }
                break;
            case 7:
                if (sub == 0) ebx = Std7Ebx;
                break;
            case 0x80000000: eax = MaxExt; break;
            case 0x80000001: ecx = Ext1Ecx; edx = Ext1Edx; break;
            case 0x80000002: case 0x80000003: case 0x80000004:
                BrandRegs((int)(leaf - 0x80000002), out eax, out ebx, out ecx, out edx); break;
            case 0x80000006: ecx = (1024u << 16) | (6u << 12) | 64; break;   // L2 1 MiB, 8-way, 64-byte lines
            case 0x80000007: edx = 1u << 8; break;                             // invariant TSC
            case 0x80000008: eax = (uint)PhysAddrBits | ((uint)LinearAddrBits << 8); break;
        }
    }

    /// <summary>Every leaf the model defines, for engines that load CPUID up front (KVM_SET_CPUID2).</summary>
    public List<CpuidLeaf> AllLeaves(uint apicId)
    {
        var list = new List<CpuidLeaf>();
        void Add(uint leaf, uint sub, bool indexed)
        {
            Cpuid(leaf, sub, apicId, out var a, out var b, out var c, out var d);
            list.Add(new CpuidLeaf(leaf, sub, indexed, a, b, c, d));
        }
        for (uint l = 0; l <= MaxStd; l++)
        {
            if (l == 4) { for (uint s = 0; s < 4; s++) Add(l, s, true); }
            else if (l == 7 || l == 0xD) Add(l, 0, true);
            else Add(l, 0, false);
        }
        for (uint l = 0x80000000; l <= MaxExt; l++) Add(l, 0, false);
        return list;
    }

    private void VendorRegs(out uint ebx, out uint edx, out uint ecx)
    {
        Span<byte> v = stackalloc byte[12];
        for (int i = 0; i < 12; i++) v[i] = i < Vendor.Length ? (byte)Vendor[i] : (byte)' ';
        ebx = BitConverter.ToUInt32(v[..4]); edx = BitConverter.ToUInt32(v[4..8]); ecx = BitConverter.ToUInt32(v[8..12]);
    }

    private void BrandRegs(int part, out uint eax, out uint ebx, out uint ecx, out uint edx)
    {
        Span<byte> b = stackalloc byte[16];
        for (int i = 0; i < 16; i++)
        {
            int k = part * 16 + i;
            b[i] = k < Brand.Length && k < 47 ? (byte)Brand[k] : (byte)0;
        }
        eax = BitConverter.ToUInt32(b[..4]); ebx = BitConverter.ToUInt32(b[4..8]);
        ecx = BitConverter.ToUInt32(b[8..12]); edx = BitConverter.ToUInt32(b[12..16]);
    }
}
