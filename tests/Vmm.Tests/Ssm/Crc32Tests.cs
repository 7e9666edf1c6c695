using SharpBox.Vmm.Ssm;

namespace SharpBox.Vmm.Tests.Ssm;

/// <summary>The folded/sliced CRC-32 gives the standard IEEE CRC (saved states written before it stay readable).</summary>
public class Crc32Tests
{
    private static uint Reference(uint crc, ReadOnlySpan<byte> data)
    {
        crc = ~crc;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
                crc = (crc & 1) != 0 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
        }
        return ~crc;
    }

    [Fact]
    public void CheckValue()
    {
        Assert.Equal(0xCBF43926u, Crc32.Update(0, "123456789"u8));
        Assert.Equal(0u, Crc32.Update(0, ReadOnlySpan<byte>.Empty));
    }

    [Fact]
    public void MatchesTheBitwiseDefinitionForEveryLengthAndSplit()
    {
        var rng = new Random(6);
        var data = new byte[1000];
        rng.NextBytes(data);
        for (int len = 0; len <= 300; len++)
            for (int start = 0; start < 3; start++)
            {
                uint seed = (uint)rng.Next();
                Assert.Equal(Reference(seed, data.AsSpan(start, len)), Crc32.Update(seed, data.AsSpan(start, len)));
            }
        uint whole = Reference(0, data);
        Assert.Equal(whole, Crc32.Update(0, data));
        for (int split = 0; split <= data.Length; split += 37)
            Assert.Equal(whole, Crc32.Update(Crc32.Update(0, data.AsSpan(0, split)), data.AsSpan(split)));
    }
}
