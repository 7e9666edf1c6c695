using System.Buffers.Binary;
using System.Diagnostics;

namespace SharpBox.Tools.CpuTest.Diff;

/// <summary>
/// The native executor: the sandbox helper process (native/sandbox.c, built next to this program by
/// the project build) fed batches of cases over a pipe.
/// </summary>
public sealed class Sandbox : IDisposable
{
    readonly Process _proc;
    readonly Stream _in, _out;
    readonly byte[] _hdr = new byte[24];

    public Sandbox()
    {
        string exe = Path.Combine(AppContext.BaseDirectory, "sbx-sandbox");
        if (!File.Exists(exe))
            throw new FileNotFoundException($"the native sandbox helper {exe} is missing; build tools/CpuTest (scripts/build.sh compiles native/sandbox.c with gcc)");
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = false, UseShellExecute = false,
        };
        _proc = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {exe}");
        _in = _proc.StandardInput.BaseStream;
        _out = _proc.StandardOutput.BaseStream;
    }

    /// <summary>Runs a batch natively; <paramref name="mode"/> is 64 or 32 (compatibility mode).</summary>
    public Outcome[] Run(IReadOnlyList<DiffCase> cases, int mode, ulong roSeed)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_hdr, 0x42584253);
        BinaryPrimitives.WriteUInt32LittleEndian(_hdr.AsSpan(4), (uint)cases.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(_hdr.AsSpan(8), (uint)mode);
        BinaryPrimitives.WriteUInt32LittleEndian(_hdr.AsSpan(12), 0);
        BinaryPrimitives.WriteUInt64LittleEndian(_hdr.AsSpan(16), roSeed);
        var buf = new byte[DiffCase.WireSize * cases.Count];
        for (int i = 0; i < cases.Count; i++) cases[i].Write(buf.AsSpan(i * DiffCase.WireSize));
        try
        {
            _in.Write(_hdr);
            _in.Write(buf);
            _in.Flush();
        }
        catch (IOException e) { throw new InvalidOperationException($"the sandbox helper exited ({Exited()}): {e.Message}"); }
        var res = new Outcome[cases.Count];
        var fixedPart = new byte[Outcome.FixedWire];
        var d = new byte[4];
        for (int i = 0; i < cases.Count; i++)
        {
            ReadExactly(fixedPart);
            var o = Outcome.ReadNative(fixedPart, out int nd);
            for (int k = 0; k < nd; k++)
            {
                ReadExactly(d);
                o.MemDiff.Add((BinaryPrimitives.ReadUInt16LittleEndian(d), d[2], d[3]));
            }
            res[i] = o;
        }
        return res;
    }

    void ReadExactly(byte[] b)
    {
        int got = 0;
        while (got < b.Length)
        {
            int n = _out.Read(b, got, b.Length - got);
            if (n <= 0) throw new InvalidOperationException($"the sandbox helper stopped answering ({Exited()})");
            got += n;
        }
    }

    string Exited() => _proc.HasExited ? $"exit status {_proc.ExitCode}" : "still running";

    public void Dispose()
    {
        try { _in.Close(); } catch (IOException) { }
        if (!_proc.WaitForExit(5000)) _proc.Kill();
        _proc.Dispose();
    }
}
