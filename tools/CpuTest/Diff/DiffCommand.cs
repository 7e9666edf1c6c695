using System.Diagnostics;
using Iced.Intel;

namespace SharpBox.Tools.CpuTest.Diff;

/// <summary>An executor of test cases (the host CPU through the sandbox, or the software CPU).</summary>
public interface ICaseExecutor : IDisposable
{
    string Name { get; }
    Outcome[] Run(IReadOnlyList<DiffCase> cases, int mode, ulong roSeed);
}

/// <summary>
/// <c>sbx-cputest diff</c>: random instructions with random state, run on this machine's CPU and on the
/// emulated one, every register, flag, x87/SSE register and touched byte compared.
/// </summary>
public sealed class DiffCommand : ICommand
{
    public string Name => "diff";
    public string Usage => "diff --seed S --count N [--mode 64|32] [--forms TEXT] [--max-report K] [--list-forms] [--against native]";

    public int Run(string[] args)
    {
        int seed = 1, count = 10000, mode = 64, maxReport = 10, batch = 256;
        string? formFilter = null, against = null;
        bool listForms = false;
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value");
            int Int() { string v = Next(); return int.TryParse(v, out int n) && n >= 0 ? n : throw new ArgumentException($"{a}: '{v}' is not a non-negative number"); }
            try
            {
                switch (a)
                {
                    case "--seed": seed = Int(); break;
                    case "--count": count = Int(); break;
                    case "--mode": mode = Int(); if (mode is not (64 or 32)) throw new ArgumentException("--mode must be 64 or 32"); break;
                    case "--forms": formFilter = Next(); break;
                    case "--max-report": maxReport = Int(); break;
                    case "--batch": batch = Int(); if (batch < 1) throw new ArgumentException("--batch must be positive"); break;
                    case "--list-forms": listForms = true; break;
                    case "--against": against = Next(); if (against != "native") throw new ArgumentException("--against takes 'native'"); break;
                    default: throw new ArgumentException($"unknown argument '{a}'");
                }
            }
            catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
            {
                throw new UsageException(e.Message);
            }
        }

        var forms = FormCatalog.Build(mode, FormCatalog.FeaturesOf(new SharpBox.Vmm.Cpum.CpuModel()));
        if (formFilter != null)
            forms = forms.Where(f => f.Code.ToString().Contains(formFilter, StringComparison.OrdinalIgnoreCase)
                                  || f.Name.Contains(formFilter, StringComparison.OrdinalIgnoreCase)).ToList();
        if (forms.Count == 0) throw new UsageException($"no instruction form matches '{formFilter}'");
        if (listForms)
        {
            foreach (var f in forms) Console.WriteLine($"{f.Code,-40} {f.Name}");
            Console.WriteLine($"{forms.Count} forms");
            return 0;
        }

        try { return Execute(forms, seed, count, mode, maxReport, batch, against); }
        catch (Exception e) when (e is FileNotFoundException or InvalidOperationException or IOException)
        {
            // The sandbox helper missing, failing to start or dying: say so plainly.
            Console.Error.WriteLine($"sbx-cputest diff: {e.Message}");
            return 1;
        }
    }

    static int Execute(List<Form> forms, int seed, int count, int mode, int maxReport, int batch, string? against)
    {
        using var native = new Sandbox();
        using ICaseExecutor emu = against == "native" ? new NativeExecutor() : IemExecutorFactory.Create();
        var gen = new CaseGenerator(mode, seed);
        var order = Enumerable.Range(0, forms.Count).ToArray();
        new Random(seed).Shuffle(order);
        var generatedPerForm = new int[forms.Count];
        var failedPerForm = new int[forms.Count];
        int passed = 0, failed = 0, reported = 0, undefinedFlagDiffs = 0, genFailures = 0;
        var outcomes = new SortedDictionary<int, int>();
        var undefinedPerForm = new int[forms.Count];
        var sw = Stopwatch.StartNew();
        ulong roSeed = (ulong)seed * 0x9E3779B97F4A7C15UL + 1;
        int next = 0;
        var cases = new List<DiffCase>(batch);
        while (passed + failed < count)
        {
            cases.Clear();
            int want = Math.Min(batch, count - passed - failed);
            int attempts = 0;
            while (cases.Count < want && attempts < want * 50)
            {
                int fi = order[next++ % order.Length];
                attempts++;
                var c = gen.Generate(forms[fi], fi);
                if (c == null) { genFailures++; continue; }
                generatedPerForm[fi]++;
                cases.Add(c);
            }
            if (cases.Count == 0) { Console.Error.WriteLine("sbx-cputest diff: the generator produced no case for these forms"); return 2; }
            var a = native.Run(cases, mode, roSeed);
            var b = emu.Run(cases, mode, roSeed);
            for (int i = 0; i < cases.Count; i++)
            {
                var diffs = Compare.Diff(cases[i], a[i], b[i], mode, out bool undef);
                outcomes[a[i].Vector] = outcomes.GetValueOrDefault(a[i].Vector) + 1;
                if (undef) { undefinedFlagDiffs++; undefinedPerForm[cases[i].FormIndex]++; }
                if (diffs.Count == 0) { passed++; continue; }
                failed++;
                failedPerForm[cases[i].FormIndex]++;
                if (failedPerForm[cases[i].FormIndex] == 1 && reported++ < maxReport) Console.WriteLine(Compare.Report(cases[i], forms[cases[i].FormIndex], a[i], b[i], diffs, mode, emu.Name));
            }
        }
        int never = generatedPerForm.Count(n => n == 0);
        Console.WriteLine($"mode {mode}: {forms.Count} forms, {count} cases in {sw.Elapsed.TotalSeconds:F1} s; " +
            $"{never} forms the generator could not encode; undefined flags differed in {undefinedFlagDiffs} cases (not counted)");
        Console.WriteLine("native outcomes: " + string.Join(", ", outcomes.Select(kv => $"{Compare.VecName(kv.Key)} {kv.Value}")));
        if (undefinedFlagDiffs > 0)
        {
            var top = Enumerable.Range(0, forms.Count).Where(i => undefinedPerForm[i] > 0).OrderByDescending(i => undefinedPerForm[i]).Take(12);
            Console.WriteLine("undefined flags differ most in: " + string.Join(", ", top.Select(i => $"{forms[i].Code}({undefinedPerForm[i]}/{generatedPerForm[i]})")));
        }
        if (failed > 0)
        {
            var worst = Enumerable.Range(0, forms.Count).Where(i => failedPerForm[i] > 0).OrderByDescending(i => failedPerForm[i]).Take(40);
            Console.WriteLine("failing forms: " + string.Join(", ", worst.Select(i => $"{forms[i].Code}({failedPerForm[i]}/{generatedPerForm[i]})")));
        }
        if (never > 0)
            Console.WriteLine("not generated: " + string.Join(", ", Enumerable.Range(0, forms.Count).Where(i => generatedPerForm[i] == 0).Select(i => forms[i].Code)));
        Console.WriteLine($"{passed} passed, {failed} failed");
        return failed == 0 ? 0 : 1;
    }
}

/// <summary>Runs the cases on the host a second time (checks the harness itself: the host must agree with itself).</summary>
sealed class NativeExecutor : ICaseExecutor
{
    readonly Sandbox _s = new();
    public string Name => "native (again)";
    public Outcome[] Run(IReadOnlyList<DiffCase> cases, int mode, ulong roSeed) => _s.Run(cases, mode, roSeed);
    public void Dispose() => _s.Dispose();
}
