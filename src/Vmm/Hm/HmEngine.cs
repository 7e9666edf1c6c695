using System.Runtime.Versioning;
using SharpBox.Runtime.Linux;
using SharpBox.Vmm.Cpum;
using SharpBox.Vmm.Em;
using SharpBox.Vmm.Pgm;

namespace SharpBox.Vmm.Hm;

/// <summary>
/// The KVM engine as EM sees it (<see cref="IExecutionEngine"/>): one <see cref="HmMachine"/> whose
/// memory slots follow PGM's map (RAM and ROM ranges, re-registered when the map changes), and one
/// <see cref="HmCpu"/> per vCPU serving exits through the same platform bus the software CPU uses.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class HmEngine : IExecutionEngine, Gim.IEngineMsrs
{
    private readonly HmMachine _machine;
    private readonly PhysicalMemoryMap _memory;
    private HostBackedRange[] _slots;

    public HmEngine(ICpuBus bus, CpuModel model, PhysicalMemoryMap memory, HmOptions options)
    {
        _memory = memory;
        _slots = memory.HostBackedRanges.ToArray();
        _machine = HmMachine.Create(bus, model, ToRanges(_slots), options);
        memory.Changed += OnMapChanged;
        Name = $"HM (KVM, {KvmProbe.Probe(options.DevicePath).Backend})";
    }

    public string Name { get; }
    public CpuModel Model => _machine.Model;
    public HmMachine Machine => _machine;

    public IVirtualCpu CreateCpu(int index) => _machine.CreateCpu(index);

    /// <summary>MSRs the host kernel implements (kvmclock), read while the vCPUs are stopped (saved state).</summary>
    public bool TryReadMsr(int cpu, uint msr, out ulong value)
    {
        value = 0;
        var c = _machine.Cpus.FirstOrDefault(x => x.CpuIndex == cpu);
        if (c is null) return false;
        Span<uint> i = [msr];
        Span<ulong> v = [0];
        if (c.Kvm.GetMsrs(i, v) != 1) return false;
        value = v[0];
        return true;
    }

    public bool TryWriteMsr(int cpu, uint msr, ulong value)
    {
        var c = _machine.Cpus.FirstOrDefault(x => x.CpuIndex == cpu);
        if (c is null) return false;
        Span<uint> i = [msr];
        Span<ulong> v = [value];
        return c.Kvm.SetMsrs(i, v) == 1;
    }

    /// <summary>KVM keeps no decoded code: writes behind the CPUs' backs need nothing.</summary>
    public void NotifyPhysicalWrite(ulong gpa, ulong length) { }

    private void OnMapChanged()
    {
        // MMIO moves and A20 changes raise Changed too; only RAM/ROM changes touch the slots.
        var now = _memory.HostBackedRanges.ToArray();
        lock (_machine)
        {
            if (now.AsSpan().SequenceEqual(_slots)) return;
            _slots = now;
            _machine.SetMemoryMap(ToRanges(now));
        }
    }

    private static GuestMemoryRange[] ToRanges(HostBackedRange[] r)
    {
        var list = new GuestMemoryRange[r.Length];
        for (int i = 0; i < r.Length; i++) list[i] = new GuestMemoryRange(r[i].GuestPhys, r[i].Size, r[i].Host, r[i].ReadOnly);
        return list;
    }

    public void Dispose()
    {
        _memory.Changed -= OnMapChanged;
        _machine.Dispose();
    }
}

/// <summary>The machine's hardware-virtualization settings (VBoxManage modifyvm --hwvirtex, --nested-paging, --vtx-vpid, --large-pages).</summary>
public sealed record HmSettings(bool Enabled, bool NestedPaging = true, bool Vpid = true, bool LargePages = false, bool Force = false);

/// <summary>
/// The engine EM should use, why, and what of the requested settings is really in effect (for
/// VBox.log, and as key=value facts for the debugger's hminfo, which showvminfo shows).
/// </summary>
public sealed record EngineChoice(ExecutionEngineFactory Factory, string Reason, bool UsesKvm, IReadOnlyList<string> Report)
{
    /// <summary>Host nested paging (EPT/NPT), as the KVM module reports it; null when it does not (or on IEM: false).</summary>
    public bool? NestedPaging { get; init; }
    public bool? Vpid { get; init; }
    public bool? UnrestrictedGuest { get; init; }
    /// <summary>Guest RAM advised for 2 MiB host pages and the host's transparent huge pages allow it.</summary>
    public bool LargePages { get; init; }

