using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using SharpBox.Vmm.Iem.Simd;
using SharpBox.Vmm.Tests.Fpu;
using V = System.Runtime.Intrinsics.Vector128<byte>;

namespace SharpBox.Vmm.Tests.Simd;

public unsafe class PcmpStrTests
{
    static delegate* unmanaged<byte*, byte*, void> Routine(byte opcode, byte imm) => HostRef.Routine([
        0x66, 0x0F, 0x6F, 0x0F,                 // movdqa xmm1, [rdi]
        0x66, 0x0F, 0x6F, 0x57, 0x10,           // movdqa xmm2, [rdi+16]
        0x66, 0x0F, 0xEF, 0xC0,                 // pxor xmm0, xmm0
        0x8B, 0x47, 0x20,                       // mov eax, [rdi+32]
        0x8B, 0x57, 0x24,                       // mov edx, [rdi+36]
        0xB9, 0xEE, 0xEE, 0, 0,                 // mov ecx, 0xEEEE
        0x66, 0x0F, 0x3A, opcode, 0xCA, imm,    // pcmpXstrX xmm1, xmm2, imm
        0x9C, 0x58,                             // pushfq; pop rax
        0x48, 0x89, 0x47, 0x30,                 // mov [rdi+48], rax
        0x89, 0x4F, 0x38,                       // mov [rdi+56], ecx
        0x66, 0x0F, 0x7F, 0x47, 0x40,           // movdqa [rdi+64], xmm0
    ]);

    static V Str(Random rng)
    {
        Span<byte> b = stackalloc byte[16];
        int alpha = rng.Next(2, 6);
        for (int i = 0; i < 16; i++) b[i] = (byte)(rng.Next(8) == 0 ? rng.Next(256) : 'a' + rng.Next(alpha));
        if (rng.Next(3) != 0) { int z = rng.Next(16); b[z] = 0; if (rng.Next(2) == 0 && z < 15) b[z + 1] = 0; }
        return Vector128.Create<byte>(b);
    }

    [Fact]
    public void AllFormsAndImmediates_MatchHost()
    {
        var rng = new Random(42);
        byte* blk = (byte*)NativeMemory.AlignedAlloc(128, 16);
        var cache = new Dictionary<int, nint>();
        try
        {
            for (int n = 0; n < 20000; n++)
            {
                byte op = (byte)(0x60 + rng.Next(4));
                byte imm = (byte)rng.Next(128);
                if (!cache.TryGetValue(op << 8 | imm, out var r)) cache[op << 8 | imm] = r = (nint)Routine(op, imm);
                V a = Str(rng), b = Str(rng);
                int eax = rng.Next(4) == 0 ? rng.Next() * (rng.Next(2) == 0 ? -1 : 1) : rng.Next(-20, 21);
                int edx = rng.Next(4) == 0 ? rng.Next() * (rng.Next(2) == 0 ? -1 : 1) : rng.Next(-20, 21);
                *(V*)blk = a; *(V*)(blk + 16) = b; *(int*)(blk + 32) = eax; *(int*)(blk + 36) = edx;
                ((delegate* unmanaged<byte*, byte*, void>)r)(blk, null);
                uint hostFlags = *(uint*)(blk + 48) & 0x8D5;
                uint hostEcx = *(uint*)(blk + 56);
                V hostXmm0 = *(V*)(blk + 64);

                bool explicitLen = op <= 0x61;
                int la = explicitLen ? PcmpStr.ExplicitLength(eax, imm) : PcmpStr.ImplicitLength(a, imm);
                int lb = explicitLen ? PcmpStr.ExplicitLength(edx, imm) : PcmpStr.ImplicitLength(b, imm);
                uint res = PcmpStr.Compare(a, b, la, lb, imm, out uint flags);
                string ctx = $"op {op:X2} imm {imm:X2} a={a} b={b} eax={eax} edx={edx}";
                Assert.True(hostFlags == flags, $"flags host {hostFlags:X} ours {flags:X}: {ctx}");
                if ((op & 1) != 0) Assert.True(hostEcx == PcmpStr.Index(res, imm), $"ecx host {hostEcx} ours {PcmpStr.Index(res, imm)}: {ctx}");
                else Assert.True(hostXmm0 == PcmpStr.Mask(res, imm), $"xmm0 host {hostXmm0} ours {PcmpStr.Mask(res, imm)}: {ctx}");
            }
        }
        finally { NativeMemory.AlignedFree(blk); }
    }
}
