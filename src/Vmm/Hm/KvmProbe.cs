using System.Runtime.Versioning;
using SharpBox.Runtime.Linux;

namespace SharpBox.Vmm.Hm;

/// <summary>What the host's KVM can do, as found by actually running a guest instruction.</summary>
public sealed record KvmHostInfo
{
    /// <summary>A VM could be created and ran a one-instruction payload to the expected exit.</summary>
    public bool Usable { get; init; }
    /// <summary>Why not (or "ok").</summary>
    public string Reason { get; init; } = "";
    /// <summary>
    /// The host also runs ordinary ring-0 guest code (protected mode, an interrupt and IRET), as a PC
    /// guest's firmware and kernel need. kvm-pvm, which emulates guest ring 0, cannot; VT-x/AMD-V can.
    /// </summary>
    public bool FullGuests { get; init; }
    /// <summary>The host delivers data breakpoints (debug-register watchpoints) to the debugger (kvm-pvm does not).</summary>
    public bool DataBreakpoints { get; init; }
    /// <summary>Why <see cref="FullGuests"/> is false (or "ok").</summary>
    public string FullGuestsReason { get; init; } = "";
    /// <summary>The vendor module: kvm_intel (VT-x), kvm_amd (AMD-V), kvm_pvm (PVM: CPL3 native, kernel code emulated), or "unknown".</summary>
    public string Backend { get; init; } = "unknown";
    public bool Irqchip { get; init; }
    public bool Pit { get; init; }
    public bool UserSpaceMsrs { get; init; }
    public bool MsrFilter { get; init; }
    public bool GuestDebug { get; init; }
    public int MaxVcpus { get; init; }
    public int RecommendedVcpus { get; init; }
    public bool ReadonlyMemory { get; init; }
    public bool ImmediateExit { get; init; }
    public bool HypervEnlightenments { get; init; }
    /// <summary>Nested paging (EPT/NPT) in use by the host module, when its parameters say so.</summary>
    public bool? NestedPaging { get; init; }
    /// <summary>VPID (Intel) / ASID (AMD) tagging in use by the host module, when its parameters say so.</summary>
    public bool? Vpid { get; init; }
    /// <summary>VT-x unrestricted guest (real mode without emulation), when the module reports it.</summary>
    public bool? UnrestrictedGuest { get; init; }

    public override string ToString() => Usable
        ? $"KVM usable ({Backend}; full guests {(FullGuests ? "yes" : "no: " + FullGuestsReason)}; data breakpoints {Yes(DataBreakpoints)}; irqchip {Yes(Irqchip)}, PIT {Yes(Pit)}, user-space MSRs {Yes(UserSpaceMsrs)}, max vCPUs {MaxVcpus})"
        : $"KVM not usable: {Reason}";

    private static string Yes(bool b) => b ? "yes" : "no";
}

/// <summary>
/// Decides whether the KVM engine can run here: opens the device, creates a VM, and runs
/// <c>out 0x10, al</c> in real mode expecting a port-write exit with the value it put in AL. The
/// answer is cached per device path for the life of the process.
/// </summary>
[SupportedOSPlatform("linux")]
public static unsafe class KvmProbe
{
    private static readonly Dictionary<string, KvmHostInfo> s_cache = new();

    public static KvmHostInfo Probe(string path = KvmSystem.DefaultPath)
    {
        lock (s_cache)
        {
            if (!s_cache.TryGetValue(path, out var info)) s_cache[path] = info = ProbeUncached(path);
            return info;
        }
    }

