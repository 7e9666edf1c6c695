using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Em;

namespace SharpBox.Vmm.Tests.Em;

/// <summary>The MTRRs a direct boot leaves on every CPU, as a PC BIOS would.</summary>
public class FirmwareMtrrTests
{
    [Theory]
    [InlineData(0xC000_0000UL, 0xC000_0000UL, 0xFF_C000_0800UL)]   // 3 GiB of low RAM: 1 GiB hole
    [InlineData(0x1000_0000UL, 0x8000_0000UL, 0xFF_8000_0800UL)]   // 256 MiB: the 2 GiB block below 4 GiB
    [InlineData(0xE000_0000UL, 0xE000_0000UL, 0xFF_E000_0800UL)]   // 3.5 GiB: a 512 MiB hole
    public void HoleIsUncacheableAndTheRestWriteBack(ulong lowRamEnd, ulong base0, ulong mask0)
    {
        var c = new CpuContext();
        BootCpuState.ApplyFirmwareMtrrs(ref c, lowRamEnd, 40);
        Assert.Equal(0xC06UL, c.MtrrDefType);                          // enabled, fixed enabled, WB default
        Assert.Equal(base0, c.MtrrVar[0]);                            // type 0 = UC
        Assert.Equal(mask0, c.MtrrVar[1]);
        for (int i = 2; i < 16; i++) Assert.Equal(0UL, c.MtrrVar[i]);
        Assert.Equal(0UL, c.MtrrFixed[2]);                            // 0xA0000-0xBFFFF uncacheable (VGA)
        foreach (int i in new[] { 0, 1, 3, 10 }) Assert.Equal(0x0606_0606_0606_0606UL, c.MtrrFixed[i]);
        Assert.True(lowRamEnd <= base0);                               // no RAM below 4 GiB is uncacheable
    }
}
