using System.Buffers.Binary;
using Iced.Intel;

namespace SharpBox.Tools.CpuTest.Diff;

/// <summary>Where the sandbox puts things (both executors use the same linear addresses).</summary>
public static class SandboxLayout
{
    public const ulong CodeBase = 0x10000000;
    public const int CodeInsn = 0x800;
    public const ulong InsnAddress = CodeBase + CodeInsn;
    public const ulong DataBase = 0x20000000;
    public const int DataRw = 8192;
    public const int DataRo = 4096;
    public const ulong RoBase = DataBase + DataRw;
    /// <summary>First unmapped address above the data pages (and DataBase - 1 below them).</summary>
    public const ulong HoleBase = RoBase + DataRo;
    public const int MaxPatches = 8;
    public const int MaxPatchLen = 13;
    public const ushort UserCs64 = 0x33, UserCs32 = 0x23, UserDs = 0x2B;

    /// <summary>The data-page generator shared with sandbox.c (xorshift64*).</summary>
    public static void Fill(Span<byte> dst, ulong seed)
    {
        ulong x = seed != 0 ? seed : 0x9E3779B97F4A7C15UL;
        for (int i = 0; i + 8 <= dst.Length; i += 8)
        {
            x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
            BinaryPrimitives.WriteUInt64LittleEndian(dst[i..], x * 0x2545F4914F6CDD1DUL);
        }
    }
}

/// <summary>One test case: an instruction and the complete input state.</summary>
public sealed class DiffCase
{
    public const int WireSize = 816;
    public readonly ulong[] Gpr = new ulong[16];
    public ulong Rflags;
    public ulong Seed;
    public byte[] Code = [];
    public readonly List<(ushort Offset, byte[] Data)> Patches = new();
    public readonly byte[] Fx = new byte[512];
    /// <summary>The instruction as generated (for reports and flag masks).</summary>
    public Instruction Instr;
    public int FormIndex;

    /// <summary>The read/write data pages as the case starts.</summary>
    public void BuildData(Span<byte> dst)
    {
        SandboxLayout.Fill(dst[..SandboxLayout.DataRw], Seed);
        foreach (var (off, data) in Patches) data.CopyTo(dst[off..]);
    }

    public void Write(Span<byte> d)
    {
        d[..WireSize].Clear();
        for (int i = 0; i < 16; i++) BinaryPrimitives.WriteUInt64LittleEndian(d[(8 * i)..], Gpr[i]);
        BinaryPrimitives.WriteUInt64LittleEndian(d[128..], Rflags);
        BinaryPrimitives.WriteUInt64LittleEndian(d[136..], Seed);
        Code.CopyTo(d[144..]);
        d[160] = (byte)Code.Length;
        d[161] = (byte)Patches.Count;
        for (int p = 0; p < Patches.Count; p++)
        {
            var s = d[(176 + 16 * p)..];
            BinaryPrimitives.WriteUInt16LittleEndian(s, Patches[p].Offset);
            s[2] = (byte)Patches[p].Data.Length;
            Patches[p].Data.CopyTo(s[3..]);
        }
        Fx.CopyTo(d[304..]);
    }
}

/// <summary>What happened when one executor ran a case.</summary>
public sealed class Outcome
{
    public readonly ulong[] Gpr = new ulong[16];
    /// <summary>Next instruction (or branch target) on completion; the faulting instruction otherwise.</summary>
    public ulong Rip;
    public ulong Rflags;
    /// <summary>-1 when the instruction completed, else the exception vector; 256 = did not finish in time.</summary>
    public int Vector = -1;
    public ulong ErrorCode;
    public ulong Cr2;
    public readonly byte[] Fx = new byte[512];
    /// <summary>Changed bytes of the read/write data pages: offset → (new, old).</summary>
    public readonly List<(ushort Offset, byte Now, byte Was)> MemDiff = new();

    public const int Timeout = 256;
    public const int FixedWire = 688;

    /// <summary>Parses the sandbox's record (the exception vector is the trap number the kernel reports).</summary>
    public static Outcome ReadNative(ReadOnlySpan<byte> s, out int ndiff)
    {
        var o = new Outcome();
        for (int i = 0; i < 16; i++) o.Gpr[i] = BinaryPrimitives.ReadUInt64LittleEndian(s[(8 * i)..]);
        o.Rip = BinaryPrimitives.ReadUInt64LittleEndian(s[128..]);
        o.Rflags = BinaryPrimitives.ReadUInt64LittleEndian(s[136..]);
        uint signo = BinaryPrimitives.ReadUInt32LittleEndian(s[144..]);
        uint trapno = BinaryPrimitives.ReadUInt32LittleEndian(s[148..]);
        o.ErrorCode = BinaryPrimitives.ReadUInt64LittleEndian(s[152..]);
        o.Cr2 = BinaryPrimitives.ReadUInt64LittleEndian(s[160..]);
        ndiff = (int)BinaryPrimitives.ReadUInt32LittleEndian(s[168..]);
        s.Slice(176, 512).CopyTo(o.Fx);
        o.Vector = signo switch
        {
            0 => -1,
            14 => Timeout,          // SIGALRM
            _ => (int)trapno,
        };
        return o;
    }
}
