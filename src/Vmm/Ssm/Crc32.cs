using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SharpBox.Vmm.Ssm;

/// <summary>
/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) guarding each saved-state unit. A saved state
/// is mostly guest RAM, and the byte-at-a-time table loop (~200 MB/s here) was most of the time a
/// 256 MiB savestate or restore took; blocks of 64 bytes and more are folded with carry-less
/// multiplication (PCLMULQDQ, ~5 GB/s), the rest runs eight bytes at a time with eight tables
/// ("slicing-by-8", ~1 GB/s, also the fallback without PCLMULQDQ).
/// </summary>
public static class Crc32
{
    // s_table[k * 256 + b]: the CRC of byte b followed by k zero bytes.
    private static readonly uint[] s_table = BuildTable();

    private static uint[] BuildTable()
    {
        var t = new uint[8 * 256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        for (int i = 0; i < 256; i++)
            for (int k = 1; k < 8; k++)
            {
                uint c = t[(k - 1) * 256 + i];
                t[k * 256 + i] = (c >> 8) ^ t[c & 0xFF];
            }
        return t;
    }

    /// <summary>Continues a running CRC (start with 0).</summary>
    public static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        crc = ~crc;
        if (data.Length >= 64 && Pclmulqdq.IsSupported)
        {
            int n = data.Length & ~15;
            crc = Fold(crc, data[..n]);
            data = data[n..];
        }
        ref uint t = ref s_table[0];
        int i = 0;
        for (; i + 8 <= data.Length; i += 8)
        {
            ulong v = BinaryPrimitives.ReadUInt64LittleEndian(data[i..]);
            uint lo = (uint)v ^ crc, hi = (uint)(v >> 32);
            crc = Unsafe.Add(ref t, 7 * 256 + (int)(lo & 0xFF)) ^ Unsafe.Add(ref t, 6 * 256 + (int)((lo >> 8) & 0xFF))
                ^ Unsafe.Add(ref t, 5 * 256 + (int)((lo >> 16) & 0xFF)) ^ Unsafe.Add(ref t, 4 * 256 + (int)(lo >> 24))
                ^ Unsafe.Add(ref t, 3 * 256 + (int)(hi & 0xFF)) ^ Unsafe.Add(ref t, 2 * 256 + (int)((hi >> 8) & 0xFF))
                ^ Unsafe.Add(ref t, 256 + (int)((hi >> 16) & 0xFF)) ^ Unsafe.Add(ref t, (int)(hi >> 24));
        }
        for (; i < data.Length; i++)
            crc = Unsafe.Add(ref t, (int)((crc ^ data[i]) & 0xFF)) ^ (crc >> 8);
        return ~crc;
    }

    /// <summary>
    /// The CRC (not inverted) of <paramref name="data"/> (at least 64 bytes, a multiple of 16) continuing
    /// <paramref name="crc"/>: four 128-bit lanes folded 64 bytes at a time, then into one lane, then
    /// reduced to 32 bits (Barrett). The constants are x^n mod P for the reflected polynomial, as in
    /// Intel's "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ".
    /// </summary>
    private static uint Fold(uint crc, ReadOnlySpan<byte> data)
    {
        var k12 = Vector128.Create(0x154442bd4UL, 0x1c6e41596UL);
        var k34 = Vector128.Create(0x1751997d0UL, 0x0ccaa009eUL);
        ref byte p = ref MemoryMarshal.GetReference(data);
        nuint n = (nuint)data.Length;
        var x0 = Vector128.LoadUnsafe(ref p, 0).AsUInt64() ^ Vector128.CreateScalar((ulong)crc);
        var x1 = Vector128.LoadUnsafe(ref p, 16).AsUInt64();
        var x2 = Vector128.LoadUnsafe(ref p, 32).AsUInt64();
        var x3 = Vector128.LoadUnsafe(ref p, 48).AsUInt64();
        nuint i = 64;
        for (; i + 64 <= n; i += 64)
        {
            x0 = Step(x0, k12, Vector128.LoadUnsafe(ref p, i).AsUInt64());
            x1 = Step(x1, k12, Vector128.LoadUnsafe(ref p, i + 16).AsUInt64());
            x2 = Step(x2, k12, Vector128.LoadUnsafe(ref p, i + 32).AsUInt64());
            x3 = Step(x3, k12, Vector128.LoadUnsafe(ref p, i + 48).AsUInt64());
        }
        var x = Step(Step(Step(x0, k34, x1), k34, x2), k34, x3);
        for (; i + 16 <= n; i += 16)
            x = Step(x, k34, Vector128.LoadUnsafe(ref p, i).AsUInt64());
        // 128 -> 64 bits, 64 -> 32 bits, then Barrett reduction with P' and u'.
        var mask32 = Vector128.Create(0xFFFFFFFFUL, 0UL);
        x = Pclmulqdq.CarrylessMultiply(x, k34, 0x10) ^ Sse2.ShiftRightLogical128BitLane(x, 8);
        x = Pclmulqdq.CarrylessMultiply(x & mask32, Vector128.CreateScalar(0x163cd6124UL), 0x00) ^ Sse2.ShiftRightLogical128BitLane(x, 4);
        var pu = Vector128.Create(0x1DB710641UL, 0x1F7011641UL);
        var t = Pclmulqdq.CarrylessMultiply(x & mask32, pu, 0x10);
        t = Pclmulqdq.CarrylessMultiply(t & mask32, pu, 0x00) ^ x;
        return t.AsUInt32().GetElement(1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<ulong> Step(Vector128<ulong> x, Vector128<ulong> k, Vector128<ulong> next)
        => Pclmulqdq.CarrylessMultiply(x, k, 0x00) ^ Pclmulqdq.CarrylessMultiply(x, k, 0x11) ^ next;
}
