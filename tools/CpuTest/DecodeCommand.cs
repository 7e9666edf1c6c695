using Iced.Intel;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Iem;
using IcedDecoder = Iced.Intel.Decoder;
using OurDecoder = SharpBox.Vmm.Iem.Decoder;

namespace SharpBox.Tools.CpuTest;

/// <summary>
/// Compares our decoder with Iced on random byte strings (biased towards prefixes and the 0F maps):
/// instruction length, validity (for forms whose CPUID features the model advertises), memory
/// operand (base, index, scale, displacement, segment), immediates and branch targets.
/// </summary>
public sealed class DecodeCommand : ICommand
{
    public string Name => "decode";
    public string Usage => "decode [--seed S] [--count N] [--mode 16|32|64|all] [--max-failures N] [--verbose]   compare the decoder with Iced";

    // CPUID features whose instructions our CPU claims (all the integer ISA; x87/MMX/SSE are reported
    // separately as "not yet registered" until their handlers exist).
    private static readonly HashSet<CpuidFeature> Integer = new()
    {
        CpuidFeature.INTEL8086, CpuidFeature.INTEL186, CpuidFeature.INTEL286, CpuidFeature.INTEL386, CpuidFeature.INTEL486,
        CpuidFeature.X64, CpuidFeature.CMOV, CpuidFeature.CX8, CpuidFeature.CMPXCHG16B, CpuidFeature.CPUID, CpuidFeature.MSR,
        CpuidFeature.TSC, CpuidFeature.RDTSCP, CpuidFeature.SYSCALL, CpuidFeature.SEP, CpuidFeature.POPCNT, CpuidFeature.LZCNT,
        CpuidFeature.MOVBE, CpuidFeature.SMAP, CpuidFeature.FSGSBASE, CpuidFeature.PAUSE, CpuidFeature.MULTIBYTENOP,
        CpuidFeature.CLFSH, CpuidFeature.PREFETCHW, CpuidFeature.RDPMC,
    };
    private static readonly HashSet<CpuidFeature> FpuSimd = new()
    {
        CpuidFeature.FPU, CpuidFeature.FPU287, CpuidFeature.FPU387, CpuidFeature.MMX, CpuidFeature.SSE, CpuidFeature.SSE2,
        CpuidFeature.FXSR, CpuidFeature.SSE3, CpuidFeature.SSSE3, CpuidFeature.SSE4_1, CpuidFeature.SSE4_2,
    };

    private static bool s_verbose;

