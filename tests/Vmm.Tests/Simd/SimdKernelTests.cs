using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using SharpBox.Vmm.Iem.Simd;
using SharpBox.Vmm.Tests.Fpu;
using V = System.Runtime.Intrinsics.Vector128<byte>;

namespace SharpBox.Vmm.Tests.Simd;

/// <summary>
/// Every kernel the catalog registers, checked against the host CPU executing the same instruction on
/// the same random operands (xmm0/mm0 = destination, xmm1/mm1 = source).
/// </summary>
public unsafe class SimdKernelTests
{
    static readonly Dictionary<string, nint> s_routines = new();

    /// <summary>Runs instruction bytes natively: [rdi] = dst in/out, [rdi+16] = src, for XMM and MMX registers alike.</summary>
    internal static void Native(byte[] insn, byte* blk)
    {
        string key = Convert.ToHexString(insn);
        nint r;
        lock (s_routines)
        {
            if (!s_routines.TryGetValue(key, out r))
            {
                var body = new List<byte>();
                body.AddRange([0x66, 0x0F, 0x6F, 0x07]);        // movdqa xmm0, [rdi]
                body.AddRange([0x66, 0x0F, 0x6F, 0x4F, 0x10]);  // movdqa xmm1, [rdi+16]
                body.AddRange([0x0F, 0x6F, 0x07]);              // movq mm0, [rdi]
                body.AddRange([0x0F, 0x6F, 0x4F, 0x10]);        // movq mm1, [rdi+16]
                body.AddRange(insn);
                body.AddRange([0x66, 0x0F, 0x7F, 0x07]);        // movdqa [rdi], xmm0
                body.AddRange([0x0F, 0x7F, 0x47, 0x20]);        // movq [rdi+32], mm0
                body.AddRange([0x0F, 0x77]);                    // emms
                r = (nint)HostRef.Routine(body.ToArray());
                s_routines[key] = r;
            }
        }
        ((delegate* unmanaged<byte*, byte*, void>)r)(blk, null);
    }

    internal static byte[] Encode(byte pfx, byte map, byte opcode, byte modrm, int imm = -1)
    {
        var b = new List<byte>();
        if (pfx == 1) b.Add(0x66); else if (pfx == 2) b.Add(0xF3); else if (pfx == 3) b.Add(0xF2);
        b.Add(0x0F);
        if (map == 2) b.Add(0x38); else if (map == 3) b.Add(0x3A);
        b.Add(opcode); b.Add(modrm);
        if (imm >= 0) b.Add((byte)imm);
        return b.ToArray();
    }

    /// <summary>Operands that exercise saturation, signs and shift-count limits, mixed with plain random bits.</summary>
    internal static V RandomVec(Random rng)
    {
        Span<byte> b = stackalloc byte[16];
        rng.NextBytes(b);
        int mode = rng.Next(6);
        for (int i = 0; i < 16; i++)
        {
            if (mode == 1) b[i] = (byte)(rng.Next(2) == 0 ? 0x7F + rng.Next(3) : 0xFF - rng.Next(3));
            else if (mode == 2) b[i] = (byte)rng.Next(4);
            else if (mode == 3 && i >= 1) b[i] = 0;                     // small shift counts / small values
            else if (mode == 4) b[i] = (byte)(i < 8 ? rng.Next(0x90) : 0);
        }
        return Vector128.Create<byte>(b);
    }

    /// <summary>SSSE3/SSE4.x kernels use the host's instructions; on a host without them the model does not
    /// advertise the extension and the kernel is never reached, so it is not tested either (said, not hidden).</summary>
    static bool HostHas(SimdFeature f) => f switch
    {
        SimdFeature.Ssse3 => (SimdHost.Std1Ecx & Cpum.CpuModel.Ssse3) != 0,
        SimdFeature.Sse41 => (SimdHost.Std1Ecx & Cpum.CpuModel.Sse41) != 0,
        SimdFeature.Sse42 => (SimdHost.Std1Ecx & Cpum.CpuModel.Sse42) != 0,
        _ => true,
    };

    sealed class Case
    {
        public required string Name;
        public required byte[] Insn;
        public required Func<V, V, V> Ours;
        public bool Mmx;
    }

    sealed class Collector : ISimdSink
    {
        public readonly List<Func<Random, Case>> Cases = new();
        static string N<T>() => typeof(T).Name;

        public readonly List<string> Skipped = new();
        bool Skip<T>(SimdFeature f) { if (HostHas(f)) return false; Skipped.Add(typeof(T).Name); return true; }

