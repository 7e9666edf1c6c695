using System.Globalization;

namespace SharpBox.Runtime;

/// <summary>Facts about the Linux host, read from /proc and /sys.</summary>
public static class HostSystem
{
    /// <summary>One logical processor as /proc/cpuinfo describes it.</summary>
    public sealed record Processor(int Index, string Description, uint SpeedMHz, int CoreId, int PhysicalId, IReadOnlySet<string> Flags);

    /// <summary>All logical processors listed in /proc/cpuinfo (empty when it cannot be read).</summary>
    public static IReadOnlyList<Processor> Processors()
    {
        var result = new List<Processor>();
        string text;
        try { text = File.ReadAllText("/proc/cpuinfo"); }
        catch (IOException) { return result; }

        foreach (string block in text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            int index = -1, coreId = -1, physId = 0;
            string desc = "";
            uint mhz = 0;
            IReadOnlySet<string> flags = new HashSet<string>();
            foreach (string line in block.Split('\n'))
            {
                int colon = line.IndexOf(':');
                if (colon < 0)
                    continue;
                string key = line[..colon].Trim();
                string value = line[(colon + 1)..].Trim();
                switch (key)
                {
                    case "processor": int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out index); break;
                    case "model name": desc = value; break;
                    case "cpu MHz":
                        if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double d))
                            mhz = (uint)Math.Round(d);
                        break;
                    case "core id": int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out coreId); break;
                    case "physical id": int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out physId); break;
                    case "flags": flags = new HashSet<string>(value.Split(' ', StringSplitOptions.RemoveEmptyEntries)); break;
                }
            }
            if (index >= 0)
                result.Add(new Processor(index, desc, mhz, coreId, physId, flags));
        }
        return result;
    }

    /// <summary>Number of online logical processors.</summary>
    public static int OnlineProcessorCount => Environment.ProcessorCount;

    /// <summary>Number of distinct (package, core) pairs, or the logical count when unknown.</summary>
    public static int CoreCount(IReadOnlyList<Processor> processors)
    {
        var cores = new HashSet<(int, int)>();
        foreach (Processor p in processors)
            if (p.CoreId >= 0)
                cores.Add((p.PhysicalId, p.CoreId));
        return cores.Count > 0 ? cores.Count : Math.Max(processors.Count, OnlineProcessorCount);
    }

    /// <summary>MemTotal and MemAvailable from /proc/meminfo, in MiB (0 when unknown).</summary>
    public static (ulong TotalMiB, ulong AvailableMiB) Memory()
    {
        ulong total = 0, avail = 0;
        try
        {
            foreach (string line in File.ReadLines("/proc/meminfo"))
            {
                if (line.StartsWith("MemTotal:", StringComparison.Ordinal))
                    total = ParseKiB(line) / 1024;
                else if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                    avail = ParseKiB(line) / 1024;
            }
        }
        catch (IOException) { }
        return (total, avail);
    }

    private static ulong ParseKiB(string line)
    {
        string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length >= 2 && ulong.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out ulong v) ? v : 0;
    }

    /// <summary>Kernel release and version strings (uname -r, uname -v).</summary>
    public static string KernelVersion()
    {
        string Read(string p)
        {
            try { return File.ReadAllText(p).Trim(); }
            catch (IOException) { return ""; }
        }
        string release = Read("/proc/sys/kernel/osrelease");
        string version = Read("/proc/sys/kernel/version");
        return $"{release} {version}".Trim();
    }

    /// <summary>True when /dev/kvm exists and can be opened for reading and writing.</summary>
    public static bool KvmUsable()
    {
        int fd = Posix.Open("/dev/kvm", Posix.O_RDWR | Posix.O_CLOEXEC, 0);
        if (fd < 0)
            return false;
        Posix.Close(fd);
        return true;
    }
}