    /// <summary>engine, nestedpaging, vpid, unrestricted, largepages (on/off/unknown) and reason.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Facts => new KeyValuePair<string, string>[]
    {
        new("engine", UsesKvm ? "kvm" : "iem"),
        new("nestedpaging", Tri(UsesKvm ? NestedPaging : false)),
        new("vpid", Tri(UsesKvm ? Vpid : false)),
        new("unrestricted", Tri(UsesKvm ? UnrestrictedGuest : false)),
        new("largepages", Tri(UsesKvm && LargePages)),
        new("reason", Reason),
    };

    private static string Tri(bool? b) => b switch { true => "on", false => "off", null => "unknown" };
}

/// <summary>
/// Chooses the execution engine of a VM: the KVM engine when hardware virtualization is enabled and
/// this host's KVM can run ordinary guests; otherwise the software CPU, with a log line that says why.
/// <c>Force</c> (HWVirtExPropertyType.Force) takes KVM even where it runs only user-mode guest code
/// natively (kvm-pvm), for testing the engine.
/// </summary>
[SupportedOSPlatform("linux")]
public static class EngineSelection
{
    public static EngineChoice Choose(HmSettings s, string devicePath = KvmSystem.DefaultPath)
    {
        var report = new List<string>
        {
            $"HM: requested: hwvirtex {OnOff(s.Enabled)}, nested paging {OnOff(s.NestedPaging)}, VPID {OnOff(s.Vpid)}, large pages {OnOff(s.LargePages)}{(s.Force ? ", force" : "")}",
        };
        if (!s.Enabled)
            return new EngineChoice(IemEngine.Factory, "hardware virtualization is disabled in the settings (--hwvirtex off)", false, report);
        var info = KvmProbe.Probe(devicePath);
        report.Add($"HM: {info}");
        if (!info.Usable)
            return new EngineChoice(IemEngine.Factory, $"hardware virtualization is enabled but KVM is not usable here ({info.Reason}); falling back to the software CPU", false, report);
        if (!info.FullGuests && !s.Force)
            return new EngineChoice(IemEngine.Factory, $"hardware virtualization is enabled but this host's KVM ({info.Backend}) cannot run ordinary guest kernels ({info.FullGuestsReason}); falling back to the software CPU", false, report);

        report.Add($"HM: nested paging: requested {OnOff(s.NestedPaging)}, in effect {Effect(info.NestedPaging)} (the host's KVM module decides; it is not switchable per VM)");
        report.Add($"HM: VPID/ASID tagging: requested {OnOff(s.Vpid)}, in effect {Effect(info.Vpid)} (the host's KVM module decides; it is not switchable per VM)");
        string thp = TransparentHugePages();
        report.Add(s.LargePages
            ? $"HM: large pages: requested on; guest RAM is advised for 2 MiB host pages (transparent huge pages: {thp})"
            : $"HM: large pages: requested off; guest RAM is advised against huge host pages (transparent huge pages: {thp})");
        var options = new HmOptions { DevicePath = devicePath };
        ExecutionEngineFactory factory = (bus, model) =>
        {
            if (bus is not PlatformBus pb) throw new InvalidOperationException("HM: the KVM engine needs the PC platform bus (PGM's memory map)");
            AdviseLargePages(pb.Memory, s.LargePages);
            return new HmEngine(bus, model, pb.Memory, options);
        };
        string reason = info.FullGuests
            ? $"hardware virtualization is enabled and KVM ({info.Backend}) is usable"
            : $"hardware virtualization is forced although this host's KVM ({info.Backend}) cannot run ordinary guest kernels: {info.FullGuestsReason}";
        return new EngineChoice(factory, reason, true, report)
        {
            NestedPaging = info.NestedPaging,
            Vpid = info.Vpid,
            UnrestrictedGuest = info.UnrestrictedGuest,
            LargePages = s.LargePages && thp is "always" or "madvise",
        };
    }

    private static void AdviseLargePages(PhysicalMemoryMap map, bool on)
    {
        if (map.Ram is not { } ram) return;
        const int MADV_NOHUGEPAGE = 15;
        unsafe { KvmNative.Madvise((nint)ram.Pointer, (nuint)ram.Size, on ? KvmNative.MADV_HUGEPAGE : MADV_NOHUGEPAGE); }
    }

    private static string TransparentHugePages()
    {
        try
        {
            string t = File.ReadAllText("/sys/kernel/mm/transparent_hugepage/enabled").Trim();
            int a = t.IndexOf('['), b = t.IndexOf(']');
            return a >= 0 && b > a ? t[(a + 1)..b] : t;
        }
        catch (IOException) { return "unknown"; }
        catch (UnauthorizedAccessException) { return "unknown"; }
    }

    private static string OnOff(bool b) => b ? "on" : "off";
    private static string Effect(bool? b) => b switch { true => "yes", false => "no", null => "as the host module runs it (not reported)" };
}
