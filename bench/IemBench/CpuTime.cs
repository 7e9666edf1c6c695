using System.Runtime.InteropServices;

namespace SharpBox.Bench.Iem;

/// <summary>
/// CPU time, so the rates do not depend on how busy the (shared) machine is: this process's, that of
/// all waited-for children, or one running process's (from /proc).
/// </summary>
public static class CpuTime
{
    [StructLayout(LayoutKind.Sequential)]
    private struct Timeval { public long Sec, Usec; }

    [StructLayout(LayoutKind.Sequential)]
    private struct Rusage
    {
        public Timeval Utime, Stime;
        public long Maxrss, Ixrss, Idrss, Isrss, Minflt, Majflt, Nswap, Inblock, Oublock, Msgsnd, Msgrcv, Nsignals, Nvcsw, Nivcsw;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int getrusage(int who, out Rusage usage);

    private const int RusageChildren = -1;

    /// <summary>User + system seconds of every child (and its waited-for descendants) that has been reaped.</summary>
    public static double Children()
    {
        if (getrusage(RusageChildren, out var u) != 0) throw new InvalidOperationException($"getrusage failed ({Marshal.GetLastPInvokeError()})");
        return u.Utime.Sec + u.Utime.Usec / 1e6 + u.Stime.Sec + u.Stime.Usec / 1e6;
    }

    /// <summary>User + system seconds of this process.</summary>
    public static double Self() => System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;

    /// <summary>User + system seconds of a running process (its own threads), from /proc/PID/stat.</summary>
    public static double Of(int pid)
    {
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        // Fields after the ")" of the command name: state is field 3; utime and stime are 14 and 15.
        string[] f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        double ticks = double.Parse(f[11]) + double.Parse(f[12]);
        return ticks / 100.0;   // USER_HZ
    }

    /// <summary>The first child of a process (script's bochs), or -1.</summary>
    public static int FirstChild(int pid)
    {
        foreach (var task in Directory.GetDirectories($"/proc/{pid}/task"))
        {
            string path = Path.Combine(task, "children");
            if (!File.Exists(path)) continue;
            string s = File.ReadAllText(path).Trim();
            if (s.Length > 0 && int.TryParse(s.Split(' ')[0], out int c)) return c;
        }
        return -1;
    }
}
