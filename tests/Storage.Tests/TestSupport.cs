using System.Diagnostics;
using System.Security.Cryptography;

namespace SharpBox.Storage.Tests;

/// <summary>A scratch folder per test, removed afterwards.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("sharpbox-storage-").FullName;
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}

/// <summary>Runs the real qemu-img / qemu-io (Debian's qemu-utils, installed by scripts/deps.sh).</summary>
public static class Qemu
{
    public static (int Code, string Out, string Err) Run(string tool, params string[] args)
    {
        var psi = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {tool}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    public static void Img(params string[] args)
    {
        var r = Run("qemu-img", args);
        Assert.True(r.Code == 0, $"qemu-img {string.Join(' ', args)} failed ({r.Code}): {r.Out}{r.Err}");
    }

    /// <summary>qemu-img check must find no errors and no leaks.</summary>
    public static void Check(string path, string format)
    {
        var r = Run("qemu-img", "check", "-f", format, path);
        Assert.True(r.Code == 0, $"qemu-img check -f {format} {path} failed ({r.Code}): {r.Out}{r.Err}");
        Assert.Contains("No errors were found", r.Out);
    }

    /// <summary>qemu-img compare: identical contents (size differences must be zeros).</summary>
    public static void Compare(string a, string formatA, string b, string formatB)
    {
        var r = Run("qemu-img", "compare", "-f", formatA, "-F", formatB, a, b);
        Assert.True(r.Code == 0, $"qemu-img compare {a} ({formatA}) {b} ({formatB}) says ({r.Code}): {r.Out}{r.Err}");
    }

    public static void Io(string path, string format, params string[] commands)
    {
        var args = new List<string> { "-f", format };
        foreach (var c in commands) { args.Add("-c"); args.Add(c); }
        args.Add(path);
        var r = Run("qemu-io", args.ToArray());
        Assert.True(r.Code == 0 && !r.Out.Contains("failed", StringComparison.OrdinalIgnoreCase),
            $"qemu-io {string.Join(' ', args)} failed ({r.Code}): {r.Out}{r.Err}");
    }

    public static long VirtualSize(string path, string format)
    {
        var r = Run("qemu-img", "info", "--output=json", "-f", format, path);
        Assert.Equal(0, r.Code);
        using var doc = System.Text.Json.JsonDocument.Parse(r.Out);
        return doc.RootElement.GetProperty("virtual-size").GetInt64();
    }
}

public static class Data
{
    public static byte[] Random(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    public static string Sha(string path)
    {
        using var f = System.IO.File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(f));
    }

    /// <summary>Reads the whole disk through the image, in 1 MiB pieces.</summary>
    public static byte[] ReadAll(IDiskImage image)
    {
        var all = new byte[image.Size];
        for (long off = 0; off < all.Length; off += 1 << 20)
            image.Read(off, all.AsSpan((int)off, (int)Math.Min(1 << 20, all.Length - off)));
        return all;
    }

    public static void AssertSame(byte[] expected, byte[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        int i = expected.AsSpan().CommonPrefixLength(actual);
        Assert.True(i == expected.Length, $"contents differ first at byte {i}");
    }
}

/// <summary>Writes the same bytes into an image and into an in-memory model, then checks they agree.</summary>
public sealed class Model
{
    public byte[] Bytes { get; }
    public Model(long size) => Bytes = new byte[size];

    public void Write(IDiskImage image, long offset, byte[] data)
    {
        image.Write(offset, data);
        data.CopyTo(Bytes, offset);
    }

    public void Verify(IDiskImage image) => Data.AssertSame(Bytes, Data.ReadAll(image));

    /// <summary>Writes the model's bytes to a raw file, for qemu-img compare.</summary>
    public string SaveRaw(string path)
    {
        System.IO.File.WriteAllBytes(path, Bytes);
        return path;
    }
}

public sealed class PercentSink : IProgressSink
{
    public List<int> Seen { get; } = new();
    public void Report(int percent) => Seen.Add(percent);
}
