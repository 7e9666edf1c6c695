using System.Diagnostics;
using System.Runtime.CompilerServices;
using SharpBox.Runtime.Linux;

namespace SharpBox.Vmm.Tests.Hm;

/// <summary>
/// Compiles a C program against the host's linux/kvm.h (gcc and the kernel headers) and compares every
/// struct size, field offset, ioctl number and capability id the C# ABI declares with the kernel's.
/// Runs everywhere (no /dev/kvm needed).
/// </summary>
public unsafe class KvmAbiTests
{
    private const string CSource = """
        #include <stdio.h>
        #include <stddef.h>
        #include <linux/kvm.h>
        #define S(t) printf("size %s %zu\n", #t, sizeof(struct t));
        #define O(t, f) printf("off %s.%s %zu\n", #t, #f, offsetof(struct t, f));
        #define I(n) printf("ioctl %s %lu\n", #n, (unsigned long)(n));
        #define C(n) printf("cap %s %d\n", #n, n);
        int main(void) {
          S(kvm_regs) S(kvm_segment) S(kvm_dtable) S(kvm_sregs) S(kvm_fpu) S(kvm_msr_entry) S(kvm_lapic_state)
          S(kvm_vcpu_events) S(kvm_debugregs) S(kvm_xcrs) S(kvm_cpuid_entry2) S(kvm_userspace_memory_region)
          S(kvm_irq_level) S(kvm_irqfd) S(kvm_ioeventfd) S(kvm_guest_debug) S(kvm_pit_config) S(kvm_clock_data)
          S(kvm_translation) S(kvm_enable_cap) S(kvm_msr_filter_range) S(kvm_msr_filter)
          O(kvm_regs, rip) O(kvm_regs, rflags) O(kvm_segment, selector) O(kvm_segment, unusable)
          O(kvm_sregs, gdt) O(kvm_sregs, cr0) O(kvm_sregs, efer) O(kvm_sregs, apic_base) O(kvm_sregs, interrupt_bitmap)
          O(kvm_fpu, fcw) O(kvm_fpu, ftwx) O(kvm_fpu, last_ip) O(kvm_fpu, xmm) O(kvm_fpu, mxcsr)
          O(kvm_vcpu_events, interrupt) O(kvm_vcpu_events, nmi) O(kvm_vcpu_events, sipi_vector) O(kvm_vcpu_events, flags)
          O(kvm_vcpu_events, smi) O(kvm_vcpu_events, exception_has_payload) O(kvm_vcpu_events, exception_payload)
          O(kvm_debugregs, dr6) O(kvm_debugregs, dr7) O(kvm_xcrs, xcrs) O(kvm_ioeventfd, len) O(kvm_ioeventfd, fd) O(kvm_ioeventfd, flags)
          O(kvm_guest_debug, arch) O(kvm_clock_data, realtime) O(kvm_translation, valid) O(kvm_enable_cap, args)
          O(kvm_msr_filter, ranges) O(kvm_msr_filter_range, bitmap)
          O(kvm_run, exit_reason) O(kvm_run, ready_for_interrupt_injection) O(kvm_run, if_flag) O(kvm_run, cr8) O(kvm_run, apic_base)
          O(kvm_run, io.direction) O(kvm_run, io.size) O(kvm_run, io.port) O(kvm_run, io.count) O(kvm_run, io.data_offset)
          O(kvm_run, mmio.phys_addr) O(kvm_run, mmio.data) O(kvm_run, mmio.len) O(kvm_run, mmio.is_write)
          O(kvm_run, debug.arch.exception) O(kvm_run, debug.arch.pc) O(kvm_run, debug.arch.dr6) O(kvm_run, debug.arch.dr7)
          O(kvm_run, fail_entry.hardware_entry_failure_reason) O(kvm_run, internal.suberror) O(kvm_run, internal.ndata) O(kvm_run, internal.data)
          O(kvm_run, system_event.type) O(kvm_run, msr.error) O(kvm_run, msr.reason) O(kvm_run, msr.index) O(kvm_run, msr.data)
          O(kvm_run, request_interrupt_window) O(kvm_run, immediate_exit)
          I(KVM_GET_API_VERSION) I(KVM_CREATE_VM) I(KVM_GET_MSR_INDEX_LIST) I(KVM_CHECK_EXTENSION) I(KVM_GET_VCPU_MMAP_SIZE)
          I(KVM_GET_SUPPORTED_CPUID) I(KVM_CREATE_VCPU) I(KVM_SET_USER_MEMORY_REGION) I(KVM_SET_TSS_ADDR) I(KVM_SET_IDENTITY_MAP_ADDR)
          I(KVM_CREATE_IRQCHIP) I(KVM_IRQ_LINE) I(KVM_IRQ_LINE_STATUS) I(KVM_IRQFD) I(KVM_CREATE_PIT2) I(KVM_IOEVENTFD)
          I(KVM_SET_CLOCK) I(KVM_GET_CLOCK) I(KVM_X86_SET_MSR_FILTER) I(KVM_ENABLE_CAP) I(KVM_RUN) I(KVM_GET_REGS) I(KVM_SET_REGS)
          I(KVM_GET_SREGS) I(KVM_SET_SREGS) I(KVM_TRANSLATE) I(KVM_INTERRUPT) I(KVM_GET_MSRS) I(KVM_SET_MSRS) I(KVM_GET_FPU) I(KVM_SET_FPU)
          I(KVM_GET_LAPIC) I(KVM_SET_LAPIC) I(KVM_SET_CPUID2) I(KVM_GET_MP_STATE) I(KVM_SET_MP_STATE) I(KVM_NMI) I(KVM_SET_GUEST_DEBUG)
          I(KVM_GET_VCPU_EVENTS) I(KVM_SET_VCPU_EVENTS) I(KVM_GET_DEBUGREGS) I(KVM_SET_DEBUGREGS) I(KVM_GET_TSC_KHZ) I(KVM_GET_XSAVE)
          I(KVM_SET_XSAVE) I(KVM_GET_XCRS) I(KVM_SET_XCRS) I(KVM_KVMCLOCK_CTRL)
          C(KVM_CAP_IRQCHIP) C(KVM_CAP_HLT) C(KVM_CAP_USER_MEMORY) C(KVM_CAP_SET_TSS_ADDR) C(KVM_CAP_EXT_CPUID) C(KVM_CAP_NR_VCPUS)
          C(KVM_CAP_NR_MEMSLOTS) C(KVM_CAP_PIT2) C(KVM_CAP_IRQFD) C(KVM_CAP_IOEVENTFD) C(KVM_CAP_SET_GUEST_DEBUG) C(KVM_CAP_VCPU_EVENTS)
          C(KVM_CAP_ADJUST_CLOCK) C(KVM_CAP_XSAVE) C(KVM_CAP_XCRS) C(KVM_CAP_DEBUGREGS) C(KVM_CAP_GET_TSC_KHZ) C(KVM_CAP_MAX_VCPUS)
          C(KVM_CAP_READONLY_MEM) C(KVM_CAP_IMMEDIATE_EXIT) C(KVM_CAP_SPLIT_IRQCHIP) C(KVM_CAP_GUEST_DEBUG_HW_BPS) C(KVM_CAP_HYPERV)
          C(KVM_CAP_X86_USER_SPACE_MSR) C(KVM_CAP_X86_MSR_FILTER) C(KVM_CAP_SYNC_REGS) C(KVM_CAP_KVMCLOCK_CTRL) C(KVM_CAP_TSC_DEADLINE_TIMER)
          C(KVM_EXIT_IO) C(KVM_EXIT_DEBUG) C(KVM_EXIT_HLT) C(KVM_EXIT_MMIO) C(KVM_EXIT_IRQ_WINDOW_OPEN) C(KVM_EXIT_SHUTDOWN)
          C(KVM_EXIT_FAIL_ENTRY) C(KVM_EXIT_INTR) C(KVM_EXIT_SET_TPR) C(KVM_EXIT_INTERNAL_ERROR) C(KVM_EXIT_SYSTEM_EVENT)
          C(KVM_EXIT_X86_RDMSR) C(KVM_EXIT_X86_WRMSR) C(KVM_MSR_EXIT_REASON_UNKNOWN) C(KVM_MSR_EXIT_REASON_INVAL) C(KVM_MSR_EXIT_REASON_FILTER)
          C(KVM_GUESTDBG_ENABLE) C(KVM_GUESTDBG_SINGLESTEP) C(KVM_GUESTDBG_USE_SW_BP) C(KVM_GUESTDBG_USE_HW_BP) C(KVM_MEM_READONLY)
          C(KVM_IOEVENTFD_FLAG_DATAMATCH) C(KVM_IOEVENTFD_FLAG_PIO) C(KVM_IOEVENTFD_FLAG_DEASSIGN) C(KVM_IRQFD_FLAG_DEASSIGN)
          C(KVM_MP_STATE_INIT_RECEIVED) C(KVM_MP_STATE_HALTED) C(KVM_VCPUEVENT_VALID_NMI_PENDING) C(KVM_VCPUEVENT_VALID_SHADOW)
          return 0;
        }
        """;

