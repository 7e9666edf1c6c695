using System.Globalization;
using System.Text;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Em;

namespace SharpBox.Vmm.Dbgf;

/// <summary>
/// The debug target of a running <see cref="VirtualMachine"/>: halting and resuming go through the
/// VM's controller (pause/resume: EM parks the vCPUs and TM's clock stands still), and EM reports
/// debugger breakpoints and steps, after which every vCPU is parked.
/// </summary>
public sealed class VmDebugTarget : IDebugTarget
{
    private readonly VirtualMachine _vm;

    public VmDebugTarget(VirtualMachine vm)
    {
        _vm = vm;
        vm.Em.DebugExit = OnDebugExit;
    }

    public int CpuCount => _vm.CpuCount;
    public IVirtualCpu GetCpu(int index) => _vm.Em.Cpu(index);
    public int ReadPhysical(ulong gpa, Span<byte> buffer) => BusMemory.Read(_vm.Bus, gpa, buffer);
    public int WritePhysical(ulong gpa, ReadOnlySpan<byte> data)
    {
        int n = BusMemory.Write(_vm.Bus, gpa, data);
        if (n > 0) _vm.Engine.NotifyPhysicalWrite(gpa, (ulong)n);   // decoded code there is stale now
        return n;
    }

    public bool IsRunning => _vm.State == VmState.Running;
    public event Action<DebugStop>? Stopped;

    public void Halt() => Request(VmRequestKind.Pause);

    /// <summary>Runs every vCPU (a step of one vCPU lets the others run too, as gdb's default scheduler does).</summary>
    public void Resume(int onlyCpu = -1) => Request(VmRequestKind.Resume);

    private void Request(VmRequestKind kind)
    {
        var done = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        _vm.Post(new VmRequest(kind, Done: done));
        if (!done.Task.Wait(TimeSpan.FromSeconds(30))) throw new TimeoutException($"DBGF: the VM did not {kind.ToString().ToLowerInvariant()} within 30 s");
    }

    private void OnDebugExit(int cpu, VcpuExit exit)
    {
        var c = GetCpu(cpu);
        var stop = exit.Reason == VcpuExitReason.SingleStep
            ? new DebugStop(cpu, DebugStopReason.SingleStep, exit.Address)
            : c is IVcpuWatchpoints w && w.TryGetWatchHit(out var hit)
                ? new DebugStop(cpu, DebugStopReason.Watchpoint, hit.Address, hit.Kind)
                : new DebugStop(cpu, DebugStopReason.Breakpoint, exit.Address);
        // EM parks the vCPUs; the VM's pause also stops the clock. Report once that is done.
        var done = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        _vm.Post(new VmRequest(VmRequestKind.Pause, Done: done));
        done.Task.ContinueWith(_ => Stopped?.Invoke(stop), TaskScheduler.Default);
    }
}

/// <summary>
/// DBGF for one VM: the gdb stub (when a port is given), and the commands of VBoxManage debugvm —
/// info items (registers, cpuid, mmio, ioports, devices, timers), osdetect, dumpvmcore, and
/// disassembly at a vCPU's RIP. Commands that read vCPU state stop the VM for the moment they need.
/// </summary>
public sealed class VmDebugger : IDisposable
{
    private readonly VirtualMachine _vm;
    private readonly object _lock = new();

    public VmDebugTarget Target { get; }
    public GdbStub? Stub { get; }
    /// <summary>What the engine choice put in effect (engine, nestedpaging, vpid, ...), answered by "hminfo".</summary>
    public IReadOnlyList<KeyValuePair<string, string>> EngineFacts { get; set; } = Array.Empty<KeyValuePair<string, string>>();

    public VmDebugger(VirtualMachine vm, int? gdbPort = null)
    {
        _vm = vm;
        Target = new VmDebugTarget(vm);
        if (gdbPort is int port)
        {
            Stub = new GdbStub(Target, port, vm.Log.Write) { MonitorCommand = cmd => cmd == "help" ? Help : TryCommand(cmd) };
        }
    }