        public void Vec<T>(byte map, byte opcode, SimdFeature mmx, SimdFeature xmm) where T : struct, IVecOp
        {
            if (Skip<T>(xmm)) return;
            Cases.Add(_ => new Case { Name = N<T>() + " xmm", Insn = Encode(1, map, opcode, 0xC1), Ours = (a, b) => T.X(a, b) });
            Cases.Add(_ => new Case { Name = N<T>() + " mm", Insn = Encode(0, map, opcode, 0xC1), Mmx = true,
                Ours = (a, b) => Vector128.CreateScalar(T.M(a.AsUInt64()[0], b.AsUInt64()[0])).AsByte() });
        }
        public void Xmm<T>(byte map, byte opcode, byte pfx, SimdFeature f, int memSize) where T : struct, IXmmOp
        {
            if (!Skip<T>(f)) Cases.Add(_ => new Case { Name = N<T>(), Insn = Encode(pfx, map, opcode, 0xC1), Ours = (a, b) => T.X(a, b) });
        }
        public void XmmImm<T>(byte map, byte opcode, byte pfx, SimdFeature f) where T : struct, IXmmImmOp
        {
            if (!Skip<T>(f)) Cases.Add(rng => { byte i = (byte)rng.Next(256); return new Case { Name = $"{N<T>()} imm {i:X2}", Insn = Encode(pfx, map, opcode, 0xC1, i), Ours = (a, b) => T.X(a, b, i) }; });
        }
        public void VecImm<T>(byte map, byte opcode, SimdFeature mmx, SimdFeature xmm) where T : struct, IVecImmOp
        {
            if (Skip<T>(xmm)) return;
            Cases.Add(rng => { byte i = SmallImm(rng); return new Case { Name = $"{N<T>()} xmm imm {i:X2}", Insn = Encode(1, map, opcode, 0xC1, i), Ours = (a, b) => T.X(a, b, i) }; });
            Cases.Add(rng => { byte i = SmallImm(rng); return new Case { Name = $"{N<T>()} mm imm {i:X2}", Insn = Encode(0, map, opcode, 0xC1, i), Mmx = true,
                Ours = (a, b) => Vector128.CreateScalar(T.M(a.AsUInt64()[0], b.AsUInt64()[0], i)).AsByte() }; });
        }
        public void VecShift<T>(byte opcode, int reg, SimdFeature mmx, SimdFeature xmm) where T : struct, IVecShiftImm
        {
            Cases.Add(rng => { byte i = SmallImm(rng); return new Case { Name = $"{N<T>()} xmm {i}", Insn = Encode(1, 1, opcode, (byte)(0xC0 | reg << 3), i), Ours = (a, b) => T.X(a, i) }; });
            Cases.Add(rng => { byte i = SmallImm(rng); return new Case { Name = $"{N<T>()} mm {i}", Insn = Encode(0, 1, opcode, (byte)(0xC0 | reg << 3), i), Mmx = true,
                Ours = (a, b) => Vector128.CreateScalar(T.M(a.AsUInt64()[0], i)).AsByte() }; });
        }
        public void XmmShift<T>(byte opcode, int reg, SimdFeature f) where T : struct, IXmmShiftImm =>
            Cases.Add(rng => { byte i = SmallImm(rng); return new Case { Name = $"{N<T>()} {i}", Insn = Encode(1, 1, opcode, (byte)(0xC0 | reg << 3), i), Ours = (a, b) => T.X(a, i) }; });

        static byte SmallImm(Random rng) => (byte)(rng.Next(4) == 0 ? rng.Next(256) : rng.Next(70));
    }

    [Fact]
    public void EveryCatalogKernel_MatchesHost()
    {
        var col = new Collector();
        SimdCatalog.Describe(col);
        if (col.Skipped.Count > 0)
            Console.WriteLine($"SimdKernelTests: this host lacks the extension of {col.Skipped.Count} kernels (not advertised, not tested): {string.Join(", ", col.Skipped)}");
        Assert.True(col.Cases.Count > (col.Skipped.Count > 0 ? 100 : 150));
        var rng = new Random(20240601);
        byte* blk = (byte*)NativeMemory.AlignedAlloc(64, 16);
        try
        {
            var failures = new List<string>();
            foreach (var make in col.Cases)
            {
                for (int n = 0; n < 200; n++)
                {
                    var c = make(rng);
                    V a = RandomVec(rng), b = RandomVec(rng);
                    *(V*)blk = a; *(V*)(blk + 16) = b;
                    Native(c.Insn, blk);
                    V host = c.Mmx ? Vector128.CreateScalar(*(ulong*)(blk + 32)).AsByte() : *(V*)blk;
                    V ours = c.Ours(a, b);
                    if (host != ours)
                    {
                        failures.Add($"{c.Name} [{Convert.ToHexString(c.Insn)}] a={a} b={b}: host {host}, ours {ours}");
                        break;
                    }
                }
            }
            Assert.True(failures.Count == 0, string.Join("\n", failures));
        }
        finally { NativeMemory.AlignedFree(blk); }
    }
}