    private static KvmHostInfo ProbeUncached(string path)
    {
        KvmSystem sys;
        try { sys = KvmSystem.Open(path); }
        catch (KvmException e) { return new KvmHostInfo { Reason = e.Message }; }
        using (sys)
        {
            var caps = new KvmHostInfo
            {
                Backend = Backend(),
                Irqchip = sys.CheckExtension(KvmIoctl.CapIrqchip) != 0,
                Pit = sys.CheckExtension(KvmIoctl.CapPit2) != 0,
                UserSpaceMsrs = sys.CheckExtension(KvmIoctl.CapX86UserSpaceMsr) != 0,
                MsrFilter = sys.CheckExtension(KvmIoctl.CapX86MsrFilter) != 0,
                GuestDebug = sys.CheckExtension(KvmIoctl.CapSetGuestDebug) != 0,
                MaxVcpus = Math.Max(sys.CheckExtension(KvmIoctl.CapMaxVcpus), sys.CheckExtension(KvmIoctl.CapNrVcpus)),
                RecommendedVcpus = sys.CheckExtension(KvmIoctl.CapNrVcpus),
                ReadonlyMemory = sys.CheckExtension(KvmIoctl.CapReadonlyMem) != 0,
                ImmediateExit = sys.CheckExtension(KvmIoctl.CapImmediateExit) != 0,
                HypervEnlightenments = sys.CheckExtension(KvmIoctl.CapHyperv) != 0,
                NestedPaging = ModuleFlag("ept") ?? ModuleFlag("npt"),
                Vpid = ModuleFlag("vpid"),
                // AMD-V has no real-mode restriction; on VT-x it is the kvm_intel parameter.
                UnrestrictedGuest = ModuleFlag("unrestricted_guest") ?? (Directory.Exists("/sys/module/kvm_amd") ? true : null),
            };
            if (!caps.ImmediateExit) return caps with { Reason = "the host KVM lacks KVM_CAP_IMMEDIATE_EXIT (needed to stop vCPUs cleanly)" };
            try
            {
                string? failure = RunOneInstruction(sys);
                if (failure is not null) return caps with { Reason = failure };
                string? full = RunProtectedModeInterrupt(sys);
                bool watch = caps.GuestDebug && RunDataBreakpoint(sys);
                return caps with { Usable = true, Reason = "ok", FullGuests = full is null, FullGuestsReason = full ?? "ok", DataBreakpoints = watch };
            }
            catch (KvmException e) { return caps with { Reason = e.Message }; }
        }
    }

    private static string? RunOneInstruction(KvmSystem sys)
    {
        using var vm = sys.CreateVm();
        nint page = KvmNative.Mmap(0, 4096, KvmNative.PROT_READ | KvmNative.PROT_WRITE, KvmNative.MAP_PRIVATE | KvmNative.MAP_ANONYMOUS, -1, 0);
        if (page == KvmNative.MapFailed) return "cannot map a page for the probe guest";
        try
        {
            ((byte*)page)[0] = 0xE6; ((byte*)page)[1] = 0x10;   // out 0x10, al
            ((byte*)page)[2] = 0xF4;                             // hlt
            vm.SetMemory(0, 0, 4096, page);
            using var v = vm.CreateVcpu(0);
            v.GetSregs(out var s);
            s.Cs.Base = 0; s.Cs.Selector = 0;
            v.SetSregs(in s);
            var r = new KvmRegs { Rip = 0, Rax = 0x5A, Rflags = 2 };
            v.SetRegs(in r);
            uint reason = KvmExit.Intr;
            Exception? error = null;
            var t = new Thread(() => { try { reason = v.Run(); } catch (Exception e) { error = e; } }) { IsBackground = true, Name = "kvm-probe" };
            t.Start();
            if (!t.Join(5000))
            {
                v.Kick();
                t.Join(2000);
                return "a one-instruction guest did not exit within 5 s";
            }
            if (error != null) return error.Message;
            if (reason != KvmExit.Io || !v.IoIsOut || v.IoPort != 0x10 || v.IoSize != 1 || *v.IoData != 0x5A)
                return $"a one-instruction guest (out 0x10, al) exited with {v.DescribeExit()} instead of a port write";
            return null;
        }
        finally { KvmNative.Munmap(page, 4096); }
    }

    // Real mode → 32-bit protected mode (LGDT, CR0.PE, far jump), LIDT, INT 0x20 to a handler that
    // IRETs, then "mov al, 0x5A; out 0x10, al". Loaded at 0x1000; GDT at 0x1038, GDTR 0x1050, IDTR
    // 0x1056, IDT at 0x1060 (entry 0x20 is written by the probe).
    private static ReadOnlySpan<byte> ProtectedModeGuest =>
    [
        0xFA, 0x31, 0xC0, 0x8E, 0xD8, 0x0F, 0x01, 0x16, 0x50, 0x10, 0x0F, 0x20, 0xC0, 0x0C, 0x01, 0x0F,
        0x22, 0xC0, 0xEA, 0x17, 0x10, 0x08, 0x00, 0x66, 0xB8, 0x10, 0x00, 0x8E, 0xD8, 0x8E, 0xD0, 0xBC,
        0x00, 0x30, 0x00, 0x00, 0x0F, 0x01, 0x1D, 0x56, 0x10, 0x00, 0x00, 0xCD, 0x20, 0xB0, 0x5A, 0xE6,
        0x10, 0xF4, 0xCF, 0x90, 0x90, 0x90, 0x90, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0xFF, 0xFF, 0x00, 0x00, 0x00, 0x9A, 0xCF, 0x00, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x92, 0xCF, 0x00,
        0x17, 0x00, 0x38, 0x10, 0x00, 0x00, 0x07, 0x01, 0x60, 0x10, 0x00, 0x00,
    ];