    public const string Help =
        "info registers|cpuid|mmio|ioports|devices|timers|help   the VM's state\n" +
        "osdetect                                          names the guest OS\n" +
        "dumpvmcore FILE                                   writes an ELF core (gdb -c FILE)\n" +
        "disasm [CPU [COUNT]]                              disassembles at a vCPU's RIP\n" +
        "getregisters CPU all|NAME...                      registers by DBGF name (rax, cs_base, cr0, efer, ...)\n" +
        "setregisters CPU NAME=VALUE...                    sets registers (0x-prefixed hex or decimal)\n" +
        "injectnmi                                         raises an NMI on vCPU 0\n" +
        "hminfo                                            the engine and the HM features in effect (key=value)\n" +
        "statistics [--descriptions] [PATTERN]             counters as XML (PATTERN: globs separated by |)\n";

    private static readonly string[] s_commands = { "info", "osdetect", "dumpvmcore", "disasm", "getregisters", "setregisters", "injectnmi", "statistics", "hminfo", "help" };

    /// <summary>Runs one command ("info cpuid", "osdetect", "dumpvmcore /tmp/x.core", "disasm 0 10"); throws ArgumentException for bad ones.</summary>
    public string Command(string line)
    {
        var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new ArgumentException("empty debugger command");
        switch (parts[0])
        {
            case "info":
                if (parts.Length < 2) throw new ArgumentException("info needs an item: registers, cpuid, mmio, ioports, devices, timers (info help lists them)");
                return Info(parts[1]);
            case "osdetect":
                return OsDetect.Detect(Target, Memory());
            case "dumpvmcore":
                {
                    string file = parts.Length > 1 ? line[(line.IndexOf(parts[1], StringComparison.Ordinal))..].Trim() : throw new ArgumentException("dumpvmcore needs a file name");
                    if (file.StartsWith("--filename", StringComparison.Ordinal)) file = file["--filename".Length..].Trim(' ', '=');
                    file = Path.GetFullPath(file);
                    // As VirtualBox's DBGFR3CoreWrite: an existing file is never replaced.
                    if (File.Exists(file) || Directory.Exists(file)) throw new ArgumentException($"'{file}' already exists (the core is written only to a new file)");
                    WithVmStopped(() => ElfCore.Write(file, Target, Memory()));
                    return $"core written to {file}";
                }
            case "disasm":
                {
                    int cpu = parts.Length > 1 ? CpuArg(parts[1]) : 0;
                    int count = parts.Length > 2 ? int.Parse(parts[2], CultureInfo.InvariantCulture) : 10;
                    return WithVmStopped(() => DisassembleAt(cpu, Math.Clamp(count, 1, 200)));
                }
            case "getregisters":
                {
                    if (parts.Length < 3) throw new ArgumentException("getregisters needs a vCPU and at least one register name (or all)");
                    int cpu = CpuArg(parts[1]);
                    var names = parts.Skip(2).SelectMany(n => n.Equals("all", StringComparison.OrdinalIgnoreCase) ? DbgfRegisters.ListedNames : new[] { n }).ToList();
                    foreach (var n in names) if (!DbgfRegisters.Exists(n)) throw new ArgumentException($"unknown register '{n}'");
                    return WithVmStopped(() =>
                    {
                        var c = new CpuContext();
                        Target.GetCpu(cpu).GetState(ref c);
                        var sb = new StringBuilder();
                        foreach (var n in names) sb.Append(n.ToLowerInvariant()).Append('=').Append(DbgfRegisters.Format(in c, n)).Append('\n');
                        return sb.ToString();
                    });
                }
            case "setregisters":
                {
                    if (parts.Length < 3) throw new ArgumentException("setregisters needs a vCPU and at least one NAME=VALUE");
                    int cpu = CpuArg(parts[1]);
                    var sets = new List<(string Name, string Value)>();
                    foreach (var a in parts.Skip(2))
                    {
                        int eq = a.IndexOf('=');
                        if (eq <= 0) throw new ArgumentException($"setregisters expects input on the form 'register=value', got '{a}'");
                        if (!DbgfRegisters.Exists(a[..eq])) throw new ArgumentException($"unknown register '{a[..eq]}'");
                        sets.Add((a[..eq], a[(eq + 1)..]));
                    }
                    return WithVmStopped(() =>
                    {
                        var c = new CpuContext();
                        var cpuObj = Target.GetCpu(cpu);
                        cpuObj.GetState(ref c);
                        foreach (var (n, v) in sets) DbgfRegisters.Set(ref c, n, v);   // all parsed before anything is written
                        cpuObj.SetState(in c);
                        return $"set {sets.Count} register{(sets.Count == 1 ? "" : "s")} of vCPU {cpu}";
                    });
                }
            case "injectnmi":
                if (parts.Length > 1) throw new ArgumentException($"injectnmi takes no arguments (got '{parts[1]}')");
                _vm.Em.Nmi(0);
                return "NMI raised on vCPU 0";
            case "statistics":
                {
                    bool desc = false;
                    string? pattern = null;
                    foreach (var a in parts.Skip(1))
                    {
                        if (a == "--descriptions") desc = true;
                        else if (pattern is null) pattern = a;
                        else throw new ArgumentException($"statistics takes one pattern (got '{pattern}' and '{a}')");
                    }
                    return Statistics(pattern, desc);
                }
            case "hminfo":
                {
                    var sb = new StringBuilder();
                    foreach (var kv in EngineFacts) sb.Append(kv.Key).Append('=').Append(kv.Value.Replace('\n', ' ')).Append('\n');
                    return sb.ToString();
                }
            case "help":
                return Help;
        }
        throw new ArgumentException($"unknown debugger command '{parts[0]}' ({string.Join(", ", s_commands)})");
    }

