using System.Buffers.Binary;
using System.Text;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Em;
using SharpBox.Vmm.Iem;

namespace SharpBox.Tools.CpuTest;

/// <summary>
/// Runs SingleStepTests MOO files (80386 real-mode tests): each test sets the initial registers and
/// RAM, runs from CS:EIP until the HLT after the instruction, and compares registers and RAM.
/// </summary>
public sealed class MooCommand : ICommand
{
    public string Name => "moo";
    public string Usage => "moo [--verbose] [--max-failures N] FILE...   run SingleStepTests MOO files";

    private static readonly string[] RegNames =
        { "cr0", "cr3", "eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "cs", "ds", "es", "fs", "gs", "ss", "eip", "eflags", "dr6", "dr7" };

    // Flags compared: the arithmetic ones plus TF/IF/DF (the 386 reports its reserved high bits as ones).
    private const uint FlagMask = 0xFD5;

    public int Run(string[] args)
    {
        bool verbose = false;
        int maxFailures = 20;
        var files = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--verbose") verbose = true;
            else if (args[i] == "--max-failures")
            {
                if (i + 1 >= args.Length || !int.TryParse(args[++i], out maxFailures)) throw new UsageException("--max-failures needs a number");
            }
            else if (args[i].StartsWith('-')) throw new UsageException($"unknown option '{args[i]}'");
            else files.Add(args[i]);
        }
        if (files.Count == 0) throw new UsageException("no MOO file given");

        int passed = 0, failed = 0, printed = 0;
        using var bus = new FlatRamBus(16 << 20);
        var model = new CpuModel();
        var machine = new IemMachine(bus, model);
        using var cpu = new IemCpu(machine, 0);
        foreach (var file in files)
        {
            List<MooTest> tests;
            try { tests = MooFile.Load(file); }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"sbx-cputest moo: {file}: {e.Message}");
                return 2;
            }
            foreach (var t in tests)
            {
                string? why = RunOne(cpu, bus, t);
                if (why == null) { passed++; if (verbose) Console.WriteLine($"PASS {Path.GetFileName(file)}#{t.Index} {t.Name}"); }
                else
                {
                    failed++;
                    if (printed++ < maxFailures) Console.WriteLine($"FAIL {Path.GetFileName(file)}#{t.Index} {t.Name} [{Convert.ToHexString(t.Bytes)}]: {why}");
                }
            }
        }
        Console.WriteLine($"{passed} passed, {failed} failed");
        return failed == 0 ? 0 : 1;
    }

    private static unsafe string? RunOne(IemCpu cpu, FlatRamBus bus, MooTest t)
    {
        foreach (var (addr, _) in t.InitRam) if (addr >= bus.RamSize) return $"RAM address {addr:X} outside the test machine";
        foreach (var (addr, val) in t.InitRam) bus.Ram[addr] = val;
        var c = CpuContext.PowerOn();
        uint Get(Dictionary<string, uint> d, string n) => d.TryGetValue(n, out var v) ? v : 0;
        var init = t.InitRegs;
        c.Gpr[0] = Get(init, "eax"); c.Gpr[3] = Get(init, "ebx"); c.Gpr[1] = Get(init, "ecx"); c.Gpr[2] = Get(init, "edx");
        c.Gpr[6] = Get(init, "esi"); c.Gpr[7] = Get(init, "edi"); c.Gpr[5] = Get(init, "ebp"); c.Gpr[4] = Get(init, "esp");
        c.Rip = Get(init, "eip");
        c.Rflags = (Get(init, "eflags") & RFlags.Writable & ~(RFlags.VM | RFlags.RF)) | RFlags.Fixed1;
        string[] segNames = { "es", "cs", "ss", "ds", "fs", "gs" };
        for (int i = 0; i < 6; i++) c.Seg[i] = SegmentRegister.RealMode((ushort)Get(init, segNames[i]), i == SegIdx.CS);
        c.Cr0 = Cr0.ET;
        c.Idtr = new DescriptorTableRegister { Base = 0, Limit = 0x3FF };
        cpu.SetState(in c);
        cpu.FlushCodeCache();
        cpu.SetA20(true);
        string? result;
        try
        {
            var exit = cpu.Run(16);
            if (exit.Reason != VcpuExitReason.Halted) result = $"did not reach HLT (exit {exit.Reason} after {exit.Instructions} instructions)";
            else result = Compare(cpu, bus, t);
        }
        finally
        {
            foreach (var (addr, _) in t.InitRam) bus.Ram[addr] = 0;
            foreach (var (addr, _) in t.FinalRam) if (addr < bus.RamSize) bus.Ram[addr] = 0;
        }
        return result;
    }

    private static unsafe string? Compare(IemCpu cpu, FlatRamBus bus, MooTest t)
    {
        var c = new CpuContext();
        cpu.GetState(ref c);
        var actual = new Dictionary<string, uint>
        {
            ["eax"] = (uint)c.Gpr[0], ["ebx"] = (uint)c.Gpr[3], ["ecx"] = (uint)c.Gpr[1], ["edx"] = (uint)c.Gpr[2],
            ["esi"] = (uint)c.Gpr[6], ["edi"] = (uint)c.Gpr[7], ["ebp"] = (uint)c.Gpr[5], ["esp"] = (uint)c.Gpr[4],
            ["es"] = c.Seg[0].Selector, ["cs"] = c.Seg[1].Selector, ["ss"] = c.Seg[2].Selector, ["ds"] = c.Seg[3].Selector,
            ["fs"] = c.Seg[4].Selector, ["gs"] = c.Seg[5].Selector, ["eip"] = (uint)c.Rip, ["eflags"] = (uint)c.Rflags,
        };
        var sb = new StringBuilder();
        foreach (var (name, got) in actual)
        {
            uint want = t.FinalRegs.TryGetValue(name, out var f) ? f : t.InitRegs.TryGetValue(name, out var i) ? i : 0;
            if (name == "eflags") { if (((want ^ got) & FlagMask) != 0) sb.Append($" eflags={got & FlagMask:X3} want {want & FlagMask:X3};"); }
            else if (want != got) sb.Append($" {name}={got:X} want {want:X};");
        }
        var expectRam = new Dictionary<uint, byte>();
        foreach (var (a, v) in t.InitRam) expectRam[a] = v;
        foreach (var (a, v) in t.FinalRam) expectRam[a] = v;
        foreach (var (a, v) in expectRam)
            if (bus.Ram[a] != v) sb.Append($" [{a:X}]={bus.Ram[a]:X2} want {v:X2};");
        return sb.Length == 0 ? null : sb.ToString().Trim();
    }
}