    private static Dictionary<string, ulong> Kernel()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"sbx-kvmabi-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        try
        {
            File.WriteAllText(Path.Combine(dir, "abi.c"), CSource);
            Run("gcc", $"-o {dir}/abi {dir}/abi.c");
            var result = new Dictionary<string, ulong>();
            foreach (var line in Run($"{dir}/abi", "").Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var parts = line.Split(' ');
                result[parts[0] + " " + parts[1]] = ulong.Parse(parts[2]);
            }
            return result;
        }
        finally { Directory.Delete(dir, true); }
    }

    private static string Run(string exe, string args)
    {
        var p = Process.Start(new ProcessStartInfo(exe, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        string o = p.StandardOutput.ReadToEnd(), e = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{exe} {args} failed ({p.ExitCode}): {e}");
        return o;
    }

    private static ulong Off<T>(ref T s, ref byte field) where T : unmanaged
    {
        fixed (T* p = &s) fixed (byte* f = &field) return (ulong)(f - (byte*)p);
    }

    [Fact]
    public void LayoutsMatchTheKernelHeaders()
    {
        var k = Kernel();
        var ours = new Dictionary<string, ulong>
        {
            ["size kvm_regs"] = (ulong)sizeof(KvmRegs), ["size kvm_segment"] = (ulong)sizeof(KvmSegment),
            ["size kvm_dtable"] = (ulong)sizeof(KvmDtable), ["size kvm_sregs"] = (ulong)sizeof(KvmSregs),
            ["size kvm_fpu"] = (ulong)sizeof(KvmFpu), ["size kvm_msr_entry"] = (ulong)sizeof(KvmMsrEntry),
            ["size kvm_lapic_state"] = (ulong)sizeof(KvmLapicState), ["size kvm_vcpu_events"] = (ulong)sizeof(KvmVcpuEvents),
            ["size kvm_debugregs"] = (ulong)sizeof(KvmDebugRegs), ["size kvm_xcrs"] = (ulong)sizeof(KvmXcrs),
            ["size kvm_cpuid_entry2"] = (ulong)sizeof(KvmCpuidEntry2), ["size kvm_userspace_memory_region"] = (ulong)sizeof(KvmUserspaceMemoryRegion),
            ["size kvm_irq_level"] = (ulong)sizeof(KvmIrqLevel), ["size kvm_irqfd"] = (ulong)sizeof(KvmIrqfd),
            ["size kvm_ioeventfd"] = (ulong)sizeof(KvmIoeventfd), ["size kvm_guest_debug"] = (ulong)sizeof(KvmGuestDebug),
            ["size kvm_pit_config"] = (ulong)sizeof(KvmPitConfig), ["size kvm_clock_data"] = (ulong)sizeof(KvmClockData),
            ["size kvm_translation"] = (ulong)sizeof(KvmTranslation), ["size kvm_enable_cap"] = (ulong)sizeof(KvmEnableCap),
            ["size kvm_msr_filter_range"] = (ulong)sizeof(KvmMsrFilterRange), ["size kvm_msr_filter"] = (ulong)sizeof(KvmMsrFilter),
        };
        KvmRegs r = default; KvmSegment sg = default; KvmSregs sr = default; KvmFpu fp = default; KvmVcpuEvents ev = default;
        KvmDebugRegs dr = default; KvmXcrs xc = default; KvmIoeventfd io = default; KvmGuestDebug gd = default;
        KvmClockData cd = default; KvmTranslation tr = default; KvmEnableCap ec = default; KvmMsrFilter mf = default; KvmMsrFilterRange mr = default;
        ours["off kvm_regs.rip"] = Off(ref r, ref Unsafe.As<ulong, byte>(ref r.Rip));
        ours["off kvm_regs.rflags"] = Off(ref r, ref Unsafe.As<ulong, byte>(ref r.Rflags));
        ours["off kvm_segment.selector"] = Off(ref sg, ref Unsafe.As<ushort, byte>(ref sg.Selector));
        ours["off kvm_segment.unusable"] = Off(ref sg, ref sg.Unusable);
        ours["off kvm_sregs.gdt"] = Off(ref sr, ref Unsafe.As<KvmDtable, byte>(ref sr.Gdt));
        ours["off kvm_sregs.cr0"] = Off(ref sr, ref Unsafe.As<ulong, byte>(ref sr.Cr0));
        ours["off kvm_sregs.efer"] = Off(ref sr, ref Unsafe.As<ulong, byte>(ref sr.Efer));
        ours["off kvm_sregs.apic_base"] = Off(ref sr, ref Unsafe.As<ulong, byte>(ref sr.ApicBase));
        ours["off kvm_sregs.interrupt_bitmap"] = Off(ref sr, ref Unsafe.As<KvmU64x4, byte>(ref sr.InterruptBitmap));
        ours["off kvm_fpu.fcw"] = Off(ref fp, ref Unsafe.As<ushort, byte>(ref fp.Fcw));
        ours["off kvm_fpu.ftwx"] = Off(ref fp, ref fp.Ftwx);
        ours["off kvm_fpu.last_ip"] = Off(ref fp, ref Unsafe.As<ulong, byte>(ref fp.LastIp));
        ours["off kvm_fpu.xmm"] = Off(ref fp, ref Unsafe.As<KvmXmm, byte>(ref fp.Xmm));
        ours["off kvm_fpu.mxcsr"] = Off(ref fp, ref Unsafe.As<uint, byte>(ref fp.Mxcsr));
        ours["off kvm_vcpu_events.interrupt"] = Off(ref ev, ref ev.InterruptInjected);
        ours["off kvm_vcpu_events.nmi"] = Off(ref ev, ref ev.NmiInjected);
        ours["off kvm_vcpu_events.sipi_vector"] = Off(ref ev, ref Unsafe.As<uint, byte>(ref ev.SipiVector));
        ours["off kvm_vcpu_events.flags"] = Off(ref ev, ref Unsafe.As<uint, byte>(ref ev.Flags));
        ours["off kvm_vcpu_events.smi"] = Off(ref ev, ref ev.SmiSmm);
        ours["off kvm_vcpu_events.exception_has_payload"] = Off(ref ev, ref ev.ExceptionHasPayload);
        ours["off kvm_vcpu_events.exception_payload"] = Off(ref ev, ref Unsafe.As<ulong, byte>(ref ev.ExceptionPayload));
        ours["off kvm_debugregs.dr6"] = Off(ref dr, ref Unsafe.As<ulong, byte>(ref dr.Dr6));
        ours["off kvm_debugregs.dr7"] = Off(ref dr, ref Unsafe.As<ulong, byte>(ref dr.Dr7));
        ours["off kvm_xcrs.xcrs"] = Off(ref xc, ref Unsafe.As<KvmXcr16, byte>(ref xc.Xcrs));
        ours["off kvm_ioeventfd.len"] = Off(ref io, ref Unsafe.As<uint, byte>(ref io.Len));
        ours["off kvm_ioeventfd.fd"] = Off(ref io, ref Unsafe.As<int, byte>(ref io.Fd));
        ours["off kvm_ioeventfd.flags"] = Off(ref io, ref Unsafe.As<uint, byte>(ref io.Flags));
        ours["off kvm_guest_debug.arch"] = Off(ref gd, ref Unsafe.As<KvmU64x8, byte>(ref gd.DebugReg));
        ours["off kvm_clock_data.realtime"] = Off(ref cd, ref Unsafe.As<ulong, byte>(ref cd.Realtime));
        ours["off kvm_translation.valid"] = Off(ref tr, ref tr.Valid);
        ours["off kvm_enable_cap.args"] = Off(ref ec, ref Unsafe.As<KvmU64x4, byte>(ref ec.Args));
        ours["off kvm_msr_filter.ranges"] = Off(ref mf, ref Unsafe.As<KvmMsrFilterRanges, byte>(ref mf.Ranges));
        ours["off kvm_msr_filter_range.bitmap"] = Off(ref mr, ref Unsafe.As<ulong, byte>(ref mr.BitmapPtr));
        ours["off kvm_run.exit_reason"] = KvmConst.RunExitReason; ours["off kvm_run.ready_for_interrupt_injection"] = KvmConst.RunReadyForInjection;
        ours["off kvm_run.if_flag"] = KvmConst.RunIfFlag; ours["off kvm_run.cr8"] = KvmConst.RunCr8; ours["off kvm_run.apic_base"] = KvmConst.RunApicBase;
        ours["off kvm_run.io.direction"] = KvmConst.RunIoDirection; ours["off kvm_run.io.size"] = KvmConst.RunIoSize;
        ours["off kvm_run.io.port"] = KvmConst.RunIoPort; ours["off kvm_run.io.count"] = KvmConst.RunIoCount; ours["off kvm_run.io.data_offset"] = KvmConst.RunIoDataOffset;
        ours["off kvm_run.mmio.phys_addr"] = KvmConst.RunMmioAddr; ours["off kvm_run.mmio.data"] = KvmConst.RunMmioData;
        ours["off kvm_run.mmio.len"] = KvmConst.RunMmioLen; ours["off kvm_run.mmio.is_write"] = KvmConst.RunMmioIsWrite;
        ours["off kvm_run.debug.arch.exception"] = KvmConst.RunDebugException; ours["off kvm_run.debug.arch.pc"] = KvmConst.RunDebugPc;
        ours["off kvm_run.debug.arch.dr6"] = KvmConst.RunDebugDr6; ours["off kvm_run.debug.arch.dr7"] = KvmConst.RunDebugDr7;
        ours["off kvm_run.fail_entry.hardware_entry_failure_reason"] = KvmConst.RunFailEntryReason;
        ours["off kvm_run.internal.suberror"] = KvmConst.RunInternalSuberror; ours["off kvm_run.internal.ndata"] = KvmConst.RunInternalNdata;
        ours["off kvm_run.internal.data"] = KvmConst.RunInternalData; ours["off kvm_run.system_event.type"] = KvmConst.RunSystemEventType;
        ours["off kvm_run.msr.error"] = KvmConst.RunMsrError; ours["off kvm_run.msr.reason"] = KvmConst.RunMsrReason;
        ours["off kvm_run.msr.index"] = KvmConst.RunMsrIndex; ours["off kvm_run.msr.data"] = KvmConst.RunMsrData;
        ours["off kvm_run.request_interrupt_window"] = KvmConst.RunRequestInterruptWindow; ours["off kvm_run.immediate_exit"] = KvmConst.RunImmediateExit;

        void Io(string n, nuint v) => ours["ioctl " + n] = v;
        Io("KVM_GET_API_VERSION", KvmIoctl.GetApiVersion); Io("KVM_CREATE_VM", KvmIoctl.CreateVm); Io("KVM_GET_MSR_INDEX_LIST", KvmIoctl.GetMsrIndexList);
        Io("KVM_CHECK_EXTENSION", KvmIoctl.CheckExtension); Io("KVM_GET_VCPU_MMAP_SIZE", KvmIoctl.GetVcpuMmapSize); Io("KVM_GET_SUPPORTED_CPUID", KvmIoctl.GetSupportedCpuid);
        Io("KVM_CREATE_VCPU", KvmIoctl.CreateVcpu); Io("KVM_SET_USER_MEMORY_REGION", KvmIoctl.SetUserMemoryRegion); Io("KVM_SET_TSS_ADDR", KvmIoctl.SetTssAddr);
        Io("KVM_SET_IDENTITY_MAP_ADDR", KvmIoctl.SetIdentityMapAddr); Io("KVM_CREATE_IRQCHIP", KvmIoctl.CreateIrqchip); Io("KVM_IRQ_LINE", KvmIoctl.IrqLine);
        Io("KVM_IRQ_LINE_STATUS", KvmIoctl.IrqLineStatus); Io("KVM_IRQFD", KvmIoctl.Irqfd); Io("KVM_CREATE_PIT2", KvmIoctl.CreatePit2); Io("KVM_IOEVENTFD", KvmIoctl.Ioeventfd);
        Io("KVM_SET_CLOCK", KvmIoctl.SetClock); Io("KVM_GET_CLOCK", KvmIoctl.GetClock); Io("KVM_X86_SET_MSR_FILTER", KvmIoctl.SetMsrFilter); Io("KVM_ENABLE_CAP", KvmIoctl.EnableCap);
        Io("KVM_RUN", KvmIoctl.Run); Io("KVM_GET_REGS", KvmIoctl.GetRegs); Io("KVM_SET_REGS", KvmIoctl.SetRegs); Io("KVM_GET_SREGS", KvmIoctl.GetSregs);
        Io("KVM_SET_SREGS", KvmIoctl.SetSregs); Io("KVM_TRANSLATE", KvmIoctl.Translate); Io("KVM_INTERRUPT", KvmIoctl.Interrupt); Io("KVM_GET_MSRS", KvmIoctl.GetMsrs);
        Io("KVM_SET_MSRS", KvmIoctl.SetMsrs); Io("KVM_GET_FPU", KvmIoctl.GetFpu); Io("KVM_SET_FPU", KvmIoctl.SetFpu); Io("KVM_GET_LAPIC", KvmIoctl.GetLapic);
        Io("KVM_SET_LAPIC", KvmIoctl.SetLapic); Io("KVM_SET_CPUID2", KvmIoctl.SetCpuid2); Io("KVM_GET_MP_STATE", KvmIoctl.GetMpState); Io("KVM_SET_MP_STATE", KvmIoctl.SetMpState);
        Io("KVM_NMI", KvmIoctl.Nmi); Io("KVM_SET_GUEST_DEBUG", KvmIoctl.SetGuestDebug); Io("KVM_GET_VCPU_EVENTS", KvmIoctl.GetVcpuEvents); Io("KVM_SET_VCPU_EVENTS", KvmIoctl.SetVcpuEvents);
        Io("KVM_GET_DEBUGREGS", KvmIoctl.GetDebugRegs); Io("KVM_SET_DEBUGREGS", KvmIoctl.SetDebugRegs); Io("KVM_GET_TSC_KHZ", KvmIoctl.GetTscKhz); Io("KVM_GET_XSAVE", KvmIoctl.GetXsave);
        Io("KVM_SET_XSAVE", KvmIoctl.SetXsave); Io("KVM_GET_XCRS", KvmIoctl.GetXcrs); Io("KVM_SET_XCRS", KvmIoctl.SetXcrs); Io("KVM_KVMCLOCK_CTRL", KvmIoctl.KvmclockCtrl);

        void C(string n, ulong v) => ours["cap " + n] = v;
        C("KVM_CAP_IRQCHIP", KvmIoctl.CapIrqchip); C("KVM_CAP_HLT", KvmIoctl.CapHlt); C("KVM_CAP_USER_MEMORY", KvmIoctl.CapUserMemory); C("KVM_CAP_SET_TSS_ADDR", KvmIoctl.CapSetTssAddr);
        C("KVM_CAP_EXT_CPUID", KvmIoctl.CapExtCpuid); C("KVM_CAP_NR_VCPUS", KvmIoctl.CapNrVcpus); C("KVM_CAP_NR_MEMSLOTS", KvmIoctl.CapNrMemslots); C("KVM_CAP_PIT2", KvmIoctl.CapPit2);
        C("KVM_CAP_IRQFD", KvmIoctl.CapIrqfd); C("KVM_CAP_IOEVENTFD", KvmIoctl.CapIoeventfd); C("KVM_CAP_SET_GUEST_DEBUG", KvmIoctl.CapSetGuestDebug); C("KVM_CAP_VCPU_EVENTS", KvmIoctl.CapVcpuEvents);
        C("KVM_CAP_ADJUST_CLOCK", KvmIoctl.CapAdjustClock); C("KVM_CAP_XSAVE", KvmIoctl.CapXsave); C("KVM_CAP_XCRS", KvmIoctl.CapXcrs); C("KVM_CAP_DEBUGREGS", KvmIoctl.CapDebugRegs);
        C("KVM_CAP_GET_TSC_KHZ", KvmIoctl.CapGetTscKhz); C("KVM_CAP_MAX_VCPUS", KvmIoctl.CapMaxVcpus); C("KVM_CAP_READONLY_MEM", KvmIoctl.CapReadonlyMem);
        C("KVM_CAP_IMMEDIATE_EXIT", KvmIoctl.CapImmediateExit); C("KVM_CAP_SPLIT_IRQCHIP", KvmIoctl.CapSplitIrqchip); C("KVM_CAP_GUEST_DEBUG_HW_BPS", KvmIoctl.CapGuestDebugHwBps);
        C("KVM_CAP_HYPERV", KvmIoctl.CapHyperv); C("KVM_CAP_X86_USER_SPACE_MSR", KvmIoctl.CapX86UserSpaceMsr); C("KVM_CAP_X86_MSR_FILTER", KvmIoctl.CapX86MsrFilter);
        C("KVM_CAP_SYNC_REGS", KvmIoctl.CapSyncRegs); C("KVM_CAP_KVMCLOCK_CTRL", KvmIoctl.CapKvmclockCtrl); C("KVM_CAP_TSC_DEADLINE_TIMER", KvmIoctl.CapTscDeadlineTimer);
        C("KVM_EXIT_IO", KvmExit.Io); C("KVM_EXIT_DEBUG", KvmExit.Debug); C("KVM_EXIT_HLT", KvmExit.Hlt); C("KVM_EXIT_MMIO", KvmExit.Mmio); C("KVM_EXIT_IRQ_WINDOW_OPEN", KvmExit.IrqWindowOpen);
        C("KVM_EXIT_SHUTDOWN", KvmExit.Shutdown); C("KVM_EXIT_FAIL_ENTRY", KvmExit.FailEntry); C("KVM_EXIT_INTR", KvmExit.Intr); C("KVM_EXIT_SET_TPR", KvmExit.SetTpr);
        C("KVM_EXIT_INTERNAL_ERROR", KvmExit.InternalError); C("KVM_EXIT_SYSTEM_EVENT", KvmExit.SystemEvent); C("KVM_EXIT_X86_RDMSR", KvmExit.X86Rdmsr); C("KVM_EXIT_X86_WRMSR", KvmExit.X86Wrmsr);
        C("KVM_MSR_EXIT_REASON_UNKNOWN", KvmConst.MsrExitReasonUnknown); C("KVM_MSR_EXIT_REASON_INVAL", KvmConst.MsrExitReasonInval); C("KVM_MSR_EXIT_REASON_FILTER", KvmConst.MsrExitReasonFilter);
        C("KVM_GUESTDBG_ENABLE", KvmConst.GuestDbgEnable); C("KVM_GUESTDBG_SINGLESTEP", KvmConst.GuestDbgSingleStep); C("KVM_GUESTDBG_USE_SW_BP", KvmConst.GuestDbgUseSwBp);
        C("KVM_GUESTDBG_USE_HW_BP", KvmConst.GuestDbgUseHwBp); C("KVM_MEM_READONLY", KvmConst.MemReadonly); C("KVM_IOEVENTFD_FLAG_DATAMATCH", KvmConst.IoeventfdDatamatch);
        C("KVM_IOEVENTFD_FLAG_PIO", KvmConst.IoeventfdPio); C("KVM_IOEVENTFD_FLAG_DEASSIGN", KvmConst.IoeventfdDeassign); C("KVM_IRQFD_FLAG_DEASSIGN", KvmConst.IrqfdDeassign);
        C("KVM_MP_STATE_INIT_RECEIVED", KvmConst.MpStateInitReceived); C("KVM_MP_STATE_HALTED", KvmConst.MpStateHalted);
        C("KVM_VCPUEVENT_VALID_NMI_PENDING", KvmConst.VcpuEventValidNmiPending); C("KVM_VCPUEVENT_VALID_SHADOW", KvmConst.VcpuEventValidShadow);

        var mismatches = new List<string>();
        foreach (var (key, kv) in k)
        {
            if (!ours.TryGetValue(key, out var ov)) { mismatches.Add($"{key}: not declared in C#"); continue; }
            if (ov != kv) mismatches.Add($"{key}: C# {ov:X} kernel {kv:X}");
        }
        Assert.True(k.Count >= 150, $"the C program printed only {k.Count} values");
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
    }
}