    public int Run(string[] args)
    {
        int seed = 1, count = 100000, maxFailures = 20;
        var modes = new List<int> { 16, 32, 64 };
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new UsageException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--seed": if (!int.TryParse(Next(), out seed)) throw new UsageException("--seed needs an integer"); break;
                case "--count": if (!int.TryParse(Next(), out count) || count < 0) throw new UsageException("--count needs a non-negative integer"); break;
                case "--verbose": s_verbose = true; break;
                case "--max-failures": if (!int.TryParse(Next(), out maxFailures)) throw new UsageException("--max-failures needs an integer"); break;
                case "--mode":
                    string m = Next();
                    modes = m switch
                    {
                        "16" => new() { 16 }, "32" => new() { 32 }, "64" => new() { 64 }, "all" => new() { 16, 32, 64 },
                        _ => throw new UsageException($"--mode must be 16, 32, 64 or all, not '{m}'"),
                    };
                    break;
                default: throw new UsageException($"unknown argument '{args[i]}'");
            }
        }

        var rng = new Random(seed);
        var table = HandlerTable.Default;
        var buf = new byte[15];
        int passed = 0, failed = 0, printed = 0;
        long compared = 0, skippedOther = 0, fpuPending = 0;
        for (int n = 0; n < count; n++)
        {
            int bits = modes[n % modes.Count];
            Fill(rng, buf, bits);
            var dec = IcedDecoder.Create(bits, new ByteArrayCodeReader(buf), 0, DecoderOptions.None);
            dec.Decode(out var ins);
            var mode = bits == 64 ? CodeMode.Bits64 : bits == 32 ? CodeMode.Bits32 : CodeMode.Bits16;
            var d = new DecodedInstr();
            int len = OurDecoder.Decode(buf, mode, table, ref d);
            string? why = Check(ins, d, len, bits, ref compared, ref skippedOther, ref fpuPending);
            if (why == null) passed++;
            else
            {
                failed++;
                if (printed++ < maxFailures)
                    Console.WriteLine($"FAIL {bits}-bit {Convert.ToHexString(buf)}: iced '{(ins.IsInvalid ? "(invalid)" : ins.ToString())}' len {ins.Length}; ours len {len} flags {d.Flags}: {why}");
            }
        }
        Console.WriteLine($"decode: {compared} instructions compared in full, {skippedOther} outside the advertised ISA (VEX/EVEX/XOP/3DNow!/unadvertised features) checked to be #UD, {fpuPending} x87/MMX/SSE forms without handlers yet");
        Console.WriteLine($"{passed} passed, {failed} failed");
        return failed == 0 ? 0 : 1;
    }

    private static readonly byte[] Prefixes = { 0x66, 0x67, 0xF2, 0xF3, 0xF0, 0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65 };

    private static void Fill(Random rng, byte[] buf, int bits)
    {
        rng.NextBytes(buf);
        int p = 0;
        int np = rng.Next(4) == 0 ? rng.Next(1, 4) : 0;
        for (int i = 0; i < np; i++) buf[p++] = Prefixes[rng.Next(Prefixes.Length)];
        if (bits == 64 && rng.Next(3) == 0) buf[p++] = (byte)(0x40 | rng.Next(16));
        int r = rng.Next(10);
        if (r < 3) buf[p++] = 0x0F;
        else if (r == 3) { buf[p++] = 0x0F; buf[p++] = rng.Next(2) == 0 ? (byte)0x38 : (byte)0x3A; }
    }

    private static string? Check(in Instruction ins, in DecodedInstr d, int len, int bits, ref long compared, ref long skippedOther, ref long fpuPending)
    {
        bool oursValid = (d.Flags & InstrFlags.Invalid) == 0;
        bool tooLong = (d.Flags & InstrFlags.TooLong) != 0;
        if (ins.IsInvalid)
        {
            // Iced rejects it: we must not execute it either (our #UD/#GP handlers, or the FPU/SSE defaults, are fine).
            if (oursValid && !IsDefaultHandler(d)) return "Iced says invalid, we would execute it";
            return null;
        }
        if (ins.Encoding != EncodingKind.Legacy)
        {
            skippedOther++;
            return oursValid && !IsDefaultHandler(d) ? $"{ins.Encoding} instruction not advertised but we would execute it" : null;
        }
        // UD0/UD1/UD2 are architecturally #UD: Iced names them, we decode them as invalid.
        if (ins.Mnemonic is Mnemonic.Ud0 or Mnemonic.Ud1 or Mnemonic.Ud2)
            return oursValid ? "UDn must raise #UD" : (len == ins.Length ? null : $"length {len} != {ins.Length}");
        // The 0F 18..1F hint space executes as NOP on CPUs without the newer hints (CLDEMOTE, PREFETCHIT*, ...).
        if (ins.Encoding == EncodingKind.Legacy && d.Map == OpMap.Map0F && d.Opcode is >= 0x18 and <= 0x1F && oursValid)
            return len == ins.Length ? null : $"length {len} != {ins.Length}";
        // Encodings that CPUs without the feature run as an older instruction (prefix ignored): F3 0F BC
        // TZCNT is BSF without BMI1, F3 0F 09 WBNOINVD is WBINVD, 0F 0D /2 PREFETCHWT1 is a prefetch NOP.
        if (ins.Mnemonic is Mnemonic.Tzcnt or Mnemonic.Wbnoinvd or Mnemonic.Prefetchwt1)
            return !oursValid ? "older-instruction fallback decodes as #UD" : len == ins.Length ? null : $"length {len} != {ins.Length}";
        var feats = ins.Code.CpuidFeatures();
        bool integer = feats.All(Integer.Contains);
        bool fpu = !integer && feats.All(f => Integer.Contains(f) || FpuSimd.Contains(f));
        if (!integer && !fpu)
        {
            skippedOther++;
            return oursValid && !IsDefaultHandler(d) ? $"needs {string.Join(",", feats)} (not advertised) but we would execute it" : null;
        }
        if (tooLong) return "we say longer than 15 bytes";
        if (len != ins.Length) return $"length {len} != {ins.Length}";
        if (!oursValid || IsDefaultHandler(d))
        {
            if (fpu) { fpuPending++; if (s_verbose) Console.WriteLine($"pending: {ins.Code} ({string.Join(",", feats)}) {ins}"); return null; }
            return "valid integer instruction we decode as #UD";
        }
        compared++;
        return CompareOperands(ins, d, bits);
    }

    private static bool IsDefaultHandler(in DecodedInstr d) => (d.Flags & InstrFlags.Unimplemented) != 0;

    private static int RegIndex(Register r)
    {
        if (r == Register.None) return 16;
        if (r is Register.RIP or Register.EIP) return 17;
        var full = r.GetFullRegister();
        if (full >= Register.RAX && full <= Register.R15) return full - Register.RAX;
        return -1;
    }

    private static string? CompareOperands(in Instruction ins, in DecodedInstr d, int bits)
    {
        ulong addrMask = d.AddrSize == 8 ? ulong.MaxValue : d.AddrSize == 4 ? 0xFFFFFFFF : 0xFFFF;
        for (int i = 0; i < ins.OpCount; i++)
        {
            var k = ins.GetOpKind(i);
            switch (k)
            {
                case OpKind.Memory:
                {
                    if (ins.Mnemonic == Mnemonic.Xlatb) break;   // Iced models [rBX+AL]; our handler computes it itself
                    if ((d.Flags & InstrFlags.Mem) == 0) return "Iced has a memory operand, we do not";
                    int b = RegIndex(ins.MemoryBase), x = RegIndex(ins.MemoryIndex);
                    if (b != d.Base) return $"base {ins.MemoryBase} != our {d.Base}";
                    if (x != d.Index) return $"index {ins.MemoryIndex} != our {d.Index}";
                    if (x != 16 && ins.MemoryIndexScale != 1 << d.Scale) return $"scale {ins.MemoryIndexScale} != {1 << d.Scale}";
                    ulong ourDisp = (ulong)d.Disp;
                    if (b == 17) ourDisp = (ourDisp + d.Length) & addrMask;   // Iced reports the RIP-relative target (ip 0)
                    if ((ourDisp & addrMask) != (ins.MemoryDisplacement64 & addrMask)) return $"displacement {ins.MemoryDisplacement64:X} != our {ourDisp & addrMask:X}";
                    int seg = ins.MemorySegment - Register.ES;
                    // In 64-bit mode Iced still reports ES/CS/SS/DS overrides; the CPU ignores them (bases are 0).
                    if (seg != d.Seg && !(bits == 64 && seg < 4 && d.Seg < 4)) return $"segment {ins.MemorySegment} != our {d.Seg}";
                    break;
                }
                case OpKind.Immediate8: case OpKind.Immediate16: case OpKind.Immediate32: case OpKind.Immediate64:
                case OpKind.Immediate8to16: case OpKind.Immediate8to32: case OpKind.Immediate8to64: case OpKind.Immediate32to64:
                {
                    ulong want = ins.GetImmediate(i);
                    if (d.Map == OpMap.Primary && d.Opcode is 0xD0 or 0xD1) break;   // shift by 1: implied by the opcode
                    int width = k switch { OpKind.Immediate8 => 8, OpKind.Immediate16 or OpKind.Immediate8to16 => 16, OpKind.Immediate32 or OpKind.Immediate8to32 => 32, _ => 64 };
                    ulong m = width == 64 ? ulong.MaxValue : (1UL << width) - 1;
                    // ENTER's second immediate and far pointers are elsewhere.
                    if (ins.Mnemonic == Mnemonic.Enter && i == 1) { if ((ulong)d.Imm2 != want) return $"imm2 {want:X} != {d.Imm2:X}"; break; }
                    if ((d.Imm & m) != (want & m)) return $"immediate {want & m:X} != our {d.Imm & m:X}";
                    break;
                }
                case OpKind.NearBranch16: case OpKind.NearBranch32: case OpKind.NearBranch64:
                {
                    ulong m = k == OpKind.NearBranch16 ? 0xFFFF : k == OpKind.NearBranch32 ? 0xFFFFFFFF : ulong.MaxValue;
                    ulong ours = ((ulong)d.Length + (ulong)d.Disp) & m;
                    if (ours != (ins.NearBranchTarget & m)) return $"branch target {ins.NearBranchTarget:X} != our {ours:X}";
                    break;
                }
                case OpKind.FarBranch16: case OpKind.FarBranch32:
                    if (ins.FarBranchSelector != d.Imm2 || (k == OpKind.FarBranch16 ? ins.FarBranch16 : ins.FarBranch32) != (uint)d.Imm)
                        return $"far pointer {ins.FarBranchSelector:X}:{ins.FarBranch32:X} != our {d.Imm2:X}:{d.Imm:X}";
                    break;
            }
        }
        return null;
    }
}
