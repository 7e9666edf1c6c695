using System.Text;

namespace SharpBox.Vmm.Dbgf;

/// <summary>
/// osdetect: names the guest OS from what is in its memory. Linux keeps its banner
/// ("Linux version 6.1.0-... (...) #1 SMP ...") in the kernel image; Windows and others are not
/// recognised yet and read as "unknown".
/// </summary>
public static class OsDetect
{
    private static readonly byte[] LinuxBanner = "Linux version "u8.ToArray();

    public static string Detect(IDebugTarget target, IReadOnlyList<(ulong GuestPhys, ulong Size)> memory)
    {
        var buf = new byte[1 << 20];
        foreach (var (start, size) in memory)
        {
            for (ulong off = 0; off < size; off += (ulong)buf.Length - 256)
            {
                int n = target.ReadPhysical(start + off, buf.AsSpan(0, (int)Math.Min((ulong)buf.Length, size - off)));
                var span = buf.AsSpan(0, n);
                int at = span.IndexOf(LinuxBanner);
                while (at >= 0)
                {
                    // The real banner: "Linux version X.Y..." followed by printable text up to a newline.
                    int end = span[at..].IndexOfAny((byte)'\n', (byte)0);
                    if (end > LinuxBanner.Length + 1 && end < 400 && char.IsDigit((char)span[at + LinuxBanner.Length]))
                    {
                        string banner = Encoding.ASCII.GetString(span.Slice(at, end));
                        string version = banner[LinuxBanner.Length..].Split(' ')[0];
                        return $"Linux {version}\n{banner}";
                    }
                    int next = span[(at + 1)..].IndexOf(LinuxBanner);
                    at = next < 0 ? -1 : at + 1 + next;
                }
                if (n == 0) break;
            }
        }
        return "unknown";
    }
}