public sealed class MooTest
{
    public int Index;
    public string Name = "";
    public byte[] Bytes = Array.Empty<byte>();
    public Dictionary<string, uint> InitRegs = new(), FinalRegs = new();
    public List<(uint Addr, byte Value)> InitRam = new(), FinalRam = new();
}

/// <summary>MOO v1 reader: chunks of (4-byte id, u32 length, body); unknown ids are skipped by length.</summary>
public static class MooFile
{
    private static readonly string[] Names =
        { "cr0", "cr3", "eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "cs", "ds", "es", "fs", "gs", "ss", "eip", "eflags", "dr6", "dr7" };

    public static List<MooTest> Load(string path)
    {
        byte[] data = File.ReadAllBytes(path);
        var tests = new List<MooTest>();
        int declared = -1;
        bool sawHeader = false;
        foreach (var (id, body, offset) in Chunks(data, 0, data.Length, path))
        {
            if (id == "MOO ")
            {
                if (body.Length < 8) throw new InvalidDataException($"{path}: MOO header at offset {offset} is {body.Length} bytes, expected at least 8");
                declared = (int)BinaryPrimitives.ReadUInt32LittleEndian(body.AsSpan(4));
                sawHeader = true;
            }
            else if (id == "TEST")
            {
                if (!sawHeader) throw new InvalidDataException($"{path}: TEST chunk at offset {offset} before the MOO header");
                tests.Add(ParseTest(body, offset, path));
            }
        }
        if (!sawHeader) throw new InvalidDataException($"{path}: not a MOO file (no 'MOO ' header chunk)");
        if (declared >= 0 && declared != tests.Count) throw new InvalidDataException($"{path}: header declares {declared} tests, file holds {tests.Count}");
        return tests;
    }

    private static IEnumerable<(string Id, byte[] Body, int Offset)> Chunks(byte[] d, int start, int end, string path)
    {
        int p = start;
        while (p < end)
        {
            if (p + 8 > end) throw new InvalidDataException($"{path}: truncated chunk header at offset {p}");
            string id = Encoding.ASCII.GetString(d, p, 4);
            int len = (int)BinaryPrimitives.ReadUInt32LittleEndian(d.AsSpan(p + 4));
            if (len < 0 || p + 8 + len > end) throw new InvalidDataException($"{path}: chunk '{id}' at offset {p} runs past its container ({len} bytes)");
            yield return (id, d.AsSpan(p + 8, len).ToArray(), p);
            p += 8 + len;
        }
    }

    private static MooTest ParseTest(byte[] b, int offset, string path)
    {
        if (b.Length < 4) throw new InvalidDataException($"{path}: TEST chunk at offset {offset} too short");
        var t = new MooTest { Index = (int)BinaryPrimitives.ReadUInt32LittleEndian(b) };
        foreach (var (id, body, _) in Chunks(b, 4, b.Length, path))
        {
            switch (id)
            {
                case "NAME":
                    int n = (int)BinaryPrimitives.ReadUInt32LittleEndian(body);
                    t.Name = Encoding.ASCII.GetString(body, 4, Math.Min(n, body.Length - 4));
                    break;
                case "BYTS":
                    int bn = (int)BinaryPrimitives.ReadUInt32LittleEndian(body);
                    t.Bytes = body.AsSpan(4, Math.Min(bn, body.Length - 4)).ToArray();
                    break;
                case "INIT": ParseState(body, t.InitRegs, t.InitRam, path); break;
                case "FINA": ParseState(body, t.FinalRegs, t.FinalRam, path); break;
            }
        }
        return t;
    }

    private static void ParseState(byte[] b, Dictionary<string, uint> regs, List<(uint, byte)> ram, string path)
    {
        foreach (var (id, body, off) in Chunks(b, 0, b.Length, path))
        {
            if (id == "RG32")
            {
                uint mask = BinaryPrimitives.ReadUInt32LittleEndian(body);
                int p = 4;
                for (int i = 0; i < Names.Length; i++)
                {
                    if ((mask & (1u << i)) == 0) continue;
                    if (p + 4 > body.Length) throw new InvalidDataException($"{path}: RG32 at offset {off} shorter than its mask says");
                    regs[Names[i]] = BinaryPrimitives.ReadUInt32LittleEndian(body.AsSpan(p));
                    p += 4;
                }
            }
            else if (id == "RAM ")
            {
                uint count = BinaryPrimitives.ReadUInt32LittleEndian(body);
                if (4 + count * 5 > body.Length) throw new InvalidDataException($"{path}: RAM chunk at offset {off} shorter than its count ({count})");
                for (int i = 0; i < count; i++)
                    ram.Add((BinaryPrimitives.ReadUInt32LittleEndian(body.AsSpan(4 + i * 5)), body[8 + i * 5]));
            }
        }
    }
}