    private static string? RunProtectedModeInterrupt(KvmSystem sys)
    {
        using var vm = sys.CreateVm();
        nint mem = KvmNative.Mmap(0, 0x4000, KvmNative.PROT_READ | KvmNative.PROT_WRITE, KvmNative.MAP_PRIVATE | KvmNative.MAP_ANONYMOUS, -1, 0);
        if (mem == KvmNative.MapFailed) return "cannot map memory for the probe guest";
        try
        {
            byte* p = (byte*)mem;
            ProtectedModeGuest.CopyTo(new Span<byte>(p + 0x1000, ProtectedModeGuest.Length));
            byte* gate = p + 0x1060 + 0x20 * 8;                       // interrupt gate 0x20 -> handler 0x1032
            gate[0] = 0x32; gate[1] = 0x10; gate[2] = 0x08; gate[3] = 0; gate[4] = 0; gate[5] = 0x8E; gate[6] = 0; gate[7] = 0;
            vm.SetTssAddress(0xFEFFD000);
            vm.SetMemory(0, 0, 0x4000, mem);
            using var v = vm.CreateVcpu(0);
            v.GetSregs(out var s);
            s.Cs.Base = 0; s.Cs.Selector = 0;
            v.SetSregs(in s);
            var r = new KvmRegs { Rip = 0x1000, Rflags = 2 };
            v.SetRegs(in r);
            uint reason = KvmExit.Intr;
            Exception? error = null;
            var t = new Thread(() => { try { reason = v.Run(); } catch (Exception e) { error = e; } }) { IsBackground = true, Name = "kvm-probe" };
            t.Start();
            if (!t.Join(5000))
            {
                v.Kick();
                t.Join(2000);
                return "a protected-mode guest taking an interrupt did not finish within 5 s";
            }
            if (error != null) return error.Message;
            if (reason == KvmExit.Io && v.IoIsOut && v.IoPort == 0x10 && *v.IoData == 0x5A) return null;
            return $"the host cannot run ordinary ring-0 guest code: a protected-mode guest taking an interrupt (INT, IRET) stopped with {v.DescribeExit()}";
        }
        finally { KvmNative.Munmap(mem, 0x4000); }
    }

    /// <summary>Real mode "mov [0x800], al; out 0x10, al" with DR0 watching writes to 0x800: a debug exit must come first.</summary>
    private static bool RunDataBreakpoint(KvmSystem sys)
    {
        using var vm = sys.CreateVm();
        nint page = KvmNative.Mmap(0, 4096, KvmNative.PROT_READ | KvmNative.PROT_WRITE, KvmNative.MAP_PRIVATE | KvmNative.MAP_ANONYMOUS, -1, 0);
        if (page == KvmNative.MapFailed) return false;
        try
        {
            ReadOnlySpan<byte> code = [0xA2, 0x00, 0x08, 0xE6, 0x10, 0xF4];
            code.CopyTo(new Span<byte>((byte*)page, code.Length));
            vm.SetMemory(0, 0, 4096, page);
            using var v = vm.CreateVcpu(0);
            v.GetSregs(out var s);
            s.Cs.Base = 0; s.Cs.Selector = 0;
            v.SetSregs(in s);
            var r = new KvmRegs { Rip = 0, Rflags = 2 };
            v.SetRegs(in r);
            var d = new KvmGuestDebug { Control = KvmConst.GuestDbgEnable | KvmConst.GuestDbgUseHwBp };
            d.DebugReg[0] = 0x800;
            d.DebugReg[7] = 0x600 | 2 | (1UL << 16);   // G0, write, length 1
            v.SetGuestDebug(in d);
            uint reason = KvmExit.Intr;
            var t = new Thread(() => { try { reason = v.Run(); } catch (KvmException) { } }) { IsBackground = true, Name = "kvm-probe" };
            t.Start();
            if (!t.Join(5000)) { v.Kick(); t.Join(2000); return false; }
            return reason == KvmExit.Debug && (v.DebugDr6 & 1) != 0;
        }
        catch (KvmException) { return false; }
        finally { KvmNative.Munmap(page, 4096); }
    }

    private static string Backend()
    {
        foreach (var m in new[] { "kvm_intel", "kvm_amd", "kvm_pvm" })
            if (Directory.Exists($"/sys/module/{m}")) return m;
        return "unknown";
    }

    private static bool? ModuleFlag(string name)
    {
        foreach (var m in new[] { "kvm_intel", "kvm_amd" })
        {
            string p = $"/sys/module/{m}/parameters/{name}";
            try
            {
                if (!File.Exists(p)) continue;
                string v = File.ReadAllText(p).Trim();
                return v is "Y" or "1";
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return null;
    }
}