    private int CpuArg(string text)
    {
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int cpu) || cpu >= _vm.CpuCount)
            throw new ArgumentException($"no vCPU '{text}' (the VM has {_vm.CpuCount}: 0..{_vm.CpuCount - 1})");
        return cpu;
    }

    /// <summary>
    /// The counters in the XML of VirtualBox's IMachineDebugger::getStats; <paramref name="pattern"/>
    /// selects by name with globs (* and ?) separated by |, as STAM patterns do.
    /// </summary>
    public string Statistics(string? pattern, bool withDescriptions)
    {
        var all = new List<(string Name, long Value, string Unit, string Description)>();
        for (int i = 0; i < _vm.CpuCount; i++)
        {
            var (instr, runs, halts) = _vm.Em.CountersOf(i);
            all.Add(($"/EM/CPU{i}/Instructions", instr, "count", "guest instructions executed by the software CPU"));
            all.Add(($"/EM/CPU{i}/Runs", runs, "times", "engine Run calls"));
            all.Add(($"/EM/CPU{i}/Halts", halts, "times", "waits in HLT"));
            if (_vm.Em.Cpu(i) is IVcpuStatistics s) s.CollectStatistics(all);
        }
        all.Add(("/TM/VirtualClock", _vm.Tm.Clock.NowNs, "ns", "guest time"));
        all.Add(("/TM/Timers", _vm.Tm.Timers.All.Count, "count", "timers registered by devices"));
        all.Add(("/PGM/RamSize", (long)_vm.RamSize, "bytes", "guest RAM"));
        var globs = (pattern ?? "*").Split('|', StringSplitOptions.RemoveEmptyEntries);
        var sb = new StringBuilder("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\" ?>\n<Statistics>\n");
        foreach (var (name, value, unit, description) in all)
        {
            if (!globs.Any(g => Glob(g, name))) continue;
            sb.Append(CultureInfo.InvariantCulture, $"<Counter c=\"{value}\" unit=\"{unit}\"");
            if (withDescriptions) sb.Append(CultureInfo.InvariantCulture, $" desc=\"{System.Security.SecurityElement.Escape(description)}\"");
            sb.Append(CultureInfo.InvariantCulture, $" name=\"{name}\"/>\n");
        }
        return sb.Append("</Statistics>\n").ToString();
    }

    private static bool Glob(ReadOnlySpan<char> p, ReadOnlySpan<char> s)
    {
        while (p.Length > 0)
        {
            if (p[0] == '*')
            {
                for (int i = 0; i <= s.Length; i++) if (Glob(p[1..], s[i..])) return true;
                return false;
            }
            if (s.Length == 0 || (p[0] != '?' && p[0] != s[0])) return false;
            p = p[1..]; s = s[1..];
        }
        return s.Length == 0;
    }

    private string? TryCommand(string line)
    {
        try { return Command(line); }
        catch (Exception e) when (e is ArgumentException or FormatException or IOException or UnauthorizedAccessException) { return "error: " + e.Message + "\n"; }
    }

    private List<(ulong, ulong)> Memory() => _vm.PhysMap.HostBackedRanges.Select(r => (r.GuestPhys, r.Size)).ToList();

    private T WithVmStopped<T>(Func<T> f)
    {
        lock (_lock)
        {
            bool wasRunning = Target.IsRunning;
            if (wasRunning) Target.Halt();
            try { return f(); }
            finally { if (wasRunning) Target.Resume(); }
        }
    }

    private void WithVmStopped(Action a) => WithVmStopped(() => { a(); return 0; });

    public string Info(string item) => item switch
    {
        "registers" or "cpumguest" => WithVmStopped(Registers),
        "cpuid" => Cpuid(),
        "mmio" or "memory" => MemoryMap(),
        "ioports" or "ioport" => IoPorts(),
        "devices" or "dev" => Devices(),
        "timers" => Timers(),
        "help" => "registers   the vCPUs' registers and the instruction at RIP (alias cpumguest)\n" +
                  "cpuid       the CPUID leaves the guest sees\n" +
                  "mmio        the guest-physical map: RAM, ROM and MMIO regions (alias memory)\n" +
                  "ioports     the I/O port ranges and their devices\n" +
                  "devices     the PDM devices\n" +
                  "timers      the virtual clock and every TM timer\n",
        _ => throw new ArgumentException($"unknown info item '{item}' (registers, cpuid, mmio, ioports, devices, timers, help)"),
    };

    private string Registers()
    {
        var sb = new StringBuilder();
        for (int i = 0; i < _vm.CpuCount; i++)
        {
            var c = new CpuContext();
            Target.GetCpu(i).GetState(ref c);
            sb.Append(CultureInfo.InvariantCulture, $"CPU {i} ({_vm.Em.ModeOf(i)}, {Disassembler.Bitness(c)}-bit code)\n");
            sb.Append(FormatRegisters(c));
            sb.Append(DisassembleAt(i, 1));
        }
        return sb.ToString();
    }

    /// <summary>The architectural registers of one context, in the layout of VirtualBox's "info cpumguest".</summary>
    public static string FormatRegisters(in CpuContext c)
    {
        var sb = new StringBuilder();
        string[] n = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };
        for (int i = 0; i < 16; i++) sb.Append(CultureInfo.InvariantCulture, $"{n[i],3}={c.Gpr[i]:x16}{(i % 4 == 3 ? "\n" : " ")}");
        sb.Append(CultureInfo.InvariantCulture, $"rip={c.Rip:x16} rflags={c.Rflags:x8}{Flags(c.Rflags)}\n");
        string[] s = { "es", "cs", "ss", "ds", "fs", "gs" };
        for (int i = 0; i < 6; i++)
        {
            var r = c.Seg[i];
            sb.Append(CultureInfo.InvariantCulture, $"{s[i]}={r.Selector:x4} base={r.Base:x16} limit={r.Limit:x8} attr={r.Attributes:x5}\n");
        }
        sb.Append(CultureInfo.InvariantCulture, $"ldtr={c.Ldtr.Selector:x4} base={c.Ldtr.Base:x16} limit={c.Ldtr.Limit:x8}  tr={c.Tr.Selector:x4} base={c.Tr.Base:x16} limit={c.Tr.Limit:x8}\n");
        sb.Append(CultureInfo.InvariantCulture, $"gdtr={c.Gdtr.Base:x16}:{c.Gdtr.Limit:x4}  idtr={c.Idtr.Base:x16}:{c.Idtr.Limit:x4}\n");
        sb.Append(CultureInfo.InvariantCulture, $"cr0={c.Cr0:x8} cr2={c.Cr2:x16} cr3={c.Cr3:x16} cr4={c.Cr4:x8} cr8={c.Cr8:x} efer={c.Efer:x}\n");
        sb.Append(CultureInfo.InvariantCulture, $"dr0={c.Dr[0]:x} dr1={c.Dr[1]:x} dr2={c.Dr[2]:x} dr3={c.Dr[3]:x} dr6={c.Dr[6]:x} dr7={c.Dr[7]:x}\n");
        sb.Append(CultureInfo.InvariantCulture, $"apic_base={c.ApicBase:x} pat={c.Pat:x16} halted={c.Halted} nmi_blocked={c.NmiBlocked}\n");
        return sb.ToString();
    }

    private static string Flags(ulong f)
    {
        var sb = new StringBuilder(" [");
        (uint Bit, string Name)[] bits = { (RFlags.CF, "cf"), (RFlags.PF, "pf"), (RFlags.AF, "af"), (RFlags.ZF, "zf"), (RFlags.SF, "sf"),
            (RFlags.TF, "tf"), (RFlags.IF, "if"), (RFlags.DF, "df"), (RFlags.OF, "of"), (RFlags.VM, "vm"), (RFlags.AC, "ac") };
        foreach (var (bit, name) in bits) if ((f & bit) != 0) sb.Append(' ').Append(name);
        sb.Append(CultureInfo.InvariantCulture, $" iopl={(f >> 12) & 3} ]");
        return sb.ToString();
    }

    private string DisassembleAt(int cpu, int count)
    {
        var c = new CpuContext();
        Target.GetCpu(cpu).GetState(ref c);
        int bits = Disassembler.Bitness(c);
        ulong lin = bits == 64 ? c.Rip : (c.Seg[SegIdx.CS].Base + c.Rip) & 0xFFFFFFFF;
        var code = new byte[count * 15];
        int n = GuestPaging.ReadLinear(c, lin, code, Target.ReadPhysical);
        if (n == 0) return $"  (code at {lin:x} is not readable)\n";
        return Disassembler.Format(code.AsSpan(0, n), lin, bits, count);
    }

    private string Cpuid()
    {
        var sb = new StringBuilder("     leaf/sub      eax      ebx      ecx      edx\n");
        foreach (var l in _vm.Engine.Model.AllLeaves(0))
            sb.Append(CultureInfo.InvariantCulture, $"{l.Leaf:x8}/{l.SubLeaf:x2}  {l.Eax:x8} {l.Ebx:x8} {l.Ecx:x8} {l.Edx:x8}\n");
        return sb.ToString();
    }

    private string MemoryMap()
    {
        var rows = new List<(ulong Start, ulong Size, string What)>();
        foreach (var r in _vm.PhysMap.HostBackedRanges) rows.Add((r.GuestPhys, r.Size, r.ReadOnly ? "ROM" : "RAM"));
        foreach (var m in _vm.PhysMap.MmioRegions) if (m.Mapped) rows.Add((m.Base, m.Size, $"MMIO {m.Name}"));
        var sb = new StringBuilder();
        foreach (var (start, size, what) in rows.OrderBy(r => r.Start))
            sb.Append(CultureInfo.InvariantCulture, $"{start:x16}-{start + size - 1:x16}  {what}\n");
        return sb.ToString();
    }

    private string IoPorts()
    {
        var sb = new StringBuilder();
        foreach (var r in _vm.Ports.Ranges.OrderBy(r => r.First))
            sb.Append(CultureInfo.InvariantCulture, $"{r.First:x4}-{r.First + r.Count - 1:x4}  {r.Name}\n");
        return sb.ToString();
    }

    private string Devices()
    {
        var sb = new StringBuilder();
        foreach (var d in _vm.Pdm.Devices) sb.Append(CultureInfo.InvariantCulture, $"{d.Name}#{d.Instance}  {d.GetType().Name}\n");
        return sb.ToString();
    }

    private string Timers()
    {
        long now = _vm.Tm.Clock.NowNs;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"virtual clock {now} ns ({(_vm.Tm.Clock.Running ? "running" : "stopped")}), TSC {_vm.Tm.TscHz} Hz\n");
        foreach (var t in _vm.Tm.Timers.All)
            sb.Append(CultureInfo.InvariantCulture, $"{t.Name,-28} {(t.Active ? $"expires in {(t.ExpireNs - now) / 1000.0:F1} us" : "stopped")}\n");
        return sb.ToString();
    }

    public void Dispose()
    {
        Stub?.Dispose();
        _vm.Em.DebugExit = null;
    }
}
