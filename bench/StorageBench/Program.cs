using System.Diagnostics;
using Microsoft.Win32.SafeHandles;
using SharpBox.Storage;

// Sequential write and read through a dynamic VDI against the same I/O on a raw file, in one run.
//
// The machine is shared and noisy, so the two are measured as pairs: each run writes a fresh raw file
// and a fresh VDI in slices of --slice MiB, alternating raw and VDI slice by slice (and which goes
// first), and times each slice on its own; then reads both back the same way. A run's figure is the
// sum of its slices; the medians over --runs runs and their ratio are printed.
//
// Default: the data path only (the page cache absorbs the writes; creating and closing the files is
// not timed). --fsync adds creating the file, and flushing it to disk and closing it, to each write
// figure (VDI: Create, and Dispose, which writes the header and fsyncs; raw: open and fsync).

int sizeMiB = 512, runs = 7, sliceMiB = 16;
int[] chunksKiB = { 1024, 64 };
string dir = Path.GetTempPath();
double minRatio = 0;
bool fsync = false;
for (int i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    switch (args[i])
    {
        case "--size": sizeMiB = int.Parse(Next()); break;
        case "--runs": runs = int.Parse(Next()); break;
        case "--slice": sliceMiB = int.Parse(Next()); break;
        case "--chunk": chunksKiB = Next().Split(',').Select(int.Parse).ToArray(); break;
        case "--dir": dir = Next(); break;
        case "--fsync": fsync = true; break;
        case "--min-ratio": minRatio = double.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
        default:
            Console.Error.WriteLine($"StorageBench: unknown argument {args[i]}");
            Console.Error.WriteLine("usage: StorageBench [--size MiB] [--runs N] [--slice MiB] [--chunk KiB[,KiB...]] [--dir PATH] [--fsync] [--min-ratio R]");
            return 2;
    }
}
if (sizeMiB <= 0 || runs <= 0 || sliceMiB <= 0 || sizeMiB % sliceMiB != 0 || chunksKiB.Any(c => c <= 0 || (sliceMiB * 1024) % c != 0))
{
    Console.Error.WriteLine("StorageBench: --size must be a multiple of --slice, and --slice a multiple of every --chunk");
    return 2;
}

long size = (long)sizeMiB << 20, slice = (long)sliceMiB << 20;
string work = Path.Combine(dir, $"storagebench-{Environment.ProcessId}");
Directory.CreateDirectory(work);
bool ok = true;
try
{
    Console.WriteLine($"StorageBench: {sizeMiB} MiB sequential, slices of {sliceMiB} MiB, {runs} runs, {(fsync ? "create + fsync + close included" : "data path only")}, files in {work}");
    foreach (int chunkKiB in chunksKiB)
    {
        var buffer = new byte[chunkKiB * 1024];
        new Random(42).NextBytes(buffer);
        var t = new Dictionary<string, List<double>> { ["raw write"] = new(), ["vdi write"] = new(), ["raw read"] = new(), ["vdi read"] = new() };
        long allocs = 0;
        var sw = new Stopwatch();
        for (int r = 0; r < runs; r++)
        {
            string rawPath = Path.Combine(work, "disk.raw"), vdiPath = Path.Combine(work, "disk.vdi");
            double rawW = 0, vdiW = 0, rawR = 0, vdiR = 0;

            sw.Restart();
            var raw = File.OpenHandle(rawPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
            if (fsync) rawW += sw.Elapsed.TotalSeconds;
            sw.Restart();
            var vdi = DiskImage.Create(vdiPath, DiskFormat.Vdi, size);
            if (fsync) vdiW += sw.Elapsed.TotalSeconds;
            vdi.Write(0, buffer);                       // warm the path before counting allocations
            RandomAccess.Write(raw, buffer, 0);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (long s = 0; s < size; s += slice)
            {
                bool rawFirst = ((s / slice) + r) % 2 == 0;
                for (int k = 0; k < 2; k++)
                {
                    sw.Restart();
                    if (rawFirst == (k == 0))
                    {
                        for (long off = s; off < s + slice; off += buffer.Length)
                            RandomAccess.Write(raw, buffer, off);
                        rawW += sw.Elapsed.TotalSeconds;
                    }
                    else
                    {
                        for (long off = s; off < s + slice; off += buffer.Length)
                            vdi.Write(off, buffer);
                        vdiW += sw.Elapsed.TotalSeconds;
                    }
                }
            }
            allocs += GC.GetAllocatedBytesForCurrentThread() - before;
            sw.Restart();
            if (fsync) RandomAccess.FlushToDisk(raw);
            raw.Dispose();
            if (fsync) rawW += sw.Elapsed.TotalSeconds;
            sw.Restart();
            vdi.Dispose();
            if (fsync) vdiW += sw.Elapsed.TotalSeconds;

            raw = File.OpenHandle(rawPath, FileMode.Open, FileAccess.Read, FileShare.Read);
            vdi = DiskImage.Open(vdiPath, readOnly: true);
            vdi.Read(0, buffer);
            before = GC.GetAllocatedBytesForCurrentThread();
            for (long s = 0; s < size; s += slice)
            {
                bool rawFirst = ((s / slice) + r) % 2 == 1;
                for (int k = 0; k < 2; k++)
                {
                    sw.Restart();
                    if (rawFirst == (k == 0))
                    {
                        for (long off = s; off < s + slice; off += buffer.Length)
                            if (RandomAccess.Read(raw, buffer, off) != buffer.Length)
                                throw new IOException("short read");
                        rawR += sw.Elapsed.TotalSeconds;
                    }
                    else
                    {
                        for (long off = s; off < s + slice; off += buffer.Length)
                            vdi.Read(off, buffer);
                        vdiR += sw.Elapsed.TotalSeconds;
                    }
                }
            }
            allocs += GC.GetAllocatedBytesForCurrentThread() - before;
            raw.Dispose();
            vdi.Dispose();
            File.Delete(rawPath);
            File.Delete(vdiPath);
            t["raw write"].Add(rawW); t["vdi write"].Add(vdiW); t["raw read"].Add(rawR); t["vdi read"].Add(vdiR);
        }
        Console.WriteLine($"-- chunk {chunkKiB} KiB");
        foreach (var (name, list) in t)
            Console.WriteLine($"   {name,-10} median {Mbps(size, Median(list)),8:F0} MB/s   (runs: {string.Join(", ", list.Select(s => Mbps(size, s).ToString("F0")))})");
        double w = Median(t["raw write"]) / Median(t["vdi write"]);
        double rd = Median(t["raw read"]) / Median(t["vdi read"]);
        Console.WriteLine($"   ratio VDI/raw: write {w:F2}x, read {rd:F2}x   (VDI and raw I/O loops allocated {allocs} bytes)");
        if (w < minRatio || rd < minRatio)
        {
            Console.WriteLine($"   BELOW the {minRatio:F2}x bar");
            ok = false;
        }
    }
}
finally
{
    Directory.Delete(work, recursive: true);
}
return ok ? 0 : 1;

static double Median(List<double> xs)
{
    var s = xs.OrderBy(x => x).ToList();
    return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
}

static double Mbps(long bytes, double seconds) => bytes / seconds / 1e6;
